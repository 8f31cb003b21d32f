import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../_util.ts";
import { ARCHIVE_NAME, BATCHES_FOLDER, readCifar10Folder } from "../../lib/data/format.ts";
import { PYTHON_ARCHIVE_NAME, PYTHON_BATCHES_FOLDER } from "../../lib/data/python_format.ts";
import { CIFAR10_PYTHON_MD5, EXTRACTED_MARKER } from "../../lib/data/archive.ts";
import { loadCifar10 } from "../../lib/data/load.ts";
import { writeSyntheticDataset } from "../../lib/data/synthetic.ts";
import { displayPath } from "../../lib/core/paths.ts";
import {
  entries,
  makeTinyPythonFolder,
  md5,
  packFolder,
  packPythonFolder,
  TINY,
  writePythonFolder,
} from "./_fixtures.ts";

Deno.test("CIFAR10_PYTHON_MD5 is the official md5 of cifar-10-python.tar.gz", () => {
  assert.equal(CIFAR10_PYTHON_MD5, "c58f30108f718f92721af3b95e74349a");
});

Deno.test("loadCifar10() reads a cifar-10-batches-py/ folder given directly or by the folder holding it", async () => {
  await withTempDir(async (dir) => {
    const { folder, binary } = await makeTinyPythonFolder(dir);
    const expected = await readCifar10Folder(binary, { recordsPerFile: TINY });
    const dataDir = join(dir, "data");
    for (
      const options of [
        { dataPath: folder },
        { dataPath: dir }, // the folder holding cifar-10-batches-py/ (and bin/, not a batches folder)
        { env: { CIFAR10_DATA: folder } },
      ]
    ) {
      const data = await loadCifar10({ dataDir, recordsPerFile: TINY, ...options });
      assert.deepEqual(data.source, {
        kind: "folder",
        path: folder,
        checksum: "unchecked",
        md5: null,
        synthetic: false,
        version: "python",
        description: `CIFAR-10 (Python version) from folder "${
          displayPath(folder)
        }" (checksum unchecked)`,
      });
      assert.equal(data.folder, folder);
      assert.deepEqual(data.train, expected.train);
      assert.deepEqual(data.test, expected.test);
      assert.deepEqual(data.classNames, expected.classNames);
    }
    assert.deepEqual(entries(dataDir), []); // Nothing written for a folder.
  });
});

Deno.test("loadCifar10() extracts data/cifar-10-python.tar.gz once into data/cifar-10-batches-py/", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    await Deno.mkdir(dataDir);
    const { folder, binary } = await makeTinyPythonFolder(join(dir, "src"));
    const archive = join(dataDir, PYTHON_ARCHIVE_NAME);
    const bytes = await packPythonFolder(folder, archive);
    const notices: string[] = [];
    const options = {
      dataDir,
      recordsPerFile: TINY,
      expectedPythonMd5: md5(bytes), // stands in for the official archive
      download: false,
      onNotice: (m: string) => notices.push(m),
      env: {},
    };
    const first = await loadCifar10(options);
    assert.deepEqual(first.source, {
      kind: "archive",
      path: archive,
      checksum: "official",
      md5: md5(bytes),
      synthetic: false,
      version: "python",
      description: `CIFAR-10 (Python version) from archive "${
        displayPath(archive)
      }" (official checksum)`,
    });
    assert.deepEqual(notices, []);
    assert.equal(first.folder, join(dataDir, PYTHON_BATCHES_FOLDER));
    const expected = await readCifar10Folder(binary, { recordsPerFile: TINY });
    assert.deepEqual(first.train, expected.train);
    assert.deepEqual(first.test, expected.test);
    // Extracted atomically beside the archive, with its marker; the binary folder's name unused.
    assert.deepEqual(entries(dataDir), [
      ".md5-cache.json",
      PYTHON_BATCHES_FOLDER,
      PYTHON_ARCHIVE_NAME,
    ]);
    const markerPath = join(dataDir, PYTHON_BATCHES_FOLDER, EXTRACTED_MARKER);
    const marker = JSON.parse(await Deno.readTextFile(markerPath));
    assert.equal(marker.archiveMd5, md5(bytes));
    assert.equal(marker.version, "python");
    assert.equal(marker.checksum, "official");
    assert.deepEqual(
      entries(join(dataDir, PYTHON_BATCHES_FOLDER)),
      [...entries(folder), EXTRACTED_MARKER].sort(),
    );
    // The second load reads the extracted folder: the marker is not rewritten.
    const second = await loadCifar10(options);
    assert.equal(JSON.parse(await Deno.readTextFile(markerPath)).extractedAt, marker.extractedAt);
    assert.deepEqual(second.source, first.source);
    assert.deepEqual(second.train, first.train);
    // The folder alone (as torchvision leaves it once the archive is deleted) still knows its origin.
    await Deno.remove(archive);
    const third = await loadCifar10(options);
    assert.equal(third.source.kind, "folder");
    assert.equal(third.source.version, "python");
    assert.equal(
      third.source.description,
      `CIFAR-10 (Python version) from folder "${
        displayPath(join(dataDir, PYTHON_BATCHES_FOLDER))
      }" ` +
        `(extracted from "${
          displayPath(join(await Deno.realPath(join(dir, "data")), PYTHON_ARCHIVE_NAME))
        }", ` +
        "official checksum)",
    );
  });
});

