import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { registerTrainingKernels } from "../../../lib/engine/backend.ts";
import { originalKernel, restoreKernels } from "../../../lib/engine/kernels/registry.ts";
import { setUp } from "./_reference.ts";

Deno.test("registerTrainingKernels() is idempotent and restoreKernels() puts tfjs's back", () => {
  setUp("wasm");
  const ours = tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc;
  assert.deepEqual(registerTrainingKernels("wasm"), []);
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc, ours);
  const original = originalKernel(tf.Conv2DBackpropInput, "wasm")!;
  assert.notEqual(original.kernelFunc, ours);
  assert.deepEqual(restoreKernels("wasm").sort(), [
    tf.BatchMatMul,
    tf.Conv2DBackpropFilter,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
  ]);
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc, original.kernelFunc);
  assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, "wasm"), undefined);
  assert.deepEqual(registerTrainingKernels("wasm").sort(), [
    tf.BatchMatMul,
    tf.Conv2DBackpropFilter,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
  ]);
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc, ours);
});
