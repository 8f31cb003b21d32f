/**
 * The tutorial notebook: committed clean, and executed headless with the Deno kernel on tiny
 * settings (synthetic data; the real CIFAR-10 copy when present), checking that every section shows
 * what it must and that a failing cell fails the run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ensureDenoKernel,
  executeNotebook,
  findJupyter,
  notebookLeftovers,
  PROJECT_ROOT,
} from "../scripts/_jupyter.ts";
import { CIFAR10_CLASSES } from "../lib/data.ts";

const NOTEBOOK = join(PROJECT_ROOT, "notebooks", "cifar10_cnn.ipynb");
const NOTEBOOK_DIR = join(PROJECT_ROOT, "notebooks");
const REAL_ARCHIVE = "/work/shared/datasets/cifar10-jpeg/cifar-10-binary.tar.gz";

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

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(PROJECT_ROOT);
const noJupyter = jupyter === null;

/** Runs a notebook on tiny settings; returns the result and the executed notebook. */
async function run(
  input: string,
  env: Record<string, string>,
): Promise<{ result: Awaited<ReturnType<typeof executeNotebook>>; notebook: Notebook }> {
  const dir = await Deno.makeTempDir({ prefix: "cifar10-notebook-test-" });
  try {
    const output = join(dir, "executed.ipynb");
    const result = await executeNotebook(input, output, {
      cwd: NOTEBOOK_DIR,
      env: { ...kernel!.env, CIFAR10_OUT_DIR: join(dir, "runs"), ...env },
      python: jupyter!.python,
      kernelName: kernel!.kernelName,
      cellTimeoutS: 600,
    });
    return { result, notebook: await readNotebook(output) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
  assert.match(source("parameters"), /configOverridesFromEnv/);
});

Deno.test({
  name: "the notebook runs headless on synthetic data and every section shows its output",
  ignore: noJupyter,
  async fn() {
    const { result, notebook } = await run(NOTEBOOK, { ...TINY, CIFAR10_SYNTHETIC: "true" });
    assert.equal(result.error, null, JSON.stringify(result.error));
    assert.equal(result.ok, true);
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
  },
});

Deno.test({
  name: "a failing cell fails the headless run and stops the cells after it",
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
  name: "without a data copy the first data cell stops with the data module's message",
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

const realCopy = await exists(REAL_ARCHIVE);

Deno.test({
  name: "the notebook runs headless on the real CIFAR-10 copy (tiny limit)",
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
    assert.match(
      data(cell(notebook, "load-data"), "text/html")[0]!,
      /CIFAR-10: 300 training and 100 test images/,
    );
    for (const name of CIFAR10_CLASSES) {
      assert.match(printed(cell(notebook, "test")), new RegExp(`Test Accuracy of +${name}: `));
    }
    assert.match(printed(cell(notebook, "train")), /^Epoch: 1 \tTraining Loss: /m);
    assert.equal(data(cell(notebook, "grid"), "image/png").length, 1);
    assert.equal(data(cell(notebook, "visualise"), "image/png").length, 1);
  },
});
