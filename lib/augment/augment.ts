/**
 * Training-time augmentation and normalisation, as the tutorial's torchvision pipeline:
 *
 * ```python
 * transforms.Compose([
 *     transforms.RandomHorizontalFlip(),   # p = 0.5
 *     transforms.RandomRotation(20),       # angle ~ U[-20, 20) degrees, nearest, fill 0
 *     transforms.ToTensor(),               # x / 255
 *     transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
 * ])
 * ```
 *
 * Whole batches go through tensor ops: each image gets ONE projective transform that combines
 * its flip and its rotation (`tf.image.transform`, the `ImageProjectiveTransformV3` kernel,
 * nearest neighbour, constant fill 0), then `(x / 255 − mean) / std`.
 *
 * Geometry, pinned against torchvision 0.14 / Pillow 9.4 (the tutorial applies the transforms to
 * PIL images, so `PIL.Image.rotate` decides the pixels):
 * - Positive angles rotate counter-clockwise as the image is shown (rows run downwards), like
 *   `torchvision.transforms.functional.rotate` and `PIL.Image.rotate`.
 * - The centre of rotation is the centre of the image: `(w/2, h/2)` in PIL's continuous
 *   coordinates, where pixel `i` covers `[i, i+1)`; that is `((w−1)/2, (h−1)/2)` in pixel
 *   indices (15.5, 15.5 for CIFAR-10). torchvision's tensor path (`_gen_affine_grid`, grid
 *   `x − (w−1)/2`) uses the same centre.
 * - The flip comes first, then the rotation (the order of the `Compose`).
 * - Pixels whose source falls outside the image get 0 (black) before normalisation, so −1 after.
 * - Nearest neighbour rounds the source coordinate; Pillow takes `floor(x + 0.5)`, the `cpu`
 *   kernel `Math.round` (the same), the `wasm` kernel rounds halves away from zero. They differ
 *   only when a source coordinate is exactly −0.5 — never for flips and multiples of 90° on the
 *   pixel grid, and with probability 0 for random angles.
 * - Like PIL, the sine and cosine are rounded to 15 decimals, so 90° rotations are exact.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { DEFAULT_CONFIG, type TrainConfig } from "../core/config.ts";
import type { Rng } from "../core/random.ts";
import { CHANNELS, IMAGE_BYTES, IMAGE_SIZE } from "../data/format.ts";

/** The config fields this module reads. A full `TrainConfig` fits. */
export type AugmentationConfig = Pick<
  TrainConfig,
  "flipProbability" | "rotationDegrees" | "normalizeMean" | "normalizeStd"
>;

/** The random choices made for one image. */
export interface ImageAugmentation {
  /** Mirror left–right (before rotating). */
  flip: boolean;
  /** Rotation in degrees; positive is counter-clockwise as displayed. */
  angle: number;
}

/** How to draw augmentations; missing fields take the tutorial's defaults. */
export interface AugmentOptions {
  /** Probability of a horizontal flip per image, in [0, 1]; 0 switches flips off. @default 0.5 */
  flipProbability?: number;
  /** Maximum rotation r in degrees, in [0, 180]: angles are uniform in [−r, r). 0 switches rotation off. @default 20 */
  rotationDegrees?: number;
}

/** Normalisation constants, applied to every channel. */
export interface NormalizeOptions {
  /** Mean subtracted from pixels scaled to [0, 1]. @default 0.5 */
  mean?: number;
  /** Standard deviation divided by; must be > 0. @default 0.5 */
  std?: number;
}

/** Options of {@link batchToTensor}. */
export interface BatchToTensorOptions {
  /** Apply random flip and rotation (training batches); false only normalises (test batches). */
  augment: boolean;
  /** The generator for the augmentation draws; required when `augment` is true. */
  rng?: Rng;
  /** Augmentation and normalisation settings (a `TrainConfig`). */
  config: AugmentationConfig;
}

