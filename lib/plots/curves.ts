/**
 * Charts for the notebook, drawn with Observable Plot into a server-side DOM (linkedom): the
 * training and validation loss curves with the best epoch marked, a live loss chart for training,
 * the per-class test accuracy and the confusion matrix. Each function returns an SVG element; as a
 * notebook cell's value (or through `show`) the Deno kernel sends it as `image/svg+xml` (with the
 * same markup as `text/html` for nbconvert's sake), and `outerHTML` gives the markup for files. Titles and legends are drawn inside the SVG (Plot's own
 * `title` option would wrap the chart in an HTML `<figure>`, which the kernel sends as HTML).
 * @module
 */

import * as Plot from "@observablehq/plot";
import { type Chart, type ChartNode, type ChartOptions, finish, newDocument } from "./chart.ts";

/** Series colours: training, validation (Tableau 10, as Plot's default scheme). */
export const SERIES_COLORS = { training: "#4c78a8", validation: "#f58518" } as const;

const SERIES_SCALE = {
  domain: ["training", "validation"],
  range: [SERIES_COLORS.training, SERIES_COLORS.validation],
};

/** Colour of the best-epoch marker. */
export const BEST_COLOR = "#d62728";

/** One epoch of a loss history (an `EpochRecord` of lib/train/session.ts). */
export interface LossPoint {
  /** Epoch, 1-based. */
  epoch: number;
  /** Average training loss per image. */
  trainLoss: number;
  /** Average validation loss per image; null without validation. */
  validLoss: number | null;
}

/** Options of `lossCurves`. */
export interface LossCurvesOptions extends ChartOptions {
  /** The epoch whose model was kept (marked on the validation curve); null or absent: none. */
  bestEpoch?: number | null;
}

interface Series {
  x: number;
  loss: number;
  set: "training" | "validation";
}

/** Title and legend drawn as text marks in the top margin (kept inside the SVG). */
function header(
  title: string | undefined,
  legend: readonly { label: string; color: string }[],
  marginLeft: number,
): Plot.Markish[] {
  const marks: Plot.Markish[] = [];
  if (title !== undefined) {
    marks.push(Plot.text([title], {
      frameAnchor: "top-left",
      // From the chart's left edge, not the frame's, so long titles fit.
      dx: 8 - marginLeft,
      dy: -34,
      textAnchor: "start",
      fontSize: 14,
      fontWeight: "bold",
      className: "title",
    }));
  }
  let dx = 0;
  for (const item of [...legend].reverse()) {
    marks.push(Plot.text([`● ${item.label}`], {
      frameAnchor: "top-right",
      dx: -dx,
      dy: -14,
      textAnchor: "end",
      fill: item.color,
      fontSize: 12,
      className: "legend",
    }));
    dx += 14 + 7 * item.label.length;
  }
  return marks;
}

/** Whole-number ticks from `lo` to `hi`, at most about a dozen (epochs are whole numbers). */
function integerTicks(lo: number, hi: number): number[] {
  const step = Math.max(1, Math.ceil((hi - lo) / 12));
  const ticks: number[] = [];
  for (let t = lo; t <= hi; t += step) ticks.push(t);
  return ticks;
}

function lossSeries(history: readonly LossPoint[]): Series[] {
  const rows: Series[] = [];
  for (const h of history) {
    if (Number.isFinite(h.trainLoss)) rows.push({ x: h.epoch, loss: h.trainLoss, set: "training" });
  }
  for (const h of history) {
    if (h.validLoss !== null && Number.isFinite(h.validLoss)) {
      rows.push({ x: h.epoch, loss: h.validLoss, set: "validation" });
    }
  }
  return rows;
}

function checkHistory(history: readonly LossPoint[], what: string): void {
  if (!Array.isArray(history)) {
    throw new TypeError(
      `Cannot draw ${what}: expected an array of epochs, found ${typeof history}`,
    );
  }
  history.forEach((h, i) => {
    if (!Number.isInteger(h?.epoch) || h.epoch < 1) {
      throw new RangeError(
        `Cannot draw ${what}: expected history[${i}].epoch to be an integer ≥ 1, found ${h?.epoch}`,
      );
    }
  });
}

/**
 * The training and validation loss over epochs, with the kept (best) epoch marked by a dashed rule,
 * a ring on the validation curve and a label `best: epoch N, validation loss X`.
 *
 * @param history One record per epoch (`fit`'s `history`).
 * @param options Best epoch, title, size.
 * @returns The chart.
 * @example
 * ```ts
 * import { lossCurves } from "./curves.ts";
 * const chart = lossCurves([
 *   { epoch: 1, trainLoss: 1.6, validLoss: 1.3 },
 *   { epoch: 2, trainLoss: 1.2, validLoss: 1.1 },
 *   { epoch: 3, trainLoss: 1.0, validLoss: 1.15 },
 * ], { bestEpoch: 2, title: "Loss" });
 * if (chart.querySelectorAll('g[aria-label="line"] path').length !== 2) throw new Error("two curves");
 * if (!chart.outerHTML.includes("best: epoch 2, validation loss 1.100")) throw new Error("marker");
 * ```
 */
