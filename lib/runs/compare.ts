/**
 * Comparing runs: the runs table (`runsTableRows`, and `runsTable` as a nodejs-polars DataFrame)
 * of the settings that differ between runs and their results, sortable (`sortRuns`); the
 * per-class test accuracy of two runs side by side (`perClassComparison`,
 * `perClassComparisonTable`), and which two runs to compare (`pickRunsToCompare`). The charts are
 * in lib/plots/compare.ts.
 * @module
 */
import pl from "nodejs-polars";
import { basename } from "node:path";
import { formatDuration } from "../core/time.ts";
import { CONFIG_FIELDS, type TrainConfig } from "../core/config.ts";
import { noRunsMessage, type RunEntry } from "./list.ts";
import type { RunRecord } from "./record.ts";

/** Keys `runsTable` sorts by. */
export const RUN_SORT_KEYS = [
  "started",
  "test-accuracy",
  "valid-loss",
  "duration",
  "epochs",
  "status",
  "run",
] as const;
/** A sort key of `runsTable`. */
export type RunSortKey = typeof RUN_SORT_KEYS[number];

/** Options of `runsTable`. */
export interface RunsTableOptions {
  /**
   * Order: `started` (newest first), `test-accuracy` (best first), `valid-loss` (lowest
   * first), `duration` (longest first), `epochs` (most first), `status`, `run` (by id).
   * Runs without the value go last. @default "started"
   */
  sort?: RunSortKey;
  /** Reverse the order (runs without the value still go last). @default false */
  reverse?: boolean;
}

/** Config fields left out of the comparison: they say where things are, not how a run trains. */
const NOT_COMPARED = new Set<keyof TrainConfig>(["outDir", "dataPath", "backend", "synthetic"]);

function settingText(value: unknown): string {
  return Array.isArray(value) ? value.join(",") : JSON.stringify(value);
}

/**
 * The config fields whose values differ between runs (in config order), leaving out where
 * things are stored, the requested backend and the synthetic flag (the table shows the backend
 * used and the data).
 *
 * @param records The runs' records.
 * @returns Field names; none for fewer than two runs.
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { differingSettings } from "./compare.ts";
 * const a = { config: makeConfig({ learningRate: 0.01 }) }, b = { config: makeConfig({ outDir: "x" }) };
 * if (differingSettings([a, b]).join() !== "learningRate") throw new Error();
 * ```
 */
export function differingSettings(
  records: readonly Pick<RunRecord, "config">[],
): (keyof TrainConfig)[] {
  return (Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]).filter((key) =>
    !NOT_COMPARED.has(key) &&
    new Set(records.map((r) => settingText(r.config[key]))).size > 1
  );
}

function recordOf(run: RunEntry | RunRecord): RunRecord {
  return "record" in run ? run.record : run;
}

/** The best validation loss a record shows (from the epochs when the summary is missing). */
function bestValidLossOf(record: RunRecord): number | null {
  if (record.bestValidLoss !== null) return record.bestValidLoss;
  const losses = record.epochs.map((e) => e.validLoss).filter((v): v is number =>
    typeof v === "number"
  );
  return losses.length > 0 ? Math.min(...losses) : null;
}

function sortValue(record: RunRecord, key: RunSortKey): number | string | null {
  switch (key) {
    case "started":
      return record.startedAt;
    case "test-accuracy":
      return record.test?.accuracy ?? null;
    case "valid-loss":
      return bestValidLossOf(record);
    case "duration":
      return record.durationSeconds;
    case "epochs":
      return record.epochs.length;
    case "status":
      return record.status;
    case "run":
      return record.id;
  }
}

/** Sort directions: true when larger comes first. */
const DESCENDING: Record<RunSortKey, boolean> = {
  started: true,
  "test-accuracy": true,
  "valid-loss": false,
  duration: true,
  epochs: true,
  status: false,
  run: false,
};

