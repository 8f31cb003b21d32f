/**
 * Writing a run record while a run trains: `startRunRecord` creates a new run folder,
 * `resumeRunRecord` reopens a stopped run after its last completed epoch, and `openRunRecord` does
 * either, as a notebook's training cell asks. Each returns a `RunRecorder`; its `fit` wraps `fit`
 * from lib/train/fit.ts (the epoch loop of lib/train/session.ts) with the run's checkpoints and records every epoch and the outcome. Every
 * write is atomic, and the record is rewritten after each epoch and at least once a minute while
 * training (the heartbeat), so an interrupted run is never lost.
 * @module
 */
import type { BackendInfo } from "../engine/backend.ts";
import { exists, writeJsonAtomic } from "../core/fs.ts";
import { makeConfig, type TrainConfig } from "../core/config.ts";
import type { DataSource } from "../data/mod.ts";
import type { TestResult } from "../evaluate/evaluate.ts";
import type { Model } from "../model/model.ts";
import { tidyCheckpoint } from "../model/mod.ts";
import {
  type EpochRecord,
  type FitData,
  type FitOptions,
  type FitResult,
  type FitResume,
  readResumeState,
  startTraining,
  trainAllEpochs,
  type Training,
} from "../train/mod.ts";
import { findRunDir } from "./list.ts";
import { currentProcess, HEARTBEAT_INTERVAL_MS } from "./process.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  DATA_LABELS,
  dataKind,
  LAST_CHECKPOINT_FOLDER,
  newRunId,
  readRunRecord,
  RUN_CONFIG_FILE,
  RUN_RECORD_FILE,
  RUN_RECORD_FORMAT,
  type RunRecord,
  type RunStatus,
  type RunTest,
} from "./record.ts";
import { checkResumable, type ResumeRunOptions } from "./resume.ts";

/** Options of `startRunRecord`. */
export interface StartRunOptions {
  /** The backend in use (`initBackend`'s answer). */
  backend: BackendInfo;
  /** Where the data came from (`Cifar10Data.source`). */
  source: DataSource;
  /** Class names in label order. @default none recorded */
  classNames?: readonly string[];
  /** Training images per epoch. */
  trainImages?: number;
  /** Validation images. */
  validImages?: number;
  /** Test images. */
  testImages?: number;
  /** Model parameters (`countParameters`). */
  parameters?: number;
  /** The runs folder. @default config.outDir */
  outDir?: string;
  /** The run id (folder name). @default newRunId() */
  id?: string;
  /** Rewrite the record at least this often while training. @default HEARTBEAT_INTERVAL_MS */
  heartbeatMs?: number;
}

/** Options of `RunRecorder.fit`: `fit`'s, less what the recorder supplies. */
export type RecorderFitOptions =
  & Omit<
    FitOptions,
    "config" | "checkpointDir" | "lastCheckpointDir" | "resume" | "checkpointMetadata"
  >
  & {
    /**
     * Stop at the next batch boundary on SIGINT (Ctrl-C; a Jupyter kernel interrupt) while
     * training, instead of leaving it to the process. @default false
     */
    stopOnInterrupt?: boolean;
  };

