/**
 * `deno task sweep`: many training runs on one budget, to compare the tutorial's "ideas to
 * improve the model". Any config flag takes a comma-separated list (`--learning-rate
 * 0.0005,0.001,0.002 --dropout 0.25,0.4` is a grid of 6 trials; a list-valued flag such as
 * `--conv-channels` takes one list per occurrence: repeat it), or `--configs FILE` gives a JSON
 * array of configs. Flags with one value, and `CIFAR10_*` variables, apply to every trial.
 *
 * Each trial is a normal run in `<out>/sweep-<time>-<id>/` (the same data, split and seed unless
 * the sweep varies them), trained and tested like `deno task train`'s; `sweep.json` there holds
 * the plan and where each trial stands. One progress bar covers all trials, with the time left;
 * the sweep ends with a table sorted by best validation loss. Ctrl-C (or a kill) leaves the sweep
 * resumable: `--resume latest` (or the sweep folder) continues it, the trial in progress after its
 * last completed epoch. A trial that fails is recorded and the others still run.
 *
 * Exit codes: 0 every trial completed, 1 a trial failed or diverged, 2 bad arguments, 130
 * interrupted.
 * @module
 */
import {
  CONFIG_FIELDS,
  configOverridesFromEnv,
  FLAG_ALIASES,
  flagName,
  makeConfig,
  resolveUserPath,
  type TrainConfig,
} from "../lib/core/config.ts";
import { parseFlags } from "../lib/core/flags.ts";
import { progressText } from "../lib/core/progress.ts";
import { displayPath } from "../lib/core/paths.ts";
import { describeBackend, initBackend } from "../lib/engine/backend.ts";
import { loadCifar10 } from "../lib/data/load.ts";
import { classWeightsFromRun, findRunDir, readRunRecord } from "../lib/runs/mod.ts";
import {
  findSweepDir,
  gridAxes,
  gridPlan,
  jsonPlan,
  newSweepRecord,
  readSweepRecord,
  readTrialResults,
  runSweep,
  type SweepPlan,
  type SweepRecord,
  sweepTableRows,
  sweepValues,
  trialConfig,
} from "../lib/sweep/mod.ts";
import { table } from "../lib/display/table.ts";
import { textOf } from "../lib/display/show.ts";
import { formatEpochLine } from "../lib/train/mod.ts";
import { type CliIo, defaultIo, EXIT_INTERRUPTED, EXIT_USAGE } from "./train.ts";

/** The sweep's own flags, besides the config's. */
const SWEEP_FLAGS = {
  "--configs": "string",
  "--resume": "string",
  "--class-weights-from": "string",
  "--retry-failed": "bool",
  "--help": "bool",
} as const;

/**
 * The `--help` text.
 *
 * @returns The text.
 * @example
 * ```ts
 * import { helpText } from "./sweep.ts";
 * if (!helpText().includes("--resume SWEEP|latest")) throw new Error();
 * ```
 */
export function helpText(): string {
  return [
    "Usage: deno task sweep [--FLAG V1,V2,...]... [--configs FILE] [--resume SWEEP|latest]",
    "",
    "Trains one run per trial in <out>/sweep-<time>-<id>/ and ends with a table sorted by best",
    "validation loss. Any config flag of deno task train takes a comma-separated list of values;",
    "lists of several flags make a grid (every combination). A list-valued flag (--conv-channels,",
    "--class-weights) takes one list per occurrence: repeat the flag for more. Flags given one",
    "value, and CIFAR10_* variables, apply to every trial.",
    "",
    `  ${"--configs FILE".padEnd(30)} a JSON array of configs instead of a grid, e.g.`,
    `  ${"".padEnd(30)} [{"label": "slow", "learningRate": 0.0005}, {"dropout": 0.4}]`,
    `  ${
      "--resume SWEEP|latest".padEnd(30)
    } continue a stopped sweep (its folder or id, or the newest)`,
    `  ${
      "--class-weights-from RUN".padEnd(30)
    } class weights from a run's per-class validation accuracy`,
    `  ${"".padEnd(30)} (its folder or "latest"): the weakest classes drawn more often`,
    `  ${"--help".padEnd(30)} this text`,
    "",
    "Example: deno task sweep --epochs 8 --train-limit 20000 --patience 3 \\",
    "           --learning-rate 0.0005,0.001,0.002 --dropout 0.25,0.4",
    "",
  ].join("\n");
}

/** What the command line asks for: a new sweep's plan, or a sweep to continue. */
export type SweepRequest =
  | { kind: "help" }
  | { kind: "new"; plan: SweepPlan; runsDir: string; dataPath: string | null }
  | {
    kind: "resume";
    spec: string;
    runsDir: string;
    dataPath: string | null;
    retryFailed: boolean;
  };

