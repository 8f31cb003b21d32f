import assert from "node:assert/strict";
import { IMAGE_BYTES, type ImageSet } from "../../lib/data/format.ts";
import {
  batchCount,
  countLabels,
  iterateBatches,
  splitTrainValid,
  subsetImages,
  weightedSample,
} from "../../lib/data/split.ts";
import { createRng, deriveSeed, shuffleInPlace } from "../../lib/core/random.ts";

function fakeSet(count: number): ImageSet {
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    images.fill(i % 256, i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);
    labels[i] = i % 10;
  }
  return { images, labels, count };
}

Deno.test("subsetImages() takes the first N images without copying", () => {
  const set = fakeSet(5);
  const sub = subsetImages(set, 3);
  assert.equal(sub.count, 3);
  assert.equal(sub.images.buffer, set.images.buffer);
  assert.equal(sub.images.length, 3 * IMAGE_BYTES);
  assert.deepEqual([...sub.labels], [0, 1, 2]);
  assert.equal(subsetImages(set, null), set);
  assert.equal(subsetImages(set, 99), set);
  assert.equal(subsetImages(set, 0).count, 0);
  assert.throws(() => subsetImages(set, -1), {
    name: "RangeError",
    message: "Cannot take a subset: expected limit ≥ 0 (an integer or null), found -1",
  });
});

Deno.test("splitTrainValid() sizes are floor(count × validFraction)", async (t) => {
  const cases: [number, number, number][] = [
    [50000, 0.2, 10000],
    [101, 0.2, 20],
    [100, 0.29, 29],
    [7, 0.5, 3],
    [10, 0, 0],
    [0, 0.2, 0],
  ];
  for (const [count, fraction, valid] of cases) {
    await t.step(`${count} × ${fraction} → ${valid}`, () => {
      const split = splitTrainValid(count, fraction, 42);
      assert.equal(split.validIndices.length, valid);
      assert.equal(split.trainIndices.length, count - valid);
    });
  }
});

Deno.test("splitTrainValid() is disjoint, complete, sorted and reproducible per seed", () => {
  const a = splitTrainValid(1000, 0.2, 7);
  const all = [...a.trainIndices, ...a.validIndices].sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual([...a.validIndices], [...a.validIndices].sort((x, y) => x - y));
  assert.deepEqual([...a.trainIndices], [...a.trainIndices].sort((x, y) => x - y));
  assert.deepEqual(splitTrainValid(1000, 0.2, 7), a);
  assert.notDeepEqual(splitTrainValid(1000, 0.2, 8).validIndices, a.validIndices);
  // The validation set is the head of the seeded permutation, as in the tutorial.
  const order = Int32Array.from({ length: 1000 }, (_, i) => i);
  shuffleInPlace(order, createRng(deriveSeed(7, "split")));
  assert.deepEqual(a.validIndices, order.slice(0, 200).sort());
});

Deno.test("splitTrainValid() rejects bad arguments", () => {
  assert.throws(() => splitTrainValid(10, 1, 0), {
    name: "RangeError",
    message: "Cannot split: expected validFraction in [0, 1), found 1",
  });
  assert.throws(() => splitTrainValid(-1, 0.2, 0), {
    name: "RangeError",
    message: "Cannot split: expected count to be an integer ≥ 0, found -1",
  });
});

Deno.test("iterateBatches() keeps the last partial batch and gathers the right images", () => {
  const set = fakeSet(12);
  const indices = new Int32Array([11, 3, 5, 0, 7, 2, 9]);
  const batches = [
    ...iterateBatches(set, indices, { batchSize: 3, seed: 1, epoch: 0, shuffle: false }),
  ];
  assert.deepEqual(batches.map((b) => b.size), [3, 3, 1]);
  assert.deepEqual(batches.map((b) => [...b.indices]), [[11, 3, 5], [0, 7, 2], [9]]);
  for (const batch of batches) {
    assert.equal(batch.images.length, batch.size * IMAGE_BYTES);
    assert.ok(batch.labels instanceof Int32Array);
    batch.indices.forEach((index, i) => {
      assert.equal(batch.labels[i], index % 10);
      assert.equal(batch.images[i * IMAGE_BYTES], index);
      assert.equal(batch.images[(i + 1) * IMAGE_BYTES - 1], index);
    });
  }
});

Deno.test("iterateBatches() shuffles per epoch, reproducibly from the seed", () => {
  const set = fakeSet(100);
  const indices = Int32Array.from({ length: 100 }, (_, i) => i);
  const order = (seed: number, epoch: number) =>
    [...iterateBatches(set, indices, { batchSize: 30, seed, epoch, shuffle: true })]
      .flatMap((b) => [...b.indices]);
  const e0 = order(42, 0);
  assert.deepEqual(order(42, 0), e0);
  assert.notDeepEqual(order(42, 1), e0);
  assert.notDeepEqual(order(43, 0), e0);
  assert.deepEqual([...e0].sort((a, b) => a - b), [...indices]);
  const expected = Int32Array.from(indices);
  shuffleInPlace(expected, createRng(deriveSeed(42, "shuffle", 0)));
  assert.deepEqual(e0, [...expected]);
  assert.deepEqual(indices, Int32Array.from({ length: 100 }, (_, i) => i)); // input untouched
});

