import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { initBackend } from "../../lib/engine/backend.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { splitTrainValid } from "../../lib/data/split.ts";
import { buildModel, getWeights, setWeights, type WeightValues } from "../../lib/model/model.ts";
import { type EpochRecord, type SaveEvent } from "../../lib/train/session.ts";
import { fit } from "../../lib/train/fit.ts";
import { nanWeights, sameWeights, SET, TINY } from "./_fixtures.ts";

// The cpu backend with the backend module's faster convolution gradients.
await initBackend("cpu");

Deno.test("fit() trains, saves each new best, and ends with the best weights", async () => {
  const config = { ...TINY, epochs: 3 };
  const split = splitTrainValid(SET.count, 0.2, config.seed);
  const dir = await Deno.makeTempDir();
  const model = buildModel(config);
  const epochs: EpochRecord[] = [];
  const saves: SaveEvent[] = [];
  const order: string[] = [];
  const tensorsBefore = tf.memory().numTensors;
  try {
    const result = await fit(model, { set: SET, ...split }, {
      config,
      checkpointDir: `${dir}/best`,
      onEpoch: (r) => void (epochs.push(r), order.push(`epoch ${r.epoch}`)),
      onSave: (e) => void (saves.push(e), order.push(`save ${e.epoch}`)),
    });
    assert.equal(result.stopReason, "completed");
    assert.equal(result.message, null);
    assert.equal(result.history.length, 3);
    assert.deepEqual(result.history, epochs);
    assert.equal(epochs[0]!.saved, true, "the first epoch always improves on inf");
    assert.equal(saves[0]!.previousLoss, Infinity);
    // Each save improves on the previous best; records say which epochs saved.
    assert.deepEqual(saves.map((s) => s.epoch), epochs.filter((r) => r.saved).map((r) => r.epoch));
    saves.slice(1).forEach((s, i) => assert.equal(s.previousLoss, saves[i]!.validLoss));
    assert.equal(result.bestEpoch, saves.at(-1)!.epoch);
    assert.equal(result.bestValidLoss, Math.min(...epochs.map((r) => r.validLoss!)));
    assert.deepEqual(
      order.slice(0, 2),
      ["epoch 1", "save 1"],
      "the epoch line comes before the saving line",
    );
    assert.equal(epochs[0]!.trainImages, split.trainIndices.length);
    assert.equal(epochs[0]!.validImages, split.validIndices.length);
    // The model holds the best epoch's weights, which are also on disk.
    const checkpoint = await readCheckpoint(`${dir}/best`);
    assert.equal(checkpoint.metadata.epoch, result.bestEpoch);
    assert.ok(sameWeights(checkpoint.weights, getWeights(model)));
    assert.equal(tf.memory().numTensors, tensorsBefore, "fit must dispose its optimiser");
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit() restores the best weights when the last epoch is worse", async () => {
  // Make epoch 2 bad: after epoch 1, shrink the weights so epoch 2 starts from a poor model.
  const config = { ...TINY, epochs: 2, learningRate: 1e-9 };
  const split = splitTrainValid(SET.count, 0.2, config.seed);
  const model = buildModel(config);
  let afterEpoch1: Record<string, WeightValues> | null = null;
  try {
    const result = await fit(model, { set: SET, ...split }, {
      config,
      onEpoch: (r) => {
        if (r.epoch !== 1) return;
        afterEpoch1 = getWeights(model);
        const w = getWeights(model);
        for (const v of Object.values(w)) v.values.forEach((x, i) => (v.values[i] = x * 3 + 0.5));
        setWeights(model, w);
      },
    });
    assert.equal(result.bestEpoch, 1);
    assert.equal(result.history[1]!.saved, false);
    assert.ok(sameWeights(afterEpoch1!, getWeights(model)), "expected epoch 1's weights back");
  } finally {
    model.dispose();
  }
});

Deno.test("fit() stops on a non-finite loss, keeping the last good checkpoint", async () => {
  const config = { ...TINY, epochs: 3 };
  const split = splitTrainValid(SET.count, 0.2, config.seed);
  const dir = await Deno.makeTempDir();
  const model = buildModel(config);
  try {
    const result = await fit(model, { set: SET, ...split }, {
      config,
      checkpointDir: `${dir}/best`,
      onEpoch: (r) => {
        if (r.epoch === 1) setWeights(model, nanWeights(model));
      },
    });
    assert.equal(result.stopReason, "non-finite-loss");
    assert.equal(result.history.length, 1);
    assert.equal(
      result.message,
      "Training stopped: the training loss became NaN at epoch 2, batch 1/5, so the weights diverged. " +
        "Try a lower learning rate (now 0.01, e.g. --learning-rate 0.001). Now the model holds the best " +
        `weights (epoch 1, validation loss ${
          result.bestValidLoss.toFixed(6)
        }). The checkpoint in ${dir}/best ` +
        "is the last good one.",
    );
    const checkpoint = await readCheckpoint(`${dir}/best`);
    assert.equal(checkpoint.metadata.epoch, 1);
    assert.ok(sameWeights(checkpoint.weights, getWeights(model)));
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit() stops at a batch boundary when aborted and restores the best weights", async () => {
  const config = { ...TINY, epochs: 3 };
  const split = splitTrainValid(SET.count, 0.2, config.seed);
  const model = buildModel(config);
  const controller = new AbortController();
  let best: Record<string, WeightValues> | null = null;
  try {
    const result = await fit(model, { set: SET, ...split }, {
      config,
      signal: controller.signal,
      onSave: () => void (best = getWeights(model)),
      onBatch: (p) => {
        if (p.epoch === 2 && p.phase === "train" && p.batch === 2) controller.abort();
      },
    });
    assert.equal(result.stopReason, "aborted");
    assert.equal(result.history.length, 1);
    assert.equal(
      result.message,
      "Training stopped by request during epoch 2 (after 2 training batches); the model holds the best " +
        `weights (epoch 1, validation loss ${result.bestValidLoss.toFixed(6)}).`,
    );
    assert.ok(sameWeights(best!, getWeights(model)));
  } finally {
    model.dispose();
  }
});

Deno.test("fit() without a validation split keeps and saves the last epoch", async () => {
  const config = { ...TINY, epochs: 2, validFraction: 0 };
  const split = splitTrainValid(30, 0, config.seed);
  const dir = await Deno.makeTempDir();
  const model = buildModel(config);
  try {
    const result = await fit(model, { set: SET, ...split }, { config, checkpointDir: dir });
    assert.deepEqual(result.history.map((r) => [r.validLoss, r.saved]), [[null, false], [
      null,
      false,
    ]]);
    assert.equal(result.bestEpoch, 2);
    const checkpoint = await readCheckpoint(dir);
    assert.equal(checkpoint.metadata.epoch, 2);
    assert.ok(sameWeights(checkpoint.weights, getWeights(model)));
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
