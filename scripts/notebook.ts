/**
 * `deno task notebook`: executes the tutorial notebook headless with the project's Deno kernel and
 * exports it to HTML, both into the git-ignored `out/` folder, then prints where the HTML is.
 *
 * Settings reach the notebook's parameters cell through `CIFAR10_*` environment variables (see
 * lib/core/config.ts); config flags given here (`--epochs 5`, `--learning-rate 0.01`, `--synthetic`, …)
 * are turned into those variables. Unless told otherwise, a headless run uses a short schedule
 * (`HEADLESS_DEFAULTS`) that finishes in minutes on a 2-core CPU; `--full` keeps the tutorial's
 * values (60 epochs on all images), and any variable or flag you set wins over the defaults.
 *
 * The notebook records its training run under `runs/` (or `--out` / `CIFAR10_OUT_DIR`), like
 * `deno task train`. `--resume RUN` continues a stopped run there (`latest` or a run folder) with
 * its own settings, up to its planned epochs or `--epochs N`; the notebook reads it as
 * `CIFAR10_RESUME`. Ctrl-C interrupts the kernel (training stops at a batch boundary), runs no
 * later cell, saves the notebook so far as `<name>.failed.ipynb` and prints how to resume (exit
 * code 130).
 *
 *     deno task notebook                       # short schedule, real CIFAR-10
 *     deno task notebook --full                # the tutorial's 60 epochs
 *     CIFAR10_EPOCHS=60 deno task notebook     # the same through the environment
 *     deno task notebook --synthetic --epochs 1 --train-limit 300
 *     deno task notebook --resume latest       # continue the run that stopped last
 * @module
 */

import { basename, isAbsolute, join, relative, resolve } from "node:path";
import {
  CONFIG_FIELDS,
  configOverridesFromEnv,
  envName,
  flagName,
  makeConfig,
  parseArgs,
  type TrainConfig,
} from "../lib/core/config.ts";
import { findRunDir, resumeConfig } from "../lib/runs/mod.ts";
import { displayPath } from "../lib/core/paths.ts";
import {
  ensureDenoKernel,
  executeNotebook,
  exportHtml,
  findJupyter,
  PROJECT_ROOT,
} from "./_jupyter.ts";

/** The notebook run by default. */
export const DEFAULT_NOTEBOOK = join(PROJECT_ROOT, "notebooks", "cifar10_cnn.ipynb");

/** Where executed notebooks and HTML go by default. */
export const DEFAULT_OUTPUT_DIR = join(PROJECT_ROOT, "out");

/**
 * The short schedule of a headless run: 3 epochs on the first 12,000 training images (9,600 train,
 * 2,400 validation) and the whole test set. Measured on this project's 2-core machine, blas backend
 * with its native loops, JPEG-decoded copy: 1.5 min in all, test accuracy 52% (8.7 min before the
 * native loops, on the same machine under heavy load).
 */
export const HEADLESS_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  CIFAR10_EPOCHS: "3",
  CIFAR10_TRAIN_LIMIT: "12000",
});

const USAGE = `Usage: deno task notebook [options] [config flags]

Executes notebooks/cifar10_cnn.ipynb headless and writes out/<name>.ipynb and out/<name>.html.

Options:
  --notebook PATH   the notebook to run (default notebooks/cifar10_cnn.ipynb)
  --output DIR      folder for the executed notebook and the HTML (default out/)
  --full            no short schedule: the tutorial's 60 epochs on all images
  --resume RUN      continue a stopped run (latest, or a run folder) with its own settings, up
                    to its planned epochs (or --epochs N); only --epochs and --out apply
  --quiet           do not echo the notebook's printed lines
  --help            this text
Config flags (e.g. --epochs 5, --train-limit 5000, --synthetic, --backend wasm) and CIFAR10_*
environment variables override the notebook's parameters cell. Without them and without --full:
${Object.entries(HEADLESS_DEFAULTS).map(([k, v]) => `${k}=${v}`).join(" ")}.
The run is recorded under runs/ (--out DIR or CIFAR10_OUT_DIR to change).`;

