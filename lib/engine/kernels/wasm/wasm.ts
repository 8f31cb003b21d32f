/**
 * Training kernels for tfjs's `wasm` backend, built on its fast XNNPACK primitives:
 *
 * - `Conv2DBackpropFilter` (missing from tfjs 4.22, tfjs issue #8474): one forward `Conv2D` that
 *   correlates the input with the output gradient. With stride 1 and `x` no larger than `dy`,
 *   `dy` (channels as the batch, batch as the channels) is the input and `x` the filter;
 *   otherwise `x` (laid out the same way) is the input and `dy` the filter, dilated by the stride.
 *   XNNPACK repacks the filter on every call, so the smaller tensor plays the filter.
 * - `Conv2DBackpropInput` (tfjs's is a slow scalar loop): one forward `Conv2D` of the output
 *   gradient (zero-stuffed for strides > 1) with the flipped, channel-swapped filter ("full"
 *   correlation).
 * - `BatchMatMul` (tfjs's falls back to a slow scalar loop for transposed or batched operands):
 *   explicit blocked transposes of whichever operands are cheapest, then XNNPACK's plain 2-D
 *   product, using `A·B = (Bᵀ·Aᵀ)ᵀ` when that moves less data — also for plain products whose
 *   large right factor is new (weights during training), which XNNPACK would repack slowly.
 * - `MaxPoolGrad` (tfjs's is a slow loop): one JS pass over the windows on the wasm heap.
 *
 * Kernels compose other registered kernels at the backend level (no engine ops inside, so no
 * tape or tidy interaction) and free every intermediate they allocate.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { type ConvGeometry, convGeometry, type Shape4 } from "../geometry.ts";
import { dilateInto, permuteInto, transposeInto } from "../js/layout.ts";
import { type KernelArgs, originalKernel, overrideKernel } from "../registry.ts";
import { maxPoolGrad, type MaxPoolGradOptions } from "../js/pooling.ts";

/** Backend name these kernels are for. */
const WASM = "wasm";

/** A float32 view of a tensor's bytes on the wasm heap. Take it after the step's allocations:
 * growing the heap detaches older views. */
function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

function free(backend: BackendWasm, info: tf.TensorInfo): void {
  backend.disposeData(info.dataId);
}

