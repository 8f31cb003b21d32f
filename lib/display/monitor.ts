/**
 * The training monitor: what a notebook shows while `fit` trains, put together from the progress
 * bar, the live loss chart and the tutorial's per-epoch lines, as `fit`'s callbacks.
 * @module
 */
import { nextTurn, YIELD_INTERVAL_MS } from "../core/time.ts";
import { liveLossChart } from "../plots/curves.ts";
import type { TrainConfig } from "../core/config.ts";
import { runNote, type RunRecord } from "../runs/mod.ts";
import {
  type BatchCallback,
  batchesPerEpoch,
  type EpochRecord,
  type FitResult,
  formatEpochLine,
  formatSavingLine,
  lossTracePoint,
  type SaveEvent,
} from "../train/mod.ts";
import { liveDisplay } from "./live.ts";
import { progressBar, type ProgressDisplayOptions } from "./progress.ts";
import { settle } from "./show.ts";

/** Options of `trainingMonitor`. */
export interface TrainingMonitorOptions extends ProgressDisplayOptions {
  /** Epochs planned in all (fixes the chart's x axis). */
  epochs: number;
  /** Batches per epoch, training and validation together (sizes the progress bar). */
  batchesPerEpoch: number;
  /**
   * Epochs already completed (a resumed run: the run record's epochs): drawn on the chart, and
   * training is counted from the epoch after the last of them. @default none
   */
  done?: readonly EpochRecord[];
  /** Title of the live chart. @default "Loss during training" */
  title?: string;
  /** Prints one of the tutorial's lines. @default console.log */
  print?: (line: string) => void;
  /**
   * Hand control to the event loop after a batch when this many milliseconds passed since the
   * last time (0: after every batch). @default YIELD_INTERVAL_MS
   */
  yieldIntervalMs?: number;
}

/** An epoch's loss trace as points of the live chart's line: x in fractional epochs. */
function tracePoints(epoch: number, trace: readonly number[]): { x: number; loss: number }[] {
  return trace.map((loss, point) => ({ x: epoch - 1 + (point + 1) / trace.length, loss }));
}

/** What `trainingMonitor` returns: `fit`'s callbacks and the closing step. */
export interface TrainingMonitor {
  /**
   * Advances the progress bar, redraws the chart's line with the epoch's training loss so far
   * (the mean over each tenth of the epoch: `lossTracePoint`, as the run record keeps it), and lets
   * the event loop run now and then (see `YIELD_INTERVAL_MS`).
   */
  onBatch: BatchCallback;
  /** Prints the tutorial's epoch line and adds the epoch's losses to the chart. */
  onEpoch(record: EpochRecord): Promise<void>;
  /** Prints the tutorial's "Validation loss decreased … Saving model ..." line. */
  onSave(event: SaveEvent): void;
  /**
   * Draws the final state: a full bar with the best epoch after a completed run; after an early
   * stop the bar stays where it stopped and `result.message` is printed. `options.note` is printed
   * last (e.g. where the run record is). It ends with `settle()`, so a frontend gets every line
   * before the cell is done: end a training cell with it.
   */
  finish(
    result: Pick<FitResult, "stopReason" | "message" | "bestEpoch" | "bestValidLoss">,
    options?: { note?: string },
  ): Promise<void>;
}