Deno.test("iterateBatches() checks its arguments when called", () => {
  const set = fakeSet(4);
  assert.throws(
    () =>
      iterateBatches(set, new Int32Array([0]), { batchSize: 0, seed: 0, epoch: 0, shuffle: false }),
    {
      name: "RangeError",
      message: "Cannot iterate batches: expected batchSize ≥ 1 (an integer), found 0",
    },
  );
  assert.throws(
    () =>
      iterateBatches(set, new Int32Array([0, 4]), {
        batchSize: 2,
        seed: 0,
        epoch: 0,
        shuffle: false,
      }),
    { name: "RangeError", message: "Cannot iterate batches: indices[1] is 4, expected 0…3" },
  );
});

Deno.test("countLabels() counts per class, optionally over indices", () => {
  const labels = new Uint8Array([1, 1, 2, 9, 0]);
  assert.deepEqual(countLabels(labels), [1, 2, 1, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(countLabels(labels, { indices: new Int32Array([0, 3]) }), [
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
  ]);
});

Deno.test("batchCount() is ceil(images / batchSize), the number of batches iterateBatches yields", () => {
  assert.equal(batchCount(40000, 64), 625);
  assert.equal(batchCount(10000, 64), 157);
  assert.equal(batchCount(0, 64), 0);
  assert.equal(batchCount(1, 64), 1);
  assert.equal(batchCount(64, 64), 1);
  assert.equal(batchCount(65, 64), 2);
  const set = fakeSet(12);
  for (const [count, batchSize] of [[12, 5], [12, 4], [7, 1], [3, 10], [0, 3]] as const) {
    const indices = Int32Array.from({ length: count }, (_, i) => i);
    const batches = [
      ...iterateBatches(set, indices, { batchSize, seed: 0, epoch: 0, shuffle: true }),
    ];
    assert.equal(
      batchCount(count, batchSize),
      batches.length,
      `${count} in batches of ${batchSize}`,
    );
  }
  assert.throws(() => batchCount(10, 0), {
    name: "RangeError",
    message: "Cannot count batches: expected batchSize ≥ 1 (an integer), found 0",
  });
  assert.throws(() => batchCount(10, 2.5), {
    name: "RangeError",
    message: "Cannot count batches: expected batchSize ≥ 1 (an integer), found 2.5",
  });
  assert.throws(() => batchCount(-1, 2), {
    name: "RangeError",
    message: "Cannot count batches: expected images ≥ 0 (an integer), found -1",
  });
});

Deno.test("weightedSample() draws each class in proportion to its weight, reproducibly", () => {
  // 1000 images, 100 of each class; class 0 weighs 3, class 9 weighs 0, the rest 1.
  const labels = Uint8Array.from({ length: 1000 }, (_, i) => i % 10);
  const indices = Int32Array.from({ length: 1000 }, (_, i) => i);
  const weights = [3, 1, 1, 1, 1, 1, 1, 1, 1, 0];
  const drawn = weightedSample(labels, indices, weights, 11);
  assert.equal(drawn.length, 1000, "as many draws as images");
  assert.deepEqual(drawn, weightedSample(labels, indices, weights, 11), "same seed, same draws");
  assert.notDeepEqual(drawn, weightedSample(labels, indices, weights, 12));
  const counts = countLabels(Uint8Array.from(drawn, (i) => labels[i]!));
  assert.equal(counts[9], 0, "a class of weight 0 is never drawn");
  // Expected 3/11 of the draws for class 0 (273) and 1/11 (91) for the others; ±5 σ.
  assert.ok(Math.abs(counts[0]! - 1000 * 3 / 11) < 5 * Math.sqrt(1000 * 3 / 11), `${counts}`);
  for (let c = 1; c < 9; c++) {
    assert.ok(Math.abs(counts[c]! - 1000 / 11) < 5 * Math.sqrt(1000 / 11), `class ${c}: ${counts}`);
  }
  assert.throws(
    () => weightedSample(labels, indices.subarray(0, 10).filter((i) => i % 10 === 9), weights, 1),
    /Cannot sample by class weights: expected a weight > 0 for a class among the 1 images/,
  );
});

Deno.test("iterateBatches() draws by class weights per epoch, from the seed, instead of shuffling", () => {
  const set = fakeSet(40);
  const indices = Int32Array.from({ length: 40 }, (_, i) => i);
  const onlyClass2 = Array.from({ length: 10 }, (_, c) => (c === 2 ? 1 : 0));
  const options = { batchSize: 8, seed: 3, epoch: 1, shuffle: true, classWeights: onlyClass2 };
  const batches = [...iterateBatches(set, indices, options)];
  assert.equal(batches.reduce((n, b) => n + b.size, 0), 40);
  assert.ok(batches.every((b) => b.labels.every((l) => l === 2)), "only class 2 is drawn");
  const again = [...iterateBatches(set, indices, options)].flatMap((b) => [...b.indices]);
  assert.deepEqual(batches.flatMap((b) => [...b.indices]), again);
  const next = [...iterateBatches(set, indices, { ...options, epoch: 2 })].flatMap((b) => [
    ...b.indices,
  ]);
  assert.notDeepEqual(next, again, "each epoch draws anew");
});
