import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { findRunDir, listRuns, noRunsMessage } from "../../lib/runs/list.ts";
import { BEST_CHECKPOINT_FOLDER, RUN_RECORD_FILE } from "../../lib/runs/record.ts";
import { writeFixtureRun, writeFixtureRuns } from "./_fixtures.ts";
import { displayPath } from "../../lib/core/paths.ts";

Deno.test("listRuns() and findRunDir() handle zero, one and many runs", async () => {
  await withTempDir(async (outDir) => {
    assert.deepEqual(await listRuns(`${outDir}/missing`), []);
    assert.deepEqual(await listRuns(outDir), []);
    await assert.rejects(() => findRunDir("latest", { outDir }), {
      name: "NotFound",
      message: noRunsMessage(outDir),
    });
    await writeFixtureRun(outDir, { id: "one", startedAt: "2026-11-28T09:00:00.000Z" });
    assert.deepEqual((await listRuns(outDir)).map((r) => r.record.id), ["one"]);
    await writeFixtureRuns(outDir);
    // Not runs: a bare checkpoint folder, a half-swapped folder, a broken record.
    await Deno.mkdir(`${outDir}/notebook`);
    await Deno.writeTextFile(`${outDir}/notebook/model.json`, "{}");
    await Deno.mkdir(`${outDir}/x.tmp-1234`);
    await Deno.writeTextFile(`${outDir}/x.tmp-1234/${RUN_RECORD_FILE}`, "{");
    await Deno.mkdir(`${outDir}/broken`);
    await Deno.writeTextFile(`${outDir}/broken/${RUN_RECORD_FILE}`, "[]");
    const skipped: string[] = [];
    const runs = await listRuns(outDir, {
      onSkip: (dir, reason) => skipped.push(`${dir}: ${reason}`),
    });
    assert.deepEqual(runs.map((r) => r.record.id), [
      "one",
      "20261128-100000-aaaaaa",
      "20261128-110000-bbbbbb",
      "20261128-120000-cccccc",
    ]);
    assert.deepEqual(skipped, [
      `${outDir}/broken: Cannot read run record "${outDir}/broken/${RUN_RECORD_FILE}": expected ` +
      "an object with a config, found an array",
    ]);
    assert.equal(await findRunDir("latest", { outDir }), `${outDir}/20261128-120000-cccccc`);
    assert.equal(await findRunDir(`${outDir}/one/`), `${outDir}/one`);
    await assert.rejects(() => findRunDir(`${outDir}/notebook`), {
      name: "NotFound",
      message:
        `Cannot use run "${outDir}/notebook": expected a run folder with ${RUN_RECORD_FILE}, found none`,
    });
  });
});

Deno.test('findRunDir("latest", { checkpoint }) skips newer runs without that checkpoint', async () => {
  await withTempDir(async (outDir) => {
    const older = await writeFixtureRun(outDir, {
      id: "20261128-090000-older0",
      startedAt: "2026-11-28T09:00:00.000Z",
    });
    await writeFixtureRun(outDir, {
      id: "20261128-100000-newer0",
      startedAt: "2026-11-28T10:00:00.000Z",
    });
    await Deno.mkdir(`${older}/${BEST_CHECKPOINT_FOLDER}`);
    await Deno.writeTextFile(`${older}/${BEST_CHECKPOINT_FOLDER}/model.json`, "{}");
    assert.equal(
      await findRunDir("latest", { outDir }),
      `${outDir}/20261128-100000-newer0`,
      "without a checkpoint asked for, the run started last",
    );
    assert.equal(
      await findRunDir("latest", { outDir, checkpoint: BEST_CHECKPOINT_FOLDER }),
      older,
      "the newer run has no best-model/model.json",
    );
  });
});

Deno.test('findRunDir("latest", { checkpoint }) names the folder and the checkpoint when no run holds it', async () => {
  await withTempDir(async (outDir) => {
    const run = await writeFixtureRun(outDir, {
      id: "20261128-090000-nockpt",
      startedAt: "2026-11-28T09:00:00.000Z",
    });
    // A checkpoint folder without its model.json does not count.
    await Deno.mkdir(`${run}/${BEST_CHECKPOINT_FOLDER}`);
    await assert.rejects(
      () => findRunDir("latest", { outDir, checkpoint: BEST_CHECKPOINT_FOLDER }),
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.NotFound, `expected NotFound, found ${error.name}`);
        assert.equal(
          error.message,
          `No run under ${
            displayPath(outDir)
          }/ has a ${BEST_CHECKPOINT_FOLDER}/ checkpoint yet: let a run ` +
            "finish its first epoch (`deno task train`) or pass a run folder",
        );
        return true;
      },
    );
  });
});

Deno.test("listRuns() reports a folder with a run's files but no record instead of leaving it out unseen", async () => {
  await withTempDir(async (outDir) => {
    await Deno.mkdir(`${outDir}/copied/best-model`, { recursive: true });
    await Deno.writeTextFile(`${outDir}/copied/config.json`, "{}");
    await Deno.mkdir(`${outDir}/notes`);
    const skipped: string[] = [];
    const runs = await listRuns(outDir, {
      onSkip: (dir, reason) => skipped.push(`${dir}: ${reason}`),
    });
    assert.deepEqual(runs, []);
    assert.equal(skipped.length, 1, "an unrelated folder is not reported");
    assert.match(skipped[0]!, /copied: it holds config\.json or a checkpoint but no metrics\.json/);
  });
});
