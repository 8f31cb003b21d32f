/**
 * `deno task serve [flags]` (`./run serve`): serves a web page that classifies your own images in
 * the browser with a trained run's best model, on TensorFlow.js.
 *
 * ```
 * ./run serve                                   # the latest run, http://127.0.0.1:8000/
 * ./run serve --run runs/20261128-113000-3fa2c1 --port 0
 * ```
 *
 * The page (web/index.html and web/app.ts) is bundled at start with `deno bundle`: tfjs comes from
 * the project's npm packages, with the same lib/ modules `./run predict` uses, and everything is
 * served from this process, so the page works with no network. The server answers:
 *
 * - `/`, `/app.js`: the page and its script;
 * - `api/run`: the run's description, class names, and where its checkpoint is (`model/<folder>/`),
 *   looked up again on every request, so a page reloaded after a newer best model was saved
 *   gets the new one;
 * - `model/<folder>/model.json` and its weights file, read from the checkpoint's data folder (a
 *   folder that is never changed once written, so the two files always belong together).
 *
 * Flags: `--run PATH|latest`, `--out DIR` (default runs; env CIFAR10_OUT_DIR), `--port N`
 * (default 8000; 0 picks a free port), `--host ADDRESS` (default 127.0.0.1), `--help`.
 * Exit codes: 1 no model or the port is taken; 2 bad command line. It serves until interrupted.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  configOverridesFromEnv,
  envName,
  flagName,
  makeConfig,
  parseArgs,
  type TrainConfig,
} from "../lib/core/config.ts";
import { checkpointFolder, MODEL_JSON, parseModelJson, WEIGHTS_BIN } from "../lib/model/mod.ts";
import { describeRun, readRunFacts } from "../lib/predict/mod.ts";

/** Exit code when no model could be loaded or the port is taken. */
export const EXIT_FAILED = 1;
/** Exit code for a bad command line. */
export const EXIT_USAGE = 2;

/** Port served on unless `--port` says otherwise. */
export const DEFAULT_PORT = 8000;

/** The project folder (deno.json) and the page's source folder. */
const PROJECT_DIR = fileURLToPath(new URL("../", import.meta.url));
const WEB_DIR = join(PROJECT_DIR, "web");

/** The Node built-ins lib/ modules import, replaced in the page's bundle. */
const NODE_BUILTINS = ["path", "url", "util", "crypto"];

const SERVE_FLAGS = {
  "--run": "string",
  "--port": "string",
  "--host": "string",
  "--help": "bool",
} as const;

/** The parsed command line. */
export interface ServeArgs {
  /** `"latest"` or a run / checkpoint folder. */
  run: string;
  /** Port to listen on (0: any free port). */
  port: number;
  /** Address to listen on. */
  host: string;
  /** Print the help. */
  help: boolean;
  /** Config with `outDir` from `--out` and `CIFAR10_OUT_DIR`. */
  config: TrainConfig;
}

/** The `--help` text. */
export function helpText(): string {
  return [
    "Usage: deno task serve [flags]",
    "",
    "Serves a page that classifies an image you pick or drop, in the browser, with a trained run's",
    "best model (TensorFlow.js, served from this machine: no network needed), showing the top 3",
    "classes with bars.",
    "",
    "  --run PATH|latest     run folder or checkpoint folder (default latest: of the runs under",
    "                        --out that have a best model, the one started last)",
    "  --out DIR             folder of run folders (default runs; env CIFAR10_OUT_DIR)",
    `  --port N              port (default ${DEFAULT_PORT}; 0 picks a free one)`,
    "  --host ADDRESS        address to listen on (default 127.0.0.1: this machine only)",
    "  --help                this text",
    "",
    "Exit status: 1 no trained model, or the port is taken; 2 bad command line.",
  ].join("\n");
}

/**
 * Parses the command line.
 *
 * @param args The arguments.
 * @param env Environment variables; only `CIFAR10_OUT_DIR` is read.
 * @returns The settings.
 * @throws {RangeError} On an unknown flag, a config flag other than `--out`, or a bad value.
 * @example
 * ```ts
 * import { parseServeArgs } from "./serve.ts";
 * const args = parseServeArgs(["--port", "0", "--run", "runs/x"], {});
 * if (args.port !== 0 || args.run !== "runs/x" || args.host !== "127.0.0.1") throw new Error();
 * ```
 */
