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
import type * as tf from "@tensorflow/tfjs-core";
import { type OptimizerState, saveCheckpoint } from "../model/checkpoint.ts";
import type { TrainConfig } from "../core/config.ts";
import type { DataSplit, ImageSet } from "../data/mod.ts";
import { getWeights, type Model, setWeights, type WeightValues } from "../model/model.ts";
import {
  type BatchCallback,
  batchesPerEpoch,
  type SplitData,
  trainEpoch,
  validate,
} from "./loop.ts";
import { createOptimizer } from "./optimizers.ts";
import { getOptimizerState, setOptimizerState } from "./optimizer_state.ts";

/** One epoch's record. */
export interface EpochRecord {
  /** Epoch (1-based). */
  epoch: number;
  /** Average training loss per image. */
  trainLoss: number;
  /** Training accuracy (with dropout and augmentation on). */
  trainAccuracy: number;
  /** Average validation loss per image; null without a validation split. */
  validLoss: number | null;
  /** Validation accuracy; null without a validation split. */
  validAccuracy: number | null;
  /** Training images seen. */
  trainImages: number;
  /** Validation images seen. */
  validImages: number;
  /** Wall-clock seconds for the epoch (training + validation + saving). */
  seconds: number;
  /** Training throughput. */
  trainImagesPerSecond: number;
  /** True when this epoch's model was saved as the new best. */
  saved: boolean;
  /** Best validation loss so far (after this epoch). */
  bestValidLoss: number;
}

/** Passed to `onSave` when the model is saved as the new best. */
export interface SaveEvent {
  /** The epoch. */
  epoch: number;
  /** The previous best validation loss (Infinity the first time). */
  previousLoss: number;
  /** The new best. */
  validLoss: number;
  /** The checkpoint folder written, or null when only kept in memory. */
  dir: string | null;
}

/** Why `fit` returned. */
export type StopReason = "completed" | "aborted" | "non-finite-loss";

/** The outcome of `fit`. */
export interface FitResult {
  /** One record per completed epoch. */
  history: EpochRecord[];
  /** The epoch whose weights the model holds now (the best one), or null when none completed. */
  bestEpoch: number | null;
  /** Its validation loss (Infinity when none). */
  bestValidLoss: number;
  /** Why training ended. */
  stopReason: StopReason;
  /** A sentence explaining an early stop (what happened, what the model holds now, what to try); null when completed. */
  message: string | null;
  /** The checkpoint folder, when one was written. */
  checkpointDir: string | null;
}

/** The images `fit` trains and validates on: a set and its split. */
export interface FitData extends DataSplit {
  /** The training set the split's indices point into. */
  set: ImageSet;
}

/**
 * Where `fit` continues an earlier run: the state after its last completed epoch, as
 * `readResumeState` reads it from the run's last checkpoint.
 */
export interface FitResume {
  /** Epochs completed; training continues with epoch `epoch + 1`. */
  epoch: number;
  /** The model's weights after that epoch. */
  weights: Record<string, WeightValues>;
  /** The optimiser's state after that epoch; null starts the optimiser afresh. */
  optimizer: OptimizerState | null;
  /** The best epoch so far, or null when none was saved yet. */
  bestEpoch: number | null;
  /** Its validation loss (Infinity when none). */
  bestValidLoss: number;
  /** The best epoch's weights, loaded back at the end; null when none. */
  bestWeights: Record<string, WeightValues> | null;
  /**
   * True when the best checkpoint on disk is older than `bestEpoch` (the process stopped between
   * saving the last and the best checkpoint); `fit` then saves it again first. @default false
   */
  rewriteBest?: boolean;
}

