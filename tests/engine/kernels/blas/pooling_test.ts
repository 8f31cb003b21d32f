import { skipName } from "../../../_util.ts";
import * as tf from "@tensorflow/tfjs-core";
import { assertIdentical, ignore, randomValues } from "./_blas_backends.ts";

// Pooling must match the cpu kernels bit for bit, ties and NaN included.

Deno.test({
  name: skipName(
    "MaxPool and MaxPoolGrad match the cpu kernels bit for bit",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async (t) => {
    const cases: { shape: number[]; size: number; stride: number; pad: "same" | "valid" }[] = [
      { shape: [30, 8, 8, 32], size: 2, stride: 2, pad: "valid" },
      { shape: [2, 7, 9, 3], size: 2, stride: 2, pad: "valid" },
      { shape: [2, 9, 9, 4], size: 3, stride: 3, pad: "valid" },
      { shape: [2, 8, 8, 4], size: 2, stride: 2, pad: "same" },
      { shape: [2, 7, 7, 4], size: 2, stride: 2, pad: "same" },
      { shape: [2, 9, 9, 4], size: 3, stride: 2, pad: "valid" },
    ];
    for (const [i, c] of cases.entries()) {
      const label = `${c.shape} pool ${c.size} stride ${c.stride} ${c.pad}`;
      await t.step(label, async () => {
        const size = c.shape.reduce((p, d) => p * d, 1);
        // Rounded values make ties, which the first maximum must win.
        const xValues = randomValues(size, 70 + i).map((v) => Math.round(v * 2) / 2);
        xValues[3] = NaN;
        // A window of NaN and −∞ only: no maximum, so no gradient goes anywhere.
        const c4 = c.shape[3]!, row = c.shape[2]! * c4;
        for (const at of [1, 1 + c4, 1 + row, 1 + row + c4]) xValues[at] = at % 2 ? -Infinity : NaN;
        xValues[2 + c4] = -Infinity;
        await assertIdentical(() => {
          const x = tf.tensor4d(xValues, c.shape as [number, number, number, number]);
          const y = tf.maxPool(x, c.size, c.stride, c.pad);
          const grad = (dy: tf.Tensor) =>
            tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: y }, {
              filterSize: c.size,
              strides: c.stride,
              pad: c.pad,
            }) as tf.Tensor;
          // A first gradient, disposed: the blas backend hands its array, full of stale values,
          // to the next one, which must overwrite or zero every value.
          tf.dispose(grad(tf.fill(y.shape, 7)));
          const dx = grad(tf.tensor4d(randomValues(y.size, 80 + i), y.shape));
          return [y, dx];
        }, label);
      });
    }
  },
});
