import { skipName } from "../../../_util.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  BLAS_BACKEND_NAME,
  getBlasThreads,
  registerBlasBackend,
  setBlasThreads,
} from "../../../../lib/engine/kernels/blas/blas.ts";
import { registerTrainingGradients } from "../../../../lib/engine/gradients.ts";
import { buildModel } from "../../../../lib/model/model.ts";
import { makeConfig } from "../../../../lib/core/config.ts";
import {
  assertSameFloats,
  ignore,
  JS_LOOPS,
  randomValues,
  registration,
  relativeError,
} from "./_blas_backends.ts";

// The registration and the whole backend end to end; each kernel module has its own test file.

Deno.test({
  name: skipName(
    "registerBlasBackend() registers every cpu kernel and reports the library",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    assert.ok(registration.ok);
    assert.match(registration.device, /\(.+\)$/);
    assert.ok(tf.findBackendFactory(BLAS_BACKEND_NAME) !== null);
    const cpuNames = tf.getKernelsForBackend("cpu").map((k) => k.kernelName).sort();
    const blasNames = new Set(tf.getKernelsForBackend(BLAS_BACKEND_NAME).map((k) => k.kernelName));
    assert.deepEqual(cpuNames.filter((name) => !blasNames.has(name)), []);
    // A second call reuses the registration.
    const again = await registerBlasBackend();
    assert.deepEqual(again, registration);
  },
});

Deno.test({
  name: skipName(
    "registerBlasBackend() refuses a name another backend already holds",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    const result = await registerBlasBackend({ name: "cpu" });
    assert.deepEqual(result, {
      ok: false,
      reason: 'Cannot register backend "cpu": that name is already taken',
    });
  },
});

Deno.test({
  name: skipName(
    "setBlasThreads() changes the OpenBLAS thread count and rejects bad counts",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: () => {
    const original = getBlasThreads();
    if (original === null) return; // A library without thread control (Accelerate).
    assert.equal(setBlasThreads(1), true);
    assert.equal(getBlasThreads(), 1);
    assert.equal(setBlasThreads(original), true);
    assert.equal(getBlasThreads(), original);
    assert.throws(() => setBlasThreads(0), {
      name: "RangeError",
      message: "Cannot set BLAS threads: expected an integer >= 1, found 0",
    });
  },
});

Deno.test("registerBlasBackend() without --allow-ffi reports the missing permission", async () => {
  const script = `
    import { registerBlasBackend } from ${
    JSON.stringify(new URL("../../../../lib/engine/kernels/blas/blas.ts", import.meta.url).href)
  };
    console.log(JSON.stringify(await registerBlasBackend()));
  `;
  // Under ./run test:arm64 this Deno is emulated, and so must be the one it starts.
  const deno = emulator ? [emulator, Deno.execPath()] : [Deno.execPath()];
  const output = await new Deno.Command(deno[0]!, {
    args: [...deno.slice(1), "run", "--allow-read", "--allow-env", "-"],
    cwd: new URL("../../../..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await output.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout).trim()), {
    ok: false,
    reason: "Cannot load OpenBLAS: Deno needs --allow-ffi (or -A)",
  });
});

// ---------------------------------------------------------------------------------------------
// The tutorial model, in plain tf ops, and its gradients on the cpu and blas backends.

const CHANNELS = [3, 16, 32, 64, 128];

interface ModelWeights {
  [name: string]: { shape: number[]; values: Float32Array };
}

function tutorialWeights(seed: number): ModelWeights {
  const weights: ModelWeights = {};
  for (let i = 0; i < 4; i++) {
    const shape = [3, 3, CHANNELS[i]!, CHANNELS[i + 1]!];
    const fanIn = 9 * CHANNELS[i]!;
    weights[`conv${i + 1}.weight`] = {
      shape,
      values: randomValues(shape.reduce((p, d) => p * d, 1), seed + i, Math.sqrt(2 / fanIn)),
    };
    weights[`conv${i + 1}.bias`] = {
      shape: [CHANNELS[i + 1]!],
      values: randomValues(CHANNELS[i + 1]!, seed + 10 + i, 0.05),
    };
  }
  weights["fc1.weight"] = {
    shape: [8192, 500],
    values: randomValues(8192 * 500, seed + 20, 1 / Math.sqrt(8192)),
  };
  weights["fc1.bias"] = { shape: [500], values: randomValues(500, seed + 21, 0.05) };
  weights["fc2.weight"] = {
    shape: [500, 10],
    values: randomValues(5000, seed + 22, 1 / Math.sqrt(500)),
  };
  weights["fc2.bias"] = { shape: [10], values: randomValues(10, seed + 23, 0.05) };
  return weights;
}

/** conv 3→16, 16→32, pool, 32→64, 64→128, pool, flatten, dense 8192→500 ReLU, dense 500→10. */
function tutorialLogits(p: Record<string, tf.Tensor>, x: tf.Tensor4D): tf.Tensor2D {
  let h = x;
  for (let i = 1; i <= 4; i++) {
    const w = p[`conv${i}.weight`] as tf.Tensor4D;
    h = tf.relu(tf.add(tf.conv2d(h, w, 1, "same"), p[`conv${i}.bias`]!)) as tf.Tensor4D;
    if (i % 2 === 0) h = tf.maxPool(h, 2, 2, "valid");
  }
  const flat = tf.reshape(h, [x.shape[0], 8192]);
  const hidden = tf.relu(tf.add(tf.matMul(flat, p["fc1.weight"] as tf.Tensor2D), p["fc1.bias"]!));
  return tf.add(tf.matMul(hidden, p["fc2.weight"] as tf.Tensor2D), p["fc2.bias"]!) as tf.Tensor2D;
}

/** Mean cross-entropy of the logits against integer labels. */
function crossEntropy(logits: tf.Tensor2D, labels: number[]): tf.Scalar {
  const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
  return tf.mul(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits))), tf.scalar(-1 / labels.length));
}

