import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { REAL_ARCHIVE } from "../_real_data.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  CHANNELS,
  CIFAR10_CLASSES,
  CIFAR10_MD5,
  countLabels,
  defaultDataDir,
  EXTRACTED_MARKER,
  IMAGE_BYTES,
  IMAGE_SIZE,
  type ImageSet,
  iterateBatches,
  loadCifar10,
  parseCifar10Batch,
  parseClassNames,
  readCifar10Folder,
  RECORD_BYTES,
  splitTrainValid,
  subsetImages,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "../../lib/data/load.ts";
import { recordsToNhwc } from "../../lib/data/format.ts";
import { gzip, readTar, writeTar } from "../../lib/data/tar.ts";
import { createRng, deriveSeed, shuffleInPlace } from "../../lib/core/random.ts";
import { writeSyntheticDataset } from "../../lib/data/synthetic.ts";

// ---------------------------------------------------------------------------------------------
// Fixtures: tiny folders and archives in the CIFAR-10 layout, 10 records per file.

const TINY = 10;

/** Writes a tiny non-synthetic folder (CIFAR-10 names, no marker) into `dir`; returns its path. */
async function makeTinyFolder(dir: string, seed = 1): Promise<string> {
  const { folder } = await writeSyntheticDataset(dir, {
    seed,
    imagesPerBatch: TINY,
    testImages: TINY,
  });
  await Deno.remove(join(folder, SYNTHETIC_MARKER));
  await Deno.writeTextFile(join(folder, "batches.meta.txt"), CIFAR10_CLASSES.join("\n") + "\n\n");
  return folder;
}

/** Packs a folder's files into a .tar.gz under `cifar-10-batches-bin/`. */
async function packFolder(folder: string, archive: string): Promise<Uint8Array> {
  const entries = [{ name: BATCHES_FOLDER }] as { name: string; data?: Uint8Array }[];
  for (const e of [...Deno.readDirSync(folder)].sort((a, b) => a.name.localeCompare(b.name))) {
    entries.push({
      name: `${BATCHES_FOLDER}/${e.name}`,
      data: await Deno.readFile(join(folder, e.name)),
    });
  }
  const bytes = await gzip(writeTar(entries));
  await Deno.writeFile(archive, bytes);
  return bytes;
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** A naive CHW → HWC conversion, the reference for the fast loop. */
function naiveNhwc(records: Uint8Array, count: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    labels[r] = records[r * RECORD_BYTES]!;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          images[r * IMAGE_BYTES + (y * 32 + x) * 3 + c] =
            records[r * RECORD_BYTES + 1 + c * 1024 + y * 32 + x]!;
        }
      }
    }
  }
  return { images, labels };
}

function randomRecords(count: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const bytes = new Uint8Array(count * RECORD_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  for (let r = 0; r < count; r++) bytes[r * RECORD_BYTES] = rng.int(10);
  return bytes;
}

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

// ---------------------------------------------------------------------------------------------
// Tar reader.

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes.slice()]).stream();
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("readTar() reads what writeTar() writes, including GNU long names", async () => {
  const long = "d/" + "x".repeat(120);
  // A GNU long-name entry ("L") is an ordinary entry whose data is the next entry's name.
  const longEntry = writeTar([{
    name: "././@LongLink",
    data: new TextEncoder().encode(long + "\0"),
  }])
    .slice(0, 1024);
  longEntry[156] = "L".charCodeAt(0);
  longEntry.fill(0x20, 148, 156);
  const sum = longEntry.subarray(0, 512).reduce((a, b) => a + b, 0);
  longEntry.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const head = writeTar([
    { name: "short" },
    { name: "short/a.bin", data: new Uint8Array([1, 2, 3]), mtime: 1234 },
  ]);
  const tail = writeTar([{ name: "placeholder", data: new Uint8Array(600).fill(9) }]);
  const tar = concat(head.subarray(0, head.length - 1024), longEntry, tail);
  const seen = [];
  for await (const e of readTar(streamOf(tar), "t.tar")) seen.push(e);
  assert.deepEqual(seen.map((e) => [e.name, e.type, e.size]), [
    ["short/", "directory", 0],
    ["short/a.bin", "file", 3],
    [long, "file", 600],
  ]);
  assert.deepEqual([...seen[1]!.data], [1, 2, 3]);
  assert.equal(seen[1]!.mtime, 1234);
  assert.equal(seen[2]!.data.every((b) => b === 9), true);
});

