/**
 * Choosing and loading the trained model that classifies your images: the latest run's best
 * model, or the one in a run folder or checkpoint folder you name, with what the run recorded
 * about it (class names, epoch, losses, test accuracy) and a line describing it.
 * @module
 */
import { dirname } from "node:path";
import { displayPath, escapeHtml, isFile, makeConfig, type TrainConfig } from "../core/mod.ts";
import { CIFAR10_CLASSES, SYNTHETIC_CLASSES } from "../data/mod.ts";
import {
  type Checkpoint,
  checkpointFolder,
  loadModel,
  type Model,
  MODEL_JSON,
  parseModelJson,
} from "../model/mod.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  findRunDir,
  readRunRecord,
  RUN_CONFIG_FILE,
  RUN_RECORD_FILE,
} from "../runs/mod.ts";

/** Where a run's best model is. */
export interface RunLocation {
  /** The run folder (config.json, metrics.json), or null for a bare checkpoint folder. */
  runDir: string | null;
  /** The checkpoint folder (model.json + weights.bin). */
  checkpointDir: string;
}

/** What a run records about its best model, without loading it (`readRunFacts`). */
export interface RunFacts extends RunLocation {
  /** The config the model was trained with (from its `model.json`). */
  config: TrainConfig;
  /** Class names in label order (from the run's metrics, else CIFAR-10's). */
  classNames: string[];
  /** True when the model was trained on the synthetic data set, not CIFAR-10. */
  synthetic: boolean;
  /** Epoch of the saved model, when recorded. */
  epoch: number | null;
  /** Its validation loss, when recorded. */
  validLoss: number | null;
  /** Test accuracy of the run's best model, when the run got that far. */
  testAccuracy: number | null;
  /** The run's status from metrics.json (`"running"`, `"completed"`, …), when known. */
  status: string | null;
}

/** A run's best model, loaded. */
export interface LoadedRun extends RunFacts {
  /** The model (call `model.dispose()` when done). */
  model: Model;
  /** The checkpoint it came from (config, metadata). */
  checkpoint: Checkpoint;
}

/** Options of `resolveRun` and `loadRun`. */
export interface RunOptions {
  /** Where run folders live, for `"latest"`. @default "runs" (relative to the working folder) */
  outDir?: string;
}

/** The checkpoint folder of a run folder or checkpoint folder, or null. */
async function checkpointIn(dir: string): Promise<RunLocation | null> {
  const trimmed = dir.replace(/(.)\/+$/, "$1");
  if (await isFile(`${trimmed}/model.json`)) {
    // The checkpoint may sit in the run folder itself or in its `best-model/`.
    const isRun = async (path: string) =>
      await isFile(`${path}/${RUN_CONFIG_FILE}`) || await isFile(`${path}/${RUN_RECORD_FILE}`);
    const parent = dirname(trimmed);
    const runDir = await isRun(trimmed) ? trimmed : await isRun(parent) ? parent : null;
    return { runDir, checkpointDir: trimmed };
  }
  const inner = `${trimmed}/${BEST_CHECKPOINT_FOLDER}`;
  if (await isFile(`${inner}/model.json`)) return { runDir: trimmed, checkpointDir: inner };
  return null;
}

/** The message when no run has a checkpoint yet. */
function noRunMessage(outDir: string): string {
  return `No trained model found under ${displayPath(outDir)}/: train one with ` +
    "`deno task train` or pass --run PATH";
}

