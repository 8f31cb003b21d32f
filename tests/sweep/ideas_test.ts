import assert from "node:assert/strict";
import { join } from "node:path";
import {
  appendTrials,
  BASELINE_LABEL,
  classWeightsTrial,
  COMBINED_LABEL,
  combinedTrial,
  ideaOf,
  ideasPlan,
  ideasTableRows,
  newSweepRecord,
  runsByIdea,
  setUpIdeasSweep,
  type TrialResult,
  TUTORIAL_IDEAS,
  writeSweepRecord,
} from "../../lib/sweep/mod.ts";
import { makeConfig } from "../../lib/core/config.ts";

/** A trial result with a run record of the given best validation loss. */
function result(index: number, label: string, overrides: object, bestValidLoss: number | null) {
  const perClass = [0.9, 0.9, 0.5, 0.6, 0.9, 0.7, 0.9, 0.9, 0.9, 0.9];
  return {
    trial: { index, label, overrides, status: "completed", runId: `r${index}`, error: null },
    run: {
      id: `r${index}`,
      status: "completed",
      bestEpoch: 1,
      bestValidLoss,
      earlyStop: null,
      config: makeConfig({ epochs: 2 }),
      epochs: [{
        epoch: 1,
        validLoss: bestValidLoss,
        validAccuracy: 0.5,
        validPerClassAccuracy: perClass,
      }],
      test: { accuracy: 0.5 },
      durationSeconds: 60,
    },
    runDir: `/runs/r${index}`,
    bestValidLoss,
    bestValidAccuracy: 0.5,
    testAccuracy: 0.5,
    seconds: 60,
  } as unknown as TrialResult;
}

Deno.test("ideasPlan() runs the baseline and every variant of the tutorial's ideas on one budget", () => {
  const plan = ideasPlan({ epochs: 8, trainLimit: 20000, patience: 3 });
  assert.equal(plan.trials[0]!.label, BASELINE_LABEL);
  assert.deepEqual(plan.trials[0]!.overrides, {});
  assert.equal(plan.trials.length, 1 + TUTORIAL_IDEAS.reduce((n, i) => n + i.variants.length, 0));
  assert.deepEqual(plan.base, { epochs: 8, trainLimit: 20000, patience: 3 });
  assert.deepEqual(plan.trials.find((t) => t.label === "twice the epochs")!.overrides, {
    epochs: 16,
  });
  // Every variant makes a valid config, and each idea of the tutorial is there.
  for (const t of plan.trials) makeConfig({ ...plan.base, ...t.overrides });
  for (
    const idea of [
      "the learning rate",
      "the number of epochs",
      "dropout",
      "the batch size",
      "adding or removing transforms",
      "adding or removing convolution layers",
      "changing the optimizer",
    ]
  ) {
    assert.ok(TUTORIAL_IDEAS.some((i) => i.idea === idea), idea);
  }
  assert.equal(ideaOf("dropout 0.4"), "dropout");
  assert.equal(ideaOf(BASELINE_LABEL), "the tutorial's settings");
});

Deno.test("combinedTrial() takes, per idea, the best variant that beat the baseline", () => {
  const results = [
    result(1, BASELINE_LABEL, {}, 1.0),
    result(2, "learning rate 0.0005", { learningRate: 0.0005 }, 0.95),
    result(3, "learning rate 0.002", { learningRate: 0.002 }, 0.9),
    result(4, "twice the epochs", { epochs: 16 }, 0.5),
    result(5, "dropout 0.1", { dropout: 0.1 }, 1.1),
    result(6, "flips only", { rotationDegrees: 0 }, 0.97),
  ];
  const combined = combinedTrial(results)!;
  assert.equal(combined.label, COMBINED_LABEL);
  assert.deepEqual(combined.combines, ["learning rate 0.002", "flips only"]);
  assert.deepEqual(combined.overrides, { learningRate: 0.002, rotationDegrees: 0 });
  assert.equal(
    combinedTrial([result(1, BASELINE_LABEL, {}, 1), result(5, "dropout 0.1", {}, 1.2)]),
    null,
  );

  const weighted = classWeightsTrial(results)!;
  const w = weighted.overrides.classWeights!;
  assert.equal(w.length, 10);
  assert.ok(w[2]! > w[3]! && w[3]! > w[5]! && w[5]! > w[0]!, "the weakest classes weigh most");

  const groups = runsByIdea(results);
  const lr = groups.find((g) => g.idea === "the learning rate")!;
  assert.deepEqual(
    lr.runs.map((r) => r.record.id),
    ["r1", "r2", "r3"],
    "the baseline beside its variants",
  );
  assert.equal(
    groups.some((g) => g.idea === "the batch size"),
    false,
    "ideas without a run are left out",
  );
  const rows = ideasTableRows(results);
  assert.deepEqual(rows.map((r) => r.idea).slice(0, 2), [
    "the number of epochs",
    "the learning rate",
  ]);
  assert.equal(rows.find((r) => r.trial === "learning rate 0.002")!["Δ vs baseline"], -0.1);
});

Deno.test("appendTrials() adds a stage once; setUpIdeasSweep() continues the sweep CIFAR10_SWEEP names", async () => {
  const runsDir = await Deno.makeTempDir();
  try {
    const env = { CIFAR10_OUT_DIR: runsDir, CIFAR10_EPOCHS: "2" };
    const fresh = await setUpIdeasSweep({ epochs: 8, patience: 3 }, { env });
    assert.equal(fresh.resumed, false);
    assert.equal(fresh.config.epochs, 2, "CIFAR10_* variables override the budget");
    assert.equal(fresh.config.patience, 3);
    assert.equal(fresh.config.outDir, fresh.sweepDir);
    const count = fresh.record.trials.length;
    assert.equal(
      appendTrials(fresh.record, [{ label: COMBINED_LABEL, overrides: { dropout: 0.1 } }]),
      1,
    );
    assert.equal(
      appendTrials(fresh.record, [{ label: COMBINED_LABEL, overrides: { dropout: 0.1 } }]),
      0,
    );
    assert.equal(fresh.record.trials.at(-1)!.index, count + 1);
    await writeSweepRecord(fresh.sweepDir, fresh.record);
    const again = await setUpIdeasSweep({ epochs: 8 }, {
      env: { ...env, CIFAR10_SWEEP: "latest" },
    });
    assert.equal(again.resumed, true);
    assert.equal(again.sweepDir, fresh.sweepDir);
    assert.equal(again.record.trials.length, count + 1);
    assert.equal(again.config.epochs, 2, "the sweep's own budget");
    await assert.rejects(
      () =>
        setUpIdeasSweep({}, {
          env: { CIFAR10_OUT_DIR: join(runsDir, "none"), CIFAR10_SWEEP: "latest" },
        }),
      Deno.errors.NotFound,
    );
    assert.equal(newSweepRecord(ideasPlan({})).trials.length, count);
  } finally {
    await Deno.remove(runsDir, { recursive: true });
  }
});
