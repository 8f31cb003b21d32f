/**
 * Internal: the BLAS-based kernels of the "blas" backend. Convolutions run as im2col + `sgemm`
 * (and `sgemm` + col2im for the input gradient), matrix products call `sgemm` with the transposes
 * mapped to `CblasTrans`, and the fused variants add bias and activation in one pass; with
 * `nativeProducts`, stride-1 convolutions and batch-sized products run as the native kernels
 * of lib/engine/kernels/native/native.c instead. Every kernel
 * falls back to the original `cpu` kernel for cases it does not cover (NCHW, dilations, non-float32
 * inputs, batch broadcasts other than 1-to-many), so results never depend on which path ran.
 * @module
 */

import * as tf from "@tensorflow/tfjs-core";
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { BlasLibrary } from "./cblas.ts";
import type { NativeKernels } from "../native/native.ts";
import { allocate, allocateZeroed } from "./backend.ts";

/** Arguments tfjs passes to a kernel function. */
interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** The original `cpu` kernel for a name, used as the fallback. */
export type FallbackLookup = (kernelName: string) => KernelFunc;

/** Rows of an im2col matrix built at a time: bounds scratch memory and keeps chunks in cache. */
const DEFAULT_CHUNK_ELEMENTS = 1 << 20;

/** Grow-only scratch buffers, one per purpose, reused across calls (kernels run synchronously). */
class Scratch {
  #buffers = new Map<string, Float32Array>();
  get(purpose: string, length: number): Float32Array {
    let buffer = this.#buffers.get(purpose);
    if (buffer === undefined || buffer.length < length) {
      buffer = new Float32Array(length);
      this.#buffers.set(purpose, buffer);
    }
    return buffer.subarray(0, length);
  }
}

type Conv2DInfo = backend_util.Conv2DInfo;

function valuesOf(backend: MathBackendCPU, info: TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}

function isFloat32(backend: MathBackendCPU, ...infos: (TensorInfo | undefined)[]): boolean {
  return infos.every((info) =>
    info === undefined ||
    (info.dtype === "float32" && backend.data.get(info.dataId).values instanceof Float32Array)
  );
}

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

/**
 * Writes the im2col rows of images [n0, n1) of NHWC `x` into `col`: one row per output pixel,
 * columns ordered (filter row, filter column, input channel) like an HWIO filter flattened to
 * [kh·kw·cin, cout], so `col · filter` is the convolution. Padding reads as zeros.
 */
