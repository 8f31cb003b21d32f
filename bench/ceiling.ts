/**
 * `deno task bench:ceiling`: the machine's two ceilings at a given thread count.
 * - The sgemm ceiling: the GFLOP/s OpenBLAS's single-precision matrix product reaches on large
 *   square matrices. A training step is mostly such products (on smaller, thinner shapes), so this
 *   says what share of the best product speed a library offers here the step keeps. It is only
 *   OpenBLAS's: on a CPU its build has no kernel for, OpenBLAS runs an older one (0.3.21 ran its
 *   AVX2 Haswell kernel on a Zen 5), and the ceiling is lower than the machine's.
 * - The FMA peak: fused multiply-adds at the widest vector width our native build for this CPU
 *   has (`cifar_fma_peak` in native.c), on the same threads, with no memory traffic. No product
 *   can beat it; it is the machine's own arithmetic ceiling.
 *
 * It runs in a process of its own because OpenBLAS reads `OPENBLAS_NUM_THREADS` once, when it
 * loads; the driver (bench/bench.ts) starts it before and after its rounds with `--threads` of
 * the benchmark. Prints one JSON object ({@link CeilingResult}) on stdout.
 *
 * ```sh
 * deno task bench:ceiling                       # 2 threads, n = 1536 and 2048, 5 repeats each
 * deno task bench:ceiling --threads 1 --sizes 1024,2048 --repeats 3
 * ```
 * @module
 */
import { type BlasLibrary, openBlas } from "../lib/engine/kernels/blas/cblas.ts";
import { parseFlags } from "../lib/core/flags.ts";
import { createRng } from "../lib/core/random.ts";
import { median } from "./stats.ts";
import { parseInteger } from "../lib/core/flags.ts";
import {
  loadNativeKernels,
  type NativeKernels,
} from "../lib/engine/kernels/native/native_kernels.ts";

/** Settings of one ceiling measurement. */
export interface CeilingOptions {
  /** OpenBLAS threads (`OPENBLAS_NUM_THREADS`). @default 2 */
  threads: number;
  /** Sides n of the square products n×n·n×n. @default [1536, 2048] */
  sizes: number[];
  /** Timed products per size, after one untimed. @default 5 */
  repeats: number;
}

/** The defaults of {@link CeilingOptions}. */
export const DEFAULT_CEILING_OPTIONS: Readonly<CeilingOptions> = Object.freeze({
  threads: 2,
  sizes: [1536, 2048],
  repeats: 5,
});

/** One timed product. */
export interface CeilingSample {
  /** Side of the square matrices. */
  n: number;
  /** Wall time of the product, seconds. */
  seconds: number;
  /** 2·n³ / seconds / 10⁹. */
  gflops: number;
}

/** What `bench/ceiling.ts` prints: the samples, their best and their median. */
export interface CeilingResult {
  /** Always `"ceiling"`. */
  mode: "ceiling";
  /** OpenBLAS's description of itself: version, build options and the core it chose, e.g. `Cooperlake`. */
  library: string;
  /** The library file loaded. */
  libraryPath: string;
  /** Threads asked for. */
  threads: number;
  /** Threads OpenBLAS says it uses (null when it cannot say). */
  libraryThreads: number | null;
  /** The settings measured. */
  sizes: number[];
  /** Timed products per size. */
  repeats: number;
  /** Every timed product. */
  samples: CeilingSample[];
  /** The fastest sample, GFLOP/s: the ceiling. */
  bestGflops: number;
  /** The median of all samples, GFLOP/s. */
  medianGflops: number;
  /** The FMA peak on the same threads, or why it was not measured (no native kernels). */
  fma: FmaPeakResult | { reason: string };
}

/** The machine's fused multiply-add peak, as {@link measureFmaPeak} measured it. */
export interface FmaPeakResult {
  /** Our native build it ran in, e.g. `avx512` (`prebuilt` for a library named by `CIFAR10_NATIVE`). */
  isa: string;
  /** Vector lanes of that build (16 for AVX-512). */
  lanes: number;
  /** Independent accumulator vectors per thread. */
  accumulators: number;
  /** Threads it ran on. */
  threads: number;
  /** GFLOP/s of each timed run. */
  samples: number[];
  /** The fastest run, GFLOP/s: the ceiling. */
  bestGflops: number;
  /** The median run, GFLOP/s. */
  medianGflops: number;
}

/** The part of a BLAS library (lib/engine/kernels/blas/cblas.ts) {@link measureCeiling} uses. */
export type SgemmLibrary = Pick<BlasLibrary, "description" | "path" | "sgemm" | "getThreads">;

