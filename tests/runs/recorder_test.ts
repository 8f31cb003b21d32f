import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { readCheckpoint, readOptimizerState } from "../../lib/model/checkpoint.ts";
import { makeConfig } from "../../lib/core/config.ts";
import { CIFAR10_CLASSES } from "../../lib/data/format.ts";
import { splitTrainValid } from "../../lib/data/split.ts";
import type { TestResult } from "../../lib/evaluate/evaluate.ts";
import { buildModel, getWeights, type Model, setWeights } from "../../lib/model/model.ts";
import type { EpochRecord } from "../../lib/train/session.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  LAST_CHECKPOINT_FOLDER,
  readRunRecord,
  RUN_CONFIG_FILE,
  RUN_RECORD_FILE,
} from "../../lib/runs/record.ts";
import { startRunRecord } from "../../lib/runs/recorder.ts";
import { BACKEND, listDir, OFFICIAL_SOURCE, readJson, SYNTHETIC_SOURCE } from "./_fixtures.ts";
import { SET, TINY } from "../train/_fixtures.ts";

// The cpu backend with the backend module's faster convolution gradients.
await initBackend("cpu");

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SPLIT = splitTrainValid(SET.count, 0.2, TINY.seed);

function testResult(classCorrect: number[], classTotal: number[]): TestResult {
  const correct = classCorrect.reduce((a, b) => a + b, 0);
  const total = classTotal.reduce((a, b) => a + b, 0);
  return {
    loss: 0.75,
    correct,
    total,
    accuracy: correct / total,
    classCorrect,
    classTotal,
    predictions: new Int32Array(0),
    labels: new Int32Array(0),
    confusion: classTotal.map((_, i) => classTotal.map((_, j) => (i === j ? classCorrect[i]! : 0))),
    seconds: 1,
    imagesPerSecond: 123,
  };
}

Deno.test("startRunRecord() writes config.json and a running record with the process, backend and data", async () => {
  await withTempDir(async (outDir) => {
    const config = makeConfig({ epochs: 3, learningRate: 0.02 });
    const run = await startRunRecord(config, {
      backend: BACKEND,
      source: OFFICIAL_SOURCE,
      classNames: CIFAR10_CLASSES,
      trainImages: 40000,
      validImages: 10000,
      testImages: 10000,
      parameters: 4_198_950,
      outDir,
      id: "20261128-090000-abcdef",
    });
    assert.equal(run.dir, `${outDir}/20261128-090000-abcdef`);
    assert.equal(run.bestCheckpointDir, `${run.dir}/${BEST_CHECKPOINT_FOLDER}`);
    assert.equal(run.lastCheckpointDir, `${run.dir}/${LAST_CHECKPOINT_FOLDER}`);
    assert.equal(run.resume, null);
    assert.deepEqual(await listDir(run.dir), [RUN_CONFIG_FILE, RUN_RECORD_FILE]);
    assert.deepEqual(await readJson(`${run.dir}/${RUN_CONFIG_FILE}`), { ...config });
    const raw = await readJson(`${run.dir}/${RUN_RECORD_FILE}`);
    assert.equal(raw.status, "running");
    assert.equal(raw.id, "20261128-090000-abcdef");
    assert.equal("stale" in raw, false, "staleness is judged when read, not stored");
    const process = raw.process as Record<string, unknown>;
    assert.equal(process.pid, Deno.pid);
    assert.equal(process.host, Deno.hostname());
    assert.deepEqual(raw.backend, BACKEND);
    assert.deepEqual(raw.config, { ...config });
    assert.deepEqual(raw.data, {
      kind: "real",
      label: "CIFAR-10",
      synthetic: false,
      source: OFFICIAL_SOURCE,
      classNames: [...CIFAR10_CLASSES],
      trainImages: 40000,
      validImages: 10000,
      testImages: 10000,
    });
    assert.deepEqual(raw.model, { parameters: 4_198_950 });
    assert.deepEqual(raw.epochs, []);
    assert.equal(raw.test, null);
    // Read back while the process lives: still running, not stale.
    const record = await readRunRecord(run.dir);
    assert.equal(record.status, "running");
    assert.equal(record.stale, false);
    await run.finish("failed", "stopped by the test");
  });
});

