/**
 * Internal: the "blas" backend's `Sum` over leading axes (the bias gradients of a training step),
 * summed in float64 in the `cpu` kernel's order (rows ascending), so the result is the `cpu`
 * kernel's bit for bit; in JS or in the native loop of lib/engine/kernels/native/native.c. Other
 * reductions, and non-float32 inputs, go to the `cpu` kernel.
 * @module
 */

import { type NamedAttrMap, type TensorInfo, util } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { KernelArgs } from "../registry.ts";
import { allocate } from "./blas_backend.ts";
import { type BlasKernelConfig, delegate, type LoopKernelContext } from "./context.ts";
import { float32Values } from "./tensor_data.ts";

function sumShape(shape: number[], leadingAxes: number, keepDims: unknown): number[] {
  return keepDims ? shape.map((d, i) => (i < leadingAxes ? 1 : d)) : shape.slice(leadingAxes);
}

/**
 * `Sum` over the leading axes of a float32 tensor.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @param args The kernel's input `x`, attributes (`axis`, `keepDims`) and backend.
 * @returns The column sums.
 */
export function sumKernel(context: LoopKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x } = args.inputs as { x: TensorInfo };
  const attrs = (args.attrs ?? {}) as NamedAttrMap;
  const xv = float32Values(backend, x);
  if (xv === null) return delegate(context, "Sum", args);
  const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((p, q) => p - q);
  // Only a reduction over the leading axes needs the cpu kernel's transpose; handle that one.
  const leading = axes.every((axis, i) => axis === i);
  if (!leading || axes.length === 0) return delegate(context, "Sum", args);
  const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
  const inner = util.sizeFromShape(x.shape.slice(axes.length));
  if (context.native !== null) {
    const out = allocate(backend, inner);
    context.native.sumRows(xv, rows, out);
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
}

/**
 * The `Sum` kernel bound to one backend's context.
 *
 * @param context The `cpu` kernels and the native loops (or null).
 * @returns The config for `Sum`.
 */
export function sumKernelConfig(context: LoopKernelContext): BlasKernelConfig {
  return { kernelName: "Sum", kernelFunc: (args) => sumKernel(context, args) };
}
