/**
 * What a trained network learned, as pixels a picture can show: the first layer's filters, each
 * convolution's feature maps for an image, the test images it gets most confidently wrong, and
 * saliency maps (how much each input pixel moves the predicted class's score). The tutorial says
 * the convolutions pick up colours, sizes and shapes and invites the reader to look for
 * misclassified pictures; these functions give the numbers for that, and lib/plots draws them.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Model } from "../model/model.ts";

/** Values scaled to bytes 0–255 by their own minimum and maximum (all 128 when constant). */
function toBytes(values: ArrayLike<number>, from: number, length: number, out: Uint8Array, at = 0) {
  let min = Infinity, max = -Infinity;
  for (let i = from; i < from + length; i++) {
    min = Math.min(min, values[i]!);
    max = Math.max(max, values[i]!);
  }
  const span = max - min;
  for (let i = 0; i < length; i++) {
    out[at + i] = span > 0 ? Math.round(((values[from + i]! - min) / span) * 255) : 128;
  }
}

/** The first convolution's filters as small RGB images. */
export interface FilterPatches {
  /** Number of filters (the first convolution's output channels: 16 in the tutorial). */
  count: number;
  /** Filter height and width in pixels (3). */
  size: number;
  /** `count × size × size × 3` bytes, each filter scaled by its own minimum and maximum. */
  pixels: Uint8Array;
}

/**
 * The first convolution's filters (`conv1.weight`, `[3, 3, 3, 16]`) as `count` RGB patches of
 * 3 × 3 pixels: the colours and edges the first layer responds to most.
 *
 * @param model A model (its `conv1.weight` must have 3 input channels).
 * @returns The patches.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { firstLayerFilters } from "./inspect.ts";
 * const model = buildModel(makeConfig({ convChannels: [4], hiddenUnits: 8 }));
 * const filters = await firstLayerFilters(model);
 * if (filters.count !== 4 || filters.pixels.length !== 4 * 27) throw new Error("wrong size");
 * model.dispose();
 * ```
 */
export async function firstLayerFilters(model: Model): Promise<FilterPatches> {
  const weight = model.params["conv1.weight"];
  if (weight === undefined || weight.rank !== 4 || weight.shape[2] !== 3) {
    throw new RangeError(
      `Cannot show the first layer's filters: expected conv1.weight of shape [kh, kw, 3, out], found ${
        weight === undefined ? "none" : `[${weight.shape.join(", ")}]`
      }`,
    );
  }
  const [kh, kw, , count] = weight.shape as [number, number, number, number];
  if (kh !== kw) {
    throw new RangeError(
      `Cannot show the first layer's filters: expected square filters, found ${kh}×${kw}`,
    );
  }
  const values = await weight.data();
  // HWIO → one HWC patch per output channel.
  const patch = new Float32Array(kh * kw * 3), pixels = new Uint8Array(count * patch.length);
  for (let o = 0; o < count; o++) {
    for (let i = 0; i < kh * kw * 3; i++) patch[i] = values[i * count + o]!;
    toBytes(patch, 0, patch.length, pixels, o * patch.length);
  }
  return { count, size: kh, pixels };
}

/** One convolution's feature maps for one image. */
export interface FeatureMapImages {
  /** The layer, e.g. `conv1`. */
  layer: string;
  /** Its output channels (one grey image each). */
  channels: number;
  /** Height and width of each map. */
  height: number;
  width: number;
  /** `channels × height × width` bytes, channel after channel, each scaled by its own range. */
  pixels: Uint8Array;
}

/**
 * The feature maps of one image after each convolution (ReLU included, before pooling), one grey
 * image per channel, each channel scaled to 0–255 by its own range.
 *
 * @param model A model.
 * @param x One normalised image, `[1, 32, 32, 3]` (e.g. `batchToTensor(bytes, 1, …)`). Not disposed.
 * @returns One entry per convolution, in order.
 */
