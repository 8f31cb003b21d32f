import assert from "node:assert/strict";
import {
  checkEnvironment,
  configOverridesFromEnv,
  DEFAULT_CONFIG,
  envName,
  flagName,
  makeConfig,
  parseArgs,
} from "../../lib/core/config.ts";

Deno.test("makeConfig() gives the tutorial's defaults", () => {
  const c = makeConfig();
  assert.equal(c.batchSize, 30);
  assert.equal(c.learningRate, 0.001);
  assert.equal(c.optimizer, "adam");
  assert.equal(c.epochs, 60);
  assert.equal(c.validFraction, 0.2);
  assert.deepEqual(c.convChannels, [16, 32, 64, 128]);
  assert.equal(c.hiddenUnits, 500);
  assert.equal(c.dropout, 0.25);
  assert.equal(c.flipProbability, 0.5);
  assert.equal(c.rotationDegrees, 20);
  assert.equal(c.normalizeMean, 0.5);
  assert.equal(c.normalizeStd, 0.5);
  assert.equal(c.augmentValidation, true);
});

Deno.test("makeConfig() returns fresh objects that do not share arrays with the defaults", () => {
  const a = makeConfig();
  a.convChannels.push(256);
  assert.deepEqual(makeConfig().convChannels, [16, 32, 64, 128]);
  assert.deepEqual(DEFAULT_CONFIG.convChannels, [16, 32, 64, 128]);
});

