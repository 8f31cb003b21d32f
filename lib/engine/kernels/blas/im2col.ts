/**
 * Internal: the im2col side of the "blas" backend's convolutions: the JS im2col and col2im loops
 * (the native ones in lib/engine/kernels/native/native.c compute the same bits), how many images
 * one im2col chunk holds, and the two buffers that keep a training step from allocating im2col
 * matrices: grow-only scratch and the forward pass's matrices kept for the filter gradient.
 * @module
 */
import type { backend_util } from "@tensorflow/tfjs-core";
import type { Im2colGeometry } from "../geometry.ts";

type Conv2DInfo = backend_util.Conv2DInfo;

/**
 * Writes the im2col rows of images [n0, n1) of NHWC `x` into `col`: one row per output pixel,
 * columns ordered (filter row, filter column, input channel) like an HWIO filter flattened to
 * [kh·kw·cin, cout], so `col · filter` is the convolution. Padding reads as zeros.
 *
 * @param x Input values, NHWC.
 * @param info The convolution (a tfjs `Conv2DInfo` passes as is).
 * @param n0 First image.
 * @param n1 One past the last image.
 * @param col Destination, `(n1 − n0)·outHeight·outWidth` rows of `kh·kw·cin` values.
 * @example
 * ```ts
 * import { im2col } from "./im2col.ts";
 * // A 2×2 one-channel image and a 2×2 "valid" window: one output pixel, whose row is the image.
 * const info = {
 *   inHeight: 2, inWidth: 2, inChannels: 1, outHeight: 1, outWidth: 1, strideHeight: 1,
 *   strideWidth: 1, padInfo: { top: 0, left: 0 }, filterHeight: 2, filterWidth: 2,
 * };
 * const col = new Float32Array(4);
 * im2col(Float32Array.from([1, 2, 3, 4]), info, 0, 1, col);
 * if (col.join() !== "1,2,3,4") throw new Error(col.join());
 * ```
 */
export function im2col(
  x: Float32Array,
  info: Im2colGeometry,
  n0: number,
  n1: number,
  col: Float32Array,
) {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const top = info.padInfo.top, left = info.padInfo.left;
  const rowLength = filterWidth * inChannels;
  // Even channel counts keep every run at an even offset: move channel pairs as one float64,
  // half the loads and stores. V8 copies Float64Array elements bit for bit (NaN payloads
  // included; a test pins that). The copies sit in small monomorphic helpers on purpose.
  const wide = inChannels % 2 === 0 && x.byteOffset % 8 === 0 && col.byteOffset % 8 === 0;
  const x64 = wide ? new Float64Array(x.buffer, x.byteOffset, x.length >> 1) : EMPTY_F64;
  const col64 = wide ? new Float64Array(col.buffer, col.byteOffset, col.length >> 1) : EMPTY_F64;
  let o = 0;
  for (let n = n0; n < n1; n++) {
    const imageBase = n * inHeight * inWidth * inChannels;
    for (let oh = 0; oh < outHeight; oh++) {
      const ih0 = oh * strideHeight - top;
      for (let ow = 0; ow < outWidth; ow++) {
        const iw0 = ow * strideWidth - left;
        const inside = iw0 >= 0 && iw0 + filterWidth <= inWidth;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = ih0 + kh;
          if (ih < 0 || ih >= inHeight) {
            col.fill(0, o, o + rowLength);
            o += rowLength;
            continue;
          }
          const rowBase = imageBase + ih * inWidth * inChannels;
          if (inside) {
            // The filter row lies inside the image: kw·cin contiguous values in NHWC.
            const src = rowBase + iw0 * inChannels;
            if (wide) copy64(x64, src >> 1, col64, o >> 1, rowLength >> 1);
            else copy32(x, src, col, o, rowLength);
            o += rowLength;
            continue;
          }
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = iw0 + kw;
            if (iw < 0 || iw >= inWidth) {
              col.fill(0, o, o + inChannels);
            } else {
              const src = rowBase + iw * inChannels;
              if (wide) copy64(x64, src >> 1, col64, o >> 1, inChannels >> 1);
              else copy32(x, src, col, o, inChannels);
            }
            o += inChannels;
          }
        }
      }
    }
  }
}

const EMPTY_F64 = new Float64Array(0);

function copy32(from: Float32Array, src: number, to: Float32Array, dst: number, length: number) {
  for (let i = 0; i < length; i++) to[dst + i] = from[src + i]!;
}

function copy64(from: Float64Array, src: number, to: Float64Array, dst: number, length: number) {
  for (let i = 0; i < length; i++) to[dst + i] = from[src + i]!;
}

