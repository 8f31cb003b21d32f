/**
 * Internal: typed-array copies that lay tensors out for another kernel: a 4-D permutation (with
 * crop and reversal), a cache-blocked 2-D transpose and zero-stuffing for strided gradients. The
 * wasm kernels (wasm/wasm.ts) rearrange operands with them so that XNNPACK's plain forward
 * convolution and product compute the gradients; js/matmul.ts transposes with `transposeInto`.
 * @module
 */
import type { Shape4 } from "../geometry.ts";

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
 * import { permuteInto } from "./layout.ts";
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
 * import { transposeInto } from "./layout.ts";
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
 * import { dilateInto } from "./layout.ts";
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
