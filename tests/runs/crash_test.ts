/**
 * Crash injection: a child process trains a tiny run for two epochs and is killed (SIGKILL, no
 * cleanup) at its K-th file-system write after the run folder exists: every mkdir, file write,
 * symlink, rename and remove of both epochs' checkpoint saves (best and last) and run-record
 * writes. After each kill the run must read back, resume to the end and predict, or, when the kill
 * came before the first epoch was saved, say clearly that there is nothing to continue from.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { withTempDir } from "../_util.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import { splitTrainValid } from "../../lib/data/split.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";
import { buildModel } from "../../lib/model/model.ts";
import { listRuns } from "../../lib/runs/list.ts";
import { resumeConfig } from "../../lib/runs/resume.ts";
import { resumeRunRecord } from "../../lib/runs/recorder.ts";
import { loadRun } from "../../lib/predict/run.ts";
import { listDir } from "../_util.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LIB = new URL("../../lib/mod.ts", import.meta.url).href;
const TINY = { convChannels: [2], poolEvery: 1, hiddenUnits: 8, batchSize: 10, epochs: 2 };

/** The child: counts file-system writes once its run exists, and kills itself at the K-th. */
const CHILD = `
import { buildModel, generateSyntheticImages, initBackend, makeConfig, splitTrainValid, startRunRecord } from ${
  JSON.stringify(LIB)
};
const [outDir, killAt] = [Deno.args[0], Number(Deno.args[1])];
let writes = 0;
let counting = false;
const wrap = (name) => {
  const original = Deno[name].bind(Deno);
  Deno[name] = (...args) => {
    const write = name !== "open" || args[1]?.write || args[1]?.create || args[1]?.createNew;
    if (counting && write && ++writes === killAt) Deno.kill(Deno.pid, "SIGKILL");
    return original(...args);
  };
};
for (const name of ["mkdir", "writeFile", "writeTextFile", "open", "symlink", "rename", "remove"]) wrap(name);
await initBackend("cpu");
const config = makeConfig(${JSON.stringify(TINY)});
const set = generateSyntheticImages(40, { seed: 3 });
const run = await startRunRecord(config, {
  backend: { name: "cpu", device: "JavaScript", reason: "test" },
  source: { kind: "synthetic", path: "memory", checksum: "unchecked", md5: null, synthetic: true, description: "Synthetic" },
  classNames: set.classNames ?? undefined, outDir,
});
counting = true;
await run.fit(buildModel(config), { set, ...splitTrainValid(set.count, 0.25, config.seed) });
counting = false;
console.log(JSON.stringify({ writes }));
`;

await initBackend("cpu");

Deno.test("a run killed at any file-system write of its checkpoints and record reads back, resumes and predicts", async () => {
  await withTempDir(async (dir) => {
    const child = `${dir}/child.js`;
    await Deno.writeTextFile(child, CHILD);
    const set = generateSyntheticImages(40, { seed: 3 });
    const split = splitTrainValid(set.count, 0.25, 42);
    let points = 0, resumed = 0, nothingYet = 0, trainedOut = 0;
    for (let killAt = 1;; killAt++) {
      const outDir = `${dir}/runs-${killAt}`;
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", `${ROOT}/deno.json`, child, outDir, String(killAt)],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (output.success) {
        // Fewer writes than killAt: the run finished; every write has been a kill point.
        const { writes } = JSON.parse(new TextDecoder().decode(output.stdout).trim());
        assert.equal(writes, killAt - 1, "each write before this one was a kill point");
        break;
      }
      assert.equal(output.signal, "SIGKILL", new TextDecoder().decode(output.stderr));
      points++;
      const where = `kill at write ${killAt}`;
      // 1. The run reads back: listed, its record readable, the dead writer seen as such.
      const runs = await listRuns(outDir);
      assert.equal(runs.length, 1, where);
      const { record, dir: runDir } = runs[0]!;
      assert.notEqual(record.status, "completed", where);
      // 2. It resumes to the end, or says there is nothing to resume yet.
      const config = await resumeConfig(runDir, { outDir }).catch((error: Error) => error);
      if (config instanceof Error) {
        if (/has completed 2 of 2 epochs/.test(config.message)) {
          // Killed after the last epoch was saved, before the outcome was recorded: nothing is
          // left to train, and the best model predicts.
          const loaded = await loadRun("latest", { outDir });
          loaded.model.dispose();
          trainedOut++;
          continue;
        }
        assert.match(
          config.message,
          /has no completed epoch to continue from/,
          `${where}: ${config.message}`,
        );
        // Only true before the first epoch was recorded: a recorded epoch has its checkpoint.
        assert.equal(record.epochs.length, 0, `${where}: epochs recorded but nothing to resume`);
        nothingYet++;
        continue;
      }
      const recorder = await resumeRunRecord(runDir, {
        outDir,
        backend: { name: "cpu", device: "JavaScript", reason: "test" },
      });
      const model = buildModel(config);
      try {
        const result = await recorder.fit(model, { set, ...split });
        assert.equal(result.stopReason, "completed", where);
      } finally {
        model.dispose();
      }
      resumed++;
      const entries = await listDir(runDir);
      assert.deepEqual(
        entries,
        ["best-model", "config.json", "last-model", "metrics.json"],
        `${where}: no leftovers after the resumed run`,
      );
      // 3. It predicts: the latest run's best model loads.
      const loaded = await loadRun("latest", { outDir });
      assert.equal(loaded.runDir, runDir, where);
      loaded.model.dispose();
    }
    // Both epochs' saves (best and last) and record writes: dozens of kill points.
    assert.ok(points >= 30, `only ${points} kill points`);
    assert.ok(resumed > 0 && nothingYet > 0, `resumed ${resumed}, nothing to resume ${nothingYet}`);
    console.log(
      `${points} kill points: ${resumed} resumed, ${nothingYet} before the first epoch, ` +
        `${trainedOut} after the last`,
    );
  });
});
