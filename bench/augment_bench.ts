/**
 * Times `batchToTensor` with augmentation (random flip + rotation, then normalisation) on batches
 * of 30 (the tutorial's batch size) and 128, and prints the median per batch.
 *
 *     deno run -A bench/augment_bench.ts                 # wasm, 20 timed runs per size
 *     deno run -A bench/augment_bench.ts --backend cpu --runs 5
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { batchToTensor } from "../lib/augment/augment.ts";
import { makeConfig, parseArgs } from "../lib/core/config.ts";
import { createRng } from "../lib/core/random.ts";
import { parseInteger } from "../lib/core/flags.ts";

const { overrides, extra } = parseArgs(Deno.args, { "--runs": "string" });
const backend = overrides.backend === undefined || overrides.backend === "auto"
  ? "wasm"
  : overrides.backend;
if (backend !== "wasm" && backend !== "cpu") {
  throw new RangeError(
    `Cannot run the augmentation bench: expected --backend wasm or cpu, found ${backend}`,
  );
}
const runs = parseInteger(String(extra.runs ?? 20), "--runs", { min: 1 });
await tf.setBackend(backend);
const config = makeConfig(overrides);
const rng = createRng(config.seed);

for (const size of [30, 128]) {
  const images = Uint8Array.from({ length: size * 3072 }, () => rng.int(256));
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const start = performance.now();
    const x = batchToTensor(images, size, { augment: true, rng, config });
    x.dataSync(); // wait for the result (wasm and cpu are synchronous; other backends are not)
    const elapsed = performance.now() - start;
    x.dispose();
    if (i >= 2) times.push(elapsed); // the first two runs warm up kernels and caches
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(
    `${backend} batch ${String(size).padStart(3)}: median ${median.toFixed(2)} ms ` +
      `(min ${times[0]!.toFixed(2)}, ${runs} runs) = ${
        Math.round((size / median) * 1000)
      } images/s`,
  );
}