Deno.test("readTar() rejects a bad header checksum and truncation", async () => {
  const tar = writeTar([{ name: "a.bin", data: new Uint8Array(700) }]);
  const read = async (bytes: Uint8Array) => {
    for await (const _ of readTar(streamOf(bytes), "t.tar")) { /* drain */ }
  };
  const corrupt = tar.slice();
  corrupt[0] = "b".charCodeAt(0);
  await assert.rejects(() => read(corrupt), {
    name: "SyntaxError",
    message: `Cannot read archive "t.tar": tar header at byte 0 has checksum ${
      tar.subarray(0, 512).reduce((a, b, i) => a + (i >= 148 && i < 156 ? 32 : b), 0)
    }, expected ${
      corrupt.subarray(0, 512).reduce((a, b, i) => a + (i >= 148 && i < 156 ? 32 : b), 0)
    } (corrupt, or not a tar archive)`,
  });
  await assert.rejects(() => read(tar.subarray(0, 512 + 300)), {
    name: "SyntaxError",
    message:
      'Cannot read archive "t.tar": it is truncated: entry "a.bin" needs 700 bytes, found 300',
  });
  await assert.rejects(() => read(tar.subarray(0, 300)), {
    name: "SyntaxError",
    message: 'Cannot read archive "t.tar": it is truncated: header at byte 0 has 300 of 512 bytes',
  });
  await assert.rejects(() => read(tar.subarray(0, 512 * 3)), {
    name: "SyntaxError",
    message:
      'Cannot read archive "t.tar": it is truncated: no end-of-archive block after 1 entries',
  });
});

// ---------------------------------------------------------------------------------------------
// Loading archives and folders.

Deno.test("loadCifar10() extracts an archive in the data folder once, then reuses it", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    await Deno.mkdir(dataDir);
    const source = await makeTinyFolder(join(dir, "src"));
    const bytes = await packFolder(source, join(dataDir, ARCHIVE_NAME));
    // Left by a killed run long ago (removed), and by one running now (kept).
    await Deno.mkdir(join(dataDir, ".extract-stale"));
    await Deno.utime(join(dataDir, ".extract-stale"), 0, 0);
    await Deno.mkdir(join(dataDir, ".extract-running"));
    const notices: string[] = [];
    const options = {
      dataDir,
      recordsPerFile: TINY,
      expectedMd5: md5(bytes),
      download: false,
      onNotice: (m: string) => notices.push(m),
      env: {},
    };
    const first = await loadCifar10(options);
    assert.deepEqual(first.source, {
      kind: "archive",
      path: join(dataDir, ARCHIVE_NAME),
      checksum: "official",
      md5: md5(bytes),
      synthetic: false,
      description: `CIFAR-10 from archive "${join(dataDir, ARCHIVE_NAME)}" (official checksum)`,
    });
    assert.deepEqual(notices, []);
    assert.equal(first.train.count, 5 * TINY);
    assert.deepEqual(
      first.train.images,
      (await readCifar10Folder(source, { recordsPerFile: TINY })).train.images,
    );
    // Extracted atomically: the folder with its marker, no temporary folder of ours left.
    assert.deepEqual(entries(dataDir), [
      ".extract-running",
      ".md5-cache.json",
      BATCHES_FOLDER,
      ARCHIVE_NAME,
    ]);
    // The archive's md5 is cached under its path, size and modification time.
    const cache = JSON.parse(await Deno.readTextFile(join(dataDir, ".md5-cache.json")));
    const archivePath = await Deno.realPath(join(dataDir, ARCHIVE_NAME));
    assert.deepEqual(Object.keys(cache), [archivePath]);
    assert.equal(cache[archivePath].md5, md5(bytes));
    assert.equal(cache[archivePath].size, bytes.length);
    const markerPath = join(dataDir, BATCHES_FOLDER, EXTRACTED_MARKER);
    const marker = JSON.parse(await Deno.readTextFile(markerPath));
    assert.equal(marker.archiveMd5, md5(bytes));
    assert.equal(marker.checksum, "official");
    // A second load reads the folder: the marker is not rewritten.
    const second = await loadCifar10(options);
    assert.equal(JSON.parse(await Deno.readTextFile(markerPath)).extractedAt, marker.extractedAt);
    assert.deepEqual(second.source, first.source);
    assert.deepEqual(second.test.images, first.test.images);
    // The cache is trusted while size and time match: a doctored entry shows it is not re-hashed.
    cache[archivePath].md5 = "0".repeat(32);
    await Deno.writeTextFile(join(dataDir, ".md5-cache.json"), JSON.stringify(cache));
    const third = await loadCifar10({ ...options, onNotice: null });
    assert.equal(third.source.md5, "0".repeat(32));
  });
});

