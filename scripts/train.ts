/**
 * `deno task train`: the whole tutorial outside Jupyter. Picks the backend, loads CIFAR-10 (or the
 * synthetic set with `--synthetic`), splits off the validation set, builds the network, trains it
 * with the tutorial's per-epoch and "Saving model" lines (and a progress bar on a terminal), loads
 * the best weights back, tests them, and prints the tutorial's test report.
 *
 * Every config field is a flag (`--epochs 3`, `--lr 0.01`, `--conv-channels 16,32,64,128`,
 * `--data PATH`, `--train-limit 10000`, `--out runs`, …) and a `CIFAR10_*` environment variable;
 * flags win. Bad flags or values exit with code 2 before any work starts.
 *
 * Output: a run folder `<outDir>/<UTC timestamp>-<short id>/` (lib/runs/record.ts) with `config.json`,
 * `metrics.json` (the run record: status, backend, data source, per-epoch losses and accuracies,
 * the test report), `best-model/` (the best checkpoint in the tfjs format: model.json +
 * weights.bin) and `last-model/` (model and optimiser state after the last completed epoch), all
 * written atomically. Ctrl-C stops at the next batch boundary, keeps the checkpoints and records
 * the run as interrupted (a second Ctrl-C quits at once). `--resume RUN_DIR` (or `--resume latest`)
 * continues a run after its last completed epoch in the same folder, with the same losses an
 * uninterrupted run would have had; `--epochs N` with it trains a finished run further.
 *
 * Exit codes: 0 done, 1 failed (including a diverged loss), 2 bad arguments, 130 interrupted.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  CONFIG_FIELDS,
  configOverridesFromEnv,
  DEFAULT_CONFIG,
  envName,
  FLAG_ALIASES,
  flagName,
  makeConfig,
  parseArgs,
  type TrainConfig,
} from "../lib/core/config.ts";
import { describeBackend, initBackend, peakMemoryMiB } from "../lib/engine/backend.ts";
import { loadCifar10 } from "../lib/data/load.ts";
import { splitTrainValid, subsetImages } from "../lib/data/split.ts";
import { progressText } from "../lib/core/progress.ts";
import { evaluateTest, formatTestReport } from "../lib/evaluate/evaluate.ts";
import { buildModel, countParameters } from "../lib/model/model.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  classWeightsFromRun,
  findRunDir,
  newRunId,
  readRunRecord,
  resumeConfig,
  resumeRunRecord,
  RUN_RECORD_FILE,
  type RunRecorder,
  startRunRecord,
} from "../lib/runs/mod.ts";
import {
  type BatchProgress,
  type FitResult,
  formatEpochLine,
  formatSavingLine,
} from "../lib/train/mod.ts";

/** Exit code for bad arguments. */
export const EXIT_USAGE = 2;
/** Exit code after Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** Name of the best checkpoint's folder inside a run folder. */
export const CHECKPOINT_FOLDER = BEST_CHECKPOINT_FOLDER;

