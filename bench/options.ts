/**
 * The settings of `deno task bench`: {@link BenchOptions} and their defaults, the instruction-set
 * limits `--isa` applies ({@link ISA_LIMITS}), the command line's flags and {@link USAGE} text, and
 * {@link parseBenchArgs}, which turns the command line into options.
 *
 * @module
 */
import { parseArgs } from "../lib/core/config.ts";
import { parseInteger } from "../lib/core/flags.ts";
import { TORCH_VERSION, TORCHVISION_VERSION } from "./pytorch_env.ts";
import { type Side, SIDES } from "./result.ts";

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

/** The driver's `--help` text (`deno task bench --help`): its flags, with their defaults. */
export const USAGE = `deno task bench [flags]
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
 * import { parseBenchArgs } from "./options.ts";
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