Deno.test("RunRecorder.fit() records every epoch, the checkpoints, the outcome and the test report", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord(TINY, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      classNames: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
      outDir,
    });
    const model = buildModel(TINY);
    const seen: EpochRecord[] = [];
    try {
      const result = await run.fit(model, { set: SET, ...SPLIT }, {
        onEpoch: (record) => void seen.push(record),
      });
      assert.equal(result.stopReason, "completed");
      assert.deepEqual(seen, result.history, "the caller's onEpoch still sees every epoch");
      const afterFit = await readRunRecord(run.dir);
      assert.equal(afterFit.status, "completed");
      assert.equal(afterFit.message, null);
      assert.deepEqual(afterFit.epochs, result.history);
      assert.equal(afterFit.bestEpoch, result.bestEpoch);
      assert.equal(afterFit.bestValidLoss, result.bestValidLoss);
      assert.equal(afterFit.bestCheckpoint, BEST_CHECKPOINT_FOLDER);
      assert.equal(afterFit.lastCheckpoint, LAST_CHECKPOINT_FOLDER);
      assert.equal(afterFit.data.kind, "synthetic");
      assert.equal(afterFit.data.label, "SYNTHETIC (not CIFAR-10)");
      assert.ok(afterFit.finishedAt !== null);
      assert.ok(afterFit.durationSeconds > 0);
      assert.deepEqual(afterFit.segments.map((s) => [s.fromEpoch, s.status, s.backend]), [
        [1, "completed", "cpu"],
      ]);
      // The checkpoints: the best epoch's model, and the last epoch's model with the optimiser.
      const best = await readCheckpoint(`${run.dir}/${BEST_CHECKPOINT_FOLDER}`);
      assert.equal(best.metadata.epoch, result.bestEpoch);
      assert.equal(best.metadata.run, run.id);
      assert.deepEqual(best.weights, getWeights(model), "fit loaded the best weights back");
      const last = await readCheckpoint(`${run.dir}/${LAST_CHECKPOINT_FOLDER}`);
      assert.equal(last.metadata.epoch, 2);
      const optimizer = await readOptimizerState(`${run.dir}/${LAST_CHECKPOINT_FOLDER}`);
      assert.equal(optimizer?.className, "Adam");
      assert.equal(optimizer?.iterations, 2 * Math.ceil(SPLIT.trainIndices.length / 10));
      // The test report, per class with the record's class names.
      await run.test(testResult([3, 1, 0, 0, 0, 0, 0, 0, 0, 0], [4, 2, 0, 0, 0, 0, 0, 0, 0, 0]));
      const tested = await readRunRecord(run.dir);
      assert.equal(tested.test?.accuracy, 4 / 6);
      assert.equal(tested.test?.epoch, result.bestEpoch);
      assert.deepEqual(tested.test?.perClass.slice(0, 3), [
        { name: "a", correct: 3, total: 4, accuracy: 0.75 },
        { name: "b", correct: 1, total: 2, accuracy: 0.5 },
        { name: "c", correct: 0, total: 0, accuracy: null },
      ]);
      assert.deepEqual(
        (await listDir(run.dir)).filter((n) => n.includes(".tmp-")),
        [],
        "no temporary files left",
      );
    } finally {
      model.dispose();
    }
  });
});

Deno.test("RunRecorder.startTraining() records a loop written out step by step, and a failed step", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord(TINY, { backend: BACKEND, source: SYNTHETIC_SOURCE, outDir });
    const model = buildModel(TINY);
    try {
      const training = await run.startTraining(model, { set: SET, ...SPLIT });
      for (const epoch of training.epochs()) {
        const trained = await training.trainEpoch(epoch);
        const validated = await training.validate(epoch, trained);
        if (training.mustStop(epoch, trained, validated)) break;
        await training.saveIfBetter(epoch, trained, validated);
        assert.equal((await readRunRecord(run.dir)).epochs.length, epoch, "each epoch recorded");
      }
      assert.equal((await readRunRecord(run.dir)).status, "running");
      const result = await training.finish();
      const record = await readRunRecord(run.dir);
      assert.equal(record.status, "completed");
      assert.deepEqual(record.epochs, result.history);
      assert.equal(record.bestCheckpoint, BEST_CHECKPOINT_FOLDER);
    } finally {
      model.dispose();
    }
    // A step that throws (here: a model without the run's layers) fails the run, then rethrows.
    const failing = await startRunRecord(TINY, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
    });
    const other = buildModel({ ...TINY, hiddenUnits: 4 });
    try {
      const training = await failing.startTraining(other, { set: SET, ...SPLIT });
      other.dispose();
      await assert.rejects(() => training.trainEpoch(1));
      const record = await readRunRecord(failing.dir);
      assert.equal(record.status, "failed");
      assert.match(record.message!, /^Training failed: /);
    } finally {
      if (!other.params["fc2.bias"]!.isDisposed) other.dispose();
    }
  });
});

