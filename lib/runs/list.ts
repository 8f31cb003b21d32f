/**
 * Finding runs on disk: every run under a runs folder (`listRuns`, oldest first), one run folder
 * by name or as `"latest"` (`findRunDir`), and what to say when there is none.
 * @module
 */
import { exists, statOrNull } from "../core/fs.ts";
import { displayPath } from "../core/paths.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  type CheckpointFolder,
  LAST_CHECKPOINT_FOLDER,
  type ReadRunOptions,
  readRunRecord,
  RUN_CONFIG_FILE,
  RUN_RECORD_FILE,
  type RunRecord,
} from "./record.ts";

/** A run found on disk. */
export interface RunEntry {
  /** The run folder. */
  dir: string;
  /** Its record (stale runs already marked). */
  record: RunRecord;
}

/**
 * The message shown when a runs folder holds no run.
 *
 * @param outDir The runs folder.
 * @returns E.g. ``No runs yet under runs/: train one with `deno task train` or the tutorial notebook.``
 * @example
 * ```ts
 * import { noRunsMessage } from "./list.ts";
 * if (noRunsMessage("runs") !== "No runs yet under runs/: train one with `deno task train` or the tutorial notebook.") throw new Error();
 * ```
 */
export function noRunsMessage(outDir: string): string {
  return `No runs yet under ${displayPath(outDir)}/: train one with \`deno task train\` ` +
    "or the tutorial notebook.";
}

/** Options of `listRuns`. */
export interface ListRunsOptions extends ReadRunOptions {
  /** Told about each folder that looks like a run but whose record cannot be read. */
  onSkip?: (dir: string, reason: string) => void;
}

/**
 * Reads every run under a runs folder (folders with a `metrics.json`), oldest first. Folders
 * without a record (e.g. a bare checkpoint folder) are ignored; unreadable records are skipped
 * and reported to `onSkip`.
 *
 * @param outDir The runs folder; a missing folder holds no runs.
 * @param options Staleness judgement and the skip callback.
 * @returns The runs, by start time.
 * @example
 * ```ts
 * import { listRuns } from "./list.ts";
 * const runs = await listRuns("/nonexistent/runs");
 * if (runs.length !== 0) throw new Error("expected no runs");
 * ```
 */
export async function listRuns(outDir: string, options: ListRunsOptions = {}): Promise<RunEntry[]> {
  const root = outDir.replace(/(.)\/+$/, "$1");
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      // Skip hidden folders and leftovers of atomic swaps (`x.tmp-…`, `x.old-…`).
      if (entry.isDirectory && !entry.name.startsWith(".") && !/\.(tmp|old)-/.test(entry.name)) {
        names.push(entry.name);
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const runs: RunEntry[] = [];
  for (const name of names.sort()) {
    const dir = `${root}/${name}`;
    try {
      runs.push({ dir, record: await readRunRecord(dir, options) });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        options.onSkip?.(dir, (error as Error).message);
      } else if (await looksLikeRun(dir)) {
        // A run's other files without its record: say so rather than leave it out unseen.
        options.onSkip?.(
          dir,
          `it holds ${RUN_CONFIG_FILE} or a checkpoint but no ${RUN_RECORD_FILE}, so it cannot be ` +
            `listed (its model still loads by path: deno task predict --run ${dir})`,
        );
      }
    }
  }
  return runs.sort((a, b) =>
    a.record.startedAt < b.record.startedAt ? -1 : a.record.startedAt > b.record.startedAt ? 1 : 0
  );
}

/**
 * Finds a run folder. `"latest"` has one meaning everywhere (`--resume latest`, `predict`, the
 * notebooks): the run started last under `outDir` (by its record's `startedAt`, as `listRuns`
 * orders them), among the runs holding `options.checkpoint` when that is given. Anything else is
 * a path to a run folder.
 *
 * @param spec `"latest"` or a run folder.
 * @param options `outDir`: where runs live (default `"runs"`); `checkpoint`: only runs that hold
 *   this checkpoint folder (`best-model` for predicting) count as the latest.
 * @returns The run folder.
 * @throws {Deno.errors.NotFound} When there is no run (with `noRunsMessage`), no run holds the
 *   checkpoint asked for, or the folder has no record.
 * @example
 * ```ts
 * import { findRunDir } from "./list.ts";
 * const dir = await Deno.makeTempDir();
 * const error = await findRunDir("latest", { outDir: dir }).catch((e) => e);
 * if (!(error instanceof Deno.errors.NotFound) || !error.message.startsWith("No runs yet")) throw error;
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function findRunDir(
  spec: string,
  options: { outDir?: string; checkpoint?: CheckpointFolder } = {},
): Promise<string> {
  const outDir = options.outDir ?? "runs";
  if (spec === "latest") {
    const runs = await listRuns(outDir);
    if (runs.length === 0) throw new Deno.errors.NotFound(noRunsMessage(outDir));
    const checkpoint = options.checkpoint;
    for (let i = runs.length - 1; i >= 0; i--) {
      const run = runs[i]!;
      if (checkpoint === undefined || await exists(`${run.dir}/${checkpoint}/model.json`)) {
        return run.dir;
      }
    }
    throw new Deno.errors.NotFound(
      `No run under ${displayPath(outDir)}/ has a ${checkpoint}/ checkpoint yet: let a ` +
        "run finish its first epoch (`deno task train`) or pass a run folder",
    );
  }
  const dir = spec.replace(/(.)\/+$/, "$1");
  if (await statOrNull(`${dir}/${RUN_RECORD_FILE}`) === null) {
    throw new Deno.errors.NotFound(
      `Cannot use run "${spec}": expected a run folder with ${RUN_RECORD_FILE}, found none`,
    );
  }
  return dir;
}

/** Whether a folder without a record still holds a run's files (its config or a checkpoint). */
async function looksLikeRun(dir: string): Promise<boolean> {
  for (const name of [RUN_CONFIG_FILE, BEST_CHECKPOINT_FOLDER, LAST_CHECKPOINT_FOLDER]) {
    if (await exists(`${dir}/${name}`)) return true;
  }
  return false;
}
