/**
 * The Python version of CIFAR-10, the one torchvision downloads (`datasets.CIFAR10(root="data",
 * download=True)` leaves `data/cifar-10-python.tar.gz` and `data/cifar-10-batches-py/`): its layout
 * constants, and parsing of its batch files and of whole `cifar-10-batches-py/` folders into the
 * same `FolderContents` as the binary version's. The pickles are read by `pickle.ts`, which runs
 * nothing.
 *
 * Each batch file is a Python 2 pickle of a dict: `data`, a uint8 numpy array of 10,000 × 3,072
 * (each row an image as its R, G and B planes, as in the binary version's records without the
 * label byte), `labels`, a list of 10,000 ints 0–9, plus `batch_label` and `filenames`.
 * `batches.meta` holds `label_names`, the 10 class names.
 * @module
 */

import { join } from "node:path";
import {
  checkBatchesFolder,
  type FolderContents,
  IMAGE_BYTES,
  type ImageSet,
  NUM_CLASSES,
  planesToNhwc,
  type ReadFolderOptions,
  readSizedFile,
  RECORDS_PER_BATCH,
} from "./format.ts";
import {
  describePickleValue,
  PickleArray,
  PickleBytes,
  PickleDict,
  PickleList,
  readPickle,
} from "./pickle.ts";

/** The folder the Python version's archive unpacks to. */
export const PYTHON_BATCHES_FOLDER = "cifar-10-batches-py";
/** The Python version's archive's file name. */
export const PYTHON_ARCHIVE_NAME = "cifar-10-python.tar.gz";
/** The Python version's five training batch files (no extension), in order. */
export const PYTHON_TRAIN_BATCH_FILES: readonly string[] = Object.freeze([
  "data_batch_1",
  "data_batch_2",
  "data_batch_3",
  "data_batch_4",
  "data_batch_5",
]);
/** The Python version's test batch file. */
export const PYTHON_TEST_BATCH_FILE = "test_batch";
/** The Python version's file holding the class names (`label_names`). */
export const PYTHON_META_FILE = "batches.meta";

/** One decoded batch: its images as planes (a view into the file's bytes) and its labels. */
interface PythonBatch {
  planes: Uint8Array;
  labels: Uint8Array;
  count: number;
}

