/**
 * The tutorial's epoch loop, one step at a time, so a notebook cell can show its shape:
 *
 * ```ts ignore
 * const training = await startTraining(model, data, options);
 * for (const epoch of training.epochs()) {
 *   const trained = await training.trainEpoch(epoch); // forward, loss, backward, step per batch
 *   const validated = await training.validate(epoch, trained); // dropout off, no gradients
 *   if (training.mustStop(epoch, trained, validated)) break; // interrupted, or the loss diverged
 *   await training.saveIfBetter(epoch, trained, validated); // best-model/ when the loss fell
 * }
 * const result = await training.finish(); // the best weights loaded back
 * ```
 *
 * `fit` (fit.ts) is exactly this loop. Progress, recording and display come in as callbacks
 * (`onBatch`, `onEpoch`, `onSave`); the bookkeeping that makes a run resumable (the last
 * checkpoint and the optimiser's state after every epoch, the best weights so far) stays here.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { saveCheckpoint } from "../model/checkpoint.ts";
import { type Model, readWeights, setWeights, type WeightValues } from "../model/model.ts";
import type { DataSplit, ImageSet } from "../data/mod.ts";
import type { OptimizerState } from "../model/checkpoint.ts";
import type { TrainConfig } from "../core/config.ts";
import {
  type BatchCallback,
  batchesPerEpoch,
  type PhaseResult,
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
  /**
   * The training loss per image over each tenth of the epoch (`PhaseResult.lossTrace`): the live
   * chart's line. Absent in records written before 2026-12-06.
   */
  trainLossTrace?: number[];
  /**
   * Validation accuracy per class, in label order (null for a class with no validation image):
   * what `classWeightsFromRun` weights the weakest classes by. Absent without validation, and
   * in records written before 2026-12-07.
   */
  validPerClassAccuracy?: (number | null)[];
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

/** Why a run with `config.patience` ended before its last epoch. */
export interface EarlyStop {
  /** The last epoch trained. */
  epoch: number;
  /** The epochs the schedule had (`config.epochs`). */
  epochs: number;
  /** The best epoch: the weights the model holds. */
  bestEpoch: number;
  /** Its validation loss. */
  bestValidLoss: number;
  /** `config.patience`: epochs without improvement that end a run. */
  patience: number;
}

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
  /**
   * A sentence explaining an early stop (what happened, what the model holds now, what to try);
   * null when the schedule ran to its last epoch.
   */
  message: string | null;
  /**
   * Set when `config.patience` ended the run before its last epoch (stopReason is still
   * "completed": the best weights are loaded back and tested as after a full schedule).
   */
  earlyStop: EarlyStop | null;
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

/** A training run in progress, stepped by the epoch loop (see the module's example). */
export interface Training {
  /** The optimiser it steps (the caller's, or one it made and disposes). */
  readonly optimizer: tf.Optimizer;
  /** The epochs left to train: after a resumed run's last one, up to `config.epochs`. */
  epochs(): Generator<number>;
  /** One pass over the training batches with augmentation and dropout. */
  trainEpoch(epoch: number): Promise<PhaseResult>;
  /** One pass over the validation batches; null without a validation split or after a stop. */
  validate(epoch: number, trained: PhaseResult): Promise<PhaseResult | null>;
  /**
   * True when training must end here: the signal aborted a pass, or a loss was not finite. The
   * model then holds the best weights so far, and `finish` explains why in `message`.
   */
  mustStop(epoch: number, trained: PhaseResult, validated: PhaseResult | null): boolean;
  /**
   * Ends a completed epoch: keeps the model as the best when the validation loss is at or below
   * the best so far (the tutorial's `<=`; every epoch without validation), saves the last
   * checkpoint (model and optimiser state, for resuming) and then the best one, and tells
   * `onEpoch` and, when saved, `onSave`.
   */
  saveIfBetter(
    epoch: number,
    trained: PhaseResult,
    validated: PhaseResult | null,
  ): Promise<EpochRecord>;
  /** Loads the best weights back (after a completed schedule) and returns the outcome. */
  finish(): Promise<FitResult>;
  /** Frees the optimiser when this training made it; `finish` does it too. Idempotent. */
  close(): void;
}

