/**
 * What `deno task bench` makes of the sides' results: the pooled medians and ratios
 * ({@link summarizeResults}), the sgemm ceiling over the run ({@link summarizeCeiling},
 * {@link describeCeiling}), the efficiency figures ({@link efficiencyRows}), and the printed report
 * and Markdown table ({@link formatReport}, {@link markdownTable}).
 *
 * @module
 */
import { median } from "./stats.ts";
import type { CeilingResult, FmaPeakResult } from "./ceiling.ts";
import { type BenchResult, type Side, SIDES } from "./result.ts";

/** One row of the comparison. */
export interface MetricRow {
  /** Stable key, e.g. `trainStep:30`, `epoch:128`, `inference`, `peakRss`. */
  key: string;
  /** Label for people, e.g. `Training step, batch 30`. */
  label: string;
  /** `images/s` or `MiB`. */
  unit: string;
  /** True for throughput (higher is better), false for memory. */
  higherIsBetter: boolean;
  /** Median for each side that reported it. */
  values: Partial<Record<Side, number>>;
  /** Samples pooled over all rounds, for each side. */
  samples: Partial<Record<Side, number[]>>;
  /** ours / PyTorch, when both sides have a value. */
  ratio: number | null;
}

/**
 * Pools the results of all rounds into one row per measure: medians of all samples of each side,
 * and the ratio ours/PyTorch.
 *
 * @param results Every side's result of every round.
 * @returns Rows in a fixed order: training steps by batch size, epochs by batch size, validation
 *   passes by batch size, inference, the checkpoint save, peak RSS.
 * @example
 * ```ts
 * import type { BenchResult } from "./result.ts";
 * import { summarizeResults } from "./report.ts";
 * const make = (side: "ours" | "pytorch", ips: number): BenchResult => ({
 *   mode: "bench", side, implementation: side, backend: "x", threads: 2,
 *   data: { path: null, synthetic: true, trainImages: 1, testImages: 1 },
 *   settings: { batchSizes: [30], warmupSteps: 0, steps: 1, repeats: 1, epochImages: 1,
 *     inferenceImages: 1, inferenceBatchSize: 1, seed: 1 },
 *   trainStep: [{ batchSize: 30, images: 30, imagesPerSecond: ips, samples: [ips] }],
 *   epoch: [{ batchSize: 30, images: 30, imagesPerSecond: ips, samples: [ips] }],
 *   validation: [{ batchSize: 30, images: 30, imagesPerSecond: ips, samples: [ips] }],
 *   inference: { batchSize: 1000, images: 1, imagesPerSecond: ips, samples: [ips] },
 *   checkpointSeconds: 0.05, peakRssMiB: 100, trainingPeakRssMiB: 90, wallSeconds: 1,
 * });
 * const rows = summarizeResults([make("ours", 50), make("pytorch", 100)]);
 * if (rows[0]!.ratio !== 0.5 || rows.at(-1)!.ratio !== 1) throw new Error("wrong ratios");
 * ```
 */
