/**
 * Shared helpers of the training kernels (lib/engine/kernels/wasm/wasm.ts, lib/engine/kernels/js/cpu.ts): convolution
 * geometry, fast typed-array loops (permutations, blocked 2-D transposes, zero-stuffing, direct
 * convolution gradients) and a small registry that swaps kernels while keeping the originals.
 * Internal: the public entry point is `registerTrainingKernels` in lib/engine/backend.ts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { backend_util } from "@tensorflow/tfjs-core";

/** What tfjs passes to a kernel function. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** A 4-D shape. */
export type Shape4 = [number, number, number, number];

/** Everything a 2-D convolution gradient loop needs, in NHWC terms. */
export interface ConvGeometry {
  /** Images in the batch. */
  batch: number;
  /** Input rows. */
  inHeight: number;
  /** Input columns. */
  inWidth: number;
  /** Input channels. */
  inChannels: number;
  /** Output rows. */
  outHeight: number;
  /** Output columns. */
  outWidth: number;
  /** Output channels. */
  outChannels: number;
  /** Filter rows. */
  filterHeight: number;
  /** Filter columns. */
  filterWidth: number;
  /** Vertical stride. */
  strideHeight: number;
  /** Horizontal stride. */
  strideWidth: number;
  /** Implicit zero rows above the input. */
  padTop: number;
  /** Implicit zero rows below the input (as tfjs computes them). */
  padBottom: number;
  /** Implicit zero columns left of the input. */
  padLeft: number;
  /** Implicit zero columns right of the input (as tfjs computes them). */
  padRight: number;
  /** Whether the tensors are NHWC (tfjs's default); NCHW is left to the original kernels. */
  channelsLast: boolean;
}

/** The attributes the two convolution-gradient kernels share. */
export interface ConvGradAttrs {
  /** Strides of the forward convolution. */
  strides: number | [number, number];
  /** Padding of the forward convolution. */
  pad: "same" | "valid" | number | backend_util.ExplicitPadding;
  /** "NHWC" or "NCHW". */
  dataFormat: "NHWC" | "NCHW";
  /** Rounding of the output size for numeric padding. */
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/**
 * Computes the geometry of a forward 2-D convolution (dilation 1) the way tfjs does.
 *
 * @param xShape Input shape.
 * @param filterShape Filter shape `[fh, fw, in, out]`.
 * @param attrs Strides, padding, data format, rounding.
 * @returns The geometry.
 * @example
 * ```ts
 * import { convGeometry } from "./loops.ts";
 * const g = convGeometry([30, 32, 32, 3], [3, 3, 3, 16], { strides: 1, pad: "same", dataFormat: "NHWC" });
 * if (g.outHeight !== 32 || g.padTop !== 1 || g.padBottom !== 1) throw new Error("bad geometry");
 * ```
 */
export function convGeometry(
  xShape: Shape4,
  filterShape: Shape4,
  attrs: ConvGradAttrs,
): ConvGeometry {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padBottom: info.padInfo.bottom,
    padLeft: info.padInfo.left,
    padRight: info.padInfo.right,
    channelsLast: info.dataFormat === "channelsLast",
  };
}

/** How `permuteInto` reads its source. */
export interface PermuteOptions {
  /** Source shape. */
  shape: Shape4;
  /** Axis permutation: destination axis `i` is source axis `perm[i]`, as in `tf.transpose`. */
  perm: Shape4;
  /** Copy only the leading `extent[i]` entries of each source axis (a crop). @default shape */
  extent?: Shape4;
  /** Reverse these source axes (within the extent), e.g. to flip a filter. @default none */
  reverse?: [boolean, boolean, boolean, boolean];
}

/**
 * Writes a permuted (optionally cropped and reversed) copy of a 4-D array.
 *
 * @param src Source values, row-major.
 * @param dst Destination, at least as long as the (cropped) source.
 * @param options Shape, permutation, crop and reversal.
 * @example
 * ```ts
 * import { permuteInto } from "./loops.ts";
 * const out = new Float32Array(6);
 * permuteInto(Float32Array.from([1, 2, 3, 4, 5, 6]), out, { shape: [1, 2, 3, 1], perm: [0, 2, 1, 3] });
 * if (out.join() !== "1,4,2,5,3,6") throw new Error("bad transpose");
 * ```
 */
