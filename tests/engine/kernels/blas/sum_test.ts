import { skipName } from "../../../_util.ts";
import * as tf from "@tensorflow/tfjs-core";
import { assertIdentical, ignore, randomValues } from "./_blas_backends.ts";

// Sum must match the cpu kernel bit for bit: the same float64 accumulation, in the same order.
Deno.test({
  name: skipName(
    "Sum over leading axes and every other axis matches the cpu kernel bit for bit",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    const shape = [30, 8, 8, 16];
    const size = shape.reduce((p, d) => p * d, 1);
    await assertIdentical(() => {
      const y = tf.tensor(randomValues(size, 62), shape);
      return [
        tf.sum(y, [0, 1, 2]),
        tf.sum(y, [1, 0], true),
        tf.sum(y),
        tf.sum(y, -1),
        tf.sum(y, [0, 2]),
      ];
    }, "Sum");
  },
});
