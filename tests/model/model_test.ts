import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig } from "../../lib/core/config.ts";
import {
  buildModel,
  countParameters,
  getWeights,
  type Model,
  setWeights,
  type WeightValues,
} from "../../lib/model/model.ts";

await tf.setBackend("cpu");

const TINY = makeConfig({ convChannels: [2, 3], poolEvery: 2, hiddenUnits: 4, dropout: 0.25 });

function stats(values: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0, sq = 0, min = Infinity, max = -Infinity;
  for (const v of values) {
    sum += v;
    sq += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(sq / values.length - mean * mean), min, max };
}

/** Deterministic values shared with the PyTorch reference script (see the test below). */
function sinValues(n: number, phase: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + phase) * scale);
}

/** The weights of the reference comparison: param k (in order) is sin(i·0.37 + k + 1)·scale. */
function referenceWeights(model: Model): Record<string, WeightValues> {
  const out: Record<string, WeightValues> = {};
  Object.entries(model.params).forEach(([name, v], k) => {
    out[name] = {
      shape: [...v.shape],
      values: sinValues(v.size, k + 1, name.startsWith("conv") ? 0.3 : 0.1),
    };
  });
  return out;
}

Deno.test("buildModel() builds the tutorial's network with 4,198,950 parameters", () => {
  const model = buildModel(makeConfig());
  try {
    assert.equal(countParameters(model), 4_198_950);
    const shapes = Object.fromEntries(
      Object.entries(model.params).map(([n, v]) => [n, v.shape.join("x")]),
    );
    assert.deepEqual(shapes, {
      "conv1.weight": "3x3x3x16",
      "conv1.bias": "16",
      "conv2.weight": "3x3x16x32",
      "conv2.bias": "32",
      "conv3.weight": "3x3x32x64",
      "conv3.bias": "64",
      "conv4.weight": "3x3x64x128",
      "conv4.bias": "128",
      "fc1.weight": "8192x500",
      "fc1.bias": "500",
      "fc2.weight": "500x10",
      "fc2.bias": "10",
    });
  } finally {
    model.dispose();
  }
});

