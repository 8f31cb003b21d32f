/**
 * Checkpoints in the TensorFlow.js format: a folder holding `model.json` (a `weightsManifest` that
 * names `weights.bin` and lists each weight's name, shape and dtype, plus our config under
 * `userDefinedMetadata` so the model can be rebuilt) and `weights.bin` (the raw little-endian
 * float32 values, written with `tf.io.encodeWeights`). The tutorial's `model.pt` becomes this folder.
 * A resumable checkpoint also holds the optimiser's state: `optimizer.json` (class, step count and
 * a manifest of its slots, named by parameter) and `optimizer.bin` (the slots' float32 values).
 *
 * Every write is atomic: files go to `<name>.tmp-<random>` and are renamed into place, and a
 * checkpoint folder is assembled beside its final name and swapped in, so a crash never leaves a
 * half-written checkpoint where a good one was.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname } from "node:path";
import { makeConfig, type TrainConfig } from "../core/config.ts";
import { exists, withPath } from "../core/fs.ts";
import { buildModel, type LayerSpec, type Model, setWeights, type WeightValues } from "./model.ts";

/** File name of the model description inside a checkpoint folder. */
export const MODEL_JSON = "model.json";
/** File name of the weights inside a checkpoint folder. */
export const WEIGHTS_BIN = "weights.bin";
/** Value of `format` in our `model.json`. */
export const CHECKPOINT_FORMAT = "cifar10-cnn";
/** File name of the optimiser's slots manifest inside a checkpoint folder (resumable checkpoints only). */
export const OPTIMIZER_JSON = "optimizer.json";
/** File name of the optimiser's slot values (raw little-endian float32) inside a checkpoint folder. */
export const OPTIMIZER_BIN = "optimizer.bin";
/** Value of `format` in `optimizer.json`. */
export const OPTIMIZER_FORMAT = "cifar10-cnn-optimizer";

/** What `model.json` holds. */
export interface ModelJson {
  /** Always `CHECKPOINT_FORMAT`. */
  format: string;
  /** The program that wrote it. */
  generatedBy: string;
  /** Always null (tfjs's field for converter output). */
  convertedBy: null;
  /** The layers, for humans and summaries (the model is rebuilt from the config). */
  modelTopology: { layers: LayerSpec[] };
  /** The tfjs weights manifest: one group, stored in `weights.bin`. */
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  /** Our additions: the run's config and free-form metadata (epoch, validation loss, …). */
  userDefinedMetadata: { config: Partial<TrainConfig>; metadata: Record<string, unknown> };
}

/** A checkpoint read back from disk. */
export interface Checkpoint {
  /** The config it was trained with (completed with defaults, checked by `makeConfig`). */
  config: TrainConfig;
  /** Its weights by parameter name. */
  weights: Record<string, WeightValues>;
  /** The metadata saved with it. */
  metadata: Record<string, unknown>;
}

/** One slot of an optimiser (a moment, an accumulator), keyed by the model's parameter name. */
export interface OptimizerSlot extends WeightValues {
  /** `<parameter>/<slot>`, e.g. `fc1.weight/m` (tfjs names the slot after the variable). */
  name: string;
}

/**
 * An optimiser's state, independent of tfjs variable names (which change whenever a model is
 * rebuilt): what `getOptimizerState` in lib/train/optimizer_state.ts reads and `setOptimizerState` restores.
 */
export interface OptimizerState {
  /** The optimiser's class name (`Adam`, `FusedAdam`, `SGD`, `Momentum`, `RMSProp`, `Adagrad`). */
  className: string;
  /** Its hyperparameters (`getConfig()`), for the record. */
  config: Record<string, unknown>;
  /** Steps taken so far. */
  iterations: number;
  /** The slots, in the optimiser's own order. */
  slots: OptimizerSlot[];
}

/** Options of `saveCheckpoint`. */
export interface SaveCheckpointOptions {
  /** The run's config, stored so the model can be rebuilt; defaults to the model's own architecture config. */
  config?: Partial<TrainConfig>;
  /** Free-form JSON-serialisable facts to store (epoch, validation loss, backend, …). */
  metadata?: Record<string, unknown>;
  /**
   * The optimiser's state, stored beside the weights (`optimizer.json` + `optimizer.bin`) so that
   * training can resume from this checkpoint exactly. @default none
   */
  optimizer?: OptimizerState;
}

