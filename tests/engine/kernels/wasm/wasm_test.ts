import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import {
  defineReferenceTests,
  randomValues,
  relativeError,
  setUp,
  TOLERANCE,
} from "../_reference.ts";

defineReferenceTests("wasm");

Deno.test("wasm BatchMatMul gives the same product when its right factor is reused", async () => {
  setUp("wasm");
  await tf.setBackend("wasm");
  // The first product with fresh weights takes the swapped layout, later ones XNNPACK's cached one.
  const a = tf.tensor(randomValues([30, 600], 1).values, [30, 600]);
  const w = tf.tensor(randomValues([600, 300], 2).values, [600, 300]);
  const products = [0, 1, 2].map(() => tf.matMul(a, w));
  const [first, second, third] = products.map((p) => p.dataSync() as Float32Array);
  assert.ok(relativeError(second!, first!) < TOLERANCE);
  assert.ok(relativeError(third!, first!) < TOLERANCE);
  tf.dispose([a, w, ...products]);
});