/**
 * Sorts runs for the table (see `RunsTableOptions.sort`).
 *
 * @param runs Runs or records.
 * @param options Sort key and direction.
 * @returns A new array.
 * @throws {RangeError} For an unknown sort key.
 * @example
 * ```ts
 * import { sortRuns } from "./compare.ts";
 * const runs = [{ id: "a", test: { accuracy: 0.5 } }, { id: "b", test: null }, { id: "c", test: { accuracy: 0.7 } }];
 * const sorted = sortRuns(runs as never[], { sort: "test-accuracy" }) as unknown as { id: string }[];
 * if (sorted.map((r) => r.id).join() !== "c,a,b") throw new Error();
 * ```
 */
export function sortRuns<T extends RunEntry | RunRecord>(
  runs: readonly T[],
  options: RunsTableOptions = {},
): T[] {
  const key = options.sort ?? "started";
  if (!(RUN_SORT_KEYS as readonly string[]).includes(key)) {
    throw new RangeError(
      `Cannot sort runs by "${key}": expected one of ${RUN_SORT_KEYS.join(", ")}`,
    );
  }
  const sign = (DESCENDING[key] ? -1 : 1) * (options.reverse ? -1 : 1);
  return runs.map((run, index) => ({ run, index, value: sortValue(recordOf(run), key) }))
    .sort((a, b) => {
      if (a.value === null || b.value === null) {
        return a.value === b.value ? a.index - b.index : a.value === null ? 1 : -1;
      }
      const order = a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
      return order === 0 ? a.index - b.index : sign * order;
    })
    .map((x) => x.run);
}

/** One row of the runs table. */
export type RunsTableRow = Record<string, string | number | null>;

function round(value: number | null, digits: number): number | null {
  return value === null || !Number.isFinite(value) ? null : Number(value.toFixed(digits));
}

/**
 * The rows of the runs table: run id, status (stale runs say so), data (synthetic runs marked
 * `SYNTHETIC (not CIFAR-10)`), backend, the settings that differ between the runs, then the
 * results: epochs done, best epoch, best validation loss, test accuracy (%), duration.
 *
 * @param runs Runs (from `listRuns`) or records.
 * @param options Sort key and direction.
 * @returns One row per run.
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { runsTableRows } from "./compare.ts";
 * const base = { id: "a", status: "completed", stale: false, epochs: [], bestEpoch: 1, bestValidLoss: 0.5,
 *   test: { accuracy: 0.6543 }, durationSeconds: 65, startedAt: "1", backend: { name: "wasm" },
 *   data: { label: "CIFAR-10" }, config: makeConfig() };
 * const rows = runsTableRows([base, { ...base, id: "b", config: makeConfig({ dropout: 0.5 }) }] as never[]);
 * // Only the setting that differs gets a column.
 * if (rows[1]!.dropout !== 0.5 || "seed" in rows[0]! || rows[1]!["test accuracy (%)"] !== 65.43) {
 *   throw new Error(JSON.stringify(rows));
 * }
 * ```
 */
export function runsTableRows(
  runs: readonly (RunEntry | RunRecord)[],
  options: RunsTableOptions = {},
): RunsTableRow[] {
  const records = sortRuns(runs, options).map(recordOf);
  const settings = differingSettings(records);
  return records.map((record) => {
    const row: RunsTableRow = {
      run: record.id,
      status: record.stale ? `${record.status} (stale)` : record.status,
      data: record.data.label,
      backend: record.backend.name,
    };
    for (const key of settings) {
      const value = record.config[key];
      row[key] = typeof value === "number" || value === null ? value : settingText(value);
    }
    row["epochs done"] = record.epochs.length;
    row["best epoch"] = record.bestEpoch;
    row["best valid loss"] = round(bestValidLossOf(record), 4);
    row["test accuracy (%)"] = round(
      record.test === null ? null : 100 * record.test.accuracy,
      2,
    );
    row.duration = formatDuration(record.durationSeconds);
    return row;
  });
}

