import { openBlas } from "../../lib/engine/kernels/blas/cblas.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { makeConfig } from "../../lib/core/config.ts";
import { createRng, deriveSeed } from "../../lib/core/random.ts";
import { batchToTensor } from "../../lib/augment/augment.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { getWeights } from "../../lib/model/model.ts";
import { buildModel, type Model } from "../../lib/model/model.ts";
import { loadModel, saveCheckpoint } from "../../lib/model/checkpoint.ts";
import { evaluateTest, formatTestReport, predict } from "../../lib/evaluate/evaluate.ts";
import { SYNTHETIC_CLASSES } from "../../lib/data/synthetic.ts";
import { createOptimizer, trainBatch, trainEpoch } from "../../lib/train/mod.ts";
import { hasWebgpuAdapter, skipName, withTempDir } from "../_util.ts";
import { loadNativeKernels } from "../../lib/engine/kernels/blas/blas.ts";

// The webgpu backend, run for real on whatever adapter this machine has: on machines without a
// GPU that is Mesa's software Vulkan adapter, llvmpipe (Debian's mesa-vulkan-drivers, which
// `./run test` installs). It is the GPU code path, slowly (~0.75 s per step at batch 2 after a
// first step that compiles the shaders), so the tests use the tutorial's model at batch 2.

const noAdapter = !(await hasWebgpuAdapter());
// The reference side of the comparison.
const noOpenBlas = !openBlas().ok;
const ignore = noAdapter || noOpenBlas;
if (noAdapter) {
  console.warn(
    "webgpu_test: no WebGPU adapter here (install mesa-vulkan-drivers for the software one)",
  );
}

/** Relative tolerance of webgpu against blas: float32 sums in another order, on another device. */
const TOLERANCE = 1e-4;

const config = makeConfig({ seed: 3, batchSize: 2 });
const images = generateSyntheticImages(8, { seed: 4 });

/** Runs three Adam steps of the tutorial's model at batch 2 on a backend, from the seed's init. */
async function threeSteps(backend: string): Promise<{ model: Model; losses: number[] }> {
  assert.ok(await tf.setBackend(backend), backend);
  const model = buildModel(config);
  const optimizer = createOptimizer(config);
  const losses: number[] = [];
  for (let b = 0; b < 3; b++) {
    const x = batchToTensor(images.images.subarray(b * 2 * 3072, (b + 1) * 2 * 3072), 2, {
      augment: false,
      config,
    });
    const labels = tf.tensor1d(Int32Array.from(images.labels.subarray(b * 2, b * 2 + 2)), "int32");
    const { loss, predictions } = trainBatch(model, optimizer, x, labels, deriveSeed(1, b));
    losses.push((await loss.data())[0]!);
    tf.dispose([x, labels, loss, predictions]);
  }
  optimizer.dispose();
  return { model, losses };
}

function maxRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst / Math.max(scale, 1e-30);
}

/**
 * ‖a − b‖ / ‖b‖. Weights are compared in norm, not value by value: Adam's first steps move each
 * weight by about ±lr whatever its gradient's size, so a gradient within rounding of 0 (the same
 * on both backends but for its sign) moves its weight the other way.
 */
function normRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

