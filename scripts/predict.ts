/**
 * `deno task predict [flags] FILE…`: classifies your own PNG or JPEG images with a trained run's
 * best model and prints each image's most probable classes with their softmax probabilities.
 *
 * ```
 * deno task predict samples/*.png
 * deno task predict --fit crop --top 5 photo.jpg
 * deno task predict --run runs/20261128-113000-3fa2c1 --json photo.jpg > predictions.json
 * ```
 *
 * Flags: `--run PATH|latest` (a run folder or a checkpoint folder; default: the newest run under
 * `--out`, default `runs/`), `--fit stretch|crop`, `--top K`, `--json`, `--backend NAME`,
 * `--out DIR`, `--help`. Arguments after `--` are files even when they start with `--`.
 *
 * Exit codes: 0 every file classified; 1 some file could not be classified (each gets an error
 * line on stderr naming it and why; the others are still classified and printed), or no model
 * could be loaded; 2 bad command line.
 * @module
 */
import { initBackend } from "../lib/engine/backend.ts";
import {
  CONFIG_FIELDS,
  configOverridesFromEnv,
  envName,
  FLAG_ALIASES,
  flagName,
  makeConfig,
  parseArgs,
  type TrainConfig,
} from "../lib/core/config.ts";
import {
  classifyImages,
  describeRun,
  expandImagePaths,
  FIT_MODES,
  type FitMode,
  formatPredictionTable,
  type ImageFailure,
  type LoadedRun,
  loadRun,
  predictionsToJson,
} from "../lib/predict/mod.ts";

/** Exit code when some file could not be classified, or no model could be loaded. */
export const EXIT_FAILED = 1;
/** Exit code for a bad command line. */
export const EXIT_USAGE = 2;

/** Flags of this CLI besides the config's `--out` and `--backend`. */
const PREDICT_FLAGS = {
  "--run": "string",
  "--fit": "string",
  "--top": "string",
  "--json": "bool",
  "--help": "bool",
} as const;

/** Config fields this CLI uses; other config flags are rejected. */
const CONFIG_KEYS: readonly (keyof TrainConfig)[] = ["outDir", "backend"];

/** Where the CLI writes and what it reads from its surroundings (replaceable in tests). */
export interface PredictIo {
  /** Prints one line of results (stdout). */
  print(line: string): void;
  /** Prints one line of diagnostics (stderr). */
  error(line: string): void;
  /** Environment variables (`CIFAR10_OUT_DIR`, `CIFAR10_BACKEND`). */
  env: Record<string, string>;
}

function defaultIo(): PredictIo {
  return {
    print: (line) => console.log(line),
    error: (line) => console.error(line),
    env: Deno.env.toObject(),
  };
}

/** The parsed command line. */
export interface PredictArgs {
  /** Image files, in order. */
  files: string[];
  /** `"latest"` or a run / checkpoint folder. */
  run: string;
  /** How images are fitted into the square. */
  fit: FitMode;
  /** Classes shown per image. */
  top: number;
  /** Print JSON instead of a table. */
  json: boolean;
  /** Print the help. */
  help: boolean;
  /** Config with `outDir` and `backend` from flags and environment. */
  config: TrainConfig;
}

/** The `--help` text. */
export function helpText(): string {
  return [
    "Usage: deno task predict [flags] FILE|FOLDER...",
    "",
    "Classifies your own PNG or JPEG images (any size) with a trained run's best model and prints",
    "each image's most probable classes with their probabilities. A folder stands for the PNG and",
    "JPEG files directly inside it.",
    "",
    "  --run PATH|latest     run folder or checkpoint folder (default latest: of the runs under",
    "                        --out that have a best model, the one started last)",
    "  --out DIR             folder of run folders (default runs; env CIFAR10_OUT_DIR)",
    "  --fit stretch|crop    squeeze the whole image to 32x32, or take its centred square (default stretch)",
    "  --top K               classes shown per image, 1-10 (default 3)",
    "  --json                print JSON (every class's probability) instead of a table",
    "  --backend NAME        compute backend (default auto; env CIFAR10_BACKEND)",
    "  --help                this text",
    "",
    "Exit status: 0 all files classified; 1 a file could not be classified (the others still are)",
    "or no model was found; 2 bad command line.",
  ].join("\n");
}

/** Whether a flag takes a value (so the next argument is not a file). */
function takesValue(flag: string): boolean {
  if (flag in PREDICT_FLAGS) return PREDICT_FLAGS[flag as keyof typeof PREDICT_FLAGS] === "string";
  const key = FLAG_ALIASES[flag] ??
    (Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]).find((k) => flagName(k) === flag);
  return key !== undefined && CONFIG_FIELDS[key].kind !== "bool";
}

/**
 * Parses the command line: flags (through `parseArgs` from lib/core/config.ts) and files.
 *
 * @param args The arguments.
 * @param env Environment variables; only `CIFAR10_OUT_DIR` and `CIFAR10_BACKEND` are read.
 * @returns The files and settings.
 * @throws {RangeError} On an unknown flag, a config flag this CLI does not use, or a bad value
 *   (the message names the flag).
 * @example
 * ```ts
 * import { parsePredictArgs } from "./predict.ts";
 * const args = parsePredictArgs(["--fit", "crop", "a.png", "--top=2", "b.jpg"], {});
 * if (args.files.join() !== "a.png,b.jpg" || args.fit !== "crop" || args.top !== 2) throw new Error();
 * ```
 */