/** Config fields that apply with `--resume`: a resumed run keeps its own settings otherwise. */
const RESUME_FIELDS: readonly string[] = ["epochs", "outDir"];

/**
 * The variables that make the notebook continue a stopped run: `CIFAR10_RESUME` (the run folder)
 * and `CIFAR10_EPOCHS` (the run's planned epochs unless given). Checks first that the run exists
 * and can be resumed, so a mistake shows before Jupyter starts.
 *
 * @param spec `latest` or a run folder (relative to the current folder).
 * @param overrides Config flags; only `epochs` and `outDir` may be set.
 * @param env The environment (`CIFAR10_OUT_DIR`, `CIFAR10_EPOCHS`).
 * @returns The variables to add.
 * @throws {RangeError} For config flags other than `--epochs` and `--out`.
 * @throws {Deno.errors.NotFound} When there is no such run.
 * @throws {Error} When the run cannot be resumed (still running, nothing to continue from, done).
 */
export async function resumeEnv(
  spec: string,
  overrides: Partial<TrainConfig>,
  env: Record<string, string>,
): Promise<Record<string, string>> {
  const fixed = Object.keys(overrides).filter((key) => !RESUME_FIELDS.includes(key));
  if (fixed.length > 0) {
    throw new RangeError(
      `Cannot use ${
        fixed.map((key) => flagName(key as keyof TrainConfig)).join(", ")
      } with --resume: a resumed run keeps its own settings; ` +
        "only --epochs and --out apply",
    );
  }
  const fromEnv = configOverridesFromEnv(env);
  // The notebook resolves a relative runs folder against the project folder: so do we.
  const outDir = resolve(PROJECT_ROOT, overrides.outDir ?? fromEnv.outDir ?? "runs");
  const dir = resolve(await findRunDir(spec === "latest" ? spec : resolve(spec), { outDir }));
  const config = await resumeConfig(dir, { outDir, epochs: overrides.epochs ?? fromEnv.epochs });
  return { CIFAR10_RESUME: dir, CIFAR10_EPOCHS: String(config.epochs) };
}

/**
 * Turns config overrides into the `CIFAR10_*` variables the notebook reads.
 *
 * @param overrides Parsed config flags.
 * @returns Environment variables.
 * @example
 * ```ts
 * import { overridesToEnv } from "./notebook.ts";
 * const env = overridesToEnv({ epochs: 2, convChannels: [8, 16], dataPath: null });
 * if (env.CIFAR10_EPOCHS !== "2" || env.CIFAR10_CONV_CHANNELS !== "8,16" || env.CIFAR10_DATA !== "none") {
 *   throw new Error(JSON.stringify(env));
 * }
 * ```
 */
export function overridesToEnv(overrides: Partial<TrainConfig>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in CONFIG_FIELDS) || value === undefined) continue;
    const name = key === "dataPath" ? "CIFAR10_DATA" : envName(key as keyof TrainConfig);
    env[name] = value === null ? "none" : Array.isArray(value) ? value.join(",") : String(value);
  }
  return env;
}

/**
 * The environment of a headless run: the current one, the short-schedule defaults where neither
 * the environment nor a flag sets them (unless `full`), then the flags.
 *
 * @param base The current environment.
 * @param flags Variables from config flags.
 * @param full Skip the short-schedule defaults.
 * @returns The environment for Jupyter and the kernel.
 * @example
 * ```ts
 * import { headlessEnv } from "./notebook.ts";
 * const env = headlessEnv({ CIFAR10_EPOCHS: "60" }, {}, false);
 * if (env.CIFAR10_EPOCHS !== "60" || env.CIFAR10_TRAIN_LIMIT !== "12000") throw new Error();
 * if (headlessEnv({}, {}, true).CIFAR10_EPOCHS !== undefined) throw new Error();
 * ```
 */
