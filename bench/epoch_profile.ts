/**
 * Where a training epoch's time goes, per batch: the work of `trainEpoch` (lib/train/loop.ts) done
 * step by step and timed — the batch slice (`iterateBatches`), pixel bytes → augmented and
 * normalised tensor (`batchToTensor`), the training step (forward, loss, backward, Adam) and the per-batch read-backs
 * (loss and predictions) — on synthetic images (random shapes, NOT CIFAR-10). Prints the median
 * milliseconds of each part over the timed batches; the median of the real `trainEpoch` run on one
 * batch right after each profiled batch (paired, so machine noise hits both alike); and the
 * images/s of `trainEpoch` over as many batches as timed; as one JSON object.
 *
 * ```sh
 * deno run -A bench/epoch_profile.ts                      # blas, batch 30, 10 warm-up + 60 timed
 * deno run -A bench/epoch_profile.ts --backend cpu --batches 20
 * ```
 * @module
 */
import { median } from "./stats.ts";
import * as tf from "@tensorflow/tfjs-core";
import { batchToTensor } from "../lib/augment/augment.ts";
import { initBackend } from "../lib/engine/backend.ts";
import { type BackendName, makeConfig } from "../lib/core/config.ts";
import { iterateBatches } from "../lib/data/split.ts";
import { buildModel } from "../lib/model/model.ts";
import { createRng, deriveSeed } from "../lib/core/random.ts";
import { generateSyntheticImages } from "../lib/data/synthetic.ts";
import { createOptimizer, trainBatch, trainEpoch } from "../lib/train/mod.ts";
import { parseInteger } from "../lib/core/flags.ts";

/** Settings of the profile. */
export interface EpochProfileOptions {
  /** Backend to profile. */
  backend: BackendName;
  /** Images per batch. */
  batchSize: number;
  /** Untimed batches first. */
  warmup: number;
  /** Timed batches. */
  batches: number;
  /** Seed of model, data and augmentation. */
  seed: number;
}

/** Median milliseconds per batch of each part. */
export interface EpochProfile {
  backend: string;
  batchSize: number;
  batches: number;
  medianMs: Record<string, number>;
  /** Sum of the medians, and the images/s it implies. */
  totalMs: number;
  impliedImagesPerSecond: number;
  /** `trainEpoch` over the same number of batches (after the profile), images/s. */
  trainEpochImagesPerSecond: number;
  /** Its median milliseconds per batch (from `onBatch` times), to compare with `totalMs`. */
  trainEpochMedianBatchMs: number;
  /** Median of `trainEpoch` on one batch, run right after each profiled batch (paired). */
  pairedTrainEpochBatchMs: number;
  loadAverage: number[] | null;
}

function loadAverage(): number[] | null {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return null;
  }
}

/**
 * Runs the profile.
 *
 * @param options Backend, batch size, warm-up and timed batches, kernel choice, seed.
 * @returns Medians per part and the real `trainEpoch` throughput.
 */
