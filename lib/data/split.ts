/**
 * Subsets, the seeded train/validation split and batches of a loaded image set.
 * @module
 */

import { createRng, deriveSeed, shuffleInPlace } from "../core/random.ts";
import { IMAGE_BYTES, type ImageSet, NUM_CLASSES } from "./format.ts";

/**
 * The first `limit` images of a set, as views (no copy).
 *
 * @param set The images.
 * @param limit How many to keep; null (or a number ≥ count) keeps all.
 * @returns A set sharing memory with `set`.
 * @throws {RangeError} When `limit` is not a non-negative integer.
 * @example
 * ```ts
 * import { subsetImages } from "./split.ts";
 * const set = { images: new Uint8Array(3 * 3072), labels: new Uint8Array([4, 5, 6]), count: 3 };
 * const first2 = subsetImages(set, 2);
 * if (first2.count !== 2 || first2.labels[1] !== 5 || first2.images.length !== 2 * 3072) {
 *   throw new Error("bad subset");
 * }
 * ```
 */
export function subsetImages(set: ImageSet, limit: number | null): ImageSet {
  if (limit === null) return set;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(
      `Cannot take a subset: expected limit ≥ 0 (an integer or null), found ${limit}`,
    );
  }
  const count = Math.min(limit, set.count);
  if (count === set.count) return set;
  return {
    images: set.images.subarray(0, count * IMAGE_BYTES),
    labels: set.labels.subarray(0, count),
    count,
  };
}

/** Index lists of a train/validation split. */
export interface DataSplit {
  /** Indices of training images, ascending. */
  trainIndices: Int32Array;
  /** Indices of validation images, ascending. */
  validIndices: Int32Array;
}

/**
 * Splits `count` images into training and validation indices, like the tutorial: a seeded
 * permutation whose first `floor(count × validFraction)` entries are the validation set. Both lists
 * are returned sorted ascending (order does not matter to a sampler; sorted reads are faster).
 * The same seed gives the same split; the two lists are disjoint and cover 0…count−1.
 *
 * @param count Number of images.
 * @param validFraction Fraction held out, in [0, 1); the validation size is
 *   `floor(count × validFraction)` (with a 1e-9 tolerance so that 0.29 × 100 gives 29).
 * @param seed The config's seed (the permutation uses `deriveSeed(seed, "split")`).
 * @returns The two index lists.
 * @throws {RangeError} On a bad count or fraction.
 * @example
 * ```ts
 * import { splitTrainValid } from "./split.ts";
 * const { trainIndices, validIndices } = splitTrainValid(50000, 0.2, 42);
 * if (trainIndices.length !== 40000 || validIndices.length !== 10000) throw new Error("bad sizes");
 * ```
 */
export function splitTrainValid(count: number, validFraction: number, seed: number): DataSplit {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`Cannot split: expected count to be an integer ≥ 0, found ${count}`);
  }
  if (!(validFraction >= 0 && validFraction < 1)) {
    throw new RangeError(`Cannot split: expected validFraction in [0, 1), found ${validFraction}`);
  }
  const validCount = Math.floor(count * validFraction + 1e-9);
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  shuffleInPlace(order, createRng(deriveSeed(seed, "split")));
  const validIndices = order.slice(0, validCount).sort();
  const trainIndices = order.slice(validCount).sort();
  return { trainIndices, validIndices };
}

/**
 * How many batches `iterateBatches` yields for `images` images: `ceil(images / batchSize)`, the
 * last batch being partial when `batchSize` does not divide `images`.
 *
 * @param images Number of images (an integer ≥ 0).
 * @param batchSize Images per batch (an integer ≥ 1).
 * @returns The number of batches (0 for no images).
 * @throws {RangeError} When `images` or `batchSize` is not an integer in its range.
 * @example
 * ```ts
 * import { batchCount } from "./split.ts";
 * // 40,000 training images in batches of 64: 625 batches; 10,000 in 64s: 156 full + 1 partial.
 * if (batchCount(40000, 64) !== 625 || batchCount(10000, 64) !== 157) throw new Error("bad count");
 * ```
 */
