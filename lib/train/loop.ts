/**
 * One epoch of the tutorial's loop: train on shuffled, augmented batches (forward, cross-entropy,
 * backward, optimiser step), then measure the validation loss with dropout off. Shuffles,
 * augmentation and dropout are seeded per (seed, epoch, batch), so an epoch computes the same
 * losses whenever it runs. Everything returns records; nothing here prints.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { batchToTensor } from "../augment/augment.ts";
import type { TrainConfig } from "../core/config.ts";
import { batchCount, type ImageSet, iterateBatches, NUM_CLASSES } from "../data/mod.ts";
import type { Model } from "../model/model.ts";
import { createRng, deriveSeed } from "../core/random.ts";
import { turnTaker } from "../core/time.ts";
import { registerTrainingGradients } from "../engine/gradients.ts";

/**
 * Mean cross-entropy of logits against integer labels (softmax + negative log-likelihood, like
 * PyTorch's `nn.CrossEntropyLoss`).
 *
 * @param logits Class scores `[batch, classes]`.
 * @param labels Class indices `[batch]`, int32.
 * @returns A scalar: the mean loss over the batch.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { crossEntropy } from "./loop.ts";
 * await tf.setBackend("cpu");
 * const loss = crossEntropy(tf.zeros([2, 10]), tf.tensor1d([3, 7], "int32"));
 * // Uniform scores: every class has probability 1/10.
 * if (Math.abs(loss.dataSync()[0]! - Math.log(10)) > 1e-6) throw new Error("wrong loss");
 * ```
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(labels, logits.shape[1])), 1);
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

/**
 * One optimizer step on a batch, as the tutorial's loop takes it: forward in training mode (dropout
 * masks from `dropoutSeed`), cross-entropy, backward, update. The caller reads and disposes both
 * results.
 *
 * @param model The model; its parameters are updated.
 * @param optimizer The optimizer.
 * @param x Normalised images [batch, 32, 32, 3].
 * @param labels Class indices (int32).
 * @param dropoutSeed Seed of this step's dropout masks.
 * @param variables The parameters to update. @default all of the model's
 * @returns The batch's mean loss, and each image's predicted class.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { trainBatch } from "./loop.ts";
 * await tf.setBackend("cpu");
 * const model = buildModel(makeConfig({ convChannels: [2], hiddenUnits: 4 }));
 * const optimizer = tf.train.adam(0.001);
 * const x = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D, labels = tf.tensor1d([1, 2], "int32");
 * const { loss, predictions } = trainBatch(model, optimizer, x, labels, 7);
 * if (!(loss.dataSync()[0]! > 0) || predictions.shape[0] !== 2) throw new Error("no step");
 * tf.dispose([loss, predictions, x, labels]);
 * optimizer.dispose();
 * model.dispose();
 * ```
 */
export function trainBatch(
  model: Model,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  dropoutSeed: number,
  variables: tf.Variable[] = Object.values(model.params),
): { loss: tf.Scalar; predictions: tf.Tensor1D } {
  // buildModel registered the gradients this needs.
  let predictions: tf.Tensor1D | null = null;
  const loss = optimizer.minimize(
    () => {
      const logits = model.forward(x, { training: true, seed: dropoutSeed });
      predictions = tf.keep(tf.argMax(logits, 1));
      return crossEntropy(logits, labels);
    },
    true,
    variables,
  )!;
  return { loss, predictions: predictions! };
}

/** The images of a split: the whole set and which of its images to use. */
export interface SplitData {
  /** The images (usually the full training set). */
  set: ImageSet;
  /** Indices into `set` of the images to use. */
  indices: Int32Array;
}

/** Progress of one batch, for progress bars. */
export interface BatchProgress {
  /** Epoch (1-based). */
  epoch: number;
  /** Which loop reports. */
  phase: "train" | "valid";
  /** Batches done so far in this phase (1-based: 1 after the first). */
  batch: number;
  /** Batches this phase will run (after `maxBatchesPerEpoch`). */
  batches: number;
  /** Images done so far. */
  images: number;
  /** Average loss per image so far in this phase of this epoch. */
  runningLoss: number;
  /** Average loss per image of this batch alone. */
  batchLoss: number;
  /** Images in this batch. */
  batchImages: number;
  /** Fraction correct so far. */
  runningAccuracy: number;
  /** Throughput so far. */
  imagesPerSecond: number;
  /** Seconds since the phase started. */
  seconds: number;
}