function checkAugmentOptions(
  options: AugmentOptions,
): { flipProbability: number; rotationDegrees: number } {
  const flipProbability = options.flipProbability ?? DEFAULT_CONFIG.flipProbability;
  const rotationDegrees = options.rotationDegrees ?? DEFAULT_CONFIG.rotationDegrees;
  if (!(flipProbability >= 0 && flipProbability <= 1)) {
    throw new RangeError(
      `Cannot augment images: expected flipProbability in [0, 1], found ${flipProbability}`,
    );
  }
  if (!(rotationDegrees >= 0 && rotationDegrees <= 180)) {
    throw new RangeError(
      `Cannot augment images: expected rotationDegrees in [0, 180], found ${rotationDegrees}`,
    );
  }
  return { flipProbability, rotationDegrees };
}

/**
 * Draws the flip and the angle of each image. Per image, in order: one `rng.next()` for the flip
 * (flipped when below `flipProbability`, as `torch.rand(1) < p`), then one `rng.uniform(−r, r)`
 * for the angle. Both are drawn even when switched off, so changing one setting leaves the other's
 * draws unchanged.
 *
 * @param count Number of images.
 * @param rng The generator (e.g. `createRng(deriveSeed(config.seed, "augment", epoch))`).
 * @param options Flip probability and maximum rotation.
 * @returns One {@link ImageAugmentation} per image.
 * @example
 * ```ts
 * import { drawAugmentations } from "./augment.ts";
 * import { createRng } from "../core/random.ts";
 * const draws = drawAugmentations(4, createRng(1), { flipProbability: 0, rotationDegrees: 10 });
 * if (draws.some((d) => d.flip || Math.abs(d.angle) > 10)) throw new Error("out of range");
 * ```
 */
export function drawAugmentations(
  count: number,
  rng: Rng,
  options: AugmentOptions = {},
): ImageAugmentation[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(
      `Cannot draw augmentations: expected count to be an integer ≥ 0, found ${count}`,
    );
  }
  const { flipProbability, rotationDegrees } = checkAugmentOptions(options);
  const draws: ImageAugmentation[] = [];
  for (let i = 0; i < count; i++) {
    const flip = rng.next() < flipProbability;
    const angle = rng.uniform(-rotationDegrees, rotationDegrees);
    // uniform(-0, 0) is -0 + 0·u = 0: no rotation when switched off.
    draws.push({ flip, angle: rotationDegrees === 0 ? 0 : angle });
  }
  return draws;
}

/** cos/sin rounded to 15 decimals as Pillow does, so multiples of 90° give exact 0 and ±1. */
function round15(value: number): number {
  return Math.round(value * 1e15) / 1e15;
}

/**
 * Builds the 8-parameter projective transform of each image for `tf.image.transform`:
 * `[a0, a1, a2, b0, b1, b2, 0, 0]` maps an OUTPUT pixel (x, y) (column, row indices) to the INPUT
 * pixel it copies, `(a0·x + a1·y + a2, b0·x + b1·y + b2)`. With `c = ((w−1)/2, (h−1)/2)`,
 * `s = −1` for a flip (else 1) and the angle θ: `x_in − cx = s·(cosθ·dx − sinθ·dy)`,
 * `y_in − cy = sinθ·dx + cosθ·dy`, where `(dx, dy) = (x − cx, y − cy)`: the inverse of "flip, then
 * rotate θ counter-clockwise about the centre".
 *
 * @param augmentations One flip/angle per image.
 * @param options The image size in pixels.
 * @returns A `Float32Array` of `8 × augmentations.length` numbers, one row of 8 per image.
 * @example
 * ```ts
 * import { augmentationMatrices } from "./augment.ts";
 * const m = augmentationMatrices([{ flip: true, angle: 0 }], { height: 32, width: 32 });
 * // A flip reads column 31 − x: a0 = −1, a2 = 31, rows unchanged.
 * if (m[0] !== -1 || m[2] !== 31 || m[4] !== 1 || m[5] !== 0) throw new Error("bad flip");
 * ```
 */
