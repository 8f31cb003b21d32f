import assert from "node:assert/strict";
import { progressBar } from "../../lib/display/progress.ts";
import { fakeClock, fakeJupyter } from "./_fakes.ts";

Deno.test("progressBar() in a notebook displays once, then redraws in place at most every interval", async () => {
  const jupyter = fakeJupyter();
  const clock = fakeClock();
  const bar = await progressBar(4, { jupyter, label: "epoch", minIntervalMs: 100, now: clock.now });
  await bar.update(1, "a");
  clock.advance(150);
  await bar.update(2, "b");
  clock.advance(10);
  await bar.update(3, "c"); // too soon: skipped
  clock.advance(10);
  await bar.update(4, "d"); // the end: always drawn
  await bar.finish("done");
  const ids = new Set(jupyter.calls.map((c) => c.options.display_id));
  assert.equal(ids.size, 1);
  assert.equal(bar.displayId, [...ids][0]);
  assert.deepEqual(jupyter.calls.map((c) => [c.options.raw, c.options.update ?? false]), [
    [true, false],
    [true, true],
    [true, true],
    [true, true],
  ]);
  const texts = jupyter.calls.map((c) => (c.value as Record<string, string>)["text/plain"]);
  assert.match(texts[0]!, /^epoch {3}0%.* 0\/4 /);
  assert.match(texts[1]!, / 2\/4 .* b$/);
  assert.match(texts[2]!, / 4\/4 .* d$/);
  assert.match(texts[3]!, /^epoch 100%.* 4\/4 .* done$/);
  assert.match(
    (jupyter.calls[3]!.value as Record<string, string>)["text/html"]!,
    /data-fraction="1"/,
  );
});

Deno.test("progressBar() on a terminal redraws one line and ends it on finish", async () => {
  const written: string[] = [];
  const clock = fakeClock();
  const bar = await progressBar(3, {
    jupyter: null,
    isTerminal: true,
    write: (text) => written.push(text),
    minIntervalMs: 100,
    now: clock.now,
  });
  await bar.update(1);
  clock.advance(200);
  await bar.update(2);
  await bar.finish();
  await bar.finish();
  assert.equal(bar.displayId, null);
  assert.equal(written.length, 3, JSON.stringify(written));
  assert.ok(written.every((w) => w.startsWith("\r")));
  assert.match(written[1]!, / 2\/3 /);
  assert.match(written[2]!, /100%.* 3\/3 .*\n$/);
});

Deno.test("progressBar() into a log file prints a line per tenth", async () => {
  const written: string[] = [];
  const bar = await progressBar(100, {
    jupyter: null,
    isTerminal: false,
    write: (t) => written.push(t),
  });
  for (let i = 1; i <= 100; i++) await bar.update(i);
  await bar.finish();
  assert.equal(written.length, 11, written.join(""));
  assert.ok(written.every((w) => w.endsWith("\n") && !w.includes("\r")));
});

Deno.test("progressBar() rejects a negative total", async () => {
  await assert.rejects(
    () => progressBar(-1, { jupyter: null }),
    new RangeError("Cannot create a progress bar: expected total ≥ 0, found -1"),
  );
});