export function im2col(
  x: Float32Array,
  info: Conv2DInfo,
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

/** The adjoint of {@linkcode im2col}: adds each row of `col` back into images [n0, n1) of `dx`. */
export function col2im(
  col: Float32Array,
  info: Conv2DInfo,
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

/** Images per chunk so that one chunk's im2col matrix stays near `chunkElements` values. */
function imagesPerChunk(info: Conv2DInfo, chunkElements: number): number {
  const rowsPerImage = info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  return Math.max(1, Math.min(info.batchSize, Math.floor(chunkElements / (rowsPerImage * k))));
}

/** Options of {@linkcode createBlasKernels}. */
export interface BlasKernelOptions {
  /** Target size of one im2col chunk, in float32 values. @default 1048576 */
  chunkElements?: number;
  /**
   * While gradients are recorded, keep each convolution's im2col matrix from the forward pass
   * for its filter gradient instead of building it twice. @default true
   */
  cacheColumns?: boolean;
  /** Native im2col/col2im and bias/activation loops (lib/engine/kernels/native/native.c), or null for JS. */
  native?: NativeKernels | null;
  /**
   * Run stride-1 convolutions whose vector channels fit as the native direct loops
   * ({@linkcode NativeKernels.convForward} and its gradients), and matrix products with a
   * batch-sized dimension as the native small products ({@linkcode NativeKernels.gemmSmallM}
   * and its transposes); needs `native`. @default false
   */
  nativeProducts?: boolean;
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

/** Largest batch-sized dimension for which the native small products replace `sgemm`. */
const SMALL_BATCH = 128;

/** Identifies a convolution's geometry, so that a cached im2col matrix is only reused as-is. */
function convKey(info: Conv2DInfo): string {
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
class ColumnCache {
  #entries = new WeakMap<object, { key: string; col: Float32Array }>();
  #pool: Float32Array[] = [];
  take(length: number): Float32Array {
    const at = this.#pool.findIndex((a) => a.length === length);
    return at >= 0 ? this.#pool.splice(at, 1)[0]! : new Float32Array(length);
  }
  keep(dataId: object, key: string, col: Float32Array) {
    this.#entries.set(dataId, { key, col });
  }
  claim(dataId: object, key: string): Float32Array | null {
    const entry = this.#entries.get(dataId);
    if (entry === undefined) return null;
    this.#entries.delete(dataId);
    return entry.key === key ? entry.col : null;
  }
  release(col: Float32Array) {
    // A few layers' worth; older arrays are left to the garbage collector.
    this.#pool.push(col);
    if (this.#pool.length > 8) this.#pool.shift();
  }
}

/** Activations applied in the fused kernels' own pass; others go through the `cpu` kernels. */
type FusableActivation = "linear" | "relu" | "relu6";

function isFusable(activation: unknown): activation is FusableActivation | undefined {
  return activation === undefined || activation === null || activation === "linear" ||
    activation === "relu" || activation === "relu6";
}

/**
 * Adds a per-channel bias (length `channels`, or 1 for a scalar) and applies a fusable activation
 * in place over `out`, whose last dimension has `channels` values.
 */
function biasActivationInPlace(
  out: Float32Array,
  channels: number,
  bias: Float32Array | null,
  activation: FusableActivation | undefined,
) {
  const relu = activation === "relu", relu6 = activation === "relu6";
  if (bias === null && !relu && !relu6) return;
  const scalarBias = bias !== null && bias.length === 1 ? bias[0]! : 0;
  for (let i = 0; i < out.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      let v = out[i + c]! + (bias === null ? 0 : bias.length === 1 ? scalarBias : bias[c]!);
      // Branch-free max(0, v) (a data-dependent branch mispredicts half the time); NaN stays NaN.
      if (relu) v = v === -Infinity ? 0 : (v + Math.abs(v)) * 0.5;
      else if (relu6) v = v < 0 ? 0 : v > 6 ? 6 : v;
      out[i + c] = v;
    }
  }
}

/** Builds the kernel configs of the "blas" backend: `backendName` is filled in by the caller. */
export function createBlasKernels(
  blas: BlasLibrary,
  fallback: FallbackLookup,
  options: BlasKernelOptions = {},
): Omit<KernelConfig, "backendName">[] {
  const chunkElements = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const cacheColumns = options.cacheColumns ?? true;
  const native = options.native ?? null;
  const direct = options.nativeProducts === true ? native : null;
  /** The native direct convolutions, when they take this geometry with `channels` as vectors. */
  const directFor = (info: Conv2DInfo, channels: number) =>
    direct !== null && !isPointwise(info) && direct.directConvFits(info, channels) ? direct : null;
  const columnCache = new ColumnCache();
  const scratch = new Scratch();
  const toColumns = native === null ? im2col : native.im2col;
  const biasActivation = (
    out: Float32Array,
    channels: number,
    bias: Float32Array | null,
    activation: FusableActivation | undefined,
  ) => {
    if (native === null) biasActivationInPlace(out, channels, bias, activation);
    else if (bias !== null || activation === "relu" || activation === "relu6") {
      native.biasActivation(out, channels, bias, activation ?? "linear");
    }
  };

  /** Runs the `cpu` kernel of this name on the same arguments. */
  const delegate = (name: string, args: KernelArgs) =>
    fallback(name)(args as Parameters<KernelFunc>[0]) as TensorInfo;

  /** NHWC convolution `x ⊛ filter` into a fresh array of outShape's size. */
  function convForward(
    backend: MathBackendCPU,
    x: TensorInfo,
    filter: TensorInfo,
    info: Conv2DInfo,
  ) {
    const xv = valuesOf(backend, x), wv = valuesOf(backend, filter);
    const cout = info.outChannels;
    const rowsPerImage = info.outHeight * info.outWidth;
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const out = allocate(backend, info.batchSize * rowsPerImage * cout);
    const directConv = directFor(info, cout);
    if (directConv !== null) {
      directConv.convForward(xv, wv, info, out);
      return out;
    }
    if (isPointwise(info)) {
      const m = info.batchSize * rowsPerImage;
      blas.sgemm(false, false, m, cout, k, 1, xv, k, wv, cout, 0, out, cout);
      return out;
    }
    if (cacheColumns && isRecordingGradients() && !isVariableData(x.dataId)) {
      // Training: build the whole im2col matrix once and keep it for Conv2DBackpropFilter.
      const m = info.batchSize * rowsPerImage;
      const col = columnCache.take(m * k);
      toColumns(xv, info, 0, info.batchSize, col);
      blas.sgemm(false, false, m, cout, k, 1, col, k, wv, cout, 0, out, cout);
      columnCache.keep(x.dataId, convKey(info), col);
      return out;
    }
    const step = imagesPerChunk(info, chunkElements);
    for (let n0 = 0; n0 < info.batchSize; n0 += step) {
      const n1 = Math.min(info.batchSize, n0 + step);
      const m = (n1 - n0) * rowsPerImage;
      const col = scratch.get("col", m * k);
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

  function conv2DInfo(xShape: number[], filterShape: number[], attrs: NamedAttrMap) {
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

  function canUseBlasConv(backend: MathBackendCPU, attrs: NamedAttrMap, ...infos: TensorInfo[]) {
    return (attrs.dataFormat ?? "NHWC") === "NHWC" && hasUnitDilation(attrs.dilations) &&
      isFloat32(backend, ...infos);
  }

  const conv2D: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs ?? {};
    if (!canUseBlasConv(backend, attrs, x, filter)) return delegate("Conv2D", args);
    const info = conv2DInfo(x.shape, filter.shape, attrs);
    return backend.makeTensorInfo(info.outShape, "float32", convForward(backend, x, filter, info));
  };

  const fusedConv2D: KernelFunc = (args) => {
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
      return delegate("FusedConv2D", args);
    }
    const info = conv2DInfo(x.shape, filter.shape, attrs);
    const out = convForward(backend, x, filter, info);
    biasActivation(
      out,
      info.outChannels,
      bias ? valuesOf(backend, bias) : null,
      attrs.activation as FusableActivation | undefined,
    );
    return backend.makeTensorInfo(info.outShape, "float32", out);
  };

  const conv2DBackpropFilter: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs ?? {};
    if (!canUseBlasConv(backend, attrs, x, dy)) return delegate("Conv2DBackpropFilter", args);
    const filterShape = attrs.filterShape as number[];
    const info = conv2DInfo(x.shape, filterShape, attrs);
    const xv = valuesOf(backend, x), dyv = valuesOf(backend, dy);
    const cout = info.outChannels;
    const rowsPerImage = info.outHeight * info.outWidth;
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const dw = allocate(backend, k * cout);
    const cached = cacheColumns ? columnCache.claim(x.dataId, convKey(info)) : null;
    const directConv = directFor(info, cout);
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
      const step = imagesPerChunk(info, chunkElements);
      for (let n0 = 0; n0 < info.batchSize; n0 += step) {
        const n1 = Math.min(info.batchSize, n0 + step);
        const m = (n1 - n0) * rowsPerImage;
        const col = scratch.get("col", m * k);
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
  };

  const conv2DBackpropInput: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs ?? {};
    if (!canUseBlasConv(backend, attrs, dy, filter)) return delegate("Conv2DBackpropInput", args);
    const inputShape = attrs.inputShape as number[];
    const info = conv2DInfo(inputShape, filter.shape, attrs);
    const dyv = valuesOf(backend, dy), wv = valuesOf(backend, filter);
    const cout = info.outChannels;
    const rowsPerImage = info.outHeight * info.outWidth;
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    // The native col2im writes every pixel of its images; the JS one adds into zeros.
    const dxSize = info.batchSize * info.inHeight * info.inWidth * info.inChannels;
    const dx = native === null ? allocateZeroed(backend, dxSize) : allocate(backend, dxSize);
    const directConv = directFor(info, info.inChannels);
    if (directConv !== null) {
      directConv.convInputGrad(dyv, wv, info, dx);
    } else if (isPointwise(info)) {
      const m = info.batchSize * rowsPerImage;
      blas.sgemm(false, true, m, k, cout, 1, dyv, cout, wv, cout, 0, dx, k);
    } else {
      const step = imagesPerChunk(info, chunkElements);
      for (let n0 = 0; n0 < info.batchSize; n0 += step) {
        const n1 = Math.min(info.batchSize, n0 + step);
        const m = (n1 - n0) * rowsPerImage;
        const col = scratch.get("col", m * k);
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
  };

  /**
   * Shapes of a (possibly broadcast) batched product, or null when the batch dimensions need a
   * broadcast that the `cpu` kernel's modulo indexing handles and this one does not.
   */
  function matMulPlan(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean) {
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

  function matMulValues(
    backend: MathBackendCPU,
    a: TensorInfo,
    b: TensorInfo,
    transposeA: boolean,
    transposeB: boolean,
    plan: NonNullable<ReturnType<typeof matMulPlan>>,
  ) {
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

  const batchMatMul: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const attrs = args.attrs ?? {};
    const transposeA = Boolean(attrs.transposeA), transposeB = Boolean(attrs.transposeB);
    const plan = isFloat32(backend, a, b) ? matMulPlan(a, b, transposeA, transposeB) : null;
    if (plan === null || plan.m * plan.n * plan.k === 0) return delegate("BatchMatMul", args);
    const out = matMulValues(backend, a, b, transposeA, transposeB, plan);
    return backend.makeTensorInfo(plan.outShape, "float32", out);
  };

  const fusedMatMul: KernelFunc = (args) => {
    const backend = args.backend as MathBackendCPU;
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: TensorInfo;
      b: TensorInfo;
      bias?: TensorInfo;
      preluActivationWeights?: TensorInfo;
    };
    const attrs = args.attrs ?? {};
    const transposeA = Boolean(attrs.transposeA), transposeB = Boolean(attrs.transposeB);
    const plan = isFloat32(backend, a, b, bias) ? matMulPlan(a, b, transposeA, transposeB) : null;
    const biasSize = bias ? bias.shape.reduce((p, d) => p * d, 1) : 0;
    const biasFits = bias === undefined ||
      (plan !== null && (biasSize === 1 || (biasSize === plan.n && bias.shape.at(-1) === plan.n)) &&
        bias.shape.length <= plan.outShape.length);
    if (
      plan === null || plan.m * plan.n * plan.k === 0 || !biasFits ||
      !isFusable(attrs.activation) || preluActivationWeights !== undefined
    ) {
      return delegate("_FusedMatMul", args);
    }
    const out = matMulValues(backend, a, b, transposeA, transposeB, plan);
    biasActivation(
      out,
      plan.n,
      bias ? valuesOf(backend, bias) : null,
      attrs.activation as FusableActivation | undefined,
    );
    return backend.makeTensorInfo(plan.outShape, "float32", out);
  };

  return [
    { kernelName: "Conv2D", kernelFunc: conv2D },
    { kernelName: "FusedConv2D", kernelFunc: fusedConv2D },
    { kernelName: "Conv2DBackpropFilter", kernelFunc: conv2DBackpropFilter },
    { kernelName: "Conv2DBackpropInput", kernelFunc: conv2DBackpropInput },
    { kernelName: "BatchMatMul", kernelFunc: batchMatMul },
    { kernelName: "_FusedMatMul", kernelFunc: fusedMatMul },
  ];
}
