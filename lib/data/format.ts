/**
 * The CIFAR-10 binary record format, shared by the loader (`data.ts`) and the synthetic data set
 * writer (`synthetic.ts`). Internal: import the public names from `data.ts`.
 * @module
 */

/** The 10 CIFAR-10 class names, in label order (label 0 is "airplane"). */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);
/** Width and height of every image, in pixels. */
export const IMAGE_SIZE = 32;
/** Colour channels per pixel (R, G, B). */
export const CHANNELS = 3;
/** Bytes of one image: 32 × 32 × 3. */
export const IMAGE_BYTES = 3072;
/** Bytes of one record in a batch file: one label byte, then the image as R, G, B planes. */
export const RECORD_BYTES = 3073;
/** Records in each file of the official data set. */
export const RECORDS_PER_BATCH = 10000;
/** Size of each batch file of the official data set: 10,000 × 3,073. */
export const BATCH_FILE_BYTES = 30730000;
/** The five training batch files, in order. */
export const TRAIN_BATCH_FILES: readonly string[] = Object.freeze([
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
]);
/** The test batch file. */
export const TEST_BATCH_FILE = "test_batch.bin";
/** The file with one class name per line. */
export const META_FILE = "batches.meta.txt";
/** The folder the official archive unpacks to. */
export const BATCHES_FOLDER = "cifar-10-batches-bin";
/** The official archive's file name. */
export const ARCHIVE_NAME = "cifar-10-binary.tar.gz";
/** A file whose presence marks a folder as a synthetic data set (never CIFAR-10). */
export const SYNTHETIC_MARKER = "SYNTHETIC.txt";
/** Number of classes. */
export const NUM_CLASSES = 10;

const PLANE = IMAGE_SIZE * IMAGE_SIZE;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Where `recordsToNhwc` writes: NHWC images and labels, from image `first` on. */
export interface NhwcTarget {
  /** Output pixels, NHWC. */
  images: Uint8Array;
  /** Output labels. */
  labels: Uint8Array;
  /** Index of the first image to write. @default 0 */
  first?: number;
}

/**
 * Converts records (label byte + R, G, B planes) into NHWC images and labels. A tight loop over
 * typed arrays: this is the hot path of loading. On little-endian machines with a 4-byte-aligned
 * output it writes 4 pixels (12 bytes) as three 32-bit words, about twice as fast as byte stores.
 *
 * @param records Whole records (`count × 3073` bytes).
 * @param target The output arrays and the first image to write.
 * @param numClasses Labels must be below this.
 * @returns The index of the first record whose label is ≥ `numClasses`, or -1 when all are valid
 *   (records before a bad one are converted, records after it are not).
 * @example
 * ```ts
 * import { recordsToNhwc } from "./format.ts";
 * const records = new Uint8Array(3073);
 * records[0] = 4; // label
 * records[1 + 1024] = 9; // green of pixel 0
 * const target = { images: new Uint8Array(3072), labels: new Uint8Array(1) };
 * if (recordsToNhwc(records, target, 10) !== -1 || target.images[1] !== 9) throw new Error("bad");
 * ```
 */
export function recordsToNhwc(
  records: Uint8Array,
  target: NhwcTarget,
  numClasses: number,
): number {
  const { images, labels } = target;
  const first = target.first ?? 0;
  const count = Math.floor(records.length / RECORD_BYTES);
  if (LITTLE_ENDIAN && images.byteOffset % 4 === 0) {
    const words = new Uint32Array(images.buffer, images.byteOffset, images.byteLength >>> 2);
    for (let r = 0; r < count; r++) {
      const src = r * RECORD_BYTES;
      const label = records[src]!;
      if (label >= numClasses) return r;
      labels[first + r] = label;
      let red = src + 1;
      let green = red + PLANE;
      let blue = green + PLANE;
      let out = ((first + r) * IMAGE_BYTES) >>> 2;
      for (let p = 0; p < PLANE; p += 4, red += 4, green += 4, blue += 4, out += 3) {
        // Pixels p…p+3 as bytes R0 G0 B0 R1 | G1 B1 R2 G2 | B2 R3 G3 B3, lowest byte first.
        words[out] = records[red]! | (records[green]! << 8) | (records[blue]! << 16) |
          (records[red + 1]! << 24);
        words[out + 1] = records[green + 1]! | (records[blue + 1]! << 8) |
          (records[red + 2]! << 16) | (records[green + 2]! << 24);
        words[out + 2] = records[blue + 2]! | (records[red + 3]! << 8) |
          (records[green + 3]! << 16) | (records[blue + 3]! << 24);
      }
    }
    return -1;
  }
  for (let r = 0; r < count; r++) {
    const src = r * RECORD_BYTES;
    const label = records[src]!;
    if (label >= numClasses) return r;
    labels[first + r] = label;
    const red = src + 1;
    const green = red + PLANE;
    const blue = green + PLANE;
    let out = (first + r) * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++, out += 3) {
      images[out] = records[red + p]!;
      images[out + 1] = records[green + p]!;
      images[out + 2] = records[blue + p]!;
    }
  }
  return -1;
}

/**
 * Converts NHWC images and labels into the file's record layout (label byte + R, G, B planes).
 *
 * @param set The images (`count × 3072` bytes, NHWC), their labels and their count.
 * @returns `count × 3073` bytes.
 * @example
 * ```ts
 * import { nhwcToRecords } from "./format.ts";
 * const images = new Uint8Array(3072);
 * images[2] = 7; // blue of pixel 0
 * const records = nhwcToRecords({ images, labels: [3], count: 1 });
 * if (records[0] !== 3 || records[1 + 2048] !== 7) throw new Error("bad");
 * ```
 */
export function nhwcToRecords(
  set: { images: Uint8Array; labels: ArrayLike<number>; count: number },
): Uint8Array {
  const { images, labels, count } = set;
  const records = new Uint8Array(count * RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const dst = r * RECORD_BYTES;
    records[dst] = labels[r]!;
    const red = dst + 1;
    const green = red + PLANE;
    const blue = green + PLANE;
    let src = r * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++, src += 3) {
      records[red + p] = images[src]!;
      records[green + p] = images[src + 1]!;
      records[blue + p] = images[src + 2]!;
    }
  }
  return records;
}
