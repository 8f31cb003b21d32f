/**
 * A synthetic data set in the CIFAR-10 binary format, for tests, smoke runs and machines without
 * the real data: 10 classes of coloured shapes (each class its own shape and colour) drawn with
 * seeded variation in position, size, colour, background and noise, so a small CNN can learn them.
 * It is never CIFAR-10: its class names are its own (`red-square`, …), its folder carries
 * `SYNTHETIC.txt`, and the loader reports it as `source.synthetic = true`.
 * @module
 */

import { join } from "node:path";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  type Cifar10Data,
  IMAGE_BYTES,
  IMAGE_SIZE,
  type ImageSet,
  META_FILE,
  nhwcToRecords,
  NUM_CLASSES,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "./format.ts";
import { gzip, writeTar } from "./tar.ts";
import { createRng, deriveSeed, type Rng, shuffleInPlace } from "../core/random.ts";

/** The synthetic classes, in label order: a colour and a shape each. */
export const SYNTHETIC_CLASSES: readonly string[] = Object.freeze([
  "red-square",
  "green-circle",
  "blue-triangle",
  "yellow-plus",
  "magenta-ring",
  "cyan-diamond",
  "orange-hbar",
  "white-vbar",
  "purple-x",
  "brown-dots",
]);

/** Base colour of each class's shape (R, G, B). */
const CLASS_COLOURS: readonly (readonly [number, number, number])[] = [
  [220, 40, 40],
  [40, 200, 60],
  [50, 80, 235],
  [235, 220, 40],
  [220, 50, 210],
  [40, 215, 225],
  [245, 140, 30],
  [240, 240, 240],
  [135, 50, 205],
  [150, 95, 45],
];

/** Whether the point (dx, dy) from the centre lies inside the shape of `label` with radius r. */
function insideShape(label: number, dx: number, dy: number, r: number): boolean {
  const ax = Math.abs(dx);
  const ay = Math.abs(dy);
  switch (label) {
    case 0: // square
      return ax <= r * 0.8 && ay <= r * 0.8;
    case 1: // circle
      return dx * dx + dy * dy <= r * r;
    case 2: // triangle, apex up
      return dy >= -r && dy <= r * 0.8 && ax <= (dy + r) * 0.55;
    case 3: // plus
      return (ax <= r * 0.28 && ay <= r) || (ay <= r * 0.28 && ax <= r);
    case 4: { // ring
      const d2 = dx * dx + dy * dy;
      return d2 <= r * r && d2 >= r * r * 0.35;
    }
    case 5: // diamond
      return ax + ay <= r;
    case 6: // horizontal bar
      return ay <= r * 0.3 && ax <= r * 1.2;
    case 7: // vertical bar
      return ax <= r * 0.3 && ay <= r * 1.2;
    case 8: // x
      return Math.abs(ax - ay) <= r * 0.3 && ax <= r && ay <= r;
    default: { // 2×2 dots
      const ex = ax - r * 0.5;
      const ey = ay - r * 0.5;
      return ex * ex + ey * ey <= r * r * 0.1;
    }
  }
}

function clampByte(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : Math.round(value);
}

/** Draws one image of class `label` into `out` at `offset` (NHWC). */
function drawImage(out: Uint8Array, offset: number, label: number, rng: Rng, noise: number): void {
  const base = CLASS_COLOURS[label]!;
  const colour = base.map((c) => c + rng.uniform(-30, 30));
  const background = [rng.uniform(0, 110), rng.uniform(0, 110), rng.uniform(0, 110)];
  const radius = rng.uniform(6, 11);
  const cx = 15.5 + rng.uniform(-6, 6);
  const cy = 15.5 + rng.uniform(-6, 6);
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      const fill = insideShape(label, x - cx, y - cy, radius) ? colour : background;
      const o = offset + (y * IMAGE_SIZE + x) * 3;
      for (let c = 0; c < 3; c++) {
        // Sum of two uniforms: a cheap, roughly bell-shaped noise.
        const n = (rng.next() + rng.next() - 1) * noise;
        out[o + c] = clampByte(fill[c]! + n);
      }
    }
  }
}

/** Options of the synthetic generators. */
export interface SyntheticOptions {
  /** Seed; the same seed gives the same images. @default 42 */
  seed?: number;
  /** Images in each of the five training batch files. @default 1000 */
  imagesPerBatch?: number;
  /** Images in the test batch file. @default 1000 */
  testImages?: number;
  /** Noise amplitude in pixel levels (0 for clean shapes). @default 40 */
  noise?: number;
}

/**
 * Generates `count` synthetic images with balanced classes (counts differ by at most one) in a
 * seeded random order.
 *
 * @param count Number of images.
 * @param options `seed`, `noise`, and `stream` (a label so train and test differ; default "train").
 * @returns The images, NHWC.
 * @throws {RangeError} When `count` is not a non-negative integer.
 * @example
 * ```ts
 * import { generateSyntheticImages } from "./synthetic.ts";
 * const a = generateSyntheticImages(20, { seed: 1 });
 * const b = generateSyntheticImages(20, { seed: 1 });
 * if (a.count !== 20 || a.images.join() !== b.images.join()) throw new Error("not reproducible");
 * ```
 */
