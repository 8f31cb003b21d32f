/**
 * `deno task bench`: our TypeScript training against the original tutorial's PyTorch code, on the
 * same model, batch sizes and data, run as separate processes that alternate (ours, PyTorch, ours,
 * PyTorch, …) so that machine noise hits both sides alike.
 *
 * Each side prints one JSON object ({@link BenchResult}): `bench/ours.ts` for ours,
 * `bench/pytorch_tutorial.py bench` for PyTorch. This driver pools their samples, reports medians of
 * training-step images/s, end-to-end epoch images/s (batching and augmentation included), inference
 * images/s and peak RSS, and prints the ratios ours/PyTorch as its last lines.
 *
 * The reference is the PyTorch a user installs today: torch {@link TORCH_VERSION} and torchvision
 * {@link TORCHVISION_VERSION} in a project venv (`.tools/pytorch-<version>/`, made on the first run
 * by bench/pytorch_env.ts); `--python PATH` picks another interpreter instead. Before and after the
 * rounds it measures the machine's sgemm ceiling (bench/ceiling.ts) and reports each side's
 * training-step GFLOP/s as a share of it, and each side's epoch throughput as a share of its step
 * throughput (what batching and augmentation cost).
 *
 * The data is a synthetic set in the CIFAR-10 binary layout, written to a temporary folder, unless
 * `--data` names the real copy, read as every command reads `--data` (bench/bench_data.ts: an
 * archive of either version, a `cifar-10-batches-bin/` or `cifar-10-batches-py/` folder, or a folder
 * holding one; an archive is extracted once into `data/`, the Python version converted for the
 * sides into a temporary folder).
 *
 * ```sh
 * deno task bench                                  # synthetic data, 2 rounds (~10 min)
 * deno task bench --data data/cifar-10-binary.tar.gz --markdown out/bench.md
 * deno task bench --sides pytorch --rounds 1       # only the reference
 * deno task bench --backend wasm                   # our side on another backend
 * deno task bench --ours-cmd "deno run -A --v8-flags=--max-old-space-size=4096 bench/ours.ts"
 * ```
 * @module
 */
import { describeMachine, median, trainingGflopPerImage } from "./stats.ts";
import { type BenchData, prepareBenchData } from "./bench_data.ts";
import { createRng, deriveSeed } from "../lib/core/random.ts";
import { makeConfig, parseArgs } from "../lib/core/config.ts";
import { parseInteger } from "../lib/core/flags.ts";
import {
  DEFAULT_VENV_DIR,
  ensurePytorchVenv,
  PROJECT_ROOT,
  TORCH_VERSION,
  TORCHVISION_VERSION,
  venvPython,
} from "./pytorch_env.ts";
import { type CeilingResult, DEFAULT_CEILING_OPTIONS, runCeiling } from "./ceiling.ts";

/** The two sides compared. */
export const SIDES = ["ours", "pytorch"] as const;
/** A side of the comparison. */
export type Side = typeof SIDES[number];

/** One throughput measurement: the median of its samples. */
export interface Throughput {
  /** Images per batch. */
  batchSize: number;
  /** Images processed per sample (steps × batch, the epoch's images, or the test images). */
  images: number;
  /** Median of `samples`. */
  imagesPerSecond: number;
  /** Images/s of each repeat. */
  samples: number[];
}

/** What one side's process prints (the last line of its stdout): the shared JSON shape. */
export interface BenchResult {
  /** Always `"bench"`. */
  mode: "bench";
  /** Which side printed it. */
  side: Side;
  /** Human-readable implementation, e.g. `PyTorch 1.13.0 (torchvision 0.14.1), CPU`. */
  implementation: string;
  /** Backend or device, e.g. `pytorch-cpu`, `blas`, `wasm`. */
  backend: string;
  /** Compute threads used, when known. */
  threads: number | null;
  /** The data the side read. */
  data: { path: string | null; synthetic: boolean; trainImages: number; testImages: number };
  /** The measurement settings the side ran with. */
  settings: {
    batchSizes: number[];
    warmupSteps: number;
    steps: number;
    repeats: number;
    epochImages: number;
    inferenceImages: number;
    inferenceBatchSize: number;
    seed: number;
  };
  /** Forward, backward and Adam step on pre-made batches, one entry per batch size. */
  trainStep: Throughput[];
  /** One training epoch over `epochImages` images, loading and augmentation included. */
  epoch: Throughput[];
  /** Evaluation-mode forward passes without gradients. */
  inference: Throughput;
  /** Peak resident memory of the process (VmHWM), MiB. */
  peakRssMiB: number;
  /**
   * Peak resident memory up to the end of the training measurements (steps and epochs: data,
   * model, optimizer state, activations), read before inference starts, MiB.
   */
  trainingPeakRssMiB: number;
  /** Wall time of the whole process, seconds. */
  wallSeconds: number;
}

