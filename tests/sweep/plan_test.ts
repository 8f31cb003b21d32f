import assert from "node:assert/strict";
import { join } from "node:path";
import {
  findSweepDir,
  gridAxes,
  gridPlan,
  jsonPlan,
  newSweepRecord,
  readSweepRecord,
  SWEEP_RECORD_FILE,
  sweepValues,
  trialConfig,
  writeSweepRecord,
} from "../../lib/sweep/plan.ts";

Deno.test("sweepValues() splits lists, keeps list-valued flags whole, and uses the flag's own checks", () => {
  assert.deepEqual(sweepValues("learningRate", "0.0005, 0.001,2e-3", "--lr"), [
    0.0005,
    0.001,
    0.002,
  ]);
  assert.deepEqual(sweepValues("convChannels", "16,32,64", "--conv-channels"), [[16, 32, 64]]);
  assert.deepEqual(sweepValues("trainLimit", "none,1000", "--train-limit"), [null, 1000]);
  const cases: [string, string, string, RegExp][] = [
    [
      "learningRate",
      "0.001,abc",
      "--learning-rate",
      /^Cannot parse --learning-rate: expected learning rate \(> 0\), a decimal number, found "abc"$/,
    ],
    ["learningRate", "0.001,0", "--lr", /^Cannot use --lr: expected a number > 0, found 0$/],
    [
      "dropout",
      "0.25,1.5",
      "--dropout",
      /^Cannot use --dropout: expected a number in \[0, 1\), found 1\.5$/,
    ],
    [
      "epochs",
      "2,,4",
      "--epochs",
      /^Cannot parse --epochs: expected comma-separated values, found an empty one in "2,,4"$/,
    ],
    [
      "optimizer",
      "adam,lbfgs",
      "--optimizer",
      /^Cannot parse --optimizer: expected one of adam, sgd, rmsprop, adagrad, found "lbfgs"$/,
    ],
    [
      "batchSize",
      "30,0x10",
      "--batch-size",
      /^Cannot parse --batch-size: expected images per batch, an integer ≥ 1 in decimal digits, found "0x10"$/,
    ],
  ];
  for (const [key, text, flag, message] of cases) {
    assert.throws(() => sweepValues(key as never, text, flag), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("gridAxes() merges repeated flags, refuses repeated values and fields a sweep holds fixed", () => {
  const axes = gridAxes([
    ["convChannels", [[16, 32]], "--conv-channels"],
    ["learningRate", [0.001], "--lr"],
    ["convChannels", [[16, 32, 64]], "--conv-channels"],
  ]);
  assert.deepEqual(axes, [
    { key: "convChannels", values: [[16, 32], [16, 32, 64]] },
    { key: "learningRate", values: [0.001] },
  ]);
  assert.throws(
    () => gridAxes([["dropout", [0.25, 0.25], "--dropout"]]),
    /^RangeError: Cannot use --dropout 0\.25 twice: each value makes one trial$/,
  );
  assert.throws(
    () => gridAxes([["backend", ["cpu", "wasm"], "--backend"]]),
    /Cannot sweep --backend: a sweep loads its data once, trains on one backend/,
  );
  // One value of a fixed field is fine: it applies to every trial.
  assert.equal(gridAxes([["dataPath", ["/data"], "--data"]]).length, 1);
});

Deno.test("gridPlan() makes every combination, the first axis slowest; one-valued axes are shared", () => {
  const plan = gridPlan({ epochs: 8 }, [
    { key: "learningRate", values: [0.0005, 0.001, 0.002] },
    { key: "patience", values: [3] },
    { key: "dropout", values: [0.25, 0.4] },
  ]);
  assert.deepEqual(plan.base, { epochs: 8, patience: 3 });
  assert.deepEqual(plan.varying, ["learningRate", "dropout"]);
  assert.deepEqual(plan.trials.map((t) => t.label), [
    "learning-rate=0.0005 dropout=0.25",
    "learning-rate=0.0005 dropout=0.4",
    "learning-rate=0.001 dropout=0.25",
    "learning-rate=0.001 dropout=0.4",
    "learning-rate=0.002 dropout=0.25",
    "learning-rate=0.002 dropout=0.4",
  ]);
  assert.deepEqual(gridPlan({}, []).trials, [{ label: "baseline", overrides: {} }]);
});

Deno.test("jsonPlan() reads configs with labels and names the file and trial of a bad one", () => {
  const plan = jsonPlan(
    '[{"label": "wide", "convChannels": [32, 64]}, {"dropout": 0.4}, {}]',
    "ideas.json",
    { epochs: 4 },
  );
  assert.deepEqual(plan.trials.map((t) => t.label), ["wide", "dropout=0.4", "baseline"]);
  assert.deepEqual(plan.varying, ["convChannels", "dropout"]);
  const cases: [string, RegExp][] = [
    ["{", /^SyntaxError: Cannot read ideas\.json: expected JSON, /],
    [
      "{}",
      /^SyntaxError: Cannot read ideas\.json: expected a non-empty array of config objects, found object$/,
    ],
    ["[]", /found an empty array/],
    ["[3]", /^SyntaxError: Cannot read ideas\.json, trial 1: expected an object of config fields$/],
    [
      '[{}, {"dropot": 0.4}]',
      /^RangeError: Cannot use ideas\.json, trial 2: Cannot use config field "dropot": unknown field/,
    ],
    [
      '[{"dropout": 2}]',
      /^RangeError: Cannot use ideas\.json, trial 1: Cannot use config field "dropout": expected a number in \[0, 1\), found 2$/,
    ],
    [
      '[{"backend": "cpu"}]',
      /"backend" is the same for every trial of a sweep; give it as --backend/,
    ],
    ['[{"label": "a"}, {"label": "a", "dropout": 0.1}]', /two trials are labelled "a"/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => jsonPlan(text, "ideas.json", {}), (e: unknown) => {
      assert.match(String(e), message);
      return true;
    });
  }
});

Deno.test("a sweep record is written atomically, read back, and found as the latest", async () => {
  const runsDir = await Deno.makeTempDir();
  try {
    const older = newSweepRecord(gridPlan({}, []), new Date("2026-12-01T10:00:00Z"));
    const newer = newSweepRecord(
      gridPlan({ epochs: 2 }, [{ key: "dropout", values: [0.1, 0.2] }]),
      new Date("2026-12-02T10:00:00Z"),
    );
    assert.match(newer.id, /^sweep-20261202-100000-[0-9a-f]{6}$/);
    await writeSweepRecord(join(runsDir, older.id), older);
    await writeSweepRecord(join(runsDir, newer.id), newer);
    await Deno.mkdir(join(runsDir, "20261203-000000-abcdef")); // a run, not a sweep
    assert.equal(await findSweepDir("latest", runsDir), join(runsDir, newer.id));
    assert.equal(await findSweepDir(older.id, runsDir), join(runsDir, older.id));
    const back = await readSweepRecord(join(runsDir, newer.id));
    assert.deepEqual(back.trials.map((t) => [t.index, t.label, t.status]), [
      [1, "dropout=0.1", "pending"],
      [2, "dropout=0.2", "pending"],
    ]);
    const config = trialConfig(back, back.trials[1]!, join(runsDir, newer.id));
    assert.equal(config.dropout, 0.2);
    assert.equal(config.epochs, 2);
    assert.equal(config.outDir, join(runsDir, newer.id));
    // No temporary file is left beside the record.
    const names = [];
    for await (const e of Deno.readDir(join(runsDir, newer.id))) names.push(e.name);
    assert.deepEqual(names, [SWEEP_RECORD_FILE]);
    await assert.rejects(
      () => findSweepDir("sweep-nope", runsDir),
      (e: unknown) =>
        e instanceof Deno.errors.NotFound && /Cannot find sweep "sweep-nope"/.test(e.message),
    );
    await Deno.writeTextFile(join(runsDir, older.id, SWEEP_RECORD_FILE), '{"format": "other"}');
    await assert.rejects(
      () => readSweepRecord(join(runsDir, older.id)),
      /SyntaxError: Cannot read sweep record ".*sweep\.json": expected format "cifar10-sweep"/,
    );
  } finally {
    await Deno.remove(runsDir, { recursive: true });
  }
  await assert.rejects(
    () => findSweepDir("latest", "/nonexistent/runs"),
    /Cannot find a sweep under "\/nonexistent\/runs": none started yet/,
  );
});