export function parsePredictArgs(args: string[], env: Record<string, string>): PredictArgs {
  // 1. Split files from flags: a flag that takes a value takes the next argument with it.
  const flags: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      files.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      files.push(arg);
      continue;
    }
    flags.push(arg);
    const next = args[i + 1];
    if (!arg.includes("=") && takesValue(arg) && next !== undefined && !next.startsWith("--")) {
      flags.push(next);
      i++;
    }
  }
  // 2. Parse the flags; only the config fields this CLI uses are allowed.
  const { overrides, extra } = parseArgs(flags, PREDICT_FLAGS);
  for (const key of Object.keys(overrides) as (keyof TrainConfig)[]) {
    if (!CONFIG_KEYS.includes(key)) {
      throw new RangeError(
        `Cannot use flag ${flagName(key)} with predict: expected one of --run, --fit, --top, ` +
          `--json, --out, --backend, --help`,
      );
    }
  }
  const fit = extra.fit ?? "stretch";
  if (typeof fit !== "string" || !(FIT_MODES as readonly string[]).includes(fit)) {
    throw new RangeError(`Cannot parse --fit: expected ${FIT_MODES.join(" or ")}, found "${fit}"`);
  }
  const topText = extra.top ?? "3";
  const top = Number(topText);
  if (typeof topText !== "string" || !/^\d+$/.test(topText) || top < 1 || top > 10) {
    throw new RangeError(
      `Cannot parse --top: expected an integer from 1 to 10, found "${topText}"`,
    );
  }
  const run = extra.run ?? "latest";
  if (typeof run !== "string" || run === "") {
    throw new RangeError(`Cannot parse --run: expected a folder or "latest", found "${run}"`);
  }
  const fromEnv: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[envName(key)];
    if (value !== undefined) fromEnv[envName(key)] = value;
  }
  const config = makeConfig({ ...configOverridesFromEnv(fromEnv), ...overrides });
  return {
    files,
    run,
    fit: fit as FitMode,
    top,
    json: extra.json === true,
    help: extra.help === true,
    config,
  };
}

function runJson(run: LoadedRun) {
  return {
    runDir: run.runDir,
    checkpointDir: run.checkpointDir,
    epoch: run.epoch,
    validLoss: run.validLoss,
    testAccuracy: run.testAccuracy,
    synthetic: run.synthetic,
    classNames: run.classNames,
  };
}

/**
 * Runs the CLI.
 *
 * @param args The arguments (`Deno.args`).
 * @param io Output and environment (tests pass their own).
 * @returns The exit code (0, `EXIT_FAILED` or `EXIT_USAGE`).
 */
export async function main(args: string[], io: PredictIo = defaultIo()): Promise<number> {
  let parsed: PredictArgs;
  try {
    parsed = parsePredictArgs(args, io.env);
  } catch (error) {
    io.error(`predict: ${(error as Error).message}`);
    io.error("Run `deno task predict --help` for usage.");
    return EXIT_USAGE;
  }
  if (parsed.help) {
    io.print(helpText());
    return 0;
  }
  if (parsed.files.length === 0) {
    io.error("predict: no image files given: expected one or more PNG or JPEG paths");
    io.error("Run `deno task predict --help` for usage.");
    return EXIT_USAGE;
  }
  let run: LoadedRun;
  try {
    const backend = await initBackend(parsed.config.backend);
    if (!parsed.json) io.error(`Backend: ${backend.name} (${backend.device})`);
    run = await loadRun(parsed.run, { outDir: parsed.config.outDir });
  } catch (error) {
    io.error(`predict: ${(error as Error).message}`);
    return EXIT_FAILED;
  }
  try {
    // Normalise with the run's own config: its mean and std are what the model was trained on.
    const files = await expandImagePaths(parsed.files);
    const results = await classifyImages(run.model, files, {
      config: run.checkpoint.config,
      fit: parsed.fit,
      top: parsed.top,
      classNames: run.classNames,
    });
    if (parsed.json) {
      io.print(JSON.stringify(
        {
          run: runJson(run),
          fit: parsed.fit,
          results: predictionsToJson(results, run.classNames),
        },
        null,
        2,
      ));
    } else {
      io.print(describeRun(run));
      const classified = results.filter((r) => r.ok);
      if (classified.length > 0) io.print(formatPredictionTable(classified));
    }
    const failures = results.filter((r): r is ImageFailure => !r.ok);
    for (const failure of failures) io.error(`predict: ${failure.error.message}`);
    if (failures.length > 0) {
      io.error(
        `predict: ${failures.length} of ${results.length} files could not be classified`,
      );
    }
    return failures.length > 0 ? EXIT_FAILED : 0;
  } finally {
    run.model.dispose();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`predict: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(EXIT_FAILED);
  }
}