export function summarizeResults(results: readonly BenchResult[]): MetricRow[] {
  const rows = new Map<string, MetricRow>();
  const add = (
    key: string,
    label: string,
    unit: string,
    higherIsBetter: boolean,
    side: Side,
    samples: number[],
  ) => {
    let row = rows.get(key);
    if (row === undefined) {
      row = { key, label, unit, higherIsBetter, values: {}, samples: {}, ratio: null };
      rows.set(key, row);
    }
    (row.samples[side] ??= []).push(...samples);
  };
  const batchSizes = [...new Set(results.flatMap((r) => r.trainStep.map((t) => t.batchSize)))]
    .sort((a, b) => a - b);
  const epochSizes = [...new Set(results.flatMap((r) => r.epoch.map((t) => t.batchSize)))]
    .sort((a, b) => a - b);
  // Insert keys in display order first, then fill them.
  const placeholder = (key: string, label: string) =>
    rows.set(key, {
      key,
      label,
      unit: "images/s",
      higherIsBetter: true,
      values: {},
      samples: {},
      ratio: null,
    });
  for (const b of batchSizes) placeholder(`trainStep:${b}`, `Training step, batch ${b}`);
  for (const b of epochSizes) {
    placeholder(`epoch:${b}`, `Epoch incl. batching + augmentation, batch ${b}`);
  }
  for (const b of epochSizes) {
    placeholder(`validation:${b}`, `Validation pass (eval mode, augmented), batch ${b}`);
  }
  for (const r of results) {
    for (const t of r.trainStep) {
      add(`trainStep:${t.batchSize}`, "", "images/s", true, r.side, t.samples);
    }
    for (const t of r.epoch) add(`epoch:${t.batchSize}`, "", "images/s", true, r.side, t.samples);
    for (const t of r.validation) {
      add(`validation:${t.batchSize}`, "", "images/s", true, r.side, t.samples);
    }
    add(
      "inference",
      `Inference (no gradients), batch ${r.inference.batchSize}`,
      "images/s",
      true,
      r.side,
      r.inference.samples,
    );
    add("checkpoint", "Best-checkpoint save", "s", false, r.side, [r.checkpointSeconds]);
    add("trainingPeakRss", "Peak RSS while training", "MiB", false, r.side, [
      r.trainingPeakRssMiB,
    ]);
    add("peakRss", "Peak RSS (whole run)", "MiB", false, r.side, [r.peakRssMiB]);
  }
  for (const row of rows.values()) {
    for (const side of SIDES) {
      const s = row.samples[side];
      if (s !== undefined && s.length > 0) row.values[side] = median(s);
    }
    const ours = row.values.ours;
    const theirs = row.values.pytorch;
    row.ratio = ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : null;
  }
  return [...rows.values()].filter((row) => Object.keys(row.samples).length > 0);
}

/** The machine's sgemm ceiling over a run: measured before the rounds and after them. */
export interface CeilingSummary {
  /** The higher of the two bests, GFLOP/s; null when neither measurement worked. */
  gflops: number | null;
  /** The measurement before the first round. */
  before: CeilingResult | null;
  /** The measurement after the last round. */
  after: CeilingResult | null;
  /** Why a measurement is missing (e.g. no OpenBLAS). */
  problems: string[];
  /** The FMA peak: the higher of the two bests, GFLOP/s; null when neither was measured. */
  fmaGflops: number | null;
  /** The FMA peak measurement that gave it (the other one's best is in `fmaOther`). */
  fma: FmaPeakResult | null;
  /** The other measurement's best, GFLOP/s, when there were two. */
  fmaOther: number | null;
  /** Why the FMA peak is missing (no native kernels). */
  fmaProblems: string[];
}

/** The tutorial's training run, as the projection counts it (from the config's defaults). */
export interface TutorialRunShape {
  /** Epochs (the tutorial: 60). */
  epochs: number;
  /** Training images per epoch (50000 × (1 − validFraction) = 40000). */
  trainImages: number;
  /** Validation images per epoch (10000). */
  validImages: number;
  /** The batch size of both passes (30). */
  batchSize: number;
}

/**
 * Each side's projected wall time of the tutorial's whole run, from the medians: every epoch
 * trains on `trainImages` at the measured epoch throughput (loading, augmentation, step), runs
 * the validation pass over `validImages` at the measured validation throughput, and saves the
 * best checkpoint once (an upper bound: the template saves only when the loss improves). Loading
 * the data set, the test pass and the plots are left out: seconds, once.
 *
 * @param rows From {@link summarizeResults}.
 * @param shape The run: epochs, images and batch size.
 * @returns One row, `projectedRun:<batch>` in minutes (lower is better), or none when a side's
 *   epoch or validation throughput at that batch size was not measured.
 * @example
 * ```ts
 * import { projectedRunRow } from "./report.ts";
 * const row = (key: string, ours: number) => ({ key, label: key, unit: "images/s",
 *   higherIsBetter: true, values: { ours }, samples: { ours: [ours] }, ratio: null });
 * const rows = [row("epoch:30", 1000), row("validation:30", 4000),
 *   { ...row("checkpoint", 0.05), unit: "s", higherIsBetter: false }];
 * const [projected] = projectedRunRow(rows, { epochs: 60, trainImages: 40000, validImages: 10000, batchSize: 30 });
 * // 60 × (40 s + 2.5 s + 0.05 s) = 2553 s
 * if (Math.abs(projected!.values.ours! - 2553 / 60) > 1e-9) throw new Error(JSON.stringify(projected));
 * ```
 */
