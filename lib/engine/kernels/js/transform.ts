/**
 * Internal: a `Transform` kernel (`tf.image.transform`, TensorFlow's `ImageProjectiveTransformV3`)
 * for backends built on tfjs's `MathBackendCPU` (`cpu`, `blas`).
 *
 * Why: tfjs-backend-cpu 4.22's kernel `return`s inside its loop over the batch, so only image 0 is
 * transformed and the others come back as the fill value; lib/augment/augment.ts then transforms one
 * image per call (split, 30 kernel calls, concat: ~2 ms per batch of 30 on `blas`). This kernel
 * loops over the whole batch in one pass over typed arrays (~0.6 ms, with the tensor set-up).
 *
 * Semantics: those of tfjs's cpu kernel applied to each image on its own, value for value. Each
 * row `[a0, a1, a2, b0, b1, b2, c0, c1]` maps an output pixel (x, y) to the input point
 * `((a0·x + a1·y + a2) / k, (b0·x + b1·y + b2) / k)` with `k = c0·x + c1·y + 1` (float64
 * arithmetic on the float32 parameters, in that order); `k = 0` gives the fill value. A single row
 * applies to every image. Fill modes `constant` (also any unknown mode, as in tfjs), `nearest`,
 * `reflect` and `wrap` map the point first (TensorFlow's formulas), then `nearest` interpolation
 * rounds it (`Math.round`) and `bilinear` mixes the four neighbours; corners outside the image
 * read the fill value.
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";

/** The kernel's name in tfjs's registry (`tf.Transform`). */
const TRANSFORM = "Transform";

/** Fill modes, as `tf.image.transform` names them. */
type FillMode = "constant" | "nearest" | "reflect" | "wrap";

/** What the batched loops need to know. */
interface TransformGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  /** Whether one transform row serves every image. */
  shared: boolean;
  fillValue: number;
}

/** The nearest-neighbour, constant-fill case (the augmentation's): direct copies of whole pixels. */
function nearestConstant(
  image: Float32Array,
  transforms: Float32Array,
  out: Float32Array,
  g: TransformGeometry,
): void {
  const { batch, inHeight, inWidth, channels, outHeight, outWidth, shared } = g;
  const inRow = inWidth * channels;
  const inImage = inHeight * inRow;
  const outImage = outHeight * outWidth * channels;
  for (let b = 0; b < batch; b++) {
    const t = shared ? 0 : b * 8;
    const a0 = transforms[t]!, a1 = transforms[t + 1]!, a2 = transforms[t + 2]!;
    const b0 = transforms[t + 3]!, b1 = transforms[t + 4]!, b2 = transforms[t + 5]!;
    const c0 = transforms[t + 6]!, c1 = transforms[t + 7]!;
    const inBase = b * inImage;
    let o = b * outImage;
    for (let outY = 0; outY < outHeight; outY++) {
      for (let outX = 0; outX < outWidth; outX++, o += channels) {
        const projection = c0 * outX + c1 * outY + 1;
        // Infinite coordinates lie outside the image: the fill value stays.
        if (projection === 0) continue;
        const x = Math.round((a0 * outX + a1 * outY + a2) / projection);
        const y = Math.round((b0 * outX + b1 * outY + b2) / projection);
        // Also false for NaN coordinates, which read the fill value as in tfjs.
        if (y >= 0 && y < inHeight && x >= 0 && x < inWidth) {
          const i = inBase + y * inRow + x * channels;
          for (let c = 0; c < channels; c++) out[o + c] = image[i + c]!;
        }
      }
    }
  }
}

function clamp(min: number, x: number, max: number): number {
  return Math.max(min, Math.min(x, max));
}

/** TensorFlow's reflect mapping: [abcd] → [dcba|abcd|dcba], as in tfjs's cpu kernel. */
function mapReflect(coord: number, len: number): number {
  let c = coord;
  if (c < 0) {
    if (len <= 1) {
      c = 0;
    } else {
      const sz2 = 2 * len;
      if (c < sz2) c = sz2 * Math.trunc(-c / sz2) + c;
      c = c < -len ? c + sz2 : -c - 1;
    }
  } else if (c > len - 1) {
    if (len <= 1) {
      c = 0;
    } else {
      const sz2 = 2 * len;
      c -= sz2 * Math.trunc(c / sz2);
      if (c >= len) c = sz2 - c - 1;
    }
  }
  return clamp(0, c, len - 1);
}

