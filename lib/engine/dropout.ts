/**
 * Backend-specific dropout masks: the same numbers as `dropoutMask` (lib/core/random.ts), made
 * faster where a backend can. A backend module (kernels/blas/blas.ts, with the native kernels)
 * registers its mask maker here, and the model asks for the active backend's; without one it gets
 * the JS loop. Like optimizers.ts, the registry lives in the engine so that the model never
 * imports a backend's (FFI) code.
 * @module
 */
import { dropoutMask } from "../core/random.ts";

/** Makes a dropout mask exactly as `dropoutMask(length, rate, seed)` does. */
export type DropoutMaskMaker = (length: number, rate: number, seed: number) => Float32Array;

const makers = new Map<string, DropoutMaskMaker>();

/**
 * Registers a faster maker of `dropoutMask`'s masks for a backend. It must give the same values
 * bit for bit: a run's dropout may not depend on the backend it trains on.
 *
 * @param backendName The tfjs backend it applies to, e.g. `"blas"`.
 * @param maker The mask maker.
 * @returns A function that removes the registration again (if it is still the registered one).
 * @example
 * ```ts
 * import { dropoutMask } from "../core/random.ts";
 * import { dropoutMaskOn, registerDropoutMask } from "./dropout.ts";
 * let calls = 0;
 * const unregister = registerDropoutMask("test", (n, r, s) => (calls++, dropoutMask(n, r, s)));
 * dropoutMaskOn("test", 8, 0.5, 1);
 * unregister();
 * dropoutMaskOn("test", 8, 0.5, 1);
 * if (calls !== 1) throw new Error(`maker called ${calls} times`);
 * ```
 */
export function registerDropoutMask(backendName: string, maker: DropoutMaskMaker): () => void {
  makers.set(backendName, maker);
  return () => {
    if (makers.get(backendName) === maker) makers.delete(backendName);
  };
}

/**
 * A dropout mask (see `dropoutMask` in lib/core/random.ts) made by the backend's registered
 * maker, else by the JS loop: the same values either way.
 *
 * @param backendName The active backend, e.g. `tf.getBackend()`.
 * @param length Values in the mask.
 * @param rate Probability of dropping each value, in [0, 1).
 * @param seed The mask's seed.
 * @returns 0 or 1 / (1 − rate) for each value.
 */
export function dropoutMaskOn(
  backendName: string,
  length: number,
  rate: number,
  seed: number,
): Float32Array {
  return (makers.get(backendName) ?? dropoutMask)(length, rate, seed);
}