Deno.test("loadCifar10() accepts an unofficial archive with a one-line notice", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const source = await makeTinyFolder(join(dir, "src"));
    const archive = join(dir, "copy.tar.gz");
    const bytes = await packFolder(source, archive);
    await Deno.writeTextFile(join(dir, "README.md"), "# A re-encoded copy\n\nDetails.\n");
    const notices: string[] = [];
    const data = await loadCifar10({
      dataPath: archive,
      dataDir,
      recordsPerFile: TINY,
      onNotice: (m) => notices.push(m),
    });
    const found = md5(bytes);
    assert.equal(data.source.kind, "archive");
    assert.equal(data.source.checksum, "unofficial");
    assert.equal(data.source.md5, found);
    assert.equal(data.source.synthetic, false);
    assert.equal(
      data.source.description,
      `CIFAR-10 from archive "${archive}" (unofficial checksum: md5 ${found}, official ` +
        `${CIFAR10_MD5}; README: "A re-encoded copy")`,
    );
    assert.deepEqual(notices, [
      `Notice: "${archive}" is not the official CIFAR-10 archive (md5 ${found}, official ` +
      `${CIFAR10_MD5}; its README: "A re-encoded copy"); it passed the structural checks and is ` +
      `used as given.`,
    ]);
    // The extracted folder, loaded on its own, still knows where it came from.
    const again = await loadCifar10({ dataDir, recordsPerFile: TINY, onNotice: () => {}, env: {} });
    assert.equal(again.source.kind, "folder");
    assert.equal(again.source.checksum, "unofficial");
    assert.equal(again.source.md5, found);
  });
});

Deno.test("loadCifar10() re-extracts when the archive changed", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const archive = join(dir, "a.tar.gz");
    await packFolder(await makeTinyFolder(join(dir, "src1"), 1), archive);
    const options = { dataPath: archive, dataDir, recordsPerFile: TINY, onNotice: null };
    const first = await loadCifar10(options);
    await packFolder(await makeTinyFolder(join(dir, "src2"), 2), archive);
    const second = await loadCifar10(options);
    assert.notEqual(second.source.md5, first.source.md5);
    assert.notDeepEqual(second.train.images, first.train.images);
    const marker = JSON.parse(
      await Deno.readTextFile(join(dataDir, BATCHES_FOLDER, EXTRACTED_MARKER)),
    );
    assert.equal(marker.archiveMd5, second.source.md5);
    assert.deepEqual(entries(dataDir), [".md5-cache.json", BATCHES_FOLDER]);
  });
});

