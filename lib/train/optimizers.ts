/**
 * The optimisers training uses, with PyTorch's defaults where tfjs's differ. A backend may
 * register its own implementation of one (lib/engine/optimizers.ts); `createOptimizer` prefers it.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TrainConfig } from "../core/config.ts";
import { backendOptimizer } from "../engine/optimizers.ts";

/**
 * Creates the optimiser the config names, with PyTorch's defaults where tfjs's differ:
 * Adam (β 0.9/0.999, ε 1e-8), SGD with `config.momentum` (plain SGD when it is 0), RMSprop
 * (α 0.99, ε 1e-8, `config.momentum`), Adagrad (initial accumulator 0). An optimiser registered
 * for the backend with `registerBackendOptimizer` (lib/engine/optimizers.ts) wins over tfjs's: the
 * "blas" backend's module registers its fused Adam when it loads.
 *
 * @param config `optimizer`, `learningRate` and `momentum` are read.
 * @param backendName The active backend, whose registered optimisers are consulted.
 *   @default tf.getBackend()
 * @returns A fresh optimiser; the caller disposes it.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { createOptimizer } from "./optimizers.ts";
 * const adam = createOptimizer(makeConfig(), "cpu");
 * if (!(adam instanceof tf.AdamOptimizer) || adam.getConfig().learningRate !== 0.001) {
 *   throw new Error("expected Adam with lr 0.001");
 * }
 * adam.dispose();
 * ```
 */
export function createOptimizer(config: TrainConfig, backendName?: string): tf.Optimizer {
  const backend = backendName ?? tf.getBackend();
  const factory = backendOptimizer(backend, config.optimizer);
  if (factory !== undefined) return factory(config);
  const lr = config.learningRate;
  switch (config.optimizer) {
    case "adam":
      return tf.train.adam(lr, 0.9, 0.999, 1e-8);
    case "sgd":
      return config.momentum > 0 ? momentumOptimizer(lr, config.momentum) : tf.train.sgd(lr);
    case "rmsprop":
      return tf.train.rmsprop(lr, 0.99, config.momentum, 1e-8);
    case "adagrad":
      return tf.train.adagrad(lr, 0);
    default:
      throw new RangeError(
        `Cannot create optimizer: expected one of adam, sgd, rmsprop, adagrad, found "${config.optimizer}"`,
      );
  }
}

/** tf.train.momentum, whose `dispose` also frees the learning-rate scalar (tfjs 4.22 leaks it). */
function momentumOptimizer(learningRate: number, momentum: number): tf.MomentumOptimizer {
  const optimizer = tf.train.momentum(learningRate, momentum);
  const dispose = optimizer.dispose.bind(optimizer);
  optimizer.dispose = () => {
    dispose();
    // MomentumOptimizer.dispose frees its momentum scalar but not SGD's `c` (−learning rate).
    (optimizer as unknown as { c?: tf.Tensor }).c?.dispose();
  };
  return optimizer;
}
