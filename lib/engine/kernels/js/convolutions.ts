/**
 * Internal: NHWC 2-D convolutions (dilation 1) as direct loops over typed arrays, for the `cpu`
 * backend's kernels (js/cpu.ts): the forward pass and both gradients. Rank-1 updates keep the
 * inner loops contiguous over channels and skip the zeros ReLU leaves in inputs and gradients;
 * sums run in float64.
 * @module
 */
import type { ConvGeometry } from "../geometry.ts";
import { permuteInto } from "./layout.ts";

/**
 * Filter gradient of an NHWC convolution by direct loops:
 * `dw[kh, kw, ci, co] = Σ x[b, oh·sh+kh−pt, ow·sw+kw−pl, ci] · dy[b, oh, ow, co]`.
 * Rank-1 updates keep the inner loop contiguous over output channels; zero inputs (ReLU
 * outputs, about half) are skipped. Accumulates in float64.
 *
 * @param x Input values `[b, h, w, ci]`.
 * @param dy Output gradient `[b, oh, ow, co]`.
 * @param g Geometry.
 * @returns The filter gradient `[kh, kw, ci, co]`.
 * @example
 * ```ts
 * import { conv2dFilterGrad } from "./convolutions.ts";
 * import { convGeometry } from "../geometry.ts";
 * // A 1×1 filter's gradient is Σ x·dy over all pixels: 1·1 + 2·1 + 3·1 + 4·1.
 * const g = convGeometry([1, 2, 2, 1], [1, 1, 1, 1], { strides: 1, pad: "valid", dataFormat: "NHWC" });
 * const dw = conv2dFilterGrad(Float32Array.from([1, 2, 3, 4]), new Float32Array(4).fill(1), g);
 * if (dw[0] !== 10) throw new Error(String(dw[0]));
 * ```
 */
export function conv2dFilterGrad(x: Float32Array, dy: Float32Array, g: ConvGeometry): Float32Array {
  return windowUpdates(x, dy, g, "filter");
}

/**
 * The loop both direct convolution kernels share: for every output pixel and every input value
 * `v` its window covers (zeros skipped), a rank-1 update over output channels. Into `"output"`:
 * `y[pixel] += v · w[tap]` (the forward pass, `other` = filter); into `"filter"`:
 * `dw[tap] += v · dy[pixel]` (the filter gradient, `other` = output gradient). Accumulates in
 * float64, in the same order either way.
 */
function windowUpdates(
  x: Float32Array,
  other: Float32Array,
  g: ConvGeometry,
  into: "output" | "filter",
): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { outChannels: O, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: SH, strideWidth: SW, padTop: PT, padLeft: PL } = g;
  const toFilter = into === "filter";
  const acc = new Float64Array(toFilter ? KH * KW * C * O : g.batch * OH * OW * O);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const pixelOff = ((b * OH + oh) * OW + ow) * O;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH - PT + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW - PL + kw;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            let tapOff = (kh * KW + kw) * C * O;
            for (let c = 0; c < C; c++, tapOff += O) {
              const v = x[xOff + c]!;
              if (v === 0) continue;
              const to = toFilter ? tapOff : pixelOff, from = toFilter ? pixelOff : tapOff;
              for (let o = 0; o < O; o++) acc[to + o]! += v * other[from + o]!;
            }
          }
        }
      }
    }
  }
  return Float32Array.from(acc);
}

/** Below this share of zeros in `dy`, dot products beat zero-skipping rank-1 updates. */
const SPARSE_ENOUGH = 0.25;

function zeroShare(values: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return values.length === 0 ? 0 : zeros / values.length;
}

/**
 * Input gradient of an NHWC convolution by direct loops:
 * `dx[b, ih, iw, ci] = Σ w[kh, kw, ci, co] · dy[b, oh, ow, co]` over the taps that read it.
 * When `dy` is sparse (in training, ReLU and max-pool gradients zero half to three quarters of it),
 * rank-1 updates of `dx` rows from the filter transposed to `[kh, kw, co, ci]` skip its zeros;
 * otherwise contiguous dot products over output channels run. Accumulates in float64.
 *
 * @param dy Output gradient `[b, oh, ow, co]`.
 * @param w Filter `[kh, kw, ci, co]`.
 * @param g Geometry.
 * @returns The input gradient `[b, h, w, ci]`.
 * @example
 * ```ts
 * import { conv2dInputGrad } from "./convolutions.ts";
 * import { convGeometry } from "../geometry.ts";
 * // 3×3 "same" convolution of one pixel: its gradient is the filter's centre tap times dy.
 * const g = convGeometry([1, 1, 1, 1], [3, 3, 1, 1], { strides: 1, pad: "same", dataFormat: "NHWC" });
 * const dx = conv2dInputGrad(Float32Array.from([2]), Float32Array.from([0, 0, 0, 0, 5, 0, 0, 0, 0]), g);
 * if (dx[0] !== 10) throw new Error(String(dx[0]));
 * ```
 */
export function conv2dInputGrad(dy: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { outChannels: O, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: SH, strideWidth: SW, padTop: PT, padLeft: PL } = g;
  const sparse = zeroShare(dy) >= SPARSE_ENOUGH;
  const wT = sparse ? new Float32Array(w.length) : w;
  if (sparse) permuteInto(w, wT, { shape: [KH, KW, C, O], perm: [0, 1, 3, 2] });
  const acc = new Float64Array(g.batch * H * W * C);
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyOff = ((b * OH + oh) * OW + ow) * O;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH - PT + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW - PL + kw;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            const tap = (kh * KW + kw) * C * O;
            if (sparse) {
              for (let o = 0, wOff = tap; o < O; o++, wOff += C) {
                const d = dy[dyOff + o]!;
                if (d === 0) continue;
                for (let c = 0; c < C; c++) acc[xOff + c]! += d * wT[wOff + c]!;
              }
            } else {
              for (let c = 0, wOff = tap; c < C; c++, wOff += O) {
                let sum = 0;
                for (let o = 0; o < O; o++) sum += w[wOff + o]! * dy[dyOff + o]!;
                acc[xOff + c]! += sum;
              }
            }
          }
        }
      }
    }
  }
  return Float32Array.from(acc);
}

/**
 * Forward NHWC convolution (dilation 1) by direct loops: rank-1 updates of output rows, skipping
 * zero inputs (ReLU outputs, about half). Accumulates in float64.
 *
 * @param x Input `[b, h, w, ci]`.
 * @param w Filter `[kh, kw, ci, co]`.
 * @param g Geometry.
 * @returns The output `[b, oh, ow, co]`.
 * @example
 * ```ts
 * import { conv2dForward } from "./convolutions.ts";
 * import { convGeometry } from "../geometry.ts";
 * const g = convGeometry([1, 1, 2, 1], [1, 2, 1, 1], { strides: 1, pad: "valid", dataFormat: "NHWC" });
 * const y = conv2dForward(Float32Array.from([3, 4]), Float32Array.from([10, 100]), g);
 * if (y[0] !== 430) throw new Error(String(y[0]));
 * ```
 */
export function conv2dForward(x: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  return windowUpdates(x, w, g, "output");
}
