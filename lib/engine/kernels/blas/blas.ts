/**
 * A TensorFlow.js backend named "blas": tfjs's pure-JS `cpu` backend with its heavy kernels
 * (convolutions and their gradients, matrix products, fused conv/matmul + bias + ReLU) rerouted to
 * native code through Deno's FFI: a CBLAS `sgemm` (OpenBLAS, or Apple's Accelerate) and, where a C
 * compiler runs, our own kernels (lib/engine/kernels/native/native.c: direct convolutions, batch-sized
 * products, element-wise loops, Adam). Tensors stay in JS typed arrays, which FFI hands over
 * without copying, and the native threads use every core, which single-threaded wasm cannot.
 *
 * This file registers the backend; the kernels live in convolutions.ts, matmul.ts,
 * elementwise.ts, sum.ts and pooling.ts, each bound to one context per backend (context.ts);
 * lib/engine/kernels/README.md maps them all.
 *
 * Needs `--allow-ffi` (tests run with `-A`); without it, or without the library,
 * {@linkcode registerBlasBackend} reports why instead of throwing.
 * @module
 */

import * as tf from "@tensorflow/tfjs-core";
// Imported for its side effect too: it registers the cpu kernels we copy.
import "@tensorflow/tfjs-backend-cpu";
import { type BlasLibrary, openBlas } from "./cblas.ts";
import { type BlasKernelOptions, productKernelContext } from "./context.ts";
import { convolutionKernelConfigs } from "./convolutions.ts";
import { matMulKernelConfigs } from "./matmul.ts";
import { elementwiseKernelConfigs } from "./elementwise.ts";
import { sumKernelConfig } from "./sum.ts";
import { poolingKernelConfigs } from "./pooling.ts";
import { ArrayPool, BlasBackend } from "./blas_backend.ts";
import { transformKernel } from "../js/transform.ts";
import { loadNativeKernels, type NativeKernels } from "../native/native_kernels.ts";
import { FusedAdamOptimizer } from "./adam.ts";
import { registerBackendOptimizer } from "../../optimizers.ts";
import { registerDropoutMask } from "../../dropout.ts";
import { dropoutMask } from "../../../core/random.ts";

export { BLAS_LIBRARY_ENV, blasCandidates } from "./cblas.ts";
export { loadNativeKernels, NATIVE_ENV } from "../native/native_kernels.ts";
export { FusedAdamOptimizer, type FusedAdamOptions } from "./adam.ts";

/** The backend name {@linkcode registerBlasBackend} uses unless told otherwise. */
export const BLAS_BACKEND_NAME = "blas";

// Training on "blas" uses the fused Adam (one pass over each variable's typed array, in place),
// with PyTorch's defaults as createOptimizer gives tf.train.adam. Registered when this module
// loads, so lib/train never imports this FFI module.
registerBackendOptimizer(
  BLAS_BACKEND_NAME,
  "adam",
  (c) => new FusedAdamOptimizer(c.learningRate, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }),
);

/** Options of {@linkcode registerBlasBackend}. */
export interface BlasBackendOptions {
  /** Name to register the backend under. @default "blas" */
  name?: string;
  /** A CBLAS library to try before `CIFAR10_BLAS_LIB` and the usual OpenBLAS names. */
  libraryPath?: string;
  /**
   * Also try the usual OpenBLAS/Accelerate locations after `libraryPath` and
   * `CIFAR10_BLAS_LIB`. @default true
   */
  searchDefaults?: boolean;
  /**
   * Threads for OpenBLAS (`openblas_set_num_threads`, process-wide); unset keeps its default
   * (all cores).
   */
  threads?: number;
  /**
   * tfjs backend priority. The default, 0, is below `cpu`'s 1, so registering never changes
   * which backend tfjs picks by itself; select it with `tf.setBackend("blas")`. @default 0
   */
  priority?: number;
  /** Target size of one im2col chunk in float32 values (tuning). @default 1048576 */
  chunkElements?: number;
  /**
   * Keep each convolution's im2col matrix from a recorded forward pass for its filter gradient
   * (memory: one matrix per convolution layer, 47 MB for the tutorial's model at batch 30). It
   * pays off with the JS im2col only: the native one rebuilds the matrices in the same time (a
   * training step measured 72/63 ms without the cache vs 71/66 ms with it, and 50 MB less peak
   * memory). @default true without the native kernels, false with them
   */
  cacheColumns?: boolean;
  /**
   * Replace the element-wise, reduction and pooling kernels (Relu, Step, Floor, Add, Sub,
   * Multiply, RealDiv, Sum, MaxPool, MaxPoolGrad) too, not only the matrix ones. @default true
   */
  pointwiseKernels?: boolean;
  /**
   * Reuse our kernels' output arrays once their tensors are disposed (see the backend class);
   * false allocates every output afresh, like the `cpu` backend. @default true
   */
  recycleArrays?: boolean;
  /**
   * Run the element-wise, pooling, im2col/col2im and bias loops in the native kernels
   * (lib/engine/kernels/native/native.c, built with the machine's C compiler, every core) when they load; the
   * results are the same bit for bit, and without a compiler the JS loops run. @default true
   */
  nativeKernels?: boolean;
  /**
   * With the native kernels, run stride-1 convolutions (forward, input and filter gradients)
   * and the dense layers' products at small batch sizes as register-tiled loops in native.c
   * instead of im2col + `sgemm` and `sgemm`: together 1.5× faster at batch 30 and 128
   * (`./run bench:blas --batch 30,128 --products`). They sum in their own order, so results
   * match the OpenBLAS path within float32 rounding, not bit for bit. @default true
   */
  nativeProducts?: boolean;
}