/**
 * Times square single-precision products: for each size one untimed product (thread start-up,
 * first touch of the output), then `repeats` timed ones.
 *
 * @param library The loaded BLAS library (its threads already set).
 * @param options Threads (reported), sizes, repeats.
 * @returns Every sample, the best and the median.
 * @throws {RangeError} For no sizes or repeats.
 * @example
 * ```ts
 * import { measureCeiling } from "./ceiling.ts";
 * // A naive product stands in for OpenBLAS.
 * const library = {
 *   description: "naive", path: "-", getThreads: () => 1,
 *   sgemm(_ta: boolean, _tb: boolean, m: number, n: number, k: number, _al: number,
 *     a: Float32Array, _lda: number, b: Float32Array, _ldb: number, _be: number, c: Float32Array) {
 *     for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
 *       let s = 0;
 *       for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
 *       c[i * n + j] = s;
 *     }
 *   },
 * };
 * const result = measureCeiling(library, { threads: 1, sizes: [16], repeats: 2 });
 * if (result.samples.length !== 2 || !(result.bestGflops >= result.medianGflops)) {
 *   throw new Error(JSON.stringify(result));
 * }
 * ```
 */
export function measureCeiling(
  library: SgemmLibrary,
  options: CeilingOptions,
  fma: FmaPeakResult | { reason: string } = { reason: "not measured" },
): CeilingResult {
  if (options.sizes.length === 0 || options.repeats < 1) {
    throw new RangeError(
      `Cannot measure the sgemm ceiling: expected at least one size and one repeat, found sizes ` +
        `[${options.sizes.join(", ")}] and ${options.repeats} repeat(s)`,
    );
  }
  const samples: CeilingSample[] = [];
  const rng = createRng(7);
  for (const n of options.sizes) {
    // Values in [-1, 1): no denormals or infinities to slow the product down.
    const a = Float32Array.from({ length: n * n }, () => rng.next() * 2 - 1);
    const b = Float32Array.from({ length: n * n }, () => rng.next() * 2 - 1);
    const c = new Float32Array(n * n);
    const product = () => library.sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n);
    product();
    for (let r = 0; r < options.repeats; r++) {
      const t0 = performance.now();
      product();
      const seconds = (performance.now() - t0) / 1000;
      samples.push({ n, seconds, gflops: (2 * n ** 3) / seconds / 1e9 });
    }
  }
  const gflops = samples.map((s) => s.gflops);
  return {
    mode: "ceiling",
    library: library.description,
    libraryPath: library.path,
    threads: options.threads,
    libraryThreads: library.getThreads(),
    sizes: options.sizes,
    repeats: options.repeats,
    samples,
    bestGflops: Math.max(...gflops),
    medianGflops: median(gflops),
    fma,
  };
}

/**
 * Times the fused multiply-add loop of our native build: one untimed run (thread start-up), then
 * `repeats` runs of `rounds` rounds on `threads` threads.
 *
 * @param kernels Loaded native kernels (the ISA they were built for is the one measured).
 * @param threads Threads to run on.
 * @param repeats Timed runs. @default 5
 * @param rounds Rounds per thread per run. @default 2·10⁷ (about 0.1 s at AVX-512)
 * @returns The samples, the best and the median.
 */
export function measureFmaPeak(
  kernels: Pick<NativeKernels, "isa" | "tile" | "fmaPeak" | "setThreads" | "threads">,
  threads: number,
  repeats = 5,
  rounds = 2e7,
): FmaPeakResult {
  kernels.setThreads(threads);
  kernels.fmaPeak(rounds / 10);
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const { flops, seconds } = kernels.fmaPeak(rounds);
    samples.push(flops / seconds / 1e9);
  }
  return {
    isa: kernels.isa ?? "prebuilt",
    lanes: kernels.tile.lanes,
    accumulators: kernels.tile.accumulators,
    threads: kernels.threads(),
    samples,
    bestGflops: Math.max(...samples),
    medianGflops: median(samples),
  };
}

function positiveInt(flag: string, text: string): number {
  return parseInteger(text, `--${flag}`, { min: 1 });
}

/**
 * Parses `bench/ceiling.ts`'s flags.
 *
 * @param args `Deno.args`.
 * @returns The settings.
 * @throws {RangeError} On unknown flags or bad values, naming the flag.
 * @example
 * ```ts
 * import { parseCeilingArgs } from "./ceiling.ts";
 * const options = parseCeilingArgs(["--threads", "4", "--sizes", "1024,2048"]);
 * if (options.threads !== 4 || options.sizes.join() !== "1024,2048" || options.repeats !== 5) {
 *   throw new Error(JSON.stringify(options));
 * }
 * ```
 */