export async function profileEpoch(options: EpochProfileOptions): Promise<EpochProfile> {
  const info = await initBackend(options.backend);
  const total = options.warmup + options.batches;
  const set = generateSyntheticImages(total * options.batchSize, { seed: options.seed });
  const indices = Int32Array.from({ length: set.count }, (_, i) => i);
  const config = makeConfig({
    seed: options.seed,
    backend: options.backend,
    batchSize: options.batchSize,
    maxBatchesPerEpoch: options.batches,
  });
  const model = buildModel(config);
  const optimizer = createOptimizer(config);
  const variables = Object.values(model.params);
  const parts: Record<string, number[]> = {
    slice: [],
    batchToTensor: [],
    step: [],
    readback: [],
    dispose: [],
  };
  // The real trainEpoch on one batch, run right after each profiled batch: paired with the parts
  // above, so that machine noise (other processes) affects both alike.
  const oneBatchEpoch: number[] = [];
  const oneBatch = { ...config, maxBatchesPerEpoch: 1 };
  try {
    const epoch = 1;
    const iterator = iterateBatches(set, indices, {
      batchSize: options.batchSize,
      seed: config.seed,
      epoch,
      shuffle: true,
    });
    for (let b = 0; b < total; b++) {
      const t0 = performance.now();
      const next = iterator.next();
      if (next.done) break;
      const batch = next.value;
      const t1 = performance.now();
      // Bytes → augmented, normalised tensor (lib/augment/augment.ts: draws, one pass, tensor).
      const rng = createRng(deriveSeed(config.seed, "augment", epoch, b));
      const x = batchToTensor(batch.images, batch.size, { augment: true, rng, config });
      const labels = tf.tensor1d(batch.labels, "int32");
      const t4 = performance.now();
      // trainEpoch's step (lib/train/loop.ts).
      const dropoutSeed = deriveSeed(config.seed, "dropout", epoch, b);
      const { loss, predictions } = trainBatch(model, optimizer, x, labels, dropoutSeed, variables);
      const t5 = performance.now();
      const [lossValues] = await Promise.all([loss.data(), predictions.data()]);
      if (!Number.isFinite(lossValues[0]!)) throw new Error(`non-finite loss at batch ${b}`);
      const t6 = performance.now();
      tf.dispose([loss, predictions, x, labels]);
      const t7 = performance.now();
      const own = indices.subarray(b * options.batchSize, (b + 1) * options.batchSize);
      await trainEpoch(model, { set, indices: own }, {
        optimizer,
        config: oneBatch,
        epoch: 1000 + b,
      });
      const t8 = performance.now();
      if (b < options.warmup) continue;
      oneBatchEpoch.push(t8 - t7);
      parts.slice!.push(t1 - t0);
      parts.batchToTensor!.push(t4 - t1);
      parts.step!.push(t5 - t4);
      parts.readback!.push(t6 - t5);
      parts.dispose!.push(t7 - t6);
    }
    const t0 = performance.now();
    const batchEnds: number[] = [t0];
    const result = await trainEpoch(model, { set, indices }, {
      optimizer,
      config,
      epoch: 2,
      onBatch: () => {
        batchEnds.push(performance.now());
      },
    });
    const epochSeconds = (performance.now() - t0) / 1000;
    const epochBatchMs = batchEnds.slice(1).map((t, i) => t - batchEnds[i]!);
    const medianMs = Object.fromEntries(
      Object.entries(parts).map(([name, values]) => [name, Number(median(values).toFixed(3))]),
    );
    const totalMs = Object.values(medianMs).reduce((a, b) => a + b, 0);
    return {
      backend: info.name,
      batchSize: options.batchSize,
      batches: parts.step!.length,
      medianMs,
      totalMs: Number(totalMs.toFixed(3)),
      impliedImagesPerSecond: Number((options.batchSize / (totalMs / 1000)).toFixed(1)),
      trainEpochImagesPerSecond: Number((result.images / epochSeconds).toFixed(1)),
      trainEpochMedianBatchMs: Number(median(epochBatchMs).toFixed(3)),
      pairedTrainEpochBatchMs: Number(median(oneBatchEpoch).toFixed(3)),
      loadAverage: loadAverage(),
    };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

function intFlag(args: string[], flag: string, fallback: number): number {
  const at = args.indexOf(flag);
  if (at < 0) return fallback;
  return parseInteger(args[at + 1] ?? "", flag, { min: 0 });
}

if (import.meta.main) {
  const args = Deno.args;
  const backendAt = args.indexOf("--backend");
  const profile = await profileEpoch({
    backend: (backendAt >= 0 ? args[backendAt + 1] : "blas") as BackendName,
    batchSize: intFlag(args, "--batch-size", 30),
    warmup: intFlag(args, "--warmup", 10),
    batches: intFlag(args, "--batches", 60),
    seed: intFlag(args, "--seed", 42),
  });
  console.log(JSON.stringify(profile, null, 2));
}