/** Runs one of the wasm backend's own kernels (one we have not replaced). */
function runOriginal(
  kernelName: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const kernel = originalKernel(kernelName, WASM);
  if (kernel === undefined) {
    throw new Error(
      `Cannot run wasm kernel "${kernelName}": it is not registered; import ` +
        `"@tensorflow/tfjs-backend-wasm" before registering the training kernels`,
    );
  }
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** A stride-1 forward convolution through the wasm backend's XNNPACK `Conv2D`. */
function conv2d(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: [number, number, number, number],
  dilations: [number, number],
): tf.TensorInfo {
  const [top, bottom, left, right] = pads;
  const attrs = {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: "NHWC",
    dilations,
    dimRoundingMode: undefined,
  } as unknown as tf.NamedAttrMap;
  return runOriginal(tf.Conv2D, backend, { x, filter }, attrs);
}

function requireChannelsLast(g: ConvGeometry, kernelName: string): void {
  if (!g.channelsLast) {
    throw new Error(
      `Cannot run wasm kernel "${kernelName}": expected dataFormat "NHWC", found "NCHW" ` +
        `(the wasm backend's Conv2D supports NHWC only)`,
    );
  }
}

function sizeOf(info: tf.TensorInfo): number {
  return tf.util.sizeFromShape(info.shape);
}

/**
 * The stride-1 filter gradient with the roles swapped: `dy` laid out `[co, oh, ow, b]` is the
 * convolution's input and `x` laid out `[h, w, b, ci]` its filter, giving `[co, kh, kw, ci]` with
 * the filter taps reversed. XNNPACK repacks its filter on every call (the filter is new data each
 * time), so the smaller of `x` and `dy` should be the filter: for the tutorial's layers, `x`.
 *
 * @returns The gradient, or null when the padding does not fit this layout.
 */
function filterGradWithInputAsFilter(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: ConvGeometry,
): tf.TensorInfo | null {
  const { batch: B, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const { filterHeight: KH, filterWidth: KW } = g;
  const pads: [number, number, number, number] = [
    KH - 1 - g.padTop,
    KH - 1 - g.padBottom,
    KW - 1 - g.padLeft,
    KW - 1 - g.padRight,
  ];
  if (Math.min(...pads) < 0) return null;
  const dyT = backend.makeOutput([O, OH, OW, B], "float32");
  const xF = backend.makeOutput([g.inHeight, g.inWidth, B, C], "float32");
  permuteInto(heap(backend, dy), heap(backend, dyT), {
    shape: dy.shape as Shape4,
    perm: [3, 1, 2, 0],
  });
  permuteInto(heap(backend, x), heap(backend, xF), {
    shape: x.shape as Shape4,
    perm: [1, 2, 0, 3],
  });
  const product = conv2d(backend, dyT, xF, pads, [1, 1]);
  free(backend, dyT);
  free(backend, xF);
  const dw = backend.makeOutput([KH, KW, C, O], "float32");
  permuteInto(heap(backend, product), heap(backend, dw), {
    shape: [O, KH, KW, C],
    perm: [1, 2, 3, 0],
    reverse: [false, true, true, false],
  });
  free(backend, product);
  return dw;
}

/**
 * `Conv2DBackpropFilter` for wasm: `dw[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh−p, ow·s+kw−p, ci] ·
 * dy[b,oh,ow,co]` is a stride-1 convolution of `x` laid out `[ci, h, w, b]` with `dy` laid out
 * `[oh, ow, b, co]` as the filter, dilated by the forward stride; its output `[ci, kh, kw, co]` is
 * transposed back. (For stride 1, `filterGradWithInputAsFilter` swaps the roles when `x` is
 * smaller.)
 */
function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const g = convGeometry(x.shape as Shape4, attrs.filterShape as Shape4, attrs);
  requireChannelsLast(g, tf.Conv2DBackpropFilter);
  const { batch: B, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = g;
  if (SH === 1 && SW === 1 && sizeOf(x) <= sizeOf(dy)) {
    const dw = filterGradWithInputAsFilter(backend, x, dy, g);
    if (dw !== null) return dw;
  }
  // Bottom/right padding that makes the stride-1 output exactly KH×KW. Negative means the
  // forward convolution never read the last input rows (valid padding, uneven stride): crop them.
  const padBottom = KH + (OH - 1) * SH - g.inHeight - g.padTop;
  const padRight = KW + (OW - 1) * SW - g.inWidth - g.padLeft;
  const usedHeight = g.inHeight + Math.min(0, padBottom);
  const usedWidth = g.inWidth + Math.min(0, padRight);

  // 1. Lay out x as [ci, h, w, b] and dy as [oh, ow, b, co].
  const xT = backend.makeOutput([C, usedHeight, usedWidth, B], "float32");
  const dyT = backend.makeOutput([OH, OW, B, O], "float32");
  permuteInto(heap(backend, x), heap(backend, xT), {
    shape: x.shape as Shape4,
    perm: [3, 1, 2, 0],
    extent: [B, usedHeight, usedWidth, C],
  });
  permuteInto(heap(backend, dy), heap(backend, dyT), {
    shape: dy.shape as Shape4,
    perm: [1, 2, 0, 3],
  });
  // 2. One XNNPACK convolution gives [ci, kh, kw, co].
  const pads: [number, number, number, number] = [
    g.padTop,
    Math.max(0, padBottom),
    g.padLeft,
    Math.max(0, padRight),
  ];
  const product = conv2d(backend, xT, dyT, pads, [SH, SW]);
  free(backend, xT);
  free(backend, dyT);
  // 3. Back to the filter layout [kh, kw, ci, co].
  const dw = backend.makeOutput([KH, KW, C, O], "float32");
  permuteInto(heap(backend, product), heap(backend, dw), {
    shape: [C, KH, KW, O],
    perm: [1, 2, 0, 3],
  });
  free(backend, product);
  return dw;
}

/**
 * `Conv2DBackpropInput` for wasm: a "full" stride-1 correlation of `dy` (zero-stuffed by the
 * forward stride) with the filter flipped in space and with its channel axes swapped.
 */
function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const g = convGeometry(attrs.inputShape as Shape4, filter.shape as Shape4, attrs);
  requireChannelsLast(g, tf.Conv2DBackpropInput);
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = g;
  const dilatedHeight = (g.outHeight - 1) * SH + 1;
  const dilatedWidth = (g.outWidth - 1) * SW + 1;
  const top = KH - 1 - g.padTop;
  const left = KW - 1 - g.padLeft;
  const bottom = g.inHeight + KH - 1 - dilatedHeight - top;
  const right = g.inWidth + KW - 1 - dilatedWidth - left;
  if (Math.min(top, left, bottom, right) < 0) {
    // Explicit paddings wider than the filter: rare; tfjs's own kernel handles them.
    return runOriginal(tf.Conv2DBackpropInput, backend, args.inputs, args.attrs ?? {});
  }

  // 1. Zero-stuff dy for strides > 1, flip and channel-swap the filter.
  const strided = SH > 1 || SW > 1;
  const dyDilated = strided
    ? backend.makeOutput([g.batch, dilatedHeight, dilatedWidth, g.outChannels], "float32")
    : dy;
  const flipped = backend.makeOutput([KH, KW, g.outChannels, g.inChannels], "float32");
  if (strided) {
    const out = heap(backend, dyDilated);
    out.fill(0);
    dilateInto(heap(backend, dy), out, {
      shape: dy.shape as Shape4,
      strideHeight: SH,
      strideWidth: SW,
    });
  }
  permuteInto(heap(backend, filter), heap(backend, flipped), {
    shape: filter.shape as Shape4,
    perm: [0, 1, 3, 2],
    reverse: [true, true, false, false],
  });
  // 2. One XNNPACK convolution gives dx.
  const dx = conv2d(backend, dyDilated, flipped, [top, bottom, left, right], [1, 1]);
  free(backend, flipped);
  if (strided) free(backend, dyDilated);
  return dx;
}

/** How to lay out one product so that XNNPACK's plain (untransposed) product computes it. */
interface MatMulPlan {
  /** Compute `Cᵀ = op(B)ᵀ·op(A)ᵀ` and transpose the result, instead of `C = op(A)·op(B)`. */
  swapped: boolean;
  /** Transpose A explicitly first. */
  copyA: boolean;
  /** Transpose B explicitly first. */
  copyB: boolean;
}

/** Cost of XNNPACK packing one weight ("right factor") element, relative to one element of our
 * JS transpose (measured: packing 8192×500 weights ~90 ms, transposing them ~20–35 ms). */
const PACK_COST = 3;

/** Right factors of plain products already seen once. XNNPACK keeps a packed operator per right
 * factor while that tensor lives, so a factor used twice (weights during evaluation) is worth
 * packing; one used once (weights that change every training step) is not. */
const seenRightFactors = new WeakSet<object>();

/**
 * Picks the layout that moves the fewest floats: our explicit transposes, XNNPACK's packing of
 * the right factor (skipped when its packed operator is cached), and the final transpose when
 * swapped.
 */
function planMatMul(
  dims: { m: number; k: number; n: number },
  transposeA: boolean,
  transposeB: boolean,
  rightCached: boolean,
): MatMulPlan {
  const { m, k, n } = dims;
  const packB = rightCached && !transposeB ? 0 : PACK_COST * k * n;
  const direct = (transposeA ? m * k : 0) + (transposeB ? k * n : 0) + packB;
  const swapped = (transposeA ? 0 : m * k) + (transposeB ? 0 : k * n) + m * n + PACK_COST * k * m;
  return swapped < direct
    ? { swapped: true, copyA: !transposeA, copyB: !transposeB }
    : { swapped: false, copyA: transposeA, copyB: transposeB };
}

/**
 * `BatchMatMul` for wasm. Plain 2-D products go to tfjs's kernel (XNNPACK); transposed operands
 * and batched products are rearranged so that every product is a plain 2-D XNNPACK one.
 */
function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const rankA = a.shape.length;
  const rankB = b.shape.length;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  // Like tfjs's kernels: batches pair up one to one, or one side has a single matrix.
  const pairable = batchA === batchB || batchA === 1 || batchB === 1;
  if (a.dtype !== "float32" || b.dtype !== "float32" || !pairable) {
    return runOriginal(tf.BatchMatMul, backend, args.inputs, args.attrs ?? {});
  }
  const m = transposeA ? a.shape[rankA - 1]! : a.shape[rankA - 2]!;
  const k = transposeA ? a.shape[rankA - 2]! : a.shape[rankA - 1]!;
  const kB = transposeB ? b.shape[rankB - 1]! : b.shape[rankB - 2]!;
  const n = transposeB ? b.shape[rankB - 2]! : b.shape[rankB - 1]!;
  if (k !== kB) {
    throw new RangeError(
      `Cannot multiply matrices: inner sizes differ (${k} and ${kB}) for shapes ` +
        `[${a.shape}] and [${b.shape}] with transposeA=${transposeA}, transposeB=${transposeB}`,
    );
  }
  const outerShape = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const batch = Math.max(batchA, batchB);
  const plain = !transposeA && !transposeB && batch === 1;
  const rightCached = plain && seenRightFactors.has(b.dataId);
  if (plain) seenRightFactors.add(b.dataId);
  const plan = planMatMul({ m, k, n }, transposeA, transposeB, rightCached);
  if (plain && !plan.swapped) {
    return runOriginal(tf.BatchMatMul, backend, args.inputs, args.attrs ?? {});
  }
  // The left and right factors of the plain product, as stored (rows × cols).
  const left = plan.swapped
    ? {
      src: b,
      rows: plan.copyB ? k : n,
      cols: plan.copyB ? n : k,
      copy: plan.copyB,
      count: batchB,
    }
    : {
      src: a,
      rows: plan.copyA ? k : m,
      cols: plan.copyA ? m : k,
      copy: plan.copyA,
      count: batchA,
    };
  const right = plan.swapped
    ? {
      src: a,
      rows: plan.copyA ? m : k,
      cols: plan.copyA ? k : m,
      copy: plan.copyA,
      count: batchA,
    }
    : {
      src: b,
      rows: plan.copyB ? n : k,
      cols: plan.copyB ? k : n,
      copy: plan.copyB,
      count: batchB,
    };
  const productRows = plan.swapped ? n : m;
  const productCols = plan.swapped ? m : n;
  const out = batch === 1 ? null : backend.makeOutput([batch, m, n], "float32");
  let result: tf.TensorInfo | null = null;
  for (let i = 0; i < batch; i++) {
    // 1. Each factor as a fresh 2-D tensor: transposed when planned, copied when batched,
    //    used as is otherwise.
    const factors = [left, right].map((f) => {
      const size = f.rows * f.cols;
      if (!f.copy && batch === 1) return { info: f.src, owned: false };
      const info = backend.makeOutput(f.copy ? [f.cols, f.rows] : [f.rows, f.cols], "float32");
      const src = heap(backend, f.src);
      const offset = (i % f.count) * size;
      if (f.copy) {
        transposeInto(src, heap(backend, info), { rows: f.rows, cols: f.cols, srcOffset: offset });
      } else heap(backend, info).set(src.subarray(offset, offset + size));
      return { info, owned: true };
    }) as [{ info: tf.TensorInfo; owned: boolean }, { info: tf.TensorInfo; owned: boolean }];
    const [l, r] = factors;
    const lInfo = { ...l.info, shape: [1, productRows, k] };
    const rInfo = { ...r.info, shape: [1, k, productCols] };
    // 2. The plain product through tfjs's XNNPACK path.
    const product = runOriginal(tf.BatchMatMul, backend, { a: lInfo, b: rInfo }, {
      transposeA: false,
      transposeB: false,
    });
    if (l.owned) free(backend, l.info);
    if (r.owned) free(backend, r.info);
    // 3. Un-swap, and gather batches.
    if (batch === 1 && !plan.swapped) {
      result = product;
    } else {
      const dst = out ?? backend.makeOutput([m, n], "float32");
      const p = heap(backend, product);
      const d = heap(backend, dst);
      if (plan.swapped) {
        transposeInto(p, d, { rows: productRows, cols: productCols, dstOffset: i * m * n });
      } else d.set(p, i * m * n);
      free(backend, product);
      if (out === null) result = dst;
    }
  }
  const final = out ?? result!;
  return { dataId: final.dataId, dtype: "float32", shape: [...outerShape, m, n] };
}