export function augmentationMatrices(
  augmentations: readonly ImageAugmentation[],
  options: { height: number; width: number },
): Float32Array {
  const cx = (options.width - 1) / 2;
  const cy = (options.height - 1) / 2;
  const out = new Float32Array(augmentations.length * 8);
  augmentations.forEach(({ flip, angle }, i) => {
    const theta = (angle * Math.PI) / 180;
    const cos = round15(Math.cos(theta)), sin = round15(Math.sin(theta));
    const s = flip ? -1 : 1;
    const a0 = s * cos, a1 = -s * sin, b0 = sin, b1 = cos;
    // + 0 turns −0 into 0, so identity rows compare equal to [1, 0, 0, 0, 1, 0, 0, 0].
    out.set(
      [a0 + 0, a1 + 0, cx - a0 * cx - a1 * cy + 0, b0, b1, cy - b0 * cx - b1 * cy + 0, 0, 0],
      i * 8,
    );
  });
  return out;
}

/**
 * Backends whose tensors live on a device other than the CPU: there `batchToTensor` uploads the
 * pixels and augments and normalises them with tensor kernels on the device. Elsewhere one JS
 * pass over the bytes is cheaper than the kernels (and gives the same bits).
 */
const DEVICE_BACKENDS: ReadonlySet<string> = new Set(["webgpu", "webgl"]);

/** Per backend name: the Transform kernel last probed, and whether it transforms every image. */
const batchedTransformWorks = new Map<string, { kernel: unknown; works: boolean }>();

/**
 * tfjs-backend-cpu 4.22's Transform kernel returns inside its loop over the batch, so only image 0
 * is transformed and the others come back as the fill value (lib/engine/kernels/js/transform.ts replaces it
 * on `cpu` and `blas`). Probe each backend's kernel once with a two-image flip, again whenever a
 * different kernel is registered; where the batched kernel is broken, transform one image at a time.
 */
function transformHandlesBatches(): boolean {
  const backend = tf.getBackend();
  const kernel = tf.getKernel(tf.Transform, backend)?.kernelFunc;
  const known = batchedTransformWorks.get(backend);
  if (known !== undefined && known.kernel === kernel) return known.works;
  // A GPU backend cannot read the probe back synchronously (webgpu's dataSync needs a canvas
  // Deno lacks); its Transform shader indexes every image (tests/engine/webgpu_test.ts compares
  // its batches with the CPU path's).
  if (DEVICE_BACKENDS.has(backend)) return true;
  const flipped = tf.tidy(() => {
    const image = tf.tensor4d([1, 2, 3, 4], [2, 1, 2, 1]);
    const flip = tf.tensor2d([[-1, 0, 1, 0, 1, 0, 0, 0], [-1, 0, 1, 0, 1, 0, 0, 0]]);
    return Array.from(tf.image.transform(image, flip, "nearest", "constant", 0).dataSync());
  });
  const works = flipped.join() === "2,1,4,3";
  batchedTransformWorks.set(backend, { kernel, works });
  return works;
}

/**
 * Applies given flips and rotations to a batch of images (pixel values, any range), one combined
 * transform per image, nearest neighbour, fill 0.
 *
 * @param x Images `[n, height, width, channels]`, NHWC. Not disposed.
 * @param augmentations One flip/angle per image (length n).
 * @returns A new tensor of the same shape; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { applyAugmentations } from "./augment.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
 * const y = applyAugmentations(x, [{ flip: false, angle: 90 }]);
 * // Counter-clockwise: the right column becomes the top row.
 * if (y.dataSync().join() !== "2,4,1,3") throw new Error(`got ${y.dataSync()}`);
 * tf.dispose([x, y]);
 * ```
 */
export function applyAugmentations(
  x: tf.Tensor4D,
  augmentations: readonly ImageAugmentation[],
): tf.Tensor4D {
  const [count, height, width] = x.shape;
  if (augmentations.length !== count) {
    throw new RangeError(
      `Cannot augment images: expected ${count} augmentations (one per image), found ${augmentations.length}`,
    );
  }
  if (augmentations.every((a) => !a.flip && a.angle === 0) || count === 0) return x.clone();
  const matrices = augmentationMatrices(augmentations, { height, width });
  const batched = transformHandlesBatches();
  return tf.tidy(() => {
    const transforms = tf.tensor2d(matrices, [count, 8]);
    if (batched) return tf.image.transform(x, transforms, "nearest", "constant", 0);
    const images = tf.split(x, count, 0) as tf.Tensor4D[];
    const rows = tf.split(transforms, count, 0) as tf.Tensor2D[];
    return tf.concat(
      images.map((image, i) => tf.image.transform(image, rows[i]!, "nearest", "constant", 0)),
      0,
    );
  });
}

