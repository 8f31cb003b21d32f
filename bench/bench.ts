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
 * The reference is the PyTorch a user installs today: torch `TORCH_VERSION` and torchvision
 * `TORCHVISION_VERSION` in a project venv (`.tools/pytorch-<version>/`, made on the first run
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
 * This file is only the driver; its parts live beside it: the result both sides print
 * (bench/result.ts), the options and the command line (bench/options.ts), running one side
 * (bench/sides.ts), the synthetic data (bench/synthetic.ts), and the summary, efficiency figures,
 * report and Markdown table (bench/report.ts).
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
import { describeMachine, trainingGflopPerImage } from "./stats.ts";
import { type BenchData, prepareBenchData } from "./bench_data.ts";
import { makeConfig } from "../lib/core/config.ts";
import { ensurePytorchVenv, PROJECT_ROOT } from "./pytorch_env.ts";
import { DEFAULT_CEILING_OPTIONS, runCeiling } from "./ceiling.ts";
import { RECORDS_PER_BATCH } from "../lib/data/format.ts";
import type { BenchResult, Side } from "./result.ts";
import { type BenchOptions, ISA_LIMITS, parseBenchArgs, USAGE } from "./options.ts";
import { checkIsaHonoured, ensurePytorch, runSide, sideCommand } from "./sides.ts";
import { writeSyntheticData } from "./synthetic.ts";
import {
  type CeilingSummary,
  describeCeiling,
  describeFmaPeak,
  type EfficiencyRow,
  efficiencyRows,
  formatReport,
  markdownTable,
  type MetricRow,
  projectedRunRow,
  type RunDescription,
  summarizeCeiling,
  summarizeResults,
} from "./report.ts";

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
    console.error(`sgemm ceiling and FMA peak at ${options.threads} thread(s), before the rounds`);
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
    console.error(`sgemm ceiling and FMA peak at ${options.threads} thread(s), after the rounds`);
    ceiling = summarizeCeiling(before, await runCeiling(ceilingOptions));
  } finally {
    if (syntheticDir !== null) await Deno.remove(syntheticDir, { recursive: true });
  }
  // 4. Summary: pooled medians, then the ratios as the last lines.
  const config = makeConfig();
  const validImages = Math.floor(CIFAR10_TRAIN_IMAGES * config.validFraction);
  const measured = summarizeResults(results);
  const rows = [
    ...measured,
    // The tutorial's whole run, from the medians above.
    ...projectedRunRow(measured, {
      epochs: config.epochs,
      trainImages: CIFAR10_TRAIN_IMAGES - validImages,
      validImages,
      batchSize: config.batchSize,
    }),
  ];
  const gflopPerImage = trainingGflopPerImage(config);
  const efficiency = efficiencyRows(rows, gflopPerImage, ceiling.gflops, ceiling.fmaGflops);
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
    fmaPeak: describeFmaPeak(ceiling),
    gflopPerImage,
  };
  console.log(`Data: ${run.data}`);
  console.log(`ours: ${run.ours ?? "not run"}`);
  console.log(`PyTorch: ${run.pytorch ?? "not run"}`);
  console.log(`Machine: ${run.machine}`);
  if (limits !== null) console.log(`ISA limited to ${options.isa} on both sides: ${limitText}`);
  console.log(run.ceiling);
  console.log(run.fmaPeak);
  console.log(
    `Training step: ${gflopPerImage.toFixed(3)} GFLOP per image (products only, counted as ` +
      `direct convolutions: our Winograd convolutions do fewer, so our GFLOP/s are effective)`,
  );
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

/** Training images of CIFAR-10: five batch files of 10000. */
const CIFAR10_TRAIN_IMAGES = 5 * RECORDS_PER_BATCH;

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
