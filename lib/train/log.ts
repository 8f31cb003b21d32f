/**
 * The tutorial's log lines (Python's formatting), for callers of `fit` to print.
 * @module
 */
import type { EpochRecord } from "./session.ts";

function pythonFloat(value: number): string {
  // Python's '{:.6f}' prints inf / nan for non-finite values.
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  return value.toFixed(6);
}

/**
 * The tutorial's per-epoch line.
 *
 * @param record The epoch's record (`epoch`, `trainLoss`, `validLoss`).
 * @returns E.g. `"Epoch: 3 \tTraining Loss: 1.234567 \tValidation Loss: 1.123456"`.
 * @example
 * ```ts
 * import { formatEpochLine } from "./log.ts";
 * const line = formatEpochLine({ epoch: 3, trainLoss: 1.2345671, validLoss: 1.1234559 });
 * if (line !== "Epoch: 3 \tTraining Loss: 1.234567 \tValidation Loss: 1.123456") throw new Error(line);
 * ```
 */
export function formatEpochLine(
  record: Pick<EpochRecord, "epoch" | "trainLoss" | "validLoss">,
): string {
  const valid = record.validLoss === null ? "n/a" : pythonFloat(record.validLoss);
  return `Epoch: ${record.epoch} \tTraining Loss: ${
    pythonFloat(record.trainLoss)
  } \tValidation Loss: ${valid}`;
}

/**
 * The tutorial's message when the model is saved.
 *
 * @param previousLoss The previous best validation loss (Infinity the first time, printed `inf`).
 * @param validLoss The new best.
 * @returns E.g. `"Validation loss decreased (0.612345 --> 0.598765).  Saving model ..."`.
 * @example
 * ```ts
 * import { formatSavingLine } from "./log.ts";
 * const line = formatSavingLine(Infinity, 0.5987654);
 * if (line !== "Validation loss decreased (inf --> 0.598765).  Saving model ...") throw new Error(line);
 * ```
 */
export function formatSavingLine(previousLoss: number, validLoss: number): string {
  return `Validation loss decreased (${pythonFloat(previousLoss)} --> ${
    pythonFloat(validLoss)
  }).  Saving model ...`;
}
