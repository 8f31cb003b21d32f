import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig, type TrainConfig } from "../../lib/core/config.ts";
import { registerBackendOptimizer } from "../../lib/engine/optimizers.ts";
import { createOptimizer } from "../../lib/train/optimizers.ts";

const LIB = fileURLToPath(new URL("../../lib/", import.meta.url));

await tf.setBackend("cpu");

/** The tfjs class name of the optimiser `createOptimizer` builds (and disposes). */
function classOf(config: TrainConfig, backendName: string): string {
  const optimizer = createOptimizer(config, backendName);
  try {
    return optimizer.getClassName();
  } finally {
    optimizer.dispose();
  }
}

/** The lib/ files a lib/ file imports (static, type-only, re-exports and dynamic), relative to lib/. */
async function importsOf(file: string): Promise<string[]> {
  // Doc examples live in comments and may import anything; strip them first.
  const code = (await Deno.readTextFile(join(LIB, file))).replace(/\/\*[\s\S]*?\*\//g, "");
  const specifiers = [
    ...code.matchAll(/\bfrom\s*["']([^"']+)["']/g),
    ...code.matchAll(/\bimport\s*\(?\s*["']([^"']+)["']/g),
  ].map((m) => m[1]!).filter((s) => s.startsWith("."));
  return specifiers.map((s) => relative(LIB, join(LIB, dirname(file), s)));
}

Deno.test("createOptimizer() builds each optimiser with PyTorch's defaults", async (t) => {
  const cases: [
    Partial<TrainConfig>,
    new (...args: never[]) => tf.Optimizer,
    Record<string, unknown>,
  ][] = [
    [{}, tf.AdamOptimizer, { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }],
    [{ optimizer: "sgd", learningRate: 0.01 }, tf.MomentumOptimizer, {
      learningRate: 0.01,
      momentum: 0.9,
    }],
    [{ optimizer: "sgd", momentum: 0 }, tf.SGDOptimizer, { learningRate: 0.001 }],
    [{ optimizer: "rmsprop", momentum: 0 }, tf.RMSPropOptimizer, {
      learningRate: 0.001,
      decay: 0.99,
      momentum: 0,
      epsilon: 1e-8,
    }],
    [{ optimizer: "adagrad", learningRate: 0.01 }, tf.AdagradOptimizer, {
      learningRate: 0.01,
      initialAccumulatorValue: 0,
    }],
  ];
  for (const [overrides, kind, expected] of cases) {
    await t.step(`${overrides.optimizer ?? "adam"} ${JSON.stringify(overrides)}`, () => {
      const optimizer = createOptimizer(makeConfig(overrides), "cpu");
      assert.ok(
        optimizer instanceof kind,
        `expected ${kind.name}, found ${optimizer.constructor.name}`,
      );
      // tfjs's optimiser classes answer `instanceof` for any optimiser: compare classes too.
      assert.equal(optimizer.constructor, kind);
      const config = optimizer.getConfig();
      for (const [key, value] of Object.entries(expected)) assert.equal(config[key], value, key);
      optimizer.dispose();
    });
  }
});

Deno.test("createOptimizer() prefers an optimiser registered for the active backend", () => {
  const unregister = registerBackendOptimizer(
    "fake-backend",
    "adam",
    (c) => tf.train.sgd(c.learningRate),
  );
  try {
    assert.ok(createOptimizer(makeConfig(), "fake-backend") instanceof tf.SGDOptimizer);
    assert.ok(createOptimizer(makeConfig(), "cpu") instanceof tf.AdamOptimizer);
    assert.ok(
      createOptimizer(makeConfig({ optimizer: "sgd" }), "fake-backend") instanceof
        tf.MomentumOptimizer,
    );
    // tfjs's optimiser classes answer `instanceof` for any optimiser: compare classes too.
    assert.equal(classOf(makeConfig(), "fake-backend"), "SGD");
    assert.equal(classOf(makeConfig(), "cpu"), "Adam");
    assert.equal(classOf(makeConfig({ optimizer: "sgd" }), "fake-backend"), "Momentum");
  } finally {
    unregister();
  }
  assert.ok(createOptimizer(makeConfig(), "fake-backend") instanceof tf.AdamOptimizer);
  assert.equal(classOf(makeConfig(), "fake-backend"), "Adam");
});

Deno.test("createOptimizer() uses the fused Adam on the blas backend once the blas module is loaded", async () => {
  // Nothing in this test file has loaded the blas module yet: tfjs's Adam, even for "blas".
  assert.equal(classOf(makeConfig(), "blas"), "Adam");
  // Loading it (as initBackend("blas") does) registers its fused Adam.
  const { BLAS_BACKEND_NAME, FusedAdamOptimizer } = await import(
    "../../lib/engine/kernels/blas/blas.ts"
  );
  const optimizer = createOptimizer(makeConfig({ learningRate: 0.002 }), BLAS_BACKEND_NAME);
  try {
    assert.equal(optimizer.constructor, FusedAdamOptimizer);
    assert.equal(optimizer.getClassName(), "FusedAdam");
    assert.deepEqual(optimizer.getConfig(), {
      learningRate: 0.002,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
    });
  } finally {
    optimizer.dispose();
  }
  // Only Adam is fused; the other optimisers stay tfjs's.
  assert.ok(
    createOptimizer(makeConfig({ optimizer: "sgd" }), "blas") instanceof tf.MomentumOptimizer,
  );
  assert.equal(classOf(makeConfig({ optimizer: "sgd" }), "blas"), "Momentum");
  assert.equal(classOf(makeConfig(), "cpu"), "Adam");
});

Deno.test("lib/train imports nothing from lib/engine/kernels, directly or through other modules", async () => {
  const trainFiles: string[] = [];
  for await (const entry of Deno.readDir(join(LIB, "train"))) {
    if (entry.isFile && entry.name.endsWith(".ts")) trainFiles.push(`train/${entry.name}`);
  }
  assert.ok(trainFiles.includes("train/optimizers.ts"), trainFiles.join(", "));
  // Everything lib/train's modules reach through their imports, whatever the kind of import.
  const reached = new Set(trainFiles);
  const queue = [...trainFiles];
  while (queue.length > 0) {
    for (const to of await importsOf(queue.pop()!)) {
      if (!reached.has(to)) {
        reached.add(to);
        queue.push(to);
      }
    }
  }
  assert.ok(reached.has("engine/optimizers.ts"), "expected train to use the engine's registry");
  const kernels = [...reached].filter((f) => f.startsWith("engine/kernels/"));
  assert.deepEqual(kernels, [], `lib/train reaches ${kernels.join(", ")}`);
});
