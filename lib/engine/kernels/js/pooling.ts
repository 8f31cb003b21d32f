/**
 * Internal: the gradient of an NHWC max-pool in one pass over the windows, with tfjs's cpu
 * kernel's tie and NaN rules; the `cpu` and `wasm` backends' `MaxPoolGrad` (js/cpu.ts,
 * wasm/wasm.ts) run it.
 * @module
 */
import { backend_util } from "@tensorflow/tfjs-core";
import type { Shape4 } from "../geometry.ts";

/** The attributes of tfjs's `MaxPoolGrad` kernel, plus the pooled input's shape. */
export interface MaxPoolGradOptions {
  /** Shape of the pooled input `[b, h, w, c]`. */
  shape: Shape4;
  /** Window size. */
  filterSize: number | [number, number];
  /** Window step. */
  strides: number | [number, number];
  /** Padding. */
  pad: "same" | "valid" | number | backend_util.ExplicitPadding;
  /** Rounding of the output size for numeric padding. */
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/**
 * Gradient of an NHWC max-pool: each output's gradient goes to the first largest input of its
 * window (row-major scan, padding excluded), exactly as tfjs's cpu kernel routes it. One pass over
 * the windows, vectorised over channels.
 *
 * @param dy Output gradient `[b, oh, ow, c]`.
 * @param x Pooled input `[b, h, w, c]`.
 * @param options Input shape, window, stride, padding.
 * @returns The input gradient, shaped like `x`.
 * @example
 * ```ts
 * import { maxPoolGrad } from "./pooling.ts";
 * const x = Float32Array.from([1, 4, 4, 2]); // one 2×2 window, a tie
 * const dx = maxPoolGrad(Float32Array.from([5]), x, {
 *   shape: [1, 2, 2, 1], filterSize: 2, strides: 2, pad: "valid",
 * });
 * if (dx.join() !== "0,5,0,0") throw new Error(dx.join());
 * ```
 */
export function maxPoolGrad(
  dy: Float32Array,
  x: Float32Array,
  options: MaxPoolGradOptions,
): Float32Array {
  const info = backend_util.computePool2DInfo(
    options.shape,
    options.filterSize,
    options.strides,
    1,
    options.pad,
    options.dimRoundingMode,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } =
    info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const PT = info.padInfo.top;
  const PL = info.padInfo.left;
  if (FH === 2 && FW === 2 && SH === 2 && SW === 2 && PT === 0 && PL === 0) {
    return maxPool2x2Grad(dy, x, [B, H, W, C], OH, OW);
  }
  // Overlapping windows add several gradients into one input: sum those in float64, as tfjs does.
  const overlapping = SH < FH || SW < FW;
  const dx = overlapping ? new Float64Array(x.length) : new Float32Array(x.length);
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  let dyOff = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, dyOff += C) {
        best.fill(-Infinity);
        where.fill(-1);
        for (let fh = 0; fh < FH; fh++) {
          const ih = oh * SH - PT + fh;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < FW; fw++) {
            const iw = ow * SW - PL + fw;
            if (iw < 0 || iw >= W) continue;
            const off = ((b * H + ih) * W + iw) * C;
            for (let c = 0; c < C; c++) {
              const v = x[off + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = off + c;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) {
          const at = where[c]!;
          if (at >= 0) dx[at]! += dy[dyOff + c]!;
        }
      }
    }
  }
  return dx instanceof Float32Array ? dx : Float32Array.from(dx);
}

/** The common 2×2, stride-2, unpadded case (the tutorial's pools): four reads per output, no
 * bookkeeping arrays. Same first-maximum rule as the general loop. */
function maxPool2x2Grad(
  dy: Float32Array,
  x: Float32Array,
  [B, H, W, C]: Shape4,
  OH: number,
  OW: number,
): Float32Array {
  const dx = new Float32Array(x.length);
  const row = W * C;
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const p00 = ((b * H + 2 * oh) * W + 2 * ow) * C;
        const p01 = p00 + C;
        const p10 = p00 + row;
        const p11 = p10 + C;
        for (let c = 0; c < C; c++, o++) {
          // Like tfjs: start below everything, so NaN and −∞ inputs never win.
          let best = -Infinity;
          let at = -1;
          const v00 = x[p00 + c]!;
          if (v00 > best) {
            best = v00;
            at = p00 + c;
          }
          const v01 = x[p01 + c]!;
          if (v01 > best) {
            best = v01;
            at = p01 + c;
          }
          const v10 = x[p10 + c]!;
          if (v10 > best) {
            best = v10;
            at = p10 + c;
          }
          if (x[p11 + c]! > best) at = p11 + c;
          if (at >= 0) dx[at] = dy[o]!;
        }
      }
    }
  }
  return dx;
}