Deno.test("makeConfig() rejects unknown fields and bad values, naming the field", async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ epoch: 3 }, /Cannot use config field "epoch": unknown field; known fields are seed, epochs/],
    [{ epochs: 0 }, /Cannot use config field "epochs": expected an integer ≥ 1, found 0/],
    [{ epochs: 1.5 }, /"epochs": expected an integer, found 1.5/],
    [{ learningRate: 0 }, /"learningRate": expected a number > 0, found 0/],
    [{ learningRate: Number.NaN }, /"learningRate": expected a finite number/],
    [
      { optimizer: "lbfgs" },
      /"optimizer": expected one of adam, sgd, rmsprop, adagrad, found "lbfgs"/,
    ],
    [{ validFraction: 1 }, /"validFraction": expected a number in \[0, 1\), found 1/],
    [{ dropout: -0.1 }, /"dropout": expected a number in \[0, 1\)/],
    [{ convChannels: [] }, /"convChannels": expected a non-empty list of positive integers/],
    [{ backend: "cuda" }, /"backend": expected one of auto, tensorflow, webgpu, blas, wasm, cpu/],
    [{ flipProbability: 1.5 }, /"flipProbability": expected a number ≤ 1, found 1.5/],
    [{ synthetic: "yes" }, /"synthetic": expected true or false, found "yes"/],
    [{ batchSize: null }, /"batchSize": expected images per batch, found null/],
    [{ patience: 0 }, /"patience": expected an integer ≥ 1, found 0/],
    [
      { classWeights: [1, 2] },
      /"classWeights": expected 10 numbers ≥ 0 \(one per class, not all 0\)/,
    ],
    [{ classWeights: new Array(10).fill(0) }, /"classWeights": expected 10 numbers ≥ 0/],
    [{ classWeights: [-1, 1, 1, 1, 1, 1, 1, 1, 1, 1] }, /"classWeights": expected 10 numbers/],
  ];
  for (const [overrides, message] of cases) {
    await t.step(JSON.stringify(overrides), () => {
      assert.throws(() => makeConfig(overrides as never), (e: unknown) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

Deno.test("makeConfig() accepts null for nullable fields", () => {
  const c = makeConfig({ trainLimit: 1000, dataPath: "/x" });
  assert.equal(c.trainLimit, 1000);
  assert.equal(makeConfig({ trainLimit: null }).trainLimit, null);
});

Deno.test("flagName() and envName() derive names from fields", () => {
  assert.equal(flagName("batchSize"), "--batch-size");
  assert.equal(envName("learningRate"), "CIFAR10_LEARNING_RATE");
});

Deno.test("parseArgs() parses values, aliases, booleans and lists", () => {
  const { overrides, extra } = parseArgs(
    [
      "--epochs",
      "3",
      "--lr=0.01",
      "--conv-channels",
      "8,16",
      "--no-augment-validation",
      "--synthetic",
      "--data",
      "/tmp/c",
      "--train-limit",
      "none",
      "--json",
    ],
    { "--json": "bool" },
  );
  assert.deepEqual(overrides, {
    epochs: 3,
    learningRate: 0.01,
    convChannels: [8, 16],
    augmentValidation: false,
    synthetic: true,
    dataPath: "/tmp/c",
    trainLimit: null,
  });
  assert.deepEqual(extra, { json: true });
  assert.equal(makeConfig(overrides).epochs, 3);
});

Deno.test("parseArgs() rejects unknown flags and bad values before any work", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--epoks", "3"], /Cannot use flag --epoks: unknown flag; allowed flags: .*--epochs/],
    [
      ["--optimizer", "lbfgs"],
      /Cannot parse --optimizer: expected one of adam, sgd, rmsprop, adagrad, found "lbfgs"/,
    ],
    [["--epochs"], /Cannot parse --epochs: expected a value after it, found nothing/],
    [
      ["--lr", "fast"],
      /Cannot parse --lr: expected learning rate \(> 0\), a decimal number, found "fast"/,
    ],
    [
      ["--conv-channels", "8,x"],
      /expected comma-separated positive integers in decimal digits, found "8,x"/,
    ],
    // Integers are decimal digits: Number() alone would take these as 30, 10 and 3.
    [
      ["--batch-size", "0x1e"],
      /^Cannot parse --batch-size: expected images per batch, an integer ≥ 1 in decimal digits, found "0x1e"$/,
    ],
    [
      ["--epochs", "1e1"],
      /expected training epochs, an integer ≥ 1 in decimal digits, found "1e1"/,
    ],
    [["--seed", "0b11"], /expected random seed, an integer ≥ 0 in decimal digits, found "0b11"/],
    // 30.5 gets the same message as 0x1e.
    [
      ["--batch-size", "30.5"],
      /^Cannot parse --batch-size: expected images per batch, an integer ≥ 1 in decimal digits, found "30.5"$/,
    ],
    [["--batch-size", " 30"], /in decimal digits, found " 30"/],
    [["--conv-channels", "16,0x20"], /in decimal digits, found "16,0x20"/],
    [["--lr", "0x10"], /expected learning rate \(> 0\), a decimal number, found "0x10"/],
    [["--lr", "Infinity"], /a decimal number, found "Infinity"/],
    [["epochs"], /Cannot parse argument "epochs": expected a --flag/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      assert.throws(() => parseArgs(args), (e: unknown) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

Deno.test("configOverridesFromEnv() reads CIFAR10_* variables", () => {
  const o = configOverridesFromEnv({
    CIFAR10_EPOCHS: "2",
    CIFAR10_DATA: "/data/cifar",
    CIFAR10_SYNTHETIC: "true",
    CIFAR10_TRAIN_LIMIT: "500",
    PATH: "/usr/bin",
  });
  assert.deepEqual(o, { epochs: 2, dataPath: "/data/cifar", synthetic: true, trainLimit: 500 });
  assert.throws(
    () => configOverridesFromEnv({ CIFAR10_BATCH_SIZE: "big" }),
    /Cannot parse CIFAR10_BATCH_SIZE: expected images per batch, an integer ≥ 1 in decimal digits, found "big"/,
  );
  assert.throws(
    () => configOverridesFromEnv({ CIFAR10_BATCH_SIZE: "0x1e" }),
    /Cannot parse CIFAR10_BATCH_SIZE: expected images per batch, an integer ≥ 1 in decimal digits, found "0x1e"/,
  );
  assert.throws(
    () => configOverridesFromEnv({ CIFAR10_BATCH_SIZE: "1e1" }),
    /in decimal digits, found "1e1"/,
  );
  // Decimal numbers keep their exponent form: 1e-3 is how people write learning rates.
  assert.equal(configOverridesFromEnv({ CIFAR10_LEARNING_RATE: "1e-3" }).learningRate, 0.001);
  assert.equal(configOverridesFromEnv({ CIFAR10_BATCH_SIZE: "30" }).batchSize, 30);
  assert.throws(
    () => configOverridesFromEnv({ CIFAR10_BATCH_SIZE: "30.5" }),
    /Cannot parse CIFAR10_BATCH_SIZE: expected images per batch, an integer ≥ 1 in decimal digits, found "30.5"/,
  );
});

Deno.test("parseArgs() and CIFAR10_DATA resolve a relative data path against INIT_CWD", () => {
  const before = Deno.env.get("INIT_CWD");
  Deno.env.set("INIT_CWD", "/home/me/work");
  try {
    assert.equal(
      parseArgs(["--data", "copy/c.tar.gz"]).overrides.dataPath,
      "/home/me/work/copy/c.tar.gz",
    );
    assert.equal(parseArgs(["--data", "/abs/c.tar.gz"]).overrides.dataPath, "/abs/c.tar.gz");
    assert.equal(configOverridesFromEnv({ CIFAR10_DATA: "./c" }).dataPath, "/home/me/work/c");
    assert.equal(parseArgs(["--data", "none"]).overrides.dataPath, null);
  } finally {
    if (before === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", before);
  }
});

Deno.test("checkEnvironment() refuses an unknown CIFAR10_* variable and suggests the nearest", () => {
  checkEnvironment({
    CIFAR10_EPOCHS: "3",
    CIFAR10_DATA: "x",
    CIFAR10_RESUME: "latest",
    PATH: "/bin",
  });
  for (
    const [name, suggestion] of [
      ["CIFAR10_EPOCH", "CIFAR10_EPOCHS"],
      ["CIFAR10_LR", "CIFAR10_LEARNING_RATE"],
      ["CIFAR10_BACKENDS", "CIFAR10_BACKEND"],
    ]
  ) {
    assert.throws(
      () => checkEnvironment({ [name!]: "1" }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(`Cannot use environment variable ${name}: `) &&
        e.message.includes(`did you mean ${suggestion}?`),
    );
  }
  // Every consumer reads the environment through configOverridesFromEnv, which checks first.
  assert.throws(() => configOverridesFromEnv({ CIFAR10_LR: "5" }), /CIFAR10_LR/);
  assert.throws(
    () => configOverridesFromEnv({ CIFAR10_EPOCHS: "abc" }),
    /^RangeError: Cannot parse CIFAR10_EPOCHS: expected training epochs, an integer ≥ 1 in decimal digits, found "abc"$/,
  );
});

Deno.test("--patience and --class-weights parse from flags and variables, with the flag's name in errors", () => {
  const { overrides } = parseArgs([
    "--patience",
    "3",
    "--class-weights",
    "1,1,2,2,1,2,1,1,0.5,1",
  ]);
  assert.equal(overrides.patience, 3);
  assert.deepEqual(overrides.classWeights, [1, 1, 2, 2, 1, 2, 1, 1, 0.5, 1]);
  assert.deepEqual(
    configOverridesFromEnv({
      CIFAR10_PATIENCE: "none",
      CIFAR10_CLASS_WEIGHTS: "1,1,1,1,1,1,1,1,1,3",
    }),
    { patience: null, classWeights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 3] },
  );
  assert.equal(makeConfig().patience, null);
  assert.equal(makeConfig().classWeights, null);
  assert.throws(
    () => parseArgs(["--class-weights", "1,2,3"]),
    /^RangeError: Cannot parse --class-weights: expected 10 comma-separated weights \(one per class, in label order\), found 3: "1,2,3"$/,
  );
  assert.throws(
    () => parseArgs(["--class-weights", "1,1,1,1,1,1,1,1,1,x"]),
    /Cannot parse --class-weights: expected a weight ≥ 0, a decimal number, found "x"/,
  );
});
