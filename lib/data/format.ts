/**
 * The CIFAR-10 binary format and its in-memory form: the layout constants, the `ImageSet` and
 * `Cifar10Data` types, and parsing of batch files, class names and whole extracted
 * `cifar-10-batches-bin/` folders. Shared by the loader (`load.ts`), the archive extraction
 * (`archive.ts`) and the synthetic data set (`synthetic.ts`), so the types sit below all three.
 * @module
 */

import { join } from "node:path";
import { statOrNull } from "../core/fs.ts";
import { NUM_CLASSES } from "../core/config.ts";

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
/** Number of classes (defined with the config, whose `classWeights` holds one per class). */
export { NUM_CLASSES };

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
 * Writes one image stored as R, G, B planes (`src[start…start+3072)`) as NHWC pixels at image
 * `index` of `images`. With `words` (a 32-bit view of a 4-byte-aligned `images`, little-endian
 * machines only) it writes 4 pixels (12 bytes) as three 32-bit words, about twice as fast as byte
 * stores: this is the hot path of loading.
 */
function planeImageToNhwc(
  src: Uint8Array,
  start: number,
  images: Uint8Array,
  words: Uint32Array | null,
  index: number,
): void {
  let red = start;
  let green = red + PLANE;
  let blue = green + PLANE;
  if (words !== null) {
    let out = (index * IMAGE_BYTES) >>> 2;
    for (let p = 0; p < PLANE; p += 4, red += 4, green += 4, blue += 4, out += 3) {
      // Pixels p…p+3 as bytes R0 G0 B0 R1 | G1 B1 R2 G2 | B2 R3 G3 B3, lowest byte first.
      words[out] = src[red]! | (src[green]! << 8) | (src[blue]! << 16) | (src[red + 1]! << 24);
      words[out + 1] = src[green + 1]! | (src[blue + 1]! << 8) | (src[red + 2]! << 16) |
        (src[green + 2]! << 24);
      words[out + 2] = src[blue + 2]! | (src[red + 3]! << 8) | (src[green + 3]! << 16) |
        (src[blue + 3]! << 24);
    }
    return;
  }
  let out = index * IMAGE_BYTES;
  for (let p = 0; p < PLANE; p++, out += 3) {
    images[out] = src[red + p]!;
    images[out + 1] = src[green + p]!;
    images[out + 2] = src[blue + p]!;
  }
}

/** The 32-bit view `planeImageToNhwc` writes through, or null where it must write bytes. */
function wordView(images: Uint8Array): Uint32Array | null {
  return LITTLE_ENDIAN && images.byteOffset % 4 === 0
    ? new Uint32Array(images.buffer, images.byteOffset, images.byteLength >>> 2)
    : null;
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
  const words = wordView(images);
  for (let r = 0; r < count; r++) {
    const src = r * RECORD_BYTES;
    const label = records[src]!;
    if (label >= numClasses) return r;
    labels[first + r] = label;
    planeImageToNhwc(records, src + 1, images, words, first + r);
  }
  return -1;
}

/**
 * Converts images stored as R, G, B planes without a label byte (`count × 3072` bytes: the rows of
 * the Python version's `data` array) into NHWC images, from image `first` on. The same loop as
 * `recordsToNhwc`.
 *
 * @param planes The images, each as its red, green and blue planes (`count × 3072` bytes).
 * @param images The output, NHWC.
 * @param first Index of the first image to write. @default 0
 * @returns The number of images converted.
 * @throws {RangeError} When `planes` is not a whole number of images or `images` is too small.
 * @example
 * ```ts
 * import { planesToNhwc } from "./format.ts";
 * const planes = new Uint8Array(3072);
 * planes[2048] = 5; // blue of pixel 0
 * const images = new Uint8Array(3072);
 * if (planesToNhwc(planes, images) !== 1 || images[2] !== 5) throw new Error("bad");
 * ```
 */
