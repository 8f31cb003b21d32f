/**
 * Internal: the "blas" backend's `MaxPool` and `MaxPoolGrad` for windows that tile the input
 * (window = stride, no padding), the 2×2 case unrolled and branch-free; in JS or in the native
 * loops of lib/engine/kernels/native/native.c. Both compute exactly what the `cpu` kernels compute
 * (the first strict maximum from −∞ wins, so NaN never does), and hand overlapping or padded
 * windows and non-float32 inputs to the `cpu` kernels.
 * @module
 */

import { backend_util, type NamedAttrMap, type TensorInfo } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { KernelArgs } from "../registry.ts";
import { allocate, allocateZeroed } from "./blas_backend.ts";
import { type BlasKernelConfig, delegate, type LoopKernelContext } from "./context.ts";
import { float32Values } from "./tensor_data.ts";

type PoolInfo = backend_util.Conv2DInfo;

// Branch-free inner loops. On random activations a data-dependent branch (`v > 0 ? …`, `if (a >
// best)`) mispredicts about half the time, which made these loops 5–10× slower than a plain
// product over the same arrays. `+(a > b)` compiles to a flag move, and indexing a two-slot array
// with it selects without a branch; the branches that remain (NaN checks) are never taken.

/** 2×2 windows, stride 2: the tutorial's pooling, unrolled. Same comparisons as the general loop. */
function maxPool2x2(x: Float32Array, info: PoolInfo, out: Float32Array) {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const rowStride = inWidth * c;
  const pick = new Float64Array(2);
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      let p = (n * inHeight + 2 * oh) * rowStride;
      for (let ow = 0; ow < outWidth; ow++, p += 2 * c, o += c) {
        for (let ch = 0; ch < c; ch++) {
          const a = x[p + ch]!, b = x[p + c + ch]!;
          const d = x[p + rowStride + ch]!, e = x[p + rowStride + c + ch]!;
          // best = v > best ? v : best, from −∞, in window order (NaN never wins).
          pick[0] = -Infinity;
          pick[1] = a;
          let best = pick[+(a > -Infinity)]!;
          pick[0] = best;
          pick[1] = b;
          best = pick[+(b > best)]!;
          pick[0] = best;
          pick[1] = d;
          best = pick[+(d > best)]!;
          pick[0] = best;
          pick[1] = e;
          out[o + ch] = pick[+(e > best)]!;
        }
      }
    }
  }
}

/** Routes each 2×2 window's gradient to its first maximum, as maxPoolPositions picks it. */
function maxPoolGrad2x2(x: Float32Array, dy: Float32Array, info: PoolInfo, dx: Float32Array) {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const rowStride = inWidth * c;
  const pick = new Float64Array(2);
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      let p = (n * inHeight + 2 * oh) * rowStride;
      for (let ow = 0; ow < outWidth; ow++, p += 2 * c, o += c) {
        for (let ch = 0; ch < c; ch++) {
          const i0 = p + ch, i1 = i0 + c, i2 = i0 + rowStride, i3 = i2 + c;
          const a = x[i0]!, b = x[i1]!, d = x[i2]!, e = x[i3]!;
          // Strictly greater from −∞ moves the position: −1 when nothing beats −∞ (all NaN).
          let g = +(a > -Infinity);
          let at = -1 + g * (i0 + 1);
          pick[0] = -Infinity;
          pick[1] = a;
          let best = pick[g]!;
          g = +(b > best);
          at += g * (i1 - at);
          pick[0] = best;
          pick[1] = b;
          best = pick[g]!;
          g = +(d > best);
          at += g * (i2 - at);
          pick[0] = best;
          pick[1] = d;
          best = pick[g]!;
          at += +(e > best) * (i3 - at);
          if (at >= 0) dx[at] = dy[o + ch]!;
        }
      }
    }
  }
}

/** Pool geometry when windows tile the input without overlap or padding; else null. */
function tiledPoolInfo(xShape: number[], attrs: NamedAttrMap): PoolInfo | null {
  if (xShape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as "valid" | "same",
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
  );
  const p = info.padInfo;
  const tiled = info.filterHeight === info.strideHeight &&
    info.filterWidth === info.strideWidth &&
    p.top === 0 && p.left === 0 && p.bottom === 0 && p.right === 0 &&
    info.outHeight * info.strideHeight <= info.inHeight &&
    info.outWidth * info.strideWidth <= info.inWidth;
  return tiled ? info : null;
}

