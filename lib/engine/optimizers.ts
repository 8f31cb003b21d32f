/**
 * Backend-specific optimisers: a backend module (e.g. kernels/blas/blas.ts, whose fused Adam
 * updates each variable in one pass over its typed array) registers its own implementation of an
 * optimiser here, and `createOptimizer` (lib/train) asks for it by the active backend's name. The
 * registry lives in the engine so that training never imports a backend's (FFI) code: a backend
 * that is never loaded registers nothing.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { OptimizerName, TrainConfig } from "../core/config.ts";

/** Builds an optimiser for a config; used to plug in backend-specific (fused) optimisers. */
export type OptimizerFactory = (config: TrainConfig) => tf.Optimizer;

// Keyed "backend/optimizer". Empty until a backend module registers one; importing this module
// registers nothing.
const backendOptimizers = new Map<string, OptimizerFactory>();

/**
 * Registers an optimiser implementation to use instead of tfjs's when a given backend is active
 * (the seam for a fused Adam on the "blas" backend). A later registration for the same backend and
 * optimiser replaces an earlier one.
 *
 * @param backendName The tfjs backend name it applies to, e.g. `"blas"`.
 * @param optimizer The optimiser it implements.
 * @param factory Builds the optimiser from the config (learning rate, momentum).
 * @returns A function that removes the registration again (if it is still the registered one).
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { backendOptimizer, registerBackendOptimizer } from "./optimizers.ts";
 * const unregister = registerBackendOptimizer("test", "sgd", (c) => tf.train.sgd(c.learningRate * 2));
 * const optimizer = backendOptimizer("test", "sgd")!(makeConfig()) as tf.SGDOptimizer;
 * if (optimizer.getConfig().learningRate !== 0.002) throw new Error("factory not used");
 * optimizer.dispose();
 * unregister();
 * if (backendOptimizer("test", "sgd") !== undefined) throw new Error("still registered");
 * ```
 */
export function registerBackendOptimizer(
  backendName: string,
  optimizer: OptimizerName,
  factory: OptimizerFactory,
): () => void {
  const key = `${backendName}/${optimizer}`;
  backendOptimizers.set(key, factory);
  return () => {
    if (backendOptimizers.get(key) === factory) backendOptimizers.delete(key);
  };
}

/**
 * The factory registered for an optimiser on a backend, if any.
 *
 * @param backendName The tfjs backend name, e.g. `tf.getBackend()`.
 * @param optimizer The optimiser the config names.
 * @returns The registered factory, or undefined when tfjs's own optimiser should be used.
 * @example
 * ```ts
 * import { backendOptimizer } from "./optimizers.ts";
 * // Nothing registers for the plain cpu backend.
 * if (backendOptimizer("cpu", "adam") !== undefined) throw new Error("unexpected registration");
 * ```
 */
export function backendOptimizer(
  backendName: string,
  optimizer: OptimizerName,
): OptimizerFactory | undefined {
  return backendOptimizers.get(`${backendName}/${optimizer}`);
}
