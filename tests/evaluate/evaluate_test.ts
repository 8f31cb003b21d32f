import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig } from "../../lib/core/config.ts";
import { CIFAR10_CLASSES } from "../../lib/data/format.ts";
import {
  confusionMatrix,
  evaluateTest,
  formatTestReport,
  predict,
  type TestProgress,
} from "../../lib/evaluate/evaluate.ts";
import { buildModel, getWeights, type Model, setWeights } from "../../lib/model/model.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";

await tf.setBackend("cpu");

const CONFIG = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 4, batchSize: 10 });

/** A model whose logits are the constant vector `bias` whatever the image. */
function constantModel(bias: number[]): Model {
  const model = buildModel(CONFIG);
  const weights = getWeights(model);
  for (const w of Object.values(weights)) w.values.fill(0);
  weights["fc2.bias"]!.values.set(bias);
  setWeights(model, weights);
  return model;
}

Deno.test("confusionMatrix() counts true × predicted pairs", () => {
  const m = confusionMatrix(Int32Array.of(0, 0, 1, 2, 2, 2), Int32Array.of(0, 1, 1, 2, 0, 2), 3);
  assert.deepEqual(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
  assert.throws(() => confusionMatrix(Int32Array.of(0, 1), Int32Array.of(0), 2), {
    name: "RangeError",
    message: "Cannot build a confusion matrix: expected as many predictions as labels (2), found 1",
  });
});

Deno.test("evaluateTest() gives the loss, per-class accuracy, predictions and confusion matrix", async () => {
  // Logits (0, 0, 0, c, 0, …): every image is predicted as class 3, with known losses.
  const c = 2;
  const model = constantModel([0, 0, 0, c, 0, 0, 0, 0, 0, 0]);
  const set = generateSyntheticImages(25, { seed: 3 });
  const progress: TestProgress[] = [];
  const before = tf.memory().numTensors;
  const result = await evaluateTest(model, set, {
    config: CONFIG,
    onBatch: (p) => void progress.push(p),
  });
  assert.equal(tf.memory().numTensors, before);
  const labels = Array.from(set.labels);
  const threes = labels.filter((l) => l === 3).length;
  const z = Math.exp(c) + 9;
  const expectedLoss = (threes * -Math.log(Math.exp(c) / z) + (25 - threes) * -Math.log(1 / z)) /
    25;
  assert.ok(Math.abs(result.loss - expectedLoss) < 1e-5, `loss ${result.loss} vs ${expectedLoss}`);
  assert.equal(result.total, 25);
  assert.equal(result.correct, threes);
  assert.equal(result.accuracy, threes / 25);
  assert.deepEqual([...result.predictions], new Array(25).fill(3));
  assert.deepEqual([...result.labels], labels);
  const classTotal = Array.from({ length: 10 }, (_, k) => labels.filter((l) => l === k).length);
  assert.deepEqual(result.classTotal, classTotal);
  assert.deepEqual(result.classCorrect, classTotal.map((n, k) => (k === 3 ? n : 0)));
  assert.deepEqual(result.confusion.map((row) => row[3]), classTotal);
  assert.deepEqual(progress.map((p) => [p.batch, p.batches, p.images]), [[1, 3, 10], [2, 3, 20], [
    3,
    3,
    25,
  ]]);
  model.dispose();
});

Deno.test("evaluateTest() agrees with predict() and ignores dropout", async () => {
  const model = buildModel({ ...CONFIG, dropout: 0.5 });
  const set = generateSyntheticImages(12, { seed: 4 });
  const a = await evaluateTest(model, set, { config: CONFIG });
  const b = await evaluateTest(model, set, { config: CONFIG });
  assert.equal(a.loss, b.loss);
  const { predictions, probabilities } = await predict(model, set.images, {
    config: CONFIG,
    size: 12,
  });
  assert.deepEqual(predictions, a.predictions);
  assert.equal(probabilities.length, 120);
  for (let i = 0; i < 12; i++) {
    const row = probabilities.subarray(i * 10, i * 10 + 10);
    assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-5);
    assert.equal(row.indexOf(Math.max(...row)), predictions[i]);
  }
  model.dispose();
});

Deno.test("formatTestReport() prints the template's lines", () => {
  const lines = formatTestReport({
    loss: 0.98765432,
    classCorrect: [841, 2, 5, 0, 29, 0, 0, 0, 0, 999],
    classTotal: [1000, 3, 100, 7, 100, 0, 0, 0, 0, 1000],
    correct: 1876,
    total: 2210,
  }, CIFAR10_CLASSES);
  assert.deepEqual(lines, [
    "Test Loss: 0.987654",
    "",
    "Test Accuracy of airplane: 84% (841/1000)",
    "Test Accuracy of automobile: 66% ( 2/ 3)", // 66.67 truncates, like %2d
    "Test Accuracy of  bird:  5% ( 5/100)", // %5s pads names, %2d pads numbers
    "Test Accuracy of   cat:  0% ( 0/ 7)",
    "Test Accuracy of  deer: 29% (29/100)",
    "Test Accuracy of   dog: N/A (no training examples)",
    "Test Accuracy of  frog: N/A (no training examples)",
    "Test Accuracy of horse: N/A (no training examples)",
    "Test Accuracy of  ship: N/A (no training examples)",
    "Test Accuracy of truck: 99% (999/1000)",
    "",
    "Test Accuracy (Overall): 84% (1876/2210)",
  ]);
});

Deno.test("formatTestReport() reports the tutorial's overall line", () => {
  const lines = formatTestReport(
    { loss: 0.66, classCorrect: [7674], classTotal: [10000], correct: 7674, total: 10000 },
    ["airplane"],
  );
  assert.equal(lines.at(-1), "Test Accuracy (Overall): 76% (7674/10000)");
  assert.equal(lines[0], "Test Loss: 0.660000");
});