export function projectedRunRow(
  rows: readonly MetricRow[],
  shape: TutorialRunShape,
): MetricRow[] {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const epoch = byKey.get(`epoch:${shape.batchSize}`);
  const validation = byKey.get(`validation:${shape.batchSize}`);
  if (epoch === undefined || validation === undefined) return [];
  const checkpoint = byKey.get("checkpoint");
  const values: Partial<Record<Side, number>> = {};
  for (const side of SIDES) {
    const train = epoch.values[side], valid = validation.values[side];
    if (train === undefined || valid === undefined || train <= 0 || valid <= 0) continue;
    const perEpoch = shape.trainImages / train + shape.validImages / valid +
      (checkpoint?.values[side] ?? 0);
    values[side] = (shape.epochs * perEpoch) / 60;
  }
  if (Object.keys(values).length === 0) return [];
  const ours = values.ours, theirs = values.pytorch;
  return [{
    key: `projectedRun:${shape.batchSize}`,
    label: `Projected tutorial run: ${shape.epochs} epochs of ${shape.trainImages} training + ` +
      `${shape.validImages} validation images and a checkpoint, batch ${shape.batchSize}`,
    unit: "min",
    higherIsBetter: false,
    values,
    samples: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [v]])),
    ratio: ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : null,
  }];
}

/**
 * The ceiling of a run from its two measurements: the higher best counts, since the machine can
 * do at least that (a slower reading is a busier moment of a shared machine, not a lower ceiling).
 *
 * @param before The measurement before the rounds, or why there is none.
 * @param after The measurement after the rounds, or why there is none.
 * @returns Both measurements and the ceiling.
 * @example
 * ```ts
 * import { summarizeCeiling } from "./report.ts";
 * const at = (best: number) => ({ mode: "ceiling" as const, library: "OpenBLAS", libraryPath: "x",
 *   threads: 2, libraryThreads: 2, sizes: [2048], repeats: 1, samples: [], bestGflops: best,
 *   medianGflops: best, fma: { reason: "not measured" } });
 * const c = summarizeCeiling({ ok: true, result: at(200) }, { ok: true, result: at(210) });
 * if (c.gflops !== 210) throw new Error(String(c.gflops));
 * ```
 */
export function summarizeCeiling(
  before: { ok: true; result: CeilingResult } | { ok: false; reason: string },
  after: { ok: true; result: CeilingResult } | { ok: false; reason: string },
): CeilingSummary {
  const pick = (m: typeof before) => m.ok ? m.result : null;
  const problems = [before, after].flatMap((m, i) =>
    m.ok ? [] : [`${i === 0 ? "before" : "after"} the rounds: ${m.reason}`]
  );
  const bests = [pick(before), pick(after)].flatMap((r) => r === null ? [] : [r.bestGflops]);
  // A result written before the FMA peak was measured has no `fma` at all.
  const peaks = [pick(before), pick(after)].flatMap((r) =>
    r !== null && r.fma !== undefined && "bestGflops" in r.fma ? [r.fma] : []
  ).sort((a, b) => b.bestGflops - a.bestGflops);
  const fmaProblems = [before, after].flatMap((m, i) => {
    const when = i === 0 ? "before" : "after";
    if (!m.ok) return [];
    const fma = m.result.fma;
    return fma === undefined || "reason" in fma
      ? [`${when} the rounds: ${fma?.reason ?? "not measured"}`]
      : [];
  });
  return {
    gflops: bests.length === 0 ? null : Math.max(...bests),
    before: pick(before),
    after: pick(after),
    problems,
    fmaGflops: peaks[0]?.bestGflops ?? null,
    fma: peaks[0] ?? null,
    fmaOther: peaks[1]?.bestGflops ?? null,
    fmaProblems,
  };
}

/**
 * One line about the ceiling, for the report and the Markdown caption.
 *
 * @param ceiling From {@link summarizeCeiling}.
 * @returns E.g. `sgemm ceiling: 211.0 GFLOP/s (OpenBLAS sgemm, 2 thread(s), n = 1536, 2048; best
 *   before the rounds 211.0, after 205.2; medians 203.4, 200.1; OpenBLAS 0.3.21 … Haswell …)`.
 * @example
 * ```ts
 * import { describeCeiling } from "./report.ts";
 * const line = describeCeiling({ gflops: null, before: null, after: null, problems: ["no BLAS"],
 *   fmaGflops: null, fma: null, fmaOther: null, fmaProblems: [] });
 * if (line !== "sgemm ceiling: not measured (no BLAS)") throw new Error(line);
 * ```
 */
