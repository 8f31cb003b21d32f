import assert from "node:assert/strict";
import { join } from "node:path";
import "@tensorflow/tfjs-backend-cpu";
import { initBackend } from "../../lib/engine/backend.ts";
import { loadCifar10 } from "../../lib/data/load.ts";
import { readRunRecord } from "../../lib/runs/record.ts";
import {
  gridPlan,
  jsonPlan,
  newSweepRecord,
  readSweepRecord,
  readTrialResults,
  runSweep,
  sweepTableRows,
} from "../../lib/sweep/mod.ts";

const backend = await initBackend("cpu");
const data = await loadCifar10({ synthetic: { seed: 1, imagesPerBatch: 16, testImages: 20 } });
/** Tiny trials: one convolution, 80 images, batches of 10. */
const BUDGET = {
  convChannels: [2],
  poolEvery: 1,
  hiddenUnits: 8,
  batchSize: 10,
  epochs: 2,
  trainLimit: 80,
  testLimit: 20,
  synthetic: true,
};

Deno.test("runSweep() trains each trial as a run in the sweep folder; a failing trial does not stop the others", async () => {
  const runsDir = await Deno.makeTempDir();
  try {
    const plan = jsonPlan(
      JSON.stringify([
        { label: "baseline" },
        { label: "too deep", convChannels: [2, 2, 2, 2, 2, 2] }, // pool 6 meets a 1×1 map
        { label: "fast", learningRate: 0.01 },
      ]),
      "trials.json",
      BUDGET,
    );
    const record = newSweepRecord(plan);
    const sweepDir = join(runsDir, record.id);
    const ended: string[] = [];
    const progress: { done: number; total: number }[] = [];
    const outcome = await runSweep({
      sweepDir,
      record,
      data,
      backend,
      onProgress: (p) => progress.push({ done: p.done, total: p.total }),
      onTrialEnd: (trial, summary) => ended.push(`${trial.index} ${summary}`),
    });
    assert.equal(outcome.interrupted, false);
    assert.equal(outcome.counts.completed, 2);
    assert.equal(outcome.counts.failed, 1);
    assert.match(ended[0]!, /^1 completed 2 epochs; test accuracy \d+\.\d% \(epoch \d\)$/);
    assert.match(
      ended[1]!,
      /^2 failed: Cannot build the model: pool 6 after conv6 needs a feature map of at least 2×2/,
    );
    assert.match(ended[2]!, /^3 completed 2 epochs/);
    // The progress bar ends full: the failed trial's share left the total.
    const last = progress.at(-1)!;
    assert.equal(last.done, last.total);
    assert.ok(
      progress.every((p, i) => i === 0 || p.done >= progress[i - 1]!.done),
      "never goes back",
    );

    const back = await readSweepRecord(sweepDir);
    assert.deepEqual(back.trials.map((t) => t.status), ["completed", "failed", "completed"]);
    assert.equal(back.trials[1]!.runId, null);
    assert.match(back.trials[1]!.error!, /Cannot build the model/);
    for (const trial of [back.trials[0]!, back.trials[2]!]) {
      const run = await readRunRecord(join(sweepDir, trial.runId!));
      assert.equal(run.status, "completed");
      assert.equal(run.config.outDir, sweepDir);
      assert.equal(run.epochs.length, 2);
      assert.ok(run.test !== null, "each trial is tested");
    }
    // Same split and seed for every trial: the baseline and "fast" start from the same weights
    // and data, so their first training batch sees the same loss.
    const results = await readTrialResults(sweepDir, back);
    const rows = sweepTableRows(results);
    assert.deepEqual(rows.map((r) => r.trial).at(-1), "too deep", "a trial without a result last");
    assert.ok(
      (rows[0]!["best valid loss"] as number) <= (rows[1]!["best valid loss"] as number),
      "sorted by best validation loss",
    );
    assert.match(String(rows.at(-1)!.status), /^failed: Cannot build the model/);
    assert.equal(rows.find((r) => r.trial === "baseline")!["Δ vs baseline"], 0);

    // Run again: every trial has ended, nothing trains.
    let trained = 0;
    const again = await runSweep({
      sweepDir,
      record: back,
      data,
      backend,
      onTrialStart: () => trained++,
    });
    assert.equal(trained, 0);
    assert.equal(again.counts.completed, 2);
  } finally {
    await Deno.remove(runsDir, { recursive: true });
  }
});

Deno.test("an interrupted sweep continues its trial after the last completed epoch, with the losses of an uninterrupted one", async () => {
  const runsDir = await Deno.makeTempDir();
  try {
    const plan = gridPlan({ ...BUDGET, epochs: 3 }, [{ key: "dropout", values: [0.25, 0.4] }]);
    // Uninterrupted, for the reference losses.
    const whole = newSweepRecord(plan);
    await runSweep({ sweepDir: join(runsDir, whole.id), record: whole, data, backend });
    const reference = await readTrialResults(join(runsDir, whole.id), whole);

    const record = newSweepRecord(plan);
    const sweepDir = join(runsDir, record.id);
    const controller = new AbortController();
    const first = await runSweep({
      sweepDir,
      record,
      data,
      backend,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.trial.index === 2 && p.epoch === 2 && p.phase === "train") controller.abort();
      },
    });
    assert.equal(first.interrupted, true);
    const stopped = await readSweepRecord(sweepDir);
    assert.deepEqual(stopped.trials.map((t) => t.status), ["completed", "interrupted"]);
    const starts: boolean[] = [];
    const second = await runSweep({
      sweepDir,
      record: stopped,
      data,
      backend,
      onTrialStart: (_trial, _dir, resumed) => starts.push(resumed),
    });
    assert.equal(second.interrupted, false);
    assert.deepEqual(starts, [true], "only the interrupted trial trains, continuing its run");
    const results = await readTrialResults(sweepDir, stopped);
    for (const [i, result] of results.entries()) {
      const losses = result.run!.epochs.map((e) => [e.epoch, e.trainLoss, e.validLoss]);
      const expected = reference[i]!.run!.epochs.map((e) => [e.epoch, e.trainLoss, e.validLoss]);
      assert.deepEqual(losses, expected, `trial ${i + 1}`);
    }
  } finally {
    await Deno.remove(runsDir, { recursive: true });
  }
});
