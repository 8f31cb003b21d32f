/**
 * A sweep's plan: its trials (a grid of config values, or a list of configs from a JSON file) and
 * the sweep record, `sweep.json` in the sweep folder (`runs/<sweep id>/`), which says what each
 * trial is, which run folder trains it and how it ended. Every trial is a normal run under the
 * sweep folder, with the same data, split and seed unless the sweep varies them; the record holds
 * only the plan and the run ids, and the results are read from the runs' own records.
 * @module
 */
import { basename, join } from "node:path";
import {
  CONFIG_FIELDS,
  flagName,
  makeConfig,
  parseFieldText,
  type TrainConfig,
} from "../core/config.ts";
import { readJsonObjectOrNull, writeJsonAtomic } from "../core/fs.ts";
import { newRunId } from "../runs/record.ts";

/** The sweep record's file in a sweep folder. */
export const SWEEP_RECORD_FILE = "sweep.json";
/** Value of `format` in a sweep record. */
export const SWEEP_RECORD_FORMAT = "cifar10-sweep";

/**
 * Fields a sweep cannot vary: it loads the data once and trains on one backend, and its trials
 * live in the sweep folder.
 */
export const FIXED_SWEEP_FIELDS: readonly (keyof TrainConfig)[] = [
  "dataPath",
  "synthetic",
  "backend",
  "outDir",
];

/** Where a trial stands. */
export type TrialStatus =
  | "pending"
  | "running"
  | "completed"
  | "interrupted"
  | "failed"
  | "diverged";

/** One trial of a sweep. */
export interface SweepTrial {
  /** Position in the sweep (1-based). */
  index: number;
  /** What sets it apart, e.g. `learning-rate=0.002 dropout=0.4`; `baseline` when nothing does. */
  label: string;
  /** The config fields it sets on top of the sweep's `base`. */
  overrides: Partial<TrainConfig>;
  /** Where it stands. */
  status: TrialStatus;
  /** Its run folder's name under the sweep folder, once started. */
  runId: string | null;
  /** Why it failed, when it did. */
  error: string | null;
}

/** `sweep.json`: the plan and where each trial stands. */
export interface SweepRecord {
  /** Always `SWEEP_RECORD_FORMAT`. */
  format: string;
  /** Layout version. */
  version: number;
  /** The sweep folder's name, `sweep-<UTC time>-<id>`. */
  id: string;
  /** ISO time of the start. */
  createdAt: string;
  /** ISO time of the last write. */
  updatedAt: string;
  /** Config fields every trial shares (flags and `CIFAR10_*` variables given once). */
  base: Partial<TrainConfig>;
  /** The fields that vary between trials, in flag order. */
  varying: (keyof TrainConfig)[];
  /** The trials, in the order they run. */
  trials: SweepTrial[];
}

/** One axis of a grid: a config field and the values it takes. */
export interface SweepAxis {
  /** The field. */
  key: keyof TrainConfig;
  /** Its values, each already checked. */
  values: unknown[];
}

function labelValue(value: unknown): string {
  return Array.isArray(value) ? value.join(",") : String(value);
}

/**
 * A trial's label: the varying fields with their values, as flags without dashes.
 *
 * @param overrides The trial's own fields.
 * @param varying The fields that vary in the sweep (others are left out).
 * @returns E.g. `learning-rate=0.002 dropout=0.4`, or `baseline` when none is set.
 * @example
 * ```ts
 * import { trialLabel } from "./plan.ts";
 * if (trialLabel({ learningRate: 0.002, dropout: 0.4 }, ["learningRate", "dropout"]) !== "learning-rate=0.002 dropout=0.4") throw new Error();
 * ```
 */
export function trialLabel(
  overrides: Partial<TrainConfig>,
  varying: readonly (keyof TrainConfig)[],
): string {
  const parts = varying.filter((key) => overrides[key] !== undefined).map((key) =>
    `${flagName(key).slice(2)}=${labelValue(overrides[key])}`
  );
  return parts.length === 0 ? "baseline" : parts.join(" ");
}