/**
 * Reads the command line into a sweep request; every error before any work.
 *
 * @param args The arguments.
 * @param env The environment (`CIFAR10_*` overrides apply to every trial).
 * @returns The request.
 * @throws {RangeError} For a bad flag or value, named as the flag's own message gives it.
 * @example
 * ```ts
 * import { parseSweepArgs } from "./sweep.ts";
 * const request = await parseSweepArgs(["--lr", "0.001,0.002", "--epochs", "2"], {});
 * if (request.kind !== "new" || request.plan.trials.length !== 2 || request.plan.base.epochs !== 2) throw new Error();
 * ```
 */
export async function parseSweepArgs(
  args: string[],
  env: Record<string, string>,
): Promise<SweepRequest> {
  const byFlag = new Map<string, keyof TrainConfig>();
  for (const key of Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]) {
    byFlag.set(flagName(key), key);
  }
  for (const [alias, key] of Object.entries(FLAG_ALIASES)) byFlag.set(alias, key);
  const spec: Record<string, "bool" | "string"> = { ...SWEEP_FLAGS };
  for (const [flag, key] of byFlag) {
    spec[flag] = CONFIG_FIELDS[key].kind === "bool" ? "bool" : "string";
  }
  const { flags } = parseFlags(args, spec);
  const own = new Map<string, string | boolean>();
  const configFlags: [keyof TrainConfig, unknown[], string][] = [];
  for (const [flag, value] of flags) {
    const key = flag in SWEEP_FLAGS ? undefined : byFlag.get(flag);
    if (key === undefined) {
      own.set(flag, value);
      continue;
    }
    configFlags.push([
      key,
      typeof value === "boolean" ? [value] : sweepValues(key, value, flag),
      flag,
    ]);
  }
  if (own.get("--help") === true) return { kind: "help" };
  const envOverrides = configOverridesFromEnv(env);
  const axes = gridAxes(configFlags);
  const single = (key: keyof TrainConfig) => {
    const axis = axes.find((a) => a.key === key);
    return axis?.values.length === 1 ? axis.values[0] : undefined;
  };
  const runsDir = makeConfig({ outDir: (single("outDir") ?? envOverrides.outDir) as string })
    .outDir;
  const dataPath = (single("dataPath") ?? envOverrides.dataPath ?? null) as string | null;
  const resume = own.get("--resume");
  if (typeof resume === "string") {
    const fixed = configFlags.filter(([key]) => !["outDir", "dataPath", "backend"].includes(key));
    if (fixed.length > 0 || own.has("--configs") || own.has("--class-weights-from")) {
      throw new RangeError(
        `Cannot use ${
          [
            ...fixed.map(([, , flag]) => flag),
            ...["--configs", "--class-weights-from"].filter((f) => own.has(f)),
          ]
            .join(", ")
        } with --resume: a resumed sweep keeps its own plan (only --out, --data and --backend apply)`,
      );
    }
    return {
      kind: "resume",
      spec: resume,
      runsDir,
      dataPath,
      retryFailed: own.get("--retry-failed") === true,
    };
  }
  if (own.has("--retry-failed")) {
    throw new RangeError(
      "Cannot use --retry-failed without --resume: a new sweep has no failed trials",
    );
  }
  const base: Partial<TrainConfig> = { ...envOverrides };
  const fromRun = own.get("--class-weights-from");
  if (typeof fromRun === "string") {
    if (axes.some((a) => a.key === "classWeights")) {
      throw new RangeError(
        "Cannot use --class-weights-from with --class-weights: give the weights one way",
      );
    }
    const dir = await findRunDir(fromRun, { outDir: runsDir });
    base.classWeights = classWeightsFromRun(await readRunRecord(dir));
  }
  const configs = own.get("--configs");
  let plan: SweepPlan;
  if (typeof configs === "string") {
    const many = axes.find((a) => a.values.length > 1);
    if (many !== undefined) {
      throw new RangeError(
        `Cannot use a list for ${flagName(many.key)} with --configs: the file lists the trials; ` +
          `give flags one value there (they apply to every trial)`,
      );
    }
    for (const axis of axes) (base as Record<string, unknown>)[axis.key] = axis.values[0];
    let text: string;
    try {
      text = await Deno.readTextFile(resolveUserPath(configs));
    } catch (error) {
      throw new RangeError(
        `Cannot read --configs ${configs}: ${(error as Error).message} (expected a JSON file)`,
      );
    }
    plan = jsonPlan(text, configs, base);
  } else {
    plan = gridPlan(base, axes);
  }
  return { kind: "new", plan, runsDir, dataPath };
}

/**
 * Runs the CLI.
 *
 * @param args Command-line arguments.
 * @param io Output, environment and signal handling.
 * @returns The exit code.
 */
