import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  dataKind,
  readRunRecord,
  RUN_RECORD_FILE,
} from "../../lib/runs/record.ts";
import {
  deadPid,
  OFFICIAL_SOURCE,
  readJson,
  SYNTHETIC_SOURCE,
  writeFixtureRun,
} from "./_fixtures.ts";

Deno.test("readRunRecord() shows a record left running by a dead or silent process as interrupted", async (t) => {
  await withTempDir(async (outDir) => {
    const heartbeatAt = "2026-11-28T10:00:00.000Z";
    const now = new Date("2026-11-28T10:01:00.000Z");
    const pid = await deadPid();
    await t.step("the process is gone", async () => {
      const dir = await writeFixtureRun(outDir, {
        id: "dead",
        startedAt: heartbeatAt,
        status: "running",
        process: { pid, host: Deno.hostname(), startTicks: null, heartbeatAt },
      });
      const record = await readRunRecord(dir, { now });
      assert.equal(record.status, "interrupted");
      assert.equal(record.stale, true);
      assert.equal(
        record.message,
        `Run stopped unexpectedly: its process (pid ${pid} on ${Deno.hostname()}) ended without ` +
          "finishing the record; 2 epochs completed.",
      );
      assert.equal(
        (await readJson(`${dir}/${RUN_RECORD_FILE}`)).status,
        "running",
        "reading leaves the file alone",
      );
    });
    await t.step("the process lives but has been silent too long", async () => {
      const dir = await writeFixtureRun(outDir, {
        id: "silent",
        startedAt: heartbeatAt,
        status: "running",
        process: { pid: Deno.pid, host: Deno.hostname(), startTicks: null, heartbeatAt },
      });
      assert.equal((await readRunRecord(dir, { now })).status, "running");
      const later = await readRunRecord(dir, { now, staleAfterMs: 30_000 });
      assert.equal(later.status, "interrupted");
      assert.match(later.message!, /has not written it since 2026-11-28T10:00:00.000Z; 2 epochs/);
    });
    await t.step("another host: judged by the heartbeat only", async () => {
      const dir = await writeFixtureRun(outDir, {
        id: "remote",
        startedAt: heartbeatAt,
        status: "running",
        process: { pid, host: "elsewhere.example", startTicks: null, heartbeatAt },
      });
      assert.equal((await readRunRecord(dir, { now })).status, "running");
    });
  });
});

Deno.test("readRunRecord() rejects files that are not run records and reads the older layout", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("no record", async () => {
      await assert.rejects(() => readRunRecord(dir), {
        name: "NotFound",
        message: `Cannot read run "${dir}": it has no ${RUN_RECORD_FILE}`,
      });
    });
    await t.step("not JSON", async () => {
      await Deno.writeTextFile(`${dir}/${RUN_RECORD_FILE}`, "{oops");
      await assert.rejects(() => readRunRecord(dir), (error: Error) => {
        assert.equal(error.name, "SyntaxError");
        assert.ok(
          error.message.startsWith(
            `Cannot read run record "${dir}/${RUN_RECORD_FILE}": not JSON (`,
          ),
        );
        return true;
      });
    });
    await t.step("unknown status", async () => {
      await Deno.writeTextFile(
        `${dir}/${RUN_RECORD_FILE}`,
        JSON.stringify({ status: "odd", config: {} }),
      );
      await assert.rejects(() => readRunRecord(dir), {
        name: "SyntaxError",
        message: `Cannot read run record "${dir}/${RUN_RECORD_FILE}": expected status running, ` +
          'completed, interrupted, failed, diverged, found "odd"',
      });
    });
    await t.step("a bad config", async () => {
      await Deno.writeTextFile(
        `${dir}/${RUN_RECORD_FILE}`,
        JSON.stringify({ status: "completed", config: { epochs: 0 } }),
      );
      await assert.rejects(() => readRunRecord(dir), {
        name: "SyntaxError",
        message: `Cannot read run record "${dir}/${RUN_RECORD_FILE}": Cannot use config field ` +
          '"epochs": expected an integer ≥ 1, found 0',
      });
    });
    await t.step("the layout deno task train wrote before run records", async () => {
      await Deno.writeTextFile(
        `${dir}/${RUN_RECORD_FILE}`,
        JSON.stringify({
          run: "20261128-080000-000000",
          startedAt: "2026-11-28T08:00:00.000Z",
          status: "aborted",
          config: { epochs: 3 },
          data: { synthetic: true, classNames: ["x"] },
          epochs: [{ epoch: 1, trainLoss: 2, validLoss: null, bestValidLoss: null, seconds: 7 }],
          bestEpoch: 1,
        }),
      );
      const record = await readRunRecord(dir);
      assert.equal(record.id, "20261128-080000-000000");
      assert.equal(record.status, "interrupted");
      assert.equal(record.data.kind, "synthetic");
      assert.equal(record.durationSeconds, 7);
      assert.equal(record.epochs[0]!.bestValidLoss, Infinity);
      assert.equal(record.bestCheckpoint, BEST_CHECKPOINT_FOLDER);
    });
  });
});

Deno.test("dataKind() labels runs for tables", () => {
  assert.equal(dataKind(SYNTHETIC_SOURCE), "synthetic");
  assert.equal(dataKind(OFFICIAL_SOURCE), "real");
  assert.equal(dataKind({ ...OFFICIAL_SOURCE, checksum: "unofficial" }), "local copy");
  assert.equal(
    dataKind({ ...OFFICIAL_SOURCE, kind: "folder", checksum: "unchecked" }),
    "local copy",
  );
});