export function lossCurves(history: readonly LossPoint[], options: LossCurvesOptions = {}): Chart {
  checkHistory(history, "loss curves");
  const rows = lossSeries(history);
  const best = options.bestEpoch == null
    ? undefined
    : history.find((h) => h.epoch === options.bestEpoch && h.validLoss !== null);
  if (options.bestEpoch != null && best === undefined) {
    throw new RangeError(
      `Cannot draw loss curves: expected bestEpoch to be an epoch with a validation loss, found ${options.bestEpoch}`,
    );
  }
  const lastEpoch = Math.max(2, ...history.map((h) => h.epoch));
  const hasValid = rows.some((r) => r.set === "validation");
  const legend = [
    { label: "training loss", color: SERIES_COLORS.training },
    ...(hasValid ? [{ label: "validation loss", color: SERIES_COLORS.validation }] : []),
  ];
  const marks: Plot.Markish[] = [
    Plot.gridY({ stroke: "#ddd", strokeOpacity: 1 }),
    Plot.line(rows, {
      x: "x",
      y: "loss",
      z: "set",
      stroke: "set",
      strokeWidth: 2,
      marker: history.length <= 40 ? "circle" : "none",
    }),
  ];
  if (best !== undefined) {
    const label = `best: epoch ${best.epoch}, validation loss ${best.validLoss!.toFixed(3)}`;
    marks.push(
      Plot.ruleX([best.epoch], {
        stroke: BEST_COLOR,
        strokeDasharray: "4,3",
        className: "best-epoch-rule",
      }),
      Plot.dot([best], {
        x: "epoch",
        y: "validLoss",
        r: 7,
        stroke: BEST_COLOR,
        strokeWidth: 2,
        fill: "none",
        className: "best-epoch",
      }),
      Plot.text([label], {
        frameAnchor: "top",
        x: best.epoch,
        dy: 6,
        textAnchor: best.epoch > (1 + lastEpoch) / 2 ? "end" : "start",
        dx: best.epoch > (1 + lastEpoch) / 2 ? -6 : 6,
        fill: BEST_COLOR,
        fontSize: 12,
        className: "best-epoch-label",
      }),
    );
  }
  marks.push(...header(options.title, legend, 64));
  const chart = Plot.plot({
    document: newDocument(),
    width: options.width ?? 640,
    height: options.height ?? 360,
    marginTop: 50,
    marginLeft: 64,
    x: {
      domain: [1, lastEpoch],
      label: "epoch",
      ticks: integerTicks(1, lastEpoch),
      tickFormat: "d",
    },
    color: SERIES_SCALE,
    y: { label: "loss (average per image)", labelAnchor: "center", nice: true },
    marks,
  });
  return finish(chart as unknown as ChartNode, options.title);
}

/** What the live training chart shows. */
export interface LiveLossState {
  /**
   * The training loss within epochs (`trainingMonitor` gives the mean over each tenth of an epoch,
   * from the run record for epochs done before a resume): `x` is fractional epochs.
   */
  batches: readonly { x: number; loss: number }[];
  /** Completed epochs. */
  epochs: readonly LossPoint[];
  /** Epochs planned (fixes the x axis so the chart does not jump). */
  totalEpochs: number;
}

/**
 * The loss during training: the training loss over each tenth of an epoch (thin line) and each finished
 * epoch's training and validation loss (points), on an x axis of all planned epochs. Meant to be
 * redrawn in place (`liveDisplay`).
 *
 * @param state Batch-level running losses, finished epochs and the planned epoch count.
 * @param options Title and size.
 * @returns The chart.
 * @example
 * ```ts
 * import { liveLossChart } from "./curves.ts";
 * const chart = liveLossChart({
 *   batches: [{ x: 0.5, loss: 2.2 }, { x: 1, loss: 2.0 }],
 *   epochs: [{ epoch: 1, trainLoss: 2.0, validLoss: 1.9 }],
 *   totalEpochs: 3,
 * });
 * if (chart.querySelectorAll('g.epoch-loss circle').length !== 2) throw new Error();
 * ```
 */
