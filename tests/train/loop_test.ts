import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig } from "../../lib/core/config.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { registerTrainingGradients } from "../../lib/engine/gradients.ts";
import { buildModel, getWeights, setWeights, type WeightValues } from "../../lib/model/model.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";
import {
  batchesPerEpoch,
  type BatchProgress,
  crossEntropy,
  lossTracePoint,
  trainEpoch,
  validate,
} from "../../lib/train/loop.ts";
import { createOptimizer } from "../../lib/train/optimizers.ts";
import { ALL, nanWeights, sameWeights, SET, TINY } from "./_fixtures.ts";

// The cpu backend with the backend module's faster convolution gradients.
await initBackend("cpu");

function sinValues(n: number, phase: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + phase) * scale);
}

Deno.test("crossEntropy() is the mean negative log-softmax of the true class", () => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 5]]);
  const labels = tf.tensor1d([2, 0], "int32");
  const loss = crossEntropy(logits, labels);
  const lse = (xs: number[]) => Math.log(xs.reduce((s, x) => s + Math.exp(x), 0));
  const expected = ((lse([1, 2, 3]) - 3) + (lse([0, 0, 5]) - 0)) / 2;
  assert.ok(Math.abs(loss.dataSync()[0]! - expected) < 1e-6);
  tf.dispose([logits, labels, loss]);
});

Deno.test("crossEntropy() and the model's gradients match PyTorch", () => {
  // Reference: PyTorch 1.13, float64, F.cross_entropy on the same tiny network, weights and input
  // as tests/model/model_test.ts ("matches PyTorch"), labels [3, 7]; gradients mapped back to our layouts.
  const expected = {
    loss: 2.32182355,
    conv1Weight: [
      0.00258894701,
      0.000399954912,
      0.00236773045,
      0.00103730584,
      0.00182605268,
      0.0015342623,
      0.000954045463,
      0.0021779351,
      2.61418706e-05,
      0.00195702457,
      -0.000905299902,
      0.00147123994,
      -0.00147862135,
      0.000935366548,
      -0.00194432042,
      9.72570194e-05,
      -0.00214686485,
      -0.00075401579,
      -0.00111097677,
      -0.00120626137,
      -0.000352947644,
      -0.00129597023,
      0.000452851286,
      -0.0012102756,
      0.00132125396,
      -0.000768355299,
      0.00184533293,
      -9.79304875e-05,
      0.00211965475,
      0.000585748756,
      0.00221184808,
      0.00143298079,
      0.00192501824,
      0.00193468412,
      0.00137764622,
      0.00217453703,
      0.000398393569,
      0.00113789157,
      0.000104902314,
      0.00125809227,
      -0.000202786978,
      0.00120801609,
      -0.000270395708,
      0.000252542386,
      -0.00051908149,
      -0.000340316635,
      -0.000697512027,
      -0.000887115397,
      -0.000882269547,
      -0.0016224028,
      -0.000832905875,
      -0.00182112833,
      -0.0006708123,
      -0.00177337269,
    ],
    conv2Bias: [-0.00310493439, -0.00174265778, 0.00389869734],
    fc1WeightAbsSum: 0.632554694,
    fc1Weight8To24: [
      0,
      0,
      0.00237086406,
      -0.00269359569,
      0,
      0,
      0.00162447737,
      -0.00249625151,
      0,
      0,
      -0.00125076131,
      9.52490262e-05,
      0,
      0,
      -0.000195787469,
      1.49097718e-05,
    ],
    fc2Bias: [
      0.111040768,
      0.109886052,
      0.107476641,
      -0.395792207,
      0.100581108,
      0.0971057241,
      0.0942220071,
      -0.407740531,
      0.091423506,
      0.0917969311,
    ],
  };
  const model = buildModel({ ...TINY, convChannels: [2, 3], poolEvery: 2, hiddenUnits: 4 });
  const weights: Record<string, WeightValues> = {};
  Object.entries(model.params).forEach(([name, v], k) => {
    weights[name] = {
      shape: [...v.shape],
      values: sinValues(v.size, k + 1, name.startsWith("conv") ? 0.3 : 0.1),
    };
  });
  setWeights(model, weights);
  const x = tf.tensor4d(sinValues(2 * 32 * 32 * 3, 0.5, 1), [2, 32, 32, 3]);
  const labels = tf.tensor1d([3, 7], "int32");
  const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(x), labels));
  const close = (actual: ArrayLike<number>, wanted: number[], what: string, tolerance = 2e-6) => {
    assert.equal(actual.length, wanted.length, what);
    wanted.forEach((w, i) =>
      assert.ok(Math.abs(actual[i]! - w) < tolerance, `${what}[${i}]: ${actual[i]} vs ${w}`)
    );
  };
  // variableGrads keys gradients by tfjs's variable names; map them back to ours.
  const grad = (name: string) => grads[model.params[name]!.name]!.dataSync() as Float32Array;
  close([value.dataSync()[0]!], [expected.loss], "loss");
  close(grad("conv1.weight"), expected.conv1Weight, "conv1.weight");
  close(grad("conv2.bias"), expected.conv2Bias, "conv2.bias");
  close(grad("fc1.weight").slice(8, 24), expected.fc1Weight8To24, "fc1.weight[8:24]");
  close(
    [grad("fc1.weight").reduce((s, v) => s + Math.abs(v), 0)],
    [expected.fc1WeightAbsSum],
    "|fc1.weight|",
    1e-5,
  );
  close(grad("fc2.bias"), expected.fc2Bias, "fc2.bias");
  tf.dispose([x, labels, value, ...Object.values(grads)]);
  model.dispose();
});