Deno.test("loadCifar10() rejects a damaged archive and leaves nothing behind", async (t) => {
  await withTempDir(async (dir) => {
    const source = await makeTinyFolder(join(dir, "src"));
    const good = await packFolder(source, join(dir, "good.tar.gz"));
    const tar = writeTar([{
      name: `${BATCHES_FOLDER}/${TEST_BATCH_FILE}`,
      data: new Uint8Array(9),
    }]);
    const badHeader = tar.slice();
    badHeader[5] = badHeader[5]! ^ 0xff;
    const cases: [string, Uint8Array, string, RegExp][] = [
      [
        "truncated gzip",
        good.subarray(0, good.length >> 1),
        "SyntaxError",
        /^Cannot read archive ".*bad\.tar\.gz": the gzip data is corrupt or truncated \(/,
      ],
      [
        "not gzip",
        new TextEncoder().encode("<html>Not found</html>"),
        "SyntaxError",
        /^Cannot read archive ".*bad\.tar\.gz": the gzip data is corrupt or truncated \(/,
      ],
      [
        "corrupt tar header",
        await gzip(badHeader),
        "SyntaxError",
        /^Cannot read archive ".*bad\.tar\.gz": tar header at byte 0 has checksum \d+, expected \d+ \(corrupt, or not a tar archive\)$/,
      ],
      [
        "no batches folder",
        await gzip(writeTar([{ name: "other/x.bin", data: new Uint8Array(3) }])),
        "Error",
        /^Cannot use archive ".*bad\.tar\.gz": it holds no "cifar-10-batches-bin\/" folder \(first entries: other\/x\.bin\)$/,
      ],
      [
        "missing batch file",
        await gzip(
          writeTar([{ name: `${BATCHES_FOLDER}/${TEST_BATCH_FILE}`, data: new Uint8Array(9) }]),
        ),
        "Error",
        /^Cannot find CIFAR-10 batch "data_batch_1\.bin" in ".*bad\.tar\.gz:cifar-10-batches-bin" \(missing: data_batch_1\.bin, .*batches\.meta\.txt\)/,
      ],
    ];
    for (const [name, bytes, errorName, message] of cases) {
      await t.step(name, async () => {
        const dataDir = join(dir, `data-${name.replaceAll(" ", "-")}`);
        const archive = join(dir, "bad.tar.gz");
        await Deno.writeFile(archive, bytes);
        await assert.rejects(
          () => loadCifar10({ dataPath: archive, dataDir, recordsPerFile: TINY, onNotice: null }),
          (error: Error) => {
            assert.equal(error.name, errorName);
            assert.match(error.message, message);
            return true;
          },
        );
        // No extracted folder and no temporary folder: only the checksum cache.
        assert.deepEqual(entries(dataDir), [".md5-cache.json"]);
      });
    }
  });
});

Deno.test("loadCifar10() reads a folder from dataPath or CIFAR10_DATA", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(join(dir, "copy"));
    const dataDir = join(dir, "data");
    for (
      const options of [
        { dataPath: folder },
        { dataPath: join(dir, "copy") }, // the folder holding cifar-10-batches-bin/
        { env: { CIFAR10_DATA: folder } },
        { dataPath: null, env: { CIFAR10_DATA: folder } },
      ]
    ) {
      const data = await loadCifar10({ dataDir, recordsPerFile: TINY, ...options });
      assert.deepEqual(data.source, {
        kind: "folder",
        path: folder,
        checksum: "unchecked",
        md5: null,
        synthetic: false,
        description: `CIFAR-10 from folder "${folder}" (checksum unchecked)`,
      });
    }
    assert.deepEqual(entries(dataDir), []); // Nothing written for a folder.
  });
});

Deno.test("loadCifar10() says what to do when nothing is found", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(() => loadCifar10({ dataDir: dir, download: false, env: {} }), {
      name: "Error",
      message: `Cannot find CIFAR-10 in "${dir}": no "cifar-10-batches-bin/" folder or ` +
        '"cifar-10-binary.tar.gz"; run `deno task data` to download it from ' +
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, or pass --data PATH (or set " +
        "CIFAR10_DATA)",
    });
    await assert.rejects(() => loadCifar10({ dataPath: join(dir, "nope"), dataDir: dir }), {
      name: "Error",
      message: `Cannot find CIFAR-10 data at "${join(dir, "nope")}" (from --data / dataPath / ` +
        "CIFAR10_DATA): no such file or folder",
    });
    await assert.rejects(() => loadCifar10({ dataPath: dir, dataDir: dir }), {
      name: "Error",
      message: `Cannot find CIFAR-10 data in folder "${dir}": expected "data_batch_1.bin", a ` +
        '"cifar-10-batches-bin/" folder or "cifar-10-binary.tar.gz" in it',
    });
  });
});

Deno.test("loadCifar10() labels a synthetic folder or archive as synthetic", async () => {
  await withTempDir(async (dir) => {
    const { folder, archive } = await writeSyntheticDataset(dir, {
      imagesPerBatch: TINY,
      testImages: TINY,
      archive: true,
      archiveName: "synthetic.tar.gz",
    });
    const fromFolder = await loadCifar10({ dataPath: folder, dataDir: join(dir, "d1") });
    assert.equal(fromFolder.source.kind, "synthetic");
    assert.equal(fromFolder.source.synthetic, true);
    assert.equal(fromFolder.source.checksum, "unchecked");
    assert.match(fromFolder.source.description, /^Synthetic shapes data set \(NOT CIFAR-10\)/);
    assert.equal(fromFolder.classNames[0], "red-square");
    const notices: string[] = [];
    const fromArchive = await loadCifar10({
      dataPath: archive!,
      dataDir: join(dir, "d2"),
      onNotice: (m) => notices.push(m),
    });
    assert.equal(fromArchive.source.kind, "synthetic");
    assert.equal(fromArchive.source.path, archive);
    assert.equal(fromArchive.source.checksum, "unofficial");
    assert.equal(fromArchive.source.md5, md5(await Deno.readFile(archive!)));
    assert.deepEqual(notices, []);
    assert.deepEqual(fromArchive.train.images, fromFolder.train.images);
  });
});

Deno.test("defaultDataDir() is the project's data folder, whatever the working directory", () => {
  assert.equal(defaultDataDir(), new URL("../../data", import.meta.url).pathname);
});

