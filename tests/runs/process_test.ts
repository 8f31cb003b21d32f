import assert from "node:assert/strict";
import { isProcessAlive } from "../../lib/runs/process.ts";
import { deadPid } from "./_fixtures.ts";

Deno.test("isProcessAlive() tells this process, a dead one and a reused pid apart", async () => {
  const host = Deno.hostname();
  assert.equal(isProcessAlive({ pid: Deno.pid, host, startTicks: null, heartbeatAt: "" }), true);
  assert.equal(
    isProcessAlive({ pid: Deno.pid, host: "elsewhere", startTicks: null, heartbeatAt: "" }),
    null,
  );
  const pid = await deadPid();
  assert.equal(isProcessAlive({ pid, host, startTicks: null, heartbeatAt: "" }), false);
  // Our pid, but a start time of another process that had it before.
  assert.equal(isProcessAlive({ pid: Deno.pid, host, startTicks: 1, heartbeatAt: "" }), false);
});
