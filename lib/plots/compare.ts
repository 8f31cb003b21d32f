/**
 * Charts that compare runs (lib/runs/compare.ts sets them side by side as tables): the validation-loss curves of several runs
 * overlaid, one colour per run, and the per-class test accuracy of two runs as grouped bars.
 * Drawn like lib/plots/curves.ts's charts: Observable Plot into a linkedom DOM, an `<svg>` element that
 * the Deno kernel shows as `image/svg+xml` (with the same markup as `text/html`), legends and
 * titles inside the SVG. Synthetic-data runs are drawn dashed and labelled SYNTHETIC.
 * @module
 */
import * as Plot from "@observablehq/plot";
import { type Chart, type ChartNode, type ChartOptions, finish, newDocument } from "./chart.ts";
import {
  perClassComparison,
  type ReferenceRun,
  type RunEntry,
  type RunRecord,
} from "../runs/mod.ts";

/** Run colours, in order (Tableau 10, Plot's default categorical scheme); they repeat after ten. */
export const RUN_COLORS: readonly string[] = Object.freeze([
  "#4e79a7",
  "#f28e2c",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc949",
  "#af7aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ab",
]);

function recordOf(run: RunEntry | RunRecord): RunRecord {
  return "record" in run ? run.record : run;
}

/**
 * A run's legend label: id, test accuracy or status, and SYNTHETIC for synthetic data.
 *
 * @param run A run or its record.
 * @returns E.g. `20261128-113000-3fa2c1 (test 65.6%)` or `… (interrupted) SYNTHETIC`.
 * @example
 * ```ts
 * import { runLabel } from "./compare.ts";
 * const label = runLabel({ id: "r1", status: "completed", test: { accuracy: 0.6561 }, data: { synthetic: true } } as never);
 * if (label !== "r1 (test 65.6%) SYNTHETIC") throw new Error(label);
 * ```
 */
export function runLabel(run: RunEntry | RunRecord): string {
  const record = recordOf(run);
  const result = record.test !== null
    ? `test ${(100 * record.test.accuracy).toFixed(1)}%`
    : record.status;
  return `${record.id} (${result})${record.data.synthetic ? " SYNTHETIC" : ""}`;
}

/** Whole-number ticks from 1 to `last`, at most about a dozen (epochs are whole numbers). */
function integerTicks(last: number): number[] {
  const step = Math.max(1, Math.ceil((last - 1) / 12));
  const ticks: number[] = [];
  for (let t = 1; t <= last; t += step) ticks.push(t);
  return ticks;
}

/** Colour of reference runs' curves (the PyTorch original), drawn dotted. */
export const REFERENCE_COLOR = "#333333";

/** How a curve is drawn: a run (solid), a synthetic-data run (dashed), a reference run (dotted). */
type LineStyle = "solid" | "dashed" | "dotted";

const DASHES: Record<LineStyle, string | undefined> = {
  solid: undefined,
  dashed: "6,4",
  dotted: "2,3",
};
const LEGEND_GLYPHS: Record<LineStyle, string> = { solid: "━", dashed: "┅", dotted: "┈" };

/** Legend rows drawn as text marks in the top margin, one per entry (kept inside the SVG). */
function legendMarks(
  title: string | undefined,
  entries: readonly { label: string; color: string; style: LineStyle }[],
  marginLeft: number,
  marginTop: number,
): Plot.Markish[] {
  const marks: Plot.Markish[] = [];
  // "super": drawn once across all facets, not once per facet.
  const facet = "super" as const;
  if (title !== undefined) {
    marks.push(Plot.text([title], {
      facet,
      frameAnchor: "top-left",
      dx: 8 - marginLeft,
      dy: 16 - marginTop,
      textAnchor: "start",
      fontSize: 14,
      fontWeight: "bold",
      className: "title",
    }));
  }
  entries.forEach((entry, i) => {
    marks.push(Plot.text([`${LEGEND_GLYPHS[entry.style]} ${entry.label}`], {
      facet,
      frameAnchor: "top-left",
      dx: 8 - marginLeft,
      dy: (title === undefined ? 14 : 36) + 16 * i - marginTop,
      textAnchor: "start",
      fill: entry.color,
      fontSize: 12,
      className: "legend",
    }));
  });
  return marks;
}

/** Options of `validationLossChart`. */
export interface ValidationLossChartOptions extends ChartOptions {
  /** Which loss to draw. @default "validLoss" */
  loss?: "validLoss" | "trainLoss";
  /**
   * Reference runs (the tutorial's PyTorch code, `readReferenceRun`) drawn dotted in dark grey
   * after the runs, each with its legend row. @default none
   */
  references?: readonly ReferenceRun[];
}

/**
 * The validation loss (or training loss) per epoch of several runs overlaid, one colour per run,
 * a legend row per run naming it with its test accuracy or status; synthetic-data runs dashed.
 * Runs without any epoch are listed in the legend but draw no line. Reference runs (`references`)
 * follow, dotted, so our curves can be read against the original's.
 *
 * @param runs Runs (from `listRuns`) or records, in legend order.
 * @param options Which loss, title, size.
 * @returns The chart.
 * @example
 * ```ts
 * import { validationLossChart } from "./compare.ts";
 * const run = (id: string, losses: number[]) => ({ id, status: "completed", test: null, data: { synthetic: false },
 *   epochs: losses.map((validLoss, i) => ({ epoch: i + 1, trainLoss: 2, validLoss })) });
 * const chart = validationLossChart([run("a", [1.5, 1.2]), run("b", [1.4, 1.1, 1.0])] as never[]);
 * if (chart.querySelectorAll('g[aria-label="line"] path').length !== 2) throw new Error("two lines");
 * ```
 */
