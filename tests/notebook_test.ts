/**
 * The tutorial notebook: committed clean, and executed headless with the Deno kernel on tiny
 * settings (synthetic data; the real CIFAR-10 copy when present), checking that every section shows
 * what it must and that a failing cell fails the run.
 */
import { isFile } from "../lib/core/fs.ts";
import { displayPath } from "../lib/core/paths.ts";
import assert from "node:assert/strict";
import { REAL_ARCHIVE } from "./_real_data.ts";
import { hasWebgpuAdapter, skipName } from "./_util.ts";
import { join, relative } from "node:path";
import {
  ensureDenoKernel,
  executeNotebook,
  findJupyter,
  notebookLeftovers,
  PROJECT_ROOT,
} from "../scripts/_jupyter.ts";
import { CIFAR10_CLASSES } from "../lib/data/format.ts";
import { makeConfig } from "../lib/core/config.ts";
import { listRuns, type RunEntry, startRunRecord } from "../lib/runs/mod.ts";
import { resumeEnv } from "../scripts/notebook.ts";

const INSIDE_NOTEBOOK = join(PROJECT_ROOT, "notebooks", "inside_the_network.ipynb");
const NOTEBOOK = join(PROJECT_ROOT, "notebooks", "cifar10_cnn.ipynb");
const NOTEBOOK_DIR = join(PROJECT_ROOT, "notebooks");
const IDEAS_NOTEBOOK = join(PROJECT_ROOT, "notebooks", "improve_the_model.ipynb");
const COMPARE_NOTEBOOK = join(PROJECT_ROOT, "notebooks", "compare_runs.ipynb");

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  id: string;
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: Output[];
}
interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
}

const joined = (value: string | string[] | undefined): string =>
  Array.isArray(value) ? value.join("") : value ?? "";

async function readNotebook(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path)) as Notebook;
}

function cell(notebook: Notebook, id: string): Cell {
  const found = notebook.cells.find((c) => c.id === id);
  assert.ok(found, `the notebook has no cell with id "${id}"`);
  return found;
}

/** All outputs of a cell with the given MIME type, as text. */
function data(c: Cell, mime: string): string[] {
  return (c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined).map((o) =>
    joined(o.data![mime])
  );
}

function printed(c: Cell): string {
  return (c.outputs ?? []).filter((o) => o.output_type === "stream" && o.name === "stdout")
    .map((o) => joined(o.text)).join("");
}

/** Width and height of a base64 PNG, from its IHDR chunk. */
function pngSize(base64: string): { width: number; height: number } {
  const bytes = Uint8Array.from(
    atob(base64.replace(/\s/g, "").slice(0, 64)),
    (c) => c.charCodeAt(0),
  );
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "not a PNG");
  const view = new DataView(bytes.buffer);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(PROJECT_ROOT);
const noJupyter = jupyter === null;

/** Whether `name --version` runs here. */
function runsCommand(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** What `run` returns. */
interface Executed {
  result: Awaited<ReturnType<typeof executeNotebook>>;
  notebook: Notebook;
  /** The run records the notebook left in its runs folder. */
  runs: RunEntry[];
}

/**
 * Runs a notebook on tiny settings, its run records going to `runsDir` (by default a temporary
 * folder, removed afterwards: never the project's runs/); returns the result, the executed
 * notebook and the run records.
 */
async function run(
  input: string,
  env: Record<string, string>,
  options: { runsDir?: string; interrupt?: { cellId: string; after: string } } = {},
): Promise<Executed> {
  const dir = await Deno.makeTempDir({ prefix: "cifar10-notebook-test-" });
  try {
    const output = join(dir, "executed.ipynb");
    const runsDir = options.runsDir ?? join(dir, "runs");
    const result = await executeNotebook(input, output, {
      cwd: NOTEBOOK_DIR,
      env: { ...kernel!.env, CIFAR10_OUT_DIR: runsDir, ...env },
      python: jupyter!.python,
      kernelName: kernel!.kernelName,
      cellTimeoutS: 600,
      interrupt: options.interrupt,
    });
    const runs = await listRuns(runsDir).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    });
    return { result, notebook: await readNotebook(output), runs };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The printed lines of a cell, without empty ones. */
function printedLines(c: Cell): string[] {
  return printed(c).split("\n").filter((l) => l !== "");
}

const TINY = {
  CIFAR10_EPOCHS: "2",
  CIFAR10_TRAIN_LIMIT: "300",
  CIFAR10_TEST_LIMIT: "100",
  CIFAR10_BACKEND: "auto",
};

Deno.test("every notebook is committed without outputs or execution counts", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(NOTEBOOK_DIR)) {
    if (entry.isFile && entry.name.endsWith(".ipynb")) names.push(entry.name);
  }
  assert.ok(names.includes("cifar10_cnn.ipynb"));
  for (const name of names.sort()) {
    const notebook = await readNotebook(join(NOTEBOOK_DIR, name));
    assert.deepEqual(notebookLeftovers(notebook), [], name);
    assert.equal((notebook.metadata.kernelspec as { name?: string })?.name, "deno", name);
  }
});