Deno.test("RunRecorder.fit() records an interrupted run and keeps its checkpoints", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord({ ...TINY, epochs: 5 }, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
    });
    const model = buildModel(TINY);
    const controller = new AbortController();
    try {
      const result = await run.fit(model, { set: SET, ...SPLIT }, {
        signal: controller.signal,
        onBatch: (p) => {
          if (p.epoch === 2 && p.batch === 1) controller.abort();
        },
      });
      assert.equal(result.stopReason, "aborted");
      const record = await readRunRecord(run.dir);
      assert.equal(record.status, "interrupted");
      assert.equal(record.stale, false);
      assert.equal(record.message, result.message);
      assert.match(record.message!, /^Training stopped by request during epoch 2 /);
      assert.equal(record.epochs.length, 1);
      assert.equal(
        (await readCheckpoint(`${run.dir}/${BEST_CHECKPOINT_FOLDER}`)).metadata.epoch,
        1,
      );
      assert.equal(
        (await readCheckpoint(`${run.dir}/${LAST_CHECKPOINT_FOLDER}`)).metadata.epoch,
        1,
      );
    } finally {
      model.dispose();
    }
  });
});

Deno.test("RunRecorder.fit() records a diverged loss and a thrown error", async (t) => {
  await withTempDir(async (outDir) => {
    await t.step("diverged", async () => {
      const run = await startRunRecord(TINY, {
        backend: BACKEND,
        source: SYNTHETIC_SOURCE,
        outDir,
      });
      const model = buildModel(TINY);
      try {
        const weights = getWeights(model);
        weights["fc2.bias"]!.values.fill(NaN);
        setWeights(model, weights);
        const result = await run.fit(model, { set: SET, ...SPLIT });
        assert.equal(result.stopReason, "non-finite-loss");
        const record = await readRunRecord(run.dir);
        assert.equal(record.status, "diverged");
        assert.equal(record.message, result.message);
      } finally {
        model.dispose();
      }
    });
    await t.step("failed", async () => {
      const run = await startRunRecord(TINY, {
        backend: BACKEND,
        source: SYNTHETIC_SOURCE,
        outDir,
      });
      const model = buildModel(TINY);
      try {
        await assert.rejects(
          () =>
            run.fit(model, { set: SET, ...SPLIT }, {
              onEpoch: () => {
                throw new TypeError("display broke");
              },
            }),
          { name: "TypeError", message: "display broke" },
        );
        const record = await readRunRecord(run.dir);
        assert.equal(record.status, "failed");
        assert.equal(record.message, "Training failed: display broke");
        assert.equal(record.epochs.length, 1, "the epoch was recorded before the callback threw");
      } finally {
        model.dispose();
      }
    });
  });
});