/** What {@linkcode registerBlasBackend} returns: the device, or a one-line reason. */
export type BlasBackendResult =
  | { ok: true; device: string }
  | {
    ok: false;
    reason: string;
    /**
     * The failure is the user's setting that cannot be honoured (`CIFAR10_NATIVE_ISA=avx2` on a
     * CPU without AVX2): an error to report, not a reason to try the next backend.
     */
    fatal?: boolean;
  };

/** The loaded library, shared by every registered "blas" backend in this process. */
let loaded: BlasLibrary | null = null;
const registeredNames = new Set<string>();

/** Native kernels per registered backend name (null: that backend runs the JS loops). */
const nativeByName = new Map<string, NativeKernels | null>();
/** Whether each registered backend runs convolutions and small products as native loops. */
const productsByName = new Map<string, boolean>();
/** Why the native kernels did not load, when they did not. */
let nativeReason = "";

function describe(library: BlasLibrary, name: string): string {
  const threads = library.getThreads();
  const native = nativeByName.get(name);
  const loops = native
    ? `; element-wise loops${
      productsByName.get(name) ? ", convolutions and batch-sized products" : ""
    } native (${native.isa ?? "prebuilt"} build, ${native.threads()} threads${
      native.note === undefined ? "" : `; ${native.note}`
    })`
    : native === null && nativeReason !== ""
    ? `; element-wise loops in JS (native kernels: ${nativeReason})`
    : "; element-wise loops in JS";
  return `${library.description}${
    threads === null ? "" : `, ${threads} threads`
  } (${library.path})${loops}`;
}

/**
 * Registers the "blas" backend: every `cpu` kernel, with the heavy ones replaced by CBLAS-based
 * kernels. Loads the library on the first call; later calls with the same name return the
 * same device. Does not select the backend.
 *
 * @param options Name, library path, thread count, priority.
 * @returns `{ ok: true, device }` (the library's description, threads and path), or
 *   `{ ok: false, reason }` when FFI permission or the library is missing.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { registerBlasBackend } from "./blas.ts";
 *
 * const result = await registerBlasBackend();
 * if (result.ok) {
 *   await tf.setBackend("blas");
 *   const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
 *   if (product.dataSync()[0] !== 11) throw new Error("wrong product");
 *   product.dispose();
 * } else if (!result.reason.startsWith("Cannot load OpenBLAS")) {
 *   throw new Error(result.reason);
 * }
 * ```
 */