/** Where a checkpoint was written and how big it is. */
export interface SavedCheckpoint {
  /** The checkpoint folder. */
  dir: string;
  /** Bytes of `weights.bin`. */
  weightBytes: number;
}

function randomSuffix(): string {
  // Not seeded on purpose: temp names only need to differ between concurrent writers.
  return crypto.randomUUID().slice(0, 8);
}

/** Hidden data folders of the checkpoint `name` (`best-model` → `.best-model-<id>`). */
function dataFolderPrefix(name: string): string {
  return `.${name}-`;
}

/** The data folder `target` links to (its name), or null when `target` is no link. */
async function linkedDataFolder(target: string): Promise<string | null> {
  try {
    return basename(await Deno.readLink(target));
  } catch {
    return null;
  }
}

/** The complete data folders of a checkpoint (holding model.json), newest first. */
async function completeDataFolders(target: string): Promise<string[]> {
  const parent = dirname(target), prefix = dataFolderPrefix(basename(target));
  const found: { name: string; time: number }[] = [];
  try {
    for await (const entry of Deno.readDir(parent)) {
      if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
      const info = await Deno.stat(`${parent}/${entry.name}/${MODEL_JSON}`).catch(() => null);
      if (info !== null) found.push({ name: entry.name, time: info.mtime?.getTime() ?? 0 });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => b.time - a.time).map((f) => f.name);
}

/**
 * The folder a checkpoint's files are read from: `dir` itself when it is there (a link to its data
 * folder, or a plain folder), else, after a save that was killed while replacing an old plain
 * folder, the newest complete data folder beside it. Reads only; `tidyCheckpoint` repairs.
 *
 * @param dir The checkpoint's name, e.g. `runs/<run>/best-model`.
 * @returns The folder to read.
 */
export async function checkpointFolder(dir: string): Promise<string> {
  const target = dir.replace(/\/+$/, "");
  if (await exists(`${target}/${MODEL_JSON}`)) return target;
  const [newest] = await completeDataFolders(target);
  return newest === undefined ? target : `${dirname(target)}/${newest}`;
}

/**
 * Repairs and tidies a checkpoint after any interrupted save: links the name to the newest
 * complete data folder when the link is missing or broken, and removes data folders nothing links
 * to, half-written ones and leftover temporary links. Called by every save before and after it
 * writes, and when a run is resumed; not by readers, which may run beside a writer.
 *
 * @param dir The checkpoint's name, e.g. `runs/<run>/last-model`.
 * @returns Resolves once tidy.
 * @example
 * ```ts
 * import { tidyCheckpoint } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/.best-model-ab12`); // a save killed before model.json
 * await tidyCheckpoint(`${dir}/best-model`);
 * if ([...Deno.readDirSync(dir)].length !== 0) throw new Error("leftover kept");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function tidyCheckpoint(dir: string): Promise<void> {
  const target = dir.replace(/\/+$/, "");
  const parent = dirname(target), name = basename(target);
  const prefix = dataFolderPrefix(name);
  let linked = await linkedDataFolder(target);
  const complete = await completeDataFolders(target);
  if (!(await exists(`${target}/${MODEL_JSON}`)) && complete.length > 0) {
    // The name is missing or broken, and a complete checkpoint exists: link it.
    const link = `${target}.tmp-${randomSuffix()}`;
    await Deno.symlink(complete[0]!, link);
    const before = await Deno.lstat(target).catch(() => null);
    if (before?.isDirectory) await Deno.remove(target, { recursive: true });
    await Deno.rename(link, target);
    linked = complete[0]!;
  }
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    const leftover = (entry.name.startsWith(prefix) && entry.name !== linked) ||
      entry.name.startsWith(`${name}.tmp-`) || entry.name.startsWith(`${name}.old-`);
    if (leftover) await Deno.remove(`${parent}/${entry.name}`, { recursive: true }).catch(() => {});
  }
}

/**
 * Saves the model's weights and config as a tfjs-format checkpoint folder (`model.json` +
 * `weights.bin`), replacing any checkpoint already at `dir` atomically.
 *
 * @param model The model to save.
 * @param dir The checkpoint folder, e.g. `runs/<run>/best-model`.
 * @param options The run's config and metadata to store with it.
 * @returns The folder and the size of the weights.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "./model.ts";
 * import { readCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const config = makeConfig({ convChannels: [4], hiddenUnits: 8 });
 * const model = buildModel(config);
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(model, `${dir}/best`, { config, metadata: { epoch: 1 } });
 * const checkpoint = await readCheckpoint(`${dir}/best`);
 * if (checkpoint.metadata.epoch !== 1 || checkpoint.config.hiddenUnits !== 8) throw new Error("lost");
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  model: Model,
  dir: string,
  options: SaveCheckpointOptions = {},
): Promise<SavedCheckpoint> {
  // The weights go to weights.bin one tensor at a time, in tfjs's layout (float32 values,
  // concatenated in manifest order), without first concatenating them in memory.
  const params = Object.entries(model.params);
  for (const [name, tensor] of params) {
    if (tensor.dtype !== "float32") {
      throw new TypeError(
        `Cannot save parameter "${name}": expected float32 values, found ${tensor.dtype}`,
      );
    }
  }
  const specs: tf.io.WeightsManifestEntry[] = params.map(([name, tensor]) => ({
    name,
    shape: [...tensor.shape],
    dtype: "float32",
  }));
  const weightBytes = params.reduce((sum, [, tensor]) => sum + tensor.size * 4, 0);
  const modelJson: ModelJson = {
    format: CHECKPOINT_FORMAT,
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    modelTopology: { layers: structuredClone(model.layers) as LayerSpec[] },
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
    userDefinedMetadata: {
      config: structuredClone(options.config ?? model.config),
      metadata: structuredClone(options.metadata ?? {}),
    },
  };
  // 1. Write the new checkpoint into a hidden folder of its own, model.json last: a folder with
  //    model.json is complete.
  const target = dir.replace(/\/+$/, "");
  const parent = dirname(target), name = basename(target);
  await Deno.mkdir(parent, { recursive: true });
  await tidyCheckpoint(target);
  const data = `${parent}/${dataFolderPrefix(name)}${randomSuffix()}`;
  await Deno.mkdir(data);
  try {
    await writeFloatArrays(
      `${data}/${WEIGHTS_BIN}`,
      params.map(([, tensor]) => () => tensor.data() as Promise<Float32Array>),
    );
    if (options.optimizer !== undefined) await writeOptimizerFiles(data, options.optimizer);
    await Deno.writeTextFile(`${data}/${MODEL_JSON}`, JSON.stringify(modelJson, null, 2) + "\n");
    // 2. Publish it: `target` is a symbolic link to the data folder, and renaming a new link over
    //    the old one is atomic, so at every instant `target` holds the old or the new checkpoint.
    const link = `${target}.tmp-${randomSuffix()}`;
    await Deno.symlink(basename(data), link);
    try {
      const before = await Deno.lstat(target).catch(() => null);
      // A checkpoint folder from before links (a real folder) cannot be replaced by a rename:
      // move it aside as a data folder first (readers fall back to it, tidyCheckpoint relinks).
      if (before?.isDirectory) {
        await Deno.rename(target, `${parent}/${dataFolderPrefix(name)}${randomSuffix()}`);
      }
      await Deno.rename(link, target);
    } catch (error) {
      await Deno.remove(link).catch(() => {});
      throw error;
    }
  } catch (error) {
    if (!(await linkedDataFolder(target) === basename(data))) {
      await Deno.remove(data, { recursive: true }).catch(() => {});
    }
    throw withPath(error, `Cannot save checkpoint to ${target}`);
  }
  // 3. The previous data folder is no longer linked: remove it (or the next save will).
  await tidyCheckpoint(target);
  return { dir: target, weightBytes };
}

/** What `optimizer.json` holds. */
interface OptimizerJson {
  format: string;
  className: string;
  config: Record<string, unknown>;
  iterations: number;
  paths: string[];
  slots: { name: string; shape: number[]; dtype: "float32" }[];
}

/**
 * Writes float32 arrays one after another into a new file, each fetched only when its turn comes
 * (so a backend that copies on read holds one copy at a time).
 */
async function writeFloatArrays(
  path: string,
  parts: (() => Float32Array | Promise<Float32Array>)[],
): Promise<void> {
  using file = await Deno.open(path, { write: true, createNew: true });
  for (const part of parts) {
    const values = await part();
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  }
}

async function writeOptimizerFiles(dir: string, state: OptimizerState): Promise<void> {
  const manifest: OptimizerJson = {
    format: OPTIMIZER_FORMAT,
    className: state.className,
    config: state.config,
    iterations: state.iterations,
    paths: [OPTIMIZER_BIN],
    slots: state.slots.map((slot) => ({
      name: slot.name,
      shape: [...slot.shape],
      dtype: "float32",
    })),
  };
  await writeFloatArrays(`${dir}/${OPTIMIZER_BIN}`, state.slots.map((slot) => () => slot.values));
  await Deno.writeTextFile(`${dir}/${OPTIMIZER_JSON}`, JSON.stringify(manifest, null, 2) + "\n");
}

/**
 * Reads the optimiser state stored in a checkpoint folder by `saveCheckpoint` with `optimizer`.
 *
 * @param dir The checkpoint folder.
 * @returns The state, or null when the checkpoint has none (a best-model checkpoint).
 * @throws {SyntaxError} When `optimizer.json` is not JSON or not our format.
 * @throws {RangeError} When `optimizer.bin` has another size than the manifest says.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "./model.ts";
 * import { readOptimizerState, saveCheckpoint } from "./checkpoint.ts";
 * const model = buildModel(makeConfig({ convChannels: [2], hiddenUnits: 4 }));
 * const dir = await Deno.makeTempDir();
 * const slot = { name: "fc2.bias/m", shape: [10], values: new Float32Array(10).fill(0.5) };
 * await saveCheckpoint(model, `${dir}/last`, {
 *   optimizer: { className: "Adam", config: {}, iterations: 3, slots: [slot] },
 * });
 * const state = await readOptimizerState(`${dir}/last`);
 * if (state?.iterations !== 3 || state.slots[0]!.values[9] !== 0.5) throw new Error("lost");
 * if (await readOptimizerState(dir) !== null) throw new Error("no state expected here");
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readOptimizerState(name: string): Promise<OptimizerState | null> {
  const dir = await checkpointFolder(name);
  const jsonPath = `${dir}/${OPTIMIZER_JSON}`;
  let text: string;
  try {
    text = await Deno.readTextFile(jsonPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  let parsed: OptimizerJson;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `Cannot read optimizer state "${jsonPath}": not JSON (${(error as Error).message})`,
    );
  }
  if (
    parsed?.format !== OPTIMIZER_FORMAT || !Array.isArray(parsed.slots) ||
    typeof parsed.className !== "string" || !Number.isInteger(parsed.iterations)
  ) {
    throw new SyntaxError(
      `Cannot read optimizer state "${jsonPath}": expected format "${OPTIMIZER_FORMAT}" with ` +
        `className, iterations and slots, found format ${JSON.stringify(parsed?.format ?? null)}`,
    );
  }
  const binPath = `${dir}/${parsed.paths?.[0] ?? OPTIMIZER_BIN}`;
  const bytes = await Deno.readFile(binPath);
  const sizes = parsed.slots.map((slot) => slot.shape.reduce((a, b) => a * b, 1));
  const expected = 4 * sizes.reduce((a, b) => a + b, 0);
  if (bytes.byteLength !== expected) {
    throw new RangeError(
      `Cannot read optimizer state "${binPath}": expected ${expected} bytes, found ${bytes.byteLength}`,
    );
  }
  // Copy into an aligned buffer: a Float32Array view needs a 4-byte aligned offset.
  const all = new Float32Array(bytes.slice().buffer);
  let offset = 0;
  const slots = parsed.slots.map((slot, i) => {
    const values = all.slice(offset, offset + sizes[i]!);
    offset += sizes[i]!;
    return { name: slot.name, shape: [...slot.shape], values };
  });
  return {
    className: parsed.className,
    config: parsed.config ?? {},
    iterations: parsed.iterations,
    slots,
  };
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Parses the text of a checkpoint's `model.json`, checking that it is our format.
 *
 * @param text The file's content.
 * @param name How to name the file in errors (its path or URL).
 * @returns The parsed description; `weightsManifest[0].paths[0]` names the weights file.
 * @throws {SyntaxError} When it is not JSON or not our format.
 * @example
 * ```ts
 * import { parseModelJson } from "./checkpoint.ts";
 * const error = (() => { try { parseModelJson("{}", "m.json"); } catch (e) { return e; } })();
 * if (!(error instanceof SyntaxError) || !error.message.startsWith('Cannot read checkpoint "m.json"')) {
 *   throw new Error(String(error));
 * }
 * ```
 */
export function parseModelJson(text: string, name: string): ModelJson {
  let parsed: ModelJson;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `Cannot read checkpoint "${name}": not JSON (${(error as Error).message})`,
    );
  }
  if (
    parsed?.format !== CHECKPOINT_FORMAT || parsed.weightsManifest?.[0] === undefined ||
    !parsed.userDefinedMetadata
  ) {
    throw new SyntaxError(
      `Cannot read checkpoint "${name}": expected format "${CHECKPOINT_FORMAT}" with a ` +
        `weightsManifest and userDefinedMetadata, found format ${
          JSON.stringify(parsed?.format ?? null)
        }`,
    );
  }
  return parsed;
}