export function planesToNhwc(planes: Uint8Array, images: Uint8Array, first = 0): number {
  const count = planes.length / IMAGE_BYTES;
  if (!Number.isInteger(count) || (first + count) * IMAGE_BYTES > images.length) {
    throw new RangeError(
      `Cannot convert image planes: expected a multiple of ${IMAGE_BYTES} bytes fitting ` +
        `${images.length / IMAGE_BYTES} images from image ${first}, found ${planes.length} bytes`,
    );
  }
  const words = wordView(images);
  for (let r = 0; r < count; r++) {
    planeImageToNhwc(planes, r * IMAGE_BYTES, images, words, first + r);
  }
  return count;
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

/**
 * A set of images. `images` holds `count × 32 × 32 × 3` bytes, NHWC (row by row, R, G, B
 * interleaved), converted from the file's CHW planes at load; `labels` holds `count` class indices.
 */
export interface ImageSet {
  /** Pixels, `count × 3072` bytes, NHWC. */
  images: Uint8Array;
  /** Class index (0–9) per image. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
}

/** Where loaded data came from and how far it was verified: for displays and run records. */
export interface DataSource {
  /** Downloaded now, read from an archive, read from an extracted folder, or synthetic. */
  kind: "download" | "archive" | "folder" | "synthetic";
  /** The archive or folder read (or a description for in-memory synthetic data). */
  path: string;
  /** The archive's md5 equals the official one, differs, or no archive was checked. */
  checksum: "official" | "unofficial" | "unchecked";
  /** The archive's md5 (hex), or null when no archive was involved. */
  md5: string | null;
  /** True for generated data: never present it as CIFAR-10. */
  synthetic: boolean;
  /** One line for people, e.g. `CIFAR-10 from archive "…" (official checksum)`. */
  description: string;
  /**
   * Which of the official versions the files are in: the binary one (`cifar-10-batches-bin/`) or
   * the Python one (`cifar-10-batches-py/`, pickles, as torchvision downloads it). Absent in
   * records written before both were read, and for data generated in memory.
   */
  version?: DataVersion;
}

/** The versions of CIFAR-10 the loader reads: `binary` (`*.bin` records) or `python` (pickles). */
export type DataVersion = "binary" | "python";

/** A loaded data set. */
export interface Cifar10Data {
  /** The 50,000 training images (the five training batches, in file order). */
  train: ImageSet;
  /** The 10,000 test images. */
  test: ImageSet;
  /** Class names in label order, from `batches.meta.txt`. */
  classNames: string[];
  /** Provenance. */
  source: DataSource;
  /**
   * The batches folder the images were read from (the folder given, or the extracted copy of an
   * archive); absent for data generated in memory.
   */
  folder?: string;
}

/** What `readCifar10Folder` found. */
export interface FolderContents {
  /** Training images (the five batch files, in order). */
  train: ImageSet;
  /** Test images. */
  test: ImageSet;
  /** Class names from `batches.meta.txt`. */
  classNames: string[];
  /** True when the folder carries the synthetic marker file. */
  synthetic: boolean;
  /** First line of the synthetic marker, or null. */
  syntheticDescription: string | null;
}

/** Options of `readCifar10Folder`. */
export interface ReadFolderOptions {
  /** How to name the folder in errors (e.g. `archive.tar.gz:cifar-10-batches-bin`). @default the path */
  label?: string;
  /**
   * Records each batch file must hold; null accepts any positive number (any multiple of 3,073
   * bytes). @default 10000, or null when the folder carries the synthetic marker
   */
  recordsPerFile?: number | null;
}

/**

 * Parses one batch file's bytes (records of a label byte and R, G, B planes) into NHWC images.
 *
 * @param bytes The file's content.
 * @param options `name` for errors; `records`: the count required, or null for any (a multiple of
 *   3,073 bytes). Default 10,000.
 * @returns The images.
 * @throws {RangeError} On a wrong size or a label outside 0–9 (naming the record).
 * @example
 * ```ts
 * import { parseCifar10Batch, RECORD_BYTES } from "./format.ts";
 * const bytes = new Uint8Array(2 * RECORD_BYTES);
 * bytes[RECORD_BYTES] = 7; // label of record 1
 * bytes[1] = 200; // red of pixel 0 in record 0
 * const set = parseCifar10Batch(bytes, { name: "tiny.bin", records: null });
 * if (set.count !== 2 || set.labels[1] !== 7 || set.images[0] !== 200) throw new Error("bad parse");
 * ```
 */
export function parseCifar10Batch(
  bytes: Uint8Array,
  options: { name?: string; records?: number | null } = {},
): ImageSet {
  const name = options.name ?? "batch";
  const records = options.records === undefined ? RECORDS_PER_BATCH : options.records;
  checkBatchSize(bytes.length, name, records);
  const count = bytes.length / RECORD_BYTES;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  const bad = recordsToNhwc(bytes, { images, labels }, NUM_CLASSES);
  if (bad >= 0) throw badLabel(name, bad, bytes[bad * RECORD_BYTES]!);
  return { images, labels, count };
}

function checkBatchSize(size: number, name: string, records: number | null): void {
  if (records !== null) {
    if (size !== records * RECORD_BYTES) {
      throw new RangeError(
        `Cannot read CIFAR-10 batch "${name}": expected ${
          records * RECORD_BYTES
        } bytes, found ${size}`,
      );
    }
  } else if (size === 0 || size % RECORD_BYTES !== 0) {
    throw new RangeError(
      `Cannot read CIFAR-10 batch "${name}": expected a positive multiple of ${RECORD_BYTES} bytes, ` +
        `found ${size}`,
    );
  }
}

function badLabel(name: string, record: number, label: number): RangeError {
  return new RangeError(
    `Cannot read CIFAR-10 batch "${name}": record ${record} has label ${label}, expected 0–${
      NUM_CLASSES - 1
    }`,
  );
}

/**
 * Parses `batches.meta.txt`: one class name per line; blank lines are ignored.
 *
 * @param text The file's text.
 * @param name How to name the file in errors.
 * @returns The 10 class names.
 * @throws {RangeError} When there are not exactly 10 names.
 * @example
 * ```ts
 * import { CIFAR10_CLASSES, parseClassNames } from "./format.ts";
 * const names = parseClassNames(CIFAR10_CLASSES.join("\n") + "\n\n", "batches.meta.txt");
 * if (names.join() !== CIFAR10_CLASSES.join()) throw new Error("bad names");
 * ```
 */
export function parseClassNames(text: string, name: string = META_FILE): string[] {
  const names = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  if (names.length !== NUM_CLASSES) {
    throw new RangeError(
      `Cannot read class names "${name}": expected ${NUM_CLASSES} names, found ${names.length}`,
    );
  }
  return names;
}

/** What {@link checkBatchesFolder} found in a batches folder of either version. */
export interface BatchesFolderFiles {
  /** Each batch file's size in bytes, from the stat before anything is read. */
  sizes: Map<string, number>;
  /** Whether the folder carries `SYNTHETIC.txt`. */
  synthetic: boolean;
  /** The marker's first line (null without a marker). */
  syntheticDescription: string | null;
}

/**
 * The first step of reading a batches folder of either version: every batch file and the class
 * names present (a missing one named, with what to do), and the synthetic marker read.
 *
 * @param folder The folder.
 * @param label The folder's name in errors.
 * @param batchFiles The batch files it must hold.
 * @param metaFile The class-names file it must hold.
 * @param again What to do about an incomplete folder, e.g. "run `deno task data` again".
 * @returns The batch files' sizes and the marker.
 * @throws {Error} When a file is missing.
 * @example Check a folder (reads files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { checkBatchesFolder, META_FILE, TRAIN_BATCH_FILES } from "./format.ts";
 * const { sizes } = await checkBatchesFolder("data/cifar-10-batches-bin", "data", TRAIN_BATCH_FILES, META_FILE, "…");
 * ```
 */
export async function checkBatchesFolder(
  folder: string,
  label: string,
  batchFiles: readonly string[],
  metaFile: string,
  again: string,
): Promise<BatchesFolderFiles> {
  const sizes = new Map<string, number>();
  const missing: string[] = [];
  for (const file of [...batchFiles, metaFile]) {
    const info = await statOrNull(join(folder, file));
    if (info === null || !info.isFile) missing.push(file);
    else if (file !== metaFile) sizes.set(file, info.size);
  }
  if (missing.length > 0) {
    const what = missing.includes(metaFile) && missing.length === 1
      ? `class names "${metaFile}"`
      : `CIFAR-10 batch "${missing[0]}"`;
    throw new Error(
      `Cannot find ${what} in "${label}" (missing: ${missing.join(", ")}): the folder is ` +
        `incomplete; delete it and ${again}, or pass --data with a complete copy`,
    );
  }
  const markerText = await Deno.readTextFile(join(folder, SYNTHETIC_MARKER)).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  });
  return {
    sizes,
    synthetic: markerText !== null,
    syntheticDescription: markerText === null
      ? null
      : (markerText.split("\n").find((line) => line.trim() !== "")?.trim() ?? "synthetic data set"),
  };
}

