/**
 * Internal: an Adam optimiser that updates each variable in one fused pass over typed arrays,
 * in place when the variable's data lives in a `cpu`-style backend (tfjs `cpu` or our "blas")
 * and nothing else shares it. Same update as `tf.train.adam` (same defaults, same bias
 * correction, epsilon added to √v̂), computed in float64 and rounded to float32 once per stored
 * value instead of after every operation, so results agree with tf.train.adam to float32
 * rounding, not bit for bit.
 * @module
 */

import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { loadNativeKernels, type NativeKernels } from "../native/native_kernels.ts";

/** A named tensor, as `tf.Optimizer` takes and returns them (not re-exported by tfjs-core). */
export interface NamedTensor {
  /** The variable's (or slot's) name. */
  name: string;
  /** Its value. */
  tensor: tf.Tensor;
}

/** Options of {@linkcode FusedAdamOptimizer}; defaults follow `tf.train.adam`. */
export interface FusedAdamOptions {
  /** Exponential decay of the first moment. @default 0.9 */
  beta1?: number;
  /**  Exponential decay of the second moment. @default 0.999 */
  beta2?: number;
  /**
   * Added to √v̂ in the denominator. tf.train.adam uses the backend's epsilon (1e-7 for float32);
   * PyTorch's `torch.optim.Adam` uses 1e-8. @default 1e-7
   */
  epsilon?: number;
  /**
   * Run the update loop in the native kernels (lib/engine/kernels/native/native.c, every core) when they load;
   * the results are the same bit for bit. @default true
   */
  native?: boolean;
}

interface MomentState {
  first: Float32Array;
  second: Float32Array;
  shape: number[];
}

interface CpuLikeBackend {
  data: MathBackendCPU["data"];
  refCount(dataId: object): number;
}

/** The backend's storage when it keeps float32 values in JS typed arrays (tfjs cpu, "blas"). */
function cpuStorage(): CpuLikeBackend | null {
  const backend = tf.backend() as unknown as Partial<CpuLikeBackend>;
  if (backend.data === undefined || typeof backend.refCount !== "function") return null;
  return backend as CpuLikeBackend;
}

/**
 * Adam (Kingma & Ba) as tf.train.adam computes it, fused into one loop per variable:
 * m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − lr·m̂/(√v̂ + ε) with m̂ = m/(1−β₁ᵗ),
 * v̂ = v/(1−β₂ᵗ). Moments are plain `Float32Array`s (no tensors), so a step allocates nothing on
 * the `cpu`/"blas" backends, where a variable whose data nothing else shares is updated in place
 * (so an array read earlier with `dataSync()` changes too: copy it to keep a snapshot).
 * Elsewhere it reads gradients and values with `dataSync()` and assigns a new tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { FusedAdamOptimizer } from "./blas.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([1, -1]), true, "example-w");
 * const adam = new FusedAdamOptimizer(0.1);
 * const g = tf.tensor1d([0.5, -2]);
 * adam.applyGradients({ "example-w": g });
 * // The first Adam step moves each weight by about lr against its gradient's sign.
 * const [a, b] = w.dataSync();
 * if (Math.abs(a! - 0.9) > 1e-6 || Math.abs(b! + 0.9) > 1e-6) throw new Error(`got ${a}, ${b}`);
 * tf.dispose([w, g]);
 * ```
 */
export class FusedAdamOptimizer extends tf.Optimizer {
  /** Name used by tfjs serialisation. */
  static get className(): string {
    return "FusedAdam";
  }
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  #moments = new Map<string, MomentState>();
  /** β₁ᵗ and β₂ᵗ in float32, as tf.train.adam's accBeta variables hold them. */
  #accBeta1: number;
  #accBeta2: number;
  #native: NativeKernels | null | undefined;

  /**
   * @param learningRate Step size.
   * @param options Betas and epsilon.
   */
  constructor(learningRate: number, options: FusedAdamOptions = {}) {
    super();
    this.learningRate = learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    this.#accBeta1 = Math.fround(this.beta1);
    this.#accBeta2 = Math.fround(this.beta2);
    this.#native = options.native === false ? null : undefined;
  }

  /** The native kernels when they are in use (loaded on the first step), else null. */
  get nativeKernels(): NativeKernels | null {
    if (this.#native === undefined) {
      const loaded = loadNativeKernels();
      this.#native = loaded.ok ? loaded.kernels : null;
    }
    return this.#native;
  }