/**
 * Everything a notebook shows while `fit` trains: a progress bar over the batches still to run
 * (training and validation), a live chart of the training loss over each tenth of an epoch and each epoch's losses
 * (`liveLossChart`, redrawn in place), and the tutorial's per-epoch and "Saving model" lines. Pass
 * its `onBatch`, `onEpoch` and `onSave` to `fit` (or `RunRecorder.fit`), then call `finish` with
 * the result. Outside a notebook the bar goes to the terminal and the chart is skipped.
 *
 * @param options Planned epochs, batches per epoch, epochs already done, chart title, outputs.
 * @returns The callbacks and `finish`.
 * @example
 * ```ts
 * import { trainingMonitor } from "./monitor.ts";
 * const lines: string[] = [];
 * const monitor = await trainingMonitor({
 *   epochs: 1, batchesPerEpoch: 1, jupyter: null, write: () => {}, print: (l) => lines.push(l),
 * });
 * const record = { epoch: 1, trainLoss: 2.5, validLoss: 2.25, trainAccuracy: 0.1, validAccuracy: 0.1,
 *   trainImages: 30, validImages: 30, seconds: 1, trainImagesPerSecond: 30, saved: true, bestValidLoss: 2.25 };
 * await monitor.onEpoch(record);
 * monitor.onSave({ epoch: 1, previousLoss: Infinity, validLoss: 2.25, dir: null });
 * await monitor.finish({ stopReason: "completed", message: null, bestEpoch: 1, bestValidLoss: 2.25 });
 * if (lines.join("\n") !== "Epoch: 1 \tTraining Loss: 2.500000 \tValidation Loss: 2.250000\n" +
 *   "Validation loss decreased (inf --> 2.250000).  Saving model ...") throw new Error(lines.join("\n"));
 * ```
 */
export async function trainingMonitor(options: TrainingMonitorOptions): Promise<TrainingMonitor> {
  const { epochs, batchesPerEpoch } = options;
  if (!Number.isInteger(epochs) || epochs < 1) {
    throw new RangeError(
      `Cannot monitor training: expected epochs to be an integer ≥ 1, found ${epochs}`,
    );
  }
  if (!Number.isInteger(batchesPerEpoch) || batchesPerEpoch < 0) {
    throw new RangeError(
      `Cannot monitor training: expected batchesPerEpoch to be an integer ≥ 0, found ${batchesPerEpoch}`,
    );
  }
  const print = options.print ?? ((line: string) => console.log(line));
  const finished: EpochRecord[] = [...(options.done ?? [])];
  const firstEpoch = (finished.at(-1)?.epoch ?? 0) + 1;
  // The line: each finished epoch's tenths (from its record, so a resumed run draws its earlier
  // epochs as it drew them live), then the epoch in progress.
  const traced: { x: number; loss: number }[] = finished.flatMap((e) =>
    tracePoints(e.epoch, e.trainLossTrace ?? [])
  );
  let current:
    | { epoch: number; points: number; sums: number[]; images: number[]; x: number }
    | null = null;
  const currentPoints = () => {
    if (current === null) return [];
    const { epoch, points, sums, images, x } = current;
    // The tenth in progress ends at the batch just done.
    return sums.map((sum, point) => ({
      x: point === sums.length - 1 ? x : epoch - 1 + (point + 1) / points,
      loss: sum / images[point]!,
    }));
  };
  const title = options.title ?? "Loss during training";
  const chart = () =>
    liveLossChart({
      batches: [...traced, ...currentPoints()],
      epochs: finished,
      totalEpochs: epochs,
    }, { title });
  const bar = await progressBar(Math.max(0, epochs - firstEpoch + 1) * batchesPerEpoch, {
    ...options,
    label: options.label ?? "training",
  });
  const live = await liveDisplay(chart(), options);
  const now = options.now ?? (() => performance.now());
  const yieldInterval = options.yieldIntervalMs ?? YIELD_INTERVAL_MS;
  let lastTurn = now();
  let batchesDone = 0;
  return {
    async onBatch(p) {
      if (now() - lastTurn >= yieldInterval) {
        await nextTurn();
        lastTurn = now();
      }
      batchesDone++;
      await bar.update(
        batchesDone,
        `epoch ${p.epoch}/${epochs} ${p.phase === "train" ? "training" : "validation"} ` +
          `${p.batch}/${p.batches}, loss ${p.runningLoss.toFixed(3)}, ` +
          `${p.imagesPerSecond.toFixed(0)} images/s`,
      );
      if (p.phase === "train") {
        // The mean over each tenth of the epoch, as the loop records it (lossTracePoint): the
        // same ten points per epoch whether drawn live or, after a resume, from the record.
        const { point, points } = lossTracePoint(p.batch - 1, p.batches);
        if (current === null || current.epoch !== p.epoch) {
          current = { epoch: p.epoch, points, sums: [], images: [], x: 0 };
        }
        current.sums[point] = (current.sums[point] ?? 0) + p.batchLoss * p.batchImages;
        current.images[point] = (current.images[point] ?? 0) + p.batchImages;
        current.x = p.epoch - 1 + p.batch / p.batches;
        await live.update(chart);
      }
    },
    async onEpoch(record) {
      finished.push(record);
      traced.push(
        ...(record.trainLossTrace
          ? tracePoints(record.epoch, record.trainLossTrace)
          : current?.epoch === record.epoch
          ? currentPoints()
          : []),
      );
      current = null;
      print(formatEpochLine(record));
      await live.update(chart);
    },
    onSave(event) {
      print(formatSavingLine(event.previousLoss, event.validLoss));
    },
    async finish(result, { note } = {}) {
      await live.update(chart);
      await live.flush();
      if (result.stopReason === "completed") {
        await bar.finish(
          result.bestEpoch === null
            ? "no epoch trained"
            : `best epoch ${result.bestEpoch}` + (Number.isFinite(result.bestValidLoss)
              ? `, validation loss ${result.bestValidLoss.toFixed(6)}`
              : ""),
        );
      } else {
        await bar.finish(
          result.stopReason === "aborted" ? "interrupted" : "stopped: the loss diverged",
          { complete: false },
        );
      }
      if (result.message !== null) print(result.message);
      if (note !== undefined) print(note);
      // Printed lines are sent as the kernel gets to them; the Deno kernel can report the cell
      // done first, and JupyterLab then drops them (seen: the resume hint after an interrupt).
      await settle();
    },
  };
}