/**
 * Decodes a checkpoint from its parsed `model.json` and the bytes of its weights file, checking the
 * manifest against the bytes. Reads no file: `readCheckpoint` uses it in Deno, and the browser page
 * (web/) on what it fetched.
 *
 * @param json The parsed `model.json` (`parseModelJson`).
 * @param bytes The weights file's content.
 * @param name How to name the weights file in errors (its path or URL).
 * @returns Config, weights (as plain arrays, no tensors) and metadata.
 * @throws {RangeError} When the bytes have another size than the manifest says.
 */
export async function decodeCheckpoint(
  json: ModelJson,
  bytes: Uint8Array,
  name: string,
): Promise<Checkpoint> {
  const group = json.weightsManifest[0]!;
  const expected = group.weights.reduce(
    (sum, spec) =>
      sum + spec.shape.reduce((a, b) => a * b, 1) * (BYTES_PER_DTYPE[spec.dtype] ?? NaN),
    0,
  );
  if (bytes.byteLength !== expected) {
    throw new RangeError(
      `Cannot read checkpoint weights "${name}": expected ${expected} bytes, found ${bytes.byteLength}`,
    );
  }
  const tensors = tf.io.decodeWeights(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    group.weights,
  );
  const weights: Record<string, WeightValues> = {};
  for (const [weightName, tensor] of Object.entries(tensors)) {
    weights[weightName] = {
      shape: [...tensor.shape],
      values: new Float32Array(await tensor.data() as Float32Array),
    };
    tensor.dispose();
  }
  return {
    config: makeConfig(json.userDefinedMetadata.config),
    weights,
    metadata: json.userDefinedMetadata.metadata ?? {},
  };
}

