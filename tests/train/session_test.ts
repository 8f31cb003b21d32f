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
