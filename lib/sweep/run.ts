/**
 * Running a sweep: each trial is a normal run (lib/runs' recorder: its checkpoints, its record,
 * its test report) in the sweep folder, on data loaded once. The sweep record is rewritten
 * atomically before and after each trial, so a sweep killed at any instant continues where it
 * stopped: a trial that finished is kept, one that was training resumes after its last completed
 * epoch, and one that had not finished an epoch starts again. A trial that throws is recorded as
 * failed and the others still run.
 * @module
 */
import { join } from "node:path";
import type { TrainConfig } from "../core/config.ts";
import type { BackendInfo } from "../engine/backend.ts";
import { type Cifar10Data, splitTrainValid, subsetImages } from "../data/mod.ts";
import { evaluateTest } from "../evaluate/evaluate.ts";
import { buildModel, countParameters, type Model } from "../model/model.ts";
import { readRunRecord, type RunRecorder, startRunRecord } from "../runs/mod.ts";
import { resumeRunRecord } from "../runs/recorder.ts";
import { batchesPerEpoch, type EpochRecord, type FitResult } from "../train/mod.ts";
import {
  type SweepRecord,
  type SweepTrial,
  trialConfig,
  type TrialStatus,
  writeSweepRecord,
} from "./plan.ts";

/** Where a sweep stands, for a progress bar over all its trials. */
export interface SweepProgress {
  /** The trial training now. */
  trial: SweepTrial;
  /** Trials in the sweep. */
  trials: number;
  /** The epoch of that trial in progress, and its schedule. */
  epoch: number;
  /** Epochs the trial is to train. */
  epochs: number;
  /** Batches done over the whole sweep (earlier processes' included). */
  done: number;
  /** Batches the whole sweep runs (shrinks when a trial stops early). */
  total: number;
  /** Seconds since this process started the sweep. */
  seconds: number;
  /** Batches per second in this process: for the time left. */
  rate: number;
  /** The running training or validation loss of the batch's phase. */
  runningLoss: number;
  /** The phase. */
  phase: "train" | "valid";
}

/** Options of `runSweep`. */
export interface RunSweepOptions {
  /** The sweep folder (`runs/<sweep id>`). */
  sweepDir: string;
  /** The sweep's record (new, or read back to continue); updated and rewritten as trials run. */
  record: SweepRecord;
  /** The data every trial trains on (loaded once). */
  data: Cifar10Data;
  /** The backend in use (`initBackend`'s answer). */
  backend: BackendInfo;
  /** Stops the sweep at the next batch boundary; the trial is left resumable. */
  signal?: AbortSignal;
  /**
   * Stop at the next batch boundary on SIGINT (Ctrl-C; a Jupyter kernel interrupt), instead of
   * leaving it to the process. @default false
   */
  stopOnInterrupt?: boolean;
  /** Progress after every batch. */
  onProgress?: (progress: SweepProgress) => void;
  /** Before a trial trains: with its run folder, and whether it continues an earlier one. */
  onTrialStart?: (trial: SweepTrial, runDir: string, resumed: boolean) => void;
  /** After each epoch of a trial. */
  onEpoch?: (trial: SweepTrial, record: EpochRecord) => void;
  /** After a trial ended (completed, diverged, failed, interrupted), with a line saying how. */
  onTrialEnd?: (trial: SweepTrial, summary: string) => void;
}

/** How `runSweep` ended. */
export interface SweepOutcome {
  /** True when the signal stopped it; `--resume` continues. */
  interrupted: boolean;
  /** Trials per status. */
  counts: Record<TrialStatus, number>;
}

const FINAL: readonly TrialStatus[] = ["completed", "failed", "diverged"];

/** Batches one epoch of a trial runs: training and validation. */
function batchesPerTrialEpoch(config: TrainConfig, data: Cifar10Data): number {
  const train = subsetImages(data.train, config.trainLimit);
  const split = splitTrainValid(train.count, config.validFraction, config.seed);
  return batchesPerEpoch(split.trainIndices.length, config) +
    batchesPerEpoch(split.validIndices.length, config);
}

/** The outcome of a run as a trial status. */
function trialStatusOf(result: FitResult): TrialStatus {
  return result.stopReason === "completed"
    ? "completed"
    : result.stopReason === "aborted"
    ? "interrupted"
    : "diverged";
}

/**
 * Opens the run a trial trains in: a new one, the earlier one to continue, or a fresh one when
 * the earlier process left a run without a completed epoch (nothing in it to keep).
 */