export function describeCeiling(ceiling: CeilingSummary): string {
  const one = ceiling.before ?? ceiling.after;
  if (ceiling.gflops === null || one === null) {
    return `sgemm ceiling: not measured (${ceiling.problems.join("; ")})`;
  }
  const at = (r: CeilingResult | null, key: "bestGflops" | "medianGflops") =>
    r === null ? "—" : r[key].toFixed(1);
  return `sgemm ceiling: ${ceiling.gflops.toFixed(1)} GFLOP/s (OpenBLAS sgemm, ${one.threads} ` +
    `thread(s), n = ${one.sizes.join(", ")}; best before the rounds ` +
    `${at(ceiling.before, "bestGflops")}, after ${at(ceiling.after, "bestGflops")}; medians ` +
    `${at(ceiling.before, "medianGflops")}, ${at(ceiling.after, "medianGflops")}; ${one.library}` +
    `${ceiling.problems.length > 0 ? `; ${ceiling.problems.join("; ")}` : ""})`;
}

/**
 * One line about the FMA peak, the machine's arithmetic ceiling, for the report and the caption.
 *
 * @param ceiling From {@link summarizeCeiling}.
 * @returns E.g. `FMA peak: 421.5 GFLOP/s (avx512 build: 24 independent 16-lane FMAs per thread,
 *   2 thread(s); the other measurement 419.0)`.
 * @example
 * ```ts
 * import { describeFmaPeak } from "./report.ts";
 * const line = describeFmaPeak({ gflops: null, before: null, after: null, problems: [],
 *   fmaGflops: null, fma: null, fmaOther: null, fmaProblems: ["no compiler"] });
 * if (line !== "FMA peak: not measured (no compiler)") throw new Error(line);
 * ```
 */
export function describeFmaPeak(ceiling: CeilingSummary): string {
  const fma = ceiling.fma;
  if (ceiling.fmaGflops === null || fma === null) {
    return `FMA peak: not measured (${ceiling.fmaProblems.join("; ") || "no measurement"})`;
  }
  return `FMA peak: ${ceiling.fmaGflops.toFixed(1)} GFLOP/s (${fma.isa} build: ` +
    `${fma.accumulators} independent ${fma.lanes}-lane FMAs per thread, ${fma.threads} ` +
    `thread(s), no memory traffic; median ${fma.medianGflops.toFixed(1)}` +
    `${ceiling.fmaOther === null ? "" : `; the other measurement ${ceiling.fmaOther.toFixed(1)}`})`;
}

/** A figure derived from the measured medians: compute speed and throughput shares. */
export interface EfficiencyRow {
  /** Stable key, e.g. `stepGflops:30`, `ceilingShare:30`, `epochStep:30`. */
  key: string;
  /** Label for people, e.g. `epoch / step throughput, batch 30`. */
  label: string;
  /** `GFLOP/s` or `%`. */
  unit: "GFLOP/s" | "%";
  /** The figure for each side that has it. */
  values: Partial<Record<Side, number>>;
}

/**
 * What the medians say about efficiency, per batch size: each side's training-step speed in
 * GFLOP/s (images/s × GFLOP per image), its share of the machine's sgemm ceiling, and its epoch
 * throughput as a share of its step throughput (what batching, augmentation and the loss
 * read-back cost on top of the step).
 *
 * @param rows From {@link summarizeResults}.
 * @param gflopPerImage A training step's GFLOP per image (`trainingGflopPerImage` in bench/stats.ts).
 * @param ceilingGflops The sgemm ceiling; null leaves out the shares of it.
 * @param fmaGflops The FMA peak; null (the default) leaves out the shares of it.
 * @returns Rows in order: per batch size, GFLOP/s, share of the sgemm ceiling, share of the FMA
 *   peak, epoch / step.
 * @example
 * ```ts
 * import { efficiencyRows } from "./report.ts";
 * const row = (key: string, ours: number) => ({ key, label: key, unit: "images/s",
 *   higherIsBetter: true, values: { ours }, samples: { ours: [ours] }, ratio: null });
 * const out = efficiencyRows([row("trainStep:30", 1000), row("epoch:30", 950)], 0.2, 400);
 * if (out.map((r) => r.values.ours).join() !== "200,50,95") throw new Error(JSON.stringify(out));
 * ```
 */