/** Called after every batch. May return a promise (awaited before the next batch). */
export type BatchCallback = (progress: BatchProgress) => void | Promise<void>;

/** A loss that was NaN or infinite. */
export interface NonFiniteLoss {
  /** The batch (1-based) whose loss it was. */
  batch: number;
  /** The loss value (NaN, Infinity or −Infinity). */
  loss: number;
}

/** Points of an epoch's loss trace (`PhaseResult.lossTrace`): its tenths. */
export const LOSS_TRACE_POINTS = 10;

/**
 * Which point of an epoch's loss trace a batch belongs to: the epoch's batches split into
 * `min(LOSS_TRACE_POINTS, batches)` runs of consecutive batches, none empty.
 *
 * @param batch The batch, from 0.
 * @param batches Batches in the epoch.
 * @returns The point, from 0, and how many points the epoch has.
 * @example
 * ```ts
 * import { lossTracePoint } from "./loop.ts";
 * const { point, points } = lossTracePoint(1332, 1334);
 * if (point !== 9 || points !== 10 || lossTracePoint(2, 4).point !== 2) throw new Error();
 * ```
 */
export function lossTracePoint(batch: number, batches: number): { point: number; points: number } {
  const points = Math.max(1, Math.min(LOSS_TRACE_POINTS, batches));
  return { point: Math.min(points - 1, Math.floor((batch * points) / batches)), points };
}

/** The outcome of one pass over a split. */
export interface PhaseResult {
  /** Average loss per image (sum of per-image losses / images), as the tutorial reports. */
  loss: number;
  /** Fraction of images classified right. */
  accuracy: number;
  /** Images classified right. */
  correct: number;
  /** Images seen. */
  images: number;
  /** Batches run. */
  batches: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Throughput. */
  imagesPerSecond: number;
  /** True when the signal stopped the pass at a batch boundary. */
  aborted: boolean;
  /** Set when a batch's loss was not finite; the pass stopped there. */
  nonFinite: NonFiniteLoss | null;
  /**
   * The loss per image over each run of batches of `lossTracePoint` (an epoch's tenths), in
   * order: what the live chart draws between epochs, and what a run record keeps so a resumed
   * run's chart draws its earlier epochs the same way. Only the runs the pass reached.
   */
  lossTrace: number[];
  /**
   * Per class, in label order: images right and images seen (`validate` only; absent after
   * `trainEpoch`). Class weights are derived from them (`classWeightsFromAccuracy`).
   */
  perClass?: { correct: number[]; images: number[] };
}

/** Options of `trainEpoch`. */
export interface TrainEpochOptions {
  /** The optimiser (from `createOptimizer`). */
  optimizer: tf.Optimizer;
  /** The run's config (batch size, seed, augmentation, `maxBatchesPerEpoch`). */
  config: TrainConfig;
  /** Epoch number (1-based); seeds the shuffle, augmentation and dropout. */
  epoch: number;
  /** Per-batch progress. */
  onBatch?: BatchCallback;
  /** Stops the pass at the next batch boundary when aborted. */
  signal?: AbortSignal;
}

/** Options of `validate`. */
export interface ValidateOptions {
  /** The run's config (batch size, seed, `augmentValidation`, `maxBatchesPerEpoch`). */
  config: TrainConfig;
  /** Epoch number (1-based); seeds the validation augmentation. */
  epoch: number;
  /** Per-batch progress. */
  onBatch?: BatchCallback;
  /** Stops the pass at the next batch boundary when aborted. */
  signal?: AbortSignal;
}

/**
 * How many batches one epoch of `trainEpoch` or `validate` runs over a split: its
 * `batchCount` (lib/data/split.ts), capped at `config.maxBatchesPerEpoch` when that is set.
 *
 * @param images Images in the split.
 * @param config `batchSize` and `maxBatchesPerEpoch` are read.
 * @returns The batches an uninterrupted pass runs.
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { batchesPerEpoch } from "./loop.ts";
 * if (batchesPerEpoch(25, makeConfig({ batchSize: 10 })) !== 3) throw new Error("uncapped");
 * if (batchesPerEpoch(25, makeConfig({ batchSize: 10, maxBatchesPerEpoch: 2 })) !== 2) {
 *   throw new Error("not capped");
 * }
 * ```
 */
