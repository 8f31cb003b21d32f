/**
 * Internal: one matrix product `op(A)·op(B)` in JS (cache-blocked, zero-skipping), for the `cpu`
 * backend's `BatchMatMul` (js/cpu.ts).
 * @module
 */
import { transposeInto } from "./layout.ts";

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
 * import { matMul } from "./matmul.ts";
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
