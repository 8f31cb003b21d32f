import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig } from "../../lib/core/config.ts";
import { batchToTensor } from "../../lib/augment/augment.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";
import { buildModel } from "../../lib/model/model.ts";
import {
  confidentMistakes,
  featureMapImages,
  firstLayerFilters,
  saliencyMaps,
} from "../../lib/evaluate/inspect.ts";

await tf.setBackend("cpu");
const image = generateSyntheticImages(2, { seed: 8 });

Deno.test("firstLayerFilters() turns each of conv1's filters into a 3×3 RGB patch, scaled alone", async () => {
  const model = buildModel(makeConfig({ convChannels: [3], hiddenUnits: 8 }));
  // Filter 0: one bright value (row 1, column 2, green); filter 1: constant; filter 2: a ramp.
  const values = new Float32Array(3 * 3 * 3 * 3);
  values[((1 * 3 + 2) * 3 + 1) * 3 + 0] = 5;
  for (let i = 0; i < 27; i++) values[i * 3 + 1] = 0.5;
  for (let i = 0; i < 27; i++) values[i * 3 + 2] = i;
  model.params["conv1.weight"]!.assign(tf.tensor4d(values, [3, 3, 3, 3]));
  const filters = await firstLayerFilters(model);
  assert.equal(filters.count, 3);
  assert.equal(filters.size, 3);
  const patch = (o: number) => [...filters.pixels.subarray(o * 27, (o + 1) * 27)];
  const bright = (1 * 3 + 2) * 3 + 1; // HWC index of row 1, column 2, green
  assert.deepEqual(patch(0), Array.from({ length: 27 }, (_, i) => (i === bright ? 255 : 0)));
  assert.deepEqual(patch(1), new Array(27).fill(128));
  assert.deepEqual(patch(2), Array.from({ length: 27 }, (_, i) => Math.round((i / 26) * 255)));
  model.dispose();
});

Deno.test("featureMapImages() shows every convolution's channels, one grey map each", async () => {
  const config = makeConfig({ seed: 2 });
  const model = buildModel(config);
  const x = batchToTensor(image.images.subarray(0, 3072), 1, { augment: false, config });
  const before = tf.memory().numTensors;
  const layers = await featureMapImages(model, x);
  assert.equal(tf.memory().numTensors, before, "tensors left behind");
  assert.deepEqual(
    layers.map((l) => [l.layer, l.channels, l.height, l.width]),
    [["conv1", 16, 32, 32], ["conv2", 32, 32, 32], ["conv3", 64, 16, 16], ["conv4", 128, 16, 16]],
  );
  for (const l of layers) assert.equal(l.pixels.length, l.channels * l.height * l.width);
  // conv1's channel 5 is ReLU(x ⊛ w + b), scaled by its own range.
  const expected = tf.tidy(() => {
    const w = model.params["conv1.weight"] as tf.Tensor4D;
    const y = tf.relu(tf.add(tf.conv2d(x, w, 1, "same"), model.params["conv1.bias"]!));
    return Array.from(tf.squeeze(tf.slice(y, [0, 0, 0, 5], [1, 32, 32, 1])).dataSync());
  });
  const min = Math.min(...expected), max = Math.max(...expected);
  const bytes = expected.map((v) => max > min ? Math.round(((v - min) / (max - min)) * 255) : 128);
  const channel5 = [...layers[0]!.pixels.subarray(5 * 1024, 6 * 1024)];
  assert.ok(channel5.every((b, i) => Math.abs(b - bytes[i]!) <= 1), "conv1 channel 5");
  const two = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
  await assert.rejects(
    featureMapImages(model, two),
    /expected one image of shape \[1, 32, 32, 3\], found \[2, 32, 32, 3\]/,
  );
  tf.dispose([x, two]);
  model.dispose();
});

Deno.test("confidentMistakes() lists the wrong predictions, surest first", () => {
  // Three classes; image 1 is right; 0 and 3 are wrong with 0.6, 2 wrong with 0.6 too (tie).
  const probabilities = new Float32Array([
    0.6,
    0.3,
    0.1, // 0: predicts 0, label 2
    0.1,
    0.8,
    0.1, // 1: predicts 1, label 1
    0.2,
    0.2,
    0.6, // 2: predicts 2, label 0
    0.1,
    0.9,
    0.0, // 3: predicts 1, label 0
  ]);
  const labels = new Int32Array([2, 1, 0, 0]);
  const mistakes = confidentMistakes(labels, probabilities, 10);
  assert.deepEqual(mistakes.map((m) => [m.index, m.label, m.predicted]), [[3, 0, 1], [0, 2, 0], [
    2,
    0,
    2,
  ]]);
  assert.ok(Math.abs(mistakes[0]!.confidence - 0.9) < 1e-6);
  assert.equal(confidentMistakes(labels, probabilities, 1).length, 1);
  assert.deepEqual(confidentMistakes(new Int32Array([1]), new Float32Array([0.2, 0.8]), 3), []);
  assert.throws(() => confidentMistakes(labels, new Float32Array(7), 3), {
    message: "Cannot find mistakes: expected 4 rows of probabilities, found 7 values",
  });
});

Deno.test("saliencyMaps(): the brightest pixel moves the predicted score more than the darkest", async () => {
  const config = makeConfig({ seed: 5, convChannels: [4, 8], hiddenUnits: 16 });
  const model = buildModel(config);
  const x = batchToTensor(image.images, 2, { augment: false, config });
  const { predicted, pixels } = await saliencyMaps(model, x);
  assert.equal(predicted.length, 2);
  assert.equal(pixels.length, 2 * 1024);
  const values = x.arraySync() as number[][][][];
  for (let i = 0; i < 2; i++) {
    const map = pixels.subarray(i * 1024, (i + 1) * 1024);
    const brightest = map.indexOf(Math.max(...map)), darkest = map.indexOf(Math.min(...map));
    assert.equal(map[brightest], 255);
    const score = (at: number, delta: number) => {
      const moved = values.map((img) => img.map((row) => row.map((px) => [...px])));
      for (let c = 0; c < 3; c++) moved[i]![Math.floor(at / 32)]![at % 32]![c]! += delta;
      return tf.tidy(() =>
        model.forward(tf.tensor4d(moved as number[][][][])).arraySync()[i]![predicted[i]!]!
      );
    };
    const base = score(0, 0);
    const effect = (at: number) => Math.abs(score(at, 0.05) - base);
    assert.ok(
      effect(brightest) > effect(darkest),
      `image ${i}: ${effect(brightest)} ≤ ${effect(darkest)}`,
    );
  }
  x.dispose();
  model.dispose();
});
