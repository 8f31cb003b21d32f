/**
 * Run records: every training run (the CLI's or the notebook's) gets a folder under `runs/`
 * holding `config.json` (the full config), `metrics.json` (the run record: status, times,
 * backend, data source, per-epoch losses and accuracies, the test report), `best-model/` (the best
 * checkpoint) and `last-model/` (the model and optimiser state after the last completed epoch,
 * from which `resumeRunRecord` continues the run). Every write is atomic, and the record is
 * rewritten after each epoch and at least once a minute while training (the heartbeat), so an
 * interrupted run is never lost: a record left "running" by a process that is gone (or silent for
 * ten minutes) reads back as "interrupted", marked stale.
 *
 * `startRunRecord` / `resumeRunRecord` return a `RunRecorder`; its `fit` wraps `fit` from
 * lib/train/fit.ts with the run's checkpoints and records every epoch and the outcome. For
 * comparing runs: `listRuns`, `runsTable` (a nodejs-polars DataFrame of the settings that differ
 * and the results), `perClassComparisonTable`; the charts are in lib/plots/compare.ts.
 * @module
 */
import pl from "nodejs-polars";
import type { BackendInfo } from "../engine/backend.ts";
import { exists, writeJsonAtomic } from "../core/fs.ts";
import { formatDuration } from "../core/time.ts";
import { CONFIG_FIELDS, makeConfig, type TrainConfig } from "../core/config.ts";
import type { DataSource } from "../data/load.ts";
import type { TestResult } from "../evaluate/evaluate.ts";
import type { Model } from "../model/model.ts";
import {
  type EpochRecord,
  fit,
  type FitData,
  type FitOptions,
  type FitResult,
  type FitResume,
  readResumeState,
} from "../train/fit.ts";

/** The run record's file inside a run folder (it also holds what `metrics.json` always held). */
export const RUN_RECORD_FILE = "metrics.json";
/** The run's config inside a run folder. */
export const RUN_CONFIG_FILE = "config.json";
/** The best checkpoint inside a run folder. */
export const BEST_CHECKPOINT_FOLDER = "best-model";
/** The checkpoint of the last completed epoch (model and optimiser state), for resuming. */
export const LAST_CHECKPOINT_FOLDER = "last-model";
/** A run's checkpoint folder: the best epoch's or the last epoch's. */
export type CheckpointFolder = typeof BEST_CHECKPOINT_FOLDER | typeof LAST_CHECKPOINT_FOLDER;
/** Value of `format` in a run record. */
export const RUN_RECORD_FORMAT = "cifar10-run";
/** How often a training run rewrites its record at the least, to show it is alive. */
export const HEARTBEAT_INTERVAL_MS = 60_000;
/** A "running" record whose heartbeat is older than this reads as interrupted (stale). */
export const STALE_AFTER_MS = 10 * 60_000;

/** Statuses of a run. */
export const RUN_STATUSES = ["running", "completed", "interrupted", "failed", "diverged"] as const;
/** Where a run stands: still training, done, stopped by the user (or killed), crashed, or its loss diverged. */
export type RunStatus = typeof RUN_STATUSES[number];

/** Kinds of data a run trained on: the official CIFAR-10, another copy of it, or generated images. */
export type DataKind = "real" | "local copy" | "synthetic";

/** What a run trained on. */
export interface RunData {
  /** `real` (official checksum), `local copy` (unofficial or unchecked copy) or `synthetic`. */
  kind: DataKind;
  /** For tables: `CIFAR-10`, `CIFAR-10 (local copy)` or `SYNTHETIC (not CIFAR-10)`. */
  label: string;
  /** True for generated data. */
  synthetic: boolean;
  /** Where the data came from (lib/data/load.ts). */
  source: DataSource;
  /** Class names in label order. */
  classNames: string[];
  /** Images trained on per epoch (null when not given). */
  trainImages: number | null;
  /** Validation images (null when not given). */
  validImages: number | null;
  /** Test images (null when not given). */
  testImages: number | null;
}

/** The process writing a run record, to tell whether a "running" record is still alive. */
export interface RunProcess {
  /** Process id. */
  pid: number;
  /** Host name. */
  host: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  startTicks: number | null;
  /** When the record was last written by it (ISO time). */
  heartbeatAt: string;
}

/** One stretch of training in one process: a run has one, plus one per resume. */
export interface RunSegment {
  /** ISO start time. */
  startedAt: string;
  /** ISO end time; null while running. */
  endedAt: string | null;
  /** The first epoch this segment trains. */
  fromEpoch: number;
  /** How it ended; "running" while it runs. */
  status: RunStatus;
  /** The backend it trained on. */
  backend: string;
}