// `deno fmt --check` on .ipynb paths misreports formatted notebooks in Deno 2.9.6 (it flags them
// with an empty diff, while `deno fmt` leaves them unchanged), so notebooks are excluded from the
// fmt task and checked here through the formatter's stdin mode, which is exact.
Deno.test("every notebook's code is formatted as deno fmt formats it", async () => {
  for await (const entry of Deno.readDir(NOTEBOOK_DIR)) {
    if (!entry.isFile || !entry.name.endsWith(".ipynb")) continue;
    const path = join(NOTEBOOK_DIR, entry.name);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--ext", "ipynb", "-"],
      cwd: PROJECT_ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(await Deno.readFile(path));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.ok(
      new TextDecoder().decode(stdout) === await Deno.readTextFile(path),
      `${entry.name} is not formatted: run \`deno fmt --ext ipynb - < ${path}\` or \`deno fmt ${path}\``,
    );
  }
});

Deno.test("notebookLeftovers() names each cell with outputs or an execution count", () => {
  const problems = notebookLeftovers({
    cells: [
      { cell_type: "markdown", source: "x" },
      { cell_type: "code", execution_count: 4, outputs: [] },
      { cell_type: "code", execution_count: null, outputs: [{ output_type: "stream" }] },
      { cell_type: "code", execution_count: null, outputs: [] },
    ],
  });
  assert.deepEqual(problems, ["cell 1: execution_count is 4", "cell 2: has 1 output(s)"]);
});

Deno.test("the notebooks' code cells stay short: plumbing lives in lib/, the loop stays visible", async () => {
  const long: string[] = [];
  for (
    const name of [
      "cifar10_cnn.ipynb",
      "compare_runs.ipynb",
      "your_images.ipynb",
      "inside_the_network.ipynb",
      "improve_the_model.ipynb",
    ]
  ) {
    const notebook = await readNotebook(new URL(`../notebooks/${name}`, import.meta.url).pathname);
    for (const c of notebook.cells.filter((c) => c.cell_type === "code")) {
      let code = joined(c.source);
      // The two exceptions: the import list (one name per line as deno fmt writes it) and the
      // parameters cell's settings literal, which is meant to be read and edited in full.
      code = code.replace(/^import [^;]*;\n?/gm, "");
      code = code.replace(/^const parameters = \{[\s\S]*?^\};\n/m, "");
      const lines = code.trimEnd().split("\n").length;
      if (lines > 15) long.push(`${name} cell ${c.id}: ${lines} lines`);
    }
  }
  assert.deepEqual(long, []);
  // Section 9 shows the epoch loop itself, with recording and display passed in as callbacks.
  const train = joined(cell(await readNotebook(NOTEBOOK), "train").source);
  for (
    const step of ["trainEpoch(epoch)", "validate(epoch, trained)", "mustStop(", "saveIfBetter("]
  ) {
    assert.ok(train.includes(step), `the training cell should call ${step}`);
  }
  for (const callback of ["onBatch", "onEpoch", "onSave"]) {
    assert.match(train, new RegExp(`^  ${callback}: monitor\\.${callback},`, "m"));
  }
});

