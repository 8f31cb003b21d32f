/**
 * What docs/ publishes: the tutorial's full 60-epoch run (the executed notebook's HTML and its run
 * record) and the pages made from that run, and the README's results table, which must say what
 * the record says. A rerun that replaces the files without updating the README fails here.
 */
import assert from "node:assert/strict";
import type { RunRecord } from "../lib/runs/record.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const RUN = "cifar10_cnn-60-epochs";
const record: RunRecord = JSON.parse(await Deno.readTextFile(`${ROOT}docs/${RUN}.metrics.json`));
const readme = await Deno.readTextFile(`${ROOT}README.md`);

/** The README line of the results table that starts with `| label `. */
function row(label: string): string {
  const line = readme.split("\n").find((l) => l.startsWith(`| ${label} `));
  assert.ok(line !== undefined, `README has a results row "${label}"`);
  return line;
}

/** Whether a table row holds `text` as a whole cell value (spaces or bold around it). */
function holds(line: string, text: string): boolean {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`[ *]${escaped}[ *|]`).test(line);
}

const PAGES = [`${RUN}.html`, "compare_runs-60-epochs.html", "inside_the_network-60-epochs.html"];

Deno.test("the published run is the tutorial's full schedule, completed, seed 42, on the JPEG copy", () => {
  assert.equal(record.status, "completed");
  assert.equal(record.epochs.length, 60);
  assert.deepEqual(record.epochs.map((e) => e.epoch), Array.from({ length: 60 }, (_, i) => i + 1));
  const { config } = record;
  assert.deepEqual(
    [config.epochs, config.seed, config.batchSize, config.optimizer, config.learningRate],
    [60, 42, 30, "adam", 0.001],
  );
  assert.deepEqual([config.trainLimit, config.testLimit], [null, null], "all images");
  assert.equal(record.data.synthetic, false);
  // The JPEG-decoded copy, and said to be so: never presented as the official data set.
  assert.equal((record.data.source as { checksum?: string }).checksum, "unofficial");
  assert.equal(record.test?.total, 10000);
});

