/**
 * The result both sides of `deno task bench` print: one JSON object of the shared shape
 * ({@link BenchResult}) as the last line of stdout (`bench/ours.ts` for ours,
 * `bench/pytorch_tutorial.py bench` for PyTorch), and {@link parseBenchOutput}, which finds and
 * checks it.
 *
 * @module
 */

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
  /**
   * The training loop's validation pass over the same `epochImages` images, one entry per batch
   * size: evaluation mode, no gradients, augmented as the tutorial's validation split is (drawn
   * from the augmented training set), loss and accuracy read back.
   */
  validation: Throughput[];
  /** Evaluation-mode forward passes without gradients. */
  inference: Throughput;
  /**
   * Wall time of saving the model's weights as the training loop saves its best checkpoint
   * (our `saveCheckpoint`; PyTorch's `torch.save(model.state_dict())`), median, seconds.
   */
  checkpointSeconds: number;
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
 * import { parseBenchOutput } from "./result.ts";
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
  if (!Array.isArray(r.trainStep) || !Array.isArray(r.epoch) || !Array.isArray(r.validation)) {
    fail("expected trainStep, epoch and validation arrays");
  }
  r.trainStep.forEach((t, i) => checkThroughput(t, `trainStep[${i}]`, fail));
  r.epoch.forEach((t, i) => checkThroughput(t, `epoch[${i}]`, fail));
  r.validation.forEach((t, i) => checkThroughput(t, `validation[${i}]`, fail));
  checkThroughput(r.inference, "inference", fail);
  if (!isNumber(r.checkpointSeconds) || r.checkpointSeconds < 0) {
    fail(`expected checkpointSeconds ≥ 0, found ${JSON.stringify(r.checkpointSeconds)}`);
  }
  if (!isNumber(r.peakRssMiB)) fail(`expected peakRssMiB, found ${JSON.stringify(r.peakRssMiB)}`);
  if (!isNumber(r.trainingPeakRssMiB)) {
    fail(`expected trainingPeakRssMiB, found ${JSON.stringify(r.trainingPeakRssMiB)}`);
  }
  return r;
}
