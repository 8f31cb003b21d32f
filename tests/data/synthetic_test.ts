import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { join } from "node:path";
import {
  generateSyntheticData,
  generateSyntheticImages,
  SYNTHETIC_CLASSES,
  writeSyntheticDataset,
} from "../../lib/data/synthetic.ts";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  CIFAR10_CLASSES,
  IMAGE_BYTES,
  type ImageSet,
  RECORD_BYTES,
  SYNTHETIC_MARKER,
} from "../../lib/data/format.ts";
import { countLabels } from "../../lib/data/split.ts";
import { loadCifar10 } from "../../lib/data/load.ts";

Deno.test("SYNTHETIC_CLASSES are 10 names of their own, none a CIFAR-10 class", () => {
  assert.equal(SYNTHETIC_CLASSES.length, 10);
  assert.equal(new Set(SYNTHETIC_CLASSES).size, 10);
  for (const name of SYNTHETIC_CLASSES) assert.equal(CIFAR10_CLASSES.includes(name), false);
});

Deno.test("generateSyntheticImages() is reproducible per seed and balanced", () => {
  const a = generateSyntheticImages(95, { seed: 3 });
  const b = generateSyntheticImages(95, { seed: 3 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(generateSyntheticImages(95, { seed: 4 }).images, a.images);
  assert.notDeepEqual(generateSyntheticImages(95, { seed: 3, stream: "test" }).images, a.images);
  assert.equal(a.images.length, 95 * IMAGE_BYTES);
  assert.deepEqual(countLabels(a.labels), [10, 10, 10, 10, 10, 9, 9, 9, 9, 9]);
  assert.throws(() => generateSyntheticImages(-1), {
    name: "RangeError",
    message: "Cannot generate synthetic images: expected count ≥ 0, found -1",
  });
});

/** Crude features (a 4×4 grid of mean colours, the most saturated pixel): do classes separate? */
function features(set: ImageSet, i: number): number[] {
  // A 4×4 grid of mean colours: enough to tell colour and rough shape apart.
  const f = new Array<number>(4 * 4 * 3).fill(0);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      for (let c = 0; c < 3; c++) {
        f[((y >> 3) * 4 + (x >> 3)) * 3 + c]! += set
          .images[i * IMAGE_BYTES + (y * 32 + x) * 3 + c]!;
      }
    }
  }
  // Plus the colour of the most saturated pixels (the shape, wherever it is).
  let best = [0, 0, 0];
  let bestSpread = -1;
  for (let p = 0; p < 1024; p++) {
    const o = i * IMAGE_BYTES + p * 3;
    const rgb = [set.images[o]!, set.images[o + 1]!, set.images[o + 2]!];
    const spread = Math.max(...rgb) + Math.min(...rgb) / 2;
    if (spread > bestSpread) [best, bestSpread] = [rgb, spread];
  }
  return [...f.map((v) => v / 64 / 4), ...best.map((v) => v * 4)];
}

Deno.test("generateSyntheticData() classes are separable by a nearest-centroid classifier", () => {
  const data = generateSyntheticData({ seed: 5, imagesPerBatch: 60, testImages: 200 });
  const dims = features(data.train, 0).length;
  const sums = Array.from({ length: 10 }, () => new Array<number>(dims).fill(0));
  const counts = countLabels(data.train.labels);
  for (let i = 0; i < data.train.count; i++) {
    features(data.train, i).forEach((v, d) => (sums[data.train.labels[i]!]![d]! += v));
  }
  const centroids = sums.map((s, c) => s.map((v) => v / counts[c]!));
  let correct = 0;
  for (let i = 0; i < data.test.count; i++) {
    const f = features(data.test, i);
    const distances = centroids.map((m) => m.reduce((a, v, d) => a + (v - f[d]!) ** 2, 0));
    if (distances.indexOf(Math.min(...distances)) === data.test.labels[i]) correct++;
  }
  // Chance is 10%; a CNN does far better than this crude classifier.
  assert.ok(
    correct / data.test.count > 0.8,
    `nearest-centroid accuracy ${correct / data.test.count}`,
  );
});

Deno.test("generateSyntheticData() says it is synthetic", () => {
  const data = generateSyntheticData({ seed: 9, imagesPerBatch: 10, testImages: 20 });
  assert.equal(data.train.count, 50);
  assert.equal(data.test.count, 20);
  assert.deepEqual(data.classNames, [...SYNTHETIC_CLASSES]);
  assert.deepEqual(data.source, {
    kind: "synthetic",
    path: "(generated in memory)",
    checksum: "unchecked",
    md5: null,
    synthetic: true,
    description: "Synthetic shapes data set (NOT CIFAR-10), seed 9: 5 × 10 training and 20 test " +
      "images of 10 coloured-shape classes",
  });
  assert.throws(() => generateSyntheticData({ imagesPerBatch: 0 }), {
    name: "RangeError",
    message: "Cannot generate synthetic data: expected imagesPerBatch ≥ 1, found 0",
  });
});

Deno.test("loadCifar10({ synthetic }) returns the generated set", async () => {
  const data = await loadCifar10({ synthetic: { seed: 2, imagesPerBatch: 10, testImages: 10 } });
  assert.deepEqual(data, generateSyntheticData({ seed: 2, imagesPerBatch: 10, testImages: 10 }));
});

Deno.test("writeSyntheticDataset() writes the official layout, which loads back exactly", async () => {
  await withTempDir(async (dir) => {
    const options = { seed: 4, imagesPerBatch: 12, testImages: 7 };
    const written = await writeSyntheticDataset(dir, { ...options, archive: true });
    assert.equal(written.folder, join(dir, BATCHES_FOLDER));
    assert.equal(written.archive, join(dir, ARCHIVE_NAME));
    const files = [...Deno.readDirSync(written.folder)].map((e) => e.name).sort();
    assert.deepEqual(files, [
      SYNTHETIC_MARKER,
      "batches.meta.txt",
      "data_batch_1.bin",
      "data_batch_2.bin",
      "data_batch_3.bin",
      "data_batch_4.bin",
      "data_batch_5.bin",
      "test_batch.bin",
    ]);
    assert.equal(
      (await Deno.stat(join(written.folder, "data_batch_3.bin"))).size,
      12 * RECORD_BYTES,
    );
    assert.equal((await Deno.stat(join(written.folder, "test_batch.bin"))).size, 7 * RECORD_BYTES);
    assert.match(await Deno.readTextFile(join(written.folder, SYNTHETIC_MARKER)), /NOT CIFAR-10/);

    const expected = generateSyntheticData(options);
    const fromFolder = await loadCifar10({ dataPath: written.folder, dataDir: join(dir, "d1") });
    assert.deepEqual(fromFolder.train, expected.train);
    assert.deepEqual(fromFolder.test, expected.test);
    assert.deepEqual(fromFolder.classNames, [...SYNTHETIC_CLASSES]);
    assert.equal(fromFolder.source.synthetic, true);
    assert.match(fromFolder.source.description, /synthetic/i);

    // The archive goes through the tar reader and extraction.
    const fromArchive = await loadCifar10({ dataPath: written.archive!, dataDir: join(dir, "d2") });
    assert.deepEqual(fromArchive.train, expected.train);
    assert.equal(fromArchive.source.kind, "synthetic");
    assert.equal(fromArchive.source.synthetic, true);
  });
});