/** Writes one run's record: made by `startRunRecord` or `resumeRunRecord`. */
export interface RunRecorder {
  /** The run folder. */
  readonly dir: string;
  /** The run id (the folder's name). */
  readonly id: string;
  /** The run's config (for a resumed run: the stored one, with any new `epochs`). */
  readonly config: TrainConfig;
  /** The best checkpoint folder (`<dir>/best-model`). */
  readonly bestCheckpointDir: string;
  /** The last-epoch checkpoint folder (`<dir>/last-model`). */
  readonly lastCheckpointDir: string;
  /** Where training continues (a resumed run), or null for a new run. */
  readonly resume: FitResume | null;
  /** A copy of the record as last written. */
  record(): RunRecord;
  /**
   * The options that make `fit` save this run's checkpoints and continue a resumed run:
   * `{ checkpointDir, lastCheckpointDir, checkpointMetadata, resume }`. (`fit` below adds them.)
   */
  fitOptions(): Pick<
    FitOptions,
    "checkpointDir" | "lastCheckpointDir" | "checkpointMetadata" | "resume"
  >;
  /** Records a completed epoch (`fit`'s `onEpoch`). */
  epoch(record: EpochRecord): Promise<void>;
  /** Rewrites the record when the last write is older than `HEARTBEAT_INTERVAL_MS`. */
  heartbeat(): Promise<void>;
  /** Records how training ended: a `fit` result, or a status and message. */
  finish(outcome: FitResult | RunStatus, message?: string | null): Promise<void>;
  /** Records the best model's test report. */
  test(result: TestResult, classNames?: readonly string[]): Promise<void>;
  /**
   * Trains with `fit` (lib/train/fit.ts) into this run: its checkpoints, the resume state, every
   * epoch recorded, a heartbeat while training, and the outcome recorded at the end; a thrown
   * error is recorded as "failed" and rethrown.
   */
  fit(model: Model, data: FitData, options?: RecorderFitOptions): Promise<FitResult>;
  /**
   * Starts training into this run, for a loop written out step by step (as the tutorial
   * notebook's training cell does; `fit` is that loop): the same checkpoints, resume state,
   * records, heartbeat and SIGINT handling as `fit`. `finish()` records the outcome; a step that
   * throws is recorded as "failed" and rethrown.
   */
  startTraining(model: Model, data: FitData, options?: RecorderFitOptions): Promise<Training>;
}

function statusOf(result: FitResult): RunStatus {
  return result.stopReason === "completed"
    ? "completed"
    : result.stopReason === "aborted"
    ? "interrupted"
    : "diverged";
}

function testSummary(
  result: TestResult,
  classNames: readonly string[],
  epoch: number | null,
): RunTest {
  return {
    loss: result.loss,
    accuracy: result.accuracy,
    correct: result.correct,
    total: result.total,
    perClass: result.classTotal.map((total, i) => ({
      name: classNames[i] ?? String(i),
      correct: result.classCorrect[i]!,
      total,
      accuracy: total > 0 ? result.classCorrect[i]! / total : null,
    })),
    confusion: result.confusion.map((row) => [...row]),
    imagesPerSecond: result.imagesPerSecond,
    epoch,
    testedAt: new Date().toISOString(),
  };
}

