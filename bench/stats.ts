/**
 * What every benchmark script shares: the median of its samples and a description of the machine
 * it ran on (figures from one machine say little about another).
 * @module
 */

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
    isa = /\bavx512f\b/.test(info) ? "AVX-512" : /\bavx2\b/.test(info) ? "AVX2" : "no AVX2";
  } catch {
    // Not Linux: keep the unknowns.
  }
  return `${cpu}, ${isa}, ${navigator.hardwareConcurrency} logical cores, ${Deno.build.os}`;
}