export function parseServeArgs(args: string[], env: Record<string, string>): ServeArgs {
  const { overrides, extra } = parseArgs(args, SERVE_FLAGS);
  for (const key of Object.keys(overrides) as (keyof TrainConfig)[]) {
    if (key !== "outDir") {
      throw new RangeError(
        `Cannot use flag ${flagName(key)} with serve: expected one of --run, --out, --port, ` +
          "--host, --help",
      );
    }
  }
  const portText = extra.port ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (typeof portText !== "string" || !/^\d+$/.test(portText) || port > 65535) {
    throw new RangeError(
      `Cannot parse --port: expected an integer from 0 to 65535, found "${portText}"`,
    );
  }
  const run = extra.run ?? "latest";
  if (typeof run !== "string" || run === "") {
    throw new RangeError(`Cannot parse --run: expected a folder or "latest", found "${run}"`);
  }
  const host = extra.host ?? "127.0.0.1";
  if (typeof host !== "string" || host === "") {
    throw new RangeError(`Cannot parse --host: expected an address, found "${host}"`);
  }
  const outDirVariable = envName("outDir");
  const fromEnv = env[outDirVariable] === undefined
    ? {}
    : configOverridesFromEnv({ [outDirVariable]: env[outDirVariable]! });
  return {
    run,
    port,
    host,
    help: extra.help === true,
    config: makeConfig({ ...fromEnv, ...overrides }),
  };
}

/**
 * Bundles web/app.ts for the browser (`deno bundle`: tfjs and the lib/ modules it imports, from
 * the project's own packages).
 *
 * @returns The script's text.
 * @throws {Error} With the bundler's output when bundling fails.
 */
