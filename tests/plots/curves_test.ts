import assert from "node:assert/strict";
import {
  BEST_COLOR,
  classAccuracies,
  confusionMatrixChart,
  liveLossChart,
  lossCurves,
  type LossPoint,
  perClassAccuracyChart,
  SERIES_COLORS,
} from "../../lib/plots/curves.ts";
import { type Chart, SVG_NAMESPACE } from "../../lib/plots/chart.ts";

const DISPLAY = Symbol.for("Jupyter.display");

/** Six epochs where validation loss bottoms out at epoch 4 (the over-fitting shape). */
const HISTORY: LossPoint[] = [
  { epoch: 1, trainLoss: 1.65, validLoss: 1.35 },
  { epoch: 2, trainLoss: 1.25, validLoss: 1.12 },
  { epoch: 3, trainLoss: 1.05, validLoss: 0.98 },
  { epoch: 4, trainLoss: 0.9, validLoss: 0.912345 },
  { epoch: 5, trainLoss: 0.8, validLoss: 0.95 },
  { epoch: 6, trainLoss: 0.7, validLoss: 1.01 },
];

const texts = (chart: Chart, selector: string) =>
  [...chart.querySelectorAll(selector)].map((t) => t.textContent);

/** Number of points of an SVG path (`M` then one `L` per further point). */
const points = (d: string | null) => (d ?? "").split(/[ML]/).filter((p) => p !== "").length;

function assertStandalone(chart: Chart, label: string): void {
  assert.ok(chart.outerHTML.startsWith("<svg"), "an <svg> element");
  assert.equal(chart.getAttribute("xmlns"), SVG_NAMESPACE);
  assert.equal(chart.getAttribute("aria-label"), label);
  const bundle = (chart as unknown as Record<symbol, () => Record<string, string>>)[DISPLAY]!();
  assert.equal(bundle["image/svg+xml"], chart.outerHTML);
  assert.equal(bundle["text/html"], chart.outerHTML);
  assert.equal(bundle["text/plain"], `[chart: ${label}]`);
}

Deno.test("lossCurves() draws both curves through every epoch and marks the best one", () => {
  const chart = lossCurves(HISTORY, { bestEpoch: 4, title: "Loss — test" });
  assertStandalone(chart, "Loss — test");
  const paths = [...chart.querySelectorAll('g[aria-label="line"] path')];
  assert.equal(paths.length, 2);
  assert.deepEqual(paths.map((p) => points(p.getAttribute("d"))), [6, 6]);
  assert.deepEqual(paths.map((p) => p.getAttribute("stroke")), [
    SERIES_COLORS.training,
    SERIES_COLORS.validation,
  ]);
  assert.deepEqual(texts(chart, "g.best-epoch-label text"), [
    "best: epoch 4, validation loss 0.912",
  ]);
  const ring = chart.querySelector("g.best-epoch circle")!;
  assert.equal(ring.getAttribute("fill"), null, "a ring, not a dot");
  assert.equal(chart.querySelector("g.best-epoch")!.getAttribute("stroke"), BEST_COLOR);
  assert.equal(chart.querySelectorAll("g.best-epoch-rule line").length, 1);
  assert.deepEqual(texts(chart, "g.title text"), ["Loss — test"]);
  assert.deepEqual(
    texts(chart, "g.legend text"),
    ["● training loss", "● validation loss"].reverse(),
  );
});

Deno.test("lossCurves() puts the best epoch on the validation curve's point", () => {
  const chart = lossCurves(HISTORY, { bestEpoch: 4 });
  const ring = chart.querySelector("g.best-epoch circle")!;
  const path = [...chart.querySelectorAll('g[aria-label="line"] path')][1]!.getAttribute("d")!;
  const fourth = path.split(/[ML]/).filter((p) => p !== "")[3]!.split(",").map(Number);
  // The path's coordinates are rounded to 3 decimals.
  assert.ok(Math.abs(Number(ring.getAttribute("cx")) - fourth[0]!) < 0.001);
  assert.ok(Math.abs(Number(ring.getAttribute("cy")) - fourth[1]!) < 0.001);
});

Deno.test("lossCurves() without validation draws one curve and no marker", () => {
  const chart = lossCurves(HISTORY.map((h) => ({ ...h, validLoss: null })));
  assert.equal(chart.querySelectorAll('g[aria-label="line"] path').length, 1);
  assert.equal(chart.querySelectorAll("g.best-epoch").length, 0);
  assert.deepEqual(texts(chart, "g.legend text"), ["● training loss"]);
});

Deno.test("lossCurves() ticks whole epochs only", () => {
  const ticks = texts(lossCurves(HISTORY.slice(0, 2)), 'g[aria-label="x-axis tick label"] text');
  assert.deepEqual(ticks, ["1", "2"]);
  const long = Array.from({ length: 60 }, (_, i) => ({ epoch: i + 1, trainLoss: 1, validLoss: 1 }));
  const longTicks = texts(lossCurves(long), 'g[aria-label="x-axis tick label"] text');
  assert.deepEqual(longTicks, [
    "1",
    "6",
    "11",
    "16",
    "21",
    "26",
    "31",
    "36",
    "41",
    "46",
    "51",
    "56",
  ]);
});