/** Options of `fit`. */
export interface FitOptions {
  /** The run's config. */
  config: TrainConfig;
  /** Where to save the best model (tfjs format); null keeps it in memory only. @default null */
  checkpointDir?: string | null;
  /**
   * Where to save the model and the optimiser's state after every completed epoch, so the run can
   * be resumed (`readResumeState`); null saves nothing. @default null
   */
  lastCheckpointDir?: string | null;
  /** Continue a run after its last completed epoch instead of starting at epoch 1. @default none */
  resume?: FitResume;
  /** Metadata stored with each checkpoint (e.g. backend, data source). */
  checkpointMetadata?: Record<string, unknown>;
  /** Optimiser to use; by default `createOptimizer(config)` (disposed by `fit`). */
  optimizer?: tf.Optimizer;
  /** Per-batch progress (training and validation). */
  onBatch?: BatchCallback;
  /** After each epoch (after saving), with its record. */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /** After `onEpoch` when the model was saved as the new best. */
  onSave?: (event: SaveEvent) => void | Promise<void>;
  /** Stops training at the next batch boundary; the best weights are restored. */
  signal?: AbortSignal;
}

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
  const { config, resume } = options;
  const checkpointDir = options.checkpointDir ?? null;
  const lastCheckpointDir = options.lastCheckpointDir ?? null;
  const optimizer = options.optimizer ?? createOptimizer(config);
  const train: SplitData = { set: data.set, indices: data.trainIndices };
  const valid: SplitData = { set: data.set, indices: data.validIndices };
  const hasValidation = data.validIndices.length > 0;
  const history: EpochRecord[] = [];
  let best: Record<string, WeightValues> = getWeights(model);
  let bestEpoch: number | null = null;
  let bestValidLoss = Infinity;
  let stopReason: StopReason = "completed";
  let message: string | null = null;
  const save = async (epoch: number, validLoss: number | null) => {
    if (checkpointDir === null) return;
    await saveCheckpoint(model, checkpointDir, {
      config,
      metadata: { ...options.checkpointMetadata, epoch, validLoss },
    });
  };
  const saveLast = async (epoch: number, validLoss: number | null) => {
    if (lastCheckpointDir === null) return;
    await saveCheckpoint(model, lastCheckpointDir, {
      config,
      metadata: {
        ...options.checkpointMetadata,
        epoch,
        validLoss,
        bestEpoch,
        // JSON has no Infinity: null means "no best yet".
        bestValidLoss: Number.isFinite(bestValidLoss) ? bestValidLoss : null,
      },
      optimizer: await getOptimizerState(optimizer, model),
    });
  };
  const restored = () =>
    bestEpoch === null
      ? "the model holds its initial weights (no epoch completed)"
      : `the model holds the best weights (epoch ${bestEpoch}${
        hasValidation ? `, validation loss ${bestValidLoss.toFixed(6)}` : ""
      })`;
  try {
    if (resume !== undefined) {
      setWeights(model, resume.weights);
      if (resume.optimizer !== null) await setOptimizerState(optimizer, model, resume.optimizer);
      bestEpoch = resume.bestEpoch;
      bestValidLoss = resume.bestValidLoss;
      best = resume.bestWeights ?? getWeights(model);
      // The last checkpoint is the best one here (see FitResume.rewriteBest).
      if (resume.rewriteBest && bestEpoch === resume.epoch) {
        await save(bestEpoch, Number.isFinite(bestValidLoss) ? bestValidLoss : null);
      }
    }
    for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= config.epochs; epoch++) {
      const started = performance.now();
      const phaseOptions = { config, epoch, onBatch: options.onBatch, signal: options.signal };
      const trained = await trainEpoch(model, train, { ...phaseOptions, optimizer });
      const validated = hasValidation && !trained.aborted && trained.nonFinite === null
        ? await validate(model, valid, phaseOptions)
        : null;
      const broken = trained.nonFinite !== null
        ? { phase: "training", indices: train.indices, ...trained.nonFinite }
        : validated?.nonFinite
        ? { phase: "validation", indices: valid.indices, ...validated.nonFinite }
        : null;
      if (broken !== null) {
        stopReason = "non-finite-loss";
        setWeights(model, best);
        const kept = checkpointDir !== null && bestEpoch !== null
          ? ` The checkpoint in ${checkpointDir} is the last good one.`
          : "";
        message =
          `Training stopped: the ${broken.phase} loss became ${broken.loss} at epoch ${epoch}, ` +
          `batch ${broken.batch}/${
            batchesPerEpoch(broken.indices.length, config)
          }, so the weights ` +
          `diverged. Try a lower learning rate (now ${config.learningRate}, e.g. ` +
          `--learning-rate ${config.learningRate / 10}). Now ${restored()}.${kept}`;
        break;
      }
      if (trained.aborted || validated?.aborted) {
        stopReason = "aborted";
        setWeights(model, best);
        message = `Training stopped by request during epoch ${epoch} (${
          validated?.aborted ? "validation" : `after ${trained.batches} training batches`
        }); ${restored()}.`;
        break;
      }
      let saved = false;
      const previousLoss = bestValidLoss;
      if (validated !== null && validated.loss <= bestValidLoss) {
        bestValidLoss = validated.loss;
        bestEpoch = epoch;
        best = getWeights(model);
        saved = true;
      } else if (!hasValidation) {
        bestEpoch = epoch;
        best = getWeights(model);
      }
      // The last checkpoint first: if the process stops between the two saves, resuming sees
      // that the last epoch was the best and saves the best checkpoint again.
      await saveLast(epoch, validated?.loss ?? null);
      if (bestEpoch === epoch) await save(epoch, validated?.loss ?? null);
      const record: EpochRecord = {
        epoch,
        trainLoss: trained.loss,
        trainAccuracy: trained.accuracy,
        validLoss: validated?.loss ?? null,
        validAccuracy: validated?.accuracy ?? null,
        trainImages: trained.images,
        validImages: validated?.images ?? 0,
        seconds: (performance.now() - started) / 1000,
        trainImagesPerSecond: trained.imagesPerSecond,
        saved,
        bestValidLoss,
      };
      history.push(record);
      await options.onEpoch?.(record);
      if (saved) {
        await options.onSave?.({
          epoch,
          previousLoss,
          validLoss: bestValidLoss,
          dir: checkpointDir,
        });
      }
    }
    // The tutorial loads the best model back after training.
    if (stopReason === "completed" && bestEpoch !== null) setWeights(model, best);
  } finally {
    if (options.optimizer === undefined) optimizer.dispose();
  }
  return {
    history,
    bestEpoch,
    bestValidLoss,
    stopReason,
    message,
    checkpointDir: checkpointDir !== null && bestEpoch !== null ? checkpointDir : null,
  };
}
