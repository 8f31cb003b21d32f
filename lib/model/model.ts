const CONV_ATTRS = { strides: [1, 1], pad: "same", dataFormat: "NHWC", dilations: [1, 1] };

/**
 * A 3×3 "same" convolution + bias + ReLU for training, as one op with its own gradient. tfjs's
 * `tf.fused.conv2d` falls back to three separate ops (three activation arrays, three passes)
 * whenever gradients are recorded; this one runs the fused kernel forward and, backward, the
 * same kernels the three ops' gradients would (ReLU's mask, bias sum, the two convolution
 * gradients), so the numbers are those of conv2d → add → relu. On the "blas" backend it saved
 * about a third of a training step's activation memory.
 *
 * @param inputGradient Whether the input needs a gradient: not for the first layer, whose input
 *   is the images (zeros are returned instead of computing one).
 */
function makeConvBiasRelu(inputGradient: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, filter, bias, save] = args as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor1D,
      tf.GradSaveFunc,
    ];
    const y = tf.engine().runKernel("FusedConv2D", { x, filter, bias }, {
      ...CONV_ATTRS,
      activation: "relu",
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    save([x, filter, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        // ReLU's gradient: 1 where the pre-activation is > 0, which is exactly where y > 0.
        const dz = reluBackprop(dy, ys);
        const dBias = tf.sum(dz, [0, 1, 2]);
        const dFilter = tf.engine().runKernel("Conv2DBackpropFilter", { x: xs, dy: dz }, {
          ...CONV_ATTRS,
          filterShape: ws.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const dx = inputGradient
          ? tf.engine().runKernel("Conv2DBackpropInput", { dy: dz, filter: ws }, {
            ...CONV_ATTRS,
            inputShape: xs.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor
          : tf.zerosLike(xs);
        return [dx, dFilter, dBias];
      },
    };
  }) as (x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D) => tf.Tensor4D;
}
const convBiasRelu = makeConvBiasRelu(true);
const convBiasReluFirst = makeConvBiasRelu(false);

/**
 * The tutorial's convolutional network, built from plain tfjs-core ops and `tf.variable`s:
 * four 3×3 "same" convolutions with ReLU (3→16→32, pool, →64→128, pool), flatten, dropout 0.25,
 * dense 8192→500 with ReLU, dropout 0.25, dense 500→10 giving class scores (logits).
 *
 * Tensors are NHWC (`[batch, 32, 32, 3]`), tfjs's layout; the flattened features are therefore in
 * height, width, channel order where PyTorch's are channel-first. That changes nothing when the model
 * is trained from scratch, but weights copied from PyTorch would need the first dense layer's rows
 * permuted.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TrainConfig } from "../core/config.ts";
import { createRng, deriveSeed } from "../core/random.ts";
import { dropoutMaskOn } from "../engine/dropout.ts";
import { registerTrainingGradients, reluBackprop } from "../engine/gradients.ts";

/** Side of the square input images. */
const INPUT_SIZE = 32;
/** Colour channels of the input images. */
const INPUT_CHANNELS = 3;
/** Classes the last layer scores. */
const NUM_CLASSES = 10;
/** Convolution kernel side. */
const KERNEL_SIZE = 3;

/** The config fields that decide the architecture and its initialisation. */
export type ModelConfig = Pick<
  TrainConfig,
  "seed" | "convChannels" | "poolEvery" | "hiddenUnits" | "dropout" | "weightsInitNormal"
>;

/** One layer of the network, as listed by the summary. */
export interface LayerSpec {
  /** Name, e.g. `conv1`, `pool1`, `fc1`. */
  name: string;
  /** What the layer does, e.g. `Conv2d 3→16, 3×3, padding 1, ReLU`. */
  type: string;
  /** Output shape without the batch dimension, NHWC: `[32, 32, 16]`, `[8192]`. */
  outputShape: number[];
  /** Names of the layer's parameters in `Model.params` (`conv1.weight`, `conv1.bias`). */
  paramNames: string[];
}

/** Options of one forward pass. */
export interface ForwardOptions {
  /**
   * Training mode: dropout is applied, and each convolution block records one fused op for the
   * gradient tape. The input images get no gradient in this mode (zeros: they are data, not
   * parameters); use inference mode to differentiate with respect to the input. @default false
   */
  training?: boolean;
  /** Seed of the dropout masks in training mode; the same seed gives the same masks. @default 0 */
  seed?: number;
}

/** A built network: its named parameters and a forward pass. */
export interface Model {
  /** The architecture config it was built from. */
  readonly config: ModelConfig;
  /** Parameters by PyTorch-style name (`conv1.weight` is `[3, 3, in, out]`, `fc1.weight` `[in, out]`), in layer order. */
  readonly params: Readonly<Record<string, tf.Variable>>;
  /** The layers in order, for summaries. */
  readonly layers: readonly LayerSpec[];
  /**
   * Class scores (logits) for a batch.
   * @param x Normalised images `[batch, 32, 32, 3]`.
   * @param options Training mode and dropout seed.
   * @returns Logits `[batch, 10]`; the caller disposes them.
   */
  forward(x: tf.Tensor4D, options?: ForwardOptions): tf.Tensor2D;
  /**
   * What each convolution extracts: its output after ReLU (before any pooling), in inference
   * mode, one tensor per convolution in order.
   * @param x Normalised images `[batch, 32, 32, 3]`.
   * @returns `[batch, height, width, channels]` per convolution; the caller disposes them.
   */
  featureMaps(x: tf.Tensor4D): tf.Tensor4D[];
  /** Frees the parameters. The model cannot be used afterwards. */
  dispose(): void;
}

/** A parameter's values outside any tensor (for checkpoints and snapshots). */
export interface WeightValues {
  /** The parameter's shape. */
  shape: number[];
  /** Its values in row-major order. */
  values: Float32Array;
}

interface Plan {
  layers: LayerSpec[];
  paramShapes: Map<string, number[]>;
}

/** Works out layers, output shapes and parameter shapes from the config, checking it fits 32×32 inputs. */
function planModel(config: ModelConfig): Plan {
  const { convChannels, poolEvery, hiddenUnits, dropout } = config;
  if (convChannels.length === 0) {
    throw new RangeError("Cannot build the model: convChannels must list at least one convolution");
  }
  const layers: LayerSpec[] = [];
  const paramShapes = new Map<string, number[]>();
  let size = INPUT_SIZE;
  let channels = INPUT_CHANNELS;
  let pools = 0;
  convChannels.forEach((out, i) => {
    const name = `conv${i + 1}`;
    paramShapes.set(`${name}.weight`, [KERNEL_SIZE, KERNEL_SIZE, channels, out]);
    paramShapes.set(`${name}.bias`, [out]);
    layers.push({
      name,
      type: `Conv2d ${channels}→${out}, 3×3, padding 1, ReLU`,
      outputShape: [size, size, out],
      paramNames: [`${name}.weight`, `${name}.bias`],
    });
    channels = out;
    if ((i + 1) % poolEvery === 0) {
      if (size < 2) {
        throw new RangeError(
          `Cannot build the model: pool ${pools + 1} after conv${i + 1} needs a feature map of ` +
            `at least 2×2, found ${size}×${size}; use fewer convolutions or a larger poolEvery ` +
            `(found ${poolEvery})`,
        );
      }
      size = Math.floor(size / 2);
      pools++;
      layers.push({
        name: `pool${pools}`,
        type: "MaxPool 2×2",
        outputShape: [size, size, channels],
        paramNames: [],
      });
    }
  });
  const features = size * size * channels;
  layers.push({ name: "flatten", type: "Flatten", outputShape: [features], paramNames: [] });
  layers.push({
    name: "dropout1",
    type: `Dropout ${dropout}`,
    outputShape: [features],
    paramNames: [],
  });
  paramShapes.set("fc1.weight", [features, hiddenUnits]);
  paramShapes.set("fc1.bias", [hiddenUnits]);
  layers.push({
    name: "fc1",
    type: `Linear ${features}→${hiddenUnits}, ReLU`,
    outputShape: [hiddenUnits],
    paramNames: ["fc1.weight", "fc1.bias"],
  });
  layers.push({
    name: "dropout2",
    type: `Dropout ${dropout}`,
    outputShape: [hiddenUnits],
    paramNames: [],
  });
  paramShapes.set("fc2.weight", [hiddenUnits, NUM_CLASSES]);
  paramShapes.set("fc2.bias", [NUM_CLASSES]);
  layers.push({
    name: "fc2",
    type: `Linear ${hiddenUnits}→${NUM_CLASSES}`,
    outputShape: [NUM_CLASSES],
    paramNames: ["fc2.weight", "fc2.bias"],
  });
  return { layers, paramShapes };
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Initial values of one parameter, as PyTorch would draw them (with our own seeded generator):
 * convolutions keep PyTorch's default, kaiming_uniform(a=√5), which is U(−1/√fan_in, 1/√fan_in) for
 * weight and bias; dense layers get `weights_init_normal` (N(0, 1/√fan_in), bias 0) when
 * `weightsInitNormal` is set, PyTorch's default uniform otherwise.
 */
function initialValues(
  name: string,
  shape: number[],
  config: ModelConfig,
  fanIn: number,
): Float32Array {
  const values = new Float32Array(product(shape));
  const rng = createRng(deriveSeed(config.seed, "init", name));
  const bound = 1 / Math.sqrt(fanIn);
  const isDense = name.startsWith("fc");
  if (isDense && config.weightsInitNormal) {
    if (name.endsWith(".weight")) {
      for (let i = 0; i < values.length; i++) values[i] = rng.normal() * bound;
    }
    return values; // bias stays 0
  }
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-bound, bound);
  return values;
}

/**
 * Builds the network with freshly initialised parameters, seeded from `config.seed`.
 *
 * @param config Architecture knobs (`convChannels`, `poolEvery`, `hiddenUnits`, `dropout`,
 *   `weightsInitNormal`) and the seed; a full `TrainConfig` works.
 * @returns The model; call `dispose()` when done.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel, countParameters } from "./model.ts";
 * await tf.setBackend("cpu");
 * const model = buildModel(makeConfig());
 * if (countParameters(model) !== 4_198_950) throw new Error("wrong size");
 * const logits = model.forward(tf.zeros([2, 32, 32, 3]));
 * if (logits.shape.join() !== "2,10") throw new Error("wrong output");
 * logits.dispose();
 * model.dispose();
 * ```
 */
export function buildModel(config: ModelConfig): Model {
  const { layers, paramShapes } = planModel(config);
  // tfjs-core as Deno resolves it ships no gradients; a model is built to be trained.
  registerTrainingGradients();
  const params: Record<string, tf.Variable> = {};
  for (const [name, shape] of paramShapes) {
    // fan_in of a conv weight [kh, kw, in, out] is kh·kw·in; of a dense weight [in, out] it is in.
    const weightShape = paramShapes.get(name.replace(/\.bias$/, ".weight"))!;
    const fanIn = product(weightShape.slice(0, -1));
    const values = initialValues(name, shape, config, fanIn);
    // Variable names are left to tfjs (they must be unique per engine); ours are the record's keys.
    const initial = tf.tensor(values, shape, "float32");
    params[name] = tf.variable(initial, true);
    initial.dispose(); // the variable holds its own reference to the data
  }
  const convCount = config.convChannels.length;
  const rate = config.dropout;
  let disposed = false;

  const forward = (x: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor2D => {
    if (disposed) throw new Error("Cannot run the model: it has been disposed");
    if (
      x.rank !== 4 || x.shape[1] !== INPUT_SIZE || x.shape[2] !== INPUT_SIZE ||
      x.shape[3] !== INPUT_CHANNELS
    ) {
      throw new RangeError(
        `Cannot run the model: expected input of shape [batch, 32, 32, 3], found [${
          x.shape.join(", ")
        }]`,
      );
    }
    const training = options.training ?? false;
    const seed = options.seed ?? 0;
    const drop = (h: tf.Tensor2D, which: number): tf.Tensor2D =>
      training && rate > 0
        ? tf.mul(
          h,
          tf.tensor2d(
            dropoutMaskOn(tf.getBackend(), h.size, rate, deriveSeed(seed, "dropout", which)),
            h.shape,
          ),
        )
        : h;
    if (!training) return inference(x);
    return tf.tidy(() => {
      let h: tf.Tensor4D = x;
      for (let i = 0; i < convCount; i++) {
        const name = `conv${i + 1}`;
        h = (i === 0 ? convBiasReluFirst : convBiasRelu)(
          h,
          params[`${name}.weight`] as tf.Tensor4D,
          params[`${name}.bias`] as tf.Tensor1D,
        );
        if ((i + 1) % config.poolEvery === 0) h = tf.maxPool(h, 2, 2, "valid");
      }
      let flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
      flat = drop(flat, 1);
      let hidden = tf.relu(
        tf.add(tf.matMul(flat, params["fc1.weight"] as tf.Tensor2D), params["fc1.bias"]!),
      );
      hidden = drop(hidden as tf.Tensor2D, 2);
      return tf.add(
        tf.matMul(hidden as tf.Tensor2D, params["fc2.weight"] as tf.Tensor2D),
        params["fc2.bias"]!,
      ) as tf.Tensor2D;
    });
  };

  /** One convolution block in inference mode: the convolution, its bias and ReLU in one kernel. */
  const convBlock = (h: tf.Tensor4D, name: string): tf.Tensor4D =>
    tf.fused.conv2d({
      x: h,
      filter: params[`${name}.weight`] as tf.Tensor4D,
      strides: 1,
      pad: "same",
      bias: params[`${name}.bias`],
      activation: "relu",
    });

  /**
   * The same function without dropout, for evaluation: each convolution's bias and ReLU fused
   * into it (one output array instead of three), and every activation disposed as soon as the
   * next exists, so a test batch of 1000 holds about two layers' activations instead of all of
   * them. The numbers are the same as the training-mode path's (the fused kernels add the bias
   * and clamp in the same float32 steps).
   */
  const inference = (x: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      let h: tf.Tensor4D = x;
      const advance = <T extends tf.Tensor>(next: T): T => {
        if (h !== x) h.dispose();
        return next;
      };
      for (let i = 0; i < convCount; i++) {
        const name = `conv${i + 1}`;
        h = advance(convBlock(h, name));
        if ((i + 1) % config.poolEvery === 0) h = advance(tf.maxPool(h, 2, 2, "valid"));
      }
      const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
      const hidden = tf.fused.matMul({
        a: flat,
        b: params["fc1.weight"] as tf.Tensor2D,
        bias: params["fc1.bias"],
        activation: "relu",
      });
      advance(flat);
      return tf.fused.matMul({
        a: hidden,
        b: params["fc2.weight"] as tf.Tensor2D,
        bias: params["fc2.bias"],
      }) as tf.Tensor2D;
    });

  const featureMaps = (x: tf.Tensor4D): tf.Tensor4D[] =>
    tf.tidy(() => {
      if (disposed) throw new Error("Cannot run the model: it has been disposed");
      const maps: tf.Tensor4D[] = [];
      let h: tf.Tensor4D = x;
      for (let i = 0; i < convCount; i++) {
        const name = `conv${i + 1}`;
        h = convBlock(h, name);
        maps.push(h);
        if ((i + 1) % config.poolEvery === 0) h = tf.maxPool(h, 2, 2, "valid");
      }
      return maps;
    });

  return {
    featureMaps,
    config: structuredClone({
      seed: config.seed,
      convChannels: config.convChannels,
      poolEvery: config.poolEvery,
      hiddenUnits: config.hiddenUnits,
      dropout: config.dropout,
      weightsInitNormal: config.weightsInitNormal,
    }),
    params,
    layers,
    forward,
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const v of Object.values(params)) v.dispose();
    },
  };
}

/**
 * Counts the model's trainable numbers.
 *
 * @param model The model.
 * @returns The parameter count (4,198,950 for the tutorial's network).
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel, countParameters } from "./model.ts";
 * const model = buildModel(makeConfig({ convChannels: [4], poolEvery: 1, hiddenUnits: 8 }));
 * // conv 3·9·4+4, pool → 16·16·4 = 1024 features, fc1 1024·8+8, fc2 8·10+10
 * if (countParameters(model) !== 112 + 8200 + 90) throw new Error("miscounted");
 * model.dispose();
 * ```
 */
export function countParameters(model: Model): number {
  return Object.values(model.params).reduce((sum, v) => sum + v.size, 0);
}

/**
 * Copies the parameters out of the tensors (a snapshot that later training does not change).
 *
 * @param model The model.
 * @returns Values and shapes by parameter name.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel, getWeights } from "./model.ts";
 * const model = buildModel(makeConfig({ convChannels: [4], hiddenUnits: 8 }));
 * const w = getWeights(model);
 * if (w["fc1.bias"]!.values.some((v) => v !== 0)) throw new Error("dense bias should start at 0");
 * model.dispose();
 * ```
 */
export function getWeights(model: Model): Record<string, WeightValues> {
  const out: Record<string, WeightValues> = {};
  for (const [name, v] of Object.entries(model.params)) {
    out[name] = { shape: [...v.shape], values: new Float32Array(v.dataSync() as Float32Array) };
  }
  return out;
}

/**
 * The model's weights as plain arrays, read asynchronously: {@link getWeights} for every backend,
 * including a GPU one (webgpu in Deno cannot read a tensor back synchronously). Training uses it.
 *
 * @param model The model.
 * @returns A copy of every parameter's shape and values, keyed by parameter name.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel, getWeights, readWeights } from "./model.ts";
 * const model = buildModel(makeConfig({ convChannels: [4], hiddenUnits: 8 }));
 * const read = await readWeights(model), got = getWeights(model);
 * if (read["conv1.weight"]!.values.some((v, i) => v !== got["conv1.weight"]!.values[i])) {
 *   throw new Error("readWeights and getWeights differ");
 * }
 * model.dispose();
 * ```
 */
export async function readWeights(model: Model): Promise<Record<string, WeightValues>> {
  const out: Record<string, WeightValues> = {};
  const params = Object.entries(model.params);
  const values = await Promise.all(params.map(([, v]) => v.data()));
  params.forEach(([name, v], i) => {
    out[name] = { shape: [...v.shape], values: new Float32Array(values[i] as Float32Array) };
  });
  return out;
}

/**
 * Overwrites the parameters with the given values (from a snapshot or a checkpoint).
 *
 * @param model The model to change.
 * @param weights Values by parameter name; every parameter must be present with its exact shape.
 * @throws {RangeError} When a parameter is missing, unexpected, or has another shape.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel, getWeights, setWeights } from "./model.ts";
 * const a = buildModel(makeConfig({ convChannels: [4], hiddenUnits: 8, seed: 1 }));
 * const b = buildModel(makeConfig({ convChannels: [4], hiddenUnits: 8, seed: 2 }));
 * setWeights(b, getWeights(a));
 * if (getWeights(b)["conv1.weight"]!.values[0] !== getWeights(a)["conv1.weight"]!.values[0]) {
 *   throw new Error("not copied");
 * }
 * a.dispose();
 * b.dispose();
 * ```
 */
export function setWeights(model: Model, weights: Readonly<Record<string, WeightValues>>): void {
  const expected = Object.keys(model.params);
  const extra = Object.keys(weights).filter((name) => !(name in model.params));
  if (extra.length > 0) {
    throw new RangeError(
      `Cannot set weights: unexpected parameter(s) ${extra.join(", ")}; the model has ${
        expected.join(", ")
      }`,
    );
  }
  for (const name of expected) {
    const w = weights[name];
    const v = model.params[name]!;
    if (w === undefined) throw new RangeError(`Cannot set weights: parameter "${name}" is missing`);
    if (
      w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i]) ||
      w.values.length !== v.size
    ) {
      throw new RangeError(
        `Cannot set weights: parameter "${name}" expected shape [${v.shape.join(", ")}], found [${
          w.shape.join(", ")
        }] with ${w.values.length} values`,
      );
    }
  }
  for (const name of expected) {
    const v = model.params[name]!;
    tf.tidy(() => v.assign(tf.tensor(weights[name]!.values, v.shape, "float32")));
  }
}