export function efficiencyRows(
  rows: readonly MetricRow[],
  gflopPerImage: number,
  ceilingGflops: number | null,
  fmaGflops: number | null = null,
): EfficiencyRow[] {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const out: EfficiencyRow[] = [];
  for (const step of rows.filter((r) => r.key.startsWith("trainStep:"))) {
    const batch = step.key.slice("trainStep:".length);
    const each = (f: (side: Side, stepValue: number) => number | undefined) => {
      const values: Partial<Record<Side, number>> = {};
      for (const side of SIDES) {
        const v = step.values[side];
        const value = v === undefined ? undefined : f(side, v);
        if (value !== undefined) values[side] = value;
      }
      return values;
    };
    out.push({
      key: `stepGflops:${batch}`,
      label: `Training step compute, batch ${batch}`,
      unit: "GFLOP/s",
      values: each((_, v) => v * gflopPerImage),
    });
    if (ceilingGflops !== null) {
      out.push({
        key: `ceilingShare:${batch}`,
        label: `Training step share of the sgemm ceiling, batch ${batch}`,
        unit: "%",
        values: each((_, v) => (100 * v * gflopPerImage) / ceilingGflops),
      });
    }
    if (fmaGflops !== null) {
      out.push({
        key: `fmaShare:${batch}`,
        label: `Training step share of the FMA peak, batch ${batch}`,
        unit: "%",
        values: each((_, v) => (100 * v * gflopPerImage) / fmaGflops),
      });
    }
    const epoch = byKey.get(`epoch:${batch}`);
    if (epoch !== undefined) {
      out.push({
        key: `epochStep:${batch}`,
        label: `epoch / step throughput, batch ${batch}`,
        unit: "%",
        values: each((side, v) => {
          const e = epoch.values[side];
          return e === undefined || v <= 0 ? undefined : (100 * e) / v;
        }),
      });
    }
  }
  return out;
}

function formatEfficiency(value: number | undefined, unit: EfficiencyRow["unit"]): string {
  if (value === undefined) return "—";
  return unit === "%" ? `${value.toFixed(1)}%` : `${value.toFixed(1)} GFLOP/s`;
}

function formatValue(value: number | undefined, unit: string): string {
  if (value === undefined) return "—";
  if (unit === "MiB") return `${value.toFixed(0)} MiB`;
  if (unit === "s") return `${(value * 1000).toFixed(0)} ms`;
  if (unit === "min") return `${value.toFixed(1)} min`;
  return `${value.toFixed(1)} img/s`;
}

function formatRatio(ratio: number | null): string {
  return ratio === null ? "—" : `${ratio.toFixed(2)}×`;
}

/**
 * The report printed at the end: one line per measure with both medians, then one line per
 * efficiency figure (GFLOP/s, share of the sgemm ceiling, epoch / step), then the ratios
 * ours/PyTorch as the last lines.
 *
 * @param rows From {@link summarizeResults}.
 * @param efficiency From {@link efficiencyRows}.
 * @returns The lines.
 * @example
 * ```ts
 * import { formatReport } from "./report.ts";
 * const lines = formatReport([{ key: "peakRss", label: "Peak RSS", unit: "MiB", higherIsBetter: false,
 *   values: { ours: 300, pytorch: 600 }, samples: {}, ratio: 0.5 }]);
 * if (lines.at(-1) !== "ratio ours/PyTorch, Peak RSS: 0.50× (lower is better)") throw new Error(lines.join("\n"));
 * ```
 */
export function formatReport(
  rows: readonly MetricRow[],
  efficiency: readonly EfficiencyRow[] = [],
): string[] {
  const width = Math.max(...rows.map((r) => r.label.length), 10);
  const lines = rows.map((r) =>
    `${r.label.padEnd(width)}  ours ${formatValue(r.values.ours, r.unit).padStart(14)}  ` +
    `PyTorch ${formatValue(r.values.pytorch, r.unit).padStart(14)}`
  );
  for (const e of efficiency) {
    lines.push(
      `${e.label}: ours ${formatEfficiency(e.values.ours, e.unit)}, PyTorch ${
        formatEfficiency(e.values.pytorch, e.unit)
      }`,
    );
  }
  for (const r of rows) {
    lines.push(
      `ratio ours/PyTorch, ${r.label}: ${formatRatio(r.ratio)} (${
        r.higherIsBetter ? "higher" : "lower"
      } is better)`,
    );
  }
  return lines;
}

