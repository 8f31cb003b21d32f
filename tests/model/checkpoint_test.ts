import assert from "node:assert/strict";
import { listDir, withTempDir } from "../_util.ts";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig } from "../../lib/core/config.ts";
import {
  CHECKPOINT_FORMAT,
  loadModel,
  type ModelJson,
  OPTIMIZER_BIN,
  OPTIMIZER_JSON,
  type OptimizerState,
  readCheckpoint,
  readOptimizerState,
  saveCheckpoint,
} from "../../lib/model/checkpoint.ts";
import { writeFileAtomic, writeJsonAtomic } from "../../lib/core/fs.ts";
import { buildModel, countParameters, getWeights } from "../../lib/model/model.ts";

await tf.setBackend("cpu");

const CONFIG = makeConfig({
  convChannels: [3, 5],
  poolEvery: 1,
  hiddenUnits: 6,
  seed: 11,
  epochs: 7,
});

Deno.test("saveCheckpoint() writes model.json with a tfjs weightsManifest and weights.bin", async () => {
  await withTempDir(async (dir) => {
    const model = buildModel(CONFIG);
    try {
      const saved = await saveCheckpoint(model, `${dir}/best`, {
        config: CONFIG,
        metadata: { epoch: 4 },
      });
      assert.equal(saved.dir, `${dir}/best`);
      assert.equal(saved.weightBytes, 4 * countParameters(model));
      assert.deepEqual(await listDir(`${dir}/best`), ["model.json", "weights.bin"]);
      assert.deepEqual(await listDir(dir), ["best"], "no temporary folders left behind");
      const json: ModelJson = JSON.parse(await Deno.readTextFile(`${dir}/best/model.json`));
      assert.equal(json.format, CHECKPOINT_FORMAT);
      assert.equal(json.weightsManifest.length, 1);
      assert.deepEqual(json.weightsManifest[0]!.paths, ["weights.bin"]);
      assert.deepEqual(
        json.weightsManifest[0]!.weights.map((w) => [w.name, w.shape.join("x"), w.dtype]),
        [
          ["conv1.weight", "3x3x3x3", "float32"],
          ["conv1.bias", "3", "float32"],
          ["conv2.weight", "3x3x3x5", "float32"],
          ["conv2.bias", "5", "float32"],
          ["fc1.weight", "320x6", "float32"],
          ["fc1.bias", "6", "float32"],
          ["fc2.weight", "6x10", "float32"],
          ["fc2.bias", "10", "float32"],
        ],
      );
      assert.deepEqual(json.userDefinedMetadata.config, CONFIG);
      assert.deepEqual(json.userDefinedMetadata.metadata, { epoch: 4 });
      // The bytes decode with tfjs's own reader.
      const bytes = await Deno.readFile(`${dir}/best/weights.bin`);
      const decoded = tf.io.decodeWeights(bytes.buffer, json.weightsManifest[0]!.weights);
      const expected = getWeights(model);
      for (const [name, tensor] of Object.entries(decoded)) {
        assert.deepEqual(tensor.dataSync(), expected[name]!.values, name);
        tensor.dispose();
      }
    } finally {
      model.dispose();
    }
  });
});

