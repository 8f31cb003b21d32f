import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { registerCpuTrainingKernels } from "../../../../lib/engine/kernels/js/cpu.ts";
import { originalKernel, restoreKernels } from "../../../../lib/engine/kernels/registry.ts";
import { defineReferenceTests, REFERENCE, setUp } from "../_reference.ts";

defineReferenceTests("cpu");

Deno.test("registerCpuTrainingKernels() on a MathBackendCPU-based backend keeps its own kernels", () => {
  setUp("cpu");
  const name = "cpu-based-test";
  if (tf.findBackendFactory(name) === null) {
    tf.registerBackend(name, () => new MathBackendCPU(), -1);
    for (const config of tf.getKernelsForBackend(REFERENCE)) {
      tf.registerKernel({ ...config, backendName: name });
    }
  }
  // Like the blas backend: its own filter gradient, tfjs's cpu kernels for the rest.
  const own: tf.KernelFunc = (args) =>
    originalKernel(tf.Conv2DBackpropFilter, "cpu")!.kernelFunc(args);
  tf.unregisterKernel(tf.Conv2DBackpropFilter, name);
  tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName: name, kernelFunc: own });
  assert.deepEqual(registerCpuTrainingKernels(name).sort(), [
    tf.BatchMatMul,
    tf.Conv2D,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
    tf.Transform,
  ]);
  assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, name)!.kernelFunc, own);
  assert.equal(
    tf.getKernel(tf.MaxPoolGrad, name)!.kernelFunc,
    tf.getKernel(tf.MaxPoolGrad, "cpu")!.kernelFunc,
  );
  assert.deepEqual(registerCpuTrainingKernels(name), []);
  assert.deepEqual(restoreKernels(name).sort(), [
    tf.BatchMatMul,
    tf.Conv2D,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
    tf.Transform,
  ]);
});
