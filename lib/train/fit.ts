/**
 * The training loop, as in the tutorial: for each epoch, train on shuffled, augmented batches
 * (forward, cross-entropy, backward, optimiser step), then measure the validation loss with dropout
 * off; keep the model whenever the validation loss reaches a new low, and load the best weights back
 * at the end. Everything returns records; nothing here prints. `formatEpochLine` and
 * `formatSavingLine` give the tutorial's lines for the caller to print.
 *
 * Runs can be resumed: with `lastCheckpointDir`, `fit` saves the model and the optimiser's state
 * after every completed epoch; `readResumeState` reads that back and `fit` with `resume`
 * continues with the next epoch. Shuffles, augmentation and dropout are seeded per (seed, epoch,
 * batch), so a resumed run computes the same losses as one that was never interrupted.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { batchToTensor } from "../augment/augment.ts";
import {
  type OptimizerState,
  readCheckpoint,
  readOptimizerState,
  saveCheckpoint,
} from "../model/checkpoint.ts";
import type { OptimizerName, TrainConfig } from "../core/config.ts";
import { type DataSplit, type ImageSet, iterateBatches } from "../data/load.ts";
import { BLAS_BACKEND_NAME, FusedAdamOptimizer } from "../engine/kernels/blas/blas.ts";
import { getWeights, type Model, setWeights, type WeightValues } from "../model/model.ts";
import { createRng, deriveSeed } from "../core/random.ts";
import { registerTrainingGradients } from "../engine/gradients.ts";

/** Builds an optimiser for a config; used to plug in backend-specific (fused) optimisers. */
export type OptimizerFactory = (config: TrainConfig) => tf.Optimizer;

// Backend-specific optimisers (e.g. a fused Adam for the "blas" backend), keyed "backend/optimizer".
// Empty unless a backend module registers one; importing this module registers nothing.
const backendOptimizers = new Map<string, OptimizerFactory>();

/**
 * Registers an optimiser implementation to use instead of tfjs's when a given backend is active
 * (the seam for a fused Adam on the "blas" backend).
 *
 * @param backendName The tfjs backend name it applies to, e.g. `"blas"`.
 * @param optimizer The optimiser it implements.
 * @param factory Builds the optimiser from the config (learning rate, momentum).
 * @returns A function that removes the registration again.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { makeConfig } from "../core/config.ts";
 * import { createOptimizer, registerBackendOptimizer } from "./fit.ts";
 * const unregister = registerBackendOptimizer("test", "sgd", (c) => tf.train.sgd(c.learningRate * 2));
 * const optimizer = createOptimizer(makeConfig({ optimizer: "sgd" }), "test") as tf.SGDOptimizer;
 * if (optimizer.getConfig().learningRate !== 0.002) throw new Error("factory not used");
 * unregister();
 * ```
 */
export function registerBackendOptimizer(
  backendName: string,
  optimizer: OptimizerName,
  factory: OptimizerFactory,
): () => void {
  const key = `${backendName}/${optimizer}`;
  backendOptimizers.set(key, factory);
  return () => {
    if (backendOptimizers.get(key) === factory) backendOptimizers.delete(key);
  };
}

/**
 * Creates the optimiser the config names, with PyTorch's defaults where tfjs's differ:
 * Adam (β 0.9/0.999, ε 1e-8; the fused `FusedAdamOptimizer` on the "blas" backend), SGD with `config.momentum` (plain SGD when it is 0), RMSprop
 * (α 0.99, ε 1e-8, `config.momentum`), Adagrad (initial accumulator 0).
 *
 * @param config `optimizer`, `learningRate` and `momentum` are read.
 * @param backendName The active backend (`tf.getBackend()`); a registered backend-specific
 *   optimiser for it wins over tfjs's. @default tf.getBackend()
 * @returns A fresh optimiser; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { createOptimizer } from "./fit.ts";
 * const adam = createOptimizer(makeConfig(), "cpu");
 * if (!(adam instanceof tf.AdamOptimizer) || adam.getConfig().learningRate !== 0.001) {
 *   throw new Error("expected Adam with lr 0.001");
 * }
 * adam.dispose();
 * ```
 */
