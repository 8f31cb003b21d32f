/**
 * Internal: a small registry on top of tfjs's that swaps a backend's kernel for ours while keeping
 * the original, so that our kernels can hand the cases they do not cover back to it and so that
 * benchmarks and tests can put tfjs's kernels back. The cpu and wasm training kernels
 * (js/cpu.ts, wasm/wasm.ts) register through it; the "blas" backend (blas/blas.ts) registers a
 * whole backend of its own instead, and its kernels fall back to the cpu originals looked up here.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** What tfjs passes to a kernel function: its inputs, attributes and backend. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Kernels replaced by us, with the configs they replaced (`backend/kernel` → original). */
const replacedKernels = new Map<string, tf.KernelConfig | null>();

/**
 * Registers a kernel in place of the current one for its backend, remembering the original.
 * Idempotent: registering the same config again does nothing.
 *
 * @param config The new kernel.
 * @returns Whether the registry changed.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { overrideKernel, restoreKernels } from "./registry.ts";
 * const kernelFunc: tf.KernelFunc = () => ({ dataId: {}, shape: [], dtype: "float32" });
 * const config = { kernelName: "Floor", backendName: "cpu", kernelFunc };
 * if (!overrideKernel(config) || overrideKernel(config)) throw new Error("not idempotent");
 * restoreKernels("cpu");
 * ```
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
 * import { originalKernel } from "./registry.ts";
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
 * @example
 * ```ts
 * import { restoreKernels } from "./registry.ts";
 * // Nothing was replaced on this backend.
 * if (restoreKernels("no-such-backend").length !== 0) throw new Error("restored something");
 * ```
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
