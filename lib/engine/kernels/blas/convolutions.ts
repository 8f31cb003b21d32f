/**
 * Internal: the "blas" backend's convolution kernels, `Conv2D`, `FusedConv2D` (bias and
 * activation in the same pass), `Conv2DBackpropFilter` and `Conv2DBackpropInput`. They run as
 * im2col + `sgemm` (and `sgemm` + col2im for the input gradient), a 1×1 stride-1 convolution as
 * one `sgemm` on the input itself; with the native products on, stride-1 convolutions whose
 * channels fill whole vectors run as the native direct loops of lib/engine/kernels/native/native.c
 * instead. Each kernel hands the cases it does not cover (NCHW, dilations, non-float32 inputs,
 * unfusable activations) to the `cpu` kernel, so results never depend on which path ran.
 * @module
 */

import * as tf from "@tensorflow/tfjs-core";
import { backend_util, type NamedAttrMap, type TensorInfo } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { KernelArgs } from "../registry.ts";
import type { NativeKernels } from "../native/native_kernels.ts";
import { allocate, allocateZeroed } from "./blas_backend.ts";
import { type BlasKernelConfig, delegate, type ProductKernelContext } from "./context.ts";
import { col2im, convKey, im2col, imagesPerChunk } from "./im2col.ts";
import { applyBiasActivation, type FusableActivation, isFusable } from "./bias_activation.ts";
import { isFloat32, valuesOf } from "./tensor_data.ts";

type Conv2DInfo = backend_util.Conv2DInfo;

function hasUnitDilation(dilations: unknown): boolean {
  if (dilations === undefined || dilations === null) return true;
  if (typeof dilations === "number") return dilations === 1;
  return (dilations as number[]).every((d) => d === 1);
}

/** The convolution reads x directly as the im2col matrix (1×1 filter, stride 1, no padding). */
function isPointwise(info: Conv2DInfo): boolean {
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 &&
    info.strideWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0 &&
    info.outHeight === info.inHeight && info.outWidth === info.inWidth;
}

/** tfjs is recording a gradient tape (inside `tf.grads`, `tf.variableGrads`, `minimize`). */
function isRecordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

/** The data belongs to a variable, which an optimiser may update in place between uses. */
function isVariableData(dataId: object): boolean {
  for (const variable of Object.values(tf.engine().registeredVariables)) {
    if (variable.dataId === dataId) return true;
  }
  return false;
}

/** The native direct convolutions, when they take this geometry with `channels` as vectors. */
function directFor(
  context: ProductKernelContext,
  info: Conv2DInfo,
  channels: number,
): NativeKernels | null {
  const direct = context.direct;
  return direct !== null && !isPointwise(info) && direct.directConvFits(info, channels)
    ? direct
    : null;
}

function conv2DInfo(xShape: number[], filterShape: number[], attrs: NamedAttrMap): Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    (attrs.dilations ?? 1) as number | [number, number],
    attrs.pad as "same" | "valid",
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  );
}

function canUseBlasConv(
  backend: MathBackendCPU,
  attrs: NamedAttrMap,
  ...infos: TensorInfo[]
): boolean {
  return (attrs.dataFormat ?? "NHWC") === "NHWC" && hasUnitDilation(attrs.dilations) &&
    isFloat32(backend, ...infos);
}

/** NHWC convolution `x ⊛ filter` into a fresh array of outShape's size. */
function convForward(
  context: ProductKernelContext,
  backend: MathBackendCPU,
  x: TensorInfo,
  filter: TensorInfo,
  info: Conv2DInfo,
): Float32Array {
  const { blas, columnCache } = context;
  const toColumns = context.native === null ? im2col : context.native.im2col;
  const xv = valuesOf(backend, x), wv = valuesOf(backend, filter);
  const cout = info.outChannels;
  const rowsPerImage = info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const out = allocate(backend, info.batchSize * rowsPerImage * cout);
  const directConv = directFor(context, info, cout);
  if (directConv !== null) {
    directConv.convForward(xv, wv, info, out);
    return out;
  }
  if (isPointwise(info)) {
    const m = info.batchSize * rowsPerImage;
    blas.sgemm(false, false, m, cout, k, 1, xv, k, wv, cout, 0, out, cout);
    return out;
  }
  if (context.cacheColumns && isRecordingGradients() && !isVariableData(x.dataId)) {
    // Training: build the whole im2col matrix once and keep it for Conv2DBackpropFilter.
    const m = info.batchSize * rowsPerImage;
    const col = columnCache.take(m * k);
    toColumns(xv, info, 0, info.batchSize, col);
    blas.sgemm(false, false, m, cout, k, 1, col, k, wv, cout, 0, out, cout);
    columnCache.keep(x.dataId, convKey(info), col);
    return out;
  }
  const step = imagesPerChunk(info, context.chunkElements);
  for (let n0 = 0; n0 < info.batchSize; n0 += step) {
    const n1 = Math.min(info.batchSize, n0 + step);
    const m = (n1 - n0) * rowsPerImage;
    const col = context.scratch.get("col", m * k);
    toColumns(xv, info, n0, n1, col);
    blas.sgemm(
      false,
      false,
      m,
      cout,
      k,
      1,
      col,
      k,
      wv,
      cout,
      0,
      out.subarray(n0 * rowsPerImage * cout),
      cout,
    );
  }
  return out;
}