Deno.test("registered gradients agree with finite differences", async (t) => {
  // Our lib/engine/gradients.ts stands in for tfjs's (which Deno cannot load); check each formula.
  registerTrainingGradients();
  const b23 = tf.tensor2d([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]]);
  const b32 = tf.tensor2d([[0.3, -0.2], [0.5, 0.1], [0.4, -0.6]]);
  const row = tf.tensor1d([0.7, -0.3, 0.2]);
  const cases: [string, number[], (x: tf.Tensor) => tf.Tensor][] = [
    ["add (broadcast)", [2, 3], (x) => tf.add(x, row)],
    ["add (broadcast, other side)", [3], (x) => tf.add(b23, x)],
    ["sub (broadcast)", [3], (x) => tf.sub(b23, x)],
    ["mul (broadcast)", [3], (x) => tf.mul(b23, x)],
    ["relu", [2, 3], (x) => tf.relu(x)],
    ["matMul", [2, 3], (x) => tf.matMul(x, b32)],
    ["matMul transposeA", [3, 2], (x) => tf.matMul(x, b32, true, false)],
    ["matMul transposeB", [2, 3], (x) => tf.matMul(x, b23, false, true)],
    ["matMul both", [3, 2], (x) => tf.matMul(x, b23, true, true)],
    ["matMul as b", [3, 2], (x) => tf.matMul(b23, x)],
    ["sum axis 1", [2, 3], (x) => tf.sum(x, 1)],
    ["mean axis 0", [2, 3], (x) => tf.mean(x, 0)],
    ["neg", [2, 3], (x) => tf.neg(x)],
    ["reshape", [2, 3], (x) => tf.reshape(x, [3, 2])],
    ["maxPool", [1, 4, 4, 1], (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "valid")],
    [
      "conv2d",
      [1, 4, 4, 2],
      (x) =>
        tf.conv2d(
          x as tf.Tensor4D,
          tf.div(tf.reshape(tf.range(0, 12), [1, 2, 2, 3]), 10) as tf.Tensor4D,
          1,
          "same",
        ),
    ],
  ];
  for (const [name, shape, f] of cases) {
    await t.step(name, () => {
      const size = shape.reduce((a, b) => a * b, 1);
      // Distinct values away from ReLU's kink and pooling ties.
      const base = Float32Array.from(
        { length: size },
        (_, i) => Math.sin(i * 1.7 + 0.3) + (i % 2 ? 0.05 : -0.05),
      );
      const x = tf.tensor(base, shape);
      const y = f(x);
      const weights = tf.tensor(
        Float32Array.from({ length: y.size }, (_, i) => Math.cos(i * 0.9)),
        y.shape,
      );
      const objective = (v: tf.Tensor) => tf.sum(tf.mul(f(v), weights)) as tf.Scalar;
      const analytic = tf.grad(objective)(x);
      const got = analytic.dataSync();
      const eps = 1e-2;
      for (let i = 0; i < size; i++) {
        const plus = base.slice(), minus = base.slice();
        plus[i]! += eps;
        minus[i]! -= eps;
        const numeric = tf.tidy(() =>
          (objective(tf.tensor(plus, shape)).dataSync()[0]! -
            objective(tf.tensor(minus, shape)).dataSync()[0]!) /
          (2 * eps)
        );
        assert.ok(
          Math.abs(got[i]! - numeric) < 2e-3,
          `${name}: d/dx[${i}] ${got[i]} vs ${numeric}`,
        );
      }
      tf.dispose([x, y, weights, analytic]);
    });
  }
  tf.dispose([b23, b32, row]);
});