Deno.test("the published pages are self-contained HTML of a few MB at most", async () => {
  for (const name of PAGES) {
    const path = `${ROOT}docs/${name}`;
    const size = (await Deno.stat(path)).size;
    assert.ok(size < 5 * 1024 * 1024, `${name}: ${size} bytes`);
    const text = await Deno.readTextFile(path);
    assert.doesNotMatch(text, /<script[^>]+src="(https?:)?\/\//, `${name}: no remote script`);
    assert.doesNotMatch(text, /<link[^>]+href="(https?:)?\/\//, `${name}: no remote stylesheet`);
    assert.ok(readme.includes(`docs/${name}`), `the README links ${name}`);
    const notebook = name.replace(/-60-epochs\.html$/, "");
    assert.match(text, new RegExp(`<title>${notebook}</title>`), `${name}: titled ${notebook}`);
  }
  const html = await Deno.readTextFile(`${ROOT}docs/${RUN}.html`);
  assert.match(html, /Epoch: 60 /);
  const { correct, total } = record.test!;
  assert.ok(html.includes(`(${correct}/${total})`), "the notebook's test report is the record's");
});

Deno.test("the README's results table says what the published record says", () => {
  const test = record.test!;
  const expect = (label: string, text: string) =>
    assert.ok(holds(row(label), text), `README row "${label}" should hold ${text}: ${row(label)}`);
  expect("best epoch", String(record.bestEpoch));
  expect("its validation loss", record.bestValidLoss!.toFixed(3));
  expect("test loss", test.loss.toFixed(3));
  expect("test accuracy", `${(100 * test.accuracy).toFixed(1)}% (${test.correct}/${test.total})`);
  for (const c of test.perClass) expect(c.name, `${(100 * c.correct / c.total).toFixed(1)}%`);
  const perEpoch = record.epochs.map((e) => e.seconds).sort((a, b) => a - b);
  const median = (perEpoch[29]! + perEpoch[30]!) / 2;
  expect("time per epoch", `${median.toFixed(0)} s`);
});

Deno.test("the published pages name no path of the machine they ran on", async () => {
  for (const name of PAGES) {
    const text = await Deno.readTextFile(`${ROOT}docs/${name}`);
    // Paths are shown relative to the project (runs/…, data/…), ../… beside it, or ~/…
    const absolute = text.match(/[">( ]\/(work|home|root|tmp|Users|srv|mnt)\/[^\s"<]*/g) ?? [];
    assert.deepEqual(absolute, [], `${name} names absolute paths`);
    assert.ok(!text.includes(ROOT), `${name} names the project's folder`);
  }
  const notebook = await Deno.readTextFile(`${ROOT}docs/${RUN}.html`);
  assert.match(notebook, /Run record and best model: runs\/\d{8}-\d{6}-[0-9a-f]{6}\//);
  const compare = await Deno.readTextFile(`${ROOT}docs/compare_runs-60-epochs.html`);
  assert.match(compare, /1 run under runs, sorted by/);
});

// The published sweep of the tutorial's ideas (improve_the_model.ipynb on the JPEG copy).
const IDEAS = "improve_the_model-ideas";
const ideas: { sweep: string; budget: Record<string, unknown>; rows: Record<string, unknown>[] } =
  JSON.parse(await Deno.readTextFile(`${ROOT}docs/${IDEAS}.results.json`));

Deno.test("the published ideas sweep ran every idea of the tutorial on the budget it states", () => {
  assert.deepEqual(ideas.budget, { epochs: 8, trainLimit: 20000, patience: 3 });
  const trials = ideas.rows.map((r) => String(r.trial));
  for (
    const label of [
      "baseline",
      "learning rate 0.0005",
      "twice the epochs",
      "dropout 0.4",
      "batch size 128",
      "no transforms",
      "3 convolutions (16,32,64)",
      "SGD, momentum 0.9, lr 0.01",
      "more images of the weak classes: class weights",
    ]
  ) {
    assert.ok(trials.includes(label), label);
  }
  assert.ok(ideas.rows.every((r) => r.status === "completed"), "every trial completed");
  const losses = ideas.rows.map((r) => r["best valid loss"] as number);
  assert.deepEqual([...losses].sort((a, b) => a - b), losses, "sorted by best validation loss");
});

Deno.test("the README's ideas table says what the published sweep says", async () => {
  for (const r of ideas.rows) {
    const line = readme.split("\n").find((l) => l.startsWith(`| ${r.trial} `));
    assert.ok(line !== undefined, `README has an ideas row "${r.trial}"`);
    for (const key of ["best valid loss", "test accuracy (%)", "time"]) {
      const value = typeof r[key] === "number"
        ? (r[key] as number).toFixed(key === "best valid loss" ? 3 : 1)
        : String(r[key]);
      assert.ok(holds(line, value), `README row "${r.trial}" should hold ${key} ${value}: ${line}`);
    }
  }
  const page = await Deno.readTextFile(`${ROOT}docs/${IDEAS}.html`);
  assert.ok(readme.includes(`docs/${IDEAS}.html`), "the README links the page");
  assert.match(page, /<title>improve_the_model<\/title>/);
  assert.ok(page.includes(ideas.sweep), "the page is of the published sweep");
  assert.ok((await Deno.stat(`${ROOT}docs/${IDEAS}.html`)).size < 5 * 1024 * 1024);
  assert.doesNotMatch(page, /<script[^>]+src="(https?:)?\/\//, "no remote script");
  const absolute = page.match(/[">( ]\/(work|home|root|tmp|Users|srv|mnt)\/[^\s"<]*/g) ?? [];
  assert.deepEqual(absolute, [], "no absolute path of the machine it ran on");
});