/** A test report in a run record (lib/evaluate/evaluate.ts's `TestResult` without the per-image arrays). */
export interface RunTest {
  /** Average loss per image. */
  loss: number;
  /** Fraction right. */
  accuracy: number;
  /** Images right. */
  correct: number;
  /** Images tested. */
  total: number;
  /** Per class, in label order. */
  perClass: { name: string; correct: number; total: number; accuracy: number | null }[];
  /** `confusion[true][predicted]` counts. */
  confusion: number[][];
  /** Throughput. */
  imagesPerSecond: number;
  /** The epoch whose model was tested (the best one). */
  epoch: number | null;
  /** ISO time of the test. */
  testedAt: string;
}

/** Everything `metrics.json` records about a run. */
export interface RunRecord {
  /** Always `RUN_RECORD_FORMAT`. */
  format: string;
  /** Record layout version. */
  version: number;
  /** The run folder's name: UTC start time and a short random id. */
  id: string;
  /** Where the run stands (read as "interrupted" when its process is gone: see `stale`). */
  status: RunStatus;
  /** True when the file says "running" but the process is gone or silent (set when read). */
  stale: boolean;
  /** Why training stopped early, or why it is stale; null otherwise. */
  message: string | null;
  /** ISO time of the start. */
  startedAt: string;
  /** ISO time of the last write. */
  updatedAt: string;
  /** ISO time training ended; null while running. */
  finishedAt: string | null;
  /** Seconds spent training, over all segments. */
  durationSeconds: number;
  /** The process that writes (or last wrote) the record. */
  process: RunProcess | null;
  /** The backend of the latest segment. */
  backend: BackendInfo;
  /** The data trained on. */
  data: RunData;
  /** The full config. */
  config: TrainConfig;
  /** Model size, when known. */
  model: { parameters: number } | null;
  /** The best epoch so far (null when none). */
  bestEpoch: number | null;
  /** Its validation loss (null when none). */
  bestValidLoss: number | null;
  /** The best checkpoint, relative to the run folder, once saved (`best-model`). */
  bestCheckpoint: string | null;
  /** The last-epoch checkpoint, relative to the run folder, once saved (`last-model`). */
  lastCheckpoint: string | null;
  /** One record per completed epoch, in order (resumed epochs appended). */
  epochs: EpochRecord[];
  /** The best model's test report, once tested. */
  test: RunTest | null;
  /** The stretches of training: the first run and each resume. */
  segments: RunSegment[];
}

/** A run found on disk. */
export interface RunEntry {
  /** The run folder. */
  dir: string;
  /** Its record (stale runs already marked). */
  record: RunRecord;
}

/**
 * A new run id (and folder name): UTC time and a short random id, e.g. `20261128-113000-3fa2c1`.
 *
 * @param now The time to use. @default the current time
 * @returns The id.
 * @example
 * ```ts
 * import { newRunId } from "./record.ts";
 * if (!/^20261128-113000-[0-9a-f]{6}$/.test(newRunId(new Date("2026-11-28T11:30:00Z")))) throw new Error();
 * ```
 */
export function newRunId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-11-28T11:30:00.000Z
  const stamp = `${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}`;
  return `${stamp}-${crypto.randomUUID().slice(0, 6)}`;
}

/**
 * Classifies a data source for run tables.
 *
 * @param source Where the data came from (`Cifar10Data.source`).
 * @returns `synthetic` for generated images, `real` for CIFAR-10 with the official checksum,
 *   `local copy` for any other copy (unofficial or unchecked).
 * @example
 * ```ts
 * import { dataKind } from "./record.ts";
 * const source = { kind: "archive", path: "x.tar.gz", checksum: "unofficial", md5: "ab", synthetic: false, description: "" } as const;
 * if (dataKind(source) !== "local copy") throw new Error();
 * if (dataKind({ ...source, checksum: "official" }) !== "real") throw new Error();
 * if (dataKind({ ...source, kind: "synthetic", synthetic: true }) !== "synthetic") throw new Error();
 * ```
 */
export function dataKind(source: DataSource): DataKind {
  if (source.synthetic || source.kind === "synthetic") return "synthetic";
  return source.checksum === "official" ? "real" : "local copy";
}

const DATA_LABELS: Record<DataKind, string> = {
  real: "CIFAR-10",
  "local copy": "CIFAR-10 (local copy)",
  synthetic: "SYNTHETIC (not CIFAR-10)",
};

/**
 * The message shown when a runs folder holds no run.
 *
 * @param outDir The runs folder.
 * @returns E.g. ``No runs yet under runs/: train one with `deno task train` or the tutorial notebook.``
 * @example
 * ```ts
 * import { noRunsMessage } from "./record.ts";
 * if (noRunsMessage("runs") !== "No runs yet under runs/: train one with `deno task train` or the tutorial notebook.") throw new Error();
 * ```
 */
export function noRunsMessage(outDir: string): string {
  return `No runs yet under ${outDir.replace(/\/*$/, "/")}: train one with \`deno task train\` ` +
    "or the tutorial notebook.";
}