/** Settings of a benchmark run. */
export interface BenchOptions {
  /** Alternating rounds; each runs every side once. @default 2 */
  rounds: number;
  /** Sides to run, in the order each round runs them. @default ["ours", "pytorch"] */
  sides: Side[];
  /** Batch sizes of the training-step and epoch measurements. @default [30, 128] */
  batchSizes: number[];
  /**
   * The real data, as `--data` takes it everywhere (an archive, a batches folder of either
   * version, or a folder holding one); null writes synthetic data. @default null
   */
  dataPath: string | null;
  /** Untimed training steps before the first timed ones. @default 3 */
  warmup: number;
  /** Timed training steps per repeat. @default 10 */
  steps: number;
  /** Repeats of each measurement inside one process. @default 3 */
  repeats: number;
  /** Images of the end-to-end epoch. @default 3000 */
  epochImages: number;
  /** Test images of the inference measurement. @default 5000 */
  inferenceImages: number;
  /** Batch size of the inference measurement. @default 1000 */
  inferenceBatchSize: number;
  /** Compute threads of each side (torch.set_num_threads; our backend's thread setting). @default 2 */
  threads: number;
  /** Seed of both sides (model init, batches, augmentation) and of the synthetic data. @default 42 */
  seed: number;
  /** Our backend, passed to `bench/ours.ts --backend`. @default "auto" */
  backend: string;
  /**
   * The Python of the PyTorch side; null uses (and first makes) the project venv with torch
   * {@link TORCH_VERSION} (bench/pytorch_env.ts). @default null
   */
  python: string | null;
  /** Command that runs our side, replacing `deno run -A bench/ours.ts`; the shared flags are appended. @default null */
  oursCommand: string[] | null;
  /**
   * Limit both sides (and the sgemm ceiling) to one instruction set, e.g. `avx2` on an AVX-512
   * machine as the nearest stand-in for an AVX2 CPU; null leaves each its own choice (see
   * {@link ISA_LIMITS}). @default null
   */
  isa: IsaLimit | null;
}

/** The instruction sets `--isa` can limit a run to. */
export type IsaLimit = "avx512" | "avx2" | "portable";

/**
 * What `--isa` sets for the processes it starts: our native build (`CIFAR10_NATIVE_ISA`),
 * PyTorch's own kernels (`ATEN_CPU_CAPABILITY`) and its oneDNN convolutions
 * (`ONEDNN_MAX_CPU_ISA`), and OpenBLAS's kernels (`OPENBLAS_CORETYPE`; left alone for AVX-512,
 * where OpenBLAS 0.3.21's own choice was faster here).
 */
export const ISA_LIMITS: Readonly<Record<IsaLimit, Readonly<Record<string, string>>>> = {
  avx512: {
    CIFAR10_NATIVE_ISA: "avx512",
    ATEN_CPU_CAPABILITY: "avx512",
    ONEDNN_MAX_CPU_ISA: "AVX512_CORE",
  },
  avx2: {
    CIFAR10_NATIVE_ISA: "avx2",
    ATEN_CPU_CAPABILITY: "avx2",
    ONEDNN_MAX_CPU_ISA: "AVX2",
    OPENBLAS_CORETYPE: "Haswell",
  },
  portable: {
    CIFAR10_NATIVE_ISA: "portable",
    ATEN_CPU_CAPABILITY: "default",
    ONEDNN_MAX_CPU_ISA: "SSE41",
    OPENBLAS_CORETYPE: "Nehalem",
  },
};

/** The defaults of {@link BenchOptions}. */
export const DEFAULT_BENCH_OPTIONS: Readonly<BenchOptions> = Object.freeze({
  rounds: 2,
  sides: ["ours", "pytorch"] as Side[],
  batchSizes: [30, 128],
  dataPath: null,
  warmup: 3,
  steps: 10,
  repeats: 3,
  epochImages: 3000,
  inferenceImages: 5000,
  inferenceBatchSize: 1000,
  threads: 2,
  seed: 42,
  backend: "auto",
  python: null,
  oursCommand: null,
  isa: null,
});

const BENCH_DIR = new URL(".", import.meta.url).pathname;

/**
 * The flags both sides understand, built from the options (the data path is passed separately).
 *
 * @param options The run's settings.
 * @returns Arguments such as `--batch-sizes 30,128 --repeats 3 …`.
 * @example
 * ```ts
 * import { DEFAULT_BENCH_OPTIONS, sharedArgs } from "./bench.ts";
 * const args = sharedArgs({ ...DEFAULT_BENCH_OPTIONS, steps: 5 });
 * if (args[args.indexOf("--steps") + 1] !== "5") throw new Error("steps not passed");
 * ```
 */
export function sharedArgs(options: BenchOptions): string[] {
  return [
    "--batch-sizes",
    options.batchSizes.join(","),
    "--warmup",
    String(options.warmup),
    "--steps",
    String(options.steps),
    "--repeats",
    String(options.repeats),
    "--epoch-images",
    String(options.epochImages),
    "--inference-images",
    String(options.inferenceImages),
    "--inference-batch-size",
    String(options.inferenceBatchSize),
    "--threads",
    String(options.threads),
    "--seed",
    String(options.seed),
  ];
}

