/**
 * Class weights for the tutorial's idea "pass more images of the classes it gets wrong": derived
 * from a run's per-class validation accuracy (never the test set's, which would tune on the test),
 * for `config.classWeights` (class-weighted sampling, lib/data/split.ts).
 * @module
 */
import { NUM_CLASSES } from "../core/config.ts";
import type { RunRecord } from "./record.ts";

/** The range a derived weight is clamped to, so no class is drawn 4× more or less than average. */
export const CLASS_WEIGHT_RANGE = { min: 0.25, max: 4 } as const;

/**
 * Weights proportional to each class's error rate, relative to the mean error: a class the model
 * gets wrong twice as often as average is drawn twice as often. Each weight is clamped to
 * `CLASS_WEIGHT_RANGE` and rounded to 3 decimals (so a config shows readable numbers); a class
 * without a measurement gets 1.
 *
 * @param accuracy Per class, in label order: accuracy in [0, 1], or null when not measured.
 * @returns One weight per class.
 * @throws {RangeError} When not one entry per class, or an accuracy outside [0, 1].
 * @example
 * ```ts
 * import { classWeightsFromAccuracy } from "./class_weights.ts";
 * const w = classWeightsFromAccuracy([0.9, 0.9, 0.6, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
 * if (w[2]! <= w[0]! || w[2] !== w[3]) throw new Error(w.join());
 * ```
 */
export function classWeightsFromAccuracy(accuracy: readonly (number | null)[]): number[] {
  if (accuracy.length !== NUM_CLASSES) {
    throw new RangeError(
      `Cannot derive class weights: expected ${NUM_CLASSES} per-class accuracies, found ${accuracy.length}`,
    );
  }
  for (const [c, a] of accuracy.entries()) {
    if (a !== null && !(a >= 0 && a <= 1)) {
      throw new RangeError(
        `Cannot derive class weights: expected accuracies in [0, 1], found ${a} for class ${c}`,
      );
    }
  }
  const errors = accuracy.filter((a): a is number => a !== null).map((a) => 1 - a);
  const meanError = errors.reduce((sum, e) => sum + e, 0) / Math.max(1, errors.length);
  return accuracy.map((a) => {
    if (a === null || meanError === 0) return 1;
    const weight = (1 - a) / meanError;
    const clamped = Math.min(CLASS_WEIGHT_RANGE.max, Math.max(CLASS_WEIGHT_RANGE.min, weight));
    return Math.round(clamped * 1000) / 1000;
  });
}

/**
 * Class weights from a run: its best epoch's per-class validation accuracy
 * (`EpochRecord.validPerClassAccuracy`) through `classWeightsFromAccuracy`.
 *
 * @param record The run's record (`readRunRecord`).
 * @returns One weight per class.
 * @throws {RangeError} Naming the run, when it has no best epoch or that epoch has no per-class
 *   validation accuracy (a run without validation, or one recorded before 2026-12-07).
 */
export function classWeightsFromRun(record: RunRecord): number[] {
  const best = record.epochs.find((e) => e.epoch === record.bestEpoch);
  if (best?.validPerClassAccuracy === undefined) {
    throw new RangeError(
      `Cannot derive class weights from run ${record.id}: expected its best epoch to record ` +
        `per-class validation accuracy, found ${
          best === undefined ? "no best epoch" : `none for epoch ${best.epoch}`
        } (train a run with validation first, or give --class-weights as 10 numbers)`,
    );
  }
  return classWeightsFromAccuracy(best.validPerClassAccuracy);
}