Deno.test("trainEpoch() returns per-image averages and reports every batch", async () => {
  const model = buildModel(TINY);
  const optimizer = createOptimizer(TINY, "cpu");
  const progress: BatchProgress[] = [];
  const result = await trainEpoch(model, { set: SET, indices: ALL.subarray(0, 25) }, {
    optimizer,
    config: TINY,
    epoch: 1,
    onBatch: (p) => void progress.push(p),
  });
  assert.equal(result.images, 25);
  assert.equal(result.batches, 3);
  assert.equal(result.aborted, false);
  assert.equal(result.nonFinite, null);
  assert.deepEqual(progress.map((p) => [p.phase, p.batch, p.batches, p.images]), [
    ["train", 1, 3, 10],
    ["train", 2, 3, 20],
    ["train", 3, 3, 25],
  ]);
  // The running loss after the last batch is the epoch's loss; it is an image-weighted mean.
  assert.equal(progress.at(-1)!.runningLoss, result.loss);
  assert.equal(result.correct, Math.round(result.accuracy * 25));
  assert.ok(result.loss > 0 && Number.isFinite(result.loss));
  // The loss trace: 3 batches make 3 points (fewer than ten), each its batch's loss per image.
  assert.deepEqual(result.lossTrace, progress.map((p) => p.batchLoss));
  optimizer.dispose();
  model.dispose();
});

Deno.test("lossTracePoint() splits an epoch's batches into ten runs, none empty", () => {
  for (const batches of [1, 3, 9, 10, 11, 25, 1334]) {
    const points = Array.from({ length: batches }, (_, b) => lossTracePoint(b, batches));
    const count = Math.min(10, batches);
    assert.ok(points.every((p) => p.points === count));
    // Every point from 0 to count − 1 gets batches, in order.
    assert.deepEqual([...new Set(points.map((p) => p.point))], [...Array(count).keys()]);
    for (let b = 1; b < batches; b++) assert.ok(points[b]!.point >= points[b - 1]!.point);
  }
});

Deno.test("trainEpoch() stops after config.maxBatchesPerEpoch batches", async () => {
  const config = { ...TINY, maxBatchesPerEpoch: 2 };
  const model = buildModel(config);
  const optimizer = createOptimizer(config, "cpu");
  const result = await trainEpoch(model, { set: SET, indices: ALL }, {
    optimizer,
    config,
    epoch: 1,
  });
  assert.equal(result.batches, 2);
  assert.equal(result.images, 20);
  optimizer.dispose();
  model.dispose();
});