/**
 * The runs table as a nodejs-polars DataFrame (the Deno kernel shows it as a table); see
 * `runsTableRows` for the columns.
 *
 * @param runs Runs (from `listRuns`) or records.
 * @param options Sort key and direction.
 * @returns The DataFrame (no rows for no runs).
 * @example
 * ```ts
 * import { runsTable } from "./compare.ts";
 * if (runsTable([]).height !== 0) throw new Error("expected an empty table");
 * ```
 */
export function runsTable(
  runs: readonly (RunEntry | RunRecord)[],
  options: RunsTableOptions = {},
): pl.DataFrame {
  const rows = runsTableRows(runs, options);
  if (rows.length === 0) return pl.DataFrame({});
  // Column by column, so a column whose values are all null still gets a type.
  const columns: Record<string, (string | number | null)[]> = {};
  for (const key of Object.keys(rows[0]!)) columns[key] = rows.map((r) => r[key] ?? null);
  return pl.DataFrame(columns);
}

/** One class of `perClassComparison`. */
export interface ClassComparison {
  /** Class name. */
  className: string;
  /** Accuracy of the first run, in percent (null when it had no images of the class). */
  first: number | null;
  /** Accuracy of the second run, in percent. */
  second: number | null;
  /** second − first, in percentage points. */
  difference: number | null;
}

/**
 * Per-class test accuracy of two runs side by side.
 *
 * @param first A run with a test report.
 * @param second Another one, with the same classes.
 * @returns One entry per class.
 * @throws {TypeError} When a run has no test report or the classes differ.
 * @example
 * ```ts
 * import { perClassComparison } from "./compare.ts";
 * const run = (id: string, correct: number) => ({ id, status: "completed", test: { perClass: [
 *   { name: "cat", correct, total: 10, accuracy: correct / 10 }] } });
 * const [cat] = perClassComparison(run("a", 5) as never, run("b", 8) as never);
 * if (cat!.first !== 50 || cat!.second !== 80 || cat!.difference !== 30) throw new Error(JSON.stringify(cat));
 * ```
 */
export function perClassComparison(
  first: RunEntry | RunRecord,
  second: RunEntry | RunRecord,
): ClassComparison[] {
  const a = recordOf(first), b = recordOf(second);
  for (const r of [a, b]) {
    if (r.test === null) {
      throw new TypeError(
        `Cannot compare per-class accuracy: run "${r.id}" has no test report (status ${r.status})`,
      );
    }
  }
  const namesA = a.test!.perClass.map((c) => c.name), namesB = b.test!.perClass.map((c) => c.name);
  if (namesA.join("\n") !== namesB.join("\n")) {
    throw new TypeError(
      `Cannot compare per-class accuracy of runs "${a.id}" and "${b.id}": they have different ` +
        `classes (${namesA.join(", ")} / ${namesB.join(", ")})`,
    );
  }
  const percent = (c: { correct: number; total: number }) =>
    c.total > 0 ? (100 * c.correct) / c.total : null;
  return a.test!.perClass.map((c, i) => {
    const x = percent(c), y = percent(b.test!.perClass[i]!);
    return {
      className: c.name,
      first: x,
      second: y,
      difference: x === null || y === null ? null : y - x,
    };
  });
}

/**
 * Per-class test accuracy of two runs as a DataFrame: class, one column per run (`<id> (%)`),
 * and the difference in points.
 *
 * @param first A run with a test report.
 * @param second Another one.
 * @returns The DataFrame.
 * @throws {TypeError} See `perClassComparison`.
 */
