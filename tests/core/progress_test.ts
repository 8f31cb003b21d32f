import assert from "node:assert/strict";
import {
  formatBytes,
  progressFraction,
  progressHtml,
  progressLineWriter,
  progressText,
} from "../../lib/core/progress.ts";

Deno.test("progressText() and progressHtml() draw the fraction, counts and times", async (t) => {
  await t.step("halfway", () => {
    const state = { done: 5, total: 10, label: "train", info: "loss 1.5", seconds: 65 };
    assert.equal(progressText(state, 10), "train  50%|#####-----| 5/10 [01:05<01:05] loss 1.5");
    const markup = progressHtml(state);
    assert.match(markup, /data-fraction="0.5"/);
    assert.match(markup, /width:50.00%/);
    assert.match(markup, /50% 5\/10 \[01:05&lt;01:05\]/);
  });
  await t.step("hours, and nothing done yet", () => {
    assert.equal(
      progressText({ done: 0, total: 3, label: "", info: "", seconds: 3725 }, 4),
      "  0%|----| 0/3 [1:02:05<?]",
    );
  });
  await t.step("past the end is clamped", () => {
    assert.match(
      progressText({ done: 12, total: 10, label: "x", info: "", seconds: 1 }, 4),
      /100%\|####\|/,
    );
  });
});

Deno.test("progressText() writes bytes, takes a given rate for the time left, and drops the bar without a total", () => {
  const state = {
    done: 85_000_000,
    total: 170_000_000,
    label: "f.tar.gz",
    info: "5.0 MB/s",
    seconds: 34,
    unit: "bytes" as const,
  };
  // The average so far (2.5 MB/s over 34 s) says 34 s left; the given rate says 17 s.
  assert.equal(
    progressText(state, 4),
    "f.tar.gz  50%|##--| 85.0 MB/170.0 MB [00:34<00:34] 5.0 MB/s",
  );
  assert.equal(
    progressText({ ...state, rate: 5_000_000 }, 4),
    "f.tar.gz  50%|##--| 85.0 MB/170.0 MB [00:34<00:17] 5.0 MB/s",
  );
  assert.match(progressText({ ...state, rate: 0 }, 4), /\[00:34<\?\]/);
  assert.equal(progressText({ ...state, total: null }), "f.tar.gz 85.0 MB [00:34] 5.0 MB/s");
  const markup = progressHtml({ ...state, total: null });
  assert.doesNotMatch(markup, /data-fraction/);
  assert.match(markup, /<span>85\.0 MB \[00:34\]<\/span>/);
});

Deno.test("progressHtml() escapes the label and the info, and turns green when complete", () => {
  const state = { done: 2, total: 4, label: `<a href="x">`, info: "loss & 'acc'", seconds: 1 };
  const markup = progressHtml(state);
  assert.match(markup, /<span>&lt;a href=&quot;x&quot;&gt;<\/span>/);
  assert.match(markup, /<span>loss &amp; &#39;acc&#39;<\/span>/);
  assert.match(markup, /background:#4c78a8/);
  assert.match(progressHtml({ ...state, done: 4 }), /data-fraction="1".*background:#3a923a/);
});

Deno.test("formatBytes() writes decimal units", () => {
  assert.deepEqual(
    [0, 999, 1500, 170_498_071, 1_250_000_000].map(formatBytes),
    ["0 B", "999 B", "1.5 kB", "170.5 MB", "1.25 GB"],
  );
});

Deno.test("progressFraction() clamps to [0, 1] and is 0 without a total", () => {
  const state = { done: 3, total: 4, label: "", info: "", seconds: 0 };
  assert.equal(progressFraction(state), 0.75);
  assert.equal(progressFraction({ ...state, done: -1 }), 0);
  assert.equal(progressFraction({ ...state, done: 9 }), 1);
  assert.equal(progressFraction({ ...state, total: 0 }), 0);
  assert.equal(progressFraction({ ...state, total: null }), 0);
});

Deno.test("progressLineWriter() on a terminal redraws one line, covering a longer one, and ends it", () => {
  const written: string[] = [];
  const tty = progressLineWriter({ write: (t) => written.push(t), isTerminal: true });
  assert.equal(tty.isTerminal, true);
  tty.draw("epoch 1 10%");
  tty.draw("epoch 1 100%");
  tty.finish("done");
  tty.draw("next");
  assert.deepEqual(written, [
    "\repoch 1 10%",
    "\repoch 1 100%",
    "\rdone        \n",
    "\rnext", // a new line after finish: nothing to cover
  ]);
});

Deno.test("progressLineWriter() into a log prints every line on its own", () => {
  const written: string[] = [];
  const log = progressLineWriter({ write: (t) => written.push(t), isTerminal: false });
  assert.equal(log.isTerminal, false);
  log.draw("a long first line");
  log.finish("b");
  assert.deepEqual(written, ["a long first line\n", "b\n"]);
});