/** Checks one value of a field with `makeConfig`'s rules, naming the flag (or `source`). */
function checkValue(key: keyof TrainConfig, value: unknown, source: string): unknown {
  try {
    return makeConfig({ [key]: value } as Partial<TrainConfig>)[key];
  } catch (error) {
    throw new RangeError((error as Error).message.replace(`config field "${key}"`, source));
  }
}

/**
 * Reads the values of one flag of a sweep: a comma-separated list for a field that takes one
 * value (`--learning-rate 0.0005,0.001`), the whole text for one that takes a list
 * (`--conv-channels 16,32,64`: repeat the flag for more). Each value gets the flag's own checks.
 *
 * @param key The field.
 * @param text What followed the flag.
 * @param flag The flag as typed, for messages.
 * @returns The values.
 * @throws {RangeError} `Cannot parse --learning-rate: …` or `Cannot use --dropout: …` for a bad
 *   value, or for an empty item of the list.
 * @example
 * ```ts
 * import { sweepValues } from "./plan.ts";
 * if (sweepValues("learningRate", "0.0005,0.001", "--learning-rate").join() !== "0.0005,0.001") throw new Error();
 * if (sweepValues("convChannels", "16,32", "--conv-channels").length !== 1) throw new Error();
 * ```
 */
export function sweepValues(key: keyof TrainConfig, text: string, flag: string): unknown[] {
  const kind = CONFIG_FIELDS[key].kind;
  const parts = kind === "intList" || kind === "weightList" ? [text] : text.split(",");
  return parts.map((part) => {
    const trimmed = part.trim();
    if (trimmed === "") {
      throw new RangeError(
        `Cannot parse ${flag}: expected comma-separated values, found an empty one in "${text}"`,
      );
    }
    return checkValue(key, parseFieldText(key, trimmed, flag), flag);
  });
}

/**
 * Builds the axes of a grid from flags given in order: a flag given twice adds to its axis, and a
 * value given twice is an error (it would train the same trial twice).
 *
 * @param flags `[field, values, flag]` for each flag occurrence.
 * @returns The axes, in the order their fields first appear.
 * @throws {RangeError} For a field a sweep cannot vary or a repeated value.
 */
export function gridAxes(
  flags: readonly [key: keyof TrainConfig, values: unknown[], flag: string][],
): SweepAxis[] {
  const axes: SweepAxis[] = [];
  for (const [key, values, flag] of flags) {
    let axis = axes.find((a) => a.key === key);
    if (axis === undefined) axes.push(axis = { key, values: [] });
    for (const value of values) {
      if (axis.values.some((v) => JSON.stringify(v) === JSON.stringify(value))) {
        throw new RangeError(
          `Cannot use ${flag} ${labelValue(value)} twice: each value makes one trial`,
        );
      }
      axis.values.push(value);
    }
  }
  for (const axis of axes) {
    if (axis.values.length > 1 && FIXED_SWEEP_FIELDS.includes(axis.key)) {
      throw new RangeError(
        `Cannot sweep ${flagName(axis.key)}: a sweep loads its data once, trains on one backend ` +
          `and keeps its trials in its own folder; give it one value, or run separate sweeps`,
      );
    }
  }
  return axes;
}

/** What a grid or a JSON file of configs gives: the shared fields and each trial's own. */
export interface SweepPlan {
  /** Fields every trial shares. */
  base: Partial<TrainConfig>;
  /** Fields that vary, in order. */
  varying: (keyof TrainConfig)[];
  /** Each trial's label and own fields. */
  trials: { label: string; overrides: Partial<TrainConfig> }[];
}

/**
 * The trials of a grid: every combination of the axes' values (the first axis varies slowest).
 * Axes with one value are shared by all trials.
 *
 * @param base Fields every trial shares (single-valued flags, `CIFAR10_*` variables).
 * @param axes The grid's axes.
 * @returns The plan.
 * @example
 * ```ts
 * import { gridPlan } from "./plan.ts";
 * const plan = gridPlan({ epochs: 8 }, [
 *   { key: "learningRate", values: [0.001, 0.002] },
 *   { key: "dropout", values: [0.25, 0.4] },
 * ]);
 * if (plan.trials.length !== 4 || plan.trials[1]!.label !== "learning-rate=0.001 dropout=0.4") throw new Error();
 * ```
 */
