/**
 * The one typed configuration that drives data, model, training and evaluation. It holds the
 * tutorial's defaults; notebooks, CLIs and environment variables only override fields of it.
 * `makeConfig` checks every override and throws on unknown keys or bad values, naming the field.
 * @module
 */

import { type FlagKind, parseDecimal, parseFlags, parseInteger } from "./flags.ts";

/** Classes of CIFAR-10: the length of `classWeights` (lib/data re-exports it). */
export const NUM_CLASSES = 10;

/** Optimisers the training loop offers. */
export const OPTIMIZERS = ["adam", "sgd", "rmsprop", "adagrad"] as const;
/** An optimiser name. */
export type OptimizerName = typeof OPTIMIZERS[number];

/** Backends the backend module can select; `auto` picks the fastest available. */
export const BACKENDS = ["auto", "tensorflow", "webgpu", "blas", "wasm", "cpu"] as const;
/** A backend name. */
export type BackendName = typeof BACKENDS[number];

/** Every knob of a run. Field docs give the tutorial's default. */
export interface TrainConfig {
  /** Seed for split, shuffles, augmentation, initialisation and dropout. @default 42 */
  seed: number;
  /** Training epochs (the tutorial: 60). @default 60 */
  epochs: number;
  /** Images per batch. @default 30 */
  batchSize: number;
  /** Learning rate. @default 0.001 */
  learningRate: number;
  /** Optimiser. @default "adam" */
  optimizer: OptimizerName;
  /** Momentum for SGD and RMSprop. @default 0.9 */
  momentum: number;
  /** Fraction of the training set held out for validation. @default 0.2 */
  validFraction: number;
  /** Output channels of each 3×3 convolution, in order. @default [16, 32, 64, 128] */
  convChannels: number[];
  /** A 2×2 max-pool follows every this many convolutions. @default 2 */
  poolEvery: number;
  /** Units of the hidden fully connected layer. @default 500 */
  hiddenUnits: number;
  /** Dropout rate before each fully connected layer. @default 0.25 */
  dropout: number;
  /** Initialise dense layers from N(0, 1/√fan_in) with zero bias (`weights_init_normal`). @default true */
  weightsInitNormal: boolean;
  /** Probability of a horizontal flip per training image; 0 switches it off. @default 0.5 */
  flipProbability: number;
  /** Maximum rotation in degrees (uniform in [−r, r]); 0 switches it off. @default 20 */
  rotationDegrees: number;
  /** Per-channel normalisation mean (applied to pixels scaled to [0, 1]). @default 0.5 */
  normalizeMean: number;
  /** Per-channel normalisation standard deviation. @default 0.5 */
  normalizeStd: number;
  /** Augment validation batches too (the tutorial's code does). @default true */
  augmentValidation: boolean;
  /** Compute backend. @default "auto" */
  backend: BackendName;
  /** A CIFAR-10 archive or extracted folder to use instead of downloading. @default null */
  dataPath: string | null;
  /** Use only the first N training images (quick runs); null uses all. @default null */
  trainLimit: number | null;
  /** Use only the first N test images (quick runs); null uses all. @default null */
  testLimit: number | null;
  /** Stop each epoch after this many batches (smoke runs); null runs whole epochs. @default null */
  maxBatchesPerEpoch: number | null;
  /**
   * Early stopping: end the run once the validation loss has not improved for this many epochs
   * (the best weights are kept, as at the end of a full schedule); null trains every epoch.
   * @default null
   */
  patience: number | null;
  /**
   * Class-weighted sampling: one weight per class, in label order; each training epoch then draws
   * its images with replacement, an image of class c with probability ∝ `classWeights[c]`
   * (PyTorch's `WeightedRandomSampler`), as many as the training split holds. null shuffles the
   * split once per epoch (the tutorial). @default null
   */
  classWeights: number[] | null;
  /** Train on the generated synthetic data set (labelled synthetic everywhere). @default false */
  synthetic: boolean;
  /** Folder that receives run folders (checkpoints, metrics). @default "runs" */
  outDir: string;
}

