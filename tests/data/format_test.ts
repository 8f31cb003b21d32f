import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../_util.ts";
import {
  CHANNELS,
  CIFAR10_CLASSES,
  IMAGE_BYTES,
  IMAGE_SIZE,
  parseCifar10Batch,
  parseClassNames,
  readCifar10Folder,
  RECORD_BYTES,
  recordsToNhwc,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "../../lib/data/format.ts";
import { CIFAR10_MD5 } from "../../lib/data/archive.ts";
import { makeTinyFolder, naiveNhwc, randomRecords, TINY } from "./_fixtures.ts";

// ---------------------------------------------------------------------------------------------
// Constants and parsing.

Deno.test("CIFAR10_CLASSES lists the 10 classes in label order", () => {
  assert.deepEqual([...CIFAR10_CLASSES], [
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
  assert.deepEqual([IMAGE_SIZE, CHANNELS, IMAGE_BYTES, RECORD_BYTES], [32, 3, 3072, 3073]);
  assert.equal(CIFAR10_MD5, "c32a1d4ab5d03f1284b67883e8d87530");
});

Deno.test("parseCifar10Batch() converts CHW planes to NHWC", () => {
  const bytes = new Uint8Array(2 * RECORD_BYTES);
  bytes[0] = 3;
  bytes[RECORD_BYTES] = 9;
  // Record 1, pixel (y=1, x=2): red 11, green 22, blue 33.
  const pixel = 1 * 32 + 2;
  bytes[RECORD_BYTES + 1 + pixel] = 11;
  bytes[RECORD_BYTES + 1 + 1024 + pixel] = 22;
  bytes[RECORD_BYTES + 1 + 2048 + pixel] = 33;
  const set = parseCifar10Batch(bytes, { records: 2 });
  assert.equal(set.count, 2);
  assert.deepEqual([...set.labels], [3, 9]);
  const at = IMAGE_BYTES + pixel * 3;
  assert.deepEqual([...set.images.subarray(at, at + 3)], [11, 22, 33]);
  assert.equal(set.images.reduce((a, b) => a + b, 0), 66);
});

Deno.test("recordsToNhwc() matches a naive conversion on both of its paths", () => {
  const count = 7;
  const records = randomRecords(count, 5);
  const expected = naiveNhwc(records, count);
  // Aligned output: the 32-bit word path.
  const aligned = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  assert.equal(recordsToNhwc(records, { images: aligned, labels }, 10), -1);
  assert.deepEqual(aligned, expected.images);
  assert.deepEqual(labels, expected.labels);
  // Output starting at an odd byte offset: the byte path.
  const misaligned = new Uint8Array(count * IMAGE_BYTES + 1).subarray(1);
  assert.equal(
    recordsToNhwc(records, { images: misaligned, labels: new Uint8Array(count) }, 10),
    -1,
  );
  assert.deepEqual(misaligned, expected.images);
  // Writing at an offset leaves earlier images alone.
  const offset = new Uint8Array((count + 2) * IMAGE_BYTES);
  const offsetLabels = new Uint8Array(count + 2);
  recordsToNhwc(records, { images: offset, labels: offsetLabels, first: 2 }, 10);
  assert.deepEqual(offset.subarray(2 * IMAGE_BYTES), expected.images);
  assert.equal(offset.subarray(0, 2 * IMAGE_BYTES).every((b) => b === 0), true);
});

Deno.test("parseCifar10Batch() rejects a wrong size", () => {
  assert.throws(
    () => parseCifar10Batch(new Uint8Array(1048576), { name: "data_batch_3.bin" }),
    {
      name: "RangeError",
      message:
        'Cannot read CIFAR-10 batch "data_batch_3.bin": expected 30730000 bytes, found 1048576',
    },
  );
  assert.throws(
    () => parseCifar10Batch(new Uint8Array(RECORD_BYTES + 5), { name: "x.bin", records: null }),
    {
      name: "RangeError",
      message: 'Cannot read CIFAR-10 batch "x.bin": expected a positive multiple of 3073 bytes, ' +
        "found 3078",
    },
  );
  assert.throws(() => parseCifar10Batch(new Uint8Array(0), { name: "x.bin", records: null }), {
    name: "RangeError",
    message:
      'Cannot read CIFAR-10 batch "x.bin": expected a positive multiple of 3073 bytes, found 0',
  });
});

Deno.test("parseCifar10Batch() rejects a label outside 0–9, naming the record", () => {
  const bytes = randomRecords(5, 2);
  bytes[3 * RECORD_BYTES] = 10;
  assert.throws(() => parseCifar10Batch(bytes, { name: "test_batch.bin", records: 5 }), {
    name: "RangeError",
    message: 'Cannot read CIFAR-10 batch "test_batch.bin": record 3 has label 10, expected 0–9',
  });
});

Deno.test("parseClassNames() reads one name per line and rejects a wrong count", () => {
  assert.deepEqual(
    parseClassNames(CIFAR10_CLASSES.join("\r\n") + "\r\n\r\n"),
    [...CIFAR10_CLASSES],
  );
  assert.throws(
    () => parseClassNames(CIFAR10_CLASSES.slice(0, 9).join("\n"), "m/batches.meta.txt"),
    {
      name: "RangeError",
      message: 'Cannot read class names "m/batches.meta.txt": expected 10 names, found 9',
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Folders.

Deno.test("readCifar10Folder() reads all batches in file order", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    const contents = await readCifar10Folder(folder, { recordsPerFile: TINY });
    assert.equal(contents.train.count, 5 * TINY);
    assert.equal(contents.test.count, TINY);
    assert.equal(contents.synthetic, false);
    assert.deepEqual(contents.classNames, [...CIFAR10_CLASSES]);
    // Each file's records land in order: compare with a direct parse of every file.
    for (const [b, file] of TRAIN_BATCH_FILES.entries()) {
      const one = parseCifar10Batch(await Deno.readFile(join(folder, file)), { records: TINY });
      assert.deepEqual(
        contents.train.images.subarray(b * TINY * IMAGE_BYTES, (b + 1) * TINY * IMAGE_BYTES),
        one.images,
      );
      assert.deepEqual(contents.train.labels.subarray(b * TINY, (b + 1) * TINY), one.labels);
    }
    const test = parseCifar10Batch(await Deno.readFile(join(folder, TEST_BATCH_FILE)), {
      records: TINY,
    });
    assert.deepEqual(contents.test.images, test.images);
  });
});

Deno.test("readCifar10Folder() requires 10,000 records per file unless told or synthetic", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    await assert.rejects(() => readCifar10Folder(folder), {
      name: "RangeError",
      message:
        `Cannot read CIFAR-10 batch "${folder}/data_batch_1.bin": expected 30730000 bytes, ` +
        `found 30730`,
    });
    await Deno.writeTextFile(join(folder, SYNTHETIC_MARKER), "Synthetic test set\n");
    const contents = await readCifar10Folder(folder);
    assert.equal(contents.synthetic, true);
    assert.equal(contents.syntheticDescription, "Synthetic test set");
    assert.equal(contents.train.count, 5 * TINY);
  });
});

Deno.test("readCifar10Folder() rejects a missing batch file, saying which and what to do", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    await Deno.remove(join(folder, "data_batch_4.bin"));
    await assert.rejects(() => readCifar10Folder(folder, { recordsPerFile: TINY }), {
      name: "Error",
      message: `Cannot find CIFAR-10 batch "data_batch_4.bin" in "${folder}" (missing: ` +
        "data_batch_4.bin): the folder is incomplete; delete it and run `deno task data` again, " +
        "or pass --data with a complete copy",
    });
  });
});