/**
 * The adjoint of {@linkcode im2col}: adds each row of `col` back into images [n0, n1) of `dx`.
 *
 * @param col im2col-shaped gradient rows.
 * @param info The convolution.
 * @param n0 First image.
 * @param n1 One past the last image.
 * @param dx Input gradient, NHWC; added into.
 */
export function col2im(
  col: Float32Array,
  info: Im2colGeometry,
  n0: number,
  n1: number,
  dx: Float32Array,
) {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const top = info.padInfo.top, left = info.padInfo.left;
  const rowLength = filterWidth * inChannels;
  let o = 0;
  for (let n = n0; n < n1; n++) {
    const imageBase = n * inHeight * inWidth * inChannels;
    for (let oh = 0; oh < outHeight; oh++) {
      const ih0 = oh * strideHeight - top;
      for (let ow = 0; ow < outWidth; ow++) {
        const iw0 = ow * strideWidth - left;
        const inside = iw0 >= 0 && iw0 + filterWidth <= inWidth;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = ih0 + kh;
          if (ih < 0 || ih >= inHeight) {
            o += rowLength;
            continue;
          }
          const rowBase = imageBase + ih * inWidth * inChannels;
          if (inside) {
            let dst = rowBase + iw0 * inChannels;
            const end = o + rowLength;
            while (o < end) dx[dst++]! += col[o++]!;
            continue;
          }
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = iw0 + kw;
            if (iw < 0 || iw >= inWidth) {
              o += inChannels;
            } else {
              let dst = rowBase + iw * inChannels;
              const end = o + inChannels;
              while (o < end) dx[dst++]! += col[o++]!;
            }
          }
        }
      }
    }
  }
}

/**
 * Images per chunk so that one chunk's im2col matrix stays near `chunkElements` values.
 *
 * @param info The convolution.
 * @param chunkElements Target size of one chunk, in float32 values.
 * @returns Images per chunk, at least 1 and at most the batch.
 */
export function imagesPerChunk(info: Conv2DInfo, chunkElements: number): number {
  const rowsPerImage = info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  return Math.max(1, Math.min(info.batchSize, Math.floor(chunkElements / (rowsPerImage * k))));
}

/** Grow-only scratch buffers, one per purpose, reused across calls (kernels run synchronously). */
export class Scratch {
  #buffers = new Map<string, Float32Array>();
  /** The first `length` values of the buffer for `purpose` (grown when shorter), contents stale. */
  get(purpose: string, length: number): Float32Array {
    let buffer = this.#buffers.get(purpose);
    if (buffer === undefined || buffer.length < length) {
      buffer = new Float32Array(length);
      this.#buffers.set(purpose, buffer);
    }
    return buffer.subarray(0, length);
  }
}

/**
 * Identifies a convolution's geometry, so that a cached im2col matrix is only reused as-is.
 *
 * @param info The convolution.
 * @returns A key equal for equal geometries.
 */
export function convKey(info: Conv2DInfo): string {
  const p = info.padInfo;
  return [
    ...info.inShape,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    p.top,
    p.left,
    info.outHeight,
    info.outWidth,
  ].join(",");
}

/**
 * im2col matrices built by a recorded forward convolution, by the input's data id, waiting for
 * the filter gradient (which reads the same matrix). Claimed matrices go back to a small pool of
 * arrays reused by the next step, so a training loop allocates them once. Entries whose gradient
 * never comes (the filter needs none) go away with their input's data id.
 */
export class ColumnCache {
  #entries = new WeakMap<object, { key: string; col: Float32Array }>();
  #pool: Float32Array[] = [];
  /** An array of `length` values for a new matrix: a released one of that size, or a fresh one. */
  take(length: number): Float32Array {
    const at = this.#pool.findIndex((a) => a.length === length);
    return at >= 0 ? this.#pool.splice(at, 1)[0]! : new Float32Array(length);
  }
  /** Keeps the matrix built from the input `dataId` with geometry `key`. */
  keep(dataId: object, key: string, col: Float32Array) {
    this.#entries.set(dataId, { key, col });
  }
  /** Takes the matrix kept for this input, or null (none kept, or another geometry's). */
  claim(dataId: object, key: string): Float32Array | null {
    const entry = this.#entries.get(dataId);
    if (entry === undefined) return null;
    this.#entries.delete(dataId);
    return entry.key === key ? entry.col : null;
  }
  /** Hands a claimed matrix back for reuse. */
  release(col: Float32Array) {
    // A few layers' worth; older arrays are left to the garbage collector.
    this.#pool.push(col);
    if (this.#pool.length > 8) this.#pool.shift();
  }
}
