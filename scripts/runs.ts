/**
 * `deno task runs`: the runs under `runs/` as a table — the settings that differ between runs
 * and the results (best validation loss, test accuracy, epochs, duration, status, backend, data;
 * synthetic-data runs marked) — sortable with `--sort`. `--compare A,B` adds the per-class test
 * accuracy of two runs (`--compare best`: the two most accurate), `--svg FILE` writes their
 * validation-loss curves overlaid, `--json` prints the records instead.
 *
 * The runs folder: `--dir`, else `CIFAR10_RUNS_DIR`, else `CIFAR10_OUT_DIR`, else `runs`.
 * Exit codes: 0 done (also with no runs), 1 failed, 2 bad arguments.
 * @module
 */
import { table } from "../lib/display/table.ts";
import { textOf } from "../lib/display/show.ts";
import { validationLossChart } from "../lib/plots/compare.ts";
import { parseFlags } from "../lib/core/flags.ts";
import { writeFileAtomic } from "../lib/core/fs.ts";
import {
  listRuns,
  noRunsMessage,
  perClassComparison,
  pickRunsToCompare,
  RUN_SORT_KEYS,
  type RunSortKey,
  runsTableRows,
} from "../lib/runs/mod.ts";

/** Exit code for bad arguments. */
export const EXIT_USAGE = 2;

/** The options of the command line. */
export interface RunsArgs {
  /** The runs folder. */
  dir: string;
  /** Sort key. */
  sort: RunSortKey;
  /** Reverse the order. */
  reverse: boolean;
  /** Two run ids to compare per class, `["best"]` for the two most accurate, or none. */
  compare: string[];
  /** Where to write the validation-loss chart, or null. */
  svg: string | null;
  /** Print the records as JSON. */
  json: boolean;
  /** Print the help. */
  help: boolean;
}

/**
 * The `--help` text.
 *
 * @returns The text.
 * @example
 * ```ts
 * import { helpText } from "./runs.ts";
 * if (!helpText().includes("--sort started|test-accuracy")) throw new Error();
 * ```
 */
export function helpText(): string {
  return [
    "Usage: deno task runs [--dir DIR] [--sort KEY] [--reverse] [--compare A,B|best] [--svg FILE] [--json]",
    "",
    "Lists the training runs with the settings that differ between them and their results.",
    "",
    "  --dir DIR            runs folder (default: $CIFAR10_RUNS_DIR, $CIFAR10_OUT_DIR or runs)",
    `  --sort ${RUN_SORT_KEYS.join("|")}`,
    "                       order (default started: newest first; test-accuracy: best first)",
    "  --reverse            reverse the order",
    "  --compare A,B|best   per-class test accuracy of two runs (ids); best: the two most accurate",
    "  --svg FILE           write the runs' validation-loss curves to FILE (SVG)",
    "  --json               print the run records as JSON",
    "  --help               this text",
    "",
  ].join("\n");
}

/**
 * Parses the command line.
 *
 * @param args The arguments.
 * @param env The environment (for the default runs folder).
 * @returns The options.
 * @throws {RangeError} For an unknown flag, a missing value or an unknown sort key.
 * @example
 * ```ts
 * import { parseRunsArgs } from "./runs.ts";
 * const args = parseRunsArgs(["--sort=test-accuracy", "--compare", "a,b"], { CIFAR10_RUNS_DIR: "/x" });
 * if (args.dir !== "/x" || args.sort !== "test-accuracy" || args.compare.join() !== "a,b") throw new Error();
 * ```
 */
export function parseRunsArgs(args: string[], env: Record<string, string> = {}): RunsArgs {
  const out: RunsArgs = {
    dir: env.CIFAR10_RUNS_DIR || env.CIFAR10_OUT_DIR || "runs",
    sort: "started",
    reverse: false,
    compare: [],
    svg: null,
    json: false,
    help: false,
  };
  const spec = {
    "--dir": "string",
    "--sort": "string",
    "--compare": "string",
    "--svg": "string",
    "--reverse": "bool",
    "--json": "bool",
    "--help": "bool",
  } as const;
  for (const [flag, given] of parseFlags(args, spec).flags) {
    if (typeof given === "boolean") {
      if (flag === "--reverse") out.reverse = given;
      else if (flag === "--json") out.json = given;
      else out.help = given;
      continue;
    }
    const value = given.trim();
    if (value === "") {
      throw new RangeError(`Cannot parse ${flag}: expected a value after it, found nothing`);
    }
    if (flag === "--dir") out.dir = value;
    else if (flag === "--svg") out.svg = value;
    else if (flag === "--compare") {
      out.compare = value === "best" ? ["best"] : value.split(",").map((s) => s.trim());
      if (out.compare[0] !== "best" && out.compare.length !== 2) {
        throw new RangeError(
          `Cannot parse --compare: expected two run ids separated by a comma, or best, found "${value}"`,
        );
      }
    } else {
      if (!(RUN_SORT_KEYS as readonly string[]).includes(value)) {
        throw new RangeError(
          `Cannot parse --sort: expected one of ${RUN_SORT_KEYS.join(", ")}, found "${value}"`,
        );
      }
      out.sort = value as RunSortKey;
    }
  }
  return out;
}