export function liveLossChart(state: LiveLossState, options: ChartOptions = {}): Chart {
  checkHistory(state.epochs, "the live loss chart");
  const total = Math.max(1, state.totalEpochs);
  const points = state.epochs.flatMap((h) => [
    { x: h.epoch, loss: h.trainLoss, set: "training" as const },
    ...(h.validLoss === null
      ? []
      : [{ x: h.epoch, loss: h.validLoss, set: "validation" as const }]),
  ]).filter((p) => Number.isFinite(p.loss));
  const batches = state.batches.filter((b) => Number.isFinite(b.loss));
  const marks: Plot.Markish[] = [
    Plot.gridY({ stroke: "#ddd", strokeOpacity: 1 }),
    Plot.line(batches, {
      x: "x",
      y: "loss",
      stroke: SERIES_COLORS.training,
      strokeOpacity: 0.45,
      strokeWidth: 1,
      className: "running-loss",
    }),
    Plot.dot(points, {
      x: "x",
      y: "loss",
      r: 4,
      fill: "set",
      className: "epoch-loss",
    }),
    ...header(options.title, [
      { label: "training (per tenth of an epoch)", color: SERIES_COLORS.training },
      { label: "validation (epoch end)", color: SERIES_COLORS.validation },
    ], 64),
  ];
  const chart = Plot.plot({
    document: newDocument(),
    width: options.width ?? 640,
    height: options.height ?? 300,
    marginTop: 50,
    marginLeft: 64,
    x: { domain: [0, total], label: "epoch", ticks: integerTicks(0, total), tickFormat: "d" },
    color: SERIES_SCALE,
    y: {
      label: "loss (average per image)",
      labelAnchor: "center",
      nice: true,
      ...(batches.length + points.length === 0 ? { domain: [0, 2.5] } : {}),
    },
    marks,
  });
  return finish(chart as unknown as ChartNode, options.title);
}

/** One class's test result. */
export interface ClassAccuracy {
  /** Class name. */
  className: string;
  /** Test images of the class classified right. */
  correct: number;
  /** Test images of the class. */
  total: number;
}

/**
 * Pairs class names with a test result's per-class counts.
 *
 * @param classNames Names in label order.
 * @param classCorrect Right answers per class (`TestResult.classCorrect`).
 * @param classTotal Images per class (`TestResult.classTotal`).
 * @returns One row per class.
 * @example
 * ```ts
 * import { classAccuracies } from "./curves.ts";
 * const rows = classAccuracies(["cat", "dog"], [3, 1], [4, 2]);
 * if (rows[1]!.className !== "dog" || rows[1]!.correct !== 1) throw new Error();
 * ```
 */
export function classAccuracies(
  classNames: readonly string[],
  classCorrect: readonly number[],
  classTotal: readonly number[],
): ClassAccuracy[] {
  if (classCorrect.length !== classTotal.length || classNames.length < classTotal.length) {
    throw new RangeError(
      `Cannot pair class results: expected ${classTotal.length} correct counts and at least as many names, found ${classCorrect.length} counts and ${classNames.length} names`,
    );
  }
  return classTotal.map((total, i) => ({
    className: classNames[i]!,
    correct: classCorrect[i]!,
    total,
  }));
}

/** Options of `perClassAccuracyChart`. */
export interface AccuracyChartOptions extends ChartOptions {
  /** Overall accuracy in [0, 1], drawn as a dashed rule; absent: computed from the rows. */
  overall?: number;
}

/**
 * Test accuracy per class as horizontal bars labelled `84% (841/1000)`, with the overall accuracy
 * as a dashed rule. Classes without test images are labelled `N/A`.
 *
 * @param rows One row per class, in the order to draw.
 * @param options Overall accuracy, title, size.
 * @returns The chart.
 * @example
 * ```ts
 * import { perClassAccuracyChart } from "./curves.ts";
 * const chart = perClassAccuracyChart([
 *   { className: "airplane", correct: 841, total: 1000 },
 *   { className: "cat", correct: 530, total: 1000 },
 * ]);
 * if (chart.querySelectorAll('g[aria-label="bar"] rect').length !== 2) throw new Error("bars");
 * if (!chart.outerHTML.includes("84% (841/1000)")) throw new Error("label");
 * ```
 */