/** Where the CLI writes and what it reads from its surroundings (replaceable in tests). */
export interface CliIo {
  /** Prints one line of results (stdout). */
  print(line: string): void;
  /** Writes diagnostics and progress (stderr), no newline added. */
  writeError(text: string): void;
  /** Whether stderr is a terminal (then the progress bar redraws in place with `\r`). */
  isTerminal: boolean;
  /** Environment variables (for `CIFAR10_*` overrides). */
  env: Record<string, string>;
  /** Installs a Ctrl-C handler; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void;
}

/** The real process's output, environment and Ctrl-C handling (shared by the project's CLIs). */
export function defaultIo(): CliIo {
  const encoder = new TextEncoder();
  return {
    print: (line) => console.log(line),
    writeError: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
    isTerminal: Deno.stderr.isTerminal(),
    env: Deno.env.toObject(),
    onInterrupt(handler) {
      try {
        Deno.addSignalListener("SIGINT", handler);
      } catch {
        return () => {};
      }
      return () => Deno.removeSignalListener("SIGINT", handler);
    },
  };
}

/**
 * The `--help` text: every config flag with its help, default and environment variable.
 *
 * @returns The text, ending with a newline.
 * @example
 * ```ts
 * import { helpText } from "./train.ts";
 * if (!helpText().includes("--conv-channels VALUE")) throw new Error("flag missing");
 * ```
 */
export function helpText(): string {
  const aliases = new Map<string, string[]>();
  for (const [alias, key] of Object.entries(FLAG_ALIASES)) {
    aliases.set(key, [...(aliases.get(key) ?? []), alias]);
  }
  const rows = (Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]).map((key) => {
    const spec = CONFIG_FIELDS[key];
    const names = [flagName(key), ...(aliases.get(key) ?? [])].join(", ");
    const value = spec.kind === "bool"
      ? ""
      : spec.choices
      ? ` ${spec.choices.join("|")}`
      : " VALUE";
    const fallback = DEFAULT_CONFIG[key];
    const shown = Array.isArray(fallback) ? fallback.join(",") : String(fallback);
    return `  ${(names + value).padEnd(44)} ${spec.help} (default ${shown}; env ${
      key === "dataPath" ? "CIFAR10_DATA" : envName(key)
    })`;
  });
  return [
    "Usage: deno task train [flags]",
    "",
    "Trains the tutorial's CNN on CIFAR-10 and tests it, printing the tutorial's lines. Writes",
    "<out>/<timestamp>-<id>/ with config.json, metrics.json (the run record), best-model/ (tfjs",
    "checkpoint) and last-model/ (for --resume). Ctrl-C stops after the current batch.",
    "Boolean flags take --flag, --flag false or --no-flag. Flags override CIFAR10_* variables.",
    "",
    ...rows,
    `  ${"--resume RUN_DIR|latest".padEnd(44)} continue a stopped run after its last completed ` +
    "epoch, in its folder (only --epochs, --backend, --data and --out apply)",
    `  ${"--class-weights-from RUN_DIR|latest".padEnd(44)} class weights from a run's per-class ` +
    "validation accuracy: the classes it gets wrong most are drawn more often",
    `  ${"--help".padEnd(44)} this text`,
    "",
  ].join("\n");
}

/**
 * A run folder name: UTC time and a short random id, e.g. `20261128-113000-3fa2c1`.
 *
 * @param now The time to use. @default the current time
 * @returns The name.
 * @example
 * ```ts
 * import { runFolderName } from "./train.ts";
 * if (!runFolderName(new Date("2026-11-28T11:30:00Z")).startsWith("20261128-113000-")) throw new Error();
 * ```
 */
export function runFolderName(now: Date = new Date()): string {
  return newRunId(now);
}

/** Renders batch progress: a redrawn line on a terminal, a plain line a minute otherwise. */
function createProgress(io: CliIo, epochs: number) {
  let lastWidth = 0;
  let lastPlain = -Infinity;
  return {
    update(p: BatchProgress) {
      const line = progressText({
        done: p.batch,
        total: p.batches,
        label: `epoch ${p.epoch}/${epochs} ${p.phase === "train" ? "train" : "valid"}`,
        info: `loss ${p.runningLoss.toFixed(4)} acc ${(100 * p.runningAccuracy).toFixed(1)}% ` +
          `${p.imagesPerSecond.toFixed(0)} img/s`,
        seconds: p.seconds,
      }, 24);
      if (io.isTerminal) {
        io.writeError(`\r${line}${" ".repeat(Math.max(0, lastWidth - line.length))}`);
        lastWidth = line.length;
      } else if (performance.now() - lastPlain > 60_000 || p.batch === p.batches) {
        lastPlain = performance.now();
        if (p.batch !== p.batches) io.writeError(`${line}\n`);
      }
    },
    clear() {
      if (io.isTerminal && lastWidth > 0) io.writeError(`\r${" ".repeat(lastWidth)}\r`);
      lastWidth = 0;
    },
  };
}

/** Config fields that `--resume` accepts: they change where and how long, not what is trained. */
const RESUME_FIELDS: readonly (keyof TrainConfig)[] = ["epochs", "backend", "dataPath", "outDir"];

/** The flag people type for a field: its short alias (`--lr`, `--data`) if it has one. */
function shortFlag(key: keyof TrainConfig): string {
  return Object.entries(FLAG_ALIASES).find(([, k]) => k === key)?.[0] ?? flagName(key);
}

