/**
 * Internal: tight-loop versions of the element-wise, reduction and pooling kernels that dominate
 * a training step on tfjs's `cpu` backend once the matrix work runs in BLAS: Relu, Step (ReLU's
 * gradient), Floor (dropout's mask), Add, Sub, Multiply and RealDiv (same shape, scalar or trailing
 * bias broadcast), Sum over leading axes (bias gradients), and MaxPool/MaxPoolGrad with
 * non-overlapping windows. Each computes
 * exactly what the `cpu` kernel computes (same order of float64 accumulation, same tie and NaN
 * rules) and hands every other case to the `cpu` kernel.
 * @module
 */

import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { FallbackLookup } from "./products.ts";
import type { NativeKernels } from "../native/native.ts";
import { allocate, allocateZeroed } from "./backend.ts";
import { RELU_BACKPROP } from "../../gradients.ts";

function float32Values(backend: MathBackendCPU, info: TensorInfo): Float32Array | null {
  if (info.dtype !== "float32") return null;
  const values = backend.data.get(info.dataId).values;
  return values instanceof Float32Array ? values : null;
}

/**
 * The output shape when one operand broadcasts along leading dimensions only (same shape, a
 * scalar, or a trailing suffix such as a per-channel bias): then `out[i] = op(a[i % |a|], b[i % |b|])`
 * is exactly tfjs's broadcast. Null for any other broadcast.
 */
function trailingBroadcastShape(aShape: number[], bShape: number[]): number[] | null {
  const [big, small] = aShape.length >= bShape.length ? [aShape, bShape] : [bShape, aShape];
  const smallSize = util.sizeFromShape(small);
  if (smallSize === 1) return big;
  // Leading ones of the smaller operand do not change where its values land.
  let first = 0;
  while (first < small.length && small[first] === 1) first++;
  const core = small.slice(first);
  const offset = big.length - core.length;
  for (let i = 0; i < core.length; i++) if (core[i] !== big[offset + i]) return null;
  return util.sizeFromShape(big) % smallSize === 0 ? big : null;
}

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

/**
 * Builds the element-wise, reduction and pooling kernels; `backendName` is filled in by the caller.
 * With `native`, the loops run in lib/engine/kernels/native/native.c instead (same results, every core).
 */