export async function featureMapImages(model: Model, x: tf.Tensor4D): Promise<FeatureMapImages[]> {
  if (x.rank !== 4 || x.shape[0] !== 1) {
    throw new RangeError(
      `Cannot show feature maps: expected one image of shape [1, 32, 32, 3], found [${
        x.shape.join(", ")
      }]`,
    );
  }
  const maps = model.featureMaps(x);
  try {
    return await Promise.all(maps.map(async (map, i) => {
      const [, height, width, channels] = map.shape;
      const values = await map.data();
      const pixels = new Uint8Array(channels * height * width),
        plane = new Float32Array(height * width);
      for (let c = 0; c < channels; c++) {
        for (let p = 0; p < height * width; p++) plane[p] = values[p * channels + c]!;
        toBytes(plane, 0, plane.length, pixels, c * plane.length);
      }
      return { layer: `conv${i + 1}`, channels, height, width, pixels };
    }));
  } finally {
    tf.dispose(maps);
  }
}

/** A test image the model got wrong, with how sure it was. */
export interface Mistake {
  /** Index of the image in the test set. */
  index: number;
  /** Its true class. */
  label: number;
  /** The class predicted. */
  predicted: number;
  /** The predicted class's probability. */
  confidence: number;
}

/**
 * The test images the model gets most confidently wrong: every image whose predicted class is not
 * its label, sorted by the predicted class's probability, highest first (ties: lower index).
 *
 * @param labels True classes, one per image.
 * @param probabilities Softmax outputs, `labels.length × classes` (as `predict` returns them).
 * @param count At most this many.
 * @returns The mistakes.
 * @example
 * ```ts
 * import { confidentMistakes } from "./inspect.ts";
 * const probabilities = new Float32Array([0.9, 0.1, 0.3, 0.7, 0.2, 0.8]);
 * const worst = confidentMistakes(new Int32Array([1, 0, 0]), probabilities, 5);
 * if (worst.map((m) => m.index).join() !== "0,2,1") throw new Error(JSON.stringify(worst));
 * ```
 */
export function confidentMistakes(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  count: number,
): Mistake[] {
  const classes = labels.length === 0 ? 0 : probabilities.length / labels.length;
  if (!Number.isInteger(classes)) {
    throw new RangeError(
      `Cannot find mistakes: expected ${labels.length} rows of probabilities, found ${probabilities.length} values`,
    );
  }
  const mistakes: Mistake[] = [];
  for (let i = 0; i < labels.length; i++) {
    let predicted = 0;
    for (let k = 1; k < classes; k++) {
      if (probabilities[i * classes + k]! > probabilities[i * classes + predicted]!) predicted = k;
    }
    if (predicted !== labels[i]) {
      mistakes.push({
        index: i,
        label: labels[i]!,
        predicted,
        confidence: probabilities[i * classes + predicted]!,
      });
    }
  }
  mistakes.sort((a, b) => b.confidence - a.confidence || a.index - b.index);
  return mistakes.slice(0, count);
}

/** Saliency maps of a batch. */
export interface SaliencyMaps {
  /** The class each image's map is for: the predicted one. */
  predicted: Int32Array;
  /** `n × 32 × 32` bytes: |∂ score / ∂ pixel|, the largest over the three colours, per image scaled to 0–255. */
  pixels: Uint8Array;
}

/**
 * Saliency maps (Simonyan et al. 2014): the gradient of each image's predicted-class score (its
 * logit) with respect to the input pixels, in inference mode; its absolute value, the largest of
 * the three colour channels, scaled per image. Bright pixels are those that move the score most.
 *
 * @param model A model.
 * @param x Normalised images `[n, 32, 32, 3]`. Not disposed.
 * @returns The predicted classes and the maps.
 */
export async function saliencyMaps(model: Model, x: tf.Tensor4D): Promise<SaliencyMaps> {
  const [n, height, width] = x.shape;
  const predictedTensor = tf.tidy(() => tf.argMax(model.forward(x), 1));
  const predicted = new Int32Array(await predictedTensor.data());
  const mask = tf.oneHot(predictedTensor as tf.Tensor1D, model.params["fc2.bias"]!.shape[0]!);
  predictedTensor.dispose();
  const gradient = tf.tidy(() => {
    const scoreOf = (input: tf.Tensor) => tf.sum(tf.mul(model.forward(input as tf.Tensor4D), mask));
    return tf.max(tf.abs(tf.grad(scoreOf)(x)), 3);
  });
  mask.dispose();
  const values = await gradient.data();
  gradient.dispose();
  const pixels = new Uint8Array(n * height * width);
  for (let i = 0; i < n; i++) {
    toBytes(values, i * height * width, height * width, pixels, i * height * width);
  }
  return { predicted, pixels };
}