/**
 * Finds the best model of a run.
 *
 * `"latest"` means what it means everywhere (`findRunDir` in lib/runs): of the runs under
 * `outDir` (folders with a readable `metrics.json`) that hold `best-model/model.json`, the one
 * started last by its record's `startedAt`. When it was saved, and the folder's name, do not
 * count; a bare checkpoint folder (no `metrics.json`) is never the latest, but can be named.
 *
 * @param spec `"latest"` (default); or a path: a run folder (holding `best-model/model.json`) or a
 *   checkpoint folder (holding `model.json`; its run is the folder itself or the one above it
 *   when that has `config.json` or `metrics.json`).
 * @param options `outDir`: where run folders live. @default "runs"
 * @returns The run folder (null for a bare checkpoint) and the checkpoint folder.
 * @throws {Deno.errors.NotFound} When the path does not exist, or (`"latest"`) no run has a
 *   best model: ``No trained model found under runs/: train one with `deno task train` or pass
 *   --run PATH``.
 * @throws {TypeError} When the path exists but holds no checkpoint.
 * @example
 * ```ts
 * import { resolveRun } from "./run.ts";
 * const dir = await Deno.makeTempDir();
 * const error = await resolveRun("latest", { outDir: dir }).catch((e) => e);
 * if (!(error instanceof Deno.errors.NotFound) || !error.message.startsWith("No trained model found under")) throw error;
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveRun(
  spec: string = "latest",
  options: RunOptions = {},
): Promise<RunLocation> {
  const outDir = options.outDir ?? "runs";
  if (spec === "latest") {
    let runDir: string;
    try {
      runDir = await findRunDir("latest", { outDir, checkpoint: BEST_CHECKPOINT_FOLDER });
    } catch (error) {
      // No run at all, or none with a best model yet: either way, say how to get one.
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(noRunMessage(outDir), { cause: error });
      }
      throw error;
    }
    return { runDir, checkpointDir: `${runDir}/${BEST_CHECKPOINT_FOLDER}` };
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(spec);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot use run "${spec}": no such folder`);
    }
    throw error;
  }
  const found = info.isDirectory ? await checkpointIn(spec) : null;
  if (found === null) {
    throw new TypeError(
      `Cannot use run "${spec}": expected a run folder (with ${BEST_CHECKPOINT_FOLDER}/model.json) ` +
        `or a checkpoint folder (with model.json), found ${
          info.isDirectory ? "a folder without either" : "a file"
        }`,
    );
  }
  return found;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * What a run records about its best model (`resolveRun`, then its `model.json` and record), without
 * reading the weights: for a caller that only names the model, like `./run serve` on each page load.
 *
 * @param spec `"latest"` (default), a run folder or a checkpoint folder.
 * @param options `outDir` for `"latest"`.
 * @returns Where it is, its config, class names and facts for `describeRun`.
 * @throws {Deno.errors.NotFound} When there is no such run (see `resolveRun`).
 * @throws {SyntaxError} When its `model.json` is not a checkpoint of ours.
 */
export async function readRunFacts(
  spec: string = "latest",
  options: RunOptions = {},
): Promise<RunFacts> {
  const location = await resolveRun(spec, options);
  // The record only adds facts for display; a missing or unreadable one is no reason to fail.
  // It is read as every reader reads it: a run whose writer died shows as interrupted, not running.
  const record = location.runDir === null
    ? null
    : await readRunRecord(location.runDir).catch(() => null);
  const jsonPath = `${await checkpointFolder(location.checkpointDir)}/${MODEL_JSON}`;
  const json = parseModelJson(await Deno.readTextFile(jsonPath), jsonPath);
  const config = makeConfig(json.userDefinedMetadata.config);
  const metadata = json.userDefinedMetadata.metadata ?? {};
  const synthetic = config.synthetic || record?.data.synthetic === true;
  // Class names from the run itself: its record, else what its config says it trained on.
  const recorded = record?.data.classNames ?? [];
  const classNames = recorded.length > 0
    ? [...recorded]
    : synthetic
    ? [...SYNTHETIC_CLASSES]
    : [...CIFAR10_CLASSES];
  return {
    ...location,
    config,
    classNames,
    synthetic,
    epoch: numberOrNull(metadata.epoch),
    validLoss: numberOrNull(metadata.validLoss),
    testAccuracy: numberOrNull(record?.test?.accuracy),
    status: record?.status ?? null,
  };
}