export function generateSyntheticImages(
  count: number,
  options: { seed?: number; noise?: number; stream?: string } = {},
): ImageSet {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`Cannot generate synthetic images: expected count ≥ 0, found ${count}`);
  }
  const seed = options.seed ?? 42;
  const noise = options.noise ?? 40;
  const rng = createRng(deriveSeed(seed, "synthetic", options.stream ?? "train"));
  const order = Array.from({ length: count }, (_, i) => i % NUM_CLASSES);
  shuffleInPlace(order, rng);
  const labels = Uint8Array.from(order);
  const images = new Uint8Array(count * IMAGE_BYTES);
  for (let i = 0; i < count; i++) drawImage(images, i * IMAGE_BYTES, labels[i]!, rng, noise);
  return { images, labels, count };
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot generate synthetic data: expected ${name} ≥ 1, found ${value}`);
  }
}

function describe(seed: number, perBatch: number, test: number): string {
  return `Synthetic shapes data set (NOT CIFAR-10), seed ${seed}: 5 × ${perBatch} training and ` +
    `${test} test images of 10 coloured-shape classes`;
}

/**
 * Generates a whole synthetic data set in memory, shaped like a loaded CIFAR-10 (`loadCifar10`
 * with `synthetic` returns this), with `source.synthetic = true`.
 *
 * @param options Seed, sizes and noise.
 * @returns Train and test images, the synthetic class names, and the source.
 * @example
 * ```ts
 * import { generateSyntheticData } from "./synthetic.ts";
 * const data = generateSyntheticData({ imagesPerBatch: 10, testImages: 10 });
 * if (data.train.count !== 50 || data.source.kind !== "synthetic") throw new Error("bad data");
 * ```
 */
export function generateSyntheticData(options: SyntheticOptions = {}): Cifar10Data {
  const seed = options.seed ?? 42;
  const perBatch = options.imagesPerBatch ?? 1000;
  const testCount = options.testImages ?? 1000;
  checkCount("imagesPerBatch", perBatch);
  checkCount("testImages", testCount);
  const train = generateSyntheticImages(5 * perBatch, {
    seed,
    noise: options.noise,
    stream: "train",
  });
  const test = generateSyntheticImages(testCount, { seed, noise: options.noise, stream: "test" });
  return {
    train,
    test,
    classNames: [...SYNTHETIC_CLASSES],
    source: {
      kind: "synthetic",
      path: "(generated in memory)",
      checksum: "unchecked",
      md5: null,
      synthetic: true,
      description: describe(seed, perBatch, testCount),
    },
  };
}

/** What `writeSyntheticDataset` wrote. */
export interface SyntheticFiles {
  /** The `cifar-10-batches-bin/` folder. */
  folder: string;
  /** The `.tar.gz` archive, or null when not asked for. */
  archive: string | null;
}

/**
 * Writes a synthetic data set in the official binary layout: `<dir>/cifar-10-batches-bin/` with
 * `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`, `batches.meta.txt` and the marker
 * `SYNTHETIC.txt`; optionally also a `.tar.gz` of that folder, so the archive path can be tested.
 *
 * @param dir The folder to write into (created if needed).
 * @param options Seed, sizes, noise; `archive: true` to also pack it, named `archiveName`
 *   (default `cifar-10-binary.tar.gz`, so the loader finds it in a data folder).
 * @returns The paths written.
 * @example Write a folder and an archive (writes files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { writeSyntheticDataset } from "./synthetic.ts";
 * const { folder, archive } = await writeSyntheticDataset("/tmp/shapes", { archive: true });
 * // folder: /tmp/shapes/cifar-10-batches-bin, archive: /tmp/shapes/cifar-10-binary.tar.gz
 * ```
 */
export async function writeSyntheticDataset(
  dir: string,
  options: SyntheticOptions & { archive?: boolean; archiveName?: string } = {},
): Promise<SyntheticFiles> {
  const data = generateSyntheticData(options);
  const seed = options.seed ?? 42;
  const perBatch = options.imagesPerBatch ?? 1000;
  const folder = join(dir, BATCHES_FOLDER);
  await Deno.mkdir(folder, { recursive: true });

  // 1. The files, as the official archive lays them out.
  const files = new Map<string, Uint8Array>();
  TRAIN_BATCH_FILES.forEach((name, b) => {
    const first = b * perBatch;
    files.set(
      name,
      nhwcToRecords({
        images: data.train.images.subarray(first * IMAGE_BYTES, (first + perBatch) * IMAGE_BYTES),
        labels: data.train.labels.subarray(first, first + perBatch),
        count: perBatch,
      }),
    );
  });
  files.set(TEST_BATCH_FILE, nhwcToRecords(data.test));
  const encoder = new TextEncoder();
  files.set(META_FILE, encoder.encode(SYNTHETIC_CLASSES.join("\n") + "\n\n"));
  files.set(
    SYNTHETIC_MARKER,
    encoder.encode(
      `${describe(seed, perBatch, data.test.count)}\n\n` +
        `Generated by lib/data/synthetic.ts. Classes: ${SYNTHETIC_CLASSES.join(", ")}.\n` +
        `The loader reports this folder as synthetic; never present it as CIFAR-10.\n`,
    ),
  );
  for (const [name, bytes] of files) await Deno.writeFile(join(folder, name), bytes);

  // 2. Optionally the same folder as a .tar.gz.
  let archive: string | null = null;
  if (options.archive) {
    archive = join(dir, options.archiveName ?? ARCHIVE_NAME);
    const tar = writeTar([
      { name: BATCHES_FOLDER },
      ...[...files].map(([name, bytes]) => ({ name: `${BATCHES_FOLDER}/${name}`, data: bytes })),
    ]);
    await Deno.writeFile(archive, await gzip(tar));
  }
  return { folder, archive };
}