export function validationLossChart(
  runs: readonly (RunEntry | RunRecord)[],
  options: ValidationLossChartOptions = {},
): Chart {
  const key = options.loss ?? "validLoss";
  const records = runs.map(recordOf);
  const references = options.references ?? [];
  const entries = [
    ...records.map((record, i) => ({
      label: runLabel(record),
      color: RUN_COLORS[i % RUN_COLORS.length]!,
      style: (record.data.synthetic ? "dashed" : "solid") as LineStyle,
    })),
    ...references.map((reference) => ({
      label: reference.label,
      color: REFERENCE_COLOR,
      style: "dotted" as LineStyle,
    })),
  ];
  // One row per (curve, epoch) with a finite loss; `run` indexes `entries`.
  const curves: readonly { epoch: number; trainLoss: number; validLoss: number | null }[][] = [
    ...records.map((record) => record.epochs),
    ...references.map((reference) => reference.epochs),
  ];
  const points = curves.flatMap((epochs, run) =>
    epochs.flatMap((e) => {
      const loss = e[key];
      return typeof loss === "number" && Number.isFinite(loss)
        ? [{ run, epoch: e.epoch, loss }]
        : [];
    })
  );
  const lastEpoch = Math.max(2, ...points.map((p) => p.epoch));
  const marginLeft = 64;
  const marginTop = (options.title === undefined ? 24 : 46) + 16 * entries.length;
  const marks: Plot.Markish[] = [Plot.gridY({ stroke: "#ddd", strokeOpacity: 1 })];
  entries.forEach((entry, run) => {
    const rows = points.filter((p) => p.run === run);
    if (rows.length === 0) return;
    marks.push(Plot.line(rows, {
      x: "epoch",
      y: "loss",
      stroke: entry.color,
      strokeWidth: 2,
      strokeDasharray: DASHES[entry.style],
      marker: rows.length <= 40 ? "circle" : "none",
    }));
  });
  if (points.length === 0) {
    marks.push(Plot.text(["no epochs recorded yet"], {
      frameAnchor: "middle",
      fontSize: 13,
      fill: "#666",
      className: "empty",
    }));
  }
  marks.push(...legendMarks(options.title, entries, marginLeft, marginTop));
  const chart = Plot.plot({
    document: newDocument(),
    width: options.width ?? 640,
    height: options.height ?? 300 + marginTop,
    marginTop,
    marginLeft,
    x: { domain: [1, lastEpoch], label: "epoch", tickFormat: "d", ticks: integerTicks(lastEpoch) },
    y: {
      label: key === "validLoss" ? "validation loss (average per image)" : "training loss",
      labelAnchor: "center",
      nice: true,
      ...(points.length === 0 ? { domain: [0, 1] } : {}),
    },
    marks,
  });
  return finish(chart as unknown as ChartNode, options.title);
}

/**
 * The per-class test accuracy of two runs as grouped horizontal bars (two bars per class, one
 * colour per run, each labelled with its percentage).
 *
 * @param first A run with a test report.
 * @param second Another one, with the same classes.
 * @param options Title and size.
 * @returns The chart.
 * @throws {TypeError} When a run has no test report or the classes differ.
 * @example
 * ```ts
 * import { perClassComparisonChart } from "./compare.ts";
 * const run = (id: string, correct: number) => ({ id, status: "completed", data: { synthetic: false },
 *   test: { accuracy: correct / 20, perClass: [
 *     { name: "cat", correct, total: 10 }, { name: "dog", correct: 5, total: 10 }] } });
 * const chart = perClassComparisonChart(run("a", 4) as never, run("b", 8) as never);
 * if (chart.querySelectorAll('g[aria-label="bar"] rect').length !== 4) throw new Error("4 bars");
 * ```
 */
export function perClassComparisonChart(
  first: RunEntry | RunRecord,
  second: RunEntry | RunRecord,
  options: ChartOptions = {},
): Chart {
  const rows = perClassComparison(first, second);
  const entries = [recordOf(first), recordOf(second)].map((record, i) => ({
    label: runLabel(record),
    color: RUN_COLORS[i]!,
    style: "solid" as LineStyle,
  }));
  const bars = rows.flatMap((r) => [
    { className: r.className, run: "1", percent: r.first },
    { className: r.className, run: "2", percent: r.second },
  ]).map((b) => ({
    ...b,
    value: b.percent ?? 0,
    label: b.percent === null ? "N/A" : `${b.percent.toFixed(1)}%`,
  }));
  const marginLeft = 80;
  const marginTop = (options.title === undefined ? 24 : 46) + 16 * entries.length;
  const marks: Plot.Markish[] = [
    Plot.barX(bars, {
      x: "value",
      y: "run",
      fy: "className",
      fill: "run",
      insetTop: 1,
      insetBottom: 1,
    }),
    Plot.text(bars, {
      x: "value",
      y: "run",
      fy: "className",
      text: "label",
      textAnchor: "start",
      dx: 4,
      fontSize: 10,
      className: "bar-label",
    }),
    Plot.ruleX([0]),
    ...legendMarks(options.title, entries, marginLeft, marginTop),
  ];
  const chart = Plot.plot({
    document: newDocument(),
    width: options.width ?? 640,
    height: options.height ?? marginTop + 36 * rows.length + 40,
    marginTop,
    marginLeft,
    marginRight: 60,
    x: { domain: [0, 100], label: "test accuracy (%)", grid: true },
    y: { axis: null, domain: ["1", "2"] },
    fy: { domain: rows.map((r) => r.className), label: null, axis: "left" },
    color: { domain: ["1", "2"], range: [RUN_COLORS[0]!, RUN_COLORS[1]!] },
    marks,
  });
  return finish(chart as unknown as ChartNode, options.title);
}
