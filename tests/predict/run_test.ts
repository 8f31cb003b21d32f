import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { CIFAR10_CLASSES, SYNTHETIC_CLASSES } from "../../lib/data/mod.ts";
import { buildModel, saveCheckpoint } from "../../lib/model/mod.ts";
import { describeRun, loadRun, readRunFacts, resolveRun } from "../../lib/predict/run.ts";
import { checkpointFolder } from "../../lib/model/checkpoint.ts";
import { CONFIG, saveRun, writeRunRecord } from "./_fixtures.ts";
import { displayPath } from "../../lib/core/paths.ts";

// "latest" is the rule of findRunDir (lib/runs): the run started last by its record's startedAt,
// among the runs holding best-model/model.json. When a model was saved and how a folder is named
// do not count (resolveRun used to take the newest model.json instead).
Deno.test("resolveRun() finds the latest run, a run folder or a checkpoint folder", async () => {
  await withTempDir(async (dir) => {
    const runs = `${dir}/runs`;
    // No runs folder at all, then an empty one: the same helpful error.
    await assertNoModel(runs);
    await Deno.mkdir(runs, { recursive: true });
    await assertNoModel(runs);
    // A run that started but has no best model yet (interrupted in its first epoch): the same.
    await writeRunRecord(`${runs}/20260103-000000-cccccc`, CONFIG, {
      status: "interrupted",
      startedAt: "2026-01-03T00:00:00.000Z",
    });
    await assertNoModel(runs);
    const older = await saveRun(runs, "20260101-000000-aaaaaa", {
      startedAt: "2026-01-01T00:00:00.000Z",
    });
    const newer = await saveRun(runs, "20260102-000000-bbbbbb", {
      startedAt: "2026-01-02T00:00:00.000Z",
    });
    // The leftover of an atomic swap is no run, even with a later record and a model.
    const leftover = `${runs}/20260104-000000-dddddd.tmp-1234`;
    await Deno.mkdir(`${leftover}/best-model`, { recursive: true });
    await Deno.writeTextFile(`${leftover}/best-model/model.json`, "{}");
    await writeRunRecord(leftover, CONFIG, { startedAt: "2026-01-04T00:00:00.000Z" });
    // A copy whose name sorts last but which started first: the start time decides, not the name.
    await saveRun(runs, "zz-copied-run", { startedAt: "2025-12-31T00:00:00.000Z" });
    // The model saved last does not decide either.
    await Deno.utime(`${older}/best-model/model.json`, new Date(2026, 0, 6), new Date(2026, 0, 6));
    await Deno.utime(`${newer}/best-model/model.json`, new Date(2026, 0, 3), new Date(2026, 0, 3));
    assert.deepEqual(await resolveRun("latest", { outDir: runs }), {
      runDir: newer,
      checkpointDir: `${newer}/best-model`,
    });
    // A run started later becomes the latest.
    const newest = await saveRun(runs, "20260105-000000-eeeeee", {
      startedAt: "2026-01-05T00:00:00.000Z",
    });
    assert.deepEqual(await resolveRun("latest", { outDir: `${runs}/` }), {
      runDir: newest,
      checkpointDir: `${newest}/best-model`,
    });
    // A bare checkpoint folder directly under runs/ has no record, so it is no run: never the
    // latest, but usable by its path.
    const model = buildModel(CONFIG);
    await saveCheckpoint(model, `${runs}/notebook`, { config: CONFIG });
    model.dispose();
    assert.equal((await resolveRun("latest", { outDir: runs })).runDir, newest);
    assert.deepEqual(await resolveRun(`${runs}/notebook`), {
      runDir: null,
      checkpointDir: `${runs}/notebook`,
    });
    // Paths.
    assert.deepEqual(await resolveRun(older), {
      runDir: older,
      checkpointDir: `${older}/best-model`,
    });
    assert.deepEqual(await resolveRun(`${older}/best-model/`), {
      runDir: older,
      checkpointDir: `${older}/best-model`,
    });
    await assert.rejects(() => resolveRun(`${dir}/nowhere`), {
      name: "NotFound",
      message: `Cannot use run "${dir}/nowhere": no such folder`,
    });
    await assert.rejects(() => resolveRun(`${runs}/20260103-000000-cccccc`), {
      name: "TypeError",
      message: `Cannot use run "${runs}/20260103-000000-cccccc": expected a run folder (with ` +
        "best-model/model.json) or a checkpoint folder (with model.json), found a folder without either",
    });
    await assert.rejects(() => resolveRun(`${older}/config.json`), {
      name: "TypeError",
      message: `Cannot use run "${older}/config.json": expected a run folder (with ` +
        "best-model/model.json) or a checkpoint folder (with model.json), found a file",
    });
  });
});