/** The tutorial's defaults. */
export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
  seed: 42,
  epochs: 60,
  batchSize: 30,
  learningRate: 0.001,
  optimizer: "adam",
  momentum: 0.9,
  validFraction: 0.2,
  convChannels: [16, 32, 64, 128],
  poolEvery: 2,
  hiddenUnits: 500,
  dropout: 0.25,
  weightsInitNormal: true,
  flipProbability: 0.5,
  rotationDegrees: 20,
  normalizeMean: 0.5,
  normalizeStd: 0.5,
  augmentValidation: true,
  backend: "auto",
  dataPath: null,
  trainLimit: null,
  testLimit: null,
  maxBatchesPerEpoch: null,
  patience: null,
  classWeights: null,
  synthetic: false,
  outDir: "runs",
});

type Kind =
  | "int"
  | "posInt"
  | "number"
  | "fraction"
  | "bool"
  | "string"
  | "intList"
  | "weightList";
interface FieldSpec {
  kind: Kind;
  nullable?: boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
  help: string;
}

/** How each field is checked and parsed; also the source of CLI help. */
export const CONFIG_FIELDS: Readonly<Record<keyof TrainConfig, FieldSpec>> = {
  seed: { kind: "int", min: 0, help: "random seed" },
  epochs: { kind: "posInt", help: "training epochs" },
  batchSize: { kind: "posInt", help: "images per batch" },
  learningRate: { kind: "number", min: 0, help: "learning rate (> 0)" },
  optimizer: { kind: "string", choices: OPTIMIZERS, help: "optimiser" },
  momentum: { kind: "fraction", help: "momentum for sgd/rmsprop, in [0, 1)" },
  validFraction: { kind: "fraction", help: "validation fraction, in [0, 1)" },
  convChannels: { kind: "intList", help: "conv widths, comma-separated, e.g. 16,32,64,128" },
  poolEvery: { kind: "posInt", help: "a 2x2 max-pool after every N convolutions" },
  hiddenUnits: { kind: "posInt", help: "hidden units of the first dense layer" },
  dropout: { kind: "fraction", help: "dropout rate, in [0, 1)" },
  weightsInitNormal: { kind: "bool", help: "N(0, 1/sqrt(fan_in)) init of dense layers" },
  flipProbability: { kind: "number", min: 0, max: 1, help: "horizontal flip probability" },
  rotationDegrees: { kind: "number", min: 0, max: 180, help: "max rotation in degrees" },
  normalizeMean: { kind: "number", help: "normalisation mean" },
  normalizeStd: { kind: "number", min: 0, help: "normalisation std (> 0)" },
  augmentValidation: { kind: "bool", help: "augment validation batches too" },
  backend: { kind: "string", choices: BACKENDS, help: "compute backend" },
  dataPath: { kind: "string", nullable: true, help: "CIFAR-10 archive or folder" },
  trainLimit: { kind: "posInt", nullable: true, help: "use the first N training images" },
  testLimit: { kind: "posInt", nullable: true, help: "use the first N test images" },
  maxBatchesPerEpoch: { kind: "posInt", nullable: true, help: "stop each epoch after N batches" },
  patience: {
    kind: "posInt",
    nullable: true,
    help: "stop when validation loss has not improved for N epochs",
  },
  classWeights: {
    kind: "weightList",
    nullable: true,
    help: "sampling weight per class, 10 comma-separated numbers ≥ 0, e.g. 1,1,2,2,1,2,1,1,1,1",
  },
  synthetic: { kind: "bool", help: "train on synthetic data (labelled as such)" },
  outDir: { kind: "string", help: "folder for run outputs" },
};

function fail(key: string, expected: string, found: unknown): never {
  throw new RangeError(
    `Cannot use config field "${key}": expected ${expected}, found ${JSON.stringify(found)}`,
  );
}

