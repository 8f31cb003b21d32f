/**
 * Internal: gradients of the kernels our network's training step runs through.
 *
 * tfjs registers its gradients from `@tensorflow/tfjs-core/dist/register_all_gradients.js`, an
 * unbundled ES module tree whose relative imports lack file extensions; Deno's npm resolution
 * rejects them, and the bundled `tf-core.node.js` that `@tensorflow/tfjs-core` resolves to carries
 * no gradients. Without them every `optimizer.minimize` fails with "gradient function not found".
 * So we register the few we need, written like tfjs's own (same kernels, same formulas).
 * Kernels that already have a gradient (e.g. when the full `@tensorflow/tfjs` is loaded) keep it.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { backend_util } from "@tensorflow/tfjs-core";

type Saved = tf.Tensor[];

/** Sums a broadcast gradient back to an input's shape. */
function unbroadcast(dy: tf.Tensor, inputShape: number[], outShape: number[]): tf.Tensor {
  const axes = backend_util.getReductionAxes(inputShape, outShape);
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, inputShape);
}

/** Expands a reduced gradient back over the reduced axes (for Sum and Mean). */
function expandReduced(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return tf.mul(tf.reshape(dy, shape), tf.ones(x.shape, "float32"));
}

/**
 * Name of an optional kernel, inputs `{ dy, x }` of one shape, both float32: ReLU's input gradient
 * `dy · step(x)` (dy where x > 0, NaN where x is NaN, else dy · 0) in one pass and one array,
 * with exactly the values of `tf.mul(dy, tf.step(x))`. The "blas" backend provides it; on other
 * backends {@linkcode reluBackprop} runs the two ops.
 */
export const RELU_BACKPROP = "CifarReluBackprop";

/**
 * ReLU's input gradient: `dy · step(x)`, where x is ReLU's input or its output (both are > 0 at
 * the same places, and NaN at the same places).
 */
export function reluBackprop(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const fused = dy.dtype === "float32" && x.dtype === "float32" &&
    tf.util.arraysEqual(dy.shape, x.shape) &&
    tf.getKernel(RELU_BACKPROP, tf.getBackend()) !== undefined;
  return fused
    ? tf.engine().runKernel(RELU_BACKPROP, { dy, x }) as tf.Tensor
    : tf.mul(dy, tf.cast(tf.step(x), "float32"));
}

const GRADIENTS: tf.GradConfig[] = [
  {
    kernelName: tf.Conv2D,
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as Saved;
      const { strides, pad, dataFormat, dimRoundingMode, dilations } =
        attrs as unknown as tf.Conv2DAttrs;
      if (!backend_util.tupleValuesAreOne(dilations ?? 1)) {
        throw new RangeError(
          `Cannot compute the gradient of conv2d: expected dilations 1, found ${dilations}`,
        );
      }
      const engine = tf.engine();
      return {
        x: () =>
          engine.runKernel(tf.Conv2DBackpropInput, { dy: dy as tf.Tensor, filter: filter! }, {
            strides,
            pad,
            dataFormat,
            dimRoundingMode,
            inputShape: x!.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () =>
          engine.runKernel(tf.Conv2DBackpropFilter, { x: x!, dy: dy as tf.Tensor }, {
            strides,
            pad,
            dataFormat,
            dimRoundingMode,
            filterShape: filter!.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    },
  },
  {
    kernelName: tf.MaxPool,
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved as Saved;
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolAttrs;
      return {
        x: () =>
          tf.engine().runKernel(tf.MaxPoolGrad, { dy: dy as tf.Tensor, input: x!, output: y! }, {
            filterSize,
            strides,
            pad,
            dimRoundingMode,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    },
  },
  {
    kernelName: tf.BatchMatMul,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as Saved;
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      const g = dy as tf.Tensor;
      if (!transposeA && !transposeB) {
        return { a: () => tf.matMul(g, b!, false, true), b: () => tf.matMul(a!, g, true, false) };
      } else if (!transposeA && transposeB) {
        return { a: () => tf.matMul(g, b!, false, false), b: () => tf.matMul(g, a!, true, false) };
      } else if (transposeA && !transposeB) {
        return { a: () => tf.matMul(b!, g, false, true), b: () => tf.matMul(a!, g, false, false) };
      }
      return { a: () => tf.matMul(b!, g, true, true), b: () => tf.matMul(g, a!, true, true) };
    },
  },
  {
    kernelName: tf.Add,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as Saved;
      const out = backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
      return {
        a: () => unbroadcast(dy as tf.Tensor, a!.shape, out),
        b: () => unbroadcast(dy as tf.Tensor, b!.shape, out),
      };
    },
  },
  {
    kernelName: tf.Sub,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as Saved;
      const out = backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
      return {
        a: () => unbroadcast(dy as tf.Tensor, a!.shape, out),
        b: () => tf.neg(unbroadcast(dy as tf.Tensor, b!.shape, out)),
      };
    },
  },
  {
    kernelName: tf.Multiply,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as Saved;
      const out = backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
      return {
        a: () => unbroadcast(tf.mul(dy as tf.Tensor, tf.cast(b!, "float32")), a!.shape, out),
        b: () => unbroadcast(tf.mul(dy as tf.Tensor, tf.cast(a!, "float32")), b!.shape, out),
      };
    },
  },
  {
    kernelName: tf.Relu,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved as Saved;
      return { x: () => reluBackprop(dy as tf.Tensor, x!) };
    },
  },
  {
    kernelName: tf.Reshape,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved as Saved;
      return { x: () => tf.reshape(dy as tf.Tensor, x!.shape) };
    },
  },
  {
    kernelName: tf.Sum,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Saved;
      const { axis } = attrs as unknown as tf.SumAttrs;
      return { x: () => expandReduced(dy as tf.Tensor, x!, axis) };
    },
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Saved;
      const { axis } = attrs as unknown as tf.MeanAttrs;
      const axes = tf.util.parseAxisParam(axis, x!.shape);
      const count = axes.reduce((n, a) => n * x!.shape[a]!, 1);
      return { x: () => tf.div(expandReduced(dy as tf.Tensor, x!, axis), count) };
    },
  },
  { kernelName: tf.Neg, gradFunc: (dy) => ({ x: () => tf.neg(dy as tf.Tensor) }) },
  { kernelName: tf.Cast, gradFunc: (dy) => ({ x: () => (dy as tf.Tensor).clone() }) },
  { kernelName: tf.Identity, gradFunc: (dy) => ({ x: () => tf.cast(dy as tf.Tensor, "float32") }) },
];

/** The kernels whose gradients this module provides. */
export const TRAINING_GRADIENT_KERNELS: readonly string[] = GRADIENTS.map((g) => g.kernelName);

/**
 * Registers the gradients our training step needs, for kernels that have none yet. Idempotent.
 *
 * @returns The kernel names registered by this call (empty when all were already there).
 * @example
 * ```ts
 * import { registerTrainingGradients } from "./gradients.ts";
 * registerTrainingGradients();
 * if (registerTrainingGradients().length !== 0) throw new Error("not idempotent");
 * ```
 */
export function registerTrainingGradients(): string[] {
  const added: string[] = [];
  for (const config of GRADIENTS) {
    if (tf.getGradient(config.kernelName) != null) continue;
    tf.registerGradient(config);
    added.push(config.kernelName);
  }
  return added;
}