export function batchesPerEpoch(
  images: number,
  config: Pick<TrainConfig, "batchSize" | "maxBatchesPerEpoch">,
): number {
  const all = batchCount(images, config.batchSize);
  return config.maxBatchesPerEpoch === null ? all : Math.min(all, config.maxBatchesPerEpoch);
}

/**
 * The batch's mean loss and its number of correct predictions, read back in one transfer: the
 * only read a batch makes, so that a GPU backend is not stalled twice per batch (and the
 * predictions themselves never leave the device).
 */
async function readLossAndCorrect(
  loss: tf.Scalar,
  predictions: tf.Tensor1D,
  labels: tf.Tensor1D,
): Promise<[number, number]> {
  const both = tf.tidy(() =>
    tf.stack([loss, tf.sum(tf.cast(tf.equal(predictions, labels), "float32"))])
  );
  try {
    const values = await both.data();
    return [values[0]!, values[1]!];
  } finally {
    both.dispose();
  }
}

interface PhaseSpec {
  phase: "train" | "valid";
  shuffle: boolean;
  /**
   * Runs one batch and returns [mean loss, correct], and with `perClass` each image's
   * correctness (1 or 0) as well.
   */
  step(
    x: tf.Tensor4D,
    labels: tf.Tensor1D,
    batchIndex: number,
  ): Promise<[number, number, Float32Array?]>;
  /** Count right and seen images per class. */
  perClass?: boolean;
  /** The augmentation generator's seed for a batch, or null for no augmentation. */
  augmentSeed(batchIndex: number): number | null;
}

async function runPhase(
  data: SplitData,
  spec: PhaseSpec,
  options: { config: TrainConfig; epoch: number; onBatch?: BatchCallback; signal?: AbortSignal },
): Promise<PhaseResult> {
  const { config, epoch } = options;
  const batches = batchesPerEpoch(data.indices.length, config);
  const start = performance.now();
  let lossSum = 0, correct = 0, images = 0, done = 0;
  const traceSums: number[] = [], traceImages: number[] = [];
  let aborted = false;
  let nonFinite: NonFiniteLoss | null = null;
  const perClass = spec.perClass
    ? {
      correct: new Array<number>(NUM_CLASSES).fill(0),
      images: new Array<number>(NUM_CLASSES).fill(0),
    }
    : null;
  const iterator = iterateBatches(data.set, data.indices, {
    batchSize: config.batchSize,
    seed: config.seed,
    epoch,
    shuffle: spec.shuffle,
    // Class weights shape what training sees, never what validation measures.
    classWeights: spec.phase === "train" ? config.classWeights : null,
  });
  // Signal handlers (Ctrl-C, Kernel -> Interrupt) only run when the event loop turns, and a batch
  // loop of awaited promises never lets it: with a signal to watch, give it a turn every
  // YIELD_INTERVAL_MS (cost < 1%); without one there is nothing to wait for.
  const takeTurn = options.signal ? turnTaker() : null;
  for (const batch of iterator) {
    if (done >= batches) break;
    await takeTurn?.();
    if (options.signal?.aborted) {
      aborted = true;
      break;
    }
    const augmentSeed = spec.augmentSeed(done);
    const x = batchToTensor(batch.images, batch.size, {
      augment: augmentSeed !== null,
      rng: augmentSeed === null ? undefined : createRng(augmentSeed),
      config,
    });
    const labels = tf.tensor1d(batch.labels, "int32");
    let loss: number, batchCorrect: number, imageCorrect: Float32Array | undefined;
    try {
      [loss, batchCorrect, imageCorrect] = await spec.step(x, labels, done);
    } finally {
      x.dispose();
      labels.dispose();
    }
    done++;
    if (!Number.isFinite(loss)) {
      nonFinite = { batch: done, loss };
      break;
    }
    lossSum += loss * batch.size;
    const { point } = lossTracePoint(done - 1, batches);
    traceSums[point] = (traceSums[point] ?? 0) + loss * batch.size;
    traceImages[point] = (traceImages[point] ?? 0) + batch.size;
    correct += batchCorrect;
    images += batch.size;
    if (perClass !== null && imageCorrect !== undefined) {
      for (let i = 0; i < batch.size; i++) {
        const label = batch.labels[i]!;
        perClass.images[label] = (perClass.images[label] ?? 0) + 1;
        perClass.correct[label] = (perClass.correct[label] ?? 0) + imageCorrect[i]!;
      }
    }
    const seconds = (performance.now() - start) / 1000;
    await options.onBatch?.({
      epoch,
      phase: spec.phase,
      batch: done,
      batches,
      images,
      runningLoss: lossSum / images,
      batchLoss: loss,
      batchImages: batch.size,
      runningAccuracy: correct / images,
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      seconds,
    });
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    loss: images > 0 ? lossSum / images : NaN,
    accuracy: images > 0 ? correct / images : NaN,
    correct,
    images,
    batches: done,
    seconds,
    imagesPerSecond: seconds > 0 ? images / seconds : 0,
    aborted,
    nonFinite,
    lossTrace: traceSums.map((sum, point) => sum / traceImages[point]!),
    ...(perClass !== null ? { perClass } : {}),
  };
}