/**
 * Reads a batch file whose size was taken a moment ago into the front of a reused buffer (one
 * buffer for every file: a fresh array per file left ~180 MB of garbage until V8 collected it).
 *
 * @param path The file.
 * @param label Its name in errors.
 * @param size Its size at the stat.
 * @param buffer The reused buffer: `{ bytes }`, grown when too short.
 * @returns A view of the file's bytes in the buffer (valid until the next read into it).
 * @throws {RangeError} When the size changed since the stat (a file being replaced).
 */
export async function readSizedFile(
  path: string,
  label: string,
  size: number,
  buffer: { bytes: Uint8Array },
): Promise<Uint8Array> {
  if (buffer.bytes.length < size) buffer.bytes = new Uint8Array(size);
  const bytes = buffer.bytes.subarray(0, size);
  const found = await readFileInto(path, bytes);
  if (found !== size) {
    throw new RangeError(
      `Cannot read CIFAR-10 batch "${label}": expected ${size} bytes (its size a moment ago), ` +
        `found ${found > size ? `more than ${size}` : found}; was it being replaced?`,
    );
  }
  return bytes;
}

/**
 * Reads an extracted `cifar-10-batches-bin/` folder: the five training batches, the test batch
 * and the class names, validating every file. Folders carrying `SYNTHETIC.txt` are synthetic data
 * sets: any record count per file is accepted and the result says `synthetic: true`.
 *
 * @param folder The folder.
 * @param options A label for errors and the required record count.
 * @returns Images, labels, class names and whether the data is synthetic.
 * @throws {Error} When a file is missing (naming it); {RangeError} on a wrong size, a bad label
 *   or a wrong class count.
 * @example Read an extracted folder (reads files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { readCifar10Folder } from "./format.ts";
 * const { train, test, classNames } = await readCifar10Folder("data/cifar-10-batches-bin");
 * // train.count 50000, test.count 10000, classNames[0] "airplane"
 * ```
 */