export function permuteInto(src: Float32Array, dst: Float32Array, options: PermuteOptions): void {
  const { shape, perm } = options;
  const extent = options.extent ?? shape;
  const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  let start = 0;
  const steps = [0, 0, 0, 0];
  const sizes = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const axis = perm[i]!;
    const reversed = options.reverse?.[axis] ?? false;
    sizes[i] = extent[axis]!;
    steps[i] = reversed ? -strides[axis]! : strides[axis]!;
    if (reversed) start += (extent[axis]! - 1) * strides[axis]!;
  }
  const [n0, n1, n2, n3] = sizes as Shape4;
  const [s0, s1, s2, s3] = steps as Shape4;
  let o = 0;
  for (let i0 = 0; i0 < n0; i0++) {
    const b0 = start + i0 * s0;
    for (let i1 = 0; i1 < n1; i1++) {
      const b1 = b0 + i1 * s1;
      for (let i2 = 0; i2 < n2; i2++) {
        let p = b1 + i2 * s2;
        for (let i3 = 0; i3 < n3; i3++) {
          dst[o++] = src[p]!;
          p += s3;
        }
      }
    }
  }
}

/** Tile side of the blocked transpose: 32×32 floats stay in L1 on both sides. */
const TILE = 32;

/** Which matrix `transposeInto` transposes, and where. */
export interface TransposeOptions {
  /** Rows of the source matrix. */
  rows: number;
  /** Columns of the source matrix. */
  cols: number;
  /** Where the matrix starts in the source. @default 0 */
  srcOffset?: number;
  /** Where the result starts in the destination. @default 0 */
  dstOffset?: number;
}

/**
 * Transposes a row-major `rows × cols` matrix into `cols × rows`, in cache-sized tiles.
 *
 * @param src Source values.
 * @param dst Destination.
 * @param options Size and offsets.
 * @example
 * ```ts
 * import { transposeInto } from "./loops.ts";
 * const out = new Float32Array(6);
 * transposeInto(Float32Array.from([1, 2, 3, 4, 5, 6]), out, { rows: 2, cols: 3 });
 * if (out.join() !== "1,4,2,5,3,6") throw new Error("bad transpose");
 * ```
 */
export function transposeInto(
  src: Float32Array,
  dst: Float32Array,
  options: TransposeOptions,
): void {
  const { rows, cols, srcOffset = 0, dstOffset = 0 } = options;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, cols);
      for (let c = c0; c < c1; c++) {
        let s = srcOffset + r0 * cols + c;
        let d = dstOffset + c * rows + r0;
        for (let r = r0; r < r1; r++) {
          dst[d++] = src[s]!;
          s += cols;
        }
      }
    }
  }
}

/** How `dilateInto` spreads its source. */
export interface DilateOptions {
  /** Source shape `[b, h, w, c]`. */
  shape: Shape4;
  /** Row step on the grid. */
  strideHeight: number;
  /** Column step on the grid. */
  strideWidth: number;
}

/**
 * Spreads `[b, h, w, c]` values onto a zeroed `[b, (h−1)·sh+1, (w−1)·sw+1, c]` grid (the output
 * gradient of a strided convolution seen by a stride-1 one).
 *
 * @param src Source values.
 * @param dst Destination, already zero-filled.
 * @param options Shape and strides.
 * @example
 * ```ts
 * import { dilateInto } from "./loops.ts";
 * const out = new Float32Array(3);
 * dilateInto(Float32Array.from([1, 2]), out, { shape: [1, 1, 2, 1], strideHeight: 2, strideWidth: 2 });
 * if (out.join() !== "1,0,2") throw new Error(out.join());
 * ```
 */