Deno.test("trainEpoch() changes the weights and leaks no tensors", async () => {
  const model = buildModel(TINY);
  const optimizer = createOptimizer(TINY, "cpu");
  const data = { set: SET, indices: ALL.subarray(0, 20) };
  const initial = getWeights(model);
  // The first step creates the optimiser's moment variables; count after it.
  await trainEpoch(model, data, { optimizer, config: TINY, epoch: 1 });
  assert.ok(!sameWeights(initial, getWeights(model)), "weights did not change");
  const before = tf.memory().numTensors;
  await trainEpoch(model, data, { optimizer, config: TINY, epoch: 2 });
  await validate(model, data, { config: TINY, epoch: 2 });
  assert.equal(tf.memory().numTensors, before);
  optimizer.dispose();
  model.dispose();
});

Deno.test("trainEpoch() gives the same losses and weights for the same seed", async () => {
  const run = async (seed: number) => {
    const config = { ...TINY, seed };
    const model = buildModel(config);
    const optimizer = createOptimizer(config, "cpu");
    const losses: number[] = [];
    for (let epoch = 1; epoch <= 2; epoch++) {
      const r = await trainEpoch(model, { set: SET, indices: ALL.subarray(0, 30) }, {
        optimizer,
        config,
        epoch,
      });
      losses.push(r.loss);
    }
    const weights = getWeights(model);
    optimizer.dispose();
    model.dispose();
    return { losses, weights };
  };
  const a = await run(3), b = await run(3), c = await run(4);
  assert.deepEqual(a.losses, b.losses);
  assert.ok(sameWeights(a.weights, b.weights), "weights differ for the same seed");
  assert.notDeepEqual(a.losses, c.losses);
});

Deno.test("trainEpoch() learns the synthetic shapes", async () => {
  const config = { ...TINY, hiddenUnits: 16, batchSize: 20 };
  const set = generateSyntheticImages(100, { seed: 1 });
  const model = buildModel(config);
  const optimizer = createOptimizer(config, "cpu");
  const indices = Int32Array.from({ length: set.count }, (_, i) => i);
  const results = [];
  for (let epoch = 1; epoch <= 3; epoch++) {
    results.push(await trainEpoch(model, { set, indices }, { optimizer, config, epoch }));
  }
  // Chance level is ln 10 ≈ 2.30 and 10% accuracy.
  const [first, last] = [results[0]!, results.at(-1)!];
  assert.ok(last.loss < first.loss - 0.2, `losses ${results.map((r) => r.loss).join(", ")}`);
  assert.ok(last.accuracy > 0.15, `accuracy ${last.accuracy}`);
  optimizer.dispose();
  model.dispose();
});

Deno.test("trainEpoch() stops at a batch boundary when the signal aborts", async () => {
  const model = buildModel(TINY);
  const optimizer = createOptimizer(TINY, "cpu");
  const controller = new AbortController();
  const result = await trainEpoch(model, { set: SET, indices: ALL }, {
    optimizer,
    config: TINY,
    epoch: 1,
    signal: controller.signal,
    onBatch: (p) => {
      if (p.batch === 2) controller.abort();
    },
  });
  assert.equal(result.aborted, true);
  assert.equal(result.batches, 2);
  assert.equal(result.images, 20);
  optimizer.dispose();
  model.dispose();
});

Deno.test("trainEpoch() stops on a non-finite loss", async () => {
  const model = buildModel(TINY);
  setWeights(model, nanWeights(model));
  const optimizer = createOptimizer(TINY, "cpu");
  const result = await trainEpoch(model, { set: SET, indices: ALL }, {
    optimizer,
    config: TINY,
    epoch: 1,
  });
  assert.deepEqual(result.nonFinite, { batch: 1, loss: NaN });
  assert.equal(result.images, 0);
  optimizer.dispose();
  model.dispose();
});

Deno.test("batchesPerEpoch() is the batch count, capped at config.maxBatchesPerEpoch", () => {
  assert.equal(batchesPerEpoch(25, TINY), 3);
  assert.equal(batchesPerEpoch(20, TINY), 2);
  assert.equal(batchesPerEpoch(0, TINY), 0);
  assert.equal(batchesPerEpoch(25, { ...TINY, maxBatchesPerEpoch: 2 }), 2);
  assert.equal(batchesPerEpoch(15, { ...TINY, maxBatchesPerEpoch: 5 }), 2);
});

