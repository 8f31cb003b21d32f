import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { skipName, withTempDir } from "../_util.ts";
import { REAL_ARCHIVE } from "../_real_data.ts";
import {
  BATCHES_FOLDER,
  CIFAR10_CLASSES,
  IMAGE_BYTES,
  readCifar10Folder,
  RECORD_BYTES,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
} from "../../lib/data/format.ts";
import { CIFAR10_MD5 } from "../../lib/data/archive.ts";
import { defaultDataDir, loadCifar10 } from "../../lib/data/load.ts";
import { countLabels, splitTrainValid } from "../../lib/data/split.ts";
import { writeSyntheticDataset } from "../../lib/data/synthetic.ts";
import { entries, makeTinyFolder, md5, naiveNhwc, packFolder, TINY } from "./_fixtures.ts";
import { displayPath, PROJECT_ROOT } from "../../lib/core/paths.ts";

// ---------------------------------------------------------------------------------------------
// Loading archives and folders.

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
      `CIFAR-10 from archive "${
        displayPath(archive)
      }" (unofficial checksum: md5 ${found}, official ` +
        `${CIFAR10_MD5}; README: "A re-encoded copy")`,
    );
    assert.deepEqual(notices, [
      `Notice: "${
        displayPath(archive)
      }" is not the official CIFAR-10 archive (md5 ${found}, official ` +
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
        version: "binary",
        description: `CIFAR-10 from folder "${displayPath(folder)}" (checksum unchecked)`,
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
        '"cifar-10-binary.tar.gz" (nor the Python version\'s "cifar-10-batches-py/" or ' +
        '"cifar-10-python.tar.gz"); run `deno task data` to download it from ' +
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
      message: `Cannot find CIFAR-10 data in folder "${dir}": expected "data_batch_1.bin" or ` +
        '"data_batch_1", a "cifar-10-batches-bin/" or "cifar-10-batches-py/" folder, or ' +
        '"cifar-10-binary.tar.gz" or "cifar-10-python.tar.gz" in it',
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

Deno.test("defaultDataDir() is the project's data folder, whatever the working directory", async () => {
  const projectData = fileURLToPath(new URL("../../data", import.meta.url));
  assert.equal(defaultDataDir(), projectData);
  // A process whose working directory is elsewhere gets the same folder (an answer relative to
  // the working directory would be "<elsewhere>/data").
  await withTempDir(async (dir) => {
    const module = new URL("../../lib/data/load.ts", import.meta.url).href;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { defaultDataDir } from ${JSON.stringify(module)};\n` +
        "console.log(JSON.stringify({ cwd: Deno.cwd(), dataDir: defaultDataDir() }));",
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    assert.equal(output.code, 0, decode(output.stderr));
    const found = JSON.parse(decode(output.stdout));
    assert.equal(found.cwd, await Deno.realPath(dir));
    assert.notEqual(found.cwd, Deno.cwd());
    assert.equal(found.dataDir, projectData);
  });
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
  name: skipName(
    "loadCifar10() parses the real copy: 50,000/10,000 images, 5,000/1,000 per class",
    !realExists,
    "no real CIFAR-10 copy (CIFAR10_REAL_ARCHIVE, or ../shared/datasets)",
  ),
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

Deno.test("a data source inside the project is described by its path in the project, no machine's", async () => {
  await Deno.mkdir(join(PROJECT_ROOT, "out"), { recursive: true });
  const dir = await Deno.makeTempDir({ dir: join(PROJECT_ROOT, "out"), prefix: "load-test-" });
  try {
    const folder = await makeTinyFolder(dir);
    const archive = join(dir, "copy.tar.gz");
    await packFolder(folder, archive);
    const notices: string[] = [];
    const shown = relative(PROJECT_ROOT, archive);
    const fromArchive = await loadCifar10({
      dataPath: archive,
      dataDir: join(dir, "data"),
      recordsPerFile: TINY,
      onNotice: (line) => notices.push(line),
    });
    assert.match(fromArchive.source.description, new RegExp(`^CIFAR-10 from archive "${shown}" `));
    assert.match(notices.join("\n"), new RegExp(`^Notice: "${shown}" is not the official`));
    const fromFolder = await loadCifar10({
      dataPath: folder,
      recordsPerFile: TINY,
      onNotice: null,
    });
    assert.equal(
      fromFolder.source.description,
      `CIFAR-10 from folder "${relative(PROJECT_ROOT, folder)}" (checksum unchecked)`,
    );
    assert.doesNotMatch(fromArchive.source.description + notices.join(""), /"\//);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