/** TensorFlow's wrap mapping: [abcd] → [abcd|abcd|abcd], as in tfjs's cpu kernel. */
function mapWrap(coord: number, len: number): number {
  let c = coord;
  if (c < 0) {
    if (len <= 1) {
      c = 0;
    } else {
      const sz = len - 1;
      c += len * (Math.trunc(-c / sz) + 1);
    }
  } else if (c > len - 1) {
    if (len <= 1) {
      c = 0;
    } else {
      const sz = len - 1;
      c -= len * Math.trunc(c / sz);
    }
  }
  return clamp(0, c, len - 1);
}

function mapCoord(coord: number, len: number, mode: FillMode): number {
  switch (mode) {
    case "reflect":
      return mapReflect(coord, len);
    case "wrap":
      return mapWrap(coord, len);
    case "nearest":
      return clamp(0, coord, len - 1);
    default:
      return coord;
  }
}

/** Every other case: tfjs's per-value computation, over the whole batch. */
function generalTransform(
  image: Float32Array,
  transforms: Float32Array,
  out: Float32Array,
  g: TransformGeometry,
  options: { bilinear: boolean; fillMode: FillMode },
): void {
  const { batch, inHeight, inWidth, channels, outHeight, outWidth, shared, fillValue } = g;
  const { bilinear, fillMode } = options;
  const inRow = inWidth * channels;
  const inImage = inHeight * inRow;
  const outImage = outHeight * outWidth * channels;
  const read = (base: number, y: number, x: number, c: number): number =>
    y >= 0 && y < inHeight && x >= 0 && x < inWidth
      ? image[base + y * inRow + x * channels + c]!
      : fillValue;
  for (let b = 0; b < batch; b++) {
    const t = shared ? 0 : b * 8;
    const a0 = transforms[t]!, a1 = transforms[t + 1]!, a2 = transforms[t + 2]!;
    const b0 = transforms[t + 3]!, b1 = transforms[t + 4]!, b2 = transforms[t + 5]!;
    const c0 = transforms[t + 6]!, c1 = transforms[t + 7]!;
    const base = b * inImage;
    let o = b * outImage;
    for (let outY = 0; outY < outHeight; outY++) {
      for (let outX = 0; outX < outWidth; outX++, o += channels) {
        const projection = c0 * outX + c1 * outY + 1;
        if (projection === 0) continue;
        const x = mapCoord((a0 * outX + a1 * outY + a2) / projection, inWidth, fillMode);
        const y = mapCoord((b0 * outX + b1 * outY + b2) / projection, inHeight, fillMode);
        if (!bilinear) {
          const ry = Math.round(y), rx = Math.round(x);
          for (let c = 0; c < channels; c++) out[o + c] = read(base, ry, rx, c);
          continue;
        }
        const yFloor = Math.floor(y), xFloor = Math.floor(x);
        const yCeil = yFloor + 1, xCeil = xFloor + 1;
        for (let c = 0; c < channels; c++) {
          // The same products and sums, in the same order, as tfjs's bilinearInterpolation.
          const valueYFloor = (xCeil - x) * read(base, yFloor, xFloor, c) +
            (x - xFloor) * read(base, yFloor, xCeil, c);
          const valueYCeil = (xCeil - x) * read(base, yCeil, xFloor, c) +
            (x - xFloor) * read(base, yCeil, xCeil, c);
          out[o + c] = (yCeil - y) * valueYFloor + (y - yFloor) * valueYCeil;
        }
      }
    }
  }
}

function float32Values(backend: MathBackendCPU, info: TensorInfo, name: string): Float32Array {
  const values = backend.data.get(info.dataId)?.values;
  if (!(values instanceof Float32Array)) {
    throw new TypeError(
      `Cannot run the Transform kernel: expected ${name} to hold float32 values, found ${info.dtype}`,
    );
  }
  return values;
}