Deno.test("readCifar10Folder() rejects a missing batches.meta.txt or a wrong class count", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    await Deno.writeTextFile(join(folder, "batches.meta.txt"), "cat\ndog\n");
    await assert.rejects(() => readCifar10Folder(folder, { recordsPerFile: TINY }), {
      name: "RangeError",
      message: `Cannot read class names "${folder}/batches.meta.txt": expected 10 names, found 2`,
    });
    await Deno.remove(join(folder, "batches.meta.txt"));
    await assert.rejects(() => readCifar10Folder(folder, { recordsPerFile: TINY }), {
      name: "Error",
      message: `Cannot find class names "batches.meta.txt" in "${folder}" (missing: ` +
        "batches.meta.txt): the folder is incomplete; delete it and run `deno task data` again, " +
        "or pass --data with a complete copy",
    });
  });
});

Deno.test("readCifar10Folder() rejects a truncated batch file", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    await Deno.truncate(join(folder, "data_batch_3.bin"), 1000);
    await assert.rejects(() => readCifar10Folder(folder, { recordsPerFile: TINY }), {
      name: "RangeError",
      message: `Cannot read CIFAR-10 batch "${folder}/data_batch_3.bin": expected 30730 bytes, ` +
        `found 1000`,
    });
  });
});

Deno.test("readCifar10Folder() rejects a bad label, naming the file and record", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    const path = join(folder, "data_batch_2.bin");
    const bytes = await Deno.readFile(path);
    bytes[7 * RECORD_BYTES] = 200;
    await Deno.writeFile(path, bytes);
    await assert.rejects(() => readCifar10Folder(folder, { recordsPerFile: TINY }), {
      name: "RangeError",
      message: `Cannot read CIFAR-10 batch "${path}": record 7 has label 200, expected 0–9`,
    });
  });
});
