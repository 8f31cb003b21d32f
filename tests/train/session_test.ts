import assert from "node:assert/strict";
import "@tensorflow/tfjs-backend-cpu";
import { initBackend } from "../../lib/engine/backend.ts";
import { splitTrainValid } from "../../lib/data/split.ts";
import { buildModel, getWeights } from "../../lib/model/model.ts";
import { fit } from "../../lib/train/fit.ts";
import { type EpochRecord, startTraining } from "../../lib/train/session.ts";
import { sameWeights, SET, TINY } from "./_fixtures.ts";

await initBackend("cpu");

const SPLIT = splitTrainValid(SET.count, 0.25, TINY.seed);

Deno.test("the step-by-step epoch loop trains exactly as fit() does", async () => {
  const stepModel = buildModel(TINY);
  const fitModel = buildModel(TINY);
  try {
    const seen: number[] = [];
    const training = await startTraining(stepModel, { set: SET, ...SPLIT }, { config: TINY });
    const records: EpochRecord[] = [];
    for (const epoch of training.epochs()) {
      seen.push(epoch);
      const trained = await training.trainEpoch(epoch);
      const validated = await training.validate(epoch, trained);
      assert.equal(training.mustStop(epoch, trained, validated), false);
      records.push(await training.saveIfBetter(epoch, trained, validated));
    }
    const stepped = await training.finish();
    const fitted = await fit(fitModel, { set: SET, ...SPLIT }, { config: TINY });
    assert.deepEqual(seen, [1, 2]);
    assert.deepEqual(records, stepped.history);
    const strip = (r: EpochRecord) => ({ ...r, seconds: 0, trainImagesPerSecond: 0 });
    assert.deepEqual(stepped.history.map(strip), fitted.history.map(strip));
    assert.equal(stepped.bestEpoch, fitted.bestEpoch);
    assert.ok(sameWeights(getWeights(stepModel), getWeights(fitModel)), "same weights bit for bit");
  } finally {
    stepModel.dispose();
    fitModel.dispose();
  }
});

Deno.test("mustStop() ends the loop on an abort; epochs() yields nothing more after it", async () => {
  const model = buildModel(TINY);
  const controller = new AbortController();
  try {
    const training = await startTraining(model, { set: SET, ...SPLIT }, {
      config: { ...TINY, epochs: 4 },
      signal: controller.signal,
      onBatch: (p) => {
        if (p.epoch === 2 && p.phase === "train" && p.batch === 1) controller.abort();
      },
    });
    const epochs = training.epochs();
    const ran: number[] = [];
    for (const epoch of epochs) {
      ran.push(epoch);
      const trained = await training.trainEpoch(epoch);
      const validated = await training.validate(epoch, trained);
      if (epoch === 2) {
        assert.equal(trained.aborted, true);
        assert.equal(validated, null, "no validation after an aborted training pass");
      }
      if (training.mustStop(epoch, trained, validated)) break;
      await training.saveIfBetter(epoch, trained, validated);
    }
    assert.deepEqual(ran, [1, 2]);
    assert.deepEqual([...training.epochs()], [], "a stopped training has no epochs left");
    const result = await training.finish();
    assert.equal(result.stopReason, "aborted");
    assert.equal(result.bestEpoch, 1);
    assert.match(result.message!, /^Training stopped by request during epoch 2 \(after 1 training/);
  } finally {
    model.dispose();
  }
});

Deno.test("patience ends a run whose validation loss stopped improving, recorded as an early stop", async () => {
  const model = buildModel(TINY);
  try {
    const config = { ...TINY, epochs: 10, patience: 2 };
    const training = await startTraining(model, { set: SET, ...SPLIT }, { config });
    // Validation losses chosen per epoch: the best is epoch 2; epochs 3 and 4 do not beat it.
    const losses = [1.0, 0.9, 0.95, 0.91, 0.5];
    const ran: number[] = [];
    for (const epoch of training.epochs()) {
      ran.push(epoch);
      const trained = await training.trainEpoch(epoch);
      const validated = await training.validate(epoch, trained);
      assert.equal(training.mustStop(epoch, trained, validated), false);
      await training.saveIfBetter(epoch, trained, { ...validated!, loss: losses[epoch - 1]! });
    }
    const result = await training.finish();
    assert.deepEqual(ran, [1, 2, 3, 4]);
    assert.equal(result.stopReason, "completed");
    assert.equal(result.bestEpoch, 2);
    assert.deepEqual(result.earlyStop, {
      epoch: 4,
      epochs: 10,
      bestEpoch: 2,
      bestValidLoss: 0.9,
      patience: 2,
    });
    assert.match(
      result.message!,
      /^Stopped early after epoch 4 of 10: the validation loss has not improved for 2 epochs \(--patience 2\); the model holds the best weights \(epoch 2, validation loss 0\.900000\)\.$/,
    );
  } finally {
    model.dispose();
  }
});

Deno.test("without patience every epoch runs; a run that improves to the end is not stopped", async () => {
  const model = buildModel(TINY);
  try {
    const training = await startTraining(model, { set: SET, ...SPLIT }, {
      config: { ...TINY, epochs: 3, patience: 1 },
    });
    const ran: number[] = [];
    for (const epoch of training.epochs()) {
      ran.push(epoch);
      const trained = await training.trainEpoch(epoch);
      const validated = await training.validate(epoch, trained);
      await training.saveIfBetter(epoch, trained, { ...validated!, loss: 1 / epoch });
    }
    const result = await training.finish();
    assert.deepEqual(ran, [1, 2, 3]);
    assert.equal(result.earlyStop, null);
    assert.equal(result.message, null);
  } finally {
    model.dispose();
  }
});

Deno.test("validation records each class's accuracy, and class weights leave validation alone", async () => {
  const model = buildModel(TINY);
  try {
    // Weight only class 3 (tests/data/split_test.ts checks the draws): validation still sees
    // every class of its split.
    const weights = Array.from({ length: 10 }, (_, c) => (c === 3 ? 1 : 0));
    const result = await fit(model, { set: SET, ...SPLIT }, {
      config: { ...TINY, epochs: 1, classWeights: weights },
    });
    const record = result.history[0]!;
    assert.equal(record.trainImages, SPLIT.trainIndices.length, "as many draws as the split holds");
    const perClass = record.validPerClassAccuracy!;
    assert.equal(perClass.length, 10);
    const counts = new Array(10).fill(0);
    for (const i of SPLIT.validIndices) counts[SET.labels[i]!]++;
    perClass.forEach((a, c) => assert.equal(a === null, counts[c] === 0, `class ${c}`));
    // The mean of the per-class accuracies weighted by their counts is the overall accuracy.
    const overall = perClass.reduce((sum: number, a, c) => sum + (a ?? 0) * counts[c], 0) /
      SPLIT.validIndices.length;
    assert.ok(Math.abs(overall - record.validAccuracy!) < 1e-9);
  } finally {
    model.dispose();
  }
});
