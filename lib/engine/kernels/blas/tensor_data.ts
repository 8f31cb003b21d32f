/**
 * Internal: reading the float32 arrays behind tensors of a `MathBackendCPU` (the "blas"
 * backend's), without copying, for the kernels that decide between their own loops and the
 * `cpu` kernel's.
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";

/**
 * The array behind a tensor the caller already knows to be float32 (see {@linkcode isFloat32}).
 *
 * @param backend The backend holding the tensor.
 * @param info The tensor.
 * @returns Its values, the backend's own array.
 */
export function valuesOf(backend: MathBackendCPU, info: TensorInfo): Float32Array {
  return backend.data.get(info.dataId).values as Float32Array;
}

/**
 * Whether every given tensor (undefined ones are skipped: absent optional inputs) is float32
 * and held as a `Float32Array`.
 *
 * @param backend The backend holding the tensors.
 * @param infos The tensors.
 * @returns True when all are float32 arrays.
 */
export function isFloat32(backend: MathBackendCPU, ...infos: (TensorInfo | undefined)[]): boolean {
  return infos.every((info) =>
    info === undefined ||
    (info.dtype === "float32" && backend.data.get(info.dataId).values instanceof Float32Array)
  );
}

/**
 * The array behind a float32 tensor, or null when the tensor is of another dtype or not held as
 * a `Float32Array`.
 *
 * @param backend The backend holding the tensor.
 * @param info The tensor.
 * @returns Its values, the backend's own array, or null.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { float32Values } from "./tensor_data.ts";
 * await tf.setBackend("cpu");
 * const ints = tf.tensor1d([1, 2], "int32");
 * if (float32Values(tf.backend() as MathBackendCPU, ints) !== null) throw new Error("not float32");
 * ints.dispose();
 * ```
 */
export function float32Values(backend: MathBackendCPU, info: TensorInfo): Float32Array | null {
  if (info.dtype !== "float32") return null;
  const values = backend.data.get(info.dataId).values;
  return values instanceof Float32Array ? values : null;
}
