import { skipName } from "../../../_util.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BLAS_BACKEND_NAME } from "../../../../lib/engine/kernels/blas/blas.ts";
import { FusedAdamOptimizer } from "../../../../lib/engine/kernels/blas/adam.ts";
import { assertSameFloats, ignore, nativeIgnore, randomValues } from "./_blas_backends.ts";

// The fused Adam optimiser against tf.train.adam, and its native loop against its JS one.

async function adamTrajectory(
  backend: string,
  makeOptimizer: () => tf.Optimizer,
  steps: number,
  shareData: boolean,
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const a = tf.tidy(() =>
    tf.variable(tf.tensor2d(randomValues(40 * 25, 90), [40, 25]), true, `adam-a-${backend}`)
  );
  const initialB = tf.tensor1d(randomValues(25, 91));
  // `shared` keeps the initial tensor alive: its data is then shared with the variable.
  const b = tf.variable(initialB, true, `adam-b-${backend}`);
  if (!shareData) initialB.dispose();
  const optimizer = makeOptimizer();
  const dataIds = [a.dataId, b.dataId];
  for (let s = 0; s < steps; s++) {
    const grads = {
      [a.name]: tf.tensor2d(randomValues(40 * 25, 1000 + s, 0.1 * (s + 1)), [40, 25]),
      [b.name]: tf.tensor1d(randomValues(25, 2000 + s)),
    };
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const result = [Float32Array.from(a.dataSync()), Float32Array.from(b.dataSync())];
  const kept = [a.dataId === dataIds[0], b.dataId === dataIds[1]];
  const initialAfter = shareData ? Float32Array.from(initialB.dataSync()) : null;
  if (shareData) initialB.dispose();
  optimizer.dispose();
  tf.dispose([a, b]);
  assert.equal(tf.memory().numTensors, before, `${backend} adam leaked tensors`);
  return { result, initialAfter, kept };
}

/** Within a few float32 ulps of the reference, element by element. */
function assertAdamClose(actual: Float32Array[], expected: Float32Array[]) {
  assert.equal(actual.length, expected.length);
  for (let v = 0; v < expected.length; v++) {
    for (let i = 0; i < expected[v]!.length; i++) {
      const a = actual[v]![i]!, e = expected[v]![i]!;
      if (Math.abs(a - e) > 5e-7 * Math.max(1, Math.abs(e))) {
        assert.fail(`variable ${v}[${i}] = ${a} differs from tf.train.adam's ${e}`);
      }
    }
  }
}

Deno.test("FusedAdamOptimizer follows tf.train.adam to float32 rounding", async () => {
  const settings = [
    { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    { lr: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-8 },
  ];
  for (const { lr, beta1, beta2, epsilon } of settings) {
    const reference = await adamTrajectory(
      "cpu",
      () => tf.train.adam(lr, beta1, beta2, epsilon),
      5,
      false,
    );
    const fused = await adamTrajectory(
      "cpu",
      () => new FusedAdamOptimizer(lr, { beta1, beta2, epsilon }),
      5,
      false,
    );
    assertAdamClose(fused.result, reference.result);
  }
  // The defaults are tf.train.adam's (epsilon 1e-7 for float32): a different epsilon shows.
  const reference = await adamTrajectory("cpu", () => tf.train.adam(0.001), 2, false);
  const fused = await adamTrajectory("cpu", () => new FusedAdamOptimizer(0.001), 2, false);
  assertAdamClose(fused.result, reference.result);
  const otherEpsilon = await adamTrajectory(
    "cpu",
    () => tf.train.adam(0.001, 0.9, 0.999, 1e-3),
    2,
    false,
  );
  assert.throws(
    () => assertAdamClose(fused.result, otherEpsilon.result),
    /differs from tf.train.adam/,
  );
});

Deno.test({
  name: skipName(
    "FusedAdamOptimizer updates blas variables in place, but copies data shared with a tensor",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    const reference = await adamTrajectory("cpu", () => tf.train.adam(0.001), 3, true);
    const fused = await adamTrajectory(
      BLAS_BACKEND_NAME,
      () => new FusedAdamOptimizer(0.001),
      3,
      true,
    );
    assertAdamClose(fused.result, reference.result);
    // `a` was updated in its own storage; `b`, whose data a tensor shared, got new storage, and
    // that tensor still holds the initial values.
    assert.deepEqual(fused.kept, [true, false]);
    assert.deepEqual(fused.initialAfter, Float32Array.from(randomValues(25, 91)));
  },
});

Deno.test("FusedAdamOptimizer round-trips its state through getWeights/setWeights", async () => {
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const v = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3]), true, "adam-state"));
  const first = new FusedAdamOptimizer(0.1);
  const second = new FusedAdamOptimizer(0.1);
  const step = (optimizer: FusedAdamOptimizer, gradient: number[]) => {
    const g = tf.tensor1d(gradient);
    optimizer.applyGradients({ "adam-state": g });
    g.dispose();
  };
  step(first, [0.5, -1, 2]);
  const weights = await first.getWeights();
  assert.deepEqual(weights.map((w) => w.name), ["iter", "adam-state/m", "adam-state/v"]);
  await second.setWeights(weights);
  tf.dispose(weights.map((w) => w.tensor));
  const snapshot = tf.tensor1d(Float32Array.from(v.dataSync()));
  step(first, [1, 1, 1]);
  const afterFirst = Float32Array.from(v.dataSync());
  v.assign(snapshot);
  snapshot.dispose();
  step(second, [1, 1, 1]);
  assert.deepEqual(Float32Array.from(v.dataSync()), afterFirst);
  const stray = tf.scalar(1);
  assert.throws(() => first.applyGradients({ "no-such-variable": stray }), {
    name: "Error",
    message: 'Cannot apply Adam to variable "no-such-variable": no such variable is registered',
  });
  stray.dispose();
  v.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test({
  name: skipName(
    "FusedAdamOptimizer gives the same bits with native and JS loops",
    nativeIgnore,
    "the native loops need OpenBLAS and a C compiler (sudo apt-get install libopenblas0-pthread gcc)",
  ),
  ignore: nativeIgnore,
  fn: async () => {
    await tf.setBackend(BLAS_BACKEND_NAME);
    const size = 200_000; // above the threshold at which the native loop uses every thread
    const trajectory = (useNative: boolean) => {
      const variable = tf.variable(
        tf.tensor1d(randomValues(size, 940)),
        true,
        `adam-native-${useNative}`,
      );
      const optimizer = new FusedAdamOptimizer(0.01, { native: useNative });
      assert.equal(optimizer.nativeKernels !== null, useNative);
      for (let s = 0; s < 3; s++) {
        const g = tf.tensor1d(randomValues(size, 950 + s, 0.5));
        optimizer.applyGradients({ [variable.name]: g });
        g.dispose();
      }
      const values = Float32Array.from(variable.dataSync());
      variable.dispose();
      optimizer.dispose();
      return values;
    };
    const viaJs = trajectory(false);
    const viaNative = trajectory(true);
    assertSameFloats(viaNative, viaJs, "Adam after 3 steps");
    assert.ok(viaJs.some((v, i) => v !== randomValues(size, 940)[i]), "Adam changed nothing");
  },
});