Deno.test("cifar10_cnn.ipynb follows the tutorial's 13 sections in order", async () => {
  const notebook = await readNotebook(NOTEBOOK);
  const headings = notebook.cells.filter((c) => c.cell_type === "markdown")
    .map((c) => /^## (\d+)\. /m.exec(joined(c.source))?.[1]).filter((n) => n !== undefined)
    .map(Number);
  assert.deepEqual(headings, Array.from({ length: 13 }, (_, i) => i + 1));
  // Each section that runs code is followed by a code cell before the next heading.
  const source = (id: string) => joined(cell(notebook, id).source);
  assert.match(source("parameters"), /epochs: 60,/);
  for (
    const knob of [
      "learningRate",
      "optimizer",
      "batchSize",
      "dropout",
      "convChannels",
      "flipProbability",
      "rotationDegrees",
      "seed",
      "validFraction",
      "backend",
      "dataPath",
      "trainLimit",
      "synthetic",
    ]
  ) {
    assert.match(source("parameters"), new RegExp(`\\b${knob}:`), `parameters cell lacks ${knob}`);
  }
  // CIFAR10_* variables and CIFAR10_RESUME override the cell (tests/runs/setup_test.ts).
  assert.match(
    source("parameters"),
    /setUpRun\(parameters, \{ resume: resumeRun, env, projectDir: "\.\." \}\)/,
  );
  assert.match(source("parameters"), /^const env = Deno\.env\.toObject\(\);$/m);
  // Committed to start a new run; the cells import the library through lib/mod.ts only.
  assert.match(source("parameters"), /^const resumeRun: string \| null = null;/m);
  assert.deepEqual(
    [...source("imports").matchAll(/from "([^"]+)"/g)].map((m) => m[1]),
    ["../lib/mod.ts"],
  );
});

Deno.test("resumeEnv() points the notebook at a stopped run and keeps its planned epochs", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "cifar10-notebook-resume-env-" });
  try {
    const env = { CIFAR10_OUT_DIR: outDir };
    await assert.rejects(
      () => resumeEnv("latest", {}, env),
      (error: Error) =>
        error instanceof Deno.errors.NotFound && error.message.startsWith("No runs yet under"),
    );
    const run = await startRunRecord(makeConfig({ epochs: 3, synthetic: true }), {
      backend: { name: "cpu", device: "JavaScript", reason: "test" },
      source: {
        kind: "synthetic",
        path: "memory",
        checksum: "unchecked",
        md5: null,
        synthetic: true,
        description: "Synthetic",
      },
      outDir,
    });
    await run.finish("interrupted");
    // What resuming checks cheaply: the last checkpoint names its completed epoch.
    await Deno.mkdir(run.lastCheckpointDir);
    await Deno.writeTextFile(
      join(run.lastCheckpointDir, "model.json"),
      JSON.stringify({ userDefinedMetadata: { metadata: { epoch: 1 } } }),
    );
    assert.deepEqual(await resumeEnv("latest", {}, env), {
      CIFAR10_RESUME: run.dir,
      CIFAR10_EPOCHS: "3",
    });
    assert.deepEqual(await resumeEnv(run.dir, { epochs: 5 }, {}), {
      CIFAR10_RESUME: run.dir,
      CIFAR10_EPOCHS: "5",
    });
    assert.equal(
      (await resumeEnv("latest", {}, { ...env, CIFAR10_EPOCHS: "4" })).CIFAR10_EPOCHS,
      "4",
    );
    await assert.rejects(
      () => resumeEnv("latest", { learningRate: 0.1, dropout: 0.5 }, env),
      new RangeError(
        "Cannot use --learning-rate, --dropout with --resume: a resumed run keeps its own settings; " +
          "only --epochs and --out apply",
      ),
    );
    await assert.rejects(
      () => resumeEnv("latest", { epochs: 1 }, env),
      /has completed 1 of 1 epochs; pass more epochs/,
    );
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test({
  name: skipName(
    "the notebook runs headless on synthetic data and every section shows its output",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const { result, notebook, runs } = await run(NOTEBOOK, { ...TINY, CIFAR10_SYNTHETIC: "true" });
    assert.equal(result.error, null, JSON.stringify(result.error));
    assert.equal(result.ok, true);
    assert.equal(result.interrupted, false);
    const errors = notebook.cells.flatMap((c) => c.outputs ?? []).filter((o) =>
      o.output_type === "error"
    );
    assert.deepEqual(errors, []);

    assert.match(
      data(cell(notebook, "parameters"), "text/html")[0]!,
      /<td[^>]*>epochs<\/td><td[^>]*>2<\/td>/,
    );
    const loaded = data(cell(notebook, "load-data"), "text/html")[0]!;
    assert.match(loaded, /SYNTHETIC shapes \(not CIFAR-10\): 300 training and 100 test images/);
    assert.match(data(cell(notebook, "backend"), "text/html")[0]!, /Training on the (CPU|GPU)/);

    const trainGrid = data(cell(notebook, "grid"), "image/png");
    assert.equal(trainGrid.length, 1);
    const gridSize = pngSize(trainGrid[0]!);
    assert.ok(gridSize.width >= 10 * 96 && gridSize.height >= 2 * 96, JSON.stringify(gridSize));

    const summary = data(cell(notebook, "model"), "text/html")[0]!;
    assert.equal((summary.match(/<tr>/g) ?? []).length, 1 + 12, "header + 11 layers + total");
    assert.match(summary, /4,198,950 parameters/);

    const train = cell(notebook, "train");
    const bar = data(train, "text/html").filter((h) => h.includes("cifar10-progress"));
    assert.equal(bar.length, 1);
    assert.match(bar[0]!, /data-fraction="1"/, "the progress bar ends full");
    const live = data(train, "image/svg+xml");
    assert.equal(live.length, 1);
    assert.equal((live[0]!.match(/<circle/g) ?? []).length, 4, "2 epochs × (training, validation)");
    const lines = printed(train).split("\n").filter((l) => l !== "");
    assert.equal(
      lines.filter((l) =>
        /^Epoch: \d+ \tTraining Loss: \d+\.\d{6} \tValidation Loss: \d+\.\d{6}$/.test(l)
      ).length,
      2,
      lines.join("\n"),
    );
    assert.match(lines[0]!, /^Epoch: 1 /);
    assert.match(
      lines[1]!,
      /^Validation loss decreased \(inf --> \d+\.\d{6}\)\. {2}Saving model \.\.\.$/,
    );

    const curves = data(cell(notebook, "plot"), "image/svg+xml");
    assert.equal(curves.length, 1);
    assert.match(curves[0]!, /best: epoch [12], validation loss \d\.\d{3}/);
    assert.match(curves[0]!, /Training and validation loss — SYNTHETIC/);
    assert.equal(
      data(cell(notebook, "plot"), "text/html")[0],
      curves[0],
      "HTML twin for nbconvert",
    );

    const test = cell(notebook, "test");
    const report = printed(test);
    assert.match(report, /^Test results on 100 test images of SYNTHETIC shapes \(not CIFAR-10\)$/m);
    assert.match(report, /^Test Loss: \d+\.\d{6}$/m);
    assert.equal(
      (report.match(/^Test Accuracy of .+: ( ?\d+% \(\s*\d+\/\s*\d+\)|N\/A.*)$/gm) ?? []).length,
      10,
    );
    assert.match(report, /^Test Accuracy \(Overall\): +\d+% \( ?\d+\/100\)$/m);
    assert.match(data(test, "text/html").at(-1)!, /Test accuracy per class — SYNTHETIC/);

    const charts = data(cell(notebook, "test-charts"), "image/svg+xml");
    assert.equal(charts.length, 2);
    assert.match(charts[0]!, /Test accuracy per class — SYNTHETIC/);
    assert.match(charts[1]!, /Confusion matrix \(test images\) — SYNTHETIC/);
    assert.equal((charts[1]!.match(/<rect/g) ?? []).length, 100, "10 × 10 cells");

    const results = data(cell(notebook, "visualise"), "image/png");
    assert.equal(results.length, 1);
    assert.ok(pngSize(results[0]!).width > 0);

    // The run is recorded in CIFAR10_OUT_DIR, with its test report and best model.
    assert.equal(runs.length, 1);
    const record = runs[0]!.record;
    assert.equal(record.status, "completed");
    assert.deepEqual(record.epochs.map((e) => e.epoch), [1, 2]);
    assert.equal(record.config.epochs, 2);
    assert.equal(record.data.kind, "synthetic");
    assert.deepEqual([record.data.trainImages, record.data.validImages], [240, 60]);
    assert.equal(record.model?.parameters, 4_198_950);
    // `bestCheckpoint` is set only once best-model/model.json exists.
    assert.equal(record.bestCheckpoint, "best-model");
    assert.equal(record.test?.total, 100);
    assert.equal(record.test?.epoch, record.bestEpoch);
    assert.match(report, new RegExp(`\\(\\s*${record.test!.correct}/100\\)$`, "m"));
    assert.equal(
      lines.at(-1),
      // Outside the project (a temporary folder): in full, or ~/… under HOME.
      `Run record and best model: ${displayPath(runs[0]!.dir)}/`,
    );
  },
});

Deno.test({
  name: skipName(
    "Kernel → Interrupt stops training after a batch, the kernel lives on, and resumeRun continues",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    // Inside the project (its git-ignored out/), so the outputs must show it relative to it.
    await Deno.mkdir(join(PROJECT_ROOT, "out"), { recursive: true });
    const runsDir = await Deno.makeTempDir({
      dir: join(PROJECT_ROOT, "out"),
      prefix: "cifar10-notebook-resume-",
    });
    try {
      // 24 training batches an epoch: the interrupt lands inside epoch 2.
      const env = {
        ...TINY,
        CIFAR10_SYNTHETIC: "true",
        CIFAR10_EPOCHS: "3",
        CIFAR10_TRAIN_LIMIT: "900",
      };
      const first = await run(NOTEBOOK, env, {
        runsDir,
        interrupt: { cellId: "train", after: "Epoch: 1 " },
      });
      assert.equal(first.result.error, null, JSON.stringify(first.result.error));
      assert.equal(first.result.interrupted, true);
      assert.equal(first.runs.length, 1);
      const stopped = first.runs[0]!.record;
      assert.equal(stopped.status, "interrupted");
      assert.deepEqual(stopped.epochs.map((e) => e.epoch), [1]);
      const lines = printedLines(cell(first.notebook, "train"));
      assert.match(lines[0]!, /^Epoch: 1 \t/);
      assert.ok(
        lines.some((l) =>
          /^Training stopped by request during epoch 2 \(after \d+ training batches\)/.test(l)
        ),
        lines.join("\n"),
      );
      assert.equal(lines.at(-1), `To continue this run: resumeRun = "${stopped.id}"`);
      const bar = data(cell(first.notebook, "train"), "text/html").find((h) =>
        h.includes("cifar10-progress")
      )!;
      assert.doesNotMatch(bar, /data-fraction="1"/, "the bar stays where training stopped");
      assert.match(bar, /interrupted/);
      // The kernel lived on: the cells after training ran, on the best model so far.
      assert.match(printed(cell(first.notebook, "test")), /^Test Accuracy \(Overall\): /m);
      assert.equal(stopped.test?.epoch, 1);

      const second = await run(NOTEBOOK, { ...env, CIFAR10_RESUME: "latest" }, { runsDir });
      assert.equal(second.result.error, null, JSON.stringify(second.result.error));
      // Paths in outputs are relative to the project: nothing names this machine's folders.
      const shownRunsDir = relative(PROJECT_ROOT, runsDir);
      assert.ok(
        data(cell(second.notebook, "parameters"), "text/html")[0]!.includes(
          `Settings of the resumed run (${shownRunsDir}/${stopped.id})`,
        ),
      );
      assert.ok(lines.includes(`Run record and best model: ${shownRunsDir}/${stopped.id}/`));
      for (const notebook of [first.notebook, second.notebook]) {
        const outputs = JSON.stringify(notebook.cells.map((c) => c.outputs ?? []));
        assert.ok(!outputs.includes(PROJECT_ROOT), `an output names ${PROJECT_ROOT}`);
      }
      const resumed = printedLines(cell(second.notebook, "train"));
      assert.deepEqual(
        resumed.filter((l) => l.startsWith("Epoch: ")).map((l) => l.split(" \t")[0]),
        ["Epoch: 2", "Epoch: 3"],
      );
      const live = data(cell(second.notebook, "train"), "image/svg+xml")[0]!;
      assert.equal((live.match(/<circle/g) ?? []).length, 6, "epoch 1 from the record + 2 new");
      // One form across the resume: the training-loss line has each epoch's ten tenths, epoch 1's
      // read back from the run record.
      const line = /class="running-loss"[^]*?<path[^>]* d="([^"]+)"/.exec(live)?.[1] ?? "";
      assert.equal(line.match(/[ML]/g)?.length, 30, line);
      assert.equal(second.runs.length, 1, "the same run folder, no new run");
      const done = second.runs[0]!.record;
      assert.equal(done.id, stopped.id);
      assert.equal(done.status, "completed");
      assert.deepEqual(done.epochs.map((e) => e.epoch), [1, 2, 3]);
      assert.deepEqual(done.segments.map((s) => [s.fromEpoch, s.status]), [
        [1, "interrupted"],
        [2, "completed"],
      ]);
      assert.equal(done.test?.total, 100);
      assert.match(
        data(cell(second.notebook, "plot"), "image/svg+xml")[0]!,
        new RegExp(`best: epoch ${done.bestEpoch}, validation loss`),
      );
    } finally {
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "inside_the_network.ipynb shows a trained run's filters, feature maps, mistakes, saliency",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const runsDir = await Deno.makeTempDir({ prefix: "cifar10-inside-runs-" });
    try {
      // A tiny real training run (synthetic shapes, one epoch), as `deno task train` leaves it.
      const train = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../scripts/train.ts", import.meta.url).pathname, "--synthetic"]
          .concat(["--epochs", "1", "--train-limit", "200", "--test-limit", "40"])
          .concat(["--conv-channels", "8,16", "--hidden-units", "16", "--out", runsDir]),
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(train.success, new TextDecoder().decode(train.stderr));
      const { result, notebook } = await run(INSIDE_NOTEBOOK, { CIFAR10_TEST_LIMIT: "40" }, {
        runsDir,
      });
      assert.equal(result.error, null, JSON.stringify(result.error));
      assert.equal(result.ok, true);
      const pictures = (id: string) => data(cell(notebook, id), "image/png").length;
      assert.match(
        printed(cell(notebook, "inside-03")) + data(cell(notebook, "inside-03"), "text/html")[0],
        /SYNTHETIC|synthetic/,
      );
      assert.equal(pictures("inside-07"), 1, "the first layer's filters");
      assert.equal(pictures("inside-09"), 1, "the chosen test image");
      assert.equal(pictures("inside-09b"), 2, "one grid per convolution (8 and 16 channels)");
      assert.equal(pictures("inside-11"), 1, "the confident mistakes");
      assert.equal(pictures("inside-13"), 1, "the saliency overlays");
      assert.match(data(cell(notebook, "inside-05"), "text/html")[0]!, /40 test images classified/);
    } finally {
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

const webgpuAdapter = await hasWebgpuAdapter();

Deno.test({
  name: skipName(
    "the notebook runs headless on webgpu (CIFAR10_BACKEND=webgpu), on a software adapter too",
    noJupyter || !webgpuAdapter,
    "no Jupyter with nbconvert (run ./run setup), or no WebGPU adapter (sudo apt-get install mesa-vulkan-drivers libvulkan1)",
  ),
  ignore: noJupyter || !webgpuAdapter,
  async fn() {
    // Batch 4 on 40 images: on llvmpipe a step of the tutorial's model at batch 30 takes ~19 s.
    const { result, notebook, runs } = await run(NOTEBOOK, {
      ...TINY,
      CIFAR10_SYNTHETIC: "true",
      CIFAR10_BACKEND: "webgpu",
      CIFAR10_EPOCHS: "1",
      CIFAR10_BATCH_SIZE: "4",
      CIFAR10_TRAIN_LIMIT: "40",
      CIFAR10_TEST_LIMIT: "20",
    });
    assert.equal(result.error, null, JSON.stringify(result.error));
    assert.equal(result.ok, true);
    const backend = cell(notebook, "backend");
    assert.match(data(backend, "text/html")[0]!, /Training on the (CPU|GPU)<\/b>: webgpu \(/);
    const warnings = (backend.outputs ?? []).filter((o) => o.name === "stderr")
      .map((o) => joined(o.text)).join("");
    if (/software WebGPU adapter/.test(data(backend, "text/html")[0]!)) {
      assert.match(warnings, /Warning: webgpu runs on a software adapter/);
    }
    assert.match(printed(cell(notebook, "test")), /Test Accuracy \(Overall\): /);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.record.status, "completed");
  },
});

Deno.test({
  name: skipName(
    "a failing cell fails the headless run and stops the cells after it",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cifar10-notebook-fail-" });
    try {
      const notebook = await readNotebook(NOTEBOOK);
      const at = notebook.cells.findIndex((c) => c.id === "parameters") + 1;
      notebook.cells.splice(at, 0, {
        id: "injected-failure",
        cell_type: "code",
        source: 'throw new RangeError("injected failure");',
        execution_count: null,
        outputs: [],
        metadata: {},
      } as Cell);
      const input = join(dir, "failing.ipynb");
      await Deno.writeTextFile(input, JSON.stringify(notebook));
      const { result, notebook: executed } = await run(input, {
        ...TINY,
        CIFAR10_SYNTHETIC: "true",
      });
      assert.equal(result.ok, false);
      assert.deepEqual(result.error, {
        cellIndex: at,
        ename: "RangeError",
        evalue: "injected failure",
      });
      const failed = executed.cells[at]!.outputs!.filter((o) => o.output_type === "error");
      assert.equal(failed.length, 1);
      assert.ok(executed.cells.slice(at + 1).every((c) => (c.outputs ?? []).length === 0));
      assert.ok((cell(executed, "parameters").outputs ?? []).length > 0, "cells before it ran");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "without a data copy the first data cell stops with the data module's message",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const missing = join(await Deno.makeTempDir(), "no-such-cifar10");
    const { result, notebook } = await run(NOTEBOOK, { ...TINY, CIFAR10_DATA: missing });
    assert.equal(result.ok, false);
    assert.equal(notebook.cells[result.error!.cellIndex]!.id, "load-data");
    assert.equal(result.error!.ename, "Error");
    assert.match(result.error!.evalue, /^Cannot find CIFAR-10 data at ".*no-such-cifar10"/);
  },
});

const realCopy = await isFile(REAL_ARCHIVE);

Deno.test({
  name: skipName(
    "the notebook runs headless on the real CIFAR-10 copy (tiny limit)",
    noJupyter || !realCopy,
    "no Jupyter with nbconvert (run ./run setup), or no real CIFAR-10 archive (CIFAR10_REAL_ARCHIVE)",
  ),
  ignore: noJupyter || !realCopy,
  async fn() {
    const { result, notebook } = await run(NOTEBOOK, {
      ...TINY,
      CIFAR10_EPOCHS: "1",
      CIFAR10_DATA: REAL_ARCHIVE,
    });
    assert.equal(result.error, null, JSON.stringify(result.error));
    const all = JSON.stringify(notebook.cells.map((c) => c.outputs ?? []));
    assert.doesNotMatch(all, /SYNTHETIC|not CIFAR-10/);
    // The shared copy is not the official archive: the cell says so in a notice box, not on
    // stderr (which Jupyter paints as an error), above the table of classes.
    const loadData = cell(notebook, "load-data");
    const [note, counts] = data(loadData, "text/html");
    assert.match(
      note!,
      /^<div class="cifar10-notice[^"]*" role="note"[^>]*>Notice: .* is not the official CIFAR-10 archive/,
    );
    assert.match(counts!, /CIFAR-10: 300 training and 100 test images/);
    assert.deepEqual((loadData.outputs ?? []).filter((o) => o.name === "stderr"), []);
    for (const name of CIFAR10_CLASSES) {
      assert.match(printed(cell(notebook, "test")), new RegExp(`Test Accuracy of +${name}: `));
    }
    assert.match(printed(cell(notebook, "train")), /^Epoch: 1 \tTraining Loss: /m);
    assert.equal(data(cell(notebook, "grid"), "image/png").length, 1);
    assert.equal(data(cell(notebook, "visualise"), "image/png").length, 1);
  },
});

Deno.test("./run notebook with a bad CIFAR10_* value fails at once and leaves out/ alone", async () => {
  const out = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${out}/cifar10_cnn.html`, "the previous good export");
    const envs: Record<string, string>[] = [{ CIFAR10_EPOCHS: "abc" }, { CIFAR10_EPOCH: "1" }];
    for (const env of envs) {
      const started = performance.now();
      const result = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../scripts/notebook.ts", import.meta.url).pathname,
          "--output",
          out,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.success, false);
      assert.match(stderr, new RegExp(Object.keys(env)[0]!));
      assert.ok(performance.now() - started < 10_000, "checked before a kernel starts");
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), ["cifar10_cnn.html"]);
      assert.equal(await Deno.readTextFile(`${out}/cifar10_cnn.html`), "the previous good export");
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test({
  name: skipName(
    "a cell that runs out of time is reported like a failing cell, with the notebook so far",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cifar10-notebook-timeout-" });
    try {
      const code = (id: string, source: string) => ({
        id,
        cell_type: "code",
        source,
        execution_count: null,
        outputs: [],
        metadata: {},
      });
      await Deno.writeTextFile(
        join(dir, "slow.ipynb"),
        JSON.stringify({
          nbformat: 4,
          nbformat_minor: 5,
          metadata: {},
          cells: [
            code("first", 'console.log("before the slow cell");'),
            code("slow", "await new Promise((done) => setTimeout(done, 60_000));"),
            code("never", 'console.log("after");'),
          ],
        }),
      );
      const output = join(dir, "executed.ipynb");
      const result = await executeNotebook(join(dir, "slow.ipynb"), output, {
        cwd: dir,
        env: kernel!.env,
        python: jupyter!.python,
        kernelName: kernel!.kernelName,
        cellTimeoutS: 3,
      });
      assert.equal(result.ok, false);
      assert.equal(result.error?.ename, "CellTimeoutError");
      assert.equal(result.error?.cellIndex, 1, "the slow cell");
      assert.match(result.error!.evalue, /timed out/);
      const executed = await readNotebook(output);
      assert.match(JSON.stringify(cell(executed, "first").outputs), /before the slow cell/);
      assert.deepEqual(cell(executed, "never").outputs, [], "nothing after the slow cell ran");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "deno task notebook replaces out/ only after a successful run; a failed run says where it is",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cifar10-notebook-atomic-" });
    try {
      const out = join(dir, "out");
      await Deno.mkdir(out);
      await Deno.writeTextFile(join(out, "tiny.ipynb"), "the previous good notebook");
      await Deno.writeTextFile(join(out, "tiny.html"), "the previous good export");
      const write = (source: string) =>
        Deno.writeTextFile(
          join(dir, "tiny.ipynb"),
          JSON.stringify({
            nbformat: 4,
            nbformat_minor: 5,
            metadata: {},
            cells: [{
              id: "only",
              cell_type: "code",
              source,
              execution_count: null,
              outputs: [],
              metadata: {},
            }],
          }),
        );
      const runCli = async () => {
        const output = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../scripts/notebook.ts", import.meta.url).pathname,
            "--notebook",
            join(dir, "tiny.ipynb"),
            "--output",
            out,
            "--quiet",
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { ok: output.success, stderr: new TextDecoder().decode(output.stderr) };
      };
      await write('throw new RangeError("injected failure");');
      const failed = await runCli();
      assert.equal(failed.ok, false);
      assert.match(
        failed.stderr,
        /the failed notebook \(with the error\) is in .*tiny\.failed\.ipynb/,
      );
      assert.equal(await Deno.readTextFile(join(out, "tiny.ipynb")), "the previous good notebook");
      assert.equal(await Deno.readTextFile(join(out, "tiny.html")), "the previous good export");
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
        "tiny.failed.html",
        "tiny.failed.ipynb",
        "tiny.html",
        "tiny.ipynb",
      ]);
      await write('console.log("fine");');
      const succeeded = await runCli();
      assert.equal(succeeded.ok, true, succeeded.stderr);
      assert.match(await Deno.readTextFile(join(out, "tiny.ipynb")), /fine/);
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
        "tiny.html",
        "tiny.ipynb",
      ]);
      // The page is titled after the notebook, not after a temporary file.
      assert.match(await Deno.readTextFile(join(out, "tiny.html")), /<title>tiny<\/title>/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "Ctrl-C on deno task notebook stops training at a batch boundary, keeps the notebook so far and says how to resume",
    noJupyter || !runsCommand("setsid"),
    "no Jupyter with nbconvert (run ./run setup), or no setsid (util-linux)",
  ),
  ignore: noJupyter || !runsCommand("setsid"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cifar10-notebook-sigint-" });
    try {
      const out = join(dir, "out"), runs = join(dir, "runs");
      await Deno.mkdir(out);
      await Deno.writeTextFile(join(out, "cifar10_cnn.html"), "the previous good export");
      const flags = ["--synthetic", "--train-limit", "300", "--test-limit", "100"];
      // setsid: a process group of its own, as a terminal gives a command; Ctrl-C is SIGINT to
      // that whole group (this Deno, the nbclient driver), not to one process.
      const child = new Deno.Command("setsid", {
        args: [
          Deno.execPath(),
          "run",
          "-A",
          join(PROJECT_ROOT, "scripts", "notebook.ts"),
          ...flags,
          "--epochs",
          "300",
          "--output",
          out,
          "--out",
          runs,
        ],
        cwd: PROJECT_ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const decoder = new TextDecoder();
      let stderr = "";
      const reader = child.stderr.getReader();
      while (!stderr.includes("Epoch: 2 ")) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += decoder.decode(value, { stream: true });
      }
      const group = await new Deno.Command("kill", { args: ["-INT", "--", `-${child.pid}`] })
        .output();
      assert.ok(group.success, "SIGINT to the process group");
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        stderr += decoder.decode(chunk.value, { stream: true });
      }
      const status = await child.status;
      await child.stdout.cancel();
      assert.equal(status.code, 130, stderr);
      assert.doesNotMatch(stderr, /Traceback|DeadKernelError|AssertionError/);
      assert.match(stderr, /Training stopped by request during epoch \d+/);
      // One line: where the notebook is, and the command that continues the run.
      const [line] = stderr.split("\n").filter((l) => l.startsWith("[notebook] stopped by Ctrl-C"));
      assert.ok(line, stderr);
      assert.match(line, /the notebook so far is in .*out\/cifar10_cnn\.failed\.ipynb/);
      assert.match(line, /continue the training with: \.\/run notebook --resume latest --output /);
      // Nothing temporary is left; the previous export is untouched.
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
        "cifar10_cnn.failed.html",
        "cifar10_cnn.failed.ipynb",
        "cifar10_cnn.html",
      ]);
      assert.equal(
        await Deno.readTextFile(join(out, "cifar10_cnn.html")),
        "the previous good export",
      );
      // The notebook so far: training ran and stopped; no cell after it ran.
      const failed = await readNotebook(join(out, "cifar10_cnn.failed.ipynb"));
      assert.match(printed(cell(failed, "train")), /Training stopped by request/);
      assert.deepEqual(cell(failed, "test").outputs ?? [], []);
      const [entry] = await listRuns(runs);
      assert.equal(entry?.record.status, "interrupted");
      const done = entry!.record.epochs.length;
      assert.ok(done >= 1 && done < 300, `${done} epochs`);
      // The printed command continues it (one more epoch here, to keep the test short).
      const resumed = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(PROJECT_ROOT, "scripts", "notebook.ts"),
          "--resume",
          "latest",
          "--epochs",
          String(done + 1),
          "--output",
          out,
          "--out",
          runs,
          "--quiet",
        ],
        cwd: PROJECT_ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(resumed.success, decoder.decode(resumed.stderr));
      const [after] = await listRuns(runs);
      assert.equal(after?.record.status, "completed");
      assert.equal(after?.record.epochs.length, done + 1);
      // The success supersedes the stopped run's files.
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
        "cifar10_cnn.html",
        "cifar10_cnn.ipynb",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "improve_the_model.ipynb runs every idea headless on a tiny sweep, and compare_runs.ipynb shows it",
    noJupyter,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: noJupyter,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cifar10-ideas-test-" });
    try {
      const runsDir = join(dir, "runs");
      const env = {
        CIFAR10_SYNTHETIC: "true",
        CIFAR10_EPOCHS: "1",
        CIFAR10_TRAIN_LIMIT: "150",
        CIFAR10_TEST_LIMIT: "40",
        CIFAR10_HIDDEN_UNITS: "16",
        CIFAR10_BACKEND: "wasm",
      };
      const { result, notebook } = await run(IDEAS_NOTEBOOK, env, { runsDir });
      assert.equal(result.error, null, JSON.stringify(result.error));
      const text = JSON.stringify(notebook.cells.map((c) => c.outputs ?? []));
      // The final table: every trial of the first stage, the class-weights trial, by loss.
      const tables = notebook.cells.flatMap((c) => data(c, "text/plain"));
      const final = tables.at(-1)!;
      for (
        const label of [
          "baseline",
          "learning rate 0.002",
          "twice the epochs",
          "no transforms",
          "5 convolutions (16,32,64,128,256)",
          "SGD, momentum 0.9, lr 0.01",
          "more images of the weak classes: class weights",
        ]
      ) {
        assert.ok(final.includes(label), `${label} in the final table:\n${final}`);
      }
      assert.match(final, /by best validation loss \(SYNTHETIC data, not CIFAR-10\)/);
      assert.match(text, /Class weights from the baseline's validation accuracy/);
      assert.match(text, /Validation loss: the learning rate/);
      assert.match(text, /sweep done/);
      const [sweepName] = (await Array.fromAsync(Deno.readDir(runsDir))).map((e) => e.name);
      assert.match(sweepName!, /^sweep-/);
      const record = JSON.parse(await Deno.readTextFile(join(runsDir, sweepName!, "sweep.json")));
      assert.ok(record.trials.length >= 15, `${record.trials.length} trials`);
      assert.ok(record.trials.every((t: { status: string }) => t.status === "completed"));

      // compare_runs.ipynb shows that sweep: its trials and its table.
      const compared = await run(COMPARE_NOTEBOOK, {
        CIFAR10_RUNS_DIR: runsDir,
        CIFAR10_SWEEP: "latest",
      }, { runsDir });
      assert.equal(compared.result.error, null, JSON.stringify(compared.result.error));
      const shown = compared.notebook.cells.flatMap((c) => data(c, "text/plain")).join("\n");
      assert.match(shown, new RegExp(`Sweep .*${sweepName}, by best validation loss`));
      assert.match(shown, new RegExp(`${record.trials.length} runs under .*${sweepName}`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