/**
 * Trains for one epoch: shuffled batches (`deriveSeed(seed, "shuffle", epoch)` in the data
 * module), each augmented with a generator seeded by `deriveSeed(seed, "augment", epoch, batch)`,
 * dropout masks seeded by `deriveSeed(seed, "dropout", epoch, batch)`, then one optimiser step.
 * Stops early at `config.maxBatchesPerEpoch`, when `signal` aborts, or on a non-finite loss.
 *
 * @param model The model to train (its parameters change).
 * @param data The training images and indices.
 * @param options Optimiser, config, epoch, progress callback and abort signal.
 * @returns Average loss per image, accuracy, throughput and why it stopped early, if it did.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { generateSyntheticImages } from "../data/synthetic.ts";
 * import { createOptimizer } from "./optimizers.ts";
 * import { trainEpoch, validate } from "./loop.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 8, batchSize: 10 });
 * const set = generateSyntheticImages(20, { seed: 1 });
 * const indices = Int32Array.from({ length: 20 }, (_, i) => i);
 * const model = buildModel(config);
 * const optimizer = createOptimizer(config);
 * const trained = await trainEpoch(model, { set, indices }, { optimizer, config, epoch: 1 });
 * const validated = await validate(model, { set, indices }, { config, epoch: 1 });
 * if (trained.images !== 20 || trained.batches !== 2 || !(validated.loss > 0)) throw new Error("bad epoch");
 * optimizer.dispose();
 * model.dispose();
 * ```
 */
export async function trainEpoch(
  model: Model,
  data: SplitData,
  options: TrainEpochOptions,
): Promise<PhaseResult> {
  const { optimizer, config, epoch } = options;
  const variables = Object.values(model.params);
  registerTrainingGradients();
  return await runPhase(data, {
    phase: "train",
    shuffle: true,
    augmentSeed: (b) => deriveSeed(config.seed, "augment", epoch, b),
    async step(x, labels, b) {
      const dropoutSeed = deriveSeed(config.seed, "dropout", epoch, b);
      const { loss, predictions } = trainBatch(model, optimizer, x, labels, dropoutSeed, variables);
      try {
        return await readLossAndCorrect(loss, predictions, labels);
      } finally {
        loss.dispose();
        predictions.dispose();
      }
    },
  }, options);
}

/**
 * Measures the loss and accuracy on the validation images with dropout off, in order. Batches
 * are augmented when `config.augmentValidation` is set (the tutorial draws validation from the
 * augmented training set), from `deriveSeed(seed, "augment-valid", epoch, batch)`.
 *
 * @param model The model (unchanged).
 * @param data The validation images and indices.
 * @param options Config, epoch, progress callback and abort signal.
 * @returns Average loss per image and accuracy (see `trainEpoch` for an example).
 */
export async function validate(
  model: Model,
  data: SplitData,
  options: ValidateOptions,
): Promise<PhaseResult> {
  const { config, epoch } = options;
  return await runPhase(data, {
    phase: "valid",
    shuffle: false,
    perClass: true,
    augmentSeed: (b) =>
      config.augmentValidation ? deriveSeed(config.seed, "augment-valid", epoch, b) : null,
    async step(x, labels) {
      // The loss and each image's correctness in one transfer, for the per-class counts.
      const both = tf.tidy(() => {
        const logits = model.forward(x, { training: false });
        const right = tf.cast(tf.equal(tf.argMax(logits, 1), labels), "float32");
        return tf.concat([tf.reshape(crossEntropy(logits, labels), [1]), right]);
      });
      try {
        const values = await both.data() as Float32Array;
        const right = values.slice(1);
        return [values[0]!, right.reduce((sum, v) => sum + v, 0), right];
      } finally {
        both.dispose();
      }
    },
  }, options);
}