export async function readCifar10Folder(
  folder: string,
  options: ReadFolderOptions = {},
): Promise<FolderContents> {
  const label = options.label ?? folder;
  const batchFiles = [...TRAIN_BATCH_FILES, TEST_BATCH_FILE];

  // 1. Every file present, with a plausible size, before reading anything big.
  const { sizes, synthetic, syntheticDescription } = await checkBatchesFolder(
    folder,
    label,
    batchFiles,
    META_FILE,
    "run `deno task data` again",
  );
  const records = options.recordsPerFile !== undefined
    ? options.recordsPerFile
    : (synthetic ? null : RECORDS_PER_BATCH);
  for (const file of batchFiles) checkBatchSize(sizes.get(file)!, `${label}/${file}`, records);
  const classNames = parseClassNames(
    await Deno.readTextFile(join(folder, META_FILE)),
    `${label}/${META_FILE}`,
  );

  // 2. Read and convert each file straight into the combined arrays.
  const buffer = { bytes: new Uint8Array(0) };
  const readSet = async (files: readonly string[]): Promise<ImageSet> => {
    const count = files.reduce((n, f) => n + sizes.get(f)! / RECORD_BYTES, 0);
    const images = new Uint8Array(count * IMAGE_BYTES);
    const labels = new Uint8Array(count);
    let first = 0;
    for (const file of files) {
      const path = `${label}/${file}`;
      const bytes = await readSizedFile(join(folder, file), path, sizes.get(file)!, buffer);
      const n = bytes.length / RECORD_BYTES;
      const bad = recordsToNhwc(bytes, { images, labels, first }, NUM_CLASSES);
      if (bad >= 0) throw badLabel(path, bad, bytes[bad * RECORD_BYTES]!);
      first += n;
    }
    return { images, labels, count };
  };
  const train = await readSet(TRAIN_BATCH_FILES);
  const test = await readSet([TEST_BATCH_FILE]);
  return { train, test, classNames, synthetic, syntheticDescription };
}

/**
 * Reads a file into `into` (a reused buffer saves the garbage of one fresh array per batch file).
 *
 * @param path The file.
 * @param into Where its bytes go; as long as the file is expected to be.
 * @returns The file's size when it fits (the bytes read), or a larger number when the file holds
 *   more than `into.length` bytes.
 * @example Read a file of known size (reads a file, so not run by `deno test --doc`)
 * ```ts ignore
 * import { readFileInto } from "./format.ts";
 * const buffer = new Uint8Array(30730000);
 * const found = await readFileInto("data/cifar-10-batches-bin/test_batch.bin", buffer);
 * if (found !== buffer.length) throw new Error(`found ${found} bytes`);
 * ```
 */
export async function readFileInto(path: string, into: Uint8Array): Promise<number> {
  using file = await Deno.open(path, { read: true });
  let filled = 0;
  while (filled < into.length) {
    const n = await file.read(into.subarray(filled));
    if (n === null) return filled;
    filled += n;
  }
  // Anything beyond means the file grew.
  const extra = await file.read(new Uint8Array(1));
  return extra === null ? filled : filled + extra;
}