/**
 * Loads a run's best model (`readRunFacts`, then `loadModel`) with what the run recorded about it.
 *
 * @param spec `"latest"` (default), a run folder or a checkpoint folder.
 * @param options `outDir` for `"latest"`.
 * @returns The model, its checkpoint, class names and facts for `describeRun`.
 * @throws {Deno.errors.NotFound} When there is no such run (see `resolveRun`).
 */
export async function loadRun(
  spec: string = "latest",
  options: RunOptions = {},
): Promise<LoadedRun> {
  const facts = await readRunFacts(spec, options);
  const { model, checkpoint } = await loadModel(facts.checkpointDir);
  return { ...facts, config: checkpoint.config, model, checkpoint };
}

/**
 * One line saying which model classifies, e.g.
 * `Model: runs/20261128-113000-3fa2c1/best-model (epoch 54, validation loss 0.5400, test accuracy 76.7%)`,
 * with a warning when it was trained on synthetic data.
 *
 * @param run What `loadRun` returned (only the facts are read).
 * @returns The line.
 * @example
 * ```ts
 * import { describeRun } from "./run.ts";
 * const line = describeRun({ checkpointDir: "runs/x/best-model", epoch: 3, validLoss: 1.25, testAccuracy: null, status: null, synthetic: true });
 * if (line !== "Model: runs/x/best-model (epoch 3, validation loss 1.2500) — trained on SYNTHETIC data, not CIFAR-10: its answers say nothing about real images") throw new Error(line);
 * ```
 */
export function describeRun(
  run: Pick<
    LoadedRun,
    "checkpointDir" | "epoch" | "validLoss" | "testAccuracy" | "status" | "synthetic"
  >,
): string {
  const facts: string[] = [];
  if (run.epoch !== null) facts.push(`epoch ${run.epoch}`);
  if (run.validLoss !== null) facts.push(`validation loss ${run.validLoss.toFixed(4)}`);
  if (run.testAccuracy !== null) {
    facts.push(`test accuracy ${(100 * run.testAccuracy).toFixed(1)}%`);
  }
  if (run.status === "running") facts.push("training still running");
  // The path as a published page may show it: relative to the project, or ~/… (displayPath).
  const where = displayPath(run.checkpointDir);
  let line = `Model: ${where}${facts.length > 0 ? ` (${facts.join(", ")})` : ""}`;
  if (run.synthetic) {
    line += " — trained on SYNTHETIC data, not CIFAR-10: its answers say nothing about real images";
  }
  return line;
}

/**
 * What the own-images notebook shows when no run has a trained model: where it looked, how to
 * train one (a quick one too), and that the images are still shown.
 *
 * @param where The runs folder, as the reader knows it (e.g. `runs`).
 * @returns The message as HTML (the `where` escaped) and as plain text.
 * @example
 * ```ts
 * import { noModelMessage } from "./run.ts";
 * const { html, text } = noModelMessage("runs<x>");
 * if (!html.includes("runs&lt;x&gt;/") || !text.startsWith("No trained model found under runs<x>/")) {
 *   throw new Error(html);
 * }
 * ```
 */
export function noModelMessage(where: string): { html: string; text: string } {
  const escaped = escapeHtml(where);
  return {
    html: `<div style="border-left:4px solid #c62828;padding:6px 12px">` +
      `<b>No trained model found under ${escaped}/.</b> Train one first with ` +
      `<code>deno task train</code> (a quick, less accurate one: <code>deno task train --epochs 3 ` +
      `--train-limit 12000</code>) or the tutorial notebook, then run this notebook again; or set ` +
      `<code>RUN</code> to a run folder. The images below are still shown, without predictions.</div>`,
    text: `No trained model found under ${where}/. Train one first with \`deno task train\` or ` +
      "the tutorial notebook, then run this notebook again; or set RUN to a run folder.",
  };
}
