/**
 * Our speed before and after a change, in one alternating run: `bench/ours.ts` of a git revision
 * (checked out into a temporary worktree) against `bench/ours.ts` of the working tree, round after
 * round in the order baseline, current, current, baseline, … so that a noisy machine's slow phases
 * hit both sides. Prints the median of every measure for each side and the ratio current/baseline.
 *
 * ```sh
 * deno task bench:revisions --baseline HEAD~3 --rounds 3 --data data   # real or extracted data
 * deno task bench:revisions --baseline main                             # synthetic data
 * ```
 * Flags other than --baseline, --rounds and --data go to both sides' bench/ours.ts unchanged
 * (e.g. `--batch-sizes 30 --repeats 2`). The worktree shares this checkout's node_modules/ and
 * .tools/ (Deno packages, native kernels cache) and is removed at the end.
 * @module
 */
import { join, resolve } from "node:path";
import type { BenchResult } from "./result.ts";
import { runSide } from "./sides.ts";
import { writeSyntheticData } from "./synthetic.ts";
import { describeMachine, median } from "./stats.ts";
import { parseFlags, parseInteger } from "../lib/core/flags.ts";
import { type BenchData, prepareBenchData } from "./bench_data.ts";

/** One measure of one side: its samples over all rounds. */
export interface RevisionSamples {
  /** The measure, e.g. `step b30 (images/s)`. */
  measure: string;
  /** Every sample of the baseline revision. */
  baseline: number[];
  /** Every sample of the working tree. */
  current: number[];
}

/**
 * The samples of each measure of some results, by measure name: steps and epochs per batch size,
 * inference (images/s) and the peaks of resident memory (MiB).
 *
 * @param results One side's results, one per round.
 * @returns Measure name → every sample of it.
 */
export function samplesByMeasure(results: readonly BenchResult[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (name: string, values: readonly number[]) =>
    out.set(name, [...(out.get(name) ?? []), ...values]);
  for (const r of results) {
    for (const t of r.trainStep) add(`step b${t.batchSize} (images/s)`, t.samples);
    for (const t of r.epoch) add(`epoch b${t.batchSize} (images/s)`, t.samples);
    add(`inference b${r.inference.batchSize} (images/s)`, r.inference.samples);
    add("peak RSS while training (MiB)", [r.trainingPeakRssMiB]);
    add("peak RSS (MiB)", [r.peakRssMiB]);
  }
  return out;
}

async function git(args: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(
      `Cannot run git ${args.join(" ")}: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(output.stdout).trim();
}

async function main(args: string[]): Promise<void> {
  const spec = { "--baseline": "string", "--rounds": "string", "--data": "string" } as const;
  // Our three flags (with their values) are read here; the rest goes to bench/ours.ts.
  const own: string[] = [], passOn: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const flag = arg.split("=")[0]!;
    if (!(flag in spec)) passOn.push(arg);
    else if (arg.includes("=")) own.push(arg);
    else own.push(arg, ...(i + 1 < args.length ? [args[++i]!] : []));
  }
  const flags = new Map(parseFlags(own, spec).flags);
  const baseline = flags.get("--baseline") as string | undefined;
  if (baseline === undefined) {
    throw new RangeError(
      "Cannot compare revisions: expected --baseline REF (e.g. HEAD~1), found none",
    );
  }
  const rounds = parseInteger(flags.get("--rounds") as string ?? "3", "--rounds", { min: 1 });
  // The real data first, so a bad --data fails before a worktree is made.
  const userData = flags.get("--data") as string | undefined;
  const real: BenchData | null = userData === undefined
    ? null
    : await prepareBenchData(resolve(userData));
  const root = await git(["rev-parse", "--show-toplevel"], Deno.cwd());
  const commit = await git(["rev-parse", "--short", baseline], root);
  const head = await git(["rev-parse", "--short", "HEAD"], root);
  const dirty = (await git(["status", "--porcelain", "--untracked-files=no"], root)) !== "";
  const scratch = await Deno.makeTempDir({ prefix: "cifar10-revisions-" });
  const worktree = join(scratch, "baseline");
  await git(["worktree", "add", "--detach", worktree, commit], root);
  try {
    for (const shared of ["node_modules", ".tools"]) {
      await Deno.symlink(join(root, shared), join(worktree, shared));
    }
    // Both sides read one binary folder: the real data resolved as every command resolves --data.
    let data: string, dataDescription: string;
    if (real === null) {
      console.error(`Writing SYNTHETIC data (not CIFAR-10) to ${scratch}/data`);
      data = await writeSyntheticData(join(scratch, "data"), { seed: 42 });
      dataDescription = "synthetic (random pixels, CIFAR-10 layout; NOT CIFAR-10)";
    } else {
      data = real!.folder;
      dataDescription = real!.description;
    }
    const sides = { baseline: worktree, current: root } as const;
    const results: Record<keyof typeof sides, BenchResult[]> = { baseline: [], current: [] };
    for (let round = 1; round <= rounds; round++) {
      // ABBA: each side runs first in every other round.
      const order = round % 2 === 1
        ? ["baseline", "current"] as const
        : ["current", "baseline"] as const;
      for (const side of order) {
        const command = [
          "deno",
          "run",
          "-A",
          join(sides[side], "bench/ours.ts"),
          "--data",
          data,
          ...passOn,
        ];
        console.error(`[round ${round}/${rounds}] ${side}: ${command.join(" ")}`);
        const result = await runSide(command, "ours");
        results[side].push(result);
        console.error(
          `[round ${round}/${rounds}] ${side}: ` +
            result.trainStep.map((t) => `step b${t.batchSize} ${t.imagesPerSecond.toFixed(1)}`)
              .join(", ") +
            `, epoch ${
              result.epoch.map((t) => t.imagesPerSecond.toFixed(1)).join("/")
            }, inference ` +
            `${result.inference.imagesPerSecond.toFixed(0)} images/s`,
        );
      }
    }
    console.log(
      `Machine: ${describeMachine()}. Data: ${dataDescription}. ` +
        `${rounds} alternating round(s); medians of all samples.`,
    );
    console.log(`baseline: ${commit}; current: ${head}${dirty ? " + uncommitted changes" : ""}`);
    const before = samplesByMeasure(results.baseline), after = samplesByMeasure(results.current);
    console.log(`| measure | baseline ${commit} | current | current/baseline |`);
    console.log("| --- | ---: | ---: | ---: |");
    for (const [measure, values] of before) {
      const b = median(values), a = median(after.get(measure) ?? [NaN]);
      console.log(`| ${measure} | ${b.toFixed(1)} | ${a.toFixed(1)} | ${(a / b).toFixed(3)}× |`);
    }
  } finally {
    await git(["worktree", "remove", "--force", worktree], root).catch((error) =>
      console.error(`Could not remove the worktree ${worktree}: ${(error as Error).message}`)
    );
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    await real?.cleanup();
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
}