// ---------------------------------------------------------------------------------------------
// The process and its liveness

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown"; // no --allow-sys
  }
}

/** Field 22 of /proc/<pid>/stat: the start time in ticks since boot (Linux only). */
function processStartTicks(pid: number | "self"): number | null | "gone" {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // No such process, or no /proc at all (not Linux): tell the two apart.
      try {
        Deno.statSync("/proc/self/stat");
        return "gone";
      } catch {
        return null;
      }
    }
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

function currentProcess(now: Date): RunProcess {
  const ticks = processStartTicks("self");
  return {
    pid: Deno.pid,
    host: hostName(),
    startTicks: typeof ticks === "number" ? ticks : null,
    heartbeatAt: now.toISOString(),
  };
}

/**
 * Whether the process that wrote a record still runs.
 *
 * @param process The record's process.
 * @returns true or false when this machine can tell (same host, Linux `/proc`), null otherwise.
 * @example
 * ```ts
 * import { isProcessAlive } from "./record.ts";
 * const alive = isProcessAlive({ pid: Deno.pid, host: Deno.hostname(), startTicks: null, heartbeatAt: "" });
 * if (alive === false) throw new Error("this very process is alive");
 * ```
 */
export function isProcessAlive(process: RunProcess): boolean | null {
  if (process.host !== hostName()) return null;
  const ticks = processStartTicks(process.pid);
  if (ticks === "gone") return false;
  if (ticks === null) return null;
  // Same pid, another start time: the pid was reused by a later process.
  return process.startTicks === null || process.startTicks === ticks;
}

// ---------------------------------------------------------------------------------------------
// Reading records