/** The recorder over a record held in memory; `write` persists it. */
function createRecorder(
  dir: string,
  state: RunRecord,
  resume: FitResume | null,
  previousSeconds: number,
  heartbeatMs: number = HEARTBEAT_INTERVAL_MS,
): RunRecorder {
  const bestCheckpointDir = `${dir}/${BEST_CHECKPOINT_FOLDER}`;
  const lastCheckpointDir = `${dir}/${LAST_CHECKPOINT_FOLDER}`;
  const segmentStart = performance.now();
  let lastWrite = -Infinity;
  let finished = false;
  const segment = state.segments[state.segments.length - 1]!;
  const write = async () => {
    const now = new Date();
    if (!finished) {
      state.durationSeconds = previousSeconds + (performance.now() - segmentStart) / 1000;
      state.process = { ...currentProcess(now) };
    }
    state.updatedAt = now.toISOString();
    lastWrite = performance.now();
    // JSON.stringify writes NaN and ±Infinity as null; normalizeRecord reads them back.
    await writeJsonAtomic(`${dir}/${RUN_RECORD_FILE}`, { ...state, stale: undefined });
  };
  const recorder: RunRecorder = {
    dir,
    id: state.id,
    config: state.config,
    bestCheckpointDir,
    lastCheckpointDir,
    resume,
    record: () => structuredClone(state),
    fitOptions: () => ({
      checkpointDir: bestCheckpointDir,
      lastCheckpointDir,
      checkpointMetadata: {
        run: state.id,
        backend: state.backend.name,
        data: state.data.source.description,
      },
      ...(resume === null ? {} : { resume }),
    }),
    async epoch(record) {
      // A resumed run continues after its last checkpoint: drop records past it, then append.
      state.epochs = state.epochs.filter((e) => e.epoch < record.epoch);
      state.epochs.push({ ...record });
      // Without validation `fit` keeps (and saves) every epoch's model as the best.
      if (record.saved || record.validLoss === null) state.bestEpoch = record.epoch;
      state.bestValidLoss = Number.isFinite(record.bestValidLoss) ? record.bestValidLoss : null;
      if (await exists(`${bestCheckpointDir}/model.json`)) {
        state.bestCheckpoint = BEST_CHECKPOINT_FOLDER;
      }
      if (await exists(`${lastCheckpointDir}/model.json`)) {
        state.lastCheckpoint = LAST_CHECKPOINT_FOLDER;
      }
      await write();
    },
    async heartbeat() {
      if (!finished && performance.now() - lastWrite >= heartbeatMs) await write();
    },
    async finish(outcome, message = null) {
      if (typeof outcome === "string") {
        state.status = outcome;
        state.message = message;
      } else {
        state.status = statusOf(outcome);
        state.message = outcome.message;
        state.earlyStop = outcome.earlyStop;
        state.bestEpoch = outcome.bestEpoch;
        state.bestValidLoss = Number.isFinite(outcome.bestValidLoss) ? outcome.bestValidLoss : null;
      }
      state.durationSeconds = previousSeconds + (performance.now() - segmentStart) / 1000;
      state.finishedAt = new Date().toISOString();
      segment.endedAt = state.finishedAt;
      segment.status = state.status;
      if (await exists(`${bestCheckpointDir}/model.json`)) {
        state.bestCheckpoint = BEST_CHECKPOINT_FOLDER;
      }
      finished = true;
      await write();
    },
    async test(result, classNames) {
      state.test = testSummary(result, classNames ?? state.data.classNames, state.bestEpoch);
      await write();
    },
    async startTraining(model, data, options = {}) {
      const { stopOnInterrupt = false, ...fitOptions } = options;
      const controller = new AbortController();
      const outer = fitOptions.signal;
      const abort = () => controller.abort();
      if (outer?.aborted) abort();
      outer?.addEventListener("abort", abort);
      let removeInterrupt = () => {};
      if (stopOnInterrupt) {
        try {
          Deno.addSignalListener("SIGINT", abort);
          removeInterrupt = () => Deno.removeSignalListener("SIGINT", abort);
        } catch {
          // No signals here (e.g. Windows without SIGINT support): only `signal` stops training.
        }
      }
      const stopListening = () => {
        removeInterrupt();
        outer?.removeEventListener("abort", abort);
      };
      const fail = async (error: unknown) => {
        stopListening();
        await recorder.finish("failed", `Training failed: ${(error as Error)?.message ?? error}`)
          .catch(() => {});
      };
      let training: Training;
      try {
        training = await startTraining(model, data, {
          ...fitOptions,
          ...recorder.fitOptions(),
          config: state.config,
          signal: controller.signal,
          onBatch: async (progress) => {
            await recorder.heartbeat();
            await fitOptions.onBatch?.(progress);
          },
          onEpoch: async (record) => {
            await recorder.epoch(record);
            await fitOptions.onEpoch?.(record);
          },
        });
      } catch (error) {
        await fail(error);
        throw error;
      }
      // A step that throws is recorded as "failed" (and rethrown), wherever the loop runs.
      const recorded =
        <A extends unknown[], R>(step: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          try {
            return await step(...args);
          } catch (error) {
            training.close();
            await fail(error);
            throw error;
          }
        };
      return {
        optimizer: training.optimizer,
        epochs: () => training.epochs(),
        trainEpoch: recorded(training.trainEpoch),
        validate: recorded(training.validate),
        mustStop: training.mustStop,
        saveIfBetter: recorded(training.saveIfBetter),
        finish: recorded(async () => {
          stopListening();
          const result = await training.finish();
          await recorder.finish(result);
          return result;
        }),
        close() {
          stopListening();
          training.close();
        },
      };
    },
    async fit(model, data, options = {}) {
      return await trainAllEpochs(await recorder.startTraining(model, data, options));
    },
  };
  return recorder;
}

