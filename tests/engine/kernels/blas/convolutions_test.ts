import { skipName } from "../../../_util.ts";
import * as tf from "@tensorflow/tfjs-core";
import { BLAS_BACKEND_NAME } from "../../../../lib/engine/kernels/blas/blas.ts";
import {
  assertClose,
  assertIdentical,
  CONV_CASES,
  convGradients,
  convName,
  convTensors,
  ignore,
  JS_LOOPS,
  randomValues,
  SMALL_CHUNKS,
} from "./_blas_backends.ts";

// GEMM-based kernels sum in a different order than the cpu kernels (float32 inside BLAS), so
// they match within a float32 tolerance.

Deno.test({
  name: skipName(
    "Conv2D, Conv2DBackpropFilter and Conv2DBackpropInput match the cpu kernels",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async (t) => {
    for (const [i, c] of CONV_CASES.entries()) {
      await t.step(convName(c), async () => {
        await assertClose(
          () => {
            const { x, filter, y, dy } = convTensors(c, 100 + 10 * i);
            const { dFilter, dx } = convGradients(c, x, filter, dy);
            return [y, dFilter, dx];
          },
          convName(c),
          { backends: [BLAS_BACKEND_NAME, SMALL_CHUNKS, JS_LOOPS] },
        );
      });
    }
  },
});

Deno.test({
  name: skipName(
    "Conv2D falls back to the cpu kernel for dilations and NCHW",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    await assertIdentical(() => {
      const x = tf.tensor4d(randomValues(2 * 9 * 9 * 4, 7), [2, 9, 9, 4]);
      const filter = tf.tensor4d(randomValues(3 * 3 * 4 * 6, 8), [3, 3, 4, 6]);
      return tf.conv2d(x, filter, 1, "same", "NHWC", 2);
    }, "dilated conv2d");
  },
});

Deno.test({
  name: skipName(
    "FusedConv2D adds the bias and applies the activation like the cpu kernel",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async (t) => {
    const activations = ["linear", "relu", "relu6", "elu"] as const;
    for (const activation of activations) {
      await t.step(activation, async () => {
        await assertClose(() => {
          const x = tf.tensor4d(randomValues(3 * 8 * 8 * 5, 21), [3, 8, 8, 5]);
          const filter = tf.tensor4d(randomValues(3 * 3 * 5 * 16, 22, 0.3), [3, 3, 5, 16]);
          const bias = tf.tensor1d(randomValues(16, 23));
          return [
            tf.fused.conv2d({ x, filter, strides: 1, pad: "same", bias, activation }),
            tf.fused.conv2d({ x, filter, strides: 2, pad: "valid", activation }),
            tf.fused.conv2d({
              x,
              filter,
              strides: 1,
              pad: "same",
              bias: tf.scalar(0.5),
              activation,
            }),
          ];
        }, `fused conv2d ${activation}`);
      });
    }
  },
});