Deno.test({
  name: skipName(
    "webgpu on this machine's adapter trains, tests and checkpoints like blas",
    ignore,
    noAdapter
      ? "no WebGPU adapter (sudo apt-get install mesa-vulkan-drivers libvulkan1)"
      : "OpenBLAS, the blas side of the comparison, did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const info = await initBackend("webgpu");
    assert.equal(info.name, "webgpu");
    if (info.gpu !== true) {
      // A software adapter is used only because it was asked for by name, and says so.
      assert.match(info.warning ?? "", /^webgpu runs on a software adapter \(.+\): .*slower/);
    }
    await initBackend("blas");
    // The reference is blas's direct convolutions. Its Winograd ones round differently (within
    // 1e-5 of the largest value, checked against the cpu kernels and the whole model's gradients
    // in native_kernels_test.ts and blas_test.ts), and Adam's first steps turn such differences
    // in gradients near 0 into moves of ±lr: 1.4e-4 (F(4×4)) and 2.5e-4 (F(2×2)) of a layer's
    // weights after these three steps, beyond this comparison's tolerance.
    const native = loadNativeKernels();
    if (native.ok) native.kernels.setWinograd(0);
    let onBlas;
    try {
      onBlas = await threeSteps("blas");
    } finally {
      if (native.ok) native.kernels.setWinograd(4);
    }
    const onGpu = await threeSteps("webgpu");
    await t.step(
      `three Adam steps: losses and weights (in norm) within ${TOLERANCE} of blas's`,
      async () => {
        for (const [i, loss] of onGpu.losses.entries()) {
          const blas = onBlas.losses[i]!;
          assert.ok(
            Math.abs(loss - blas) <= TOLERANCE * Math.abs(blas),
            `step ${i}: ${loss} vs ${blas}`,
          );
        }
        await tf.setBackend("webgpu");
        const gpuWeights = Object.fromEntries(
          await Promise.all(
            Object.entries(onGpu.model.params).map(async ([n, v]) => [n, await v.data()] as const),
          ),
        );
        await tf.setBackend("blas");
        const blasWeights = getWeights(onBlas.model);
        for (const [name, values] of Object.entries(gpuWeights)) {
          const diff = normRelativeDifference(values as Float32Array, blasWeights[name]!.values);
          assert.ok(diff <= TOLERANCE, `${name}: ${diff}`);
        }
      },
    );
    await t.step("the test report: the same predictions and lines", async () => {
      const test = generateSyntheticImages(10, { seed: 5, stream: "test" });
      await tf.setBackend("webgpu");
      const gpuResult = await evaluateTest(onGpu.model, test, { config });
      await tf.setBackend("blas");
      const blasResult = await evaluateTest(onBlas.model, test, { config });
      assert.deepEqual([...gpuResult.predictions], [...blasResult.predictions]);
      assert.ok(Math.abs(gpuResult.loss - blasResult.loss) <= TOLERANCE * blasResult.loss);
      // Every line but the loss's, whose last digits may differ.
      const lines = (r: typeof gpuResult) => formatTestReport(r, SYNTHETIC_CLASSES).slice(1);
      assert.deepEqual(lines(gpuResult), lines(blasResult));
    });
    await t.step("an epoch leaves no tensor behind", async () => {
      await tf.setBackend("webgpu");
      const optimizer = createOptimizer(config);
      const indices = Int32Array.from({ length: 6 }, (_, i) => i);
      // The first epoch creates the optimiser's moments; the second must not add anything.
      await trainEpoch(onGpu.model, { set: images, indices }, { optimizer, config, epoch: 1 });
      const before = tf.memory().numTensors;
      await trainEpoch(onGpu.model, { set: images, indices }, { optimizer, config, epoch: 2 });
      assert.equal(tf.memory().numTensors, before);
      optimizer.dispose();
    });
    await t.step("batches are augmented and normalised on the device, as on the CPU", async () => {
      const bytes = images.images;
      const batch = async (backend: string, augment: boolean) => {
        await tf.setBackend(backend);
        const x = batchToTensor(bytes, 8, { augment, rng: createRng(11), config });
        const values = await x.data();
        x.dispose();
        return values;
      };
      const [plainGpu, plainCpu] = [await batch("webgpu", false), await batch("blas", false)];
      assert.ok(maxRelativeDifference(plainGpu, plainCpu) <= 1e-6, "normalisation");
      // The rotation's source pixel is rounded from float32 arithmetic on the GPU and float64 in
      // JS: a point within rounding of a pixel boundary may pick the neighbour; nothing else.
      const [gpu, cpu] = [await batch("webgpu", true), await batch("blas", true)];
      const differing = gpu.filter((v, i) => Math.abs(v - cpu[i]!) > 1e-6).length;
      assert.ok(differing <= 0.005 * gpu.length, `${differing} of ${gpu.length} values differ`);
      assert.ok(maxRelativeDifference(gpu, plainGpu) > 0.1, "not augmented");
    });
    await t.step(
      "an epoch reads one value pair back per batch: the loss and the correct count",
      async () => {
        await tf.setBackend("webgpu");
        const backend = tf.backend() as unknown as Record<string, (...args: unknown[]) => unknown>;
        const optimizer = createOptimizer(config);
        const indices = Int32Array.from({ length: 8 }, (_, i) => i);
        await trainEpoch(onGpu.model, { set: images, indices }, { optimizer, config, epoch: 3 });
        const reads: string[] = [];
        const originals = { read: backend.read!, readSync: backend.readSync! };
        backend.read = (...args) => (reads.push("read"), originals.read.apply(backend, args));
        backend.readSync = (
          ...args
        ) => (reads.push("readSync"), originals.readSync.apply(backend, args));
        try {
          const result = await trainEpoch(onGpu.model, { set: images, indices }, {
            optimizer,
            config,
            epoch: 4,
          });
          assert.equal(result.batches, 4);
          assert.deepEqual(reads, ["read", "read", "read", "read"]);
        } finally {
          backend.read = originals.read;
          backend.readSync = originals.readSync;
          optimizer.dispose();
        }
      },
    );
    await t.step("a checkpoint saved on one backend predicts the same on the other", async () => {
      const sample = images.images.subarray(0, 4 * 3072);
      await withTempDir(async (dir) => {
        for (
          const [from, to, model] of [
            ["webgpu", "blas", onGpu.model],
            ["blas", "webgpu", onBlas.model],
          ] as const
        ) {
          await tf.setBackend(from);
          const before = await predict(model, sample, { config, size: 4 });
          await saveCheckpoint(model, `${dir}/${from}`, { config });
          await tf.setBackend(to);
          const { model: loaded } = await loadModel(`${dir}/${from}`);
          const after = await predict(loaded, sample, { config, size: 4 });
          assert.deepEqual([...after.predictions], [...before.predictions], `${from} → ${to}`);
          const diff = maxRelativeDifference(after.probabilities, before.probabilities);
          assert.ok(diff <= TOLERANCE, `${from} → ${to}: probabilities differ by ${diff}`);
          loaded.dispose();
        }
      });
    });
    await tf.setBackend("webgpu");
    onGpu.model.dispose();
    await tf.setBackend("blas");
    onBlas.model.dispose();
  },
});