function checkField(key: keyof TrainConfig, value: unknown): unknown {
  const spec = CONFIG_FIELDS[key];
  if (value === null || value === undefined) {
    if (spec.nullable) return null;
    fail(key, spec.help, value);
  }
  switch (spec.kind) {
    case "bool":
      if (typeof value !== "boolean") fail(key, "true or false", value);
      return value;
    case "string":
      if (typeof value !== "string" || value === "") fail(key, "a non-empty string", value);
      if (spec.choices && !spec.choices.includes(value)) {
        fail(key, `one of ${spec.choices.join(", ")}`, value);
      }
      return value;
    case "intList": {
      if (
        !Array.isArray(value) || value.length === 0 ||
        !value.every((v) => Number.isInteger(v) && v > 0)
      ) fail(key, "a non-empty list of positive integers", value);
      return [...value];
    }
    case "weightList": {
      if (
        !Array.isArray(value) || value.length !== NUM_CLASSES ||
        !value.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0) ||
        !value.some((v) => v > 0)
      ) {
        fail(key, `${NUM_CLASSES} numbers ≥ 0 (one per class, not all 0)`, value);
      }
      return [...value];
    }
    default: {
      if (typeof value !== "number" || !Number.isFinite(value)) fail(key, "a finite number", value);
      if ((spec.kind === "int" || spec.kind === "posInt") && !Number.isInteger(value)) {
        fail(key, "an integer", value);
      }
      if (spec.kind === "posInt" && value < 1) fail(key, "an integer ≥ 1", value);
      if (spec.kind === "fraction" && (value < 0 || value >= 1)) {
        fail(key, "a number in [0, 1)", value);
      }
      if (spec.min !== undefined && value < spec.min) fail(key, `a number ≥ ${spec.min}`, value);
      if (spec.max !== undefined && value > spec.max) fail(key, `a number ≤ ${spec.max}`, value);
      if (key === "learningRate" && value === 0) fail(key, "a number > 0", value);
      if (key === "normalizeStd" && value === 0) fail(key, "a number > 0", value);
      return value;
    }
  }
}

/**
 * Builds a full config from the tutorial's defaults and checked overrides.
 *
 * @param overrides Fields to change; unknown keys and bad values throw a `RangeError` naming the field.
 * @returns A fresh, complete config.
 * @example
 * ```ts
 * import { makeConfig } from "./config.ts";
 * const c = makeConfig({ epochs: 2 });
 * if (c.epochs !== 2 || c.batchSize !== 30) throw new Error("bad defaults");
 * ```
 */
export function makeConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  const config = structuredClone(DEFAULT_CONFIG) as TrainConfig;
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in CONFIG_FIELDS)) {
      throw new RangeError(
        `Cannot use config field "${key}": unknown field; known fields are ${
          Object.keys(CONFIG_FIELDS).join(", ")
        }`,
      );
    }
    if (value === undefined) continue;
    (config as unknown as Record<string, unknown>)[key] = checkField(
      key as keyof TrainConfig,
      value,
    );
  }
  return config;
}

/** Converts a field name to its CLI flag (`batchSize` → `--batch-size`). */
export function flagName(key: keyof TrainConfig): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** Converts a field name to its environment variable (`batchSize` → `CIFAR10_BATCH_SIZE`). */
export function envName(key: keyof TrainConfig): string {
  return "CIFAR10_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();
}

/**
 * Makes a path typed by the user absolute against the folder the command was started from.
 * `deno task` (and `./run`) run scripts in the project folder but record the user's folder in
 * `INIT_CWD`, so `deno task train --data ../copy.tar.gz` means what the user sees.
 *
 * @param path A path from a flag or an environment variable.
 * @param initCwd The user's folder. @default the `INIT_CWD` environment variable, when readable
 * @returns The path, absolute when `initCwd` is known, else unchanged.
 * @example
 * ```ts
 * import { resolveUserPath } from "./config.ts";
 * if (resolveUserPath("data/x.tar.gz", "/home/me") !== "/home/me/data/x.tar.gz") throw new Error();
 * if (resolveUserPath("/abs/x", "/home/me") !== "/abs/x") throw new Error();
 * ```
 */