export function parseCeilingArgs(args: string[]): CeilingOptions {
  const { flags } = parseFlags(args, {
    "--threads": "string",
    "--sizes": "string",
    "--repeats": "string",
  });
  // A flag given twice: the last one counts.
  const given = new Map(flags);
  const text = (flag: string) => given.get(`--${flag}`) as string | undefined;
  const threads = text("threads");
  const sizes = text("sizes");
  const repeats = text("repeats");
  return {
    threads: threads === undefined
      ? DEFAULT_CEILING_OPTIONS.threads
      : positiveInt("threads", threads),
    sizes: sizes === undefined
      ? [...DEFAULT_CEILING_OPTIONS.sizes]
      : sizes.split(",").map((s) => positiveInt("sizes", s.trim())),
    repeats: repeats === undefined
      ? DEFAULT_CEILING_OPTIONS.repeats
      : positiveInt("repeats", repeats),
  };
}

/**
 * Reads the result of `bench/ceiling.ts` from its stdout (the last line that starts with `{`).
 *
 * @param stdout Everything it printed on stdout.
 * @returns The result.
 * @throws {SyntaxError} When no such line is found or it lacks the ceiling's figures.
 * @example
 * ```ts
 * import { parseCeilingOutput } from "./ceiling.ts";
 * const line = JSON.stringify({ mode: "ceiling", bestGflops: 200, medianGflops: 190, samples: [] });
 * if (parseCeilingOutput(`x\n${line}\n`).bestGflops !== 200) throw new Error("not read");
 * ```
 */
export function parseCeilingOutput(stdout: string): CeilingResult {
  const line = stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{")).at(-1);
  let parsed: CeilingResult | null = null;
  try {
    parsed = line === undefined ? null : JSON.parse(line);
  } catch {
    // Reported below with what was found.
  }
  if (
    parsed === null || parsed.mode !== "ceiling" || !Number.isFinite(parsed.bestGflops) ||
    !Number.isFinite(parsed.medianGflops)
  ) {
    throw new SyntaxError(
      `Cannot read the sgemm ceiling: expected a JSON line with "mode": "ceiling", bestGflops ` +
        `and medianGflops, found ${JSON.stringify((line ?? stdout).slice(-200))}`,
    );
  }
  return parsed;
}

/**
 * Runs `bench/ceiling.ts` in a process of its own (OpenBLAS takes its thread count when it loads)
 * and reads its result.
 *
 * @param options Threads, sizes, repeats.
 * @returns The result, or why there is none (no OpenBLAS on this machine, a failed process).
 */
export async function runCeiling(
  options: CeilingOptions = DEFAULT_CEILING_OPTIONS,
): Promise<{ ok: true; result: CeilingResult } | { ok: false; reason: string }> {
  const args = [
    "run",
    "-A",
    new URL("./ceiling.ts", import.meta.url).pathname,
    "--threads",
    String(options.threads),
    "--sizes",
    options.sizes.join(","),
    "--repeats",
    String(options.repeats),
  ];
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1) ?? "";
    return {
      ok: false,
      reason: `bench/ceiling.ts exited with code ${output.code}: ${stderr || "no output"}`,
    };
  }
  try {
    return { ok: true, result: parseCeilingOutput(stdout) };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

if (import.meta.main) {
  const options = parseCeilingArgs(Deno.args);
  // Before the library loads: OpenBLAS sizes its thread pool from this once, at load time. The
  // benchmark's thread count wins over an inherited value, which is what the ceiling is asked for.
  Deno.env.set("OPENBLAS_NUM_THREADS", String(options.threads));
  const opened = openBlas();
  if (!opened.ok) {
    console.error(`${opened.reason}; install OpenBLAS (Debian: apt-get install -y libopenblas0)`);
    Deno.exit(2);
  }
  // The widest build this CPU runs, or the one CIFAR10_NATIVE_ISA names (`bench --isa`).
  const native = loadNativeKernels();
  const fma = native.ok
    ? measureFmaPeak(native.kernels, options.threads, options.repeats)
    : { reason: native.reason };
  const result = measureCeiling(opened.library, options, fma);
  console.error(
    `sgemm ceiling: best ${result.bestGflops.toFixed(1)} GFLOP/s, median ` +
      `${result.medianGflops.toFixed(1)} (${options.threads} thread(s), n = ` +
      `${options.sizes.join(", ")}, ${result.library})`,
  );
  console.error(
    "bestGflops" in fma
      ? `FMA peak: best ${fma.bestGflops.toFixed(1)} GFLOP/s, median ` +
        `${fma.medianGflops.toFixed(1)} (${fma.threads} thread(s), ${fma.isa} build, ` +
        `${fma.accumulators} × ${fma.lanes} lanes)`
      : `FMA peak: not measured (${fma.reason})`,
  );
  console.log(JSON.stringify(result));
}