export async function bundlePage(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cifar10-serve-" });
  try {
    // The project's import map, plus the browser's stand-ins for the Node built-ins that lib/
    // modules import for their file-reading parts (web/browser_builtins.ts says why).
    const project = JSON.parse(await Deno.readTextFile(join(PROJECT_DIR, "deno.json")));
    const builtins = new URL("../web/browser_builtins.ts", import.meta.url).href;
    const importMap = join(dir, "import_map.json");
    await Deno.writeTextFile(
      importMap,
      JSON.stringify({
        imports: {
          ...project.imports,
          ...Object.fromEntries(NODE_BUILTINS.map((name) => [`node:${name}`, builtins])),
        },
      }),
    );
    const output = join(dir, "app.js");
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--minify", "--import-map", importMap]
        .concat(["-o", output, join(WEB_DIR, "app.ts")]),
      cwd: PROJECT_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      const why = new TextDecoder().decode(result.stderr).trim();
      throw new Error(`Cannot bundle the page (web/app.ts): deno bundle failed:\n${why}`);
    }
    // A Node built-in not mapped above stays an import the browser cannot load: the page would
    // hang at "loading" with no error of its own, so refuse it here, by name.
    const script = await Deno.readTextFile(output);
    const external = [...script.matchAll(/(?:from|import)\s*\(?\s*["'](node:[\w/]+)["']/g)]
      .map((match) => match[1]!);
    if (external.length > 0) {
      throw new Error(
        `Cannot bundle the page (web/app.ts): it would import ${
          [...new Set(external)].join(", ")
        }, ` +
          "which a browser cannot load; keep it out of the modules the page reaches, or add a " +
          "stand-in to web/browser_builtins.ts and NODE_BUILTINS in scripts/serve.ts",
      );
    }
    return script;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** What the page reads from `api/run`. */
export interface RunInfo {
  /** One line naming the model (`describeRun`). */
  description: string;
  /** Class names in label order. */
  classNames: string[];
  /** True when the run trained on synthetic data. */
  synthetic: boolean;
  /** Where the checkpoint's model.json is, relative to the page. */
  modelUrl: string;
}

/** The run the server was started for, looked up afresh on each `api/run`. */
interface RunLookup {
  info: RunInfo;
  /** The checkpoint's data folder (`…/.best-model-<id>`, or the checkpoint folder itself). */
  folder: string;
}

async function lookUpRun(spec: string, outDir: string): Promise<RunLookup> {
  // The facts only: the page reads the weights itself, so the server never decodes them.
  const run = await readRunFacts(spec, { outDir });
  const folder = await checkpointFolder(run.checkpointDir);
  return {
    info: {
      description: describeRun(run),
      classNames: run.classNames,
      synthetic: run.synthetic,
      modelUrl: `model/${encodeURIComponent(basename(folder))}/${MODEL_JSON}`,
    },
    folder,
  };
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json; charset=utf-8",
  bin: "application/octet-stream",
};

function reply(status: number, body: BodyInit, type: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": TYPES[type] ?? type, "cache-control": "no-store" },
  });
}

function text(status: number, message: string): Response {
  return reply(status, message, "text/plain; charset=utf-8");
}

/** Serves one checkpoint file of the data folder the last `api/run` named. */
async function modelFile(lookup: RunLookup | null, folderName: string, file: string) {
  if (lookup === null || folderName !== basename(lookup.folder)) {
    return text(
      410,
      "The run's best model changed since this page loaded it: reload the page to load the new one",
    );
  }
  const path = join(dirname(lookup.folder), folderName, MODEL_JSON);
  const json = parseModelJson(await Deno.readTextFile(path), path);
  const weights = json.weightsManifest[0]!.paths[0] ?? WEIGHTS_BIN;
  if (file !== MODEL_JSON && file !== weights) {
    return text(404, `No file "${file}" in the checkpoint: it has ${MODEL_JSON} and ${weights}`);
  }
  const bytes = await Deno.readFile(join(dirname(lookup.folder), folderName, file));
  return reply(200, bytes, file === MODEL_JSON ? "json" : "bin");
}

/** A running server. */
export interface PageServer {
  /** The page's address, e.g. `http://127.0.0.1:8000/`. */
  url: string;
  /** What the server serves, as `describeRun` puts it. */
  description: string;
  /** Settles when the server has stopped. */
  finished: Promise<void>;
  /** Stops the server. */
  shutdown(): Promise<void>;
}

/**
 * Starts serving the page for a run. Checks first that the run has a model, so a mistake shows
 * before anything listens.
 *
 * @param args Run, runs folder, port and address.
 * @returns The address and a way to stop.
 * @throws {Deno.errors.NotFound} When there is no such run, or no run with a best model.
 * @throws {Deno.errors.AddrInUse} When the port is taken (the message says what to do).
 */
export async function startServer(args: Omit<ServeArgs, "help">): Promise<PageServer> {
  const outDir = args.config.outDir;
  let lookup: RunLookup | null = await lookUpRun(args.run, outDir);
  const page = await Deno.readTextFile(join(WEB_DIR, "index.html"));
  const script = await bundlePage();
  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, `Cannot ${request.method} ${path}: this server only answers GET`);
    }
    try {
      if (path === "/" || path === "/index.html") return reply(200, page, "html");
      if (path === "/app.js") return reply(200, script, "js");
      if (path === "/api/run") {
        lookup = await lookUpRun(args.run, outDir);
        return reply(200, JSON.stringify(lookup.info), "json");
      }
      const match = /^\/model\/([^/]+)\/([^/]+)$/.exec(path);
      if (match) {
        return await modelFile(
          lookup,
          decodeURIComponent(match[1]!),
          decodeURIComponent(match[2]!),
        );
      }
      return text(404, `Nothing at ${path}: the page is at /`);
    } catch (error) {
      return text(error instanceof Deno.errors.NotFound ? 404 : 500, (error as Error).message);
    }
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: args.host, port: args.port, onListen: () => {} }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Deno.errors.AddrInUse(
        `Cannot serve on ${args.host}:${args.port}: the port is taken; pass --port N ` +
          "(0 picks a free one)",
      );
    }
    throw error;
  }
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;
  return {
    url: `http://${host}:${server.addr.port}/`,
    description: lookup.info.description,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}

/**
 * Runs the CLI: serves until the process is interrupted.
 *
 * @param args The arguments (`Deno.args`).
 * @returns The exit code when it could not start (`EXIT_FAILED`, `EXIT_USAGE`), or 0 after `--help`.
 */
export async function main(args: string[]): Promise<number> {
  let parsed: ServeArgs;
  try {
    parsed = parseServeArgs(args, Deno.env.toObject());
  } catch (error) {
    console.error(`serve: ${(error as Error).message}`);
    console.error("Run `deno task serve --help` for usage.");
    return EXIT_USAGE;
  }
  if (parsed.help) {
    console.log(helpText());
    return 0;
  }
  let server: PageServer;
  try {
    server = await startServer(parsed);
  } catch (error) {
    console.error(`serve: ${(error as Error).message}`);
    return EXIT_FAILED;
  }
  console.log(server.description);
  console.log(`Serving the page at ${server.url} (Ctrl-C stops)`);
  await server.finished;
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