/** Where the CLI writes (replaceable in tests). */
export interface RunsIo {
  /** Prints a line (stdout). */
  print(line: string): void;
  /** Writes a diagnostic line (stderr). */
  printError(line: string): void;
  /** Environment variables. */
  env: Record<string, string>;
}

/**
 * Runs the CLI.
 *
 * @param args Command-line arguments.
 * @param io Output and environment; defaults to the real process.
 * @returns The exit code.
 * @example
 * ```ts
 * import { main } from "./runs.ts";
 * const lines: string[] = [];
 * const code = await main(["--dir", "/nonexistent/runs"], { print: (l) => lines.push(l), printError: () => {}, env: {} });
 * if (code !== 0 || !lines[0]!.startsWith("No runs yet under /nonexistent/runs/")) throw new Error(lines.join("\n"));
 * ```
 */
export async function main(args: string[], io: RunsIo = defaultIo()): Promise<number> {
  let options: RunsArgs;
  try {
    options = parseRunsArgs(args, io.env);
  } catch (error) {
    if (error instanceof RangeError) {
      io.printError(`runs: ${error.message}`);
      io.printError("(see deno task runs --help)");
      return EXIT_USAGE;
    }
    throw error;
  }
  if (options.help) {
    io.print(helpText());
    return 0;
  }
  const runs = await listRuns(options.dir, {
    onSkip: (dir, reason) => io.printError(`runs: skipped ${dir}: ${reason}`),
  });
  if (options.json) {
    io.print(JSON.stringify(runs, null, 2));
    return 0;
  }
  if (runs.length === 0) {
    io.print(noRunsMessage(options.dir));
    return 0;
  }
  const rows = runsTableRows(runs, { sort: options.sort, reverse: options.reverse });
  io.print(textOf(table(rows, {
    caption: `${runs.length} run${
      runs.length === 1 ? "" : "s"
    } under ${options.dir} (sorted by ${options.sort}${options.reverse ? ", reversed" : ""})`,
  })));
  if (runs.some((r) => r.record.data.synthetic)) {
    io.print("Runs marked SYNTHETIC trained on generated shapes, not CIFAR-10.");
  }
  if (options.compare.length > 0) {
    let pair;
    try {
      pair = pickRunsToCompare(runs, options.compare[0] === "best" ? [] : options.compare);
    } catch (error) {
      if (error instanceof RangeError) {
        io.printError(`runs: ${error.message}`);
        return EXIT_USAGE;
      }
      throw error;
    }
    if (pair.length < 2) {
      io.print("");
      io.print("Per-class comparison needs two runs with a test report.");
    } else {
      const [a, b] = pair as [typeof pair[0], typeof pair[0]];
      io.print("");
      io.print(textOf(table(
        perClassComparison(a, b).map((c) => ({
          class: c.className,
          [`${a.record.id} (%)`]: round1(c.first),
          [`${b.record.id} (%)`]: round1(c.second),
          "difference (points)": round1(c.difference),
        })),
        { caption: "Test accuracy per class" },
      )));
    }
  }
  if (options.svg !== null) {
    // Oldest first, as the runs were trained.
    const chart = validationLossChart(runs, {
      title: `Validation loss of ${runs.length} run${runs.length === 1 ? "" : "s"}`,
    });
    await writeFileAtomic(options.svg, chart.outerHTML + "\n");
    io.print(`Wrote the validation-loss chart to ${options.svg}`);
  }
  return 0;
}

function round1(value: number | null): number | null {
  return value === null ? null : Number(value.toFixed(1));
}

function defaultIo(): RunsIo {
  return {
    print: (line) => console.log(line),
    printError: (line) => console.error(line),
    env: Deno.env.toObject(),
  };
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`runs: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
