import assert from "node:assert/strict";
import pl from "nodejs-polars";
import {
  DISPLAY_SYMBOL,
  type DisplayOptions,
  html,
  type JupyterApi,
  jupyterApi,
  liveDisplay,
  progressBar,
  progressHtml,
  progressText,
  show,
  svgBundle,
  table,
  textOf,
} from "../lib/display.ts";

/** A stand-in for `Deno.jupyter` that records every display call. */
function fakeJupyter(): JupyterApi & { calls: { value: unknown; options: DisplayOptions }[] } {
  const calls: { value: unknown; options: DisplayOptions }[] = [];
  return {
    calls,
    display(value, options = {}) {
      calls.push({ value, options });
      return Promise.resolve();
    },
  };
}

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => t += ms };
}

const SVG = {
  outerHTML: '<svg aria-label="Loss"><g aria-label="line"><path d="M0,0L1,1"/></g></svg>',
};

Deno.test("jupyterApi() is null outside the Deno kernel", () => {
  assert.equal(jupyterApi(), null);
});

Deno.test("show() prints a text form on the terminal", async (t) => {
  const cases: [string, unknown, string][] = [
    ["a string", "hello", "hello"],
    ["HTML", html("<p>a &lt; b</p><p>c</p>"), "a < b\nc"],
    ["a canvas", { width: 96, height: 32, toDataURL: () => "data:," }, "[image 96×32]"],
    ["a chart", SVG, "[chart: Loss]"],
    ["a number", 3, "3"],
  ];
  for (const [name, value, expected] of cases) {
    await t.step(name, async () => {
      const lines: string[] = [];
      await show(value, { jupyter: null, log: (line) => lines.push(line) });
      assert.deepEqual(lines, [expected]);
    });
  }
});

Deno.test("show() sends an SVG element as SVG plus an HTML twin, other values as they are", async () => {
  const jupyter = fakeJupyter();
  await show(SVG, { jupyter });
  const displayable = html("<b>x</b>");
  await show(displayable, { jupyter });
  assert.equal(jupyter.calls.length, 2);
  assert.deepEqual(jupyter.calls[0], {
    value: {
      "image/svg+xml": SVG.outerHTML,
      "text/html": SVG.outerHTML,
      "text/plain": "[chart: Loss]",
    },
    options: { raw: true },
  });
  assert.equal(jupyter.calls[1]!.value, displayable);
  assert.deepEqual(jupyter.calls[1]!.options, {});
});

Deno.test("svgBundle() leaves non-SVG values and objects with their own bundle alone", () => {
  assert.equal(svgBundle({ outerHTML: "<div></div>" }), null);
  assert.equal(svgBundle(null), null);
  assert.equal(svgBundle(html("<svg></svg>")), null);
});

Deno.test("table() shows every row of a DataFrame (its own view stops at 50)", () => {
  const frame = pl.DataFrame({
    layer: Array.from({ length: 60 }, (_, i) => `layer${i}`),
    parameters: Array.from({ length: 60 }, (_, i) => i * 1000),
  });
  const bundle = table(frame)[DISPLAY_SYMBOL]();
  const markup = bundle["text/html"] as string;
  assert.equal((markup.match(/<tr>/g) ?? []).length, 61);
  assert.match(
    markup,
    /<td style="text-align:left">layer59<\/td><td style="text-align:right">59,000<\/td>/,
  );
});

Deno.test("table() lays out plain text and escapes HTML", () => {
  const bundle = table([{ name: "a<b", n: 1234567, x: 0.123456 }, { name: "c", n: 5, x: null }], {
    caption: "Caption",
  })[DISPLAY_SYMBOL]();
  assert.equal(
    bundle["text/plain"],
    [
      "Caption",
      "name          n  x",
      "----  ---------  ------",
      "a<b   1,234,567  0.1235",
      "c             5",
    ].join("\n"),
  );
  const markup = bundle["text/html"] as string;
  assert.match(markup, /<caption>Caption<\/caption>/);
  assert.match(markup, /<td style="text-align:left">a&lt;b<\/td>/);
});

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

Deno.test("liveDisplay() renders only when it redraws, in place", async () => {
  const jupyter = fakeJupyter();
  const clock = fakeClock();
  const live = await liveDisplay(SVG, { jupyter, minIntervalMs: 1000, now: clock.now });
  let renders = 0;
  const render = () => {
    renders++;
    return { outerHTML: `<svg aria-label="v${renders}"></svg>` };
  };
  await live.update(render); // within the interval: deferred
  await live.update(render);
  assert.equal(renders, 0);
  clock.advance(1000);
  await live.update(render);
  assert.equal(renders, 1);
  await live.flush(); // nothing pending
  await live.update(render);
  await live.flush();
  assert.equal(renders, 2);
  assert.deepEqual(
    jupyter.calls.map((
      c,
    ) => [c.options.update ?? false, (c.value as Record<string, string>)["text/plain"]]),
    [[false, "[chart: Loss]"], [true, "[chart: v1]"], [true, "[chart: v2]"]],
  );
  assert.ok(jupyter.calls.every((c) => c.options.display_id === live.displayId && c.options.raw));
});

Deno.test("liveDisplay() outside a notebook never renders", async () => {
  const live = await liveDisplay("x", { jupyter: null });
  await live.update(() => {
    throw new Error("must not render");
  });
  await live.flush();
  assert.equal(live.displayId, null);
});

Deno.test("textOf() describes DataFrames and other objects as text", () => {
  const frame = pl.DataFrame({ a: [1, 2] });
  assert.match(textOf(frame), /shape: \(2, 1\)/);
  assert.equal(textOf({ a: 1 }), "{ a: 1 }");
});