/**
 * Repairs a run folder after a writer was killed: checkpoints relinked or tidied
 * (`tidyCheckpoint`) and half-written temporary record files removed. Only the run's writer
 * calls it (resuming), never a reader that may run beside a live writer.
 */
async function tidyRunFolder(dir: string): Promise<void> {
  await tidyCheckpoint(`${dir}/${BEST_CHECKPOINT_FOLDER}`);
  await tidyCheckpoint(`${dir}/${LAST_CHECKPOINT_FOLDER}`);
  for await (const entry of Deno.readDir(dir)) {
    const temporary = [RUN_RECORD_FILE, RUN_CONFIG_FILE].some((f) =>
      entry.name.startsWith(`${f}.tmp-`)
    );
    if (temporary && entry.isFile) await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
  }
}

/**
 * Starts the record of a new run: creates `<outDir>/<id>/` with `config.json` and a
 * `metrics.json` whose status is "running", and returns the recorder that keeps it up to date.
 *
 * @param config The run's full config.
 * @param options Backend, data source and sizes, runs folder.
 * @returns The recorder (use its `fit`, then `test`).
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { readRunRecord } from "./record.ts";
 * import { startRunRecord } from "./recorder.ts";
 * const outDir = await Deno.makeTempDir();
 * const source = { kind: "synthetic", path: "memory", checksum: "unchecked", md5: null, synthetic: true, description: "Synthetic" } as const;
 * const run = await startRunRecord(makeConfig({ epochs: 2 }), {
 *   backend: { name: "cpu", device: "JavaScript", reason: "test" }, source, outDir,
 * });
 * await run.finish("failed", "no data");
 * const record = await readRunRecord(run.dir);
 * if (record.status !== "failed" || record.config.epochs !== 2 || record.data.kind !== "synthetic") throw new Error();
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function startRunRecord(
  config: TrainConfig,
  options: StartRunOptions,
): Promise<RunRecorder> {
  const full = makeConfig(config);
  const id = options.id ?? newRunId();
  const dir = `${(options.outDir ?? full.outDir).replace(/(.)\/+$/, "$1")}/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  // The config first, so even a run that dies at once says what it was.
  await writeJsonAtomic(`${dir}/${RUN_CONFIG_FILE}`, full);
  const now = new Date();
  const kind = dataKind(options.source);
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT,
    version: 1,
    id,
    status: "running",
    stale: false,
    message: null,
    earlyStop: null,
    startedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    finishedAt: null,
    durationSeconds: 0,
    process: currentProcess(now),
    backend: structuredClone(options.backend),
    data: {
      kind,
      label: DATA_LABELS[kind],
      synthetic: kind === "synthetic",
      source: structuredClone(options.source),
      classNames: [...(options.classNames ?? [])],
      trainImages: options.trainImages ?? null,
      validImages: options.validImages ?? null,
      testImages: options.testImages ?? null,
    },
    config: full,
    model: options.parameters === undefined ? null : { parameters: options.parameters },
    bestEpoch: null,
    bestValidLoss: null,
    bestCheckpoint: null,
    lastCheckpoint: null,
    epochs: [],
    test: null,
    segments: [{
      startedAt: now.toISOString(),
      endedAt: null,
      fromEpoch: 1,
      status: "running",
      backend: options.backend.name,
    }],
  };
  const recorder = createRecorder(dir, record, null, 0, options.heartbeatMs);
  await recorder.heartbeat();
  return recorder;
}

/** Options of `openRunRecord`: a new run's details, plus the run to continue, if any. */
export interface OpenRunOptions extends StartRunOptions {
  /** A run to continue (`"latest"` or a run folder), or null to start a new one. @default null */
  resume?: string | null;
}

