/**
 * One `--data` grammar for every command that reads CIFAR-10 (issue 24.2): `deno task data`,
 * `train`, `notebook` (through `CIFAR10_DATA`), `bench`, `bench:load` and `bench:revisions` each take
 * an archive of the binary or the Python version, its extracted folder, or the folder holding it;
 * and each answers an archive that is not CIFAR-10 with one line naming it, never a stack trace.
 *
 * The commands run from a copy of the project (lib/, scripts/, bench/, deno.json; the npm packages
 * linked), because an archive given with `--data` is extracted into the project's `data/` folder and
 * a test must not replace what a user keeps there.
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { skipName, withTempDir } from "./_util.ts";
import { findJupyter } from "../scripts/_jupyter.ts";
import { packFolder, packPythonFolder, writePythonFolder } from "./data/_fixtures.ts";
import { writeSyntheticDataset } from "../lib/data/synthetic.ts";
import { gzip, writeTar } from "../lib/data/tar.ts";
import { PROJECT_ROOT } from "../lib/core/paths.ts";

/** Copies what the commands need into `<dir>/repo`; returns that folder. */
async function copyProject(dir: string): Promise<string> {
  const repo = join(dir, "repo");
  await Deno.mkdir(join(repo, "data"), { recursive: true });
  const copy = await new Deno.Command("cp", {
    args: ["-R", "lib", "scripts", "bench", "notebooks", "deno.json", "deno.lock", repo],
    cwd: PROJECT_ROOT,
    stderr: "piped",
  }).output();
  assert.ok(copy.success, new TextDecoder().decode(copy.stderr));
  await Deno.symlink(join(PROJECT_ROOT, "node_modules"), join(repo, "node_modules"));
  return repo;
}

/** Runs `deno run -A <script> <args>` in the copy; stdout and stderr together. */
async function run(
  repo: string,
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; text: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(repo, script), ...args],
    cwd: repo,
    env: { NO_COLOR: "1", CIFAR10_DATA: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, text: decode(output.stdout) + decode(output.stderr) };
}

/** The tiny synthetic set (20 images per file), as a binary and a Python-version archive. */
async function makeArchives(dir: string): Promise<{ binary: string; python: string }> {
  const { folder } = await writeSyntheticDataset(join(dir, "bin"), {
    seed: 3,
    imagesPerBatch: 20,
    testImages: 20,
  });
  const binary = join(dir, "in", "cifar-10-binary.tar.gz");
  const python = join(dir, "in", "cifar-10-python.tar.gz");
  await Deno.mkdir(join(dir, "in"));
  await packFolder(folder, binary);
  await packPythonFolder(await writePythonFolder(folder, join(dir, "py")), python);
  return { binary, python };
}

const BENCH_TINY = [
  "--sides",
  "ours",
  "--rounds",
  "1",
  "--batch-sizes",
  "4",
  "--warmup",
  "0",
  "--steps",
  "1",
  "--repeats",
  "1",
  "--epoch-images",
  "20",
  "--inference-images",
  "10",
  "--inference-batch-size",
  "10",
  "--threads",
  "1",
];

/** What each command prints when it has read the tiny set from `archive` (either version). */
const COMMANDS: {
  name: string;
  script: string;
  args: (archive: string, dir: string) => string[];
  read: RegExp;
}[] = [
  {
    name: "deno task data",
    script: "scripts/data.ts",
    args: (archive) => ["--data", archive],
    read: /^Images: +train 80, valid 20, test 20 /m,
  },
  {
    name: "deno task train",
    script: "scripts/train.ts",
    args: (archive, dir) => [
      "--data",
      archive,
      "--epochs",
      "1",
      "--out",
      join(dir, "runs"),
      "--backend",
      "wasm",
    ],
    read: /^Epoch: 1 \tTraining Loss: \d+\.\d{6} \tValidation Loss: \d+\.\d{6}$/m,
  },
  {
    name: "deno task bench",
    script: "bench/bench.ts",
    args: (archive) => ["--data", archive, ...BENCH_TINY],
    read:
      /^Data: Synthetic shapes data set \(NOT CIFAR-10\).*from ".*cifar-10-(binary|python)\.tar\.gz"/m,
  },
  {
    name: "deno task bench:load",
    script: "bench/load_bench.ts",
    args: (archive) => ["--data", archive, "--runs", "1"],
    read: /images/,
  },
];