export function createOptimizer(config: TrainConfig, backendName?: string): tf.Optimizer {
  const backend = backendName ?? tf.getBackend();
  const factory = backendOptimizers.get(`${backend}/${config.optimizer}`);
  if (factory !== undefined) return factory(config);
  const lr = config.learningRate;
  switch (config.optimizer) {
    case "adam":
      // On "blas" a fused Adam updates each variable in one pass over its typed array, in place.
      return backend === BLAS_BACKEND_NAME
        ? new FusedAdamOptimizer(lr, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 })
        : tf.train.adam(lr, 0.9, 0.999, 1e-8);
    case "sgd":
      return config.momentum > 0 ? momentumOptimizer(lr, config.momentum) : tf.train.sgd(lr);
    case "rmsprop":
      return tf.train.rmsprop(lr, 0.99, config.momentum, 1e-8);
    case "adagrad":
      return tf.train.adagrad(lr, 0);
    default:
      throw new RangeError(
        `Cannot create optimizer: expected one of adam, sgd, rmsprop, adagrad, found "${config.optimizer}"`,
      );
  }
}

/** tf.train.momentum, whose `dispose` also frees the learning-rate scalar (tfjs 4.22 leaks it). */
function momentumOptimizer(learningRate: number, momentum: number): tf.MomentumOptimizer {
  const optimizer = tf.train.momentum(learningRate, momentum);
  const dispose = optimizer.dispose.bind(optimizer);
  optimizer.dispose = () => {
    dispose();
    // MomentumOptimizer.dispose frees its momentum scalar but not SGD's `c` (−learning rate).
    (optimizer as unknown as { c?: tf.Tensor }).c?.dispose();
  };
  return optimizer;
}

/** Class name of an optimiser as tfjs serialises it (`Adam`, `FusedAdam`, `SGD`, …). */
function optimizerClassName(optimizer: tf.Optimizer): string {
  return (optimizer.constructor as unknown as { className?: string }).className ??
    optimizer.constructor.name;
}

/** Optimisers whose saved slots are interchangeable (the fused Adam stores what tf.train.adam does). */
function optimizerFamily(className: string): string {
  return className === "FusedAdam" ? "Adam" : className;
}

/**
 * Reads an optimiser's state (step count and slots such as Adam's moments), with each slot named
 * after the model's parameter (`fc1.weight/m`) instead of the tfjs variable, whose name changes
 * whenever a model is rebuilt. Save it with `saveCheckpoint(model, dir, { optimizer })`.
 *
 * @param optimizer The optimiser (after some steps; a fresh one has no slots yet).
 * @param model The model it trains.
 * @returns A copy of the state (no tensors).
 * @throws {Error} When a slot belongs to a variable that is not one of the model's parameters.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { createOptimizer, getOptimizerState } from "./fit.ts";
 * await tf.setBackend("cpu");
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 4 });
 * const model = buildModel(config);
 * const optimizer = createOptimizer(config);
 * optimizer.minimize(() => tf.sum(model.params["fc2.bias"]!), false, [model.params["fc2.bias"]!]);
 * const state = await getOptimizerState(optimizer, model);
 * if (state.iterations !== 1 || state.slots.map((s) => s.name).join() !== "fc2.bias/m,fc2.bias/v") {
 *   throw new Error(JSON.stringify(state.slots.map((s) => s.name)));
 * }
 * optimizer.dispose();
 * model.dispose();
 * ```
 */
export async function getOptimizerState(
  optimizer: tf.Optimizer,
  model: Model,
): Promise<OptimizerState> {
  const parameterOf = new Map(Object.entries(model.params).map(([name, v]) => [v.name, name]));
  const named = await optimizer.getWeights();
  try {
    const [iterations, ...slots] = named;
    return {
      className: optimizerClassName(optimizer),
      config: structuredClone(optimizer.getConfig()) as Record<string, unknown>,
      iterations: iterations === undefined ? 0 : (await iterations.tensor.data())[0]!,
      slots: await Promise.all(slots.map(async ({ name, tensor }) => {
        // tfjs names a slot `<variable>/<slot>`, e.g. `17/m`.
        const cut = name.indexOf("/");
        const parameter = parameterOf.get(cut < 0 ? name : name.slice(0, cut));
        if (parameter === undefined) {
          throw new Error(
            `Cannot read optimizer state: slot "${name}" belongs to no parameter of the model ` +
              `(its variables are ${[...parameterOf.keys()].join(", ")})`,
          );
        }
        const values = await tensor.data() as Float32Array;
        return {
          name: `${parameter}${cut < 0 ? "" : name.slice(cut)}`,
          shape: [...tensor.shape],
          // A slot variable changes with the next step: copy it. A fresh tensor (the fused Adam
          // hands out copies) is disposed below and its array is ours already.
          values: tensor instanceof tf.Variable ? Float32Array.from(values) : values,
        };
      })),
    };
  } finally {
    // tfjs optimisers hand out their own slot variables; others (the fused Adam) fresh copies.
    for (const { tensor } of named) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  }
}