/**
 * `MaxPool` over tiling windows of a float32 NHWC tensor.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param args The kernel's input `x`, attributes (`filterSize`, `strides`, `pad`) and backend.
 * @returns The pooled tensor.
 */
export function maxPoolKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x } = args.inputs as { x: TensorInfo };
  const xv = float32Values(backend, x);
  const info = xv ? tiledPoolInfo(x.shape, (args.attrs ?? {}) as NamedAttrMap) : null;
  if (xv === null || info === null) return delegate(context, "MaxPool", args);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const fh = info.filterHeight, fw = info.filterWidth;
  const out = allocate(backend, batchSize * outHeight * outWidth * c).fill(-Infinity);
  if (fh === 2 && fw === 2) {
    if (context.native !== null) context.native.maxPool2x2(xv, info, out);
    else maxPool2x2(xv, info, out);
    return backend.makeTensorInfo(info.outShape, "float32", out);
  }
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        // Strictly greater wins, from −∞, as in the cpu kernel: NaN values are skipped.
        for (let kh = 0; kh < fh; kh++) {
          let src = ((n * inHeight + oh * fh + kh) * inWidth + ow * fw) * c;
          for (let kw = 0; kw < fw; kw++) {
            for (let ch = 0; ch < c; ch++) {
              const v = xv[src + ch]!;
              if (v > out[o + ch]!) out[o + ch] = v;
            }
            src += c;
          }
        }
        o += c;
      }
    }
  }
  return backend.makeTensorInfo(info.outShape, "float32", out);
}

/**
 * `MaxPoolGrad` over tiling windows: each window's gradient goes to its first maximum.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param args The kernel's inputs (`dy`, `input`), attributes and backend.
 * @returns The input gradient.
 */
export function maxPoolGradKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const xv = float32Values(backend, input), dyv = float32Values(backend, dy);
  const info = xv && dyv ? tiledPoolInfo(input.shape, (args.attrs ?? {}) as NamedAttrMap) : null;
  if (xv === null || dyv === null || info === null) return delegate(context, "MaxPoolGrad", args);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const fh = info.filterHeight, fw = info.filterWidth;
  // The native 2×2 loop writes every value a window covers; only odd sizes leave some over.
  const covered = inHeight === 2 * outHeight && inWidth === 2 * outWidth;
  const dx = context.native !== null && fh === 2 && fw === 2 && covered
    ? allocate(backend, xv.length)
    : allocateZeroed(backend, xv.length);
  if (fh === 2 && fw === 2) {
    if (context.native !== null) context.native.maxPoolGrad2x2(xv, dyv, info, dx);
    else maxPoolGrad2x2(xv, dyv, info, dx);
    return backend.makeTensorInfo(input.shape, "float32", dx);
  }
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const corner = ((n * inHeight + oh * fh) * inWidth + ow * fw) * c;
        for (let ch = 0; ch < c; ch++) {
          // First strictly greater value from −∞ (maxPoolPositions): NaN never wins, and a
          // window with no value above −∞ routes its gradient nowhere.
          let best = -Infinity, at = -1;
          for (let kh = 0; kh < fh; kh++) {
            let src = corner + kh * inWidth * c + ch;
            for (let kw = 0; kw < fw; kw++) {
              const v = xv[src]!;
              if (v > best) {
                best = v;
                at = src;
              }
              src += c;
            }
          }
          if (at >= 0) dx[at] = dyv[o + ch]!;
        }
        o += c;
      }
    }
  }
  return backend.makeTensorInfo(input.shape, "float32", dx);
}

/**
 * The pooling kernels bound to one backend's context.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @returns Configs for `MaxPool` and `MaxPoolGrad`.
 */
export function poolingKernelConfigs(context: LoopKernelContext): BlasKernelConfig[] {
  return [
    { kernelName: "MaxPool", kernelFunc: (args) => maxPoolKernel(context, args) },
    { kernelName: "MaxPoolGrad", kernelFunc: (args) => maxPoolGradKernel(context, args) },
  ];
}