function decodeBatch(bytes: Uint8Array, name: string, records: number | null): PythonBatch {
  const value = readPickle(bytes, name);
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot read CIFAR-10 batch "${name}": ${why}`);
  };
  if (!(value instanceof PickleDict)) {
    return fail(`expected a dict with "data" and "labels", found a ${describePickleValue(value)}`);
  }
  const data = value.entries.get("data");
  const labels = value.entries.get("labels");
  if (data === undefined || labels === undefined) {
    const keys = [...value.entries.keys()].map((k) => JSON.stringify(k)).join(", ");
    fail(`expected the keys "data" and "labels", found ${keys || "none"}`);
  }

  // 1. data: a C-order uint8 array of N × 3072 (the dtype was checked when it was read).
  if (!(data instanceof PickleArray) || !data.built) {
    return fail(`expected "data" to be a numpy array, found a ${describePickleValue(data!)}`);
  }
  const [count, width] = data.shape;
  if (data.shape.length !== 2 || width !== IMAGE_BYTES || count === undefined || count < 1) {
    fail(`expected "data" of shape (N, ${IMAGE_BYTES}), found (${data.shape.join(", ")})`);
  }
  if (data.fortran) {
    fail(`expected "data" in C (row-major) order, found Fortran order`);
  }
  if (records !== null && count !== records) {
    throw new RangeError(
      `Cannot read CIFAR-10 batch "${name}": expected ${records} images (data of shape ` +
        `(${records}, ${IMAGE_BYTES})), found ${count}`,
    );
  }

  // 2. labels: a list of N ints 0–9.
  if (!(labels instanceof PickleList)) {
    return fail(`expected "labels" to be a list, found a ${describePickleValue(labels!)}`);
  }
  if (labels.items.length !== count) {
    throw new RangeError(
      `Cannot read CIFAR-10 batch "${name}": expected ${count} labels (one per image), found ` +
        `${labels.items.length}`,
    );
  }
  const out = new Uint8Array(count!);
  labels.items.forEach((label, i) => {
    if (typeof label !== "number" || label < 0 || label >= NUM_CLASSES) {
      throw new RangeError(
        `Cannot read CIFAR-10 batch "${name}": image ${i} has label ${
          typeof label === "number" ? label : describePickleValue(label)
        }, expected 0–${NUM_CLASSES - 1}`,
      );
    }
    out[i] = label;
  });
  return { planes: data.data, labels: out, count: count! };
}

/**
 * Parses one batch file of the Python version (a pickle) into NHWC images.
 *
 * @param bytes The file's content.
 * @param options `name` for errors; `records`: the image count required, or null for any. Default
 *   10,000.
 * @returns The images.
 * @throws {SyntaxError} When the pickle is outside the format (see `readPickle`) or is not a dict
 *   with a uint8 `data` array of N × 3072 in C order and a `labels` list; {RangeError} on a wrong
 *   count or a label outside 0–9.
 * @example Parse a batch file (reads a file, so not run by `deno test --doc`)
 * ```ts ignore
 * import { parseCifar10PythonBatch } from "./python_format.ts";
 * const bytes = await Deno.readFile("data/cifar-10-batches-py/test_batch");
 * const set = parseCifar10PythonBatch(bytes, { name: "test_batch" });
 * // set.count 10000, set.images.length 30720000
 * ```
 */
export function parseCifar10PythonBatch(
  bytes: Uint8Array,
  options: { name?: string; records?: number | null } = {},
): ImageSet {
  const records = options.records === undefined ? RECORDS_PER_BATCH : options.records;
  const batch = decodeBatch(bytes, options.name ?? "batch", records);
  const images = new Uint8Array(batch.count * IMAGE_BYTES);
  planesToNhwc(batch.planes, images);
  return { images, labels: batch.labels, count: batch.count };
}

/**
 * Parses the Python version's `batches.meta`: a pickled dict whose `label_names` lists the 10
 * class names.
 *
 * @param bytes The file's content.
 * @param name How to name the file in errors.
 * @returns The 10 class names.
 * @throws {SyntaxError} When the pickle is outside the format or has no `label_names` list of
 *   strings; {RangeError} when there are not exactly 10 names.
 * @example Parse the class names (reads a file, so not run by `deno test --doc`)
 * ```ts ignore
 * import { parseCifar10PythonMeta } from "./python_format.ts";
 * const names = parseCifar10PythonMeta(await Deno.readFile("data/cifar-10-batches-py/batches.meta"));
 * // names[0] "airplane"
 * ```
 */
export function parseCifar10PythonMeta(
  bytes: Uint8Array,
  name: string = PYTHON_META_FILE,
): string[] {
  const value = readPickle(bytes, name);
  const names = value instanceof PickleDict ? value.entries.get("label_names") : undefined;
  if (!(names instanceof PickleList)) {
    throw new SyntaxError(
      `Cannot read class names "${name}": expected a dict with a "label_names" list, found ${
        value instanceof PickleDict
          ? `the keys ${[...value.entries.keys()].map((k) => JSON.stringify(k)).join(", ")}`
          : `a ${describePickleValue(value)}`
      }`,
    );
  }
  const texts = names.items.map((item, i) => {
    const text = typeof item === "string" ? item : item instanceof PickleBytes ? item.text() : null;
    if (text === null || text.trim() === "") {
      throw new SyntaxError(
        `Cannot read class names "${name}": label_names[${i}] is a ${
          describePickleValue(item)
        }, expected a non-empty str`,
      );
    }
    return text.trim();
  });
  if (texts.length !== NUM_CLASSES) {
    throw new RangeError(
      `Cannot read class names "${name}": expected ${NUM_CLASSES} names, found ${texts.length}`,
    );
  }
  return texts;
}

/**
 * Reads an extracted `cifar-10-batches-py/` folder: the five training batches, the test batch and
 * the class names, validating every file. Like `readCifar10Folder`, a folder carrying
 * `SYNTHETIC.txt` is a synthetic data set: any image count per file is accepted and the result
 * says `synthetic: true`.
 *
 * @param folder The folder.
 * @param options A label for errors and the required image count per file.
 * @returns Images, labels, class names and whether the data is synthetic.
 * @throws {Error} When a file is missing (naming it); what `parseCifar10PythonBatch` and
 *   `parseCifar10PythonMeta` throw for a file outside the format.
 * @example Read an extracted folder (reads files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { readCifar10PythonFolder } from "./python_format.ts";
 * const { train, test, classNames } = await readCifar10PythonFolder("data/cifar-10-batches-py");
 * // train.count 50000, test.count 10000, classNames[0] "airplane"
 * ```
 */
export async function readCifar10PythonFolder(
  folder: string,
  options: ReadFolderOptions = {},
): Promise<FolderContents> {
  const label = options.label ?? folder;
  const batchFiles = [...PYTHON_TRAIN_BATCH_FILES, PYTHON_TEST_BATCH_FILE];

  // 1. Every file present before reading anything big.
  const { sizes, synthetic, syntheticDescription } = await checkBatchesFolder(
    folder,
    label,
    batchFiles,
    PYTHON_META_FILE,
    "extract cifar-10-python.tar.gz again",
  );
  const records = options.recordsPerFile !== undefined
    ? options.recordsPerFile
    : (synthetic ? null : RECORDS_PER_BATCH);
  const classNames = parseCifar10PythonMeta(
    await Deno.readFile(join(folder, PYTHON_META_FILE)),
    `${label}/${PYTHON_META_FILE}`,
  );

  // 2. Decode each file in one reused buffer, converting its images straight into the combined
  // arrays when the count per file is known (as for the binary version), else into parts.
  const buffer = { bytes: new Uint8Array(0) };
  const readSet = async (files: readonly string[]): Promise<ImageSet> => {
    const known = records === null ? null : records * files.length;
    const parts: ImageSet[] = [];
    let images = new Uint8Array(known === null ? 0 : known * IMAGE_BYTES);
    let labels = new Uint8Array(known ?? 0);
    let first = 0;
    for (const file of files) {
      const path = `${label}/${file}`;
      const bytes = await readSizedFile(join(folder, file), path, sizes.get(file)!, buffer);
      const batch = decodeBatch(bytes, path, records);
      // The planes are a view into the reused buffer: convert before the next file is read.
      if (known !== null) {
        planesToNhwc(batch.planes, images, first);
        labels.set(batch.labels, first);
        first += batch.count;
      } else {
        const part = new Uint8Array(batch.count * IMAGE_BYTES);
        planesToNhwc(batch.planes, part);
        parts.push({ images: part, labels: batch.labels, count: batch.count });
      }
    }
    if (known !== null) return { images, labels, count: known };
    const count = parts.reduce((n, p) => n + p.count, 0);
    images = new Uint8Array(count * IMAGE_BYTES);
    labels = new Uint8Array(count);
    for (const part of parts) {
      images.set(part.images, first * IMAGE_BYTES);
      labels.set(part.labels, first);
      first += part.count;
    }
    return { images, labels, count };
  };
  const train = await readSet(PYTHON_TRAIN_BATCH_FILES);
  const test = await readSet([PYTHON_TEST_BATCH_FILE]);
  return { train, test, classNames, synthetic, syntheticDescription };
}