/**
 * Randomly flips and rotates each image of a batch (torchvision's `RandomHorizontalFlip` then
 * `RandomRotation`): draws with {@link drawAugmentations}, applies with {@link applyAugmentations}.
 *
 * @param x Images `[n, height, width, channels]` in pixel units (0–255), before normalisation, so
 *   the fill 0 is black as in torchvision. Not disposed.
 * @param rng The generator; the same seed gives the same batch.
 * @param options Flip probability and maximum rotation (defaults: the tutorial's 0.5 and 20°).
 * @returns A new tensor of the same shape; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { augmentBatch } from "./augment.ts";
 * import { createRng } from "../core/random.ts";
 * await tf.setBackend("cpu");
 * const x = tf.randomUniform([2, 8, 8, 3], 0, 255) as tf.Tensor4D;
 * const a = augmentBatch(x, createRng(5)), b = augmentBatch(x, createRng(5));
 * if (a.dataSync().join() !== b.dataSync().join()) throw new Error("not deterministic");
 * tf.dispose([x, a, b]);
 * ```
 */
export function augmentBatch(x: tf.Tensor4D, rng: Rng, options: AugmentOptions = {}): tf.Tensor4D {
  return applyAugmentations(x, drawAugmentations(x.shape[0], rng, options));
}

function checkNormalizeOptions(options: NormalizeOptions): { mean: number; std: number } {
  const mean = options.mean ?? DEFAULT_CONFIG.normalizeMean;
  const std = options.std ?? DEFAULT_CONFIG.normalizeStd;
  if (!Number.isFinite(mean)) {
    throw new RangeError(`Cannot normalise images: expected a finite mean, found ${mean}`);
  }
  if (!(std > 0 && Number.isFinite(std))) {
    throw new RangeError(`Cannot normalise images: expected std > 0, found ${std}`);
  }
  return { mean, std };
}

/**
 * Normalises pixels like `ToTensor()` + `Normalize(mean, std)`: `(x / 255 − mean) / std`, in that
 * order of float32 operations, so 0 → −1, 127.5 → 0 and 255 → 1 exactly for the defaults.
 *
 * @param x Pixels in [0, 255]. Not disposed.
 * @param options Mean and standard deviation (defaults 0.5 and 0.5).
 * @returns A new float32 tensor of the same shape; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { normalizeBatch } from "./augment.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor1d([0, 127.5, 255]);
 * const y = normalizeBatch(x);
 * if (y.dataSync().join() !== "-1,0,1") throw new Error(`got ${y.dataSync()}`);
 * tf.dispose([x, y]);
 * ```
 */
export function normalizeBatch<T extends tf.Tensor>(x: T, options: NormalizeOptions = {}): T {
  const { mean, std } = checkNormalizeOptions(options);
  return tf.tidy(() => tf.div(tf.sub(tf.div(tf.cast(x, "float32"), 255), mean), std)) as T;
}

/**
 * Undoes {@link normalizeBatch} for display: `(x · std + mean) · 255`, as floats in pixel units
 * (not rounded or clipped; `tensorToPixels` in lib/plots/images.ts does that).
 *
 * @param x Normalised values. Not disposed.
 * @param options The mean and standard deviation used to normalise (defaults 0.5 and 0.5).
 * @returns A new float32 tensor of the same shape; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { denormalize } from "./augment.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor1d([-1, 0, 1]);
 * const y = denormalize(x);
 * if (y.dataSync().join() !== "0,127.5,255") throw new Error(`got ${y.dataSync()}`);
 * tf.dispose([x, y]);
 * ```
 */
