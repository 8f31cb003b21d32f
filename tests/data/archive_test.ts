import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../_util.ts";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  readCifar10Folder,
  TEST_BATCH_FILE,
} from "../../lib/data/format.ts";
import {
  archiveMd5,
  extractCifar10Archive,
  EXTRACTED_MARKER,
  MD5_CACHE_FILE,
  readExtractedMarker,
} from "../../lib/data/archive.ts";
import { loadCifar10 } from "../../lib/data/load.ts";
import { gzip, writeTar } from "../../lib/data/tar.ts";
import { entries, makeTinyFolder, md5, packFolder, TINY } from "./_fixtures.ts";
import { displayPath } from "../../lib/core/paths.ts";

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
      version: "binary",
      description: `CIFAR-10 from archive "${
        displayPath(join(dataDir, ARCHIVE_NAME))
      }" (official checksum)`,
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

Deno.test("loadCifar10() re-extracts when the archive changed", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const archive = join(dir, "a.tar.gz");
    await packFolder(await makeTinyFolder(join(dir, "src1"), 1), archive);
    const notices: string[] = [];
    const options = {
      dataPath: archive,
      dataDir,
      recordsPerFile: TINY,
      onNotice: (line: string) => notices.push(line),
    };
    const first = await loadCifar10(options);
    await packFolder(await makeTinyFolder(join(dir, "src2"), 2), archive);
    const second = await loadCifar10(options);
    assert.notEqual(second.source.md5, first.source.md5);
    assert.notDeepEqual(second.train.images, first.train.images);
    const marker = JSON.parse(
      await Deno.readTextFile(join(dataDir, BATCHES_FOLDER, EXTRACTED_MARKER)),
    );
    assert.equal(marker.archiveMd5, second.source.md5);
    // The first extraction is the only copy of what the archive held before: kept, not deleted.
    const [kept, ...others] = entries(dataDir).filter((name) => name.includes(".kept-"));
    assert.deepEqual(others, []);
    assert.match(kept!, /^cifar-10-batches-bin\.kept-\d{8}T\d{6}$/);
    assert.deepEqual(entries(dataDir), [".md5-cache.json", BATCHES_FOLDER, kept]);
    const before = await readCifar10Folder(join(dataDir, kept!), { recordsPerFile: TINY });
    assert.deepEqual(before.train.images, first.train.images);
    assert.ok(
      notices.includes(
        `Notice: "${displayPath(join(dataDir, BATCHES_FOLDER))}/" was not extracted from an ` +
          `archive that is still on disk, so it is kept as "${
            displayPath(join(dataDir, kept!))
          }/" (remove it when it is not needed)`,
      ),
      notices.join("\n"),
    );
  });
});

Deno.test("an archive given with --data replaces the extraction of another archive still on disk", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const [a, b] = [join(dir, "a.tar.gz"), join(dir, "b.tar.gz")];
    await packFolder(await makeTinyFolder(join(dir, "src1"), 1), a);
    await packFolder(await makeTinyFolder(join(dir, "src2"), 2), b);
    const notices: string[] = [];
    const load = (archive: string) =>
      loadCifar10({
        dataPath: archive,
        dataDir,
        recordsPerFile: TINY,
        onNotice: (line) => notices.push(line),
      });
    await load(a);
    const second = await load(b);
    assert.equal(
      (await readExtractedMarker(join(dataDir, BATCHES_FOLDER)))?.archiveMd5,
      second.source.md5,
    );
    // a.tar.gz can be extracted again, so nothing is kept.
    assert.deepEqual(entries(dataDir), [".md5-cache.json", BATCHES_FOLDER]);
    assert.deepEqual(notices.filter((line) => line.includes("kept")), []);
  });
});