export function batchCount(images: number, batchSize: number): number {
  if (!Number.isInteger(images) || images < 0) {
    throw new RangeError(
      `Cannot count batches: expected images ≥ 0 (an integer), found ${images}`,
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot count batches: expected batchSize ≥ 1 (an integer), found ${batchSize}`,
    );
  }
  return Math.ceil(images / batchSize);
}

/** One batch of images, gathered into fresh arrays. */
export interface Batch {
  /** `size × 3072` bytes, NHWC. */
  images: Uint8Array;
  /** Labels as int32 (what tfjs ops take). */
  labels: Int32Array;
  /** Images in this batch (the last one may be smaller). */
  size: number;
  /** Which images of the set these are. */
  indices: Int32Array;
}

/** Options of `iterateBatches`. */
export interface BatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** The config's seed. */
  seed: number;
  /** Epoch number: each epoch is shuffled differently. */
  epoch: number;
  /** Shuffle with `deriveSeed(seed, "shuffle", epoch)`; false keeps the order of `indices`. */
  shuffle: boolean;
  /**
   * Class-weighted sampling instead of the shuffle (`weightedSample`): one weight per class;
   * null or absent shuffles. @default null
   */
  classWeights?: readonly number[] | null;
}

/**
 * Draws `indices.length` images with replacement, an image of class c with probability
 * proportional to `classWeights[c]`: PyTorch's `WeightedRandomSampler(weights, len, True)` with
 * per-image weights taken from their class. Classes of weight 0 are never drawn.
 *
 * @param labels Each image's class (`set.labels`).
 * @param indices The images to draw from.
 * @param classWeights One weight ≥ 0 per class; not all of the drawn classes 0.
 * @param seed Seeds the draw (`iterateBatches` passes `deriveSeed(seed, "sample", epoch)`).
 * @returns The drawn indices, in drawing order.
 * @throws {RangeError} When no image has a positive weight.
 * @example
 * ```ts
 * import { weightedSample } from "./split.ts";
 * const labels = new Uint8Array([0, 0, 1, 1]);
 * const drawn = weightedSample(labels, new Int32Array([0, 1, 2, 3]), [0, 1], 7);
 * if (drawn.length !== 4 || !drawn.every((i) => i >= 2)) throw new Error([...drawn].join());
 * ```
 */
export function weightedSample(
  labels: ArrayLike<number>,
  indices: Int32Array,
  classWeights: readonly number[],
  seed: number,
): Int32Array {
  const cumulative = new Float64Array(indices.length);
  let total = 0;
  for (let i = 0; i < indices.length; i++) {
    total += classWeights[labels[indices[i]!]!] ?? 0;
    cumulative[i] = total;
  }
  if (!(total > 0)) {
    throw new RangeError(
      `Cannot sample by class weights: expected a weight > 0 for a class among the ${indices.length} images, found weights ${
        JSON.stringify(classWeights)
      }`,
    );
  }
  const rng = createRng(seed);
  const drawn = new Int32Array(indices.length);
  for (let d = 0; d < drawn.length; d++) {
    // The first image whose cumulative weight exceeds the draw (binary search).
    const target = rng.next() * total;
    let lo = 0, hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    drawn[d] = indices[lo]!;
  }
  return drawn;
}

/**
 * Yields batches of the given images, shuffled per epoch (reproducibly from seed and epoch), drawn
 * by class weights (`weightedSample`), or in order. The last, partial batch is kept. Options are checked when called, not at the first batch.
 *
 * @param set The images.
 * @param indices Which images to use (e.g. `split.trainIndices`).
 * @param options Batch size, seed, epoch and whether to shuffle.
 * @returns A generator of batches.
 * @throws {RangeError} On a bad batch size or an index outside the set.
 * @example
 * ```ts
 * import { iterateBatches } from "./split.ts";
 * const set = { images: new Uint8Array(5 * 3072), labels: new Uint8Array([0, 1, 2, 3, 4]), count: 5 };
 * const sizes = [...iterateBatches(set, new Int32Array([0, 1, 2, 3, 4]), {
 *   batchSize: 2, seed: 1, epoch: 0, shuffle: false,
 * })].map((b) => b.size);
 * if (sizes.join() !== "2,2,1") throw new Error(sizes.join());
 * ```
 */
export function iterateBatches(
  set: ImageSet,
  indices: Int32Array,
  options: BatchOptions,
): Generator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot iterate batches: expected batchSize ≥ 1 (an integer), found ${batchSize}`,
    );
  }
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!;
    if (index < 0 || index >= set.count) {
      throw new RangeError(
        `Cannot iterate batches: indices[${i}] is ${index}, expected 0…${set.count - 1}`,
      );
    }
  }
  const weights = options.classWeights ?? null;
  const order = weights !== null
    ? weightedSample(
      set.labels,
      indices,
      weights,
      deriveSeed(options.seed, "sample", options.epoch),
    )
    : Int32Array.from(indices);
  if (options.shuffle && weights === null) {
    shuffleInPlace(order, createRng(deriveSeed(options.seed, "shuffle", options.epoch)));
  }
  return (function* () {
    for (let start = 0; start < order.length; start += batchSize) {
      const batchIndices = order.subarray(start, Math.min(start + batchSize, order.length));
      const size = batchIndices.length;
      const images = new Uint8Array(size * IMAGE_BYTES);
      const labels = new Int32Array(size);
      for (let i = 0; i < size; i++) {
        const index = batchIndices[i]!;
        images.set(
          set.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES),
          i * IMAGE_BYTES,
        );
        labels[i] = set.labels[index]!;
      }
      yield { images, labels, size, indices: batchIndices };
    }
  })();
}