export function denormalize<T extends tf.Tensor>(x: T, options: NormalizeOptions = {}): T {
  const { mean, std } = checkNormalizeOptions(options);
  return tf.tidy(() => tf.mul(tf.add(tf.mul(tf.cast(x, "float32"), std), mean), 255)) as T;
}

function checkPixels(images: Uint8Array, size: number): void {
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(
      `Cannot convert images to a tensor: expected size to be an integer ≥ 1, found ${size}`,
    );
  }
  if (!(images instanceof Uint8Array) || images.length !== size * IMAGE_BYTES) {
    throw new RangeError(
      `Cannot convert images to a tensor: expected images to be a Uint8Array of size × ${IMAGE_BYTES} = ${
        size * IMAGE_BYTES
      } bytes, found ${
        images instanceof Uint8Array
          ? `${images.length} bytes`
          : Object.prototype.toString.call(images)
      }`,
    );
  }
}

/**
 * Turns CIFAR-10 pixel bytes into a float32 tensor of pixel values (0–255), unnormalised.
 *
 * @param images `size × 32 × 32 × 3` bytes, NHWC (the `images` of a `Batch` or `ImageSet`).
 * @param size Number of images.
 * @returns A float32 tensor `[size, 32, 32, 3]`; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { pixelsToTensor } from "./augment.ts";
 * await tf.setBackend("cpu");
 * const x = pixelsToTensor(new Uint8Array(2 * 3072).fill(7), 2);
 * if (x.shape.join() !== "2,32,32,3" || x.dataSync()[5] !== 7) throw new Error("bad");
 * x.dispose();
 * ```
 */
export function pixelsToTensor(images: Uint8Array, size: number): tf.Tensor4D {
  checkPixels(images, size);
  // The typed-array constructor converts bytes to floats natively (no per-pixel JS loop).
  return tf.tensor4d(new Float32Array(images), [size, IMAGE_SIZE, IMAGE_SIZE, CHANNELS], "float32");
}

/**
 * The normalised value of each pixel level: `(v / 255 − mean) / std` for v = 0…255, rounded to
 * float32 after each operation, as {@link normalizeBatch}'s three tensor operations round them.
 *
 * @param options Mean and standard deviation (defaults 0.5 and 0.5).
 * @returns 256 values; level 0 is also what the augmentation's fill (black) becomes.
 * @example
 * ```ts
 * import { normalizedLevels } from "./augment.ts";
 * const levels = normalizedLevels();
 * if (levels[0] !== -1 || levels[255] !== 1 || levels.length !== 256) throw new Error("bad");
 * ```
 */
export function normalizedLevels(options: NormalizeOptions = {}): Float32Array {
  const { mean, std } = checkNormalizeOptions(options);
  const f = Math.fround, m = f(mean), d = f(std);
  return Float32Array.from({ length: 256 }, (_, v) => f(f(f(v / 255) - m) / d));
}

/**
 * Pixel bytes → the float32 values {@link batchToTensor} puts in its tensor: each image flipped
 * and rotated as drawn (nearest neighbour, black fill, the `Transform` kernel's arithmetic) and
 * normalised, in one pass over the bytes through {@link normalizedLevels}. The same numbers, bit
 * for bit, as `normalizeBatch(applyAugmentations(pixelsToTensor(images, size), draws))` on the
 * CPU backends, with no tensor and no kernel call per step (that path took ~0.9 ms of a batch of
 * 30 on "blas": five kernels and their arrays).
 *
 * @param images `size × 32 × 32 × 3` bytes, NHWC.
 * @param size Number of images.
 * @param draws One flip/angle per image, or null for none.
 * @param levels From {@link normalizedLevels}.
 * @returns `size × 3072` values.
 */