  /** Applies one Adam step to the named variables (`tf.engine().registeredVariables`). */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: [string, tf.Tensor][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const beta1 = this.beta1, beta2 = this.beta2;
    const oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - beta2;
    // Bias corrections 1/(1 − βᵗ), with βᵗ tracked in float32 like tf.train.adam's accBeta.
    const correction1 = 1 / Math.fround(1 - this.#accBeta1);
    const correction2 = 1 / Math.fround(1 - this.#accBeta2);
    const eps = this.epsilon, lr = this.learningRate;
    const storage = cpuStorage();
    for (const [name, gradient] of entries) {
      if (gradient == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) {
        throw new Error(`Cannot apply Adam to variable "${name}": no such variable is registered`);
      }
      const size = variable.size;
      if (gradient.size !== size) {
        throw new RangeError(
          `Cannot apply Adam to variable "${name}": expected a gradient of ${size} values, found ${gradient.size}`,
        );
      }
      let state = this.#moments.get(name);
      if (state === undefined) {
        state = {
          first: new Float32Array(size),
          second: new Float32Array(size),
          shape: variable.shape,
        };
        this.#moments.set(name, state);
      }
      // Read the gradient in place where possible: dataSync() would mark the array as handed
      // out, which keeps the "blas" backend from recycling it.
      const grad = storage !== null && gradient.dtype === "float32" &&
          storage.data.has(gradient.dataId) &&
          storage.data.get(gradient.dataId).values instanceof Float32Array
        ? storage.data.get(gradient.dataId).values as Float32Array
        : gradient.dataSync() as Float32Array;
      const inPlace = storage !== null && variable.dtype === "float32" &&
        storage.data.has(variable.dataId) && storage.refCount(variable.dataId) === 1 &&
        storage.data.get(variable.dataId).values instanceof Float32Array;
      const values = inPlace
        ? storage.data.get(variable.dataId).values as Float32Array
        : Float32Array.from(variable.dataSync() as Float32Array);
      const m = state.first, v = state.second;
      const native = this.nativeKernels;
      if (native !== null && grad instanceof Float32Array && grad.length === size) {
        native.adam(values, grad, m, v, {
          beta1,
          beta2,
          oneMinusB1,
          oneMinusB2,
          learningRate: lr,
          correction1,
          correction2,
          epsilon: eps,
        });
      } else {
        for (let i = 0; i < size; i++) {
          const g = grad[i]!;
          const mi = m[i]! * beta1 + g * oneMinusB1;
          const vi = v[i]! * beta2 + g * g * oneMinusB2;
          m[i] = mi;
          v[i] = vi;
          values[i] = values[i]! - lr * (mi * correction1) / (Math.sqrt(vi * correction2) + eps);
        }
      }
      if (!inPlace) {
        const updated = tf.tensor(values, variable.shape, "float32");
        variable.assign(updated);
        updated.dispose();
      }
    }
    this.#accBeta1 = Math.fround(this.#accBeta1 * Math.fround(beta1));
    this.#accBeta2 = Math.fround(this.#accBeta2 * Math.fround(beta2));
    this.incrementIterations();
  }

  /** Iterations and moments as tensors (caller disposes), in tf.train.adam's order. */
  override async getWeights(): Promise<NamedTensor[]> {
    const weights: NamedTensor[] = [await this.saveIterations()];
    for (const [name, s] of this.#moments) {
      weights.push({ name: `${name}/m`, tensor: tf.tensor(s.first.slice(), s.shape) });
    }
    for (const [name, s] of this.#moments) {
      weights.push({ name: `${name}/v`, tensor: tf.tensor(s.second.slice(), s.shape) });
    }
    return weights;
  }

  /** Restores what {@linkcode getWeights} returned. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const f = Math.fround;
    // tf.train.adam recomputes β^(t+1) in float32 the same way.
    this.#accBeta1 = f(Math.pow(f(this.beta1), this.iterations_ + 1));
    this.#accBeta2 = f(Math.pow(f(this.beta2), this.iterations_ + 1));
    const count = rest.length / 2;
    this.#moments.clear();
    for (let i = 0; i < count; i++) {
      const first = rest[i]!, second = rest[i + count]!;
      const name = first.name.replace(/\/m$/, "");
      this.#moments.set(name, {
        first: Float32Array.from(await first.tensor.data() as Float32Array),
        second: Float32Array.from(await second.tensor.data() as Float32Array),
        shape: first.tensor.shape,
      });
    }
  }

  /** Hyperparameters, for tfjs serialisation. */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
    };
  }

  /** Releases the moments. */
  override dispose(): void {
    this.#moments.clear();
  }
}