export function resolveUserPath(path: string, initCwd: string | undefined = readInitCwd()): string {
  if (initCwd === undefined || path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return path;
  return `${initCwd.replace(/[\\/]+$/, "")}/${path}`.replace(/\/\.\//g, "/");
}

function readInitCwd(): string | undefined {
  try {
    return Deno.env.get("INIT_CWD") || undefined;
  } catch {
    return undefined; // no env permission: keep paths as given
  }
}

/**
 * Parses one textual value (from a flag or an environment variable) for a field.
 *
 * @param key The field.
 * @param text The text, e.g. `"0.01"`, `"true"`, `"16,32"`, `"none"` for a nullable field.
 * @param source How to name the value in errors (`--lr`, `CIFAR10_EPOCHS`).
 * @returns The parsed value (checked later by `makeConfig`).
 */
export function parseFieldText(key: keyof TrainConfig, text: string, source: string): unknown {
  const spec = CONFIG_FIELDS[key];
  const bad = (expected: string): never => {
    throw new RangeError(`Cannot parse ${source}: expected ${expected}, found "${text}"`);
  };
  if (spec.nullable && (text === "none" || text === "null" || text === "")) return null;
  switch (spec.kind) {
    case "bool":
      if (["true", "1", "yes", "on"].includes(text)) return true;
      if (["false", "0", "no", "off"].includes(text)) return false;
      return bad("true or false");
    case "string":
      if (spec.choices && !spec.choices.includes(text)) {
        return bad(`one of ${spec.choices.join(", ")}`);
      }
      return key === "dataPath" ? resolveUserPath(text) : text;
    case "intList": {
      const parts = text.split(",").map((part) => part.trim());
      if (!parts.every((part) => /^[0-9]+$/.test(part) && Number(part) > 0)) {
        return bad("comma-separated positive integers in decimal digits");
      }
      return parts.map(Number);
    }
    case "weightList": {
      const parts = text.split(",").map((part) => part.trim());
      if (parts.length !== NUM_CLASSES) {
        throw new RangeError(
          `Cannot parse ${source}: expected ${NUM_CLASSES} comma-separated weights (one per ` +
            `class, in label order), found ${parts.length}: "${text}"`,
        );
      }
      return parts.map((part) => parseDecimal(part, source, "a weight ≥ 0"));
    }
    case "int":
    case "posInt":
      // Decimal digits only: Number() would read "0x1e" as 30 and "1e1" as 10.
      return parseInteger(text, source, {
        min: spec.kind === "posInt" ? 1 : spec.min,
        what: spec.help,
      });
    default:
      return parseDecimal(text, source, spec.help);
  }
}

/** `CIFAR10_*` variables the tools read besides the config's own, and what each is for. */
export const TOOL_VARIABLES: Readonly<Record<string, string>> = {
  CIFAR10_RESUME: "the run the tutorial notebook continues",
  CIFAR10_RUN: "the run your_images.ipynb predicts with",
  CIFAR10_RUNS_DIR: "the runs folder compare_runs.ipynb reads",
  CIFAR10_SWEEP: "the sweep improve_the_model.ipynb continues and compare_runs.ipynb shows",
  CIFAR10_NATIVE: "0 turns the blas backend's native loops off",
  CIFAR10_NATIVE_ISA:
    "the instruction set the native loops are built for (auto, avx512, avx2, neon, portable)",
  CIFAR10_BLAS_LIB: "the OpenBLAS library the blas backend loads",
  CIFAR10_JUPYTER: "the jupyter executable the notebook tools run",
  CIFAR10_CHROMIUM: "the Chromium the browser tests drive",
  CIFAR10_REAL_ARCHIVE: "the real CIFAR-10 archive the tests read",
  CIFAR10_EMULATOR: "the emulator (qemu-aarch64) ./run test:arm64 runs Deno children under",
};

/** Every `CIFAR10_*` variable the project reads: one per config field, plus `TOOL_VARIABLES`. */
export function knownVariables(): string[] {
  const fields = (Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]).map((key) =>
    key === "dataPath" ? "CIFAR10_DATA" : envName(key)
  );
  return [...fields, ...Object.keys(TOOL_VARIABLES)].sort();
}

/** Edit distance between two names (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * Refuses a `CIFAR10_*` variable the project does not read (a misspelling would otherwise be
 * ignored without a word), suggesting the nearest known name.
 *
 * @param env The environment, e.g. `Deno.env.toObject()`.
 * @throws {RangeError} Naming the variable, the nearest known one, and where the list is.
 * @example
 * ```ts
 * import { checkEnvironment } from "./config.ts";
 * checkEnvironment({ CIFAR10_EPOCHS: "2", HOME: "/root" });
 * const error = (() => { try { checkEnvironment({ CIFAR10_EPOCH: "1" }); } catch (e) { return e; } })();
 * if (!(error instanceof RangeError) || !error.message.includes("did you mean CIFAR10_EPOCHS?")) throw error;
 * ```
 */
export function checkEnvironment(env: Record<string, string | undefined>): void {
  const known = knownVariables();
  const unknown = Object.keys(env).filter((name) =>
    name.startsWith("CIFAR10_") && !known.includes(name)
  )
    .sort();
  if (unknown.length === 0) return;
  const name = unknown[0]!;
  // A flag's short alias (`--lr`) is no variable name, but it is what people type.
  const alias = FLAG_ALIASES[`--${name.slice("CIFAR10_".length).toLowerCase().replace(/_/g, "-")}`];
  const nearest = alias !== undefined
    ? (alias === "dataPath" ? "CIFAR10_DATA" : envName(alias))
    : known.reduce((best, candidate) =>
      editDistance(name, candidate) < editDistance(name, best) ? candidate : best
    );
  throw new RangeError(
    `Cannot use environment variable ${name}: the project reads no such variable; did you mean ` +
      `${nearest}? (unset it, or see the known ones: ${known.join(", ")})`,
  );
}

/**
 * Reads overrides from `CIFAR10_*` environment variables (`CIFAR10_EPOCHS=2`, `CIFAR10_LEARNING_RATE`,
 * `CIFAR10_DATA` for `dataPath`).
 *
 * @param env The environment, e.g. `Deno.env.toObject()`.
 * @returns The overrides found; pass them to `makeConfig`.
 */
export function configOverridesFromEnv(env: Record<string, string>): Partial<TrainConfig> {
  checkEnvironment(env);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]) {
    const name = key === "dataPath" ? "CIFAR10_DATA" : envName(key);
    const text = env[name];
    if (text !== undefined) out[key] = parseFieldText(key, text, name);
  }
  return out as Partial<TrainConfig>;
}