export function gridPlan(base: Partial<TrainConfig>, axes: readonly SweepAxis[]): SweepPlan {
  const shared: Partial<TrainConfig> = { ...base };
  const varying = axes.filter((a) => a.values.length > 1);
  for (const axis of axes) {
    if (axis.values.length === 1) {
      (shared as Record<string, unknown>)[axis.key] = axis.values[0];
    }
  }
  let combos: Partial<TrainConfig>[] = [{}];
  for (const axis of varying) {
    combos = combos.flatMap((combo) =>
      axis.values.map((value) => ({ ...combo, [axis.key]: value }) as Partial<TrainConfig>)
    );
  }
  const keys = varying.map((a) => a.key);
  return {
    base: shared,
    varying: keys,
    trials: combos.map((overrides) => ({ label: trialLabel(overrides, keys), overrides })),
  };
}

/**
 * The trials of a JSON file: an array of objects of config fields (as `makeConfig` takes them,
 * e.g. `{"learningRate": 0.002, "convChannels": [16, 32, 64]}`), each with an optional `"label"`.
 *
 * @param text The file's text.
 * @param file The file's path, for messages.
 * @param base Fields every trial shares (flags given beside `--configs`); a trial's own win.
 * @returns The plan.
 * @throws {SyntaxError} When the file is not JSON or not an array of objects.
 * @throws {RangeError} Naming the file and the trial, for a bad field or value.
 * @example
 * ```ts
 * import { jsonPlan } from "./plan.ts";
 * const plan = jsonPlan('[{"label": "slow", "learningRate": 0.0005}, {}]', "ideas.json", { epochs: 8 });
 * if (plan.trials[0]!.label !== "slow" || plan.trials[1]!.label !== "baseline") throw new Error();
 * ```
 */
export function jsonPlan(text: string, file: string, base: Partial<TrainConfig>): SweepPlan {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`Cannot read ${file}: expected JSON, ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new SyntaxError(
      `Cannot read ${file}: expected a non-empty array of config objects, found ${
        Array.isArray(parsed) ? "an empty array" : parsed === null ? "null" : typeof parsed
      }`,
    );
  }
  const trials = parsed.map((entry, i) => {
    const where = `${file}, trial ${i + 1}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new SyntaxError(`Cannot read ${where}: expected an object of config fields`);
    }
    const { label, ...fields } = entry as Record<string, unknown>;
    if (label !== undefined && (typeof label !== "string" || label.trim() === "")) {
      throw new RangeError(`Cannot use ${where}: expected "label" to be a non-empty string`);
    }
    for (const key of Object.keys(fields)) {
      if (FIXED_SWEEP_FIELDS.includes(key as keyof TrainConfig)) {
        throw new RangeError(
          `Cannot use ${where}: "${key}" is the same for every trial of a sweep; give it as ${
            flagName(key as keyof TrainConfig)
          }`,
        );
      }
    }
    try {
      makeConfig({ ...base, ...fields } as Partial<TrainConfig>);
    } catch (error) {
      throw new RangeError(`Cannot use ${where}: ${(error as Error).message}`);
    }
    return { label: label as string | undefined, overrides: fields as Partial<TrainConfig> };
  });
  const varying = [...new Set(trials.flatMap((t) => Object.keys(t.overrides)))] as (
    keyof TrainConfig
  )[];
  const labels = trials.map((t) => t.label ?? trialLabel(t.overrides, varying));
  const duplicate = labels.find((label, i) => labels.indexOf(label) !== i);
  if (duplicate !== undefined) {
    throw new RangeError(
      `Cannot use ${file}: two trials are labelled "${duplicate}"; give each a distinct "label"`,
    );
  }
  return {
    base,
    varying,
    trials: trials.map((t, i) => ({ label: labels[i]!, overrides: t.overrides })),
  };
}

/**
 * A new sweep record for a plan, not yet written.
 *
 * @param plan The trials.
 * @param now The time. @default now
 * @returns The record, every trial pending; its id names the sweep folder.
 */
