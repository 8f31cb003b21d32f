/**
 * The run record: every training run (the CLI's or the notebook's) gets a folder under `runs/`
 * holding `config.json` (the full config), `metrics.json` (the run record: status, times,
 * backend, data source, per-epoch losses and accuracies, the test report), `best-model/` (the best
 * checkpoint) and `last-model/` (the model and optimiser state after the last completed epoch,
 * from which a run is resumed). This file holds the record's layout, the names of the files and
 * folders in a run folder, and reading a record back: older layouts are filled in, and a record
 * left "running" by a process that is gone (or silent for ten minutes) reads back as
 * "interrupted", marked stale (lib/runs/process.ts tells). Writing is lib/runs/recorder.ts's.
 * @module
 */
import type { BackendInfo } from "../engine/backend.ts";
import { basename } from "node:path";
import { makeConfig, type TrainConfig } from "../core/config.ts";
import type { DataSource } from "../data/mod.ts";
import type { EarlyStop, EpochRecord } from "../train/session.ts";
import { isProcessAlive, type RunProcess, STALE_AFTER_MS } from "./process.ts";

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
  /** Where the data came from (`loadCifar10`, lib/data/load.ts). */
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
  /** Set when early stopping (`config.patience`) ended the run before its last epoch. */
  earlyStop: EarlyStop | null;
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

/** The table label of each kind of data (`RunData.label`). */
export const DATA_LABELS: Readonly<Record<DataKind, string>> = {
  real: "CIFAR-10",
  "local copy": "CIFAR-10 (local copy)",
  synthetic: "SYNTHETIC (not CIFAR-10)",
};

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
    ...(Array.isArray(e.trainLossTrace)
      ? { trainLossTrace: e.trainLossTrace.map((v: unknown) => numberOr(v, NaN)) }
      : {}),
  })) as unknown as EpochRecord[];
  const backend = isObject(raw.backend) ? raw.backend : {};
  return {
    format: RUN_RECORD_FORMAT,
    version: numberOr(raw.version, 1),
    id: typeof raw.id === "string" ? raw.id : typeof raw.run === "string" ? raw.run : basename(dir),
    status,
    stale: false,
    message: typeof raw.message === "string" ? raw.message : null,
    earlyStop: isObject(raw.earlyStop) ? raw.earlyStop as unknown as EarlyStop : null,
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
