/**
 * The training schedule, as in the tutorial: for each epoch, train and validate (loop.ts); keep
 * the model whenever the validation loss reaches a new low, and load the best weights back at the
 * end. Everything returns records; nothing here prints. `formatEpochLine` and `formatSavingLine`
 * (log.ts) give the tutorial's lines for the caller to print.
 *
 * Runs can be resumed: with `lastCheckpointDir`, `fit` saves the model and the optimiser's state
 * after every completed epoch; `readResumeState` (resume.ts) reads that back and `fit` with
 * `resume` continues with the next epoch. Shuffles, augmentation and dropout are seeded per
 * (seed, epoch, batch), so a resumed run computes the same losses as one that was never
 * interrupted.
 * @module
 */
import type { Model } from "../model/model.ts";
import {
  type FitData,
  type FitOptions,
  type FitResult,
  startTraining,
  trainAllEpochs,
} from "./session.ts";

/**
 * Runs the tutorial's schedule: `config.epochs` epochs of `trainEpoch` + `validate`, saving the
 * model whenever the validation loss is at or below the best so far (the template's `<=`), and
 * loading the best weights back at the end. Without a validation split, the last epoch's weights
 * are kept (and saved). A non-finite loss or an aborted signal stops early: the model then holds
 * the best weights so far (or its initial weights when no epoch completed), and the checkpoint on
 * disk stays the last good one. With `lastCheckpointDir` the model and the optimiser's state are
 * saved after every completed epoch too (before the best checkpoint), and with `resume`
 * (`readResumeState`) training continues after that epoch exactly as it would have gone on.
 *
 * @param model The model to train.
 * @param data The training set and its train/validation split.
 * @param options Config, checkpoint folder, callbacks, abort signal.
 * @returns The history and how training ended; nothing is printed.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { splitTrainValid } from "../data/split.ts";
 * import { buildModel } from "../model/model.ts";
 * import { generateSyntheticImages } from "../data/synthetic.ts";
 * import { fit } from "./fit.ts";
 * import { formatEpochLine, formatSavingLine } from "./log.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 8, epochs: 2, batchSize: 10 });
 * const set = generateSyntheticImages(40, { seed: 1 });
 * const model = buildModel(config);
 * const lines: string[] = [];
 * const result = await fit(model, { set, ...splitTrainValid(set.count, 0.25, config.seed) }, {
 *   config,
 *   onEpoch: (record) => void lines.push(formatEpochLine(record)),
 *   onSave: (e) => void lines.push(formatSavingLine(e.previousLoss, e.validLoss)),
 * });
 * if (result.stopReason !== "completed" || result.history.length !== 2) throw new Error("did not train");
 * if (!lines[1]!.startsWith("Validation loss decreased (inf --> ")) throw new Error(lines.join("\n"));
 * model.dispose();
 * ```
 */
export async function fit(model: Model, data: FitData, options: FitOptions): Promise<FitResult> {
  return await trainAllEpochs(await startTraining(model, data, options));
}