/**
 * Counts images per class.
 *
 * @param labels Class indices (e.g. `set.labels`).
 * @param options `indices` to count only those images; `numClasses` (default 10).
 * @returns Counts per class.
 * @example
 * ```ts
 * import { countLabels } from "./split.ts";
 * const counts = countLabels(new Uint8Array([0, 2, 2, 9]));
 * if (counts.join() !== "1,0,2,0,0,0,0,0,0,1") throw new Error(counts.join());
 * ```
 */
export function countLabels(
  labels: Uint8Array | Int32Array,
  options: { indices?: Int32Array; numClasses?: number } = {},
): number[] {
  const counts = new Array<number>(options.numClasses ?? NUM_CLASSES).fill(0);
  if (options.indices) {
    for (const i of options.indices) counts[labels[i]!]!++;
  } else {
    for (const label of labels) counts[label]!++;
  }
  return counts;
}

/**
 * The pixels of some images of a set, in the order given (CIFAR-10 layout, `IMAGE_BYTES` each):
 * e.g. the images a preview grid shows.
 *
 * @param set The set.
 * @param indices Which of its images.
 * @returns A fresh array of `indices.length × IMAGE_BYTES` bytes.
 * @throws {RangeError} When an index is outside the set.
 * @example
 * ```ts
 * import { IMAGE_BYTES } from "./format.ts";
 * import { gatherImages } from "./split.ts";
 * const images = new Uint8Array(3 * IMAGE_BYTES).map((_, i) => Math.floor(i / IMAGE_BYTES));
 * const picked = gatherImages({ images, labels: new Uint8Array(3), count: 3 }, [2, 0]);
 * if (picked.length !== 2 * IMAGE_BYTES || picked[0] !== 2 || picked[IMAGE_BYTES] !== 0) throw new Error();
 * ```
 */
export function gatherImages(set: ImageSet, indices: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(indices.length * IMAGE_BYTES);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= set.count) {
      throw new RangeError(
        `Cannot gather images: expected indices in [0, ${set.count}), found ${i} at position ${k}`,
      );
    }
    out.set(set.images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), k * IMAGE_BYTES);
  }
  return out;
}