/**
 * Runs the CLI.
 *
 * @param args Command-line arguments (`Deno.args`).
 * @param io Output, environment and signal handling; defaults to the real process.
 * @returns The exit code.
 * @example
 * ```ts
 * import { EXIT_USAGE, main } from "./train.ts";
 * let errors = "";
 * const code = await main(["--epochs", "zero"], {
 *   print: () => {},
 *   writeError: (text) => void (errors += text),
 *   isTerminal: false,
 *   env: {},
 *   onInterrupt: () => () => {},
 * });
 * if (code !== EXIT_USAGE || !errors.includes("--epochs")) throw new Error(errors);
 * ```
 */
export async function main(args: string[], io: CliIo = defaultIo()): Promise<number> {
  // 1. Arguments: flags over environment over defaults (over the run's own config with
  //    --resume); every error before any work.
  let config: TrainConfig;
  let resumeSpec: string | null = null;
  try {
    const parsed = parseArgs(args, {
      "--help": "bool",
      "--resume": "string",
      "--class-weights-from": "string",
    });
    if (parsed.extra.help === true) {
      io.print(helpText());
      return 0;
    }
    const overrides = { ...configOverridesFromEnv(io.env), ...parsed.overrides };
    if (typeof parsed.extra.resume === "string") {
      resumeSpec = parsed.extra.resume;
      const fixed = Object.keys(parsed.overrides).filter((key) =>
        !RESUME_FIELDS.includes(key as keyof TrainConfig)
      );
      if (fixed.length > 0) {
        throw new RangeError(
          `Cannot use ${
            fixed.map((key) => shortFlag(key as keyof TrainConfig)).join(", ")
          } with --resume: a resumed run keeps its own config; with --resume only ${
            RESUME_FIELDS.slice(0, -1).map(shortFlag).join(", ")
          } and ${shortFlag(RESUME_FIELDS[RESUME_FIELDS.length - 1]!)} apply`,
        );
      }
      const outDir = makeConfig({ outDir: overrides.outDir }).outDir;
      const stored = await resumeConfig(resumeSpec, { outDir, epochs: overrides.epochs });
      // Environment variables of other fields are ambient settings, not requests: ignored here.
      config = makeConfig({
        ...stored,
        ...Object.fromEntries(
          RESUME_FIELDS.filter((key) => overrides[key] !== undefined).map((key) => [
            key,
            overrides[key],
          ]),
        ),
      });
    } else {
      config = makeConfig(overrides);
    }
    const weightsFrom = parsed.extra["class-weights-from"];
    if (typeof weightsFrom === "string") {
      if (resumeSpec !== null || overrides.classWeights !== undefined) {
        throw new RangeError(
          `Cannot use --class-weights-from with ${
            resumeSpec !== null ? "--resume (a resumed run keeps its weights)" : "--class-weights"
          }: give the weights one way`,
        );
      }
      const source = await findRunDir(weightsFrom, { outDir: config.outDir });
      config = makeConfig({
        ...config,
        classWeights: classWeightsFromRun(await readRunRecord(source)),
      });
      io.print(`Class weights from ${source}: ${config.classWeights!.join(", ")}`);
    }
  } catch (error) {
    // Bad flags, and a run that does not exist or cannot be resumed (still running, finished).
    if (
      error instanceof RangeError || error instanceof Deno.errors.NotFound ||
      (resumeSpec !== null && error instanceof Error && error.message.startsWith("Cannot resume"))
    ) {
      io.writeError(`train: ${error.message}\n(see deno task train --help)\n`);
      return EXIT_USAGE;
    }
    throw error;
  }

  // 2. Backend, data, split, model.
  const backend = await initBackend(config.backend);
  io.print(describeBackend(backend));
  const data = await loadCifar10({
    dataPath: config.dataPath,
    // A quick synthetic run only generates the images it uses.
    synthetic: config.synthetic
      ? {
        seed: config.seed,
        imagesPerBatch: Math.ceil((config.trainLimit ?? 5000) / 5),
        testImages: config.testLimit ?? 1000,
      }
      : false,
    onNotice: (message) => io.writeError(`${message}\n`),
  });
  io.print(`Data: ${data.source.description}`);
  const train = subsetImages(data.train, config.trainLimit);
  const test = subsetImages(data.test, config.testLimit);
  const split = splitTrainValid(train.count, config.validFraction, config.seed);
  io.print(
    `Images: ${split.trainIndices.length} training, ${split.validIndices.length} validation, ` +
      `${test.count} test; batch size ${config.batchSize}`,
  );
  const model = buildModel(config);
  const parameters = countParameters(model);
  io.print(
    `Model: ${parameters.toLocaleString("en-US")} parameters (conv ${
      config.convChannels.join(",")
    }, ` +
      `pool every ${config.poolEvery}, dense ${config.hiddenUnits}, dropout ${config.dropout}); ` +
      `${config.optimizer} lr ${config.learningRate}; ${config.epochs} epoch${
        config.epochs === 1 ? "" : "s"
      }`,
  );

  // 3. The run record: a new run folder, or the resumed run's own.
  let run: RunRecorder;
  try {
    run = resumeSpec === null
      ? await startRunRecord(config, {
        backend,
        source: data.source,
        classNames: data.classNames,
        trainImages: split.trainIndices.length,
        validImages: split.validIndices.length,
        testImages: test.count,
        parameters,
      })
      : await resumeRunRecord(resumeSpec, {
        backend,
        source: data.source,
        outDir: config.outDir,
        epochs: config.epochs,
      });
  } catch (error) {
    model.dispose();
    throw error;
  }
  if (run.resume !== null) {
    const { epoch, bestEpoch, bestValidLoss } = run.resume;
    io.print(
      `Resuming ${run.dir} after epoch ${epoch} of ${config.epochs}` +
        (bestEpoch === null
          ? ""
          : ` (best so far: epoch ${bestEpoch}${
            Number.isFinite(bestValidLoss) ? `, validation loss ${bestValidLoss.toFixed(6)}` : ""
          })`),
    );
  }

  // 4. Train; Ctrl-C stops at the next batch boundary, a second one quits at once.
  const controller = new AbortController();
  const removeInterrupt = io.onInterrupt(() => {
    if (controller.signal.aborted) Deno.exit(EXIT_INTERRUPTED);
    io.writeError("\nStopping after this batch (Ctrl-C again to quit now) ...\n");
    controller.abort();
  });
  const progress = createProgress(io, config.epochs);
  let result: FitResult;
  try {
    result = await run.fit(model, { set: train, ...split }, {
      signal: controller.signal,
      onBatch: (p) => progress.update(p),
      onEpoch: (record) => {
        progress.clear();
        io.print(formatEpochLine(record));
        // Growth across epochs would show here: both figures should stay flat after epoch 1.
        io.writeError(
          `Memory after epoch ${record.epoch}: RSS ${
            (Deno.memoryUsage().rss / 2 ** 20).toFixed(0)
          } MiB (peak ${peakMemoryMiB().toFixed(0)} MiB), ${tf.memory().numTensors} tensors\n`,
        );
      },
      onSave: (event) => io.print(formatSavingLine(event.previousLoss, event.validLoss)),
    });
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    removeInterrupt();
    progress.clear();
  }
  if (result.message !== null) io.writeError(`${result.message}\n`);
  io.writeError(`Peak memory while training (RSS): ${peakMemoryMiB().toFixed(0)} MiB\n`);

  // 5. Test the best model (not after Ctrl-C: the user asked to stop).
  if (result.stopReason !== "aborted" && result.bestEpoch !== null && test.count > 0) {
    const tested = await evaluateTest(model, test, { config });
    io.print("");
    for (const line of formatTestReport(tested, data.classNames)) io.print(line);
    await run.test(tested, data.classNames);
  }
  model.dispose();
  const recordPath = `${run.dir}/${RUN_RECORD_FILE}`;
  io.print("");
  io.print(
    result.checkpointDir !== null
      ? `Saved the best model (epoch ${result.bestEpoch}) to ${run.bestCheckpointDir}, the run record to ${recordPath}`
      : `No model saved; the run record is ${recordPath}`,
  );
  if (result.stopReason === "aborted") {
    io.print(`Continue with: deno task train --resume ${run.dir}`);
  }
  if (data.source.synthetic) io.print("Note: trained on SYNTHETIC data, not CIFAR-10.");
  io.writeError(`Peak memory of the whole run (RSS): ${peakMemoryMiB().toFixed(0)} MiB\n`);
  return result.stopReason === "completed"
    ? 0
    : result.stopReason === "aborted"
    ? EXIT_INTERRUPTED
    : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`train: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