/** The project's Jupyter (./run setup makes it), for the notebook command run from the copy. */
const jupyter = await findJupyter();

for (const version of ["binary", "python"] as const) {
  Deno.test(`every command takes a ${version}-version archive as --data`, async (t) => {
    await withTempDir(async (dir) => {
      const repo = await copyProject(dir);
      const archive = (await makeArchives(dir))[version];
      for (const command of COMMANDS) {
        await t.step(command.name, async () => {
          const { code, text } = await run(repo, command.script, command.args(archive, dir));
          assert.equal(code, 0, text);
          assert.match(text, command.read);
          assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
        });
      }
      await t.step({
        name: skipName(
          "deno task notebook",
          jupyter === null,
          "no JupyterLab in .venv/ (./run setup installs it)",
        ),
        ignore: jupyter === null,
        fn: async () => {
          const { code, text } = await run(
            repo,
            "scripts/notebook.ts",
            ["--data", archive, "--epochs", "1", "--output", join(dir, "nb"), "--backend", "wasm"],
            { CIFAR10_JUPYTER: jupyter!.jupyter, CIFAR10_OUT_DIR: join(dir, "nb-runs") },
          );
          assert.equal(code, 0, text);
          const html = await Deno.readTextFile(join(dir, "nb", "cifar10_cnn.html"));
          assert.match(html, /Synthetic shapes data set \(NOT CIFAR-10\)/);
          assert.match(html, new RegExp(`cifar-10-${version}\\.tar\\.gz`));
        },
      });
      // Extracted once into the copy's data/ folder, with the marker naming the archive.
      const folder = version === "binary" ? "cifar-10-batches-bin" : "cifar-10-batches-py";
      const marker = JSON.parse(
        await Deno.readTextFile(join(repo, "data", folder, ".extracted.json")),
      );
      assert.equal(marker.archivePath, await Deno.realPath(archive));
      assert.equal(marker.version, version);
    });
  });
}

Deno.test("every command answers an archive that is not CIFAR-10 in one line, naming it", async (t) => {
  await withTempDir(async (dir) => {
    const repo = await copyProject(dir);
    const bad = join(dir, "photos.tar.gz");
    await Deno.writeFile(
      bad,
      await gzip(writeTar([{ name: "holiday/cat.jpg", data: new Uint8Array(10) }])),
    );
    const expected =
      /^[a-z/.: ]*Cannot use archive ".*photos\.tar\.gz": it holds no "cifar-10-batches-bin\/" folder \(binary version\) or "cifar-10-batches-py\/" folder \(Python version\) \(first entries: holiday\/cat\.jpg\)$/m;
    for (const command of COMMANDS) {
      await t.step(command.name, async () => {
        const { code, text } = await run(repo, command.script, command.args(bad, dir));
        assert.notEqual(code, 0, text);
        assert.match(text, expected);
        assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
      });
    }
    await t.step("deno task bench:revisions (before it makes a worktree)", async () => {
      const { code, text } = await run(repo, "bench/revisions.ts", [
        "--baseline",
        "HEAD",
        "--data",
        bad,
      ]);
      assert.notEqual(code, 0, text);
      assert.match(text, expected);
      assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
    });
    await t.step(
      "bench/ours.ts (fed a folder by the bench) says where an archive goes",
      async () => {
        const { code, text } = await run(repo, "bench/ours.ts", ["--data", bad]);
        assert.equal(code, 1, text);
        assert.match(
          text,
          /^bench\/ours\.ts: Cannot read CIFAR-10 batch "data_batch_1\.bin": .*give an archive or the Python version to deno task bench --data/m,
        );
        assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
      },
    );
  });
});