export function perClassComparisonTable(
  first: RunEntry | RunRecord,
  second: RunEntry | RunRecord,
): pl.DataFrame {
  const a = recordOf(first), b = recordOf(second);
  const rows = perClassComparison(a, b);
  const nameA = `${a.id} (%)`, nameB = a.id === b.id ? `${b.id} [2] (%)` : `${b.id} (%)`;
  return pl.DataFrame({
    class: rows.map((r) => r.className),
    [nameA]: rows.map((r) => round(r.first, 1)),
    [nameB]: rows.map((r) => round(r.second, 1)),
    "difference (points)": rows.map((r) => round(r.difference, 1)),
  });
}

/**
 * Chooses two runs to compare: the ones named (ids or folder names), else the two most accurate
 * runs that share their classes (CIFAR-10 runs are compared with CIFAR-10 runs, not with
 * synthetic ones).
 *
 * @param runs The runs.
 * @param names Up to two run ids (or run folders); missing ones are filled with the most
 *   accurate runs that have the same classes as the first.
 * @returns Zero, one or two runs with a test report.
 * @throws {RangeError} When a named run does not exist or has no test report.
 * @example
 * ```ts
 * import { pickRunsToCompare } from "./compare.ts";
 * const run = (id: string, accuracy: number | null) => ({ dir: `runs/${id}`, record: { id, startedAt: id,
 *   test: accuracy === null ? null : { accuracy, perClass: [{ name: "cat" }] } } });
 * const runs = [run("a", 0.5), run("b", null), run("c", 0.7), run("d", 0.6)] as never[];
 * const ids = (picked: { record: { id: string } }[]) => picked.map((r) => r.record.id).join();
 * if (ids(pickRunsToCompare(runs)) !== "c,d") throw new Error();
 * if (ids(pickRunsToCompare(runs, ["a"])) !== "a,c") throw new Error();
 * ```
 */
export function pickRunsToCompare(
  runs: readonly RunEntry[],
  names: readonly string[] = [],
): RunEntry[] {
  const classesOf = (run: RunEntry) => run.record.test!.perClass.map((c) => c.name).join("\n");
  const ranked = sortRuns(runs.filter((r) => r.record.test !== null), { sort: "test-accuracy" });
  const chosen: RunEntry[] = [];
  for (const name of names.slice(0, 2)) {
    const id = basename(name);
    const run = runs.find((r) => r.record.id === id || basename(r.dir) === id);
    if (run === undefined) {
      throw new RangeError(
        `Cannot compare run "${name}": no such run (runs: ${
          runs.map((r) => r.record.id).join(", ") || "none"
        })`,
      );
    }
    if (run.record.test === null) {
      throw new RangeError(
        `Cannot compare run "${name}": it has no test report (status ${run.record.status})`,
      );
    }
    chosen.push(run);
  }
  if (chosen.length === 0) {
    // The most accurate run that has a partner with the same classes, else the most accurate.
    const first = ranked.find((r) =>
      ranked.some((o) => o !== r && classesOf(o) === classesOf(r))
    ) ??
      ranked[0];
    if (first !== undefined) chosen.push(first);
  }
  for (const run of ranked) {
    if (chosen.length >= 2) break;
    if (!chosen.includes(run) && classesOf(run) === classesOf(chosen[0]!)) chosen.push(run);
  }
  return chosen;
}

/**
 * Why two runs cannot be compared yet: no runs at all (`noRunsMessage`), or fewer than two with
 * test results.
 *
 * @param runs The runs found (`listRuns`).
 * @param outDir The runs folder they were read from.
 * @returns One sentence for the reader.
 * @example
 * ```ts
 * import { noComparisonMessage } from "./compare.ts";
 * if (!noComparisonMessage([], "runs").startsWith("No runs yet")) throw new Error();
 * ```
 */
export function noComparisonMessage(runs: readonly RunEntry[], outDir: string): string {
  if (runs.length === 0) return noRunsMessage(outDir);
  const tested = runs.filter((r) => r.record.test !== null).length;
  return `A comparison needs two runs with test results; ${
    tested === 1 ? "one run has" : `${tested} runs have`
  } them so far.`;
}