export function registerBlasBackend(
  options: BlasBackendOptions = {},
): Promise<BlasBackendResult> {
  // Async in signature (backend loaders are), synchronous in fact: dlopen and registration.
  try {
    return Promise.resolve(register(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

function register(options: BlasBackendOptions): BlasBackendResult {
  const name = options.name ?? BLAS_BACKEND_NAME;
  if (loaded === null) {
    const opened = openBlas(options.libraryPath, options.searchDefaults ?? true);
    if (!opened.ok) return { ok: false, reason: opened.reason };
    loaded = opened.library;
  }
  const library = loaded;
  if (options.threads !== undefined) setBlasThreads(options.threads);
  if (registeredNames.has(name)) return { ok: true, device: describe(library, name) };
  if (tf.findBackendFactory(name) !== null) {
    return { ok: false, reason: `Cannot register backend "${name}": that name is already taken` };
  }
  // Importing @tensorflow/tfjs-backend-cpu registered these; we copy them all.
  const cpuKernels = tf.getKernelsForBackend("cpu");
  if (cpuKernels.length === 0) {
    return {
      ok: false,
      reason: `Cannot register backend "${name}": no "cpu" kernels are registered`,
    };
  }
  const fallback = (kernelName: string) => {
    const kernel = tf.getKernel(kernelName, "cpu");
    if (kernel === undefined) {
      throw new Error(`Cannot fall back to the cpu kernel "${kernelName}": it is not registered`);
    }
    return kernel.kernelFunc;
  };
  let native: NativeKernels | null = null;
  if (options.nativeKernels ?? true) {
    const loadedNative = loadNativeKernels();
    if (loadedNative.ok) native = loadedNative.kernels;
    else if (loadedNative.asked !== undefined) {
      // Running the JS loops instead would quietly measure or train something else.
      return {
        ok: false,
        fatal: true,
        reason: `${loadedNative.asked} cannot be honoured: ${
          loadedNative.reason.replace(/^Cannot use [^:]*: /, "")
        }`,
      };
    } else nativeReason = loadedNative.reason;
  }
  nativeByName.set(name, native);
  if (native !== null) {
    // The model's dropout masks, on every thread (a 30 × 8192 mask took 1.3–1.6 ms in JS, 5% of
    // a training step); the same bits. A bad rate goes to the JS loop, which says what is wrong.
    const kernels = native;
    registerDropoutMask(name, (length, rate, seed) => {
      if (!(rate >= 0 && rate < 1)) return dropoutMask(length, rate, seed);
      const mask = new Float32Array(length);
      kernels.dropoutMask(mask, rate, seed);
      return mask;
    });
  }
  const products = native !== null && (options.nativeProducts ?? true);
  productsByName.set(name, products);
  const kernelOptions: BlasKernelOptions = {
    chunkElements: options.chunkElements,
    cacheColumns: options.cacheColumns ?? native === null,
    native,
    nativeProducts: products,
  };
  // One context per backend: its kernels are bound to it here, once.
  const context = productKernelContext(library, fallback, kernelOptions);
  const loopKernels = options.pointwiseKernels ?? true;
  const overrides = new Map(
    [
      ...convolutionKernelConfigs(context),
      ...matMulKernelConfigs(context),
      ...(loopKernels ? elementwiseKernelConfigs(context) : []),
      ...(loopKernels ? [sumKernelConfig(context)] : []),
      ...(loopKernels ? poolingKernelConfigs(context) : []),
      // tfjs 4.22's cpu Transform transforms only the first image of a batch.
      { kernelName: tf.Transform, kernelFunc: transformKernel },
    ]
      .map((k) => [k.kernelName, k]),
  );
  const recycle = options.recycleArrays ?? true;
  tf.registerBackend(
    name,
    () => new BlasBackend(recycle ? new ArrayPool() : new ArrayPool(0)),
    options.priority ?? 0,
  );
  for (const kernel of cpuKernels) {
    const override = overrides.get(kernel.kernelName);
    tf.registerKernel({ ...kernel, ...override, backendName: name });
  }
  for (const [kernelName, override] of overrides) {
    if (tf.getKernel(kernelName, name) === undefined) {
      tf.registerKernel({ ...override, backendName: name });
    }
  }
  registeredNames.add(name);
  return { ok: true, device: describe(library, name) };
}

/**
 * Sets OpenBLAS's thread count (`openblas_set_num_threads`).
 *
 * @param threads Threads, at least 1.
 * @returns false when no library is loaded or it has no thread control (Accelerate).
 * @example
 * ```ts
 * import { getBlasThreads, registerBlasBackend, setBlasThreads } from "./blas.ts";
 * // Before registerBlasBackend() nothing is loaded.
 * if (setBlasThreads(1)) throw new Error("no library should be loaded yet");
 * if ((await registerBlasBackend()).ok && setBlasThreads(1) && getBlasThreads() !== 1) {
 *   throw new Error("thread count not applied");
 * }
 * ```
 */
export function setBlasThreads(threads: number): boolean {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Cannot set BLAS threads: expected an integer >= 1, found ${threads}`);
  }
  return loaded !== null && loaded.setThreads(threads);
}

/**
 * OpenBLAS's current thread count.
 *
 * @returns The count, or null when no library is loaded or it cannot say.
 * @example
 * ```ts
 * import { getBlasThreads } from "./blas.ts";
 * // Nothing loaded yet: no count.
 * if (getBlasThreads() !== null) throw new Error("no library should be loaded yet");
 * ```
 */
export function getBlasThreads(): number | null {
  return loaded === null ? null : loaded.getThreads();
}