/** Options of `monitorRun`. */
export interface MonitorRunOptions
  extends Omit<TrainingMonitorOptions, "epochs" | "batchesPerEpoch" | "done"> {
  /** The folder the run's path is shown relative to in the closing note. @default "." */
  projectDir?: string;
}

/**
 * The training monitor of a recorded run: its planned epochs, the batches of its training and
 * validation images, and (for a resumed run) the epochs it has done already, all read from the
 * run's record. The bar and the chart appear with the first batch, so in a notebook they sit in
 * the output of the cell that trains, whichever cell made the monitor; `finish` ends with where
 * the run is saved (and, after an interrupt, how to continue it: `runNote`).
 *
 * @param run The run (`openRunRecord`, `startRunRecord`), recorded with its image counts.
 * @param options Chart title, outputs, and the project folder for the closing note.
 * @returns The monitor.
 * @throws {RangeError} When the record lacks the training or validation image counts.
 */
export function monitorRun(
  run: {
    readonly config: TrainConfig;
    readonly dir: string;
    readonly id: string;
    record(): RunRecord;
  },
  options: MonitorRunOptions = {},
): TrainingMonitor {
  const record = run.record();
  const { trainImages, validImages } = record.data;
  if (trainImages === null || validImages === null) {
    throw new RangeError(
      `Cannot monitor run ${record.id}: expected its record to hold the training and validation ` +
        `image counts, found ${trainImages} and ${validImages} (give them to openRunRecord)`,
    );
  }
  const { projectDir = ".", ...monitorOptions } = options;
  let ready: TrainingMonitor | null = null;
  let starting: Promise<TrainingMonitor> | null = null;
  const monitor = () =>
    starting ??= trainingMonitor({
      ...monitorOptions,
      epochs: run.config.epochs,
      batchesPerEpoch: batchesPerEpoch(trainImages, run.config) +
        batchesPerEpoch(validImages, run.config),
      done: record.epochs,
    }).then((m) => ready = m);
  return {
    onBatch: async (progress) => await (await monitor()).onBatch(progress),
    onEpoch: async (epoch) => await (await monitor()).onEpoch(epoch),
    // Always after an onEpoch, so the monitor is there; queued in case it is not yet.
    onSave: (event) => ready ? ready.onSave(event) : void monitor().then((m) => m.onSave(event)),
    finish: async (result, finishOptions = {}) =>
      await (await monitor()).finish(result, {
        note: finishOptions.note ?? runNote(run, result.stopReason, projectDir),
      }),
  };
}