/**
 * Restores an optimiser's state read by `getOptimizerState` into a fresh optimiser of the same
 * kind (tf.train.adam and the fused Adam of the "blas" backend accept each other's state), for
 * the model it will train, so that the next step is exactly the step the saved run would have
 * taken. Adam's running products β₁ᵗ and β₂ᵗ are rebuilt by the same float32 products training
 * takes, not `Math.pow` as tfjs's own `setWeights` does, which can differ in the last bit.
 *
 * @param optimizer A fresh optimiser (no steps taken yet).
 * @param model The model it trains: every slot's parameter must exist there with the slot's shape.
 * @param state The saved state.
 * @returns Resolves once restored.
 * @throws {TypeError} When the state was saved by another kind of optimiser.
 * @throws {RangeError} When a slot's parameter is missing from the model or has another shape.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { createOptimizer, getOptimizerState, setOptimizerState } from "./fit.ts";
 * await tf.setBackend("cpu");
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 4, optimizer: "sgd" });
 * const model = buildModel(config);
 * const trained = createOptimizer(config);
 * trained.minimize(() => tf.sum(model.params["fc2.bias"]!), false, [model.params["fc2.bias"]!]);
 * const state = await getOptimizerState(trained, model);
 * const fresh = createOptimizer(config);
 * await setOptimizerState(fresh, model, state);
 * if (fresh.iterations !== 1) throw new Error("step count not restored");
 * model.dispose();
 * ```
 */
export async function setOptimizerState(
  optimizer: tf.Optimizer,
  model: Model,
  state: OptimizerState,
): Promise<void> {
  const className = optimizerClassName(optimizer);
  if (optimizerFamily(className) !== optimizerFamily(state.className)) {
    throw new TypeError(
      `Cannot restore optimizer state: it was saved by a ${state.className} optimizer, found a ` +
        `${className} optimizer (use the run's own optimizer setting)`,
    );
  }
  // 1. Check every slot against the model and split its name into parameter and slot kind.
  const slots = state.slots.map((slot) => {
    const cut = slot.name.indexOf("/");
    const parameter = cut < 0 ? slot.name : slot.name.slice(0, cut);
    const variable = model.params[parameter];
    if (variable === undefined) {
      throw new RangeError(
        `Cannot restore optimizer state: slot "${slot.name}" names parameter "${parameter}", ` +
          `which the model lacks (it has ${Object.keys(model.params).join(", ")})`,
      );
    }
    if (
      slot.values.length !== variable.size ||
      slot.shape.join() !== variable.shape.join()
    ) {
      throw new RangeError(
        `Cannot restore optimizer state: slot "${slot.name}" expected shape [${
          variable.shape.join(", ")
        }], found [${slot.shape.join(", ")}] with ${slot.values.length} values`,
      );
    }
    return { ...slot, variable, kind: cut < 0 ? "" : slot.name.slice(cut) };
  });
  // 2. tfjs optimisers match slots to gradients by position, and gradients come in the order of
  //    the variables' (numeric) names: order each kind of slot that way.
  const variableOrder = Object.keys(
    Object.fromEntries(Object.values(model.params).map((v) => [v.name, true])),
  );
  const kinds = [...new Set(slots.map((s) => s.kind))];
  const ordered = kinds.flatMap((kind) =>
    variableOrder.flatMap((name) =>
      slots.filter((s) => s.kind === kind && s.variable.name === name)
    )
  );
  const isAdam = optimizerFamily(className) === "Adam";
  // 3. Adam's β products are replayed below, from step 0.
  const named = [
    { name: "iter", tensor: tf.scalar(isAdam ? 0 : state.iterations, "int32") as tf.Tensor },
    ...ordered.map((s) => ({
      name: `${s.variable.name}${s.kind}`,
      tensor: tf.tensor(s.values, s.shape, "float32"),
    })),
  ];
  try {
    await optimizer.setWeights(named);
  } finally {
    for (const { tensor } of named) tensor.dispose();
  }
  if (isAdam) replayAdamSteps(optimizer, state.iterations);
}