/**
 * `Conv2D` (NHWC, dilation 1, float32): im2col + `sgemm`, or the native direct loops.
 *
 * @param context The backend's BLAS library, native loops and im2col buffers.
 * @param args The kernel's inputs (`x`, `filter`), attributes and backend.
 * @returns The convolution's output.
 */
export function conv2DKernel(context: ProductKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs ?? {};
  if (!canUseBlasConv(backend, attrs, x, filter)) return delegate(context, "Conv2D", args);
  const info = conv2DInfo(x.shape, filter.shape, attrs);
  return backend.makeTensorInfo(
    info.outShape,
    "float32",
    convForward(context, backend, x, filter, info),
  );
}

/**
 * `FusedConv2D`: {@linkcode conv2DKernel}, then a per-channel or scalar bias and a linear, relu
 * or relu6 activation in one pass over the output.
 *
 * @param context The backend's BLAS library, native loops and im2col buffers.
 * @param args The kernel's inputs (`x`, `filter`, optional `bias`), attributes and backend.
 * @returns The activated convolution.
 */
export function fusedConv2DKernel(context: ProductKernelContext, args: KernelArgs): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x, filter, bias, preluActivationWeights } = args.inputs as {
    x: TensorInfo;
    filter: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const attrs = args.attrs ?? {};
  const biasFits = bias === undefined ||
    (bias.shape.length <= 1 &&
      (bias.shape.length === 0 || bias.shape[0] === 1 || bias.shape[0] === filter.shape[3]));
  if (
    !canUseBlasConv(backend, attrs, x, filter) || !isFloat32(backend, bias) || !biasFits ||
    !isFusable(attrs.activation) || preluActivationWeights !== undefined
  ) {
    return delegate(context, "FusedConv2D", args);
  }
  const info = conv2DInfo(x.shape, filter.shape, attrs);
  const out = convForward(context, backend, x, filter, info);
  applyBiasActivation(
    context.native,
    out,
    info.outChannels,
    bias ? valuesOf(backend, bias) : null,
    attrs.activation as FusableActivation | undefined,
  );
  return backend.makeTensorInfo(info.outShape, "float32", out);
}

/**
 * `Conv2DBackpropFilter`: `dW = colᵀ · dy`, from the forward pass's kept im2col matrix when
 * there is one, else chunk by chunk; or the native direct loop.
 *
 * @param context The backend's BLAS library, native loops and im2col buffers.
 * @param args The kernel's inputs (`x`, `dy`), attributes (with `filterShape`) and backend.
 * @returns The filter gradient.
 */