export function dilateInto(src: Float32Array, dst: Float32Array, options: DilateOptions): void {
  const { shape: [b, h, w, c], strideHeight, strideWidth } = options;
  const dh = (h - 1) * strideHeight + 1;
  const dw = (w - 1) * strideWidth + 1;
  let s = 0;
  for (let i = 0; i < b; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let d = ((i * dh + y * strideHeight) * dw + x * strideWidth) * c;
        for (let k = 0; k < c; k++) dst[d++] = src[s++]!;
      }
    }
  }
}

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
 * import { conv2dFilterGrad, convGeometry } from "./loops.ts";
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
 * import { conv2dInputGrad, convGeometry } from "./loops.ts";
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
 * import { conv2dForward, convGeometry } from "./loops.ts";
 * const g = convGeometry([1, 1, 2, 1], [1, 2, 1, 1], { strides: 1, pad: "valid", dataFormat: "NHWC" });
 * const y = conv2dForward(Float32Array.from([3, 4]), Float32Array.from([10, 100]), g);
 * if (y[0] !== 430) throw new Error(String(y[0]));
 * ```
 */
export function conv2dForward(x: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  return windowUpdates(x, w, g, "output");
}

/** Floats of the right factor kept hot in cache while every row of the left one streams by. */
const MATMUL_BLOCK = 16384;

/** Sizes and layout of one `matMul`. */
export interface MatMulOptions {
  /** Rows of `op(A)`. */
  m: number;
  /** Columns of `op(A)`, rows of `op(B)`. */
  k: number;
  /** Columns of `op(B)`. */
  n: number;
  /** `a` is stored `k×m`. @default false */
  transposeA?: boolean;
  /** `b` is stored `n×k`. @default false */
  transposeB?: boolean;
}

/**
 * One matrix product `op(A)·op(B)` in JS, `op` transposing when asked. A transposed `B` is
 * transposed first; then rank-1 updates of output rows run over cache-sized blocks of `B`'s rows,
 * skipping zeros of `A` (ReLU outputs and their masked gradients). Accumulates in float64 when
 * `k` > 64.
 *
 * @param a Left factor.
 * @param b Right factor.
 * @param options Sizes and transposes.
 * @returns The `m×n` product.
 * @example
 * ```ts
 * import { matMul } from "./loops.ts";
 * // [1 2; 3 4] · [5 6; 7 8]ᵀ = [17 23; 39 53]
 * const c = matMul(Float32Array.from([1, 2, 3, 4]), Float32Array.from([5, 6, 7, 8]), {
 *   m: 2, k: 2, n: 2, transposeB: true,
 * });
 * if (c.join() !== "17,23,39,53") throw new Error(c.join());
 * ```
 */
export function matMul(a: Float32Array, b: Float32Array, options: MatMulOptions): Float32Array {
  const { m, k, n, transposeA = false, transposeB = false } = options;
  // A transposed right factor costs one blocked transpose (k·n moves, against m·k·n
  // multiply-adds), then takes the contiguous, zero-skipping path.
  let right = b;
  if (transposeB) {
    right = new Float32Array(k * n);
    transposeInto(b, right, { rows: n, cols: k });
  }
  // Few terms per output: float32 sums are accurate enough and halve the memory traffic.
  const c = k <= 64 ? new Float32Array(m * n) : new Float64Array(m * n);
  const rows = Math.max(1, Math.floor(MATMUL_BLOCK / n));
  for (let p0 = 0; p0 < k; p0 += rows) {
    const p1 = Math.min(k, p0 + rows);
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let p = p0; p < p1; p++) {
        const av = transposeA ? a[p * m + i]! : a[i * k + p]!;
        if (av === 0) continue;
        const bp = p * n;
        for (let j = 0; j < n; j++) c[ci + j]! += av * right[bp + j]!;
      }
    }
  }
  return c instanceof Float32Array ? c : Float32Array.from(c);
}

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
 * import { maxPoolGrad } from "./loops.ts";
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

/** Kernels replaced by us, with the configs they replaced (`backend/kernel` → original). */
const replacedKernels = new Map<string, tf.KernelConfig | null>();

/**
 * Registers a kernel in place of the current one for its backend, remembering the original.
 * Idempotent: registering the same config again does nothing.
 *
 * @param config The new kernel.
 * @returns Whether the registry changed.
 */
export function overrideKernel(config: tf.KernelConfig): boolean {
  const current = tf.getKernel(config.kernelName, config.backendName);
  if (current?.kernelFunc === config.kernelFunc) return false;
  const key = `${config.backendName}/${config.kernelName}`;
  if (!replacedKernels.has(key)) replacedKernels.set(key, current ?? null);
  if (current !== undefined) tf.unregisterKernel(config.kernelName, config.backendName);
  // The backend runs each registered kernel's setupFunc when it initialises; keep the original's
  // so that the original still works when we call it (wasm kernels bind their C++ entry there).
  const original = replacedKernels.get(key);
  const setupFunc = config.setupFunc ?? original?.setupFunc;
  tf.registerKernel(setupFunc === undefined ? config : { ...config, setupFunc });
  return true;
}

/**
 * The kernel tfjs had registered before `overrideKernel` replaced it.
 *
 * @param kernelName Kernel name, e.g. `Conv2DBackpropInput`.
 * @param backendName Backend name.
 * @returns The original config; the current one when nothing was replaced; undefined when the
 *   backend never had it.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { originalKernel } from "./loops.ts";
 * if (originalKernel("Conv2D", "cpu")?.backendName !== "cpu") throw new Error("no cpu Conv2D");
 * ```
 */
export function originalKernel(
  kernelName: string,
  backendName: string,
): tf.KernelConfig | undefined {
  const key = `${backendName}/${kernelName}`;
  if (replacedKernels.has(key)) return replacedKernels.get(key) ?? undefined;
  return tf.getKernel(kernelName, backendName);
}

/**
 * Puts back the kernels `overrideKernel` replaced for one backend (benchmarks and tests compare the
 * two).
 *
 * @param backendName Backend name.
 * @returns Names of the kernels restored or removed.
 */
export function restoreKernels(backendName: string): string[] {
  const restored: string[] = [];
  for (const [key, original] of [...replacedKernels]) {
    const [backend, kernelName] = key.split("/") as [string, string];
    if (backend !== backendName) continue;
    if (tf.getKernel(kernelName, backend) !== undefined) tf.unregisterKernel(kernelName, backend);
    if (original !== null) tf.registerKernel(original);
    replacedKernels.delete(key);
    restored.push(kernelName);
  }
  return restored;
}