/** Advances Adam's step count and β₁ᵗ, β₂ᵗ as `steps` training steps would, moments untouched. */
function replayAdamSteps(optimizer: tf.Optimizer, steps: number): void {
  // By class name: tfjs's `instanceof` accepts any optimiser for any optimiser class.
  if (optimizerClassName(optimizer) === "Adam") {
    // tf.train.adam keeps βᵗ in float32 variables, multiplied by β once per step.
    const adam = optimizer as unknown as {
      beta1: number;
      beta2: number;
      accBeta1: tf.Variable;
      accBeta2: tf.Variable;
      iterations_: number;
    };
    const f = Math.fround;
    let acc1 = f(adam.beta1), acc2 = f(adam.beta2);
    for (let i = 0; i < steps; i++) {
      acc1 = f(acc1 * f(adam.beta1));
      acc2 = f(acc2 * f(adam.beta2));
    }
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(acc1));
      adam.accBeta2.assign(tf.scalar(acc2));
    });
    adam.iterations_ = steps;
    return;
  }
  // Other Adams (the fused one) keep βᵗ privately: an empty step advances exactly that.
  for (let i = 0; i < steps; i++) optimizer.applyGradients({});
}

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
 * import { crossEntropy } from "./fit.ts";
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
 * import { trainBatch } from "./fit.ts";
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

function batchCount(images: number, config: TrainConfig): number {
  const all = Math.ceil(images / config.batchSize);
  return config.maxBatchesPerEpoch === null ? all : Math.min(all, config.maxBatchesPerEpoch);
}

function countCorrect(
  predicted: Int32Array | Float32Array | Uint8Array,
  labels: Int32Array,
): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}

interface PhaseSpec {
  phase: "train" | "valid";
  shuffle: boolean;
  /** Runs one batch and returns [mean loss, correct]. */
  step(
    x: tf.Tensor4D,
    labels: tf.Tensor1D,
    batchIndex: number,
    batch: Int32Array,
  ): Promise<[number, number]>;
  /** The augmentation generator's seed for a batch, or null for no augmentation. */
  augmentSeed(batchIndex: number): number | null;
}

const YIELD_EVERY_MS = 200;

