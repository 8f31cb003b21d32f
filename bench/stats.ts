/**
 * What every benchmark script shares: the median of its samples, a description of the machine it
 * ran on (figures from one machine say little about another) and the arithmetic a training step
 * of the model does (to set its speed against the machine's sgemm ceiling).
 * @module
 */
import type { TrainConfig } from "../lib/core/config.ts";
import { CHANNELS, IMAGE_SIZE, NUM_CLASSES } from "../lib/data/format.ts";

/**
 * The median of some samples (the mean of the middle two for an even count).
 *
 * @param values The samples (at least one).
 * @returns Their median.
 * @throws {RangeError} For no samples.
 * @example
 * ```ts
 * import { median } from "./stats.ts";
 * if (median([3, 1, 2]) !== 2 || median([4, 1, 3, 2]) !== 2.5) throw new Error("wrong median");
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    throw new RangeError("Cannot take the median: expected numbers, found none");
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The machine, as a benchmark report names it: CPU model, widest vector ISA, logical cores, OS.
 *
 * @returns E.g. `AMD EPYC, AVX-512, 2 logical cores, linux`.
 * @example
 * ```ts
 * import { describeMachine } from "./stats.ts";
 * if (!describeMachine().includes("logical cores")) throw new Error(describeMachine());
 * ```
 */
export function describeMachine(): string {
  let cpu = "unknown CPU", isa = "ISA unknown";
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    cpu = /model name\s*:\s*(.+)/.exec(info)?.[1]?.trim() ?? cpu;
    // Virtual machines often report only the brand ("AMD EPYC"); family and model tell the
    // generation (AMD family 25 is Zen 3 or 4, family 26 Zen 5).
    const family = /cpu family\s*:\s*(\d+)/.exec(info)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    if (family !== undefined && model !== undefined) cpu += ` (family ${family}, model ${model})`;
    isa = /\bavx512f\b/.test(info) ? "AVX-512" : /\bavx2\b/.test(info) ? "AVX2" : "no AVX2";
  } catch {
    // Not Linux: keep the unknowns.
  }
  return `${cpu}, ${isa}, ${navigator.hardwareConcurrency} logical cores, ${Deno.build.os}`;
}

/**
 * Floating-point operations of one training step per image of the model a config builds, in GFLOP
 * (10⁹ FLOP), counting the products only: a 3×3 "same" convolution costs 2·H·W·9·Cin·Cout per
 * image, a dense layer 2·in·out (one multiply and one add each). Training does each product three
 * times (forward, input gradient, weight gradient) except the first convolution's input gradient,
 * which nobody needs. Bias, ReLU, pooling, dropout, the loss and Adam are left out: they move
 * memory rather than multiply, and they are what a GEMM ceiling does not measure.
 *
 * @param config The architecture: `convChannels`, `poolEvery` (a 2×2 max-pool after every N
 *   convolutions), `hiddenUnits`; inputs are 32×32×3 images, outputs the 10 classes.
 * @returns GFLOP per training image (the tutorial's model: about 0.196).
 * @example
 * ```ts
 * import { makeConfig } from "../lib/core/config.ts";
 * import { trainingGflopPerImage } from "./stats.ts";
 * const gflop = trainingGflopPerImage(makeConfig());
 * if (Math.abs(gflop - 0.196) > 0.001) throw new Error(`${gflop} GFLOP per image`);
 * ```
 */
export function trainingGflopPerImage(
  config: Pick<TrainConfig, "convChannels" | "poolEvery" | "hiddenUnits">,
): number {
  let size = IMAGE_SIZE;
  let channels = CHANNELS;
  let forward = 0;
  let firstInputGradient = 0;
  config.convChannels.forEach((out, i) => {
    const flops = 2 * size * size * 9 * channels * out;
    if (i === 0) firstInputGradient = flops;
    forward += flops;
    channels = out;
    if ((i + 1) % config.poolEvery === 0) size = Math.floor(size / 2);
  });
  const features = size * size * channels;
  forward += 2 * features * config.hiddenUnits + 2 * config.hiddenUnits * NUM_CLASSES;
  return (3 * forward - firstInputGradient) / 1e9;
}
