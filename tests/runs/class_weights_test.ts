import assert from "node:assert/strict";
import { classWeightsFromAccuracy, classWeightsFromRun } from "../../lib/runs/class_weights.ts";

Deno.test("classWeightsFromAccuracy() weighs each class by its error rate against the mean, clamped", () => {
  // Errors 0.1 ×8, 0.3, 0.5: mean 0.16.
  const w = classWeightsFromAccuracy([0.9, 0.9, 0.7, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
  assert.deepEqual(w, [0.625, 0.625, 1.875, 3.125, 0.625, 0.625, 0.625, 0.625, 0.625, 0.625]);
  // A perfect class would weigh 0: clamped to ¼, so it is still drawn.
  assert.equal(classWeightsFromAccuracy([1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])[0], 0.25);
  // An unmeasured class, or a model right everywhere, weighs 1.
  assert.equal(classWeightsFromAccuracy([null, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])[0], 1);
  assert.deepEqual(classWeightsFromAccuracy(new Array(10).fill(1)), new Array(10).fill(1));
  assert.throws(() => classWeightsFromAccuracy([0.5]), /expected 10 per-class accuracies, found 1/);
  assert.throws(
    () => classWeightsFromAccuracy([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    /expected accuracies in \[0, 1\], found 2 for class 0/,
  );
});

Deno.test("classWeightsFromRun() reads the best epoch's validation accuracy, and says when a run has none", () => {
  const perClass = [0.9, 0.9, 0.7, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9];
  const record = {
    id: "r1",
    bestEpoch: 2,
    epochs: [{ epoch: 1, validPerClassAccuracy: new Array(10).fill(0.5) }, {
      epoch: 2,
      validPerClassAccuracy: perClass,
    }],
  };
  assert.deepEqual(classWeightsFromRun(record as never), classWeightsFromAccuracy(perClass));
  assert.throws(
    () => classWeightsFromRun({ id: "old", bestEpoch: 1, epochs: [{ epoch: 1 }] } as never),
    /^RangeError: Cannot derive class weights from run old: expected its best epoch to record per-class validation accuracy, found none for epoch 1/,
  );
  assert.throws(
    () => classWeightsFromRun({ id: "new", bestEpoch: null, epochs: [] } as never),
    /found no best epoch/,
  );
});