export function newSweepRecord(plan: SweepPlan, now: Date = new Date()): SweepRecord {
  return {
    format: SWEEP_RECORD_FORMAT,
    version: 1,
    id: `sweep-${newRunId(now)}`,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    base: plan.base,
    varying: plan.varying,
    trials: plan.trials.map((t, i) => ({
      index: i + 1,
      label: t.label,
      overrides: t.overrides,
      status: "pending",
      runId: null,
      error: null,
    })),
  };
}

/**
 * A trial's full config: the tutorial's defaults, the sweep's shared fields, the trial's own, and
 * the sweep folder as the runs folder.
 *
 * @param record The sweep.
 * @param trial One of its trials.
 * @param sweepDir The sweep folder.
 * @returns The config the trial trains with.
 */
export function trialConfig(record: SweepRecord, trial: SweepTrial, sweepDir: string): TrainConfig {
  return makeConfig({ ...record.base, ...trial.overrides, outDir: sweepDir });
}

/**
 * Writes the sweep record atomically (a kill at any instant leaves the old or the new file).
 *
 * @param sweepDir The sweep folder (created when missing).
 * @param record The record; `updatedAt` is set to now.
 */
export async function writeSweepRecord(sweepDir: string, record: SweepRecord): Promise<void> {
  record.updatedAt = new Date().toISOString();
  await Deno.mkdir(sweepDir, { recursive: true });
  await writeJsonAtomic(join(sweepDir, SWEEP_RECORD_FILE), record);
}

/**
 * Reads a sweep record back and checks it.
 *
 * @param sweepDir The sweep folder.
 * @returns The record.
 * @throws {Deno.errors.NotFound} When the folder holds no `sweep.json`.
 * @throws {SyntaxError} Naming the file, when it is not a sweep record.
 */
export async function readSweepRecord(sweepDir: string): Promise<SweepRecord> {
  const path = join(sweepDir, SWEEP_RECORD_FILE);
  const raw = await readJsonObjectOrNull(path);
  if (raw === null) {
    throw new Deno.errors.NotFound(
      `Cannot find a sweep in "${sweepDir}": expected ${SWEEP_RECORD_FILE} in it (a sweep ` +
        `folder is runs/sweep-<time>-<id>/; see deno task sweep --help)`,
    );
  }
  if (raw.format !== SWEEP_RECORD_FORMAT || !Array.isArray(raw.trials)) {
    throw new SyntaxError(
      `Cannot read sweep record "${path}": expected format "${SWEEP_RECORD_FORMAT}" with trials, found ${
        JSON.stringify(raw.format ?? null)
      }`,
    );
  }
  const record = raw as unknown as SweepRecord;
  record.id = typeof raw.id === "string" ? raw.id : basename(sweepDir);
  return record;
}

/**
 * Finds a sweep folder: `"latest"` is the sweep created last under `runsDir`; anything else is a
 * path to a sweep folder, or a sweep id under `runsDir`.
 *
 * @param spec `"latest"`, a path, or an id.
 * @param runsDir The runs folder.
 * @returns The sweep folder.
 * @throws {Deno.errors.NotFound} When there is none.
 */
export async function findSweepDir(spec: string, runsDir: string): Promise<string> {
  if (spec !== "latest") {
    for (const candidate of [spec, join(runsDir, spec)]) {
      try {
        await Deno.stat(join(candidate, SWEEP_RECORD_FILE));
        return candidate;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    throw new Deno.errors.NotFound(
      `Cannot find sweep "${spec}": expected a folder holding ${SWEEP_RECORD_FILE} (as given, or ` +
        `under ${runsDir}/); "latest" picks the newest`,
    );
  }
  const found: { dir: string; createdAt: string }[] = [];
  try {
    for await (const entry of Deno.readDir(runsDir)) {
      if (!entry.isDirectory || !entry.name.startsWith("sweep-")) continue;
      const dir = join(runsDir, entry.name);
      try {
        found.push({ dir, createdAt: (await readSweepRecord(dir)).createdAt });
      } catch {
        // Not a sweep (or not yet written): skipped.
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (found.length === 0) {
    throw new Deno.errors.NotFound(
      `Cannot find a sweep under "${runsDir}": none started yet (start one with deno task sweep)`,
    );
  }
  found.sort((a, b) => a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0);
  return found[found.length - 1]!.dir;
}
