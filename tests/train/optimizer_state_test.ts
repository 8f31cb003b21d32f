import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import { makeConfig } from "../../lib/core/config.ts";
import { splitTrainValid } from "../../lib/data/split.ts";
import { buildModel } from "../../lib/model/model.ts";
import { fit } from "../../lib/train/fit.ts";
import { createOptimizer } from "../../lib/train/optimizers.ts";
import { getOptimizerState, setOptimizerState } from "../../lib/train/optimizer_state.ts";
import { BASE, BASE_SET } from "./_fixtures.ts";

// The network and data of resume_test.ts (whose resumes check that a restored state reproduces a
// run); here the state's names, shapes and checks.
const DATA = { set: BASE_SET, ...splitTrainValid(BASE_SET.count, 0.2, BASE.seed) };

await initBackend("wasm");

Deno.test("getOptimizerState() and setOptimizerState() name slots by parameter and check them", async () => {
  const config = makeConfig({ ...BASE, epochs: 1 });
  const model = buildModel(config);
  const other = buildModel(makeConfig({ ...BASE, hiddenUnits: 7 }));
  const trained = createOptimizer(config);
  try {
    const fresh = await getOptimizerState(trained, model);
    assert.deepEqual(fresh, {
      className: "Adam",
      config: trained.getConfig(),
      iterations: 0,
      slots: [],
    });
    await fit(model, DATA, { config: { ...config, maxBatchesPerEpoch: 2 }, optimizer: trained });
    const state = await getOptimizerState(trained, model);
    assert.equal(state.iterations, 2);
    const names = Object.keys(model.params);
    assert.deepEqual(state.slots.map((s) => s.name), [
      ...names.map((n) => `${n}/m`),
      ...names.map((n) => `${n}/v`),
    ]);
    assert.deepEqual(state.slots[0]!.shape, [3, 3, 3, 4]);

    const sgd = createOptimizer(makeConfig({ ...config, optimizer: "sgd", momentum: 0 }));
    await assert.rejects(() => setOptimizerState(sgd, model, state), {
      name: "TypeError",
      message: "Cannot restore optimizer state: it was saved by a Adam optimizer, found a SGD " +
        "optimizer (use the run's own optimizer setting)",
    });
    sgd.dispose();
    const adam = createOptimizer(config);
    await assert.rejects(() => setOptimizerState(adam, other, state), {
      name: "RangeError",
      message: 'Cannot restore optimizer state: slot "fc1.weight/m" expected shape [2048, 7], ' +
        "found [2048, 16] with 32768 values",
    });
    const renamed = { ...state, slots: [{ ...state.slots[0]!, name: "conv9.weight/m" }] };
    await assert.rejects(() => setOptimizerState(adam, model, renamed), {
      name: "RangeError",
      message:
        'Cannot restore optimizer state: slot "conv9.weight/m" names parameter "conv9.weight", ' +
        `which the model lacks (it has ${names.join(", ")})`,
    });
    adam.dispose();
  } finally {
    trained.dispose();
    model.dispose();
    other.dispose();
  }
});