Deno.test("buildModel() and dispose() leave no tensors behind", () => {
  const before = tf.memory().numTensors;
  const model = buildModel(TINY);
  assert.equal(tf.memory().numTensors, before + 8, "one tensor per parameter");
  model.dispose();
  model.dispose(); // twice is harmless
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("buildModel() outputs logits of shape [batch, 10] without leaking tensors", () => {
  const model = buildModel(TINY);
  const x = tf.randomNormal([3, 32, 32, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const logits = model.forward(x, { training: true, seed: 5 });
  assert.deepEqual(logits.shape, [3, 10]);
  logits.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

Deno.test("buildModel() initialises like PyTorch and weights_init_normal", () => {
  const model = buildModel(makeConfig());
  try {
    const w = getWeights(model);
    // Dense layers: N(0, 1/√fan_in), bias 0.
    for (const [name, fanIn] of [["fc1", 8192], ["fc2", 500]] as const) {
      const s = stats(w[`${name}.weight`]!.values);
      const std = 1 / Math.sqrt(fanIn);
      assert.ok(Math.abs(s.std - std) / std < 0.02, `${name} std ${s.std}, expected ${std}`);
      assert.ok(Math.abs(s.mean) < 0.05 * std, `${name} mean ${s.mean}`);
      assert.ok(w[`${name}.bias`]!.values.every((v) => v === 0), `${name} bias not zero`);
    }
    // Convolutions: kaiming_uniform(a=√5) = U(−1/√fan_in, 1/√fan_in) for weight and bias.
    for (
      const [name, fanIn] of [["conv1", 27], ["conv2", 144], ["conv3", 288], [
        "conv4",
        576,
      ]] as const
    ) {
      const bound = 1 / Math.sqrt(fanIn);
      for (const part of ["weight", "bias"]) {
        const s = stats(w[`${name}.${part}`]!.values);
        assert.ok(s.min >= -bound && s.max <= bound, `${name}.${part} outside ±${bound}`);
      }
      const s = stats(w[`${name}.weight`]!.values);
      // A uniform on [−b, b] has std b/√3; conv1 has only 432 weights, hence the loose tolerance.
      assert.ok(
        Math.abs(s.std - bound / Math.sqrt(3)) / (bound / Math.sqrt(3)) < 0.1,
        `${name} std ${s.std}`,
      );
    }
  } finally {
    model.dispose();
  }
});

Deno.test("buildModel() uses PyTorch's uniform default for dense layers when weightsInitNormal is off", () => {
  const model = buildModel({ ...TINY, weightsInitNormal: false });
  try {
    const w = getWeights(model);
    const bound = 1 / Math.sqrt(4);
    const bias = stats(w["fc2.bias"]!.values);
    assert.ok(bias.min >= -bound && bias.max <= bound);
    assert.ok(w["fc2.bias"]!.values.some((v) => v !== 0), "bias should be random, not zero");
    const weight = stats(w["fc2.weight"]!.values);
    assert.ok(weight.min >= -bound && weight.max <= bound);
  } finally {
    model.dispose();
  }
});

Deno.test("buildModel() is reproducible from the seed", () => {
  const a = buildModel(TINY),
    b = buildModel(TINY),
    c = buildModel({ ...TINY, seed: TINY.seed + 1 });
  try {
    const wa = getWeights(a), wb = getWeights(b), wc = getWeights(c);
    for (const name of Object.keys(wa)) {
      assert.deepEqual(wa[name]!.values, wb[name]!.values, `${name} differs for the same seed`);
    }
    assert.notDeepEqual(wa["conv1.weight"]!.values, wc["conv1.weight"]!.values);
    assert.notDeepEqual(wa["fc1.weight"]!.values, wc["fc1.weight"]!.values);
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
});

Deno.test("Model.forward() applies seeded dropout only in training mode", () => {
  const model = buildModel(TINY);
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const run = (options: { training?: boolean; seed?: number }) => {
    const logits = model.forward(x, options);
    const values = logits.dataSync().slice();
    logits.dispose();
    return values;
  };
  try {
    const eval1 = run({}), eval2 = run({ training: false, seed: 9 });
    assert.deepEqual(eval1, eval2, "inference must not depend on the seed");
    const train1 = run({ training: true, seed: 1 }), train1again = run({ training: true, seed: 1 });
    const train2 = run({ training: true, seed: 2 });
    assert.deepEqual(train1, train1again, "same seed, same masks");
    assert.notDeepEqual(train1, train2, "another seed, other masks");
    assert.notDeepEqual(train1, eval1, "training mode should drop units");
  } finally {
    x.dispose();
    model.dispose();
  }
});

Deno.test("Model.forward() with dropout 0 gives the same logits in training and inference", () => {
  const model = buildModel({ ...TINY, dropout: 0 });
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const a = model.forward(x, { training: true, seed: 3 }), b = model.forward(x);
  assert.deepEqual(a.dataSync(), b.dataSync());
  tf.dispose([a, b, x]);
  model.dispose();
});

Deno.test("Model.forward() matches PyTorch on the same weights and input", () => {
  // Reference: PyTorch 1.13 (float64) on the same architecture and values, the input and conv
  // weights permuted to PyTorch's NCHW / OIHW layouts, fc1's rows reordered from our HWC flatten to
  // PyTorch's CHW. Script: /usr/bin/python3 with torch; values printed with 9 significant digits.
  const expected = [
    0.0978858794,
    0.0871357698,
    0.0645922425,
    0.0333064582,
    -0.00248719893,
    -0.0379442254,
    -0.0682656789,
    -0.0893476931,
    -0.0983369161,
    -0.0940166989,
    0.0961623572,
    0.0860061383,
    0.0642093921,
    0.0337222059,
    -0.00132912272,
    -0.0362005608,
    -0.0661724228,
    -0.0871881578,
    -0.0964033846,
    -0.0925708656,
  ];
  const model = buildModel(TINY);
  setWeights(model, referenceWeights(model));
  const x = tf.tensor4d(sinValues(2 * 32 * 32 * 3, 0.5, 1), [2, 32, 32, 3]);
  const logits = model.forward(x);
  const actual = [...logits.dataSync()];
  actual.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]!) < 1e-6, `logit ${i}: ${v} vs ${expected[i]}`)
  );
  tf.dispose([x, logits]);
  model.dispose();
});

Deno.test("Model.forward() rejects inputs that are not [batch, 32, 32, 3]", () => {
  const model = buildModel(TINY);
  const x = tf.zeros([1, 28, 28, 1]) as tf.Tensor4D;
  assert.throws(() => model.forward(x), {
    name: "RangeError",
    message:
      "Cannot run the model: expected input of shape [batch, 32, 32, 3], found [1, 28, 28, 1]",
  });
  x.dispose();
  model.dispose();
  assert.throws(() => model.forward(x), { message: "Cannot run the model: it has been disposed" });
});

Deno.test("buildModel() follows the architecture knobs", async (t) => {
  const cases = [
    { convChannels: [8], poolEvery: 1, hiddenUnits: 16, features: 16 * 16 * 8 },
    { convChannels: [4, 4, 4], poolEvery: 1, hiddenUnits: 8, features: 4 * 4 * 4 },
    { convChannels: [4, 4, 4], poolEvery: 2, hiddenUnits: 8, features: 16 * 16 * 4 },
    { convChannels: [5, 6], poolEvery: 3, hiddenUnits: 7, features: 32 * 32 * 6 },
  ];
  for (const c of cases) {
    await t.step(`conv ${c.convChannels.join(",")} pool every ${c.poolEvery}`, () => {
      const model = buildModel({ ...TINY, ...c });
      try {
        assert.deepEqual(model.params["fc1.weight"]!.shape, [c.features, c.hiddenUnits]);
        const last = c.convChannels.at(-1)!;
        assert.equal(
          countParameters(model),
          c.convChannels.reduce(
            (sum, out, i) => sum + 9 * (i === 0 ? 3 : c.convChannels[i - 1]!) * out + out,
            0,
          ) +
            c.features * c.hiddenUnits + c.hiddenUnits + c.hiddenUnits * 10 + 10,
          `last conv ${last}`,
        );
      } finally {
        model.dispose();
      }
    });
  }
});

Deno.test("buildModel() rejects more pools than a 32×32 image allows, before allocating", () => {
  const before = tf.memory().numTensors;
  assert.throws(() => buildModel({ ...TINY, convChannels: [2, 2, 2, 2, 2, 2, 2], poolEvery: 1 }), {
    name: "RangeError",
    message:
      "Cannot build the model: pool 6 after conv6 needs a feature map of at least 2×2, found 1×1; " +
      "use fewer convolutions or a larger poolEvery (found 1)",
  });
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("setWeights() rejects missing, unexpected and mis-shaped parameters", () => {
  const model = buildModel(TINY);
  const good = getWeights(model);
  try {
    const { ["fc2.bias"]: _, ...missing } = good;
    assert.throws(() => setWeights(model, missing), {
      name: "RangeError",
      message: 'Cannot set weights: parameter "fc2.bias" is missing',
    });
    assert.throws(() => setWeights(model, { ...good, "fc3.weight": good["fc2.weight"]! }), {
      name: "RangeError",
      message:
        "Cannot set weights: unexpected parameter(s) fc3.weight; the model has conv1.weight, " +
        "conv1.bias, conv2.weight, conv2.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias",
    });
    assert.throws(
      () => setWeights(model, { ...good, "fc2.bias": { shape: [5], values: new Float32Array(5) } }),
      {
        name: "RangeError",
        message:
          'Cannot set weights: parameter "fc2.bias" expected shape [10], found [5] with 5 values',
      },
    );
  } finally {
    model.dispose();
  }
});

Deno.test("getWeights() returns a snapshot that later changes do not touch", () => {
  const model = buildModel(TINY);
  const snapshot = getWeights(model);
  const first = snapshot["fc2.weight"]!.values[0]!;
  tf.tidy(() => model.params["fc2.weight"]!.assign(tf.zerosLike(model.params["fc2.weight"]!)));
  assert.equal(snapshot["fc2.weight"]!.values[0], first);
  setWeights(model, snapshot);
  assert.equal(model.params["fc2.weight"]!.dataSync()[0], first);
  model.dispose();
});