function batchValues(
  images: Uint8Array,
  size: number,
  draws: readonly ImageAugmentation[] | null,
  levels: Float32Array,
): Float32Array {
  const out = new Float32Array(size * IMAGE_BYTES);
  if (draws === null) {
    for (let i = 0; i < out.length; i++) out[i] = levels[images[i]!]!;
    return out;
  }
  const matrices = augmentationMatrices(draws, { height: IMAGE_SIZE, width: IMAGE_SIZE });
  const fill = levels[0]!, row = IMAGE_SIZE * CHANNELS;
  for (let b = 0; b < size; b++) {
    const t = b * 8, base = b * IMAGE_BYTES;
    const a0 = matrices[t]!, a1 = matrices[t + 1]!, a2 = matrices[t + 2]!;
    const b0 = matrices[t + 3]!, b1 = matrices[t + 4]!, b2 = matrices[t + 5]!;
    let o = base;
    for (let outY = 0; outY < IMAGE_SIZE; outY++) {
      for (let outX = 0; outX < IMAGE_SIZE; outX++, o += CHANNELS) {
        // The Transform kernel's point (lib/engine/kernels/js/transform.ts): float64 arithmetic
        // on the float32 matrix; its projection is 1 for these affine rows (c0 = c1 = 0).
        const x = Math.round(a0 * outX + a1 * outY + a2);
        const y = Math.round(b0 * outX + b1 * outY + b2);
        if (y >= 0 && y < IMAGE_SIZE && x >= 0 && x < IMAGE_SIZE) {
          const from = base + y * row + x * CHANNELS;
          out[o] = levels[images[from]!]!;
          out[o + 1] = levels[images[from + 1]!]!;
          out[o + 2] = levels[images[from + 2]!]!;
        } else {
          out[o] = fill;
          out[o + 1] = fill;
          out[o + 2] = fill;
        }
      }
    }
  }
  return out;
}

/**
 * The data contract's entry point: pixel bytes → float32 tensor `[size, 32, 32, 3]`, optionally
 * augmented (random flip, then random rotation, drawn from `options.rng`), then normalised with
 * the config's mean and std. On CPU backends in one JS pass; on a GPU backend (webgpu) with
 * tensor kernels on the device. Training batches pass `augment: true`; test batches `false`.
 *
 * @param images `size × 32 × 32 × 3` bytes, NHWC.
 * @param size Number of images.
 * @param options `augment`, the `rng` (required when augmenting) and the `config`.
 * @returns A new tensor; the caller disposes it. No other tensor is left behind.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { batchToTensor } from "./augment.ts";
 * import { makeConfig } from "../core/config.ts";
 * import { createRng } from "../core/random.ts";
 * await tf.setBackend("cpu");
 * const pixels = new Uint8Array(3 * 3072).fill(255);
 * const x = batchToTensor(pixels, 3, { augment: true, rng: createRng(1), config: makeConfig() });
 * // White stays 1; corners rotated in from outside are black, i.e. −1.
 * if (x.shape.join() !== "3,32,32,3" || x.dataSync().some((v) => v !== 1 && v !== -1)) {
 *   throw new Error("expected only 1 and -1");
 * }
 * x.dispose();
 * ```
 */
export function batchToTensor(
  images: Uint8Array,
  size: number,
  options: BatchToTensorOptions,
): tf.Tensor4D {
  const { augment, rng, config } = options;
  if (augment && rng === undefined) {
    throw new TypeError(
      "Cannot augment a batch: expected options.rng (a generator from lib/core/random.ts) when options.augment is true, found undefined",
    );
  }
  checkPixels(images, size);
  const normalize = { mean: config.normalizeMean, std: config.normalizeStd };
  checkNormalizeOptions(normalize);
  // Draw before any tensor work, so a bad setting throws without allocating anything.
  const draws = augment
    ? drawAugmentations(size, rng!, {
      flipProbability: config.flipProbability,
      rotationDegrees: config.rotationDegrees,
    })
    : null;
  if (!DEVICE_BACKENDS.has(tf.getBackend())) {
    const values = batchValues(images, size, draws, normalizedLevels(normalize));
    return tf.tensor4d(values, [size, IMAGE_SIZE, IMAGE_SIZE, CHANNELS], "float32");
  }
  // On a GPU the pixels go up once and the flip, rotation and normalisation run there.
  const pixels = pixelsToTensor(images, size);
  try {
    return tf.tidy(() => {
      const x = draws === null ? pixels : applyAugmentations(pixels, draws);
      return normalizeBatch(x, normalize);
    });
  } finally {
    pixels.dispose();
  }
}