/** `MaxPoolGrad` for wasm: one JS pass over the windows on the heap (tfjs's is a slow loop). */
function maxPoolGradKernel(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const attrs = args.attrs as unknown as Omit<MaxPoolGradOptions, "shape">;
  const dx = backend.makeOutput([...input.shape], "float32");
  heap(backend, dx).set(
    maxPoolGrad(heap(backend, dy), heap(backend, input), {
      ...attrs,
      shape: input.shape as Shape4,
    }),
  );
  return dx;
}

/** The kernels this module registers, by name. */
export const WASM_TRAINING_KERNELS: readonly string[] = [
  tf.Conv2DBackpropFilter,
  tf.Conv2DBackpropInput,
  tf.BatchMatMul,
  tf.MaxPoolGrad,
];

/**
 * Registers the fast training kernels for the `wasm` backend (replacing tfjs's
 * `Conv2DBackpropInput` and `BatchMatMul`, adding `Conv2DBackpropFilter`). Idempotent. Import
 * `@tensorflow/tfjs-backend-wasm` first: the new kernels call its `Conv2D` and `BatchMatMul`.
 *
 * @returns Names of the kernels that changed (empty when already registered).
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-wasm";
 * import { registerWasmTrainingKernels } from "./wasm.ts";
 * registerWasmTrainingKernels();
 * if (registerWasmTrainingKernels().length !== 0) throw new Error("not idempotent");
 * ```
 */
export function registerWasmTrainingKernels(): string[] {
  for (const name of [tf.Conv2D, tf.BatchMatMul]) {
    if (originalKernel(name, WASM) === undefined) {
      throw new Error(
        `Cannot register wasm training kernels: kernel "${name}" of the wasm backend is missing; ` +
          `import "@tensorflow/tfjs-backend-wasm" first`,
      );
    }
  }
  const configs: tf.KernelConfig[] = [
    { kernelName: tf.Conv2DBackpropFilter, backendName: WASM, kernelFunc: conv2DBackpropFilter },
    { kernelName: tf.Conv2DBackpropInput, backendName: WASM, kernelFunc: conv2DBackpropInput },
    { kernelName: tf.BatchMatMul, backendName: WASM, kernelFunc: batchMatMul },
    { kernelName: tf.MaxPoolGrad, backendName: WASM, kernelFunc: maxPoolGradKernel },
  ];
  return configs.filter((config) => overrideKernel(config)).map((c) => c.kernelName);
}