Deno.test("loadCifar10() takes over what torchvision leaves in data/: the archive and its folder", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    // datasets.CIFAR10(root="data", download=True): the archive and the folder it extracted.
    const { folder } = await makeTinyPythonFolder(dataDir);
    await Deno.remove(join(dataDir, "bin"), { recursive: true });
    const bytes = await packPythonFolder(folder, join(dataDir, PYTHON_ARCHIVE_NAME));
    const notices: string[] = [];
    const data = await loadCifar10({
      dataDir,
      recordsPerFile: TINY,
      env: {},
      download: false,
      onNotice: (m) => notices.push(m),
    });
    const archive = join(dataDir, PYTHON_ARCHIVE_NAME);
    assert.equal(data.source.kind, "archive");
    assert.equal(data.source.checksum, "unofficial");
    assert.equal(
      data.source.description,
      `CIFAR-10 (Python version) from archive "${displayPath(archive)}" (unofficial checksum: md5 ${
        md5(bytes)
      }, official ${CIFAR10_PYTHON_MD5})`,
    );
    assert.deepEqual(notices, [
      `Notice: "${
        displayPath(archive)
      }" is not the official CIFAR-10 archive (Python version) (md5 ${
        md5(bytes)
      }, official ${CIFAR10_PYTHON_MD5}); it passed the structural checks and is used as given.`,
    ]);
    // The folder was replaced by the archive's own files (the same bytes) plus the marker, which
    // torchvision ignores.
    assert.deepEqual(entries(dataDir), [
      ".md5-cache.json",
      PYTHON_BATCHES_FOLDER,
      PYTHON_ARCHIVE_NAME,
    ]);
    assert.ok(entries(folder).includes(EXTRACTED_MARKER));
    assert.ok(entries(folder).includes("readme.html"));
  });
});

Deno.test("loadCifar10() looks in data/ for the binary version first, then the Python version", async () => {
  await withTempDir(async (dir) => {
    const { folder: pythonFolder, binary } = await makeTinyPythonFolder(join(dir, "src"));
    const options = { recordsPerFile: TINY, env: {}, download: false, onNotice: null };
    const cases: [string, string[], string, string][] = [
      ["both folders", ["bin-folder", "py-folder"], "folder", "binary"],
      ["both archives", ["bin-archive", "py-archive"], "archive", "binary"],
      [
        "the Python archive and the binary folder",
        ["py-archive", "bin-folder"],
        "folder",
        "binary",
      ],
      ["the Python version alone", ["py-folder"], "folder", "python"],
      ["the Python archive and folder", ["py-folder", "py-archive"], "archive", "python"],
    ];
    for (const [what, present, kind, version] of cases) {
      const dataDir = join(dir, what.replaceAll(" ", "-"));
      await Deno.mkdir(dataDir);
      for (const item of present) {
        if (item === "bin-folder") {
          await Deno.mkdir(join(dataDir, BATCHES_FOLDER));
          for (const name of entries(binary)) {
            await Deno.copyFile(join(binary, name), join(dataDir, BATCHES_FOLDER, name));
          }
        }
        if (item === "bin-archive") await packFolder(binary, join(dataDir, ARCHIVE_NAME));
        if (item === "py-folder") await writePythonFolder(binary, dataDir);
        if (item === "py-archive") {
          await packPythonFolder(pythonFolder, join(dataDir, PYTHON_ARCHIVE_NAME));
        }
      }
      const data = await loadCifar10({ ...options, dataDir });
      assert.deepEqual([data.source.kind, data.source.version], [kind, version], what);
    }
    // A folder given with --data that holds only the Python archive.
    const holder = join(dir, "holder");
    await Deno.mkdir(holder);
    await packPythonFolder(pythonFolder, join(holder, PYTHON_ARCHIVE_NAME));
    const data = await loadCifar10({ ...options, dataPath: holder, dataDir: join(dir, "d") });
    assert.deepEqual([data.source.kind, data.source.version], ["archive", "python"]);
    assert.equal(data.source.path, join(holder, PYTHON_ARCHIVE_NAME));
  });
});

Deno.test("loadCifar10() rejects a Python archive with a damaged pickle and leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const { folder } = await makeTinyPythonFolder(join(dir, "src"));
    const batch = await Deno.readFile(join(folder, "data_batch_2"));
    await Deno.writeFile(join(folder, "data_batch_2"), batch.subarray(0, 1000));
    const archive = join(dir, "copy.tar.gz");
    await packPythonFolder(folder, archive);
    const dataDir = join(dir, "data");
    await assert.rejects(
      () => loadCifar10({ dataPath: archive, dataDir, recordsPerFile: TINY, onNotice: null }),
      (error: Error) => {
        assert.equal(error.name, "SyntaxError");
        assert.match(
          error.message,
          new RegExp(
            `^Cannot read pickle "${archive}:cifar-10-batches-py/data_batch_2": it is truncated: ` +
              "BINSTRING \\(0x54\\) at byte \\d+ needs 30720 more bytes, found \\d+$",
          ),
        );
        return true;
      },
    );
    assert.deepEqual(entries(dataDir), [".md5-cache.json"]);
  });
});

Deno.test("loadCifar10() labels a synthetic Python-version archive as synthetic, any count per file", async () => {
  await withTempDir(async (dir) => {
    const { folder: binary } = await writeSyntheticDataset(join(dir, "bin"), {
      imagesPerBatch: 7,
      testImages: 3,
    });
    const folder = await writePythonFolder(binary, dir);
    const archive = join(dir, PYTHON_ARCHIVE_NAME);
    await packPythonFolder(folder, archive);
    const data = await loadCifar10({ dataPath: archive, dataDir: join(dir, "data") });
    assert.equal(data.source.kind, "synthetic");
    assert.equal(data.source.synthetic, true);
    assert.equal(data.source.version, "python");
    assert.match(
      data.source.description,
      /^Synthetic shapes data set \(NOT CIFAR-10\).* \(from ".*cifar-10-python\.tar\.gz", in the Python version's layout: 35 train \/ 3 test images\)$/,
    );
    assert.equal(data.classNames[0], "red-square");
  });
});