/**
 * Reads a checkpoint folder written by `saveCheckpoint`, checking the manifest against the weights.
 *
 * @param dir The checkpoint folder.
 * @returns Config, weights (as plain arrays, no tensors) and metadata.
 * @throws {SyntaxError} When `model.json` is not JSON or not our format.
 * @throws {RangeError} When `weights.bin` has another size than the manifest says.
 * @example
 * ```ts
 * import { readCheckpoint } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/model.json`, "{}");
 * const error = await readCheckpoint(dir).catch((e) => e);
 * if (!(error instanceof SyntaxError)) throw new Error("accepted a bad model.json");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCheckpoint(name: string): Promise<Checkpoint> {
  const dir = await checkpointFolder(name);
  const jsonPath = `${dir}/${MODEL_JSON}`;
  const json = parseModelJson(await Deno.readTextFile(jsonPath), jsonPath);
  const weightsPath = `${dir}/${json.weightsManifest[0]!.paths[0] ?? WEIGHTS_BIN}`;
  return await decodeCheckpoint(json, await Deno.readFile(weightsPath), weightsPath);
}

/**
 * Rebuilds a model from a checkpoint folder: builds the architecture from the stored config and
 * loads the stored weights into it.
 *
 * @param dir The checkpoint folder.
 * @returns The model (dispose it when done) and the checkpoint it came from.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel, getWeights } from "./model.ts";
 * import { loadModel, saveCheckpoint } from "./checkpoint.ts";
 * const original = buildModel(makeConfig({ convChannels: [4], hiddenUnits: 8, seed: 3 }));
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(original, dir);
 * const { model } = await loadModel(dir);
 * const a = getWeights(original)["fc2.weight"]!.values, b = getWeights(model)["fc2.weight"]!.values;
 * if (a.some((v, i) => v !== b[i])) throw new Error("weights differ");
 * original.dispose();
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadModel(dir: string): Promise<{ model: Model; checkpoint: Checkpoint }> {
  const checkpoint = await readCheckpoint(dir);
  const model = buildModel(checkpoint.config);
  try {
    setWeights(model, checkpoint.weights);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, checkpoint };
}