Deno.test("trainEpoch() gives the event loop a turn every ~200 ms, only when it has a signal to watch", async () => {
  // A timer queued before the epoch runs only when the loop yields a macrotask turn. Each batch's
  // report blocks for 60 ms, so more than 200 ms pass before the last of the 6 batches.
  const run = async (signal?: AbortSignal) => {
    const model = buildModel(TINY);
    const optimizer = createOptimizer(TINY, "cpu");
    let ran = false;
    const timer = setTimeout(() => ran = true, 0);
    const seen: boolean[] = [];
    try {
      await trainEpoch(model, { set: SET, indices: ALL }, {
        optimizer,
        config: TINY,
        epoch: 1,
        signal,
        onBatch: () => {
          seen.push(ran);
          const until = performance.now() + 60;
          while (performance.now() < until) { /* busy: time passes without a turn */ }
        },
      });
      return { seen, ranByEnd: ran };
    } finally {
      clearTimeout(timer);
      optimizer.dispose();
      model.dispose();
    }
  };
  const unwatched = await run();
  assert.deepEqual(unwatched.seen, [false, false, false, false, false, false]);
  assert.equal(unwatched.ranByEnd, false, "without a signal the epoch must not yield");
  const watched = await run(new AbortController().signal);
  assert.equal(watched.seen.length, 6);
  assert.equal(watched.seen[0], false, "no turn before 200 ms have passed");
  assert.equal(watched.seen.at(-1), true, `expected a turn within the epoch: ${watched.seen}`);
});

Deno.test("validate() leaves the weights alone and seeds its augmentation per epoch", async () => {
  const model = buildModel(TINY);
  const data = { set: SET, indices: ALL.subarray(0, 30) };
  const before = getWeights(model);
  const e1 = await validate(model, data, { config: TINY, epoch: 1 });
  const e1again = await validate(model, data, { config: TINY, epoch: 1 });
  const e2 = await validate(model, data, { config: TINY, epoch: 2 });
  assert.equal(e1.loss, e1again.loss);
  assert.notEqual(e1.loss, e2.loss, "augmentation should differ between epochs");
  const plain = { ...TINY, augmentValidation: false };
  const p1 = await validate(model, data, { config: plain, epoch: 1 });
  const p2 = await validate(model, data, { config: plain, epoch: 2 });
  assert.equal(p1.loss, p2.loss, "without augmentation the epoch must not matter");
  assert.equal(p1.images, 30);
  assert.ok(sameWeights(before, getWeights(model)));
  model.dispose();
});

Deno.test("trainEpoch() on wasm trains the tutorial's network reproducibly without leaking tensors", async () => {
  // The integration path: initBackend registers the backend helper's wasm training kernels.
  await initBackend("wasm");
  try {
    const config = makeConfig({ maxBatchesPerEpoch: 2, rotationDegrees: 20 });
    const run = async () => {
      const model = buildModel(config);
      const optimizer = createOptimizer(config);
      const data = { set: SET, indices: ALL };
      const first = await trainEpoch(model, data, { optimizer, config, epoch: 1 });
      const before = tf.memory().numTensors;
      const second = await trainEpoch(model, data, { optimizer, config, epoch: 2 });
      const valid = await validate(model, data, { config, epoch: 2 });
      const leaked = tf.memory().numTensors - before;
      optimizer.dispose();
      model.dispose();
      return { losses: [first.loss, second.loss, valid.loss], leaked };
    };
    const a = await run(), b = await run();
    assert.equal(tf.getBackend(), "wasm");
    assert.equal(a.leaked, 0);
    assert.deepEqual(a.losses, b.losses);
    assert.ok(a.losses.every(Number.isFinite));
  } finally {
    await initBackend("cpu");
  }
});
