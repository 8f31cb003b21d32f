/**
 * Internal: the "blas" backend's matrix-product kernels, `BatchMatMul` and `_FusedMatMul` (bias
 * and activation in the same pass). Products call `sgemm` with the transposes mapped to
 * `CblasTrans` (stacked rows times one matrix as a single product); with the native products
 * on, a dense layer's products at training batch sizes run as the native small products of
 * lib/engine/kernels/native/native.c instead. Batch broadcasts other than one-to-many, empty
 * products, non-float32 inputs and unfusable activations go to the `cpu` kernel.
 * @module
 */

import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { KernelArgs } from "../registry.ts";
import { allocate } from "./blas_backend.ts";
import { type BlasKernelConfig, delegate, type ProductKernelContext } from "./context.ts";
import { applyBiasActivation, type FusableActivation, isFusable } from "./bias_activation.ts";
import { isFloat32, valuesOf } from "./tensor_data.ts";

/** Largest batch-sized dimension for which the native small products replace `sgemm`. */
const SMALL_BATCH = 128;

/** The sizes of one (possibly batched and broadcast) product `op(A)·op(B)`. */
interface MatMulShape {
  /** Rows of `op(A)`. */
  m: number;
  /** Columns of `op(B)`. */
  n: number;
  /** The inner size. */
  k: number;
  /** Matrices in `a`. */
  batchA: number;
  /** Matrices in `b`. */
  batchB: number;
  /** Products computed. */
  batch: number;
  /** The output's shape. */
  outShape: number[];
}

/**
 * Shapes of a (possibly broadcast) batched product, or null when the batch dimensions need a
 * broadcast that the `cpu` kernel's modulo indexing handles and this one does not.
 */
function matMulShape(
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): MatMulShape | null {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return null;
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = outerA.reduce((p, d) => p * d, 1), batchB = outerB.reduce((p, d) => p * d, 1);
  let outer: number[];
  if (batchA === 1 && batchB === 1) {
    outer = outerA.length >= outerB.length ? outerA : outerB;
  } else if (batchB === 1 && outerB.length <= outerA.length) {
    outer = outerA;
  } else if (batchA === 1 && outerA.length <= outerB.length) {
    outer = outerB;
  } else if (outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])) {
    outer = outerA;
  } else {
    return null;
  }
  const batch = Math.max(batchA, batchB);
  return { m, n, k, batchA, batchB, batch, outShape: [...outer, m, n] };
}

/** The product's values into a fresh array. */
function matMulValues(
  context: ProductKernelContext,
  backend: MathBackendCPU,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  plan: MatMulShape,
): Float32Array {
  const { blas, direct } = context;
  const { m, n, k, batchA, batchB, batch } = plan;
  const av = valuesOf(backend, a), bv = valuesOf(backend, b);
  const out = allocate(backend, batch * m * n);
  const lda = transposeA ? m : k, ldb = transposeB ? k : n;
  if (direct !== null && batch === 1) {
    // A dense layer at training batch sizes: one dimension is the batch (≤ SMALL_BATCH) and
    // the others are large. OpenBLAS keeps the small products (the 10-class layer).
    if (!transposeA && !transposeB && m <= SMALL_BATCH && n >= 64 && k >= 256) {
      direct.gemmSmallM(av, bv, out, m, n, k);
      return out;
    }
    if (!transposeA && transposeB && m <= SMALL_BATCH && n >= 256 && k >= 64) {
      direct.gemmSmallMNT(av, bv, out, m, n, k);
      return out;
    }
    if (transposeA && !transposeB && k <= SMALL_BATCH && n >= 64 && m >= 256) {
      direct.gemmSmallKTN(av, bv, out, m, n, k);
      return out;
    }
  }
  if (batchB === 1 && !transposeA && batch > 1) {
    // Stacked rows times one matrix: a single product of (batch·m)×k by k×n.
    blas.sgemm(false, transposeB, batch * m, n, k, 1, av, lda, bv, ldb, 0, out, n);
    return out;
  }
  for (let i = 0; i < batch; i++) {
    blas.sgemm(
      transposeA,
      transposeB,
      m,
      n,
      k,
      1,
      batchA === 1 ? av : av.subarray(i * m * k),
      lda,
      batchB === 1 ? bv : bv.subarray(i * k * n),
      ldb,
      0,
      out.subarray(i * m * n),
      n,
    );
  }
  return out;
}

/**
 * `BatchMatMul` (float32): `sgemm` per product, or the native small products for a dense layer
 * at training batch sizes.
 *
 * @param context The backend's BLAS library and native products.
 * @param args The kernel's inputs (`a`, `b`), attributes (`transposeA`, `transposeB`), backend.
 * @returns The product.
 */
export function batchMatMulKernel(context: ProductKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const attrs = args.attrs ?? {};
  const transposeA = Boolean(attrs.transposeA), transposeB = Boolean(attrs.transposeB);
  const plan = isFloat32(backend, a, b) ? matMulShape(a, b, transposeA, transposeB) : null;
  if (plan === null || plan.m * plan.n * plan.k === 0) {
    return delegate(context, "BatchMatMul", args);
  }
  const out = matMulValues(context, backend, a, b, transposeA, transposeB, plan);
  return backend.makeTensorInfo(plan.outShape, "float32", out);
}

/**
 * `_FusedMatMul`: {@linkcode batchMatMulKernel}, then a bias along the last axis (or a scalar)
 * and a linear, relu or relu6 activation in one pass over the output.
 *
 * @param context The backend's BLAS library and native loops.
 * @param args The kernel's inputs (`a`, `b`, optional `bias`), attributes and backend.
 * @returns The activated product.
 */
export function fusedMatMulKernel(context: ProductKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: TensorInfo;
    b: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const attrs = args.attrs ?? {};
  const transposeA = Boolean(attrs.transposeA), transposeB = Boolean(attrs.transposeB);
  const plan = isFloat32(backend, a, b, bias) ? matMulShape(a, b, transposeA, transposeB) : null;
  const biasSize = bias ? bias.shape.reduce((p, d) => p * d, 1) : 0;
  const biasFits = bias === undefined ||
    (plan !== null && (biasSize === 1 || (biasSize === plan.n && bias.shape.at(-1) === plan.n)) &&
      bias.shape.length <= plan.outShape.length);
  if (
    plan === null || plan.m * plan.n * plan.k === 0 || !biasFits ||
    !isFusable(attrs.activation) || preluActivationWeights !== undefined
  ) {
    return delegate(context, "_FusedMatMul", args);
  }
  const out = matMulValues(context, backend, a, b, transposeA, transposeB, plan);
  applyBiasActivation(
    context.native,
    out,
    plan.n,
    bias ? valuesOf(backend, bias) : null,
    attrs.activation as FusableActivation | undefined,
  );
  return backend.makeTensorInfo(plan.outShape, "float32", out);
}

/**
 * The matrix-product kernels bound to one backend's context.
 *
 * @param context The backend's BLAS library and native loops.
 * @returns Configs for `BatchMatMul` and `_FusedMatMul`.
 */
export function matMulKernelConfigs(context: ProductKernelContext): BlasKernelConfig[] {
  return [
    { kernelName: "BatchMatMul", kernelFunc: (args) => batchMatMulKernel(context, args) },
    { kernelName: "_FusedMatMul", kernelFunc: (args) => fusedMatMulKernel(context, args) },
  ];
}