/**
 * The command line that runs one side. This is the seam for plugging in our implementation:
 * `options.oursCommand` replaces the default `deno run -A bench/ours.ts`.
 *
 * @param side Which side.
 * @param dataPath The folder the side reads (the real copy or the synthetic folder).
 * @param options The run's settings.
 * @returns The program followed by its arguments.
 * @example
 * ```ts
 * import { DEFAULT_BENCH_OPTIONS, sideCommand } from "./bench.ts";
 * const venv = sideCommand("pytorch", "/tmp/data", DEFAULT_BENCH_OPTIONS);
 * if (!venv[0]!.endsWith("/.tools/pytorch-2.14.1/bin/python")) throw new Error(venv.join(" "));
 * const cmd = sideCommand("pytorch", "/tmp/data", { ...DEFAULT_BENCH_OPTIONS, python: "/usr/bin/python3" });
 * if (cmd[0] !== "/usr/bin/python3" || cmd[2] !== "bench") throw new Error(cmd.join(" "));
 * const ours = sideCommand("ours", "/tmp/data", { ...DEFAULT_BENCH_OPTIONS, oursCommand: ["./ours"] });
 * if (ours[0] !== "./ours" || !ours.includes("/tmp/data")) throw new Error(ours.join(" "));
 * ```
 */