/**
 * Prepares a training run: the optimiser, and for a resumed run the weights, the optimiser's
 * state and the best epoch so far (re-saving the best checkpoint when the process stopped between
 * the two saves of its last epoch).
 *
 * @param model The model to train.
 * @param data The training set and its train/validation split.
 * @param options As `fit`'s: config, checkpoint folders, resume state, callbacks, signal.
 * @returns The training, ready for its first epoch.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { splitTrainValid } from "../data/split.ts";
 * import { generateSyntheticImages } from "../data/synthetic.ts";
 * import { buildModel } from "../model/model.ts";
 * import { startTraining } from "./session.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 8, epochs: 2, batchSize: 10 });
 * const set = generateSyntheticImages(40, { seed: 1 });
 * const model = buildModel(config);
 * const training = await startTraining(model, { set, ...splitTrainValid(set.count, 0.25, 1) }, { config });
 * for (const epoch of training.epochs()) {
 *   const trained = await training.trainEpoch(epoch);
 *   const validated = await training.validate(epoch, trained);
 *   if (training.mustStop(epoch, trained, validated)) break;
 *   await training.saveIfBetter(epoch, trained, validated);
 * }
 * const result = await training.finish();
 * if (result.stopReason !== "completed" || result.history.length !== 2) throw new Error("did not train");
 * model.dispose();
 * ```
 */
