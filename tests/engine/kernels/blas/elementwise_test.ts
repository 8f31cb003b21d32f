import { skipName } from "../../../_util.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BLAS_BACKEND_NAME } from "../../../../lib/engine/kernels/blas/blas.ts";
import { RELU_BACKPROP, reluBackprop } from "../../../../lib/engine/gradients.ts";
import { assertIdentical, ignore, JS_LOOPS, randomValues } from "./_blas_backends.ts";

// The element-wise kernels must match the cpu kernels bit for bit, NaN and −0 included.

Deno.test({
  name: skipName(
    "Relu, Step, Floor, Add, Sub, Multiply and RealDiv match the cpu kernels bit for bit",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    const shape = [30, 8, 8, 16];
    const size = shape.reduce((p, d) => p * d, 1);
    const xValues = randomValues(size, 61);
    xValues[5] = NaN;
    xValues[6] = -0;
    xValues[7] = -Infinity;
    xValues[8] = Infinity;
    await assertIdentical(() => {
      const x = tf.tensor(xValues, shape);
      const y = tf.tensor(randomValues(size, 62), shape);
      const bias = tf.tensor1d(randomValues(16, 63));
      const rowBias = tf.tensor2d(randomValues(16, 64), [1, 16]);
      const plane = tf.tensor3d(randomValues(8 * 16, 65), [1, 8, 16]);
      const odd = tf.tensor4d(randomValues(30 * 16, 66), [30, 1, 1, 16]);
      return [
        tf.relu(x),
        tf.step(x),
        tf.step(x, 0.3),
        tf.floor(tf.mul(x, 3)),
        tf.add(x, y),
        tf.add(x, bias),
        tf.add(bias, x),
        tf.add(x, rowBias),
        tf.add(plane, x),
        tf.add(x, tf.scalar(1.5)),
        tf.add(x, odd), // a broadcast in the middle: the cpu kernel's path
        tf.mul(x, y),
        tf.mul(bias, x),
        tf.mul(tf.scalar(-2), x),
        tf.mul(x, odd),
        tf.sub(x, y),
        tf.sub(bias, x),
        tf.sub(x, tf.scalar(0.25)),
        tf.div(x, y),
        tf.div(x, bias),
        tf.div(tf.scalar(3), x),
        tf.div(x, odd),
      ];
    }, "element-wise");
  },
});

Deno.test({
  name: skipName(
    "ReLU's fused input gradient gives the bits of mul(dy, step(x)), special values included",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    assert.ok(tf.getKernel(RELU_BACKPROP, BLAS_BACKEND_NAME) !== undefined);
    assert.ok(tf.getKernel(RELU_BACKPROP, JS_LOOPS) !== undefined);
    const size = 40_000; // above the size at which the native loop uses every thread
    const x = randomValues(size, 60), dy = randomValues(size, 61);
    const specials = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45];
    for (const [i, v] of specials.entries()) {
      for (const [j, d] of [...specials, -2.5, 3].entries()) {
        x[i * 16 + j] = v;
        dy[i * 16 + j] = d;
      }
    }
    await assertIdentical(() => {
      const dyt = tf.tensor2d(dy, [200, 200]), xt = tf.tensor2d(x, [200, 200]);
      // On cpu reluBackprop runs Multiply and Step; on the blas backends, the fused kernel.
      return [reluBackprop(dyt, xt), tf.mul(dyt, tf.step(xt))];
    }, "ReLU backprop");
  },
});