/**
 * Starts a new run record, or reopens a stopped run to continue it when `options.resume` names one
 * (then `config.epochs` is the run's target): the one call a notebook's training cell needs.
 *
 * @param config The run's config (for a resumed run, `resumeConfig`'s answer).
 * @param options The backend, data and sizes of a new run, and `resume`.
 * @returns The recorder; its `fit` trains, records and checkpoints.
 */
export function openRunRecord(config: TrainConfig, options: OpenRunOptions): Promise<RunRecorder> {
  const { resume = null, ...start } = options;
  if (resume === null) return startRunRecord(config, start);
  return resumeRunRecord(resume, {
    backend: start.backend,
    source: start.source,
    outDir: start.outDir,
    epochs: config.epochs,
  });
}

/** Options of `resumeRunRecord`. */
export interface ResumeRecorderOptions extends ResumeRunOptions {
  /** The backend in use now. */
  backend: BackendInfo;
  /** The data loaded now; it must be the run's data (same synthetic flag and archive md5). */
  source?: DataSource;
  /** Rewrite the record at least this often while training. @default HEARTBEAT_INTERVAL_MS */
  heartbeatMs?: number;
}
/**
 * Reopens a run to continue training after its last completed epoch: reads the model and
 * optimiser state from `last-model/` (see `readResumeState`), marks the record "running" again
 * with a new segment, and returns the recorder; its `fit` continues where the run stopped and
 * appends the new epochs. Build the model from `recorder.config` (or `resumeConfig`).
 *
 * @param spec `"latest"` (the run started last) or a run folder.
 * @param options Backend and data in use now, runs folder, new epoch count.
 * @returns The recorder, with `resume` set.
 * @throws {Deno.errors.NotFound} When there is no such run.
 * @throws {Error} When the run is still running, has no completed epoch, has nothing left to
 *   train, or the data differs.
 */
export async function resumeRunRecord(
  spec: string,
  options: ResumeRecorderOptions,
): Promise<RunRecorder> {
  const dir = await findRunDir(spec, options);
  await tidyRunFolder(dir);
  const record = await readRunRecord(dir);
  const name = `Cannot resume run "${dir}"`;
  const epochs = options.epochs ?? record.config.epochs;
  await checkResumable(dir, record, epochs);
  const resume = await readResumeState(`${dir}/${LAST_CHECKPOINT_FOLDER}`, {
    bestCheckpointDir: `${dir}/${BEST_CHECKPOINT_FOLDER}`,
  });
  const source = options.source;
  if (
    source !== undefined &&
    (source.synthetic !== record.data.synthetic ||
      (source.md5 !== null && record.data.source.md5 != null &&
        source.md5 !== record.data.source.md5))
  ) {
    throw new Error(
      `${name}: it trained on ${record.data.source.description || record.data.label}, but the ` +
        `data loaded now is ${source.description}`,
    );
  }
  const config = makeConfig({ ...record.config, epochs });
  if (epochs !== record.config.epochs) await writeJsonAtomic(`${dir}/${RUN_CONFIG_FILE}`, config);
  const now = new Date();
  const state: RunRecord = {
    ...record,
    config,
    status: "running",
    stale: false,
    message: null,
    earlyStop: null,
    finishedAt: null,
    process: currentProcess(now),
    backend: structuredClone(options.backend),
    // Epochs past the last checkpoint were not saved: they are trained again.
    epochs: record.epochs.filter((e) => e.epoch <= resume.epoch),
    bestEpoch: resume.bestEpoch,
    bestValidLoss: Number.isFinite(resume.bestValidLoss) ? resume.bestValidLoss : null,
    lastCheckpoint: LAST_CHECKPOINT_FOLDER,
    // The test report belongs to the old best model.
    test: null,
    segments: [
      ...record.segments.map((s) => s.endedAt === null ? { ...s, status: record.status } : s),
      {
        startedAt: now.toISOString(),
        endedAt: null,
        fromEpoch: resume.epoch + 1,
        status: "running",
        backend: options.backend.name,
      },
    ],
  };
  const recorder = createRecorder(dir, state, resume, record.durationSeconds, options.heartbeatMs);
  await recorder.heartbeat();
  return recorder;
}
