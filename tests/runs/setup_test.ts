import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../_util.ts";
import { runNote, setUpRun } from "../../lib/runs/setup.ts";

Deno.test("setUpRun() builds a new run's config from the parameters and CIFAR10_* variables", async () => {
  await withTempDir(async (dir) => {
    const setup = await setUpRun({ epochs: 60, batchSize: 30, learningRate: 0.001 }, {
      env: { CIFAR10_EPOCHS: "3", CIFAR10_OUT_DIR: "my-runs" },
      projectDir: dir,
    });
    assert.equal(setup.config.epochs, 3, "the environment overrides the cell");
    assert.equal(setup.config.batchSize, 30);
    assert.equal(setup.runsDir, join(dir, "my-runs"));
    assert.equal(setup.resumeDir, null);
    assert.equal(setup.caption, "Settings of this run");
    assert.deepEqual(setup.settings.map((s) => s.setting), [
      "epochs",
      "batchSize",
      "learningRate",
      "maxBatchesPerEpoch",
    ]);
    await assert.rejects(
      () => setUpRun({ epochs: 60 }, { env: { CIFAR10_EPOCHS: "abc" } }),
      (e: Error) => e instanceof RangeError && /CIFAR10_EPOCHS/.test(e.message),
    );
  });
});

Deno.test("setUpRun() resolves a resume request, CIFAR10_RESUME first, and names a missing run", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => setUpRun({}, { resume: "latest", projectDir: dir }),
      (e: Error) => e instanceof Deno.errors.NotFound && /^No runs yet/.test(e.message),
    );
    await assert.rejects(
      () => setUpRun({}, { resume: null, env: { CIFAR10_RESUME: "20261201-x" }, projectDir: dir }),
      (e: Error) =>
        e instanceof Deno.errors.NotFound &&
        e.message.includes(`${join(dir, "runs", "20261201-x")}`) &&
        e.message.includes("metrics.json"),
    );
  });
});

Deno.test("runNote() says where the run is and, after an interrupt, how to continue it", () => {
  const run = { dir: "/p/runs/20261201-a", id: "20261201-a" };
  assert.equal(runNote(run, "completed", "/p"), "\nRun record and best model: runs/20261201-a/");
  assert.equal(
    runNote(run, "aborted", "/p"),
    '\nRun record and best model: runs/20261201-a/\nTo continue this run: resumeRun = "20261201-a"',
  );
});