async function modelGradients(
  backend: string,
  weights: ModelWeights,
  images: Float32Array,
  labels: number[],
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const params: Record<string, tf.Variable> = {};
  for (const [name, w] of Object.entries(weights)) {
    params[name] = tf.tidy(() =>
      tf.variable(tf.tensor(w.values, w.shape), true, `${backend}/${name}`)
    );
  }
  const x = tf.tensor4d(images, [labels.length, 32, 32, 3]);
  const { value, grads } = tf.variableGrads(() => crossEntropy(tutorialLogits(params, x), labels));
  const loss = value.dataSync()[0]!;
  const gradients: Record<string, Float32Array> = {};
  for (const name of Object.keys(weights)) {
    gradients[name] = Float32Array.from(grads[`${backend}/${name}`]!.dataSync());
  }
  tf.dispose([value, x, ...Object.values(grads), ...Object.values(params)]);
  assert.equal(tf.memory().numTensors, before, `${backend} leaked tensors`);
  return { loss, gradients };
}

// The cpu backend's JS convolution gradients take 27 s here (2-core Zen 5) and would take well
// over 10 minutes under qemu; under ./run test:arm64 the per-kernel tests and its training-loss
// comparison stand in for this check, which runs on every native ./run test.
const emulator = Deno.env.get("CIFAR10_EMULATOR");

Deno.test({
  name: skipName(
    "the tutorial model's gradients on blas match the cpu backend's",
    ignore || emulator !== undefined,
    emulator
      ? `under ${emulator}, the cpu reference is too slow; ./run test checks it`
      : "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore: ignore || emulator !== undefined,
  fn: async () => {
    registerTrainingGradients();
    const weights = tutorialWeights(500);
    const batch = 4;
    const images = randomValues(batch * 32 * 32 * 3, 600);
    const labels = [3, 8, 0, 6];
    const reference = await modelGradients("cpu", weights, images, labels);
    assert.ok(Number.isFinite(reference.loss) && reference.loss > 0);
    // Native loops (im2col rebuilt for the filter gradients), and JS loops (im2col kept from the
    // forward pass: the column cache's path).
    for (const backend of [BLAS_BACKEND_NAME, JS_LOOPS]) {
      const actual = await modelGradients(backend, weights, images, labels);
      assert.ok(
        Math.abs(actual.loss - reference.loss) <= 1e-5 * reference.loss,
        `loss on ${backend}: ${actual.loss} vs ${reference.loss}`,
      );
      for (const name of Object.keys(weights)) {
        const error = relativeError(actual.gradients[name]!, reference.gradients[name]!);
        assert.ok(error <= 1e-4, `gradient of ${name} on ${backend}: relative error ${error}`);
        assert.ok(
          reference.gradients[name]!.some((v) => v !== 0),
          `gradient of ${name} is all zero`,
        );
      }
    }
  },
});

Deno.test({
  name: skipName(
    "the model's inference path (fused bias + ReLU) gives the training path's logits on blas",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    await tf.setBackend(BLAS_BACKEND_NAME);
    const before = tf.memory().numTensors;
    const model = buildModel(makeConfig({ dropout: 0, seed: 5 }));
    const x = tf.tensor4d(randomValues(6 * 32 * 32 * 3, 960), [6, 32, 32, 3]);
    const training = model.forward(x, { training: true, seed: 1 });
    const inference = model.forward(x);
    assertSameFloats(
      Float32Array.from(inference.dataSync()),
      Float32Array.from(training.dataSync()),
      "inference logits",
    );
    tf.dispose([x, training, inference]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before, "inference leaked tensors");
  },
});
