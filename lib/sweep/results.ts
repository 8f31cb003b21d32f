/**
 * A sweep's results: each trial's run record read back, and the table a sweep ends with, sorted
 * by best validation loss (the measure the tutorial keeps its best model by; the test set only
 * reports).
 * @module
 */
import { join } from "node:path";
import { formatDuration } from "../core/time.ts";
import { readRunRecord, type RunRecord } from "../runs/mod.ts";
import type { SweepRecord, SweepTrial } from "./plan.ts";

/** One trial with its run record, when it has one. */
export interface TrialResult {
  /** The trial. */
  trial: SweepTrial;
  /** Its run's record; null before it started, or when the folder is gone or unreadable. */
  run: RunRecord | null;
  /** Its run folder, once started. */
  runDir: string | null;
  /** The best validation loss; null when none. */
  bestValidLoss: number | null;
  /** Validation accuracy at the best epoch; null when none. */
  bestValidAccuracy: number | null;
  /** Test accuracy of the best model; null when not tested. */
  testAccuracy: number | null;
  /** Seconds trained, over all segments. */
  seconds: number | null;
}

/**
 * Reads every trial's run record.
 *
 * @param sweepDir The sweep folder.
 * @param record Its record.
 * @returns One result per trial, in the sweep's order.
 */
export async function readTrialResults(
  sweepDir: string,
  record: SweepRecord,
): Promise<TrialResult[]> {
  const results: TrialResult[] = [];
  for (const trial of record.trials) {
    const runDir = trial.runId === null ? null : join(sweepDir, trial.runId);
    const run = runDir === null ? null : await readRunRecord(runDir).catch(() => null);
    const best = run?.epochs.find((e) => e.epoch === run.bestEpoch) ?? null;
    results.push({
      trial,
      run,
      runDir,
      bestValidLoss: run?.bestValidLoss ?? null,
      bestValidAccuracy: best?.validAccuracy ?? null,
      testAccuracy: run?.test?.accuracy ?? null,
      seconds: run?.durationSeconds ?? null,
    });
  }
  return results;
}

/** One row of the sweep table. */
export type SweepTableRow = Record<string, string | number | null>;

const round = (value: number | null, digits: number) =>
  value === null || !Number.isFinite(value) ? null : Number(value.toFixed(digits));

/**
 * Sorts trial results by best validation loss, lowest first; trials without one last, in sweep
 * order.
 *
 * @param results From `readTrialResults`.
 * @returns A sorted copy.
 * @example
 * ```ts
 * import { sortTrialResults } from "./results.ts";
 * const r = (index: number, bestValidLoss: number | null) => ({ trial: { index }, bestValidLoss }) as never;
 * const order = sortTrialResults([r(1, null), r(2, 0.9), r(3, 0.8)]).map((t) => t.trial.index);
 * if (order.join() !== "3,2,1") throw new Error(order.join());
 * ```
 */
export function sortTrialResults(results: readonly TrialResult[]): TrialResult[] {
  return [...results].sort((a, b) => {
    if (a.bestValidLoss === null || b.bestValidLoss === null) {
      return a.bestValidLoss === null && b.bestValidLoss === null
        ? a.trial.index - b.trial.index
        : a.bestValidLoss === null
        ? 1
        : -1;
    }
    return a.bestValidLoss - b.bestValidLoss || a.trial.index - b.trial.index;
  });
}

/**
 * The sweep table: rank, trial, status, epochs run (`early` when patience stopped it), best
 * epoch, best validation loss and accuracy, test accuracy, training time, the change in best
 * validation loss against the baseline (the trial labelled `baseline`, when there is one) and
 * the run id; sorted by best validation loss.
 *
 * @param results From `readTrialResults`.
 * @returns One row per trial.
 * @example
 * ```ts
 * import { sweepTableRows } from "./results.ts";
 * const rows = sweepTableRows([{
 *   trial: { index: 1, label: "baseline", status: "pending", runId: null, error: null },
 *   run: null, runDir: null, bestValidLoss: null, bestValidAccuracy: null, testAccuracy: null, seconds: null,
 * }] as never);
 * if (rows[0]!.trial !== "baseline" || rows[0]!.status !== "pending") throw new Error(JSON.stringify(rows));
 * ```
 */
export function sweepTableRows(results: readonly TrialResult[]): SweepTableRow[] {
  const baseline = results.find((r) => r.trial.label === "baseline")?.bestValidLoss ?? null;
  return sortTrialResults(results).map((r, i) => {
    const run = r.run;
    const epochs = run === null
      ? null
      : `${run.epochs.length}/${run.config.epochs}${run.earlyStop !== null ? " early" : ""}`;
    return {
      rank: r.bestValidLoss === null ? null : i + 1,
      trial: r.trial.label,
      status: r.trial.status === "failed" && r.trial.error !== null
        ? `failed: ${r.trial.error.slice(0, 60)}`
        : r.trial.status,
      epochs,
      "best epoch": run?.bestEpoch ?? null,
      "best valid loss": round(r.bestValidLoss, 4),
      "Δ vs baseline": baseline === null || r.bestValidLoss === null
        ? null
        : round(r.bestValidLoss - baseline, 4),
      "valid accuracy (%)": round(
        r.bestValidAccuracy === null ? null : 100 * r.bestValidAccuracy,
        1,
      ),
      "test accuracy (%)": round(r.testAccuracy === null ? null : 100 * r.testAccuracy, 1),
      time: r.seconds === null ? null : formatDuration(r.seconds),
      run: r.trial.runId,
    };
  });
}