Deno.test("RunRecorder.fit() with stopOnInterrupt stops at a batch boundary on SIGINT and the process lives on", async () => {
  // What a Jupyter kernel interrupt does: SIGINT to the kernel's process (which, without a
  // listener, ends the Deno kernel). In a child process: `deno test` handles SIGINT itself.
  await withTempDir(async (dir) => {
    const lib = JSON.stringify(new URL("../../lib/mod.ts", import.meta.url).href);
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `
      import {
        buildModel, generateSyntheticImages, initBackend, makeConfig, splitTrainValid, startRunRecord,
      } from ${lib};
      await initBackend("cpu");
      const config = makeConfig(${JSON.stringify({ ...TINY, epochs: 500 })});
      const set = generateSyntheticImages(60, { seed: 7 });
      const run = await startRunRecord(config, {
        backend: { name: "cpu", device: "JavaScript", reason: "test" },
        source: ${JSON.stringify(SYNTHETIC_SOURCE)},
        outDir: ${JSON.stringify(`${dir}/runs`)},
      });
      const model = buildModel(config);
      const result = await run.fit(model, { set, ...splitTrainValid(60, 0.2, config.seed) }, {
        stopOnInterrupt: true,
        onEpoch: (r) => console.log("EPOCH " + r.epoch),
      });
      console.log("RESULT " + JSON.stringify({ stopReason: result.stopReason, dir: run.dir }));
      `,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", `${ROOT}/deno.json`, `${dir}/child.ts`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    while (!stdout.includes("EPOCH 1")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
    }
    child.kill("SIGINT");
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      stdout += chunk.value;
    }
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    assert.equal(status.code, 0, `the process finished normally: ${stderr}`);
    const result = JSON.parse(stdout.split("RESULT ")[1]!);
    assert.equal(result.stopReason, "aborted");
    const record = await readRunRecord(result.dir);
    assert.equal(record.status, "interrupted");
    assert.ok(record.epochs.length >= 1 && record.epochs.length < 500);
    assert.equal(
      (await readCheckpoint(`${result.dir}/${LAST_CHECKPOINT_FOLDER}`)).metadata.epoch,
      record.epochs.length,
    );
  });
});

Deno.test("RunRecorder.fit() rewrites the record as a heartbeat while an epoch runs", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord({ ...TINY, epochs: 1 }, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
      heartbeatMs: 0,
    });
    const started = run.record().process!.heartbeatAt;
    const beats: string[] = [];
    const model = buildModel(TINY);
    try {
      await run.fit(model, { set: SET, ...SPLIT }, {
        onBatch: async (p) => {
          if (p.phase !== "train") return;
          // Make each beat's time differ, then read what the recorder wrote before this call.
          await new Promise((resolve) => setTimeout(resolve, 2));
          const raw = await readJson(`${run.dir}/${RUN_RECORD_FILE}`);
          assert.deepEqual(raw.epochs, [], "no epoch finished yet");
          beats.push((raw.process as { heartbeatAt: string }).heartbeatAt);
        },
      });
    } finally {
      model.dispose();
    }
    assert.equal(beats.length, Math.ceil(SPLIT.trainIndices.length / TINY.batchSize));
    assert.ok(beats[0]! >= started);
    assert.equal(new Set(beats).size, beats.length, "a new heartbeat for every batch");
  });
});

Deno.test("the run record is replaced atomically: a reader never sees a partial file", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord(TINY, { backend: BACKEND, source: SYNTHETIC_SOURCE, outDir });
    const path = `${run.dir}/${RUN_RECORD_FILE}`;
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        JSON.parse(await Deno.readTextFile(path)); // throws on a partial file
        reads++;
      }
    })();
    const base: EpochRecord = {
      epoch: 1,
      trainLoss: 1,
      trainAccuracy: 0.5,
      validLoss: 1,
      validAccuracy: 0.5,
      trainImages: 1,
      validImages: 1,
      seconds: 1,
      trainImagesPerSecond: 1,
      saved: true,
      bestValidLoss: 1,
    };
    for (let epoch = 1; epoch <= 200; epoch++) await run.epoch({ ...base, epoch });
    writing = false;
    await reader;
    assert.ok(reads > 0);
    assert.equal((await readRunRecord(run.dir)).epochs.length, 200);
    assert.deepEqual(await listDir(run.dir), [RUN_CONFIG_FILE, RUN_RECORD_FILE]);
    await run.finish("completed");
  });
});

Deno.test("the run recorder leaks no tensors", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord({ ...TINY, epochs: 1 }, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
    });
    const model: Model = buildModel(TINY);
    const before = tf.memory().numTensors;
    await run.fit(model, { set: SET, ...SPLIT });
    assert.equal(tf.memory().numTensors, before, "fit's own optimiser is disposed");
    model.dispose();
  });
});