Deno.test("lossCurves() rejects a best epoch without a validation loss and bad epochs", () => {
  assert.throws(
    () => lossCurves(HISTORY, { bestEpoch: 9 }),
    new RangeError(
      "Cannot draw loss curves: expected bestEpoch to be an epoch with a validation loss, found 9",
    ),
  );
  assert.throws(
    () => lossCurves([{ epoch: 0, trainLoss: 1, validLoss: 1 }]),
    new RangeError(
      "Cannot draw loss curves: expected history[0].epoch to be an integer ≥ 1, found 0",
    ),
  );
});

Deno.test("liveLossChart() shows the running loss and finished epochs on a fixed axis", () => {
  const batches = [0.25, 0.5, 0.75, 1, 1.25].map((x, i) => ({ x, loss: 2.3 - 0.1 * i }));
  const chart = liveLossChart({ batches, epochs: HISTORY.slice(0, 1), totalEpochs: 60 }, {
    title: "Live",
  });
  assertStandalone(chart, "Live");
  assert.equal(points(chart.querySelector("g.running-loss path")!.getAttribute("d")), 5);
  const dots = [...chart.querySelectorAll("g.epoch-loss circle")].map((c) =>
    c.getAttribute("fill")
  );
  assert.deepEqual(dots, [SERIES_COLORS.training, SERIES_COLORS.validation]);
  const ticks = texts(chart, 'g[aria-label="x-axis tick label"] text');
  assert.equal(ticks.at(-1), "60");
});

Deno.test("liveLossChart() draws an empty chart before the first batch", () => {
  const chart = liveLossChart({ batches: [], epochs: [], totalEpochs: 3 });
  assert.equal(chart.querySelectorAll("g.epoch-loss circle").length, 0);
  assert.ok(chart.outerHTML.startsWith("<svg"));
});

Deno.test("perClassAccuracyChart() draws a labelled bar per class and the overall rule", () => {
  const rows = classAccuracies(["airplane", "cat", "empty"], [841, 530, 0], [1000, 1000, 0]);
  const chart = perClassAccuracyChart(rows, { title: "Per class" });
  assertStandalone(chart, "Per class");
  assert.equal(chart.querySelectorAll('g[aria-label="bar"] rect').length, 3);
  assert.deepEqual(texts(chart, "g.bar-label text"), ["84% (841/1000)", "53% (530/1000)", "N/A"]);
  assert.deepEqual(texts(chart, "g.overall-label text"), ["overall 68%"]);
  const widths = [...chart.querySelectorAll('g[aria-label="bar"] rect')]
    .map((r) => Number(r.getAttribute("width")));
  assert.ok(Math.abs(widths[0]! / widths[1]! - 841 / 530) < 1e-6, JSON.stringify(widths));
});

Deno.test("perClassAccuracyChart() takes the overall accuracy it is given", () => {
  const rows = classAccuracies(["a", "b"], [1, 1], [2, 4]);
  assert.deepEqual(
    texts(perClassAccuracyChart(rows, { overall: 0.7674 }), "g.overall-label text"),
    [
      "overall 76%",
    ],
  );
  assert.throws(
    () => perClassAccuracyChart([]),
    new RangeError("Cannot draw per-class accuracy: expected at least one class, found 0"),
  );
});

Deno.test("classAccuracies() rejects counts that do not pair up", () => {
  assert.throws(
    () => classAccuracies(["a"], [1, 2], [2, 2]),
    new RangeError(
      "Cannot pair class results: expected 2 correct counts and at least as many names, found 2 counts and 1 names",
    ),
  );
});

Deno.test("confusionMatrixChart() draws every cell with its count, white on dark cells", () => {
  const matrix = [[50, 3, 0], [4, 40, 9], [1, 2, 20]];
  const chart = confusionMatrixChart(matrix, ["cat", "dog", "frog"], { title: "Confusion" });
  assertStandalone(chart, "Confusion");
  assert.equal(chart.querySelectorAll('g[aria-label="cell"] rect').length, 9);
  const groups = [...chart.querySelectorAll("g.count")];
  assert.deepEqual(groups.map((g) => g.getAttribute("fill")), ["black", "white"]);
  assert.deepEqual(texts(groups[1]!, "text").sort(), ["40", "50"]);
  assert.deepEqual(
    texts(chart, "g.count text").map(Number).sort((a, b) => a - b),
    matrix.flat().sort((a, b) => a - b),
  );
  const fills = [...chart.querySelectorAll('g[aria-label="cell"] rect')].map((r) =>
    r.getAttribute("fill")
  );
  // Cells follow the data (row by row): 0 is the lightest colour, the largest count the darkest.
  assert.equal(fills[2], "rgb(247, 251, 255)");
  assert.equal(fills[0], "rgb(8, 48, 107)");
  assert.equal(new Set(fills).size, 9, "nine different counts, nine shades");
});

Deno.test("confusionMatrixChart() rejects a matrix that is not square", () => {
  assert.throws(
    () => confusionMatrixChart([[1, 2], [3]], ["a", "b"]),
    new RangeError(
      "Cannot draw a confusion matrix: expected a square matrix with one class name per row, found 2 rows of lengths 2/1 and 2 names",
    ),
  );
});
