/**
 * Internal: the "blas" backend's element-wise kernels, tight loops for what dominates a training
 * step once the matrix work runs in BLAS: `Relu`, `Step` (ReLU's gradient), ReLU's fused input
 * gradient (lib/engine/gradients.ts's `RELU_BACKPROP`), `Floor` (dropout's mask), and `Add`,
 * `Sub`, `Multiply` and `RealDiv` on operands of one shape, a scalar or a trailing broadcast (a
 * per-channel bias). Each computes exactly what the `cpu` kernel computes, NaN and −0 included,
 * in JS or in the native loops of lib/engine/kernels/native/native.c, and hands every other case
 * to the `cpu` kernel.
 * @module
 */

import { type NamedAttrMap, type TensorInfo, util } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { KernelArgs } from "../registry.ts";
import type { BinaryOp } from "../native/native_kernels.ts";
import { RELU_BACKPROP } from "../../gradients.ts";
import { allocate } from "./blas_backend.ts";
import { type BlasKernelConfig, delegate, type LoopKernelContext } from "./context.ts";
import { float32Values } from "./tensor_data.ts";

// Branch-free inner loops. On random activations a data-dependent branch (`v > 0 ? …`)
// mispredicts about half the time, which made these loops 5–10× slower than a plain product over
// the same arrays. `+(a > b)` compiles to a flag move, and indexing a two-slot array with it
// selects without a branch; the branches that remain (NaN checks) are never taken.

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

/**
 * `Relu` on float32: `max(0, x)`, −∞ to 0, NaN kept.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param args The kernel's input `x` and backend.
 * @returns `relu(x)`.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { reluKernel } from "./elementwise.ts";
 * await tf.setBackend("cpu");
 * const backend = tf.backend() as MathBackendCPU;
 * const context = { native: null, fallback: (name: string) => tf.getKernel(name, "cpu")!.kernelFunc };
 * const x = tf.tensor1d([-1, 2, -Infinity]);
 * const out = reluKernel(context, { inputs: { x }, backend });
 * const values = backend.readSync(out.dataId) as Float32Array;
 * if (values.join() !== "0,2,0") throw new Error(values.join());
 * backend.disposeData(out.dataId);
 * x.dispose();
 * ```
 */
export function reluKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x } = args.inputs as { x: TensorInfo };
  const xv = float32Values(backend, x);
  if (xv === null) return delegate(context, "Relu", args);
  const out = allocate(backend, xv.length);
  if (context.native !== null) {
    context.native.relu(xv, out);
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
}

/**
 * `Step` on float32: 1 where `x > 0`, else `alpha`; NaN kept.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param args The kernel's input `x`, attribute `alpha` and backend.
 * @returns `step(x)`.
 */
export function stepKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x } = args.inputs as { x: TensorInfo };
  const xv = float32Values(backend, x);
  if (xv === null) return delegate(context, "Step", args);
  const alpha = Number((args.attrs as NamedAttrMap | undefined)?.alpha ?? 0);
  const out = allocate(backend, xv.length);
  if (context.native !== null) {
    context.native.step(xv, out, alpha);
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
}

/**
 * ReLU's input gradient in one pass: the values of `Multiply(dy, Step(x))`, without Step's array.
 * It has no `cpu` twin to fall back to, so other inputs are an error.
 *
 * @param context The native loops (or null).
 * @param args The kernel's inputs `dy` and `x` (float32, one shape) and backend.
 * @returns `dy · step(x)`.
 */
export function reluBackpropKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
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
  if (context.native !== null) {
    context.native.reluBackprop(dyv, xv, out);
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
}

/**
 * `Floor` on float32. Dropout's mask is floor(uniform + keepProbability); the cpu kernel calls
 * Math.floor through a closure shared by every unary kernel, which V8 cannot inline.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param args The kernel's input `x` and backend.
 * @returns `floor(x)`.
 */
export function floorKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x } = args.inputs as { x: TensorInfo };
  const xv = float32Values(backend, x);
  if (xv === null) return delegate(context, "Floor", args);
  const out = allocate(backend, xv.length);
  if (context.native !== null) context.native.floor(xv, out);
  else for (let i = 0; i < xv.length; i++) out[i] = Math.floor(xv[i]!);
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/**
 * `Add`, `Sub`, `Multiply` or `RealDiv` on float32 operands of one shape, a scalar, or one
 * repeating along the leading dimensions (a per-channel bias); other broadcasts go to the `cpu`
 * kernel named `kernelName`.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param kernelName The tfjs kernel this runs as (the fallback's name).
 * @param op The operation.
 * @param args The kernel's inputs `a`, `b` and backend.
 * @returns `a op b`.
 */
export function binaryKernel(
  context: LoopKernelContext,
  kernelName: string,
  op: BinaryOp,
  args: KernelArgs,
): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const av = float32Values(backend, a), bv = float32Values(backend, b);
  const shape = av && bv ? trailingBroadcastShape(a.shape, b.shape) : null;
  if (av === null || bv === null || shape === null) return delegate(context, kernelName, args);
  const out = allocate(backend, util.sizeFromShape(shape));
  const n = out.length, na = av.length, nb = bv.length;
  if (context.native !== null) {
    context.native.binary(op, av, bv, out);
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
}

/**
 * The element-wise kernels bound to one backend's context.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @returns Configs for `Relu`, `Step`, ReLU's fused gradient, `Floor`, `Add`, `Sub`, `Multiply`
 *   and `RealDiv`.
 */
export function elementwiseKernelConfigs(context: LoopKernelContext): BlasKernelConfig[] {
  return [
    { kernelName: "Relu", kernelFunc: (args) => reluKernel(context, args) },
    { kernelName: "Step", kernelFunc: (args) => stepKernel(context, args) },
    { kernelName: RELU_BACKPROP, kernelFunc: (args) => reluBackpropKernel(context, args) },
    { kernelName: "Floor", kernelFunc: (args) => floorKernel(context, args) },
    { kernelName: "Add", kernelFunc: (args) => binaryKernel(context, "Add", "add", args) },
    { kernelName: "Sub", kernelFunc: (args) => binaryKernel(context, "Sub", "sub", args) },
    {
      kernelName: "Multiply",
      kernelFunc: (args) => binaryKernel(context, "Multiply", "mul", args),
    },
    { kernelName: "RealDiv", kernelFunc: (args) => binaryKernel(context, "RealDiv", "div", args) },
  ];
}