Deno.test("readCheckpoint() and loadModel() round-trip config, weights and outputs", async () => {
  await withTempDir(async (dir) => {
    const model = buildModel(CONFIG);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    try {
      await saveCheckpoint(model, dir, { config: CONFIG, metadata: { epoch: 2, validLoss: 0.5 } });
      const checkpoint = await readCheckpoint(dir);
      assert.deepEqual(checkpoint.config, CONFIG);
      assert.deepEqual(checkpoint.metadata, { epoch: 2, validLoss: 0.5 });
      assert.deepEqual(checkpoint.weights, getWeights(model));
      const before = tf.memory().numTensors;
      const loaded = await loadModel(dir);
      assert.equal(tf.memory().numTensors, before + 8, "only the 8 new variables remain");
      const a = model.forward(x), b = loaded.model.forward(x);
      assert.deepEqual(a.dataSync(), b.dataSync());
      tf.dispose([a, b]);
      loaded.model.dispose();
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});

Deno.test("saveCheckpoint() without a config stores the architecture, completed with defaults on read", async () => {
  await withTempDir(async (dir) => {
    const model = buildModel(CONFIG);
    try {
      await saveCheckpoint(model, dir);
      const checkpoint = await readCheckpoint(dir);
      assert.deepEqual(checkpoint.config.convChannels, [3, 5]);
      assert.equal(checkpoint.config.hiddenUnits, 6);
      assert.equal(checkpoint.config.epochs, 60, "fields not stored take the defaults");
      assert.deepEqual(checkpoint.metadata, {});
    } finally {
      model.dispose();
    }
  });
});

Deno.test("saveCheckpoint() replaces an existing checkpoint and keeps it when saving fails", async () => {
  await withTempDir(async (dir) => {
    const first = buildModel(CONFIG), second = buildModel({ ...CONFIG, seed: 12 });
    try {
      await saveCheckpoint(first, `${dir}/best`, { metadata: { epoch: 1 } });
      await saveCheckpoint(second, `${dir}/best`, { metadata: { epoch: 2 } });
      assert.deepEqual(await listDir(dir), ["best"]);
      const checkpoint = await readCheckpoint(`${dir}/best`);
      assert.equal(checkpoint.metadata.epoch, 2);
      assert.deepEqual(checkpoint.weights, getWeights(second));
      // A model whose tensors are gone cannot be encoded: the old checkpoint must survive intact.
      first.dispose();
      await assert.rejects(() => saveCheckpoint(first, `${dir}/best`, { metadata: { epoch: 3 } }));
      assert.deepEqual(await listDir(dir), ["best"]);
      assert.equal((await readCheckpoint(`${dir}/best`)).metadata.epoch, 2);
    } finally {
      first.dispose();
      second.dispose();
    }
  });
});

Deno.test("readCheckpoint() rejects files that are not a checkpoint", async (t) => {
  await withTempDir(async (dir) => {
    const model = buildModel(CONFIG);
    await saveCheckpoint(model, `${dir}/good`, { config: CONFIG });
    model.dispose();
    const json = await Deno.readTextFile(`${dir}/good/model.json`);
    await t.step("model.json is not JSON", async () => {
      await Deno.mkdir(`${dir}/a`);
      await Deno.writeTextFile(`${dir}/a/model.json`, "{oops");
      await assert.rejects(() => readCheckpoint(`${dir}/a`), (error: Error) => {
        assert.equal(error.name, "SyntaxError");
        assert.match(
          error.message,
          new RegExp(`^Cannot read checkpoint "${dir}/a/model.json": not JSON \\(`),
        );
        return true;
      });
    });
    await t.step("another format", async () => {
      await Deno.mkdir(`${dir}/b`);
      await Deno.writeTextFile(`${dir}/b/model.json`, JSON.stringify({ format: "layers-model" }));
      await assert.rejects(() => readCheckpoint(`${dir}/b`), {
        name: "SyntaxError",
        message:
          `Cannot read checkpoint "${dir}/b/model.json": expected format "cifar10-cnn" with a ` +
          `weightsManifest and userDefinedMetadata, found format "layers-model"`,
      });
    });
    await t.step("truncated weights.bin", async () => {
      await Deno.mkdir(`${dir}/c`);
      await Deno.writeTextFile(`${dir}/c/model.json`, json);
      await Deno.writeFile(`${dir}/c/weights.bin`, new Uint8Array(100));
      await assert.rejects(() => readCheckpoint(`${dir}/c`), {
        name: "RangeError",
        message: `Cannot read checkpoint weights "${dir}/c/weights.bin": expected ${
          4 * 2220
        } bytes, found 100`,
      });
    });
    await t.step("config that does not match the weights", async () => {
      await Deno.mkdir(`${dir}/d`);
      const changed = JSON.parse(json) as ModelJson;
      changed.userDefinedMetadata.config.hiddenUnits = 7;
      await Deno.writeTextFile(`${dir}/d/model.json`, JSON.stringify(changed));
      await Deno.copyFile(`${dir}/good/weights.bin`, `${dir}/d/weights.bin`);
      const before = tf.memory().numTensors;
      await assert.rejects(() => loadModel(`${dir}/d`), {
        name: "RangeError",
        message:
          'Cannot set weights: parameter "fc1.weight" expected shape [320, 7], found [320, 6] with 1920 values',
      });
      assert.equal(tf.memory().numTensors, before, "the half-built model is disposed");
    });
  });
});

Deno.test("writeFileAtomic() and writeJsonAtomic() replace files without leaving temporaries", async () => {
  await withTempDir(async (dir) => {
    await writeFileAtomic(`${dir}/sub/a.bin`, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(`${dir}/sub/a.bin`, new Uint8Array([4]));
    assert.deepEqual(await Deno.readFile(`${dir}/sub/a.bin`), new Uint8Array([4]));
    await writeJsonAtomic(`${dir}/sub/m.json`, { loss: 0.25, list: [1, 2] });
    assert.equal(
      await Deno.readTextFile(`${dir}/sub/m.json`),
      '{\n  "loss": 0.25,\n  "list": [\n    1,\n    2\n  ]\n}\n',
    );
    assert.deepEqual(await listDir(`${dir}/sub`), ["a.bin", "m.json"]);
  });
});

Deno.test("saveCheckpoint() with an optimizer state stores it beside the weights; readOptimizerState() reads it back", async () => {
  await withTempDir(async (dir) => {
    const model = buildModel(CONFIG);
    const state: OptimizerState = {
      className: "Adam",
      config: { learningRate: 0.001, beta1: 0.9 },
      iterations: 37,
      slots: [
        {
          name: "fc2.bias/m",
          shape: [10],
          values: Float32Array.from({ length: 10 }, (_, i) => i / 3),
        },
        {
          name: "fc2.bias/v",
          shape: [10],
          values: Float32Array.from({ length: 10 }, (_, i) => -i),
        },
        { name: "conv1.bias/m", shape: [3], values: new Float32Array([1e-30, NaN, Infinity]) },
      ],
    };
    try {
      await saveCheckpoint(model, `${dir}/last`, { config: CONFIG, optimizer: state });
      assert.deepEqual(await listDir(`${dir}/last`), [
        "model.json",
        OPTIMIZER_BIN,
        OPTIMIZER_JSON,
        "weights.bin",
      ]);
      assert.equal((await Deno.stat(`${dir}/last/${OPTIMIZER_BIN}`)).size, 4 * 23);
      assert.deepEqual(await readOptimizerState(`${dir}/last`), state);
      // The model part is an ordinary checkpoint.
      assert.deepEqual((await readCheckpoint(`${dir}/last`)).weights, getWeights(model));
      // Without the option: no optimizer files, and no state.
      await saveCheckpoint(model, `${dir}/best`);
      assert.deepEqual(await listDir(`${dir}/best`), ["model.json", "weights.bin"]);
      assert.equal(await readOptimizerState(`${dir}/best`), null);
    } finally {
      model.dispose();
    }
  });
});

Deno.test("readOptimizerState() rejects files that are not an optimizer state", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("not JSON", async () => {
      await Deno.writeTextFile(`${dir}/${OPTIMIZER_JSON}`, "{oops");
      await assert.rejects(() => readOptimizerState(dir), (error: Error) => {
        assert.equal(error.name, "SyntaxError");
        assert.ok(
          error.message.startsWith(
            `Cannot read optimizer state "${dir}/${OPTIMIZER_JSON}": not JSON (`,
          ),
          error.message,
        );
        return true;
      });
    });
    await t.step("another format", async () => {
      await Deno.writeTextFile(`${dir}/${OPTIMIZER_JSON}`, JSON.stringify({ format: "x" }));
      await assert.rejects(() => readOptimizerState(dir), {
        name: "SyntaxError",
        message: `Cannot read optimizer state "${dir}/${OPTIMIZER_JSON}": expected format ` +
          '"cifar10-cnn-optimizer" with className, iterations and slots, found format "x"',
      });
    });
    await t.step("truncated optimizer.bin", async () => {
      await Deno.writeTextFile(
        `${dir}/${OPTIMIZER_JSON}`,
        JSON.stringify({
          format: "cifar10-cnn-optimizer",
          className: "Adam",
          config: {},
          iterations: 1,
          paths: [OPTIMIZER_BIN],
          slots: [{ name: "fc2.bias/m", shape: [10], dtype: "float32" }],
        }),
      );
      await Deno.writeFile(`${dir}/${OPTIMIZER_BIN}`, new Uint8Array(12));
      await assert.rejects(() => readOptimizerState(dir), {
        name: "RangeError",
        message:
          `Cannot read optimizer state "${dir}/${OPTIMIZER_BIN}": expected 40 bytes, found 12`,
      });
    });
  });
});