export function conv2DBackpropFilterKernel(
  context: ProductKernelContext,
  args: KernelArgs,
): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs ?? {};
  if (!canUseBlasConv(backend, attrs, x, dy)) {
    return delegate(context, "Conv2DBackpropFilter", args);
  }
  const { blas, columnCache } = context;
  const toColumns = context.native === null ? im2col : context.native.im2col;
  const filterShape = attrs.filterShape as number[];
  const info = conv2DInfo(x.shape, filterShape, attrs);
  const xv = valuesOf(backend, x), dyv = valuesOf(backend, dy);
  const cout = info.outChannels;
  const rowsPerImage = info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const dw = allocate(backend, k * cout);
  const cached = context.cacheColumns ? columnCache.claim(x.dataId, convKey(info)) : null;
  const directConv = directFor(context, info, cout);
  if (directConv !== null) {
    if (cached !== null) columnCache.release(cached);
    directConv.convFilterGrad(xv, dyv, info, dw);
  } else if (isPointwise(info)) {
    const m = info.batchSize * rowsPerImage;
    blas.sgemm(true, false, k, cout, m, 1, xv, k, dyv, cout, 0, dw, cout);
  } else if (cached !== null) {
    // The forward pass's im2col matrix of this very x: dW = colᵀ · dy in one product.
    const m = info.batchSize * rowsPerImage;
    blas.sgemm(true, false, k, cout, m, 1, cached, k, dyv, cout, 0, dw, cout);
    columnCache.release(cached);
  } else {
    const step = imagesPerChunk(info, context.chunkElements);
    for (let n0 = 0; n0 < info.batchSize; n0 += step) {
      const n1 = Math.min(info.batchSize, n0 + step);
      const m = (n1 - n0) * rowsPerImage;
      const col = context.scratch.get("col", m * k);
      toColumns(xv, info, n0, n1, col);
      // dW += colᵀ · dy, accumulated over chunks (beta 1 after the first).
      blas.sgemm(
        true,
        false,
        k,
        cout,
        m,
        1,
        col,
        k,
        dyv.subarray(n0 * rowsPerImage * cout),
        cout,
        n0 === 0 ? 0 : 1,
        dw,
        cout,
      );
    }
  }
  return backend.makeTensorInfo(filterShape, "float32", dw);
}

/**
 * `Conv2DBackpropInput`: `dcol = dy · Wᵀ` chunk by chunk, scattered back by col2im; or the
 * native direct loop.
 *
 * @param context The backend's BLAS library, native loops and im2col buffers.
 * @param args The kernel's inputs (`dy`, `filter`), attributes (with `inputShape`) and backend.
 * @returns The input gradient.
 */
export function conv2DBackpropInputKernel(
  context: ProductKernelContext,
  args: KernelArgs,
): TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs ?? {};
  if (!canUseBlasConv(backend, attrs, dy, filter)) {
    return delegate(context, "Conv2DBackpropInput", args);
  }
  const { blas, native } = context;
  const inputShape = attrs.inputShape as number[];
  const info = conv2DInfo(inputShape, filter.shape, attrs);
  const dyv = valuesOf(backend, dy), wv = valuesOf(backend, filter);
  const cout = info.outChannels;
  const rowsPerImage = info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  // The native col2im writes every pixel of its images; the JS one adds into zeros.
  const dxSize = info.batchSize * info.inHeight * info.inWidth * info.inChannels;
  const dx = native === null ? allocateZeroed(backend, dxSize) : allocate(backend, dxSize);
  const directConv = directFor(context, info, info.inChannels);
  if (directConv !== null) {
    directConv.convInputGrad(dyv, wv, info, dx);
  } else if (isPointwise(info)) {
    const m = info.batchSize * rowsPerImage;
    blas.sgemm(false, true, m, k, cout, 1, dyv, cout, wv, cout, 0, dx, k);
  } else {
    const step = imagesPerChunk(info, context.chunkElements);
    for (let n0 = 0; n0 < info.batchSize; n0 += step) {
      const n1 = Math.min(info.batchSize, n0 + step);
      const m = (n1 - n0) * rowsPerImage;
      const col = context.scratch.get("col", m * k);
      // dcol = dy · Wᵀ, then scatter-add the patches back (col2im).
      blas.sgemm(
        false,
        true,
        m,
        k,
        cout,
        1,
        dyv.subarray(n0 * rowsPerImage * cout),
        cout,
        wv,
        cout,
        0,
        col,
        k,
      );
      if (native === null) col2im(col, info, n0, n1, dx);
      else native.col2im(col, info, n0, n1, dx);
    }
  }
  return backend.makeTensorInfo(inputShape, "float32", dx);
}

/**
 * The convolution kernels bound to one backend's context.
 *
 * @param context The backend's BLAS library, native loops and im2col buffers.
 * @returns Configs for `Conv2D`, `FusedConv2D`, `Conv2DBackpropFilter`, `Conv2DBackpropInput`.
 */
export function convolutionKernelConfigs(context: ProductKernelContext): BlasKernelConfig[] {
  return [
    { kernelName: "Conv2D", kernelFunc: (args) => conv2DKernel(context, args) },
    { kernelName: "FusedConv2D", kernelFunc: (args) => fusedConv2DKernel(context, args) },
    {
      kernelName: "Conv2DBackpropFilter",
      kernelFunc: (args) => conv2DBackpropFilterKernel(context, args),
    },
    {
      kernelName: "Conv2DBackpropInput",
      kernelFunc: (args) => conv2DBackpropInputKernel(context, args),
    },
  ];
}