async function runPhase(
  data: SplitData,
  spec: PhaseSpec,
  options: { config: TrainConfig; epoch: number; onBatch?: BatchCallback; signal?: AbortSignal },
): Promise<PhaseResult> {
  const { config, epoch } = options;
  const batches = batchCount(data.indices.length, config);
  const start = performance.now();
  let lossSum = 0, correct = 0, images = 0, done = 0;
  let aborted = false;
  let nonFinite: NonFiniteLoss | null = null;
  const iterator = iterateBatches(data.set, data.indices, {
    batchSize: config.batchSize,
    seed: config.seed,
    epoch,
    shuffle: spec.shuffle,
  });
  let lastYield = performance.now();
  for (const batch of iterator) {
    if (done >= batches) break;
    // Signal handlers (Ctrl-C, Kernel -> Interrupt) only run when the event loop turns, and a batch
    // loop of awaited promises never lets it: give it a macrotask turn every ~200 ms (cost < 1%).
    if (options.signal && performance.now() - lastYield > YIELD_EVERY_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = performance.now();
    }
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
    let loss: number, batchCorrect: number;
    try {
      [loss, batchCorrect] = await spec.step(x, labels, done, batch.labels);
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
    correct += batchCorrect;
    images += batch.size;
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
 * import { createOptimizer, trainEpoch, validate } from "./fit.ts";
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
    async step(x, labels, b, labelValues) {
      const dropoutSeed = deriveSeed(config.seed, "dropout", epoch, b);
      const { loss, predictions } = trainBatch(model, optimizer, x, labels, dropoutSeed, variables);
      try {
        const [lossValues, predicted] = await Promise.all([loss.data(), predictions.data()]);
        return [lossValues[0]!, countCorrect(predicted as Int32Array, labelValues)];
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
    augmentSeed: (b) =>
      config.augmentValidation ? deriveSeed(config.seed, "augment-valid", epoch, b) : null,
    async step(x, labels, _b, labelValues) {
      const [loss, predictions] = tf.tidy(() => {
        const logits = model.forward(x, { training: false });
        return [crossEntropy(logits, labels), tf.argMax(logits, 1)];
      });
      try {
        const [lossValues, predicted] = await Promise.all([loss.data(), predictions.data()]);
        return [lossValues[0]!, countCorrect(predicted as Int32Array, labelValues)];
      } finally {
        loss.dispose();
        predictions.dispose();
      }
    },
  }, options);
}

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

/** Options of `readResumeState`. */
export interface ReadResumeOptions {
  /** The run's best checkpoint, whose weights `fit` loads back at the end. @default none */
  bestCheckpointDir?: string | null;
}

function metadataNumber(metadata: Record<string, unknown>, key: string): number | null {
  const value = metadata[key];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Reads what `fit` needs to continue a run: the model and optimiser state that `fit` saved to
 * `lastCheckpointDir` after the last completed epoch, the best epoch and loss so far, and the best
 * checkpoint's weights.
 *
 * @param lastCheckpointDir The run's last checkpoint (with `optimizer.json`).
 * @param options The best checkpoint folder.
 * @returns The state for `fit`'s `resume` option.
 * @throws {Deno.errors.NotFound} When the last checkpoint does not exist (no epoch completed).
 * @throws {SyntaxError} When the last checkpoint does not say which epoch it holds.
 * @throws {RangeError} When the best checkpoint holds another epoch than the last one names.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { splitTrainValid } from "../data/load.ts";
 * import { buildModel } from "../model/model.ts";
 * import { generateSyntheticImages } from "../data/synthetic.ts";
 * import { fit, readResumeState } from "./fit.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 8, epochs: 1, batchSize: 10 });
 * const set = generateSyntheticImages(20, { seed: 1 });
 * const dir = await Deno.makeTempDir();
 * const model = buildModel(config);
 * const data = { set, ...splitTrainValid(set.count, 0.5, config.seed) };
 * await fit(model, data, { config, checkpointDir: `${dir}/best`, lastCheckpointDir: `${dir}/last` });
 * const resume = await readResumeState(`${dir}/last`, { bestCheckpointDir: `${dir}/best` });
 * if (resume.epoch !== 1 || resume.bestEpoch !== 1) throw new Error("wrong epoch");
 * // One more epoch, continuing from the saved state.
 * const more = await fit(model, data, { config: { ...config, epochs: 2 }, resume });
 * if (more.history.map((r) => r.epoch).join() !== "2") throw new Error("did not continue");
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readResumeState(
  lastCheckpointDir: string,
  options: ReadResumeOptions = {},
): Promise<FitResume> {
  const last = await readCheckpoint(lastCheckpointDir);
  const epoch = metadataNumber(last.metadata, "epoch");
  if (epoch === null || !Number.isInteger(epoch) || epoch < 1) {
    throw new SyntaxError(
      `Cannot resume from "${lastCheckpointDir}": expected its metadata to name the completed ` +
        `epoch, found ${JSON.stringify(last.metadata.epoch ?? null)}`,
    );
  }
  const optimizer = await readOptimizerState(lastCheckpointDir);
  const bestEpoch = metadataNumber(last.metadata, "bestEpoch");
  const bestValidLoss = metadataNumber(last.metadata, "bestValidLoss") ?? Infinity;
  const bestDir = options.bestCheckpointDir ?? null;
  let bestWeights: Record<string, WeightValues> | null = null;
  let rewriteBest = false;
  if (bestEpoch === epoch) {
    // The last epoch was the best: its weights are the best ones, whatever the best folder holds.
    bestWeights = last.weights;
    if (bestDir !== null) {
      const onDisk = await readCheckpoint(bestDir).catch(() => null);
      rewriteBest = onDisk === null || metadataNumber(onDisk.metadata, "epoch") !== bestEpoch;
    }
  } else if (bestEpoch !== null && bestDir !== null) {
    const best = await readCheckpoint(bestDir);
    const found = metadataNumber(best.metadata, "epoch");
    if (found !== bestEpoch) {
      throw new RangeError(
        `Cannot resume from "${lastCheckpointDir}": it names epoch ${bestEpoch} as the best, but ` +
          `"${bestDir}" holds epoch ${found}`,
      );
    }
    bestWeights = best.weights;
  }
  return {
    epoch,
    weights: last.weights,
    optimizer,
    bestEpoch,
    bestValidLoss,
    bestWeights,
    rewriteBest,
  };
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
 * import { splitTrainValid } from "../data/load.ts";
 * import { buildModel } from "../model/model.ts";
 * import { generateSyntheticImages } from "../data/synthetic.ts";
 * import { fit, formatEpochLine, formatSavingLine } from "./fit.ts";
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
          `batch ${broken.batch}/${batchCount(broken.indices.length, config)}, so the weights ` +
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
 * import { formatEpochLine } from "./fit.ts";
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
 * import { formatSavingLine } from "./fit.ts";
 * const line = formatSavingLine(Infinity, 0.5987654);
 * if (line !== "Validation loss decreased (inf --> 0.598765).  Saving model ...") throw new Error(line);
 * ```
 */
export function formatSavingLine(previousLoss: number, validLoss: number): string {
  return `Validation loss decreased (${pythonFloat(previousLoss)} --> ${
    pythonFloat(validLoss)
  }).  Saving model ...`;
}