/**
 * The `Transform` kernel function for `MathBackendCPU`-based backends: every image of the batch,
 * nearest or bilinear interpolation, all four fill modes. Float32 in and out (`tf.image.transform`
 * converts its inputs to float32).
 *
 * @param args The kernel's inputs (`image` `[batch, height, width, channels]`, `transforms`
 *   `[batch or 1, 8]`), attributes (`interpolation`, `fillMode`, `fillValue`, `outputShape`) and
 *   backend.
 * @returns The transformed images `[batch, outHeight, outWidth, channels]`, float32.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { transformKernel } from "./transform.ts";
 * await tf.setBackend("cpu");
 * const backend = tf.backend() as MathBackendCPU;
 * const image = tf.tensor4d([1, 2, 3, 4], [2, 1, 2, 1]);
 * const flip = tf.tensor2d([[-1, 0, 1, 0, 1, 0, 0, 0]]);
 * const attrs = { interpolation: "nearest", fillMode: "constant", fillValue: 0 };
 * const out = transformKernel({ inputs: { image, transforms: flip }, attrs, backend }) as tf.TensorInfo;
 * // Both images are flipped (tfjs 4.22's cpu kernel leaves the second as zeros).
 * const values = backend.readSync(out.dataId) as Float32Array;
 * if (values.join() !== "2,1,4,3") throw new Error(`got ${values}`);
 * backend.disposeData(out.dataId);
 * tf.dispose([image, flip]);
 * ```
 */
export const transformKernel: KernelFunc = (args) => {
  const backend = args.backend as MathBackendCPU;
  const { image, transforms } = args.inputs as { image: TensorInfo; transforms: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const interpolation = attrs.interpolation as string;
  const fillMode = attrs.fillMode as FillMode;
  const fillValue = attrs.fillValue as number;
  const outputShape = attrs.outputShape as [number, number] | null | undefined;
  if (interpolation !== "nearest" && interpolation !== "bilinear") {
    throw new Error(
      `Error in Transform: Expect 'nearest' or 'bilinear', but got ${interpolation}`,
    );
  }
  const [batch, inHeight, inWidth, channels] = image.shape as [number, number, number, number];
  const [outHeight, outWidth] = outputShape ?? [inHeight, inWidth];
  const outShape = [batch, outHeight, outWidth, channels];
  // A fresh array, not the blas pool's: importing lib/engine/kernels/blas/blas_backend.ts would load the cpu
  // backend whenever lib/engine/kernels/js/cpu.ts is imported, and 92,160 floats per batch cost little.
  const out = new Float32Array(batch * outHeight * outWidth * channels).fill(fillValue);
  const g: TransformGeometry = {
    batch,
    inHeight,
    inWidth,
    channels,
    outHeight,
    outWidth,
    shared: transforms.shape[0] === 1,
    fillValue,
  };
  const imageValues = float32Values(backend, image, "image");
  const transformValues = float32Values(backend, transforms, "transforms");
  const constant = fillMode !== "nearest" && fillMode !== "reflect" && fillMode !== "wrap";
  if (interpolation === "nearest" && constant) {
    nearestConstant(imageValues, transformValues, out, g);
  } else {
    generalTransform(imageValues, transformValues, out, g, {
      bilinear: interpolation === "bilinear",
      fillMode,
    });
  }
  return backend.makeTensorInfo(outShape, "float32", out);
};

/**
 * The kernel's registration for one backend (to pass to `overrideKernel` or `tf.registerKernel`).
 *
 * @param backendName A backend whose tensors live in a `MathBackendCPU` (`cpu`, `blas`).
 * @returns `{ kernelName: "Transform", backendName, kernelFunc }`.
 * @example
 * ```ts
 * import { transformKernelConfig } from "./transform.ts";
 * if (transformKernelConfig("cpu").kernelName !== "Transform") throw new Error("wrong name");
 * ```
 */
export function transformKernelConfig(backendName: string): KernelConfig {
  return { kernelName: TRANSFORM, backendName, kernelFunc: transformKernel };
}