export async function startTraining(
  model: Model,
  data: FitData,
  options: FitOptions,
): Promise<Training> {
  const { config, resume } = options;
  const checkpointDir = options.checkpointDir ?? null;
  const lastCheckpointDir = options.lastCheckpointDir ?? null;
  const optimizer = options.optimizer ?? createOptimizer(config);
  const ownsOptimizer = options.optimizer === undefined;
  const train: SplitData = { set: data.set, indices: data.trainIndices };
  const valid: SplitData = { set: data.set, indices: data.validIndices };
  const hasValidation = data.validIndices.length > 0;
  const history: EpochRecord[] = [];
  let best: Record<string, WeightValues> = await readWeights(model);
  let bestEpoch: number | null = null;
  let bestValidLoss = Infinity;
  let stopReason: StopReason = "completed";
  let message: string | null = null;
  let earlyStop: EarlyStop | null = null;
  let closed = false;
  // Wall-clock start of the epoch in progress, for its record (training + validation + saving).
  let epochStarted = performance.now();

  const close = () => {
    if (!closed && ownsOptimizer) optimizer.dispose();
    closed = true;
  };
  const saveBest = async (epoch: number, validLoss: number | null) => {
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
      best = resume.bestWeights ?? await readWeights(model);
      // The last checkpoint is the best one here (see FitResume.rewriteBest).
      if (resume.rewriteBest && bestEpoch === resume.epoch) {
        await saveBest(bestEpoch, Number.isFinite(bestValidLoss) ? bestValidLoss : null);
      }
    }
  } catch (error) {
    close();
    throw error;
  }

  const phaseOptions = (epoch: number) => ({
    config,
    epoch,
    onBatch: options.onBatch,
    signal: options.signal,
  });
  return {
    optimizer,
    *epochs() {
      for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= config.epochs; epoch++) {
        if (stopReason !== "completed") return;
        // Early stopping: checked before each epoch, so a resumed run stops where it would have.
        const patience = config.patience;
        if (
          patience !== null && hasValidation && bestEpoch !== null &&
          epoch - 1 - bestEpoch >= patience
        ) {
          earlyStop = {
            epoch: epoch - 1,
            epochs: config.epochs,
            bestEpoch,
            bestValidLoss,
            patience,
          };
          message = `Stopped early after epoch ${epoch - 1} of ${config.epochs}: the validation ` +
            `loss has not improved for ${patience} epoch${patience === 1 ? "" : "s"} ` +
            `(--patience ${patience}); the model holds the best weights (epoch ${bestEpoch}, ` +
            `validation loss ${bestValidLoss.toFixed(6)}).`;
          return;
        }
        yield epoch;
      }
    },
    async trainEpoch(epoch) {
      epochStarted = performance.now();
      return await trainEpoch(model, train, { ...phaseOptions(epoch), optimizer });
    },
    async validate(epoch, trained) {
      if (!hasValidation || trained.aborted || trained.nonFinite !== null) return null;
      return await validate(model, valid, phaseOptions(epoch));
    },
    mustStop(epoch, trained, validated) {
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
          `batch ${broken.batch}/${batchesPerEpoch(broken.indices.length, config)}, so the ` +
          `weights diverged. Try a lower learning rate (now ${config.learningRate}, e.g. ` +
          `--learning-rate ${config.learningRate / 10}). Now ${restored()}.${kept}`;
        return true;
      }
      if (trained.aborted || validated?.aborted) {
        stopReason = "aborted";
        setWeights(model, best);
        message = `Training stopped by request during epoch ${epoch} (${
          validated?.aborted ? "validation" : `after ${trained.batches} training batches`
        }); ${restored()}.`;
        return true;
      }
      return false;
    },
    async saveIfBetter(epoch, trained, validated) {
      let saved = false;
      const previousLoss = bestValidLoss;
      if (validated !== null && validated.loss <= bestValidLoss) {
        bestValidLoss = validated.loss;
        bestEpoch = epoch;
        best = await readWeights(model);
        saved = true;
      } else if (!hasValidation) {
        bestEpoch = epoch;
        best = await readWeights(model);
      }
      // The last checkpoint first: if the process stops between the two saves, resuming sees
      // that the last epoch was the best and saves the best checkpoint again.
      await saveLast(epoch, validated?.loss ?? null);
      if (bestEpoch === epoch) await saveBest(epoch, validated?.loss ?? null);
      const record: EpochRecord = {
        epoch,
        trainLoss: trained.loss,
        trainAccuracy: trained.accuracy,
        validLoss: validated?.loss ?? null,
        validAccuracy: validated?.accuracy ?? null,
        trainImages: trained.images,
        validImages: validated?.images ?? 0,
        seconds: (performance.now() - epochStarted) / 1000,
        trainImagesPerSecond: trained.imagesPerSecond,
        saved,
        bestValidLoss,
        trainLossTrace: trained.lossTrace,
        ...(validated?.perClass
          ? {
            validPerClassAccuracy: validated.perClass.correct.map((right, c) => {
              const seen = validated.perClass!.images[c]!;
              return seen > 0 ? right / seen : null;
            }),
          }
          : {}),
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
      return record;
    },
    // deno-lint-ignore require-await
    async finish() {
      // The tutorial loads the best model back after training.
      if (stopReason === "completed" && bestEpoch !== null) setWeights(model, best);
      close();
      return {
        history: [...history],
        bestEpoch,
        bestValidLoss,
        stopReason,
        message,
        earlyStop,
        checkpointDir: checkpointDir !== null && bestEpoch !== null ? checkpointDir : null,
      };
    },
    close,
  };
}

/**
 * Runs a training's epoch loop to the end: the loop of the module's example, as `fit` and a
 * run recorder's `fit` run it.
 *
 * @param training From `startTraining` (or a run recorder's `startTraining`).
 * @returns How training ended; the training is closed even when a step throws.
 */
export async function trainAllEpochs(training: Training): Promise<FitResult> {
  try {
    for (const epoch of training.epochs()) {
      const trained = await training.trainEpoch(epoch);
      const validated = await training.validate(epoch, trained);
      if (training.mustStop(epoch, trained, validated)) break;
      await training.saveIfBetter(epoch, trained, validated);
    }
    return await training.finish();
  } finally {
    training.close();
  }
}