// ---------------------------------------------------------------------------------------------
// Subsets, splits, batches.

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

// ---------------------------------------------------------------------------------------------
// The real data set copy (skipped when absent).

const SHARED_ARCHIVE = REAL_ARCHIVE;
const SHARED_MD5 = "e8d92696c3c3cd362e99aa65d6970911";
const realPath = Deno.env.get("CIFAR10_DATA") || SHARED_ARCHIVE;
const realExists = (() => {
  try {
    Deno.statSync(realPath);
    return true;
  } catch {
    return false;
  }
})();
if (!realExists) {
  console.warn(
    `SKIPPED "loadCifar10() parses the real copy": no data at "${realPath}" ` +
      "(set CIFAR10_DATA to an archive or folder to run it)",
  );
}

Deno.test({
  name: "loadCifar10() parses the real copy: 50,000/10,000 images, 5,000/1,000 per class",
  ignore: !realExists,
  async fn() {
    // Uses the project's data/ folder as the extraction cache, like `deno task data --data …`.
    const notices: string[] = [];
    const data = await loadCifar10({ dataPath: realPath, onNotice: (m) => notices.push(m) });
    assert.equal(data.train.count, 50000);
    assert.equal(data.test.count, 10000);
    assert.equal(data.train.images.length, 50000 * IMAGE_BYTES);
    assert.deepEqual(countLabels(data.train.labels), new Array(10).fill(5000));
    assert.deepEqual(countLabels(data.test.labels), new Array(10).fill(1000));
    assert.deepEqual(data.classNames, [...CIFAR10_CLASSES]);
    assert.equal(data.source.synthetic, false);
    if (realPath === SHARED_ARCHIVE) {
      assert.equal(data.source.kind, "archive");
      assert.equal(data.source.checksum, "unofficial");
      assert.equal(data.source.md5, SHARED_MD5);
      assert.equal(notices.length, 1);
      assert.match(notices[0]!, /not the official CIFAR-10 archive \(md5 e8d92696/);
      // Spot-check the conversion against the raw records of the extracted test batch.
      const raw = await Deno.readFile(join(defaultDataDir(), BATCHES_FOLDER, TEST_BATCH_FILE));
      for (const index of [0, 4321, 9999]) {
        const one = naiveNhwc(raw.subarray(index * RECORD_BYTES, (index + 1) * RECORD_BYTES), 1);
        assert.deepEqual(
          data.test.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES),
          one.images,
        );
        assert.equal(data.test.labels[index], one.labels[0]);
      }
    }
  },
});

// ---------------------------------------------------------------------------------------------
// The `deno task data` CLI.

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = new URL("../../scripts/data.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    env: { CIFAR10_DATA: "", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("deno task data prints errors without a stack and exits 1", async () => {
  const missing = await runCli(["--data", "/nonexistent/cifar"]);
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    'Cannot find CIFAR-10 data at "/nonexistent/cifar" (from --data / dataPath / CIFAR10_DATA): ' +
      "no such file or folder\n",
  );
  const badFlag = await runCli(["--bogus"]);
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.stderr, /^Cannot use flag --bogus: unknown flag; allowed flags: .*--json/);
});

Deno.test("deno task data --json summarises splits and classes", async () => {
  await withTempDir(async (dir) => {
    const folder = await makeTinyFolder(dir);
    await Deno.writeTextFile(join(folder, SYNTHETIC_MARKER), "Synthetic shapes (test)\n");
    const { code, stdout } = await runCli(["--data", folder, "--json", "--valid-fraction", "0.3"]);
    assert.equal(code, 0);
    const summary = JSON.parse(stdout);
    assert.equal(summary.source.synthetic, true);
    assert.equal(summary.source.kind, "synthetic");
    assert.deepEqual(summary.counts, { train: 35, valid: 15, test: 10 });
    assert.equal(summary.perClass.length, 10);
    const sum = (key: "train" | "valid" | "test") =>
      summary.perClass.reduce((n: number, c: Record<string, number>) => n + c[key]!, 0);
    assert.deepEqual([sum("train"), sum("valid"), sum("test")], [35, 15, 10]);
    // The per-class counts follow the split of the config's seed.
    const contents = await readCifar10Folder(folder);
    const split = splitTrainValid(50, 0.3, 42);
    assert.deepEqual(
      summary.perClass.map((c: Record<string, number>) => c.valid),
      countLabels(contents.train.labels, { indices: split.validIndices }),
    );
  });
});