async function openTrialRun(
  trial: SweepTrial,
  config: TrainConfig,
  options: RunSweepOptions,
  sizes: { trainImages: number; validImages: number; testImages: number; parameters: number },
): Promise<{ run: RunRecorder; resumed: boolean } | { finished: true }> {
  const { sweepDir, backend, data } = options;
  if (trial.runId !== null) {
    const dir = join(sweepDir, trial.runId);
    let record = null;
    try {
      record = await readRunRecord(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (record !== null && record.status === "completed") return { finished: true };
    if (record !== null && record.epochs.length > 0 && record.lastCheckpoint !== null) {
      const run = await resumeRunRecord(dir, {
        backend,
        source: data.source,
        outDir: sweepDir,
        epochs: config.epochs,
      });
      return { run, resumed: true };
    }
    // No completed epoch: the folder holds nothing a new start would not make again.
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const run = await startRunRecord(config, {
    backend,
    source: data.source,
    classNames: data.classNames,
    ...sizes,
    outDir: sweepDir,
  });
  return { run, resumed: false };
}

/**
 * Runs a sweep's trials in order, skipping those that ended in an earlier process. Each trial
 * trains as a run under `sweepDir` (`startRunRecord` / `resumeRunRecord`), is tested with its
 * best weights, and its status and run id go into `sweep.json` before and after.
 *
 * @param options The sweep, its data and backend, callbacks and the stop signal.
 * @returns Whether it was interrupted, and the trials per status.
 */
export async function runSweep(options: RunSweepOptions): Promise<SweepOutcome> {
  if (!options.stopOnInterrupt) return await runTrials(options, options.signal);
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener("abort", abort);
  if (options.signal?.aborted) abort();
  Deno.addSignalListener("SIGINT", abort);
  try {
    return await runTrials(options, controller.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", abort);
    options.signal?.removeEventListener("abort", abort);
  }
}

async function runTrials(
  options: RunSweepOptions,
  signal: AbortSignal | undefined,
): Promise<SweepOutcome> {
  const { record, sweepDir, data } = options;
  const started = performance.now();
  const save = () => writeSweepRecord(sweepDir, record);
  await save();

  // The progress bar's total: every trial's planned batches; done: the trials already over, and
  // the completed epochs of any trial that continues.
  const perEpoch = new Map<number, number>();
  const planned = new Map<number, number>();
  let doneBefore = 0;
  for (const trial of record.trials) {
    const config = trialConfig(record, trial, sweepDir);
    perEpoch.set(trial.index, batchesPerTrialEpoch(config, data));
    planned.set(trial.index, perEpoch.get(trial.index)! * config.epochs);
    if (trial.runId !== null) {
      const ran = await readRunRecord(join(sweepDir, trial.runId)).then((r) => r.epochs.length)
        .catch(() => 0);
      const doneBatches = ran * perEpoch.get(trial.index)!;
      if (FINAL.includes(trial.status)) planned.set(trial.index, doneBatches);
      doneBefore += doneBatches;
    }
  }
  let doneHere = 0;
  const total = () => [...planned.values()].reduce((sum, n) => sum + n, 0);

  let interrupted = false;
  for (const trial of record.trials) {
    if (FINAL.includes(trial.status)) continue;
    if (signal?.aborted) {
      interrupted = true;
      break;
    }
    const config = trialConfig(record, trial, sweepDir);
    const train = subsetImages(data.train, config.trainLimit);
    const test = subsetImages(data.test, config.testLimit);
    const split = splitTrainValid(train.count, config.validFraction, config.seed);
    let model: Model | null = null;
    const epochBatches = perEpoch.get(trial.index)!;
    let epochsDone = 0;
    const finishTrial = async (status: TrialStatus, summary: string, error: string | null) => {
      trial.status = status;
      trial.error = error;
      await save();
      options.onTrialEnd?.(trial, summary);
    };
    try {
      model = buildModel(config);
      const opened = await openTrialRun(trial, config, options, {
        trainImages: split.trainIndices.length,
        validImages: split.validIndices.length,
        testImages: test.count,
        parameters: countParameters(model),
      });
      if ("finished" in opened) {
        // The earlier process finished this trial's run but not the sweep record.
        await finishTrial("completed", "finished in an earlier process", null);
        continue;
      }
      const { run, resumed } = opened;
      trial.runId = run.id;
      trial.status = "running";
      trial.error = null;
      await save();
      options.onTrialStart?.(trial, run.dir, resumed);
      epochsDone = run.resume?.epoch ?? 0;
      let phaseOffset = 0;
      const result = await run.fit(model, { set: train, ...split }, {
        signal,
        onBatch: (p) => {
          phaseOffset = p.phase === "train"
            ? p.batch
            : batchesPerEpoch(split.trainIndices.length, config) + p.batch;
          options.onProgress?.({
            trial,
            trials: record.trials.length,
            epoch: p.epoch,
            epochs: config.epochs,
            done: doneBefore + doneHere + phaseOffset,
            total: total(),
            seconds: (performance.now() - started) / 1000,
            rate: (doneHere + phaseOffset) / Math.max(1e-9, (performance.now() - started) / 1000),
            runningLoss: p.runningLoss,
            phase: p.phase,
          });
        },
        onEpoch: (epochRecord) => {
          epochsDone = epochRecord.epoch;
          doneHere += epochBatches;
          phaseOffset = 0;
          options.onEpoch?.(trial, epochRecord);
        },
      });
      // What this trial really ran: an early stop or divergence frees the rest of its plan.
      const status = trialStatusOf(result);
      if (status !== "interrupted") {
        planned.set(trial.index, epochsDone * epochBatches);
      }
      if (status === "interrupted") {
        trial.status = "interrupted";
        await save();
        options.onTrialEnd?.(trial, result.message ?? "interrupted");
        interrupted = true;
        break;
      }
      let summary = result.message ?? `completed ${epochsDone} epochs`;
      if (result.bestEpoch !== null && test.count > 0) {
        const tested = await evaluateTest(model, test, { config });
        await run.test(tested, data.classNames);
        summary += `; test accuracy ${
          (100 * tested.accuracy).toFixed(1)
        }% (epoch ${result.bestEpoch})`;
      }
      await finishTrial(status, summary, null);
    } catch (error) {
      // The run recorded itself as failed (recorder.fit); the sweep goes on with the next trial.
      const message = error instanceof Error ? error.message : String(error);
      planned.set(trial.index, epochsDone * epochBatches);
      await finishTrial("failed", `failed: ${message}`, message);
    } finally {
      model?.dispose();
    }
  }
  const counts = Object.fromEntries(
    (["pending", "running", "completed", "interrupted", "failed", "diverged"] as TrialStatus[])
      .map((s) => [s, record.trials.filter((t) => t.status === s).length]),
  ) as Record<TrialStatus, number>;
  return { interrupted, counts };
}