export function headlessEnv(
  base: Record<string, string>,
  flags: Record<string, string>,
  full: boolean,
): Record<string, string> {
  const env = { ...base };
  if (!full) {
    for (const [name, value] of Object.entries(HEADLESS_DEFAULTS)) {
      if (env[name] === undefined && flags[name] === undefined) env[name] = value;
    }
  }
  return { ...env, ...flags };
}

/**
 * What to tell a user whose notebook run was stopped by Ctrl-C: the command that continues the
 * run it left (when it recorded a completed epoch), else that there is nothing to continue.
 */
async function resumeHint(
  args: readonly string[],
  overrides: Partial<TrainConfig>,
  env: Record<string, string>,
  startedMs: number,
): Promise<string> {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (/^--(out|output)=/.test(flag)) kept.push(flag);
    else if ((flag === "--out" || flag === "--output") && args[i + 1] !== undefined) {
      kept.push(flag, args[++i]!);
    }
  }
  const command = ["./run notebook --resume latest", ...kept].join(" ");
  try {
    const outDir = resolve(PROJECT_ROOT, overrides.outDir ?? env.CIFAR10_OUT_DIR ?? "runs");
    const dir = await findRunDir("latest", { outDir });
    // Only the run this notebook started: an older one is not what the user just stopped.
    const info = await Deno.stat(dir);
    const created = (info.birthtime ?? info.mtime ?? new Date(0)).getTime();
    if (created >= startedMs - 1000) {
      await resumeEnv("latest", overrides.outDir ? { outDir: overrides.outDir } : {}, env);
      return `continue the training with: ${command}`;
    }
  } catch {
    // No run, or one that cannot be resumed (no completed epoch).
  }
  return "no epoch was completed, so there is nothing to continue: run it again to start over";
}

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const { overrides, extra } = parseArgs(args, {
    "--notebook": "string",
    "--output": "string",
    "--full": "bool",
    "--quiet": "bool",
    "--resume": "string",
  });
  // The settings are checked here, before a kernel starts or out/ is touched: a bad CIFAR10_*
  // value fails in a second, with the same message as its flag.
  makeConfig({ ...configOverridesFromEnv(Deno.env.toObject()), ...overrides });
  const notebook = resolve(String(extra.notebook ?? DEFAULT_NOTEBOOK));
  const outputDir = resolve(String(extra.output ?? DEFAULT_OUTPUT_DIR));
  const jupyter = await findJupyter();
  if (jupyter === null) {
    console.error(
      "Cannot run the notebook: Jupyter with nbconvert/nbclient was not found. Run `./run notebook` " +
        "(it installs what is missing), or install it: pip install notebook nbconvert nbclient " +
        "(Debian: apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient).",
    );
    return 1;
  }
  const kernel = await ensureDenoKernel(PROJECT_ROOT);
  const resuming = typeof extra.resume === "string";
  const flags = {
    ...overridesToEnv(overrides),
    ...(resuming ? await resumeEnv(extra.resume as string, overrides, kernel.env) : {}),
  };
  // A resumed run keeps its own settings: no short-schedule defaults.
  const env = headlessEnv(kernel.env, flags, extra.full === true || resuming);
  // The kernel runs in notebooks/, so a relative data path must be made absolute here, against the
  // folder the user ran the command from (`deno task` and ./run record it in INIT_CWD).
  const data = env.CIFAR10_DATA;
  if (data !== undefined && data !== "" && data !== "none" && !isAbsolute(data)) {
    env.CIFAR10_DATA = resolve(env.INIT_CWD ?? Deno.cwd(), data);
  }
  const settings = Object.keys(env).filter((k) =>
    k.startsWith("CIFAR10_") && k !== "CIFAR10_JUPYTER"
  )
    .sort().map((k) => `${k}=${env[k]}`);
  const name = basename(notebook).replace(/\.ipynb$/, "");
  const executed = join(outputDir, `${name}.ipynb`);
  const htmlFile = join(outputDir, `${name}.html`);
  await Deno.mkdir(outputDir, { recursive: true });
  console.error(
    `[notebook] executing ${relative(Deno.cwd(), notebook)} with the Deno kernel` +
      (settings.length > 0 ? ` (${settings.join(" ")})` : " (the parameters cell as written)"),
  );
  // The run writes beside the outputs, in a hidden folder of its own; out/ changes only when it
  // succeeded, so a failed run never replaces the previous good notebook and HTML. The files keep
  // the notebook's name there: nbconvert titles the HTML page after the file.
  const scratch = join(outputDir, `.${name}.running-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(scratch);
  const running = join(scratch, `${name}.ipynb`);
  const runningHtml = join(scratch, `${name}.html`);
  const removeScratch = () => Deno.remove(scratch, { recursive: true }).catch(() => {});
  let result;
  // Ctrl-C reaches this process and the driver alike (one process group): the driver interrupts
  // the kernel and stops after that cell; this process stays to save what ran and clean up.
  const keepRunning = () => {};
  Deno.addSignalListener("SIGINT", keepRunning);
  const started = Date.now();
  try {
    result = await executeNotebook(notebook, running, {
      cwd: resolve(notebook, ".."),
      env,
      python: jupyter.python,
      kernelName: kernel.kernelName,
      echo: extra.quiet !== true,
    });
  } catch (error) {
    await removeScratch();
    Deno.removeSignalListener("SIGINT", keepRunning);
    throw error;
  }
  const minutes = (result.seconds / 60).toFixed(1);
  if (result.stopped) {
    try {
      const failed = join(outputDir, `${name}.failed.ipynb`);
      await Deno.rename(running, failed);
      await exportHtml(failed, join(outputDir, `${name}.failed.html`), {
        jupyter: jupyter.jupyter,
        env,
      }).catch(() => {}); // a second Ctrl-C may stop nbconvert too: the notebook is what counts
      const hint = await resumeHint(args, overrides, env, started);
      console.error(
        `[notebook] stopped by Ctrl-C after ${minutes} min; the notebook so far is in ` +
          `${displayPath(failed)} (${displayPath(executed)} is left as it was); ${hint}`,
      );
    } finally {
      await removeScratch();
      Deno.removeSignalListener("SIGINT", keepRunning);
    }
    return 130;
  }
  Deno.removeSignalListener("SIGINT", keepRunning);
  if (!result.ok) {
    const e = result.error!;
    const failed = join(outputDir, `${name}.failed.ipynb`);
    const failedHtml = join(outputDir, `${name}.failed.html`);
    await Deno.rename(running, failed);
    await removeScratch();
    await exportHtml(failed, failedHtml, { jupyter: jupyter.jupyter, env });
    console.error(
      `[notebook] FAILED after ${minutes} min: cell ${e.cellIndex} raised ${e.ename}: ${e.evalue}`,
    );
    console.error(
      `[notebook] the failed notebook (with the error) is in ${failed}; ${executed} and ` +
        `${htmlFile} are left as they were`,
    );
    console.log(failedHtml);
    return 1;
  }
  try {
    await exportHtml(running, runningHtml, { jupyter: jupyter.jupyter, env });
    await Deno.rename(running, executed);
    await Deno.rename(runningHtml, htmlFile);
  } finally {
    await removeScratch();
  }
  // A success supersedes an earlier failure's files.
  for (const stale of [`${name}.failed.ipynb`, `${name}.failed.html`]) {
    await Deno.remove(join(outputDir, stale)).catch(() => {});
  }
  console.error(`[notebook] done in ${minutes} min; executed notebook: ${executed}`);
  console.error(`[notebook] HTML:`);
  console.log(htmlFile);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