/** Options of `readRunRecord` and `listRuns`. */
export interface ReadRunOptions {
  /** The time to judge heartbeats against. @default now */
  now?: Date;
  /** A "running" record silent for longer reads as interrupted. @default STALE_AFTER_MS */
  staleAfterMs?: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

const LEGACY_STATUS: Record<string, RunStatus> = {
  aborted: "interrupted",
  "non-finite-loss": "diverged",
};

/** Fills a parsed record's gaps (older layouts, null for non-finite numbers) and checks its core. */
function normalizeRecord(raw: unknown, path: string, dir: string): RunRecord {
  if (!isObject(raw) || !isObject(raw.config)) {
    throw new SyntaxError(
      `Cannot read run record "${path}": expected an object with a config, found ${
        Array.isArray(raw) ? "an array" : raw === null ? "null" : typeof raw
      }${isObject(raw) ? " without a config" : ""}`,
    );
  }
  const rawStatus = String(raw.status ?? "");
  const status = (RUN_STATUSES as readonly string[]).includes(rawStatus)
    ? rawStatus as RunStatus
    : LEGACY_STATUS[rawStatus];
  if (status === undefined) {
    throw new SyntaxError(
      `Cannot read run record "${path}": expected status ${RUN_STATUSES.join(", ")}, found ${
        JSON.stringify(raw.status ?? null)
      }`,
    );
  }
  let config: TrainConfig;
  try {
    config = makeConfig(raw.config as Partial<TrainConfig>);
  } catch (error) {
    throw new SyntaxError(`Cannot read run record "${path}": ${(error as Error).message}`);
  }
  const data = isObject(raw.data) ? raw.data : {};
  const source = (isObject(data.source) ? data.source : {
    kind: config.synthetic ? "synthetic" : "archive",
    path: "",
    checksum: "unchecked",
    md5: null,
    synthetic: config.synthetic,
    description: "",
  }) as unknown as DataSource;
  const kind = dataKind({ ...source, synthetic: source.synthetic || data.synthetic === true });
  const epochs = (Array.isArray(raw.epochs) ? raw.epochs : []).filter(isObject).map((e) => ({
    ...e,
    // JSON has no NaN or Infinity; they were written as null.
    trainLoss: numberOr(e.trainLoss, NaN),
    trainAccuracy: numberOr(e.trainAccuracy, NaN),
    bestValidLoss: numberOr(e.bestValidLoss, Infinity),
  })) as unknown as EpochRecord[];
  const backend = isObject(raw.backend) ? raw.backend : {};
  return {
    format: RUN_RECORD_FORMAT,
    version: numberOr(raw.version, 1),
    id: typeof raw.id === "string" ? raw.id : typeof raw.run === "string" ? raw.run : baseName(dir),
    status,
    stale: false,
    message: typeof raw.message === "string" ? raw.message : null,
    startedAt: String(raw.startedAt ?? ""),
    updatedAt: String(raw.updatedAt ?? raw.startedAt ?? ""),
    finishedAt: typeof raw.finishedAt === "string" ? raw.finishedAt : null,
    durationSeconds: numberOr(
      raw.durationSeconds,
      epochs.reduce((sum, e) => sum + numberOr(e.seconds, 0), 0),
    ),
    process: isObject(raw.process) ? raw.process as unknown as RunProcess : null,
    backend: {
      ...backend,
      name: String(backend.name ?? "unknown"),
      device: String(backend.device ?? ""),
      reason: String(backend.reason ?? ""),
    } as BackendInfo,
    data: {
      kind,
      label: DATA_LABELS[kind],
      synthetic: kind === "synthetic",
      source,
      classNames: Array.isArray(data.classNames) ? data.classNames.map(String) : [],
      trainImages: numberOr(data.trainImages, null),
      validImages: numberOr(data.validImages, null),
      testImages: numberOr(data.testImages, null),
    },
    config,
    model: isObject(raw.model) && typeof raw.model.parameters === "number"
      ? { parameters: raw.model.parameters }
      : null,
    bestEpoch: numberOr(raw.bestEpoch, null),
    bestValidLoss: numberOr(raw.bestValidLoss, null),
    bestCheckpoint: typeof raw.bestCheckpoint === "string"
      ? raw.bestCheckpoint
      : raw.bestEpoch != null
      ? BEST_CHECKPOINT_FOLDER
      : null,
    lastCheckpoint: typeof raw.lastCheckpoint === "string" ? raw.lastCheckpoint : null,
    epochs,
    test: isObject(raw.test) ? raw.test as unknown as RunTest : null,
    segments: Array.isArray(raw.segments) ? raw.segments as RunSegment[] : [],
  };
}

/** Marks a "running" record whose process is gone or silent as interrupted. */
function markStale(record: RunRecord, options: ReadRunOptions): RunRecord {
  if (record.status !== "running") return record;
  const now = (options.now ?? new Date()).getTime();
  const limit = options.staleAfterMs ?? STALE_AFTER_MS;
  const heartbeat = Date.parse(record.process?.heartbeatAt ?? record.updatedAt);
  const alive = record.process === null ? null : isProcessAlive(record.process);
  const silent = !Number.isFinite(heartbeat) || now - heartbeat > limit;
  if (alive !== false && !silent) return record;
  const who = record.process === null
    ? "its process"
    : `its process (pid ${record.process.pid} on ${record.process.host})`;
  const why = alive === false
    ? `${who} ended without finishing the record`
    : `${who} has not written it since ${record.process?.heartbeatAt ?? record.updatedAt}`;
  return {
    ...record,
    status: "interrupted",
    stale: true,
    message: `Run stopped unexpectedly: ${why}; ${record.epochs.length} epoch${
      record.epochs.length === 1 ? "" : "s"
    } completed.`,
  };
}

/**
 * Reads a run folder's record, marking a "running" record whose process is gone (same host,
 * checked through /proc) or has not written for `staleAfterMs` as `interrupted` with
 * `stale: true`. The file itself is left as it is.
 *
 * @param dir The run folder.
 * @param options The time and staleness limit to judge by.
 * @returns The record.
 * @throws {Deno.errors.NotFound} When the folder has no `metrics.json`.
 * @throws {SyntaxError} When the record is not JSON or lacks its config or a known status.
 * @example
 * ```ts
 * import { readRunRecord, RUN_RECORD_FILE } from "./record.ts";
 * const dir = await Deno.makeTempDir();
 * // A record left "running" by a process that wrote nothing for an hour.
 * await Deno.writeTextFile(`${dir}/${RUN_RECORD_FILE}`, JSON.stringify({
 *   id: "r1", status: "running", config: {}, startedAt: "2026-11-28T10:00:00Z", updatedAt: "2026-11-28T10:00:00Z",
 * }));
 * const record = await readRunRecord(dir, { now: new Date("2026-11-28T11:00:00Z") });
 * if (record.status !== "interrupted" || !record.stale) throw new Error(record.status);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readRunRecord(dir: string, options: ReadRunOptions = {}): Promise<RunRecord> {
  const path = `${dir.replace(/\/+$/, "")}/${RUN_RECORD_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot read run "${dir}": it has no ${RUN_RECORD_FILE}`);
    }
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `Cannot read run record "${path}": not JSON (${(error as Error).message})`,
    );
  }
  return markStale(normalizeRecord(raw, path, dir), options);
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
 * import { listRuns } from "./record.ts";
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
      if (error instanceof Deno.errors.NotFound) continue;
      options.onSkip?.(dir, (error as Error).message);
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
 * import { findRunDir } from "./record.ts";
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
      `No run under ${outDir.replace(/\/*$/, "/")} has a ${checkpoint}/ checkpoint yet: let a ` +
        "run finish its first epoch (`deno task train`) or pass a run folder",
    );
  }
  const dir = spec.replace(/(.)\/+$/, "$1");
  try {
    await Deno.stat(`${dir}/${RUN_RECORD_FILE}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot use run "${spec}": expected a run folder with ${RUN_RECORD_FILE}, found none`,
      );
    }
    throw error;
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Writing records

/** Options of `startRunRecord`. */
export interface StartRunOptions {
  /** The backend in use (`initBackend`'s answer). */
  backend: BackendInfo;
  /** Where the data came from (`Cifar10Data.source`). */
  source: DataSource;
  /** Class names in label order. @default none recorded */
  classNames?: readonly string[];
  /** Training images per epoch. */
  trainImages?: number;
  /** Validation images. */
  validImages?: number;
  /** Test images. */
  testImages?: number;
  /** Model parameters (`countParameters`). */
  parameters?: number;
  /** The runs folder. @default config.outDir */
  outDir?: string;
  /** The run id (folder name). @default newRunId() */
  id?: string;
  /** Rewrite the record at least this often while training. @default HEARTBEAT_INTERVAL_MS */
  heartbeatMs?: number;
}

/** Options of `RunRecorder.fit`: `fit`'s, less what the recorder supplies. */
export type RecorderFitOptions =
  & Omit<
    FitOptions,
    "config" | "checkpointDir" | "lastCheckpointDir" | "resume" | "checkpointMetadata"
  >
  & {
    /**
     * Stop at the next batch boundary on SIGINT (Ctrl-C; a Jupyter kernel interrupt) while
     * training, instead of leaving it to the process. @default false
     */
    stopOnInterrupt?: boolean;
  };

/** Writes one run's record: made by `startRunRecord` or `resumeRunRecord`. */
export interface RunRecorder {
  /** The run folder. */
  readonly dir: string;
  /** The run id (the folder's name). */
  readonly id: string;
  /** The run's config (for a resumed run: the stored one, with any new `epochs`). */
  readonly config: TrainConfig;
  /** The best checkpoint folder (`<dir>/best-model`). */
  readonly bestCheckpointDir: string;
  /** The last-epoch checkpoint folder (`<dir>/last-model`). */
  readonly lastCheckpointDir: string;
  /** Where training continues (a resumed run), or null for a new run. */
  readonly resume: FitResume | null;
  /** A copy of the record as last written. */
  record(): RunRecord;
  /**
   * The options that make `fit` save this run's checkpoints and continue a resumed run:
   * `{ checkpointDir, lastCheckpointDir, checkpointMetadata, resume }`. (`fit` below adds them.)
   */
  fitOptions(): Pick<
    FitOptions,
    "checkpointDir" | "lastCheckpointDir" | "checkpointMetadata" | "resume"
  >;
  /** Records a completed epoch (`fit`'s `onEpoch`). */
  epoch(record: EpochRecord): Promise<void>;
  /** Rewrites the record when the last write is older than `HEARTBEAT_INTERVAL_MS`. */
  heartbeat(): Promise<void>;
  /** Records how training ended: a `fit` result, or a status and message. */
  finish(outcome: FitResult | RunStatus, message?: string | null): Promise<void>;
  /** Records the best model's test report. */
  test(result: TestResult, classNames?: readonly string[]): Promise<void>;
  /**
   * Trains with `fit` (lib/train/fit.ts) into this run: its checkpoints, the resume state, every
   * epoch recorded, a heartbeat while training, and the outcome recorded at the end; a thrown
   * error is recorded as "failed" and rethrown.
   */
  fit(model: Model, data: FitData, options?: RecorderFitOptions): Promise<FitResult>;
}

function statusOf(result: FitResult): RunStatus {
  return result.stopReason === "completed"
    ? "completed"
    : result.stopReason === "aborted"
    ? "interrupted"
    : "diverged";
}

function testSummary(
  result: TestResult,
  classNames: readonly string[],
  epoch: number | null,
): RunTest {
  return {
    loss: result.loss,
    accuracy: result.accuracy,
    correct: result.correct,
    total: result.total,
    perClass: result.classTotal.map((total, i) => ({
      name: classNames[i] ?? String(i),
      correct: result.classCorrect[i]!,
      total,
      accuracy: total > 0 ? result.classCorrect[i]! / total : null,
    })),
    confusion: result.confusion.map((row) => [...row]),
    imagesPerSecond: result.imagesPerSecond,
    epoch,
    testedAt: new Date().toISOString(),
  };
}

/** The recorder over a record held in memory; `write` persists it. */
function createRecorder(
  dir: string,
  state: RunRecord,
  resume: FitResume | null,
  previousSeconds: number,
  heartbeatMs: number = HEARTBEAT_INTERVAL_MS,
): RunRecorder {
  const bestCheckpointDir = `${dir}/${BEST_CHECKPOINT_FOLDER}`;
  const lastCheckpointDir = `${dir}/${LAST_CHECKPOINT_FOLDER}`;
  const segmentStart = performance.now();
  let lastWrite = -Infinity;
  let finished = false;
  const segment = state.segments[state.segments.length - 1]!;
  const write = async () => {
    const now = new Date();
    if (!finished) {
      state.durationSeconds = previousSeconds + (performance.now() - segmentStart) / 1000;
      state.process = { ...currentProcess(now) };
    }
    state.updatedAt = now.toISOString();
    lastWrite = performance.now();
    // JSON.stringify writes NaN and ±Infinity as null; normalizeRecord reads them back.
    await writeJsonAtomic(`${dir}/${RUN_RECORD_FILE}`, { ...state, stale: undefined });
  };
  const recorder: RunRecorder = {
    dir,
    id: state.id,
    config: state.config,
    bestCheckpointDir,
    lastCheckpointDir,
    resume,
    record: () => structuredClone(state),
    fitOptions: () => ({
      checkpointDir: bestCheckpointDir,
      lastCheckpointDir,
      checkpointMetadata: {
        run: state.id,
        backend: state.backend.name,
        data: state.data.source.description,
      },
      ...(resume === null ? {} : { resume }),
    }),
    async epoch(record) {
      // A resumed run continues after its last checkpoint: drop records past it, then append.
      state.epochs = state.epochs.filter((e) => e.epoch < record.epoch);
      state.epochs.push({ ...record });
      // Without validation `fit` keeps (and saves) every epoch's model as the best.
      if (record.saved || record.validLoss === null) state.bestEpoch = record.epoch;
      state.bestValidLoss = Number.isFinite(record.bestValidLoss) ? record.bestValidLoss : null;
      if (await exists(`${bestCheckpointDir}/model.json`)) {
        state.bestCheckpoint = BEST_CHECKPOINT_FOLDER;
      }
      if (await exists(`${lastCheckpointDir}/model.json`)) {
        state.lastCheckpoint = LAST_CHECKPOINT_FOLDER;
      }
      await write();
    },
    async heartbeat() {
      if (!finished && performance.now() - lastWrite >= heartbeatMs) await write();
    },
    async finish(outcome, message = null) {
      if (typeof outcome === "string") {
        state.status = outcome;
        state.message = message;
      } else {
        state.status = statusOf(outcome);
        state.message = outcome.message;
        state.bestEpoch = outcome.bestEpoch;
        state.bestValidLoss = Number.isFinite(outcome.bestValidLoss) ? outcome.bestValidLoss : null;
      }
      state.durationSeconds = previousSeconds + (performance.now() - segmentStart) / 1000;
      state.finishedAt = new Date().toISOString();
      segment.endedAt = state.finishedAt;
      segment.status = state.status;
      if (await exists(`${bestCheckpointDir}/model.json`)) {
        state.bestCheckpoint = BEST_CHECKPOINT_FOLDER;
      }
      finished = true;
      await write();
    },
    async test(result, classNames) {
      state.test = testSummary(result, classNames ?? state.data.classNames, state.bestEpoch);
      await write();
    },
    async fit(model, data, options = {}) {
      const { stopOnInterrupt = false, ...fitOptions } = options;
      const controller = new AbortController();
      const outer = fitOptions.signal;
      const abort = () => controller.abort();
      if (outer?.aborted) abort();
      outer?.addEventListener("abort", abort);
      let removeInterrupt = () => {};
      if (stopOnInterrupt) {
        try {
          Deno.addSignalListener("SIGINT", abort);
          removeInterrupt = () => Deno.removeSignalListener("SIGINT", abort);
        } catch {
          // No signals here (e.g. Windows without SIGINT support): only `signal` stops training.
        }
      }
      let result: FitResult;
      try {
        result = await fit(model, data, {
          ...fitOptions,
          ...recorder.fitOptions(),
          config: state.config,
          signal: controller.signal,
          onBatch: async (progress) => {
            await recorder.heartbeat();
            await fitOptions.onBatch?.(progress);
          },
          onEpoch: async (record) => {
            await recorder.epoch(record);
            await fitOptions.onEpoch?.(record);
          },
        });
      } catch (error) {
        await recorder.finish("failed", `Training failed: ${(error as Error)?.message ?? error}`)
          .catch(() => {});
        throw error;
      } finally {
        removeInterrupt();
        outer?.removeEventListener("abort", abort);
      }
      await recorder.finish(result);
      return result;
    },
  };
  return recorder;
}

/**
 * Starts the record of a new run: creates `<outDir>/<id>/` with `config.json` and a
 * `metrics.json` whose status is "running", and returns the recorder that keeps it up to date.
 *
 * @param config The run's full config.
 * @param options Backend, data source and sizes, runs folder.
 * @returns The recorder (use its `fit`, then `test`).
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { readRunRecord, startRunRecord } from "./record.ts";
 * const outDir = await Deno.makeTempDir();
 * const source = { kind: "synthetic", path: "memory", checksum: "unchecked", md5: null, synthetic: true, description: "Synthetic" } as const;
 * const run = await startRunRecord(makeConfig({ epochs: 2 }), {
 *   backend: { name: "cpu", device: "JavaScript", reason: "test" }, source, outDir,
 * });
 * await run.finish("failed", "no data");
 * const record = await readRunRecord(run.dir);
 * if (record.status !== "failed" || record.config.epochs !== 2 || record.data.kind !== "synthetic") throw new Error();
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function startRunRecord(
  config: TrainConfig,
  options: StartRunOptions,
): Promise<RunRecorder> {
  const full = makeConfig(config);
  const id = options.id ?? newRunId();
  const dir = `${(options.outDir ?? full.outDir).replace(/(.)\/+$/, "$1")}/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  // The config first, so even a run that dies at once says what it was.
  await writeJsonAtomic(`${dir}/${RUN_CONFIG_FILE}`, full);
  const now = new Date();
  const kind = dataKind(options.source);
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT,
    version: 1,
    id,
    status: "running",
    stale: false,
    message: null,
    startedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    finishedAt: null,
    durationSeconds: 0,
    process: currentProcess(now),
    backend: structuredClone(options.backend),
    data: {
      kind,
      label: DATA_LABELS[kind],
      synthetic: kind === "synthetic",
      source: structuredClone(options.source),
      classNames: [...(options.classNames ?? [])],
      trainImages: options.trainImages ?? null,
      validImages: options.validImages ?? null,
      testImages: options.testImages ?? null,
    },
    config: full,
    model: options.parameters === undefined ? null : { parameters: options.parameters },
    bestEpoch: null,
    bestValidLoss: null,
    bestCheckpoint: null,
    lastCheckpoint: null,
    epochs: [],
    test: null,
    segments: [{
      startedAt: now.toISOString(),
      endedAt: null,
      fromEpoch: 1,
      status: "running",
      backend: options.backend.name,
    }],
  };
  const recorder = createRecorder(dir, record, null, 0, options.heartbeatMs);
  await recorder.heartbeat();
  return recorder;
}

/** Options of `resumeRunRecord` and `resumeConfig`. */
export interface ResumeRunOptions {
  /** Where runs live, for `"latest"`. @default "runs" */
  outDir?: string;
  /** Train up to this many epochs in all (to extend a finished run). @default the run's own */
  epochs?: number;
}

/** Options of `openRunRecord`: a new run's details, plus the run to continue, if any. */
export interface OpenRunOptions extends StartRunOptions {
  /** A run to continue (`"latest"` or a run folder), or null to start a new one. @default null */
  resume?: string | null;
}

/**
 * Starts a new run record, or reopens a stopped run to continue it when `options.resume` names one
 * (then `config.epochs` is the run's target): the one call a notebook's training cell needs.
 *
 * @param config The run's config (for a resumed run, `resumeConfig`'s answer).
 * @param options The backend, data and sizes of a new run, and `resume`.
 * @returns The recorder; its `fit` trains, records and checkpoints.
 */
export function openRunRecord(config: TrainConfig, options: OpenRunOptions): Promise<RunRecorder> {
  const { resume = null, ...start } = options;
  if (resume === null) return startRunRecord(config, start);
  return resumeRunRecord(resume, {
    backend: start.backend,
    source: start.source,
    outDir: start.outDir,
    epochs: config.epochs,
  });
}

/** Options of `resumeRunRecord`. */
export interface ResumeRecorderOptions extends ResumeRunOptions {
  /** The backend in use now. */
  backend: BackendInfo;
  /** The data loaded now; it must be the run's data (same synthetic flag and archive md5). */
  source?: DataSource;
  /** Rewrite the record at least this often while training. @default HEARTBEAT_INTERVAL_MS */
  heartbeatMs?: number;
}

/**
 * The config a resumed run trains with: the run's stored config, with `epochs` changed when
 * given. Build the model and optimiser from it before `resumeRunRecord`. Checks first that the
 * run can be resumed (cheaply: without reading the checkpoint's weights).
 *
 * @param spec `"latest"` or a run folder.
 * @param options Runs folder, new epoch count.
 * @returns The config.
 * @throws {Deno.errors.NotFound} When there is no such run.
 * @throws {Error} When the run is still running, has no completed epoch or nothing left to train.
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { resumeConfig, startRunRecord } from "./record.ts";
 * const outDir = await Deno.makeTempDir();
 * const source = { kind: "synthetic", path: "memory", checksum: "unchecked", md5: null, synthetic: true, description: "Synthetic" } as const;
 * const run = await startRunRecord(makeConfig({ epochs: 2 }), {
 *   backend: { name: "cpu", device: "JavaScript", reason: "test" }, source, outDir,
 * });
 * await run.finish("interrupted"); // before its first epoch ended: nothing to continue from
 * const error = await resumeConfig("latest", { outDir, epochs: 5 }).catch((e) => e);
 * if (!error.message.endsWith("has no completed epoch to continue from (no last-model/); start a new run instead")) throw error;
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function resumeConfig(
  spec: string,
  options: ResumeRunOptions = {},
): Promise<TrainConfig> {
  const dir = await findRunDir(spec, options);
  const record = await readRunRecord(dir);
  const epochs = options.epochs ?? record.config.epochs;
  await checkResumable(dir, record, epochs);
  return makeConfig({ ...record.config, epochs });
}

/** Throws when a run cannot be resumed; cheap (reads only the last checkpoint's model.json). */
async function checkResumable(dir: string, record: RunRecord, epochs: number): Promise<void> {
  const name = `Cannot resume run "${dir}"`;
  if (record.status === "running") {
    throw new Error(
      `${name}: it is still running (pid ${record.process?.pid} on ${record.process?.host}, ` +
        `last heartbeat ${record.process?.heartbeatAt})`,
    );
  }
  let completed: unknown;
  try {
    const json = JSON.parse(await Deno.readTextFile(`${dir}/${LAST_CHECKPOINT_FOLDER}/model.json`));
    completed = json?.userDefinedMetadata?.metadata?.epoch;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      `${name}: it has no completed epoch to continue from (no ${LAST_CHECKPOINT_FOLDER}/); ` +
        "start a new run instead",
    );
  }
  if (typeof completed === "number" && completed >= epochs) {
    throw new Error(
      `${name}: it has completed ${completed} of ${epochs} epochs; pass more epochs ` +
        `(e.g. --epochs ${completed + 10}) to train it further`,
    );
  }
}