/** "latest" under `runs` fails with the message that says how to get a model. */
async function assertNoModel(runs: string): Promise<void> {
  await assert.rejects(() => resolveRun("latest", { outDir: runs }), {
    name: "NotFound",
    message:
      `No trained model found under ${displayPath(runs)}/: train one with \`deno task train\` or ` +
      "pass --run PATH",
  });
}

Deno.test("loadRun() loads the model with the run's class names and facts", async () => {
  await withTempDir(async (dir) => {
    const runDir = await saveRun(dir, "20260101-000000-aaaaaa", {
      synthetic: true,
      metrics: {
        status: "completed",
        data: { synthetic: true, classNames: [...CIFAR10_CLASSES] },
        test: { accuracy: 0.4321 },
      },
    });
    const run = await loadRun("latest", { outDir: dir });
    try {
      assert.equal(run.runDir, runDir);
      assert.equal(run.synthetic, true);
      assert.equal(run.epoch, 4);
      assert.equal(run.validLoss, 1.5);
      assert.equal(run.testAccuracy, 0.4321);
      assert.equal(run.status, "completed");
      assert.deepEqual(run.classNames, [...CIFAR10_CLASSES]);
      assert.deepEqual(run.checkpoint.config.convChannels, [4]);
      assert.equal(
        describeRun(run),
        `Model: ${
          displayPath(runDir)
        }/best-model (epoch 4, validation loss 1.5000, test accuracy 43.2%) — ` +
          "trained on SYNTHETIC data, not CIFAR-10: its answers say nothing about real images",
      );
    } finally {
      run.model.dispose();
    }
  });
});

Deno.test("readRunFacts() gives loadRun()'s facts from model.json and the record, never the weights", async () => {
  await withTempDir(async (dir) => {
    const runDir = await saveRun(dir, "20260101-000000-aaaaaa", {
      metrics: { status: "completed", test: { accuracy: 0.5 } },
    });
    const loaded = await loadRun("latest", { outDir: dir });
    loaded.model.dispose();
    // Without its weights the model cannot be loaded, but what names it can still be read.
    const weights = `${await checkpointFolder(`${runDir}/best-model`)}/weights.bin`;
    await Deno.remove(weights);
    await assert.rejects(() => loadRun("latest", { outDir: dir }));
    const facts = await readRunFacts("latest", { outDir: dir });
    const { model: _model, checkpoint: _checkpoint, ...expected } = loaded;
    assert.deepEqual(facts, expected);
    assert.equal(describeRun(facts), describeRun(loaded));
    assert.deepEqual(facts.config.convChannels, [4]);
  });
});

Deno.test("loadRun() reads the record as every reader does: a dead writer's run is not 'still running'", async () => {
  await withTempDir(async (dir) => {
    // A record left "running" by a process that is gone (pid 1 with another start time).
    const runDir = await saveRun(`${dir}/runs`, "dead", {
      metrics: {
        status: "running",
        process: {
          pid: 2 ** 22 + 17,
          host: Deno.hostname(),
          startTicks: 1,
          startedAt: new Date().toISOString(),
        },
        updatedAt: new Date().toISOString(),
      },
    });
    const run = await loadRun(runDir);
    try {
      assert.equal(run.status, "interrupted");
      assert.ok(!describeRun(run).includes("still running"), describeRun(run));
    } finally {
      run.model.dispose();
    }
  });
});

Deno.test("loadRun() names a synthetic model's classes from its own config, without metrics.json", async () => {
  await withTempDir(async (dir) => {
    const runDir = await saveRun(`${dir}/runs`, "synthetic", { synthetic: true });
    await Deno.remove(`${runDir}/metrics.json`);
    const run = await loadRun(runDir);
    try {
      assert.equal(run.synthetic, true);
      assert.deepEqual(run.classNames, [...SYNTHETIC_CLASSES]);
      assert.notDeepEqual(run.classNames, [...CIFAR10_CLASSES]);
    } finally {
      run.model.dispose();
    }
  });
});