/** What the Markdown caption says about the run. */
export interface RunDescription {
  /** Our implementation (from our side's result), e.g. `tfjs 4.22 + OpenBLAS (blas)`. */
  ours: string | null;
  /** PyTorch's implementation string, with the interpreter it ran under. */
  pytorch: string | null;
  /** `synthetic` or the real data's path. */
  data: string;
  /** Rounds run. */
  rounds: number;
  /** Free text about the machine (CPU, cores). */
  machine: string;
  /** ISO date of the run. */
  date: string;
  /** The sgemm ceiling line ({@link describeCeiling}), when measured. */
  ceiling?: string;
  /** The FMA peak line ({@link describeFmaPeak}). */
  fmaPeak?: string;
  /** A training step's GFLOP per image (`trainingGflopPerImage` in bench/stats.ts), when known. */
  gflopPerImage?: number;
}

/**
 * The comparison as a Markdown table with a caption, for the README.
 *
 * @param rows From {@link summarizeResults}.
 * @param run What was run where.
 * @param efficiency From {@link efficiencyRows}: more rows after the measured ones.
 * @returns Markdown text ending in a newline.
 * @example
 * ```ts
 * import { markdownTable } from "./report.ts";
 * const md = markdownTable([{ key: "inference", label: "Inference", unit: "images/s",
 *   higherIsBetter: true, values: { ours: 900, pytorch: 1800 }, samples: {}, ratio: 0.5 }],
 *   { ours: "ours", pytorch: "PyTorch", data: "synthetic", rounds: 1, machine: "2 cores", date: "2026-11-28" });
 * if (!md.includes("| Inference (images/s) | 900 | 1800 | 0.50× |")) throw new Error(md);
 * ```
 */
export function markdownTable(
  rows: readonly MetricRow[],
  run: RunDescription,
  efficiency: readonly EfficiencyRow[] = [],
): string {
  // Whole images/s and MiB; seconds to the millisecond, minutes to a tenth.
  const cell = (v: number | undefined, unit: string) =>
    v === undefined ? "—" : v.toFixed(unit === "s" ? 3 : unit === "min" ? 1 : 0);
  const share = (v: number | undefined, unit: EfficiencyRow["unit"]) =>
    v === undefined ? "—" : unit === "%" ? `${v.toFixed(0)}%` : v.toFixed(0);
  const lines = [
    `| Measure (median) | ours | PyTorch | ours / PyTorch |`,
    `| --- | ---: | ---: | ---: |`,
    ...rows.map((r) =>
      `| ${r.label} (${r.unit}) | ${cell(r.values.ours, r.unit)} | ${
        cell(r.values.pytorch, r.unit)
      } | ${formatRatio(r.ratio)} |`
    ),
    ...efficiency.map((e) =>
      `| ${e.label} (${e.unit}) | ${share(e.values.ours, e.unit)} | ${
        share(e.values.pytorch, e.unit)
      } | — |`
    ),
  ];
  const compute = run.gflopPerImage === undefined ? "" : ` A training step does ` +
    `${run.gflopPerImage.toFixed(3)} GFLOP per image (its products, counted as direct ` +
    `convolutions; GFLOP/s = images/s × that, so a side that does fewer, as our Winograd ` +
    `convolutions do, shows its effective rate).`;
  const caption = `Ours: ${run.ours ?? "not run"}. PyTorch: ${run.pytorch ?? "not run"}. ` +
    `Data: ${run.data}. ${run.rounds} alternating round(s), medians of all repeats; ` +
    `${run.machine}; ${run.date}.${run.ceiling === undefined ? "" : ` ${run.ceiling}.`}` +
    `${run.fmaPeak === undefined ? "" : ` ${run.fmaPeak}.`}` +
    `${compute} Throughput: higher is better; peak RSS: lower is better.`;
  return lines.join("\n") + "\n\n" + caption + "\n";
}