/**
 * Reopens a run to continue training after its last completed epoch: reads the model and
 * optimiser state from `last-model/` (see `readResumeState`), marks the record "running" again
 * with a new segment, and returns the recorder; its `fit` continues where the run stopped and
 * appends the new epochs. Build the model from `recorder.config` (or `resumeConfig`).
 *
 * @param spec `"latest"` (the run started last) or a run folder.
 * @param options Backend and data in use now, runs folder, new epoch count.
 * @returns The recorder, with `resume` set.
 * @throws {Deno.errors.NotFound} When there is no such run.
 * @throws {Error} When the run is still running, has no completed epoch, has nothing left to
 *   train, or the data differs.
 */
export async function resumeRunRecord(
  spec: string,
  options: ResumeRecorderOptions,
): Promise<RunRecorder> {
  const dir = await findRunDir(spec, options);
  const record = await readRunRecord(dir);
  const name = `Cannot resume run "${dir}"`;
  const epochs = options.epochs ?? record.config.epochs;
  await checkResumable(dir, record, epochs);
  const resume = await readResumeState(`${dir}/${LAST_CHECKPOINT_FOLDER}`, {
    bestCheckpointDir: `${dir}/${BEST_CHECKPOINT_FOLDER}`,
  });
  const source = options.source;
  if (
    source !== undefined &&
    (source.synthetic !== record.data.synthetic ||
      (source.md5 !== null && record.data.source.md5 != null &&
        source.md5 !== record.data.source.md5))
  ) {
    throw new Error(
      `${name}: it trained on ${record.data.source.description || record.data.label}, but the ` +
        `data loaded now is ${source.description}`,
    );
  }
  const config = makeConfig({ ...record.config, epochs });
  if (epochs !== record.config.epochs) await writeJsonAtomic(`${dir}/${RUN_CONFIG_FILE}`, config);
  const now = new Date();
  const state: RunRecord = {
    ...record,
    config,
    status: "running",
    stale: false,
    message: null,
    finishedAt: null,
    process: currentProcess(now),
    backend: structuredClone(options.backend),
    // Epochs past the last checkpoint were not saved: they are trained again.
    epochs: record.epochs.filter((e) => e.epoch <= resume.epoch),
    bestEpoch: resume.bestEpoch,
    bestValidLoss: Number.isFinite(resume.bestValidLoss) ? resume.bestValidLoss : null,
    lastCheckpoint: LAST_CHECKPOINT_FOLDER,
    // The test report belongs to the old best model.
    test: null,
    segments: [
      ...record.segments.map((s) => s.endedAt === null ? { ...s, status: record.status } : s),
      {
        startedAt: now.toISOString(),
        endedAt: null,
        fromEpoch: resume.epoch + 1,
        status: "running",
        backend: options.backend.name,
      },
    ],
  };
  const recorder = createRecorder(dir, state, resume, record.durationSeconds, options.heartbeatMs);
  await recorder.heartbeat();
  return recorder;
}

// ---------------------------------------------------------------------------------------------
// Comparing runs

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
 * import { differingSettings } from "./record.ts";
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
 * import { sortRuns } from "./record.ts";
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
 * import { runsTableRows } from "./record.ts";
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
 * import { runsTable } from "./record.ts";
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
 * import { perClassComparison } from "./record.ts";
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
 * import { pickRunsToCompare } from "./record.ts";
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
    const id = baseName(name);
    const run = runs.find((r) => r.record.id === id || baseName(r.dir) === id);
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