/** Short flag aliases accepted by every CLI. */
export const FLAG_ALIASES: Readonly<Record<string, keyof TrainConfig>> = {
  "--lr": "learningRate",
  "--data": "dataPath",
  "--limit": "trainLimit",
  "--out": "outDir",
};

/** The result of parsing command-line flags. */
export interface ParsedArgs {
  /** Config overrides from config flags. */
  overrides: Partial<TrainConfig>;
  /** Flags the CLI declared itself (e.g. `--json`), as strings or `true`. */
  extra: Record<string, string | boolean>;
}

/**
 * Parses `--flag value`, `--flag=value` and boolean `--flag` / `--no-flag` arguments into config
 * overrides. Unknown flags throw a `RangeError` naming the flag and listing the allowed ones,
 * before any work starts.
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @param extraFlags Flags the CLI handles itself; the value is `"bool"` or `"string"`.
 * @returns Overrides and the CLI's own flags.
 * @example
 * ```ts
 * import { parseArgs } from "./config.ts";
 * const { overrides } = parseArgs(["--epochs", "3", "--lr=0.01", "--no-augment-validation"]);
 * if (overrides.epochs !== 3 || overrides.learningRate !== 0.01) throw new Error("bad parse");
 * if (overrides.augmentValidation !== false) throw new Error("bad bool");
 * ```
 */
export function parseArgs(
  args: string[],
  extraFlags: Record<string, FlagKind> = {},
): ParsedArgs {
  const byFlag = new Map<string, keyof TrainConfig>();
  for (const key of Object.keys(CONFIG_FIELDS) as (keyof TrainConfig)[]) {
    byFlag.set(flagName(key), key);
  }
  for (const [alias, key] of Object.entries(FLAG_ALIASES)) byFlag.set(alias, key);
  const spec: Record<string, FlagKind> = { ...extraFlags };
  for (const [flag, key] of byFlag) {
    spec[flag] = CONFIG_FIELDS[key].kind === "bool" ? "bool" : "string";
  }
  const overrides: Record<string, unknown> = {};
  const extra: Record<string, string | boolean> = {};
  for (const [flag, value] of parseFlags(args, spec).flags) {
    const key = flag in extraFlags ? undefined : byFlag.get(flag);
    if (key === undefined) extra[flag.slice(2)] = value;
    else overrides[key] = typeof value === "boolean" ? value : parseFieldText(key, value, flag);
  }
  return { overrides: overrides as Partial<TrainConfig>, extra };
}
