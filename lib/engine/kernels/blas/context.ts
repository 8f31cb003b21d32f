/**
 * Internal: what the "blas" backend's kernels are built with, handed to each kernel explicitly
 * instead of captured in closures. blas.ts builds one context per registered backend (the BLAS
 * library, the cpu kernels to fall back to, the native loops or null, the im2col settings and
 * buffers); each kernel file binds its kernels to that context once, at registration, so a
 * kernel call costs one plain function call more and allocates nothing.
 * @module
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import type { BlasLibrary } from "./cblas.ts";
import type { NativeKernels } from "../native/native_kernels.ts";
import type { KernelArgs } from "../registry.ts";
import { ColumnCache, Scratch } from "./im2col.ts";

/** The original `cpu` kernel for a name, used as the fallback. */
export type FallbackLookup = (kernelName: string) => KernelFunc;

/** A kernel config whose `backendName` blas.ts fills in when it registers the backend. */
export type BlasKernelConfig = Omit<KernelConfig, "backendName">;

/** What the element-wise, reduction and pooling kernels need. */
export interface LoopKernelContext {
  /** The `cpu` kernels, for the cases a kernel does not cover. */
  fallback: FallbackLookup;
  /** The native loops (lib/engine/kernels/native/native.c), or null to run the JS ones. */
  native: NativeKernels | null;
}

/** Rows of an im2col matrix built at a time: bounds scratch memory and keeps chunks in cache. */
const DEFAULT_CHUNK_ELEMENTS = 1 << 20;

/** Options of {@linkcode productKernelContext}. */
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

/** What the convolution and matrix-product kernels need: the loop context plus BLAS and im2col. */
export interface ProductKernelContext extends LoopKernelContext {
  /** The CBLAS library (`sgemm`). */
  blas: BlasLibrary;
  /** The native direct convolutions and small products when they are on, else null. */
  direct: NativeKernels | null;
  /** Target size of one im2col chunk, in float32 values. */
  chunkElements: number;
  /** Whether recorded forward convolutions keep their im2col matrix for the filter gradient. */
  cacheColumns: boolean;
  /** The kept im2col matrices. */
  columnCache: ColumnCache;
  /** Grow-only scratch buffers (one im2col chunk). */
  scratch: Scratch;
}

/**
 * Builds the context of one registered "blas" backend's convolution and product kernels.
 *
 * @param blas The CBLAS library.
 * @param fallback The `cpu` kernels.
 * @param options Chunk size, column cache, native loops.
 * @returns A context with fresh buffers.
 * @example
 * ```ts
 * import type { BlasLibrary } from "./cblas.ts";
 * import { productKernelContext } from "./context.ts";
 * const blas = { path: "none", description: "none" } as BlasLibrary; // never called here
 * const context = productKernelContext(blas, () => () => [], { nativeProducts: true });
 * // Without native loops there are no native products either.
 * if (context.direct !== null || context.chunkElements !== 1 << 20) throw new Error("bad context");
 * ```
 */
export function productKernelContext(
  blas: BlasLibrary,
  fallback: FallbackLookup,
  options: BlasKernelOptions = {},
): ProductKernelContext {
  const native = options.native ?? null;
  return {
    blas,
    fallback,
    native,
    direct: options.nativeProducts === true ? native : null,
    chunkElements: options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS,
    cacheColumns: options.cacheColumns ?? true,
    columnCache: new ColumnCache(),
    scratch: new Scratch(),
  };
}

/**
 * Runs the `cpu` kernel of this name on the same arguments.
 *
 * @param context Where the `cpu` kernels are looked up.
 * @param kernelName The kernel, e.g. `Conv2D`.
 * @param args The arguments the calling kernel got.
 * @returns The `cpu` kernel's output.
 */
export function delegate(
  context: LoopKernelContext,
  kernelName: string,
  args: KernelArgs,
): TensorInfo {
  return context.fallback(kernelName)(args) as TensorInfo;
}