export async function main(args: string[], io: CliIo = defaultIo()): Promise<number> {
  let request: SweepRequest;
  let record: SweepRecord;
  let sweepDir: string;
  try {
    request = await parseSweepArgs(args, io.env);
    if (request.kind === "help") {
      io.print(helpText());
      return 0;
    }
    if (request.kind === "resume") {
      // A path typed from the user's folder, else an id (or "latest") under the runs folder.
      const { spec, runsDir } = request;
      sweepDir = spec === "latest"
        ? await findSweepDir(spec, runsDir)
        : await findSweepDir(resolveUserPath(spec), runsDir).catch(() =>
          findSweepDir(spec, runsDir)
        );
      record = await readSweepRecord(sweepDir);
      if (request.retryFailed) {
        for (const trial of record.trials.filter((t) => t.status === "failed")) {
          trial.status = "pending";
          trial.error = null;
        }
      }
    } else {
      record = newSweepRecord(request.plan);
      sweepDir = `${request.runsDir.replace(/(.)\/+$/, "$1")}/${record.id}`;
    }
  } catch (error) {
    if (
      error instanceof RangeError || error instanceof SyntaxError ||
      error instanceof Deno.errors.NotFound
    ) {
      io.writeError(`sweep: ${error.message}\n(see deno task sweep --help)\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  const first = trialConfig(record, record.trials[0]!, sweepDir);
  const backend = await initBackend(first.backend);
  io.print(describeBackend(backend));
  const data = await loadCifar10({
    dataPath: request.dataPath ?? first.dataPath,
    synthetic: first.synthetic
      ? {
        seed: first.seed,
        imagesPerBatch: Math.ceil((first.trainLimit ?? 5000) / 5),
        testImages: first.testLimit ?? 1000,
      }
      : false,
    onNotice: (message) => io.writeError(`${message}\n`),
  });
  io.print(`Data: ${data.source.description}`);
  const shown = displayPath(sweepDir);
  io.print(
    request.kind === "resume"
      ? `Resuming sweep ${shown}: ${
        record.trials.filter((t) => ["completed", "failed", "diverged"].includes(t.status)).length
      } of ${record.trials.length} trials done`
      : `Sweep ${shown}: ${record.trials.length} trial${record.trials.length === 1 ? "" : "s"} (${
        record.trials.map((t) => t.label).join("; ")
      })`,
  );

  const controller = new AbortController();
  const removeInterrupt = io.onInterrupt(() => {
    if (controller.signal.aborted) Deno.exit(EXIT_INTERRUPTED);
    io.writeError("\nStopping after this batch (Ctrl-C again to quit now) ...\n");
    controller.abort();
  });
  let lastWidth = 0;
  let lastPlain = -Infinity;
  const clear = () => {
    if (io.isTerminal && lastWidth > 0) io.writeError(`\r${" ".repeat(lastWidth)}\r`);
    lastWidth = 0;
  };
  let outcome;
  try {
    outcome = await runSweep({
      sweepDir,
      record,
      data,
      backend,
      signal: controller.signal,
      onProgress: (p) => {
        const line = progressText({
          done: p.done,
          total: p.total,
          label: `sweep trial ${p.trial.index}/${p.trials} epoch ${p.epoch}/${p.epochs}`,
          info: `${p.phase} loss ${p.runningLoss.toFixed(4)}`,
          seconds: p.seconds,
          rate: p.rate,
        }, 24);
        if (io.isTerminal) {
          io.writeError(`\r${line}${" ".repeat(Math.max(0, lastWidth - line.length))}`);
          lastWidth = line.length;
        } else if (performance.now() - lastPlain > 60_000) {
          lastPlain = performance.now();
          io.writeError(`${line}\n`);
        }
      },
      onTrialStart: (trial, runDir, resumed) => {
        clear();
        io.print(
          `Trial ${trial.index}/${record.trials.length} (${trial.label}): ${
            resumed ? "continuing" : "training"
          } ${displayPath(runDir)}`,
        );
      },
      onEpoch: (_trial, epoch) => {
        clear();
        io.print(`  ${formatEpochLine(epoch)}`);
      },
      onTrialEnd: (trial, summary) => {
        clear();
        io.print(`Trial ${trial.index}/${record.trials.length} (${trial.label}): ${summary}`);
      },
    });
  } finally {
    removeInterrupt();
    clear();
  }
  const rows = sweepTableRows(await readTrialResults(sweepDir, record));
  io.print("");
  io.print(`Sweep ${shown}, by best validation loss:`);
  io.print(textOf(table(rows)));
  if (data.source.synthetic) io.print("Note: trained on SYNTHETIC data, not CIFAR-10.");
  if (outcome.interrupted) {
    io.print(`Continue with: deno task sweep --resume ${shown}`);
    return EXIT_INTERRUPTED;
  }
  io.print(`Compare the trials: deno task runs --dir ${shown}`);
  return outcome.counts.failed + outcome.counts.diverged > 0 ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`sweep: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