export function perClassAccuracyChart(
  rows: readonly ClassAccuracy[],
  options: AccuracyChartOptions = {},
): Chart {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new RangeError(
      `Cannot draw per-class accuracy: expected at least one class, found ${
        Array.isArray(rows) ? 0 : typeof rows
      }`,
    );
  }
  const data = rows.map((r) => ({
    className: r.className,
    percent: r.total > 0 ? (100 * r.correct) / r.total : 0,
    label: r.total > 0
      ? `${Math.trunc((100 * r.correct) / r.total)}% (${r.correct}/${r.total})`
      : "N/A",
  }));
  const correct = rows.reduce((s, r) => s + r.correct, 0);
  const total = rows.reduce((s, r) => s + r.total, 0);
  const overall = options.overall ?? (total > 0 ? correct / total : NaN);
  const marks: Plot.Markish[] = [
    Plot.barX(data, {
      y: "className",
      x: "percent",
      fill: SERIES_COLORS.training,
      insetTop: 2,
      insetBottom: 2,
    }),
    Plot.text(data, {
      y: "className",
      x: "percent",
      text: "label",
      textAnchor: "start",
      dx: 4,
      fontSize: 11,
      className: "bar-label",
    }),
    Plot.ruleX([0]),
  ];
  if (Number.isFinite(overall)) {
    marks.push(
      Plot.ruleX([100 * overall], {
        stroke: BEST_COLOR,
        strokeDasharray: "4,3",
        className: "overall",
      }),
      Plot.text([`overall ${Math.trunc(100 * overall)}%`], {
        x: 100 * overall,
        frameAnchor: "top",
        dy: -6,
        fill: BEST_COLOR,
        fontSize: 11,
        className: "overall-label",
      }),
    );
  }
  marks.push(...header(options.title, [], 80));
  const chart = Plot.plot({
    document: newDocument(),
    width: options.width ?? 640,
    height: options.height ?? 60 + 26 * data.length + 40,
    marginTop: 50,
    marginLeft: 80,
    marginRight: 90,
    x: { domain: [0, 100], label: "test accuracy (%)", grid: true },
    y: { domain: data.map((d) => d.className), label: null },
    marks,
  });
  return finish(chart as unknown as ChartNode, options.title);
}

/** Cells above this fraction of the largest count are dark enough for white text. */
const DARK_CELL = 0.55;

/**
 * The confusion matrix as a heat map: rows are true classes, columns predicted classes, each cell
 * printed with its count (white on dark cells).
 *
 * @param matrix `matrix[true][predicted]` counts (`TestResult.confusion`), square.
 * @param classNames Names in label order, one per row.
 * @param options Title and size.
 * @returns The chart.
 * @example
 * ```ts
 * import { confusionMatrixChart } from "./curves.ts";
 * const chart = confusionMatrixChart([[5, 1], [2, 7]], ["cat", "dog"]);
 * if (chart.querySelectorAll('g[aria-label="cell"] rect').length !== 4) throw new Error("cells");
 * const counts = [...chart.querySelectorAll('g.count text')].map((t) => t.textContent);
 * if (counts.sort().join(",") !== "1,2,5,7") throw new Error(counts.join(","));
 * ```
 */
export function confusionMatrixChart(
  matrix: readonly (readonly number[])[],
  classNames: readonly string[],
  options: ChartOptions = {},
): Chart {
  const n = matrix.length;
  if (n === 0 || matrix.some((row) => row.length !== n) || classNames.length < n) {
    throw new RangeError(
      `Cannot draw a confusion matrix: expected a square matrix with one class name per row, found ${n} rows of lengths ${
        matrix.map((r) => r.length).join("/")
      } and ${classNames.length} names`,
    );
  }
  const names = classNames.slice(0, n);
  const data = matrix.flatMap((row, t) =>
    row.map((count, p) => ({ trueClass: names[t]!, predicted: names[p]!, count }))
  );
  const max = Math.max(1, ...data.map((d) => d.count));
  const side = options.width ?? Math.max(400, 130 + 52 * n);
  const chart = Plot.plot({
    document: newDocument(),
    width: side,
    height: options.height ?? side,
    marginTop: 50,
    marginLeft: 110,
    marginBottom: 80,
    x: { domain: names, label: "predicted class", tickRotate: -40 },
    y: { domain: names, label: "true class", labelAnchor: "center", labelOffset: 100 },
    color: { type: "linear", domain: [0, max], range: ["#f7fbff", "#08306b"] },
    marks: [
      Plot.cell(data, { x: "predicted", y: "trueClass", fill: "count", inset: 0.5 }),
      Plot.text(data, {
        x: "predicted",
        y: "trueClass",
        text: (d: { count: number }) => String(d.count),
        // White on dark cells, black on light ones: two constant fills keep the colour scale free.
        fill: "black",
        filter: (d: { count: number }) => d.count <= DARK_CELL * max,
        fontSize: n > 12 ? 8 : 11,
        className: "count",
      }),
      Plot.text(data, {
        x: "predicted",
        y: "trueClass",
        text: (d: { count: number }) => String(d.count),
        fill: "white",
        filter: (d: { count: number }) => d.count > DARK_CELL * max,
        fontSize: n > 12 ? 8 : 11,
        className: "count",
      }),
      ...header(options.title, [], 110),
    ],
  });
  return finish(chart as unknown as ChartNode, options.title);
}
