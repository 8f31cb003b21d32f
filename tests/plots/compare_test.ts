import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { listRuns, type RunEntry } from "../../lib/runs/list.ts";
import { perClassComparisonChart, runLabel, validationLossChart } from "../../lib/plots/compare.ts";
import { readReferenceRun } from "../../lib/runs/reference.ts";
import { writeFixtureRuns } from "../runs/_fixtures.ts";

Deno.test("validationLossChart() overlays one curve per run, synthetic runs dashed and labelled", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const runs = await listRuns(outDir);
    const chart = validationLossChart(runs, { title: "Validation loss" });
    assert.equal(chart.tagName.toLowerCase(), "svg");
    const lines = [...chart.querySelectorAll('g[aria-label="line"]')];
    assert.equal(lines.length, 3, "one line per run");
    const strokes = lines.map((g) => g.getAttribute("stroke"));
    assert.equal(new Set(strokes).size, 3, "one colour per run");
    assert.deepEqual(
      lines.map((g) => g.getAttribute("stroke-dasharray")),
      [null, null, "6,4"],
      "the synthetic run is dashed",
    );
    // Points: 3 + 2 + 1 epochs.
    const paths = lines.map((g) => g.querySelector("path")!.getAttribute("d")!);
    assert.deepEqual(paths.map((d) => (d.match(/[ML]/g) ?? []).length), [3, 2, 1]);
    const legend = [...chart.querySelectorAll("g.legend text")].map((t) => t.textContent);
    assert.deepEqual(legend, [
      "━ 20261128-100000-aaaaaa (test 76.2%)",
      "━ 20261128-110000-bbbbbb (test 76.4%)",
      "┅ 20261128-120000-cccccc (test 92.5%) SYNTHETIC",
    ]);
    assert.equal(runLabel(runs[2]!), "20261128-120000-cccccc (test 92.5%) SYNTHETIC");
    // Zero runs and runs without epochs still draw a chart.
    const empty = validationLossChart([]);
    assert.equal(empty.querySelectorAll('g[aria-label="line"]').length, 0);
    assert.match(empty.outerHTML, /no epochs recorded yet/);
  });
});

Deno.test("validationLossChart() draws reference runs dotted after the runs, in the legend", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const runs = await listRuns(outDir);
    const reference = await readReferenceRun(
      new URL("../../docs/reference/pytorch-2.14.1-15-epochs.json", import.meta.url).pathname,
    );
    const chart = validationLossChart(runs.slice(0, 1), { references: [reference] });
    const lines = [...chart.querySelectorAll('g[aria-label="line"]')];
    assert.equal(lines.length, 2, "the run and the reference");
    assert.deepEqual(lines.map((g) => g.getAttribute("stroke-dasharray")), [null, "2,3"]);
    assert.equal(lines[1]!.getAttribute("stroke"), "#333333");
    const points = lines.map((g) =>
      (g.querySelector("path")!.getAttribute("d")!.match(/[ML]/g) ?? []).length
    );
    assert.deepEqual(points, [3, 15], "3 epochs of the run, 15 of the reference");
    const legend = [...chart.querySelectorAll("g.legend text")].map((t) => t.textContent);
    assert.deepEqual(legend, [
      "━ 20261128-100000-aaaaaa (test 76.2%)",
      "┈ PyTorch 2.14.1, the tutorial's code (15 epochs, test 76.2%)",
    ]);
    // The x axis reaches the longer curve's last epoch.
    assert.match(chart.outerHTML, />15</);
  });
});

Deno.test("perClassComparisonChart() draws two bars per class, labelled", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const [a, b] = await listRuns(outDir) as [RunEntry, RunEntry];
    const chart = perClassComparisonChart(a, b, { title: "Per class" });
    assert.equal(chart.querySelectorAll('g[aria-label="bar"] rect').length, 20);
    const labels = [...chart.querySelectorAll("g.bar-label text")].map((t) => t.textContent);
    assert.equal(labels.length, 20);
    assert.ok(labels.includes("84.0%") && labels.includes("80.0%"), labels.join(","));
    const legend = [...chart.querySelectorAll("g.legend text")].map((t) => t.textContent);
    assert.equal(legend.length, 2, "the legend is drawn once, not once per class");
  });
});
