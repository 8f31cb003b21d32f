/**
 * Our side of `deno task bench`: the same measurements as `bench/pytorch_tutorial.py bench`, on our
 * TypeScript implementation (lib/model/model.ts, lib/train/loop.ts, lib/augment/augment.ts, lib/engine/backend.ts),
 * printed as one JSON object of the shared shape ({@link BenchResult} in bench/result.ts).
 *
 * Measures, after a warm-up, interleaved (each repeat: for each batch size, (a) then (b)):
 * (a) training steps (forward, cross-entropy, backward, Adam) on pre-made augmented batches;
 * (b) one end-to-end training epoch over the first N images with `trainEpoch` (batching, augmentation,
 *     step, loss read-back: the real training path);
 * (c) inference (dropout off, no gradients) on pre-normalised test batches;
 * (d) peak RSS (VmHWM), at the end of the training measurements and for the whole run.
 *
 * ```sh
 * deno run -A bench/ours.ts --data /tmp/cifar10 --batch-sizes 30,128 --repeats 3
 * ```
 * @module
 */
import { median } from "./stats.ts";
import * as tf from "@tensorflow/tfjs-core";
import type { BenchResult, Throughput } from "./result.ts";
import { batchToTensor } from "../lib/augment/augment.ts";
import { makeConfig, parseArgs, type TrainConfig } from "../lib/core/config.ts";
import {
  BATCHES_FOLDER,
  type ImageSet,
  parseCifar10Batch,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "../lib/data/format.ts";
import { initBackend, peakMemoryMiB } from "../lib/engine/backend.ts";
import { buildModel, type Model } from "../lib/model/model.ts";
import { createRng, deriveSeed } from "../lib/core/random.ts";
import { createOptimizer, crossEntropy, trainEpoch, validate } from "../lib/train/mod.ts";
import { saveCheckpoint } from "../lib/model/checkpoint.ts";
import { parseInteger } from "../lib/core/flags.ts";

/** Settings of our side, mirroring the Python bench mode's flags. */
export interface OursOptions {
  /** Folder holding `cifar-10-batches-bin/` (or the `.bin` files). */
  dataPath: string;
  /** Batch sizes of the training-step and epoch measurements. */
  batchSizes: number[];
  /** Untimed steps before the first timed ones. */
  warmup: number;
  /** Timed steps per repeat. */
  steps: number;
  /** Repeats of each measurement. */
  repeats: number;
  /** Distinct pre-made batches cycled by the step measurement. */
  batchPool: number;
  /** Images of the end-to-end epoch. */
  epochImages: number;
  /** Test images of the inference measurement. */
  inferenceImages: number;
  /** Batch size of the inference measurement. */
  inferenceBatchSize: number;
  /** Compute threads requested from the backend. */
  threads: number;
  /** Seed of model, batches and augmentation. */
  seed: number;
  /** Backend name (`auto`, `blas`, `wasm`, `cpu`, …). */
  backend: TrainConfig["backend"];
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the first `limit` records of the named batch files (like the Python side, only what the
 * measurements use, so peak RSS reflects the implementation rather than the data set).
 *
 * @param folder A folder holding `cifar-10-batches-bin/` or the `.bin` files.
 * @param names Batch files, read in order until `limit` records are read.
 * @param limit Records wanted.
 * @returns The images and whether the folder is marked synthetic.
 * @example
 * ```ts
 * import { writeSyntheticData } from "./synthetic.ts";
 * import { readFirstRecords } from "./ours.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSyntheticData(dir, { recordsPerFile: 3 });
 * const { set, synthetic } = await readFirstRecords(dir, ["data_batch_1.bin", "data_batch_2.bin"], 5);
 * if (set.count !== 5 || set.images.length !== 5 * 3072 || !synthetic) throw new Error("bad read");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readFirstRecords(
  folder: string,
  names: readonly string[],
  limit: number,
): Promise<{ set: ImageSet; synthetic: boolean }> {
  const inner = exists(`${folder}/${BATCHES_FOLDER}`) ? `${folder}/${BATCHES_FOLDER}` : folder;
  const synthetic = exists(`${folder}/${SYNTHETIC_MARKER}`) ||
    exists(`${inner}/${SYNTHETIC_MARKER}`);
  const parts: ImageSet[] = [];
  let count = 0;
  for (const name of names) {
    if (count >= limit) break;
    const path = `${inner}/${name}`;
    if (!exists(path)) {
      throw new Error(
        `Cannot read CIFAR-10 batch "${name}": expected the file at "${path}", found nothing ` +
          "(bench/ours.ts reads the binary batches folder that deno task bench hands it; give an " +
          "archive or the Python version to deno task bench --data, which resolves it)",
      );
    }
    const bytes = await Deno.readFile(path);
    const records = Math.min(limit - count, Math.floor(bytes.length / 3073));
    parts.push(parseCifar10Batch(bytes.subarray(0, records * 3073), { name, records: null }));
    count += records;
  }
  const images = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  let offset = 0;
  for (const part of parts) {
    images.set(part.images, offset * 3072);
    labels.set(part.labels, offset);
    offset += part.count;
  }
  return { set: { images, labels, count }, synthetic };
}

function entry(batchSize: number, images: number, samples: number[]): Throughput {
  return { batchSize, images, imagesPerSecond: median(samples), samples };
}

/** What {@link runOursBench} needs to know about the selected backend. */
export interface SelectedBackend {
  /** The tfjs backend name now active, e.g. `blas`, `wasm`. */
  name: string;
  /** Compute threads, when known. */
  threads: number | null;
  /** For people, e.g. `blas (CPU, OpenBLAS)`. */
  description: string;
}

/** Selects and initialises a backend; {@link runOursBench} takes one to allow other backends and tests. */
export type BackendSelector = (
  backend: TrainConfig["backend"],
  threads: number,
) => Promise<SelectedBackend>;

/**
 * The default backend selector: `initBackend` from lib/engine/backend.ts (the backend helper's module).
 *
 * @param backend The requested backend (`auto` picks the fastest available).
 * @param threads Compute threads to ask for.
 * @returns The active backend.
 * @throws {Error} When the requested backend cannot start (lib/engine/backend.ts says why).
 */
export async function selectBackend(
  backend: TrainConfig["backend"],
  threads: number,
): Promise<SelectedBackend> {
  // OpenBLAS (the blas backend) reads its thread count when loaded; PyTorch gets the same count.
  if (Deno.env.get("OPENBLAS_NUM_THREADS") === undefined) {
    Deno.env.set("OPENBLAS_NUM_THREADS", String(threads));
  }
  const info = await initBackend(backend);
  return {
    name: info.name,
    threads: info.threads ?? (info.name === "blas" ? threads : null),
    description: `${info.name} (${info.device})`,
  };
}

/**
 * Runs all measurements and returns the shared result object.
 *
 * @param options The settings.
 * @param hooks `selectBackend` replaces lib/engine/backend.ts's selection (tests, experiments); `log` receives
 *   the progress lines (default: stderr).
 * @returns The result (the caller prints it as JSON).
 */
export async function runOursBench(
  options: OursOptions,
  hooks: { selectBackend?: BackendSelector; log?: (line: string) => void } = {},
): Promise<BenchResult> {
  const started = performance.now();
  const log = hooks.log ?? ((line: string) => console.error(`ours ${line}`));
  const backend = await (hooks.selectBackend ?? selectBackend)(options.backend, options.threads);

  // 1. Data: only the images the measurements use.
  const stepImages = Math.max(...options.batchSizes) * options.batchPool;
  const train = await readFirstRecords(
    options.dataPath,
    TRAIN_BATCH_FILES,
    Math.max(options.epochImages, stepImages),
  );
  const test = await readFirstRecords(options.dataPath, [TEST_BATCH_FILE], options.inferenceImages);
  if (train.set.count < options.epochImages) {
    throw new RangeError(
      `Cannot run the epoch measurement: expected ${options.epochImages} training images, found ${train.set.count}`,
    );
  }

  const config = makeConfig({ seed: options.seed, backend: options.backend });
  const model: Model = buildModel(config);
  const optimizer = createOptimizer(config);
  const variables = Object.values(model.params);
  const trainStep: Throughput[] = [];
  const epoch: Throughput[] = [];
  const validation: Throughput[] = [];
  let inference: Throughput;
  let checkpointSeconds: number;
  let trainingPeakRssMiB = 0;
  try {
    // 2. (a) Training steps on pre-made batches, augmented once outside the timed loop, and
    // (b) end-to-end epochs with the library's training loop over the first N images. They are
    // interleaved — each repeat runs, for each batch size, a step measurement and then an epoch —
    // so that neither gets the process's slow first seconds (JIT, caches, the allocator's growth)
    // or a slow phase of the machine to itself: measured one after the other, the first-measured
    // step at batch 30 read 880 images/s while the later epoch, which includes that step, read
    // 1077.
    const pools = new Map<number, { x: tf.Tensor4D; y: tf.Tensor1D }[]>();
    const stepSamples = new Map<number, number[]>();
    const epochSamples = new Map<number, number[]>();
    const validationSamples = new Map<number, number[]>();
    const indices = Int32Array.from({ length: options.epochImages }, (_, i) => i);
    let stepIndex = 0;
    try {
      for (const batchSize of options.batchSizes) {
        const pool: { x: tf.Tensor4D; y: tf.Tensor1D }[] = [];
        pools.set(batchSize, pool);
        stepSamples.set(batchSize, []);
        epochSamples.set(batchSize, []);
        validationSamples.set(batchSize, []);
        for (let b = 0; b < options.batchPool; b++) {
          const images = new Uint8Array(batchSize * 3072);
          const labels = new Int32Array(batchSize);
          for (let j = 0; j < batchSize; j++) {
            const index = (b * batchSize + j) % train.set.count;
            images.set(train.set.images.subarray(index * 3072, (index + 1) * 3072), j * 3072);
            labels[j] = train.set.labels[index]!;
          }
          const rng = createRng(deriveSeed(options.seed, "bench-augment", batchSize, b));
          pool.push({
            x: batchToTensor(images, batchSize, { augment: true, rng, config }),
            y: tf.tensor1d(labels, "int32"),
          });
        }
      }
      const step = async (pool: { x: tf.Tensor4D; y: tf.Tensor1D }[]) => {
        const { x, y } = pool[stepIndex % pool.length]!;
        const seed = deriveSeed(options.seed, "bench-dropout", stepIndex++);
        const loss = optimizer.minimize(
          () => crossEntropy(model.forward(x, { training: true, seed }), y),
          true,
          variables,
        )!;
        await loss.data(); // Wait for the step, as PyTorch's synchronous step does.
        loss.dispose();
      };
      for (let repeat = 0; repeat < options.repeats; repeat++) {
        for (const batchSize of options.batchSizes) {
          const pool = pools.get(batchSize)!;
          // The full warm-up before the first measurement of each batch size (new shapes), one
          // step after that (the epoch before left other shapes in the caches).
          const warmup = repeat === 0 ? options.warmup : 1;
          for (let i = 0; i < warmup; i++) await step(pool);
          const t0 = performance.now();
          for (let i = 0; i < options.steps; i++) await step(pool);
          const steps = stepSamples.get(batchSize)!;
          steps.push((batchSize * options.steps) / ((performance.now() - t0) / 1000));
          log(`train step batch ${batchSize}: ${steps.at(-1)!.toFixed(1)} images/s`);

          const epochConfig = makeConfig({
            seed: options.seed,
            backend: options.backend,
            batchSize,
          });
          const t1 = performance.now();
          const result = await trainEpoch(model, { set: train.set, indices }, {
            optimizer,
            config: epochConfig,
            epoch: repeat + 1,
          });
          const epochs = epochSamples.get(batchSize)!;
          epochs.push(result.images / ((performance.now() - t1) / 1000));
          log(`epoch batch ${batchSize}: ${epochs.at(-1)!.toFixed(1)} images/s`);

          // The loop's validation pass over the same images, as the tutorial runs it each epoch.
          const t2 = performance.now();
          const checked = await validate(model, { set: train.set, indices }, {
            config: epochConfig,
            epoch: repeat + 1,
          });
          const validations = validationSamples.get(batchSize)!;
          validations.push(checked.images / ((performance.now() - t2) / 1000));
          log(`validation batch ${batchSize}: ${validations.at(-1)!.toFixed(1)} images/s`);
        }
      }
    } finally {
      for (const pool of pools.values()) {
        for (const { x, y } of pool) {
          x.dispose();
          y.dispose();
        }
      }
    }
    for (const batchSize of options.batchSizes) {
      trainStep.push(
        entry(batchSize, batchSize * options.steps, stepSamples.get(batchSize)!),
      );
      epoch.push(entry(batchSize, options.epochImages, epochSamples.get(batchSize)!));
      validation.push(entry(batchSize, options.epochImages, validationSamples.get(batchSize)!));
    }

    trainingPeakRssMiB = peakMemoryMiB();

    // 3. The best checkpoint, saved as the training loop saves it: the median of three saves.
    const checkpointDir = await Deno.makeTempDir({ prefix: "cifar10-bench-checkpoint-" });
    try {
      const saves: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await saveCheckpoint(model, `${checkpointDir}/best`, { config });
        saves.push((performance.now() - t0) / 1000);
      }
      checkpointSeconds = median(saves);
      log(`checkpoint save: ${(checkpointSeconds * 1000).toFixed(0)} ms`);
    } finally {
      await Deno.remove(checkpointDir, { recursive: true });
    }

    // 4. (c) Inference on the test images, normalised once.
    const batches: tf.Tensor4D[] = [];
    for (let start = 0; start < test.set.count; start += options.inferenceBatchSize) {
      const size = Math.min(options.inferenceBatchSize, test.set.count - start);
      batches.push(
        batchToTensor(test.set.images.subarray(start * 3072, (start + size) * 3072), size, {
          augment: false,
          config,
        }),
      );
    }
    const infer = async (list: tf.Tensor4D[]) => {
      let images = 0;
      const t0 = performance.now();
      for (const x of list) {
        const predicted = tf.tidy(() => tf.argMax(model.forward(x, { training: false }), 1));
        await predicted.data();
        predicted.dispose();
        images += x.shape[0];
      }
      return images / ((performance.now() - t0) / 1000);
    };
    try {
      await infer(batches.slice(0, 1));
      const samples: number[] = [];
      for (let repeat = 0; repeat < options.repeats; repeat++) {
        samples.push(await infer(batches));
        log(
          `inference batch ${options.inferenceBatchSize}: ${samples.at(-1)!.toFixed(1)} images/s`,
        );
      }
      inference = entry(options.inferenceBatchSize, test.set.count, samples);
    } finally {
      for (const x of batches) x.dispose();
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }

  return {
    mode: "bench",
    side: "ours",
    implementation:
      `TensorFlow.js ${tf.version_core} on Deno ${Deno.version.deno}, backend ${backend.description}`,
    backend: backend.name,
    threads: backend.threads,
    data: {
      path: options.dataPath,
      synthetic: train.synthetic,
      trainImages: train.set.count,
      testImages: test.set.count,
    },
    settings: {
      batchSizes: options.batchSizes,
      warmupSteps: options.warmup,
      steps: options.steps,
      repeats: options.repeats,
      epochImages: options.epochImages,
      inferenceImages: test.set.count,
      inferenceBatchSize: options.inferenceBatchSize,
      seed: options.seed,
    },
    trainStep,
    epoch,
    validation,
    inference,
    checkpointSeconds,
    peakRssMiB: peakMemoryMiB(),
    trainingPeakRssMiB,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

function positiveInt(flag: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  return parseInteger(text, `--${flag}`, { min });
}

/**
 * Parses our side's flags (the same as the Python bench mode's).
 *
 * @param args `Deno.args`.
 * @returns The settings.
 * @throws {RangeError} On unknown flags, bad values, or a missing --data.
 * @example
 * ```ts
 * import { parseOursArgs } from "./ours.ts";
 * const options = parseOursArgs(["--data", "/tmp/d", "--batch-sizes", "30", "--backend", "wasm"]);
 * if (options.batchSizes.join() !== "30" || options.backend !== "wasm" || options.steps !== 10) {
 *   throw new Error("bad parse");
 * }
 * ```
 */
export function parseOursArgs(args: string[]): OursOptions {
  const flags = [
    "batch-sizes",
    "warmup",
    "steps",
    "repeats",
    "batch-pool",
    "epoch-images",
    "inference-images",
    "inference-batch-size",
    "threads",
  ];
  const { overrides, extra } = parseArgs(
    args,
    Object.fromEntries(flags.map((f) => [`--${f}`, "string" as const])),
  );
  const text = (flag: string) => extra[flag] as string | undefined;
  if (!overrides.dataPath) {
    throw new RangeError("Cannot run the benchmark: expected --data FOLDER, found nothing");
  }
  const sizes = text("batch-sizes");
  return {
    dataPath: overrides.dataPath,
    batchSizes: sizes === undefined
      ? [30, 128]
      : sizes.split(",").map((s) => positiveInt("batch-sizes", s.trim(), 0)),
    warmup: positiveInt("warmup", text("warmup"), 3, 0),
    steps: positiveInt("steps", text("steps"), 10),
    repeats: positiveInt("repeats", text("repeats"), 3),
    batchPool: positiveInt("batch-pool", text("batch-pool"), 4),
    epochImages: positiveInt("epoch-images", text("epoch-images"), 3000),
    inferenceImages: positiveInt("inference-images", text("inference-images"), 5000),
    inferenceBatchSize: positiveInt("inference-batch-size", text("inference-batch-size"), 1000),
    threads: positiveInt("threads", text("threads"), 2),
    seed: overrides.seed ?? 42,
    backend: overrides.backend ?? "auto",
  };
}

if (import.meta.main) {
  try {
    const result = await runOursBench(parseOursArgs(Deno.args));
    console.log(JSON.stringify(result));
  } catch (error) {
    // Bad flags and unusable data are the user's to fix: the message, not a stack trace.
    console.error(`bench/ours.ts: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