export function createPointwiseKernels(
  fallback: FallbackLookup,
  native: NativeKernels | null = null,
): Omit<KernelConfig, "backendName">[] {
  const delegate = (name: string, args: Parameters<KernelFunc>[0]) =>
    fallback(name)(args) as TensorInfo;

  const relu: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const xv = float32Values(backend, x);
    if (xv === null) return delegate("Relu", args);
    const out = allocate(backend, xv.length);
    if (native !== null) {
      native.relu(xv, out);
      return backend.makeTensorInfo(x.shape, "float32", out);
    }
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i]!;
      // Math.max(0, v) without a branch: (v + |v|)/2 is v or +0 (also for −0), NaN stays NaN;
      // only −∞ needs fixing (−∞ + ∞ is NaN).
      let r = (v + Math.abs(v)) * 0.5;
      if (r !== r && v === -Infinity) r = 0;
      out[i] = r;
    }
    return backend.makeTensorInfo(x.shape, "float32", out);
  };

  const step: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const xv = float32Values(backend, x);
    if (xv === null) return delegate("Step", args);
    const alpha = Number((args.attrs as NamedAttrMap | undefined)?.alpha ?? 0);
    const out = allocate(backend, xv.length);
    if (native !== null) {
      native.step(xv, out, alpha);
      return backend.makeTensorInfo(x.shape, "float32", out);
    }
    const values = new Float64Array([alpha, 1]);
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i]!;
      // v > 0 ? 1 : alpha, selected without a branch; NaN maps to NaN as in the cpu kernel.
      out[i] = values[+(v > 0)]!;
      if (v !== v) out[i] = NaN;
    }
    return backend.makeTensorInfo(x.shape, "float32", out);
  };

  // ReLU's input gradient in one pass: the values of Multiply(dy, Step(x)), without Step's array.
  const reluBackprop: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
    const dyv = float32Values(backend, dy), xv = float32Values(backend, x);
    if (dyv === null || xv === null || dyv.length !== xv.length) {
      throw new Error(
        `Cannot run ${RELU_BACKPROP}: expected float32 dy and x of one shape, found ` +
          `${dy.dtype} [${dy.shape}] and ${x.dtype} [${x.shape}]`,
      );
    }
    const out = allocate(backend, xv.length);
    if (native !== null) {
      native.reluBackprop(dyv, xv, out);
      return backend.makeTensorInfo(x.shape, "float32", out);
    }
    // dy · step(x), the factor picked without a branch; NaN where x is NaN, as Step gives.
    const factors = new Float64Array([0, 1]);
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i]!;
      out[i] = dyv[i]! * factors[+(v > 0)]!;
      if (v !== v) out[i] = NaN;
    }
    return backend.makeTensorInfo(x.shape, "float32", out);
  };

  // Dropout's mask is floor(uniform + keepProbability); the cpu kernel calls Math.floor through a
  // closure shared by every unary kernel, which V8 cannot inline.
  const floor: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const xv = float32Values(backend, x);
    if (xv === null) return delegate("Floor", args);
    const out = allocate(backend, xv.length);
    if (native !== null) native.floor(xv, out);
    else for (let i = 0; i < xv.length; i++) out[i] = Math.floor(xv[i]!);
    return backend.makeTensorInfo(x.shape, "float32", out);
  };

  function binary(name: string, op: "add" | "sub" | "mul" | "div"): KernelFunc {
    return (args) => {
      const backend = args.backend as MathBackendCPU;
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const av = float32Values(backend, a), bv = float32Values(backend, b);
      const shape = av && bv ? trailingBroadcastShape(a.shape, b.shape) : null;
      if (av === null || bv === null || shape === null) return delegate(name, args);
      const out = allocate(backend, util.sizeFromShape(shape));
      const n = out.length, na = av.length, nb = bv.length;
      if (native !== null) {
        native.binary(op, av, bv, out);
        return backend.makeTensorInfo(shape, "float32", out);
      }
      // A scalar operand, the same shape, or one operand repeating along the leading dimensions
      // (a per-channel bias), each in its own loop so that the inner loops stay trivial.
      if (na === n && nb === 1) {
        const y = bv[0]!;
        switch (op) {
          case "add":
            for (let i = 0; i < n; i++) out[i] = av[i]! + y;
            break;
          case "sub":
            for (let i = 0; i < n; i++) out[i] = av[i]! - y;
            break;
          case "mul":
            for (let i = 0; i < n; i++) out[i] = av[i]! * y;
            break;
          case "div":
            for (let i = 0; i < n; i++) out[i] = av[i]! / y;
            break;
        }
      } else if (nb === n && na === 1) {
        const x = av[0]!;
        switch (op) {
          case "add":
            for (let i = 0; i < n; i++) out[i] = x + bv[i]!;
            break;
          case "sub":
            for (let i = 0; i < n; i++) out[i] = x - bv[i]!;
            break;
          case "mul":
            for (let i = 0; i < n; i++) out[i] = x * bv[i]!;
            break;
          case "div":
            for (let i = 0; i < n; i++) out[i] = x / bv[i]!;
            break;
        }
      } else if (na === n) {
        const step = nb === n ? n : nb;
        for (let base = 0; base < n; base += step) {
          const bBase = nb === n ? base : 0;
          switch (op) {
            case "add":
              for (let j = 0; j < step; j++) out[base + j] = av[base + j]! + bv[bBase + j]!;
              break;
            case "sub":
              for (let j = 0; j < step; j++) out[base + j] = av[base + j]! - bv[bBase + j]!;
              break;
            case "mul":
              for (let j = 0; j < step; j++) out[base + j] = av[base + j]! * bv[bBase + j]!;
              break;
            case "div":
              for (let j = 0; j < step; j++) out[base + j] = av[base + j]! / bv[bBase + j]!;
              break;
          }
        }
      } else {
        // a repeats; the operand order (a op b) stays, so results match the cpu kernel's.
        for (let base = 0; base < n; base += na) {
          switch (op) {
            case "add":
              for (let j = 0; j < na; j++) out[base + j] = av[j]! + bv[base + j]!;
              break;
            case "sub":
              for (let j = 0; j < na; j++) out[base + j] = av[j]! - bv[base + j]!;
              break;
            case "mul":
              for (let j = 0; j < na; j++) out[base + j] = av[j]! * bv[base + j]!;
              break;
            case "div":
              for (let j = 0; j < na; j++) out[base + j] = av[j]! / bv[base + j]!;
              break;
          }
        }
      }
      return backend.makeTensorInfo(shape, "float32", out);
    };
  }

  const sum: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const xv = float32Values(backend, x);
    if (xv === null) return delegate("Sum", args);
    const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((p, q) =>
      p - q
    );
    // Only a reduction over the leading axes needs the cpu kernel's transpose; handle that one.
    const leading = axes.every((axis, i) => axis === i);
    if (!leading || axes.length === 0) return delegate("Sum", args);
    const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
    const inner = util.sizeFromShape(x.shape.slice(axes.length));
    if (native !== null) {
      const out = allocate(backend, inner);
      native.sumRows(xv, rows, out);
      return backend.makeTensorInfo(sumShape(x.shape, axes.length, attrs.keepDims), "float32", out);
    }
    // float64 accumulators, summed in the cpu kernel's order (rows ascending).
    const acc = new Float64Array(inner);
    for (let r = 0; r < rows; r++) {
      const base = r * inner;
      for (let j = 0; j < inner; j++) acc[j] = acc[j]! + xv[base + j]!;
    }
    const out = allocate(backend, inner);
    out.set(acc);
    return backend.makeTensorInfo(sumShape(x.shape, axes.length, attrs.keepDims), "float32", out);
  };

  function sumShape(shape: number[], leadingAxes: number, keepDims: unknown): number[] {
    return keepDims ? shape.map((d, i) => (i < leadingAxes ? 1 : d)) : shape.slice(leadingAxes);
  }

  /** Pool geometry when windows tile the input without overlap or padding; else null. */
  function tiledPoolInfo(xShape: number[], attrs: NamedAttrMap) {
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

  const maxPool: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const xv = float32Values(backend, x);
    const info = xv ? tiledPoolInfo(x.shape, (args.attrs ?? {}) as NamedAttrMap) : null;
    if (xv === null || info === null) return delegate("MaxPool", args);
    const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
    const fh = info.filterHeight, fw = info.filterWidth;
    const out = allocate(backend, batchSize * outHeight * outWidth * c).fill(-Infinity);
    if (fh === 2 && fw === 2) {
      if (native !== null) native.maxPool2x2(xv, info, out);
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
  };

  const maxPoolGrad: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const xv = float32Values(backend, input), dyv = float32Values(backend, dy);
    const info = xv && dyv ? tiledPoolInfo(input.shape, (args.attrs ?? {}) as NamedAttrMap) : null;
    if (xv === null || dyv === null || info === null) return delegate("MaxPoolGrad", args);
    const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
    const fh = info.filterHeight, fw = info.filterWidth;
    // The native 2×2 loop writes every value a window covers; only odd sizes leave some over.
    const covered = inHeight === 2 * outHeight && inWidth === 2 * outWidth;
    const dx = native !== null && fh === 2 && fw === 2 && covered
      ? allocate(backend, xv.length)
      : allocateZeroed(backend, xv.length);
    if (fh === 2 && fw === 2) {
      if (native !== null) native.maxPoolGrad2x2(xv, dyv, info, dx);
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
  };

  return [
    { kernelName: "Relu", kernelFunc: relu },
    { kernelName: "Step", kernelFunc: step },
    { kernelName: RELU_BACKPROP, kernelFunc: reluBackprop },
    { kernelName: "Floor", kernelFunc: floor },
    { kernelName: "Add", kernelFunc: binary("Add", "add") },
    { kernelName: "Sub", kernelFunc: binary("Sub", "sub") },
    { kernelName: "Multiply", kernelFunc: binary("Multiply", "mul") },
    { kernelName: "RealDiv", kernelFunc: binary("RealDiv", "div") },
    { kernelName: "Sum", kernelFunc: sum },
    { kernelName: "MaxPool", kernelFunc: maxPool },
    { kernelName: "MaxPoolGrad", kernelFunc: maxPoolGrad },
  ];
}