export function sideCommand(side: Side, dataPath: string, options: BenchOptions): string[] {
  const common = ["--data", dataPath, ...sharedArgs(options)];
  if (side === "pytorch") {
    const python = options.python ?? venvPython(DEFAULT_VENV_DIR);
    return [python, BENCH_DIR + "pytorch_tutorial.py", "bench", ...common];
  }
  const base = options.oursCommand ??
    [Deno.execPath(), "run", "-A", BENCH_DIR + "ours.ts"];
  return [...base, ...common, "--backend", options.backend];
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function checkThroughput(value: unknown, where: string, fail: (msg: string) => never): Throughput {
  const t = value as Throughput;
  if (
    typeof t !== "object" || t === null || !isNumber(t.batchSize) || !isNumber(t.images) ||
    !isNumber(t.imagesPerSecond) || !Array.isArray(t.samples) || !t.samples.every(isNumber) ||
    t.samples.length === 0
  ) {
    fail(
      `expected ${where} as {batchSize, images, imagesPerSecond, samples[]}, found ${
        JSON.stringify(value)
      }`,
    );
  }
  return t;
}

/**
 * Finds and checks the JSON result in a side's stdout (its last line that starts with `{`).
 *
 * @param stdout Everything the side printed on stdout.
 * @param side Which side printed it (named in errors and checked against the result).
 * @returns The result.
 * @throws {SyntaxError} When no JSON line is found, it does not parse, or a field is missing.
 * @example
 * ```ts
 * import { parseBenchOutput } from "./bench.ts";
 * let message = "";
 * try { parseBenchOutput("no json here\n", "ours"); } catch (e) { message = (e as Error).message; }
 * if (!message.startsWith("Cannot read the ours side's result")) throw new Error(message);
 * ```
 */
export function parseBenchOutput(stdout: string, side: Side): BenchResult {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot read the ${side} side's result: ${why}`);
  };
  const line = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{")).at(-1);
  if (line === undefined) {
    fail(`expected a JSON line on stdout, found ${JSON.stringify(stdout.slice(-200))}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(line!);
  } catch (error) {
    fail(`expected JSON, found ${JSON.stringify(line!.slice(0, 200))} (${error})`);
  }
  const r = parsed as BenchResult;
  if (r.mode !== "bench") fail(`expected "mode": "bench", found ${JSON.stringify(r.mode)}`);
  if (r.side !== side) fail(`expected "side": "${side}", found ${JSON.stringify(r.side)}`);
  if (!Array.isArray(r.trainStep) || !Array.isArray(r.epoch)) {
    fail("expected trainStep and epoch arrays");
  }
  r.trainStep.forEach((t, i) => checkThroughput(t, `trainStep[${i}]`, fail));
  r.epoch.forEach((t, i) => checkThroughput(t, `epoch[${i}]`, fail));
  checkThroughput(r.inference, "inference", fail);
  if (!isNumber(r.peakRssMiB)) fail(`expected peakRssMiB, found ${JSON.stringify(r.peakRssMiB)}`);
  if (!isNumber(r.trainingPeakRssMiB)) {
    fail(`expected trainingPeakRssMiB, found ${JSON.stringify(r.trainingPeakRssMiB)}`);
  }
  return r;
}

export { median } from "./stats.ts";

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
 * @returns Rows in a fixed order: training steps by batch size, epochs by batch size, inference,
 *   peak RSS.
 * @example
 * ```ts
 * import { summarizeResults, type BenchResult } from "./bench.ts";
 * const make = (side: "ours" | "pytorch", ips: number): BenchResult => ({
 *   mode: "bench", side, implementation: side, backend: "x", threads: 2,
 *   data: { path: null, synthetic: true, trainImages: 1, testImages: 1 },
 *   settings: { batchSizes: [30], warmupSteps: 0, steps: 1, repeats: 1, epochImages: 1,
 *     inferenceImages: 1, inferenceBatchSize: 1, seed: 1 },
 *   trainStep: [{ batchSize: 30, images: 30, imagesPerSecond: ips, samples: [ips] }],
 *   epoch: [{ batchSize: 30, images: 30, imagesPerSecond: ips, samples: [ips] }],
 *   inference: { batchSize: 1000, images: 1, imagesPerSecond: ips, samples: [ips] },
 *   peakRssMiB: 100, trainingPeakRssMiB: 90, wallSeconds: 1,
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
  for (const b of batchSizes) {
    rows.set(`trainStep:${b}`, {
      key: `trainStep:${b}`,
      label: `Training step, batch ${b}`,
      unit: "images/s",
      higherIsBetter: true,
      values: {},
      samples: {},
      ratio: null,
    });
  }
  for (const b of epochSizes) {
    rows.set(`epoch:${b}`, {
      key: `epoch:${b}`,
      label: `Epoch incl. batching + augmentation, batch ${b}`,
      unit: "images/s",
      higherIsBetter: true,
      values: {},
      samples: {},
      ratio: null,
    });
  }
  for (const r of results) {
    for (const t of r.trainStep) {
      add(`trainStep:${t.batchSize}`, "", "images/s", true, r.side, t.samples);
    }
    for (const t of r.epoch) add(`epoch:${t.batchSize}`, "", "images/s", true, r.side, t.samples);
    add(
      "inference",
      `Inference (no gradients), batch ${r.inference.batchSize}`,
      "images/s",
      true,
      r.side,
      r.inference.samples,
    );
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
 * import { summarizeCeiling } from "./bench.ts";
 * const at = (best: number) => ({ mode: "ceiling" as const, library: "OpenBLAS", libraryPath: "x",
 *   threads: 2, libraryThreads: 2, sizes: [2048], repeats: 1, samples: [], bestGflops: best,
 *   medianGflops: best });
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
  return {
    gflops: bests.length === 0 ? null : Math.max(...bests),
    before: pick(before),
    after: pick(after),
    problems,
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
 * import { describeCeiling } from "./bench.ts";
 * const line = describeCeiling({ gflops: null, before: null, after: null, problems: ["no BLAS"] });
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
 * @param gflopPerImage A training step's GFLOP per image ({@link trainingGflopPerImage}).
 * @param ceilingGflops The sgemm ceiling; null leaves out the shares of it.
 * @returns Rows in order: per batch size, GFLOP/s, share of the ceiling, epoch / step.
 * @example
 * ```ts
 * import { efficiencyRows } from "./bench.ts";
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
  return unit === "MiB" ? `${value.toFixed(0)} MiB` : `${value.toFixed(1)} img/s`;
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
 * import { formatReport } from "./bench.ts";
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
  /** A training step's GFLOP per image ({@link trainingGflopPerImage}), when known. */
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
 * import { markdownTable } from "./bench.ts";
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
  const cell = (v: number | undefined) => v === undefined ? "—" : v.toFixed(0);
  const share = (v: number | undefined, unit: EfficiencyRow["unit"]) =>
    v === undefined ? "—" : unit === "%" ? `${v.toFixed(0)}%` : v.toFixed(0);
  const lines = [
    `| Measure (median) | ours | PyTorch | ours / PyTorch |`,
    `| --- | ---: | ---: | ---: |`,
    ...rows.map((r) =>
      `| ${r.label} (${r.unit}) | ${cell(r.values.ours)} | ${cell(r.values.pytorch)} | ${
        formatRatio(r.ratio)
      } |`
    ),
    ...efficiency.map((e) =>
      `| ${e.label} (${e.unit}) | ${share(e.values.ours, e.unit)} | ${
        share(e.values.pytorch, e.unit)
      } | — |`
    ),
  ];
  const compute = run.gflopPerImage === undefined ? "" : ` A training step does ` +
    `${run.gflopPerImage.toFixed(3)} GFLOP per image (its products; GFLOP/s = images/s × that).`;
  const caption = `Ours: ${run.ours ?? "not run"}. PyTorch: ${run.pytorch ?? "not run"}. ` +
    `Data: ${run.data}. ${run.rounds} alternating round(s), medians of all repeats; ` +
    `${run.machine}; ${run.date}.${run.ceiling === undefined ? "" : ` ${run.ceiling}.`}` +
    `${compute} Throughput: higher is better; peak RSS: lower is better.`;
  return lines.join("\n") + "\n\n" + caption + "\n";
}

/** Options of {@link writeSyntheticData}. */
export interface SyntheticDataOptions {
  /** Seed of labels and pixels. @default 42 */
  seed?: number;
  /** Records in each batch file; the official size is 10,000 (loaders may insist on it). @default 10000 */
  recordsPerFile?: number;
}

/**
 * Writes a synthetic data set in the CIFAR-10 binary layout (`cifar-10-batches-bin/` with five
 * training batches, the test batch, `batches.meta.txt`) plus a `SYNTHETIC.txt` marker, so every
 * loader labels it synthetic. Labels are uniform; pixels are random noise (only throughput is
 * measured on it).
 *
 * @param folder The folder to fill (created when missing).
 * @param options Seed and records per file.
 * @returns The folder.
 * @example
 * ```ts
 * import { writeSyntheticData } from "./bench.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSyntheticData(dir, { recordsPerFile: 2 });
 * const size = (await Deno.stat(`${dir}/cifar-10-batches-bin/test_batch.bin`)).size;
 * if (size !== 2 * 3073) throw new Error(`size ${size}`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSyntheticData(
  folder: string,
  options: SyntheticDataOptions = {},
): Promise<string> {
  const seed = options.seed ?? 42;
  const records = options.recordsPerFile ?? 10000;
  if (!Number.isInteger(records) || records < 1) {
    throw new RangeError(
      `Cannot write synthetic data: expected recordsPerFile as an integer ≥ 1, found ${records}`,
    );
  }
  const inner = `${folder}/cifar-10-batches-bin`;
  await Deno.mkdir(inner, { recursive: true });
  const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat("test_batch.bin");
  for (const name of names) {
    const rng = createRng(deriveSeed(seed, "synthetic", name));
    const bytes = new Uint8Array(records * 3073);
    const words = new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
    for (let i = 0; i < words.length; i++) words[i] = rng.uint32();
    for (let i = words.length * 4; i < bytes.length; i++) bytes[i] = rng.int(256);
    for (let r = 0; r < records; r++) bytes[r * 3073] = rng.int(10);
    await Deno.writeFile(`${inner}/${name}`, bytes);
  }
  await Deno.writeTextFile(
    `${inner}/batches.meta.txt`,
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n",
  );
  const marker = "SYNTHETIC data written by bench/bench.ts for throughput measurements: random " +
    "pixels and labels in the CIFAR-10 binary layout. This is NOT CIFAR-10.\n";
  await Deno.writeTextFile(`${folder}/SYNTHETIC.txt`, marker);
  await Deno.writeTextFile(`${inner}/SYNTHETIC.txt`, marker);
  return folder;
}

/**
 * Checks that an interpreter chosen with `--python` has PyTorch and torchvision; when it does not,
 * it is Debian's `/usr/bin/python3` and we run as root, installs Debian's `python3-torch` and
 * `python3-torchvision` with apt-get (PyTorch 1.13), saying so. Without `--python` the benchmark
 * uses the project venv instead ({@link ensurePytorchVenv}).
 *
 * @param python The interpreter, e.g. `/usr/bin/python3`.
 * @returns The versions found, e.g. `torch 1.13.0a0, torchvision 0.14.1a0`.
 * @throws {Error} When PyTorch is missing and cannot be installed.
 */
export async function ensurePytorch(python: string): Promise<string> {
  const probe = async () => {
    try {
      const out = await new Deno.Command(python, {
        args: [
          "-c",
          "import torch, torchvision; print(torch.__version__, torchvision.__version__)",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
    } catch {
      return null;
    }
  };
  let versions = await probe();
  if (versions === null) {
    const isRoot = Deno.uid?.() === 0;
    if (!isRoot || python !== "/usr/bin/python3") {
      throw new Error(
        `Cannot run the PyTorch side: ${python} cannot import torch and torchvision; install ` +
          "Debian's packages with `sudo apt-get install -y python3-torch python3-torchvision` " +
          "(or pass --python with an interpreter that has them, or leave --python out to use " +
          `the project's venv with torch ${TORCH_VERSION})`,
      );
    }
    console.error(
      "PyTorch is missing: installing python3-torch python3-torchvision with apt-get (as root)",
    );
    const apt = async (...args: string[]) =>
      (await new Deno.Command("apt-get", { args, stdout: "inherit", stderr: "inherit" }).output())
        .success;
    if (!(await apt("install", "-y", "python3-torch", "python3-torchvision"))) {
      await apt("update");
      await apt("install", "-y", "python3-torch", "python3-torchvision");
    }
    versions = await probe();
    if (versions === null) {
      throw new Error(
        "Cannot run the PyTorch side: apt-get did not make torch and torchvision importable by " +
          python,
      );
    }
  }
  const [torch, vision] = versions.split(/\s+/);
  return `torch ${torch}, torchvision ${vision}`;
}

/**
 * Runs one side once and reads its result. Its stderr (progress lines) goes to ours.
 *
 * @param command From {@link sideCommand}.
 * @param side Which side it is.
 * @returns The side's result.
 * @throws {Error} When the process fails; the message holds the command and the end of its output.
 */
export async function runSide(command: string[], side: Side): Promise<BenchResult> {
  const [program, ...args] = command;
  const output = await new Deno.Command(program!, {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `Cannot finish the ${side} side: \`${command.join(" ")}\` exited with code ${output.code}; ` +
        `its stdout ended with ${JSON.stringify(stdout.slice(-500))}`,
    );
  }
  return parseBenchOutput(stdout, side);
}

/**
 * What each side reports running when `--isa` limits it: our native build's name in the backend
 * description (`avx2 build`), and PyTorch's ATen kernels (`kernels AVX2`).
 */
const ISA_EVIDENCE: Readonly<Record<IsaLimit, Readonly<Record<Side, string>>>> = {
  avx512: { ours: "avx512 build", pytorch: "kernels AVX512" },
  avx2: { ours: "avx2 build", pytorch: "kernels AVX2" },
  portable: { ours: "portable build", pytorch: "kernels DEFAULT" },
};

/**
 * Checks that a side ran the instruction set `--isa` asked for. A side that quietly ran another
 * (a CPU without it, a library that ignores the variable) would make the table compare something
 * else, so that is an error naming what it ran.
 *
 * @param result One side's result.
 * @param isa The limit of the run, or null (nothing to check).
 * @throws {Error} When the side's description does not name the ISA.
 * @example
 * ```ts
 * import { checkIsaHonoured } from "./bench.ts";
 * const ran = { side: "pytorch", implementation: "PyTorch 2.14.1 (torchvision 0.29.1), CPU, kernels AVX512" } as const;
 * let refused = false;
 * try {
 *   checkIsaHonoured(ran, "avx2");
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("an AVX-512 run passed for avx2");
 * ```
 */
export function checkIsaHonoured(
  result: Pick<BenchResult, "side" | "implementation">,
  isa: IsaLimit | null,
): void {
  if (isa === null) return;
  const evidence = ISA_EVIDENCE[isa][result.side];
  if (result.implementation.toLowerCase().includes(evidence.toLowerCase())) return;
  throw new Error(
    `Cannot compare the sides with --isa ${isa}: the ${result.side} side did not run it ` +
      `(expected "${evidence}" in its description, found "${result.implementation}")`,
  );
}

const EXTRA_FLAGS = {
  "--rounds": "string",
  "--sides": "string",
  "--batch-sizes": "string",
  "--warmup": "string",
  "--steps": "string",
  "--repeats": "string",
  "--epoch-images": "string",
  "--inference-images": "string",
  "--inference-batch-size": "string",
  "--threads": "string",
  "--python": "string",
  "--isa": "string",
  "--ours-cmd": "string",
  "--markdown": "string",
  "--json": "string",
  "--help": "bool",
} as const;

const USAGE = `deno task bench [flags]
  --rounds N               alternating rounds (ours, pytorch, …) (default 2)
  --sides ours,pytorch     sides to run, in this order each round
  --data PATH              the real data, as every command takes it: an archive (binary or Python
                           version), a cifar-10-batches-bin/ or cifar-10-batches-py/ folder, or a
                           folder holding one (default: synthetic)
  --batch-sizes 30,128     batch sizes of the training-step and epoch measures
  --warmup N --steps N --repeats N
  --epoch-images N         images of the end-to-end epoch (default 3000)
  --inference-images N --inference-batch-size N   (defaults 5000, 1000)
  --threads N              compute threads per side and of the sgemm ceiling (default 2)
  --seed N --backend NAME  seed of both sides; our backend
  --python PATH            Python with PyTorch, e.g. /usr/bin/python3 (Debian's 1.13; installed
                           with apt-get when root). Default: the project venv
                           .tools/pytorch-${TORCH_VERSION}/ with torch ${TORCH_VERSION}, torchvision
                           ${TORCHVISION_VERSION}, made with pip on the first run (~4.6 GB, minutes)
  --isa avx2               limit both sides and the ceiling to one ISA (avx512, avx2, portable):
                           on an AVX-512 machine, the nearest stand-in for an AVX2 CPU
  --ours-cmd "CMD ARGS"    command for our side instead of deno run -A bench/ours.ts
  --markdown FILE          also write the Markdown table to FILE
  --json FILE              also write every raw result and the summary to FILE
Also prints the machine, its sgemm ceiling (bench/ceiling.ts, before and after the rounds), each
side's step GFLOP/s and share of that ceiling, and its epoch / step throughput per batch size.`;

function positiveInt(flag: string, text: string): number {
  return parseInteger(text, `--${flag}`, { min: 1 });
}

/**
 * Parses the driver's command line into options and output files.
 *
 * @param args Command-line arguments (`Deno.args`).
 * @returns Options plus the Markdown and JSON output paths (null when not asked for).
 * @throws {RangeError} On unknown flags or bad values, naming the flag.
 * @example
 * ```ts
 * import { parseBenchArgs } from "./bench.ts";
 * const { options } = parseBenchArgs(["--rounds", "1", "--sides", "pytorch", "--batch-sizes", "30"]);
 * if (options.rounds !== 1 || options.sides.join() !== "pytorch" || options.batchSizes.join() !== "30") {
 *   throw new Error("bad parse");
 * }
 * ```
 */
export function parseBenchArgs(
  args: string[],
): { options: BenchOptions; markdown: string | null; json: string | null; help: boolean } {
  const { overrides, extra } = parseArgs(args, { ...EXTRA_FLAGS });
  const allowed = ["seed", "dataPath", "backend"];
  for (const key of Object.keys(overrides)) {
    if (!allowed.includes(key)) {
      throw new RangeError(
        `Cannot use config field "${key}" in the benchmark: only --seed, --data and --backend apply`,
      );
    }
  }
  const options: BenchOptions = {
    ...DEFAULT_BENCH_OPTIONS,
    sides: [...DEFAULT_BENCH_OPTIONS.sides],
  };
  if (overrides.seed !== undefined) options.seed = overrides.seed;
  if (overrides.dataPath !== undefined) options.dataPath = overrides.dataPath;
  if (overrides.backend !== undefined) options.backend = overrides.backend;
  const text = (flag: string) => extra[flag] as string | undefined;
  const ints: [string, keyof BenchOptions][] = [
    ["rounds", "rounds"],
    ["steps", "steps"],
    ["repeats", "repeats"],
    ["epoch-images", "epochImages"],
    ["inference-images", "inferenceImages"],
    ["inference-batch-size", "inferenceBatchSize"],
    ["threads", "threads"],
  ];
  for (const [flag, key] of ints) {
    const t = text(flag);
    if (t !== undefined) (options as unknown as Record<string, number>)[key] = positiveInt(flag, t);
  }
  const warmup = text("warmup");
  if (warmup !== undefined) options.warmup = parseInteger(warmup, "--warmup", { min: 0 });
  const sizes = text("batch-sizes");
  if (sizes !== undefined) {
    options.batchSizes = sizes.split(",").map((s) => positiveInt("batch-sizes", s.trim()));
  }
  const sides = text("sides");
  if (sides !== undefined) {
    const list = sides.split(",").map((s) => s.trim());
    const bad = list.find((s) => !(SIDES as readonly string[]).includes(s));
    if (bad !== undefined || list.length === 0) {
      throw new RangeError(
        `Cannot parse --sides: expected a comma-separated list of ours, pytorch, found "${sides}"`,
      );
    }
    options.sides = list as Side[];
  }
  if (text("python") !== undefined) options.python = text("python")!;
  const isa = text("isa");
  if (isa !== undefined) {
    if (!Object.hasOwn(ISA_LIMITS, isa)) {
      throw new RangeError(
        `Cannot parse --isa: expected one of ${Object.keys(ISA_LIMITS).join(", ")}, found "${isa}"`,
      );
    }
    options.isa = isa as IsaLimit;
  }
  const oursCmd = text("ours-cmd");
  if (oursCmd !== undefined) {
    const parts = oursCmd.trim().split(/\s+/).filter((p) => p !== "");
    if (parts.length === 0) {
      throw new RangeError(`Cannot parse --ours-cmd: expected a command, found "${oursCmd}"`);
    }
    options.oursCommand = parts;
  }
  return {
    options,
    markdown: text("markdown") ?? null,
    json: text("json") ?? null,
    help: extra["help"] === true,
  };
}

async function writeAtomic(path: string, content: string): Promise<void> {
  const temporary = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(temporary, content);
  await Deno.rename(temporary, path);
}

/**
 * Runs the whole benchmark: data, alternating rounds, summary, report, optional Markdown/JSON files.
 *
 * @param options The run's settings.
 * @param outputs Where to write the Markdown table and the raw JSON (null: not written).
 * @returns The raw results, the summary rows and the efficiency figures.
 */
export async function runBenchmark(
  options: BenchOptions,
  outputs: { markdown?: string | null; json?: string | null } = {},
): Promise<{ results: BenchResult[]; rows: MetricRow[]; efficiency: EfficiencyRow[] }> {
  // 0. The real data first, so a bad --data fails before anything slow: resolved as every
  // command resolves it, and handed to both sides as one binary folder.
  let real: BenchData | null = null;
  if (options.dataPath !== null) real = await prepareBenchData(options.dataPath);
  try {
    return await runRounds(options, outputs, real);
  } finally {
    await real?.cleanup();
  }
}

/** The benchmark once the real data (or none: synthetic) is ready. */
async function runRounds(
  options: BenchOptions,
  outputs: { markdown?: string | null; json?: string | null },
  real: BenchData | null,
): Promise<{ results: BenchResult[]; rows: MetricRow[]; efficiency: EfficiencyRow[] }> {
  // 1. The ISA limit, inherited by every process started below; the reference interpreter: the
  // project venv (made on the first run) unless --python.
  const limits = options.isa === null ? null : ISA_LIMITS[options.isa];
  const limitText = Object.entries(limits ?? {}).map(([n, v]) => `${n}=${v}`).join(" ");
  for (const [name, value] of Object.entries(limits ?? {})) Deno.env.set(name, value);
  if (limits !== null) console.error(`ISA limited to ${options.isa}: ${limitText}`);
  let interpreter: string | null = null;
  if (options.sides.includes("pytorch")) {
    if (options.python === null) {
      const venv = await ensurePytorchVenv();
      const shown = venv.python.startsWith(PROJECT_ROOT + "/")
        ? venv.python.slice(PROJECT_ROOT.length + 1)
        : venv.python;
      interpreter = `${shown}, the project venv`;
      options = { ...options, python: venv.python };
      console.error(
        `PyTorch side: torch ${venv.versions.torch}, torchvision ${venv.versions.torchvision} ` +
          `(${interpreter}${venv.installed ? ", installed now" : ""})`,
      );
    } else {
      interpreter = options.python;
      console.error(`PyTorch side: ${await ensurePytorch(options.python)} (${options.python})`);
    }
  }
  // 2. Data: the real copy when given, else a synthetic set both sides read.
  let dataPath = real?.folder ?? null;
  let syntheticDir: string | null = null;
  if (dataPath === null) {
    syntheticDir = await Deno.makeTempDir({ prefix: "cifar10-bench-synthetic-" });
    console.error(`Writing SYNTHETIC data (not CIFAR-10) to ${syntheticDir}`);
    dataPath = await writeSyntheticData(syntheticDir, { seed: options.seed });
  }
  const results: BenchResult[] = [];
  const ceilingOptions = { ...DEFAULT_CEILING_OPTIONS, threads: options.threads };
  let ceiling: CeilingSummary;
  try {
    // The ceiling before and after the rounds: a shared machine's load changes over a run.
    console.error(`sgemm ceiling at ${options.threads} thread(s), before the rounds`);
    const before = await runCeiling(ceilingOptions);
    // 3. Alternate the sides, round after round, so slow phases of a noisy machine hit both.
    for (let round = 1; round <= options.rounds; round++) {
      for (const side of options.sides) {
        const command = sideCommand(side, dataPath, options);
        console.error(`[round ${round}/${options.rounds}] ${side}: ${command.join(" ")}`);
        const result = await runSide(command, side);
        checkIsaHonoured(result, options.isa);
        results.push(result);
        console.error(
          `[round ${round}/${options.rounds}] ${side}: ` +
            result.trainStep.map((t) => `step b${t.batchSize} ${t.imagesPerSecond.toFixed(1)}`)
              .join(", ") +
            `, epoch ${result.epoch.map((t) => t.imagesPerSecond.toFixed(1)).join("/")}, ` +
            `inference ${result.inference.imagesPerSecond.toFixed(0)} images/s, ` +
            `peak RSS ${result.peakRssMiB.toFixed(0)} MiB`,
        );
      }
    }
    console.error(`sgemm ceiling at ${options.threads} thread(s), after the rounds`);
    ceiling = summarizeCeiling(before, await runCeiling(ceilingOptions));
  } finally {
    if (syntheticDir !== null) await Deno.remove(syntheticDir, { recursive: true });
  }
  // 4. Summary: pooled medians, then the ratios as the last lines.
  const rows = summarizeResults(results);
  const gflopPerImage = trainingGflopPerImage(makeConfig());
  const efficiency = efficiencyRows(rows, gflopPerImage, ceiling.gflops);
  const first = (side: Side) => results.find((r) => r.side === side);
  const describe = (side: Side) => {
    const r = first(side);
    return r === undefined ? null : `${r.implementation}, ${r.backend}` +
      (r.threads === null ? "" : `, ${r.threads} thread(s)`);
  };
  const pytorch = describe("pytorch");
  const run: RunDescription = {
    ours: describe("ours"),
    pytorch: pytorch === null ? null : `${pytorch}, ${interpreter}`,
    data: real === null
      ? "synthetic (random pixels, CIFAR-10 layout; NOT CIFAR-10)"
      : real.description,
    rounds: options.rounds,
    machine: describeMachine() +
      (options.isa === null ? "" : `, both sides limited to ${options.isa} (--isa)`),
    date: new Date().toISOString().slice(0, 10),
    ceiling: describeCeiling(ceiling),
    gflopPerImage,
  };
  console.log(`Data: ${run.data}`);
  console.log(`ours: ${run.ours ?? "not run"}`);
  console.log(`PyTorch: ${run.pytorch ?? "not run"}`);
  console.log(`Machine: ${run.machine}`);
  if (limits !== null) console.log(`ISA limited to ${options.isa} on both sides: ${limitText}`);
  console.log(run.ceiling);
  console.log(`Training step: ${gflopPerImage.toFixed(3)} GFLOP per image (products only)`);
  for (const line of formatReport(rows, efficiency)) console.log(line);
  if (outputs.markdown) {
    await writeAtomic(outputs.markdown, markdownTable(rows, run, efficiency));
    console.error(`Wrote ${outputs.markdown}`);
  }
  if (outputs.json) {
    await writeAtomic(
      outputs.json,
      JSON.stringify({ run, options, rows, efficiency, ceiling, results }, null, 2) + "\n",
    );
    console.error(`Wrote ${outputs.json}`);
  }
  return { results, rows, efficiency };
}

if (import.meta.main) {
  try {
    const { options, markdown, json, help } = parseBenchArgs(Deno.args);
    if (help) {
      console.log(USAGE);
    } else {
      await runBenchmark(options, { markdown, json });
    }
  } catch (error) {
    // Bad flags and unusable data are the user's to fix: the message, not a stack trace.
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