Deno.test("a batches folder nobody can make again is kept, never replaced, when an archive is extracted", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    // Someone's own copy in data/ (no marker: not extracted here), then another archive.
    const own = await makeTinyFolder(dataDir, 7);
    await Deno.writeTextFile(join(own, "my-notes.txt"), "the only copy\n");
    const archive = join(dir, "other.tar.gz");
    await packFolder(await makeTinyFolder(join(dir, "src"), 8), archive);
    const notices: string[] = [];
    const data = await loadCifar10({
      dataPath: archive,
      dataDir,
      recordsPerFile: TINY,
      onNotice: (line) => notices.push(line),
    });
    assert.equal(data.source.kind, "archive");
    const kept = entries(dataDir).find((name) => name.startsWith(`${BATCHES_FOLDER}.kept-`));
    assert.ok(kept, entries(dataDir).join(", "));
    assert.equal(await Deno.readTextFile(join(dataDir, kept, "my-notes.txt")), "the only copy\n");
    assert.equal(
      (await readExtractedMarker(join(dataDir, BATCHES_FOLDER)))?.archiveMd5,
      data.source.md5,
    );
    assert.ok(
      notices.some((line) => line.includes(`kept as "${displayPath(join(dataDir, kept))}/"`)),
    );
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
        /^Cannot use archive ".*bad\.tar\.gz": it holds no "cifar-10-batches-bin\/" folder \(binary version\) or "cifar-10-batches-py\/" folder \(Python version\) \(first entries: other\/x\.bin\)$/,
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

Deno.test("archiveMd5() caches per path, size and modification time, and rehashes a changed file", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const archive = join(dir, "a.tar.gz");
    const first = new Uint8Array([1, 2, 3]);
    await Deno.writeFile(archive, first);
    assert.equal(await archiveMd5(archive, dataDir), md5(first));
    const cachePath = join(dataDir, MD5_CACHE_FILE);
    const cache = JSON.parse(await Deno.readTextFile(cachePath));
    const key = await Deno.realPath(archive);
    assert.deepEqual(Object.keys(cache), [key]);
    assert.equal(cache[key].size, 3);
    assert.equal(cache[key].mtimeMs, (await Deno.stat(archive)).mtime!.getTime());
    // Another size: the cached entry no longer matches, so the file is hashed again.
    const second = new Uint8Array([4, 5, 6, 7]);
    await Deno.writeFile(archive, second);
    assert.equal(await archiveMd5(archive, dataDir), md5(second));
    const updated = JSON.parse(await Deno.readTextFile(cachePath));
    assert.equal(updated[key].md5, md5(second));
    assert.equal(updated[key].size, 4);
    // An entry that is not an md5 is not trusted.
    updated[key].md5 = "not an md5";
    await Deno.writeTextFile(cachePath, JSON.stringify(updated));
    assert.equal(await archiveMd5(archive, dataDir), md5(second));
  });
});

Deno.test("extractCifar10Archive() puts the folder in place with its marker and returns its contents", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    const source = await makeTinyFolder(join(dir, "src"));
    const archive = join(dir, "copy.tar.gz");
    const bytes = await packFolder(source, archive);
    const { folder, contents, marker } = await extractCifar10Archive(archive, dataDir, {
      md5: md5(bytes),
      checksum: "unofficial",
      recordsPerFile: TINY,
    });
    assert.equal(folder, join(dataDir, BATCHES_FOLDER));
    assert.deepEqual(entries(dataDir), [BATCHES_FOLDER]); // no temporary folder left
    const expected = await readCifar10Folder(source, { recordsPerFile: TINY });
    assert.deepEqual(contents.train.images, expected.train.images);
    assert.deepEqual(contents.test.labels, expected.test.labels);
    assert.deepEqual(contents.classNames, expected.classNames);
    assert.equal(marker.archivePath, await Deno.realPath(archive));
    assert.equal(marker.archiveMd5, md5(bytes));
    assert.equal(marker.archiveSize, bytes.length);
    assert.equal(marker.checksum, "unofficial");
    assert.equal(marker.readmeTitle, null);
    assert.deepEqual(await readExtractedMarker(folder), marker);
    // The extracted files are the archive's files, plus the marker.
    assert.deepEqual(entries(folder), [...entries(source), EXTRACTED_MARKER].sort());
    // No marker, or one without an md5: null.
    assert.equal(await readExtractedMarker(source), null);
    await Deno.writeTextFile(join(folder, EXTRACTED_MARKER), '{"archivePath": "x"}');
    assert.equal(await readExtractedMarker(folder), null);
  });
});
