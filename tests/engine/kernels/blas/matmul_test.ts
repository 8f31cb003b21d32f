import { skipName } from "../../../_util.ts";
import * as tf from "@tensorflow/tfjs-core";
import { assertClose, ignore, randomValues } from "./_blas_backends.ts";

Deno.test({
  name: skipName(
    "BatchMatMul matches the cpu kernel for every transpose combination and batch broadcast",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async (t) => {
    const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const [m, k, n] = [30, 96, 50];
        cases.push({ a: ta ? [k, m] : [m, k], b: tb ? [n, k] : [k, n], ta, tb });
        cases.push({ a: ta ? [3, k, m] : [3, m, k], b: tb ? [3, n, k] : [3, k, n], ta, tb });
        cases.push({ a: ta ? [1, k, m] : [1, m, k], b: tb ? [4, n, k] : [4, k, n], ta, tb });
        cases.push({ a: ta ? [2, 2, k, m] : [2, 2, m, k], b: tb ? [n, k] : [k, n], ta, tb });
      }
    }
    cases.push({ a: [1, 7], b: [7, 1], ta: false, tb: false });
    cases.push({ a: [30, 8192], b: [8192, 500], ta: false, tb: false });
    cases.push({ a: [30, 8192], b: [30, 500], ta: true, tb: false });
    cases.push({ a: [30, 500], b: [8192, 500], ta: false, tb: true });
    // Batch-sized products (the native ones where they load): row, column and step remainders.
    cases.push({ a: [7, 300], b: [300, 77], ta: false, tb: false });
    cases.push({ a: [128, 257], b: [257, 100], ta: false, tb: false });
    cases.push({ a: [5, 70], b: [300, 70], ta: false, tb: true });
    cases.push({ a: [33, 64], b: [256, 64], ta: false, tb: true });
    cases.push({ a: [9, 257], b: [9, 65], ta: true, tb: false });
    cases.push({ a: [128, 300], b: [128, 64], ta: true, tb: false });
    for (const [i, c] of cases.entries()) {
      const label = `${c.a}${c.ta ? "ᵀ" : ""} · ${c.b}${c.tb ? "ᵀ" : ""}`;
      await t.step(label, async () => {
        await assertClose(() => {
          const a = tf.tensor(randomValues(c.a.reduce((p, d) => p * d, 1), 300 + i), c.a);
          const b = tf.tensor(randomValues(c.b.reduce((p, d) => p * d, 1), 400 + i), c.b);
          return tf.matMul(a, b, c.ta, c.tb);
        }, label);
      });
    }
  },
});

Deno.test({
  name: skipName(
    "_FusedMatMul adds the bias and applies the activation like the cpu kernel",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    await assertClose(() => {
      const a = tf.tensor2d(randomValues(30 * 64, 51), [30, 64]);
      const b = tf.tensor2d(randomValues(64 * 20, 52), [64, 20]);
      const bT = tf.tensor2d(randomValues(20 * 64, 53), [20, 64]);
      const bias = tf.tensor1d(randomValues(20, 54));
      return [
        tf.fused.matMul({ a, b, bias, activation: "relu" }),
        tf.fused.matMul({ a, b: bT, transposeB: true, bias, activation: "linear" }),
        tf.fused.matMul({ a, b, bias: tf.scalar(-0.25), activation: "relu6" }),
        tf.fused.matMul({ a, b, activation: "sigmoid" }),
        tf.fused.matMul({ a, b, bias: tf.tensor2d(randomValues(30 * 20, 55), [30, 20]) }),
      ];
    }, "fused matMul");
  },
});
