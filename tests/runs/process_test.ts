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

Deno.test("isProcessAlive() calls a zombie (exited, not yet reaped) dead, as a resume must", async () => {
  // `sleep 0.1` exits at once; its parent, exec'd into `sleep 5`, never waits for it, so it stays a
  // zombie (state Z) for as long as that parent lives: the window a kill -9 leaves before init reaps.
  const shell = new Deno.Command("sh", {
    args: ["-c", "sleep 0.1 & echo $!; exec sleep 5"],
    stdout: "piped",
  }).spawn();
  const reader = shell.stdout.getReader();
  const { value } = await reader.read();
  const pid = Number(new TextDecoder().decode(value).trim());
  try {
    let state = "";
    for (let i = 0; i < 50 && state !== "Z"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
    }
    assert.equal(state, "Z", `pid ${pid} should be a zombie`);
    const host = Deno.hostname();
    assert.equal(isProcessAlive({ pid, host, startTicks: null, heartbeatAt: "" }), false);
  } finally {
    reader.releaseLock();
    shell.kill("SIGKILL");
    await shell.status;
    await shell.stdout.cancel().catch(() => {});
  }
});
