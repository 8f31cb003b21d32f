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
  trainingMonitor,
} from "../../lib/display/show.ts";
import type { BatchProgress, EpochRecord } from "../../lib/train/fit.ts";

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
  // The caption is a block above the table (a <caption> would wrap to the table's width).
  assert.match(
    markup,
    /^<div class="cifar10-table-figure"><div class="cifar10-caption"[^>]*>Caption<\/div><table /,
  );
  assert.doesNotMatch(markup, /<caption/);
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

/** An epoch record with the given losses (the rest plausible). */
function epochRecord(
  epoch: number,
  trainLoss: number,
  validLoss: number,
  best: number,
): EpochRecord {
  return {
    epoch,
    trainLoss,
    trainAccuracy: 0.25,
    validLoss,
    validAccuracy: 0.3,
    trainImages: 60,
    validImages: 30,
    seconds: 2,
    trainImagesPerSecond: 30,
    saved: validLoss === best,
    bestValidLoss: best,
  };
}

/** One batch's progress as `fit` reports it. */
function batch(epoch: number, phase: "train" | "valid", n: number, of: number): BatchProgress {
  return {
    epoch,
    phase,
    batch: n,
    batches: of,
    images: 30 * n,
    runningLoss: 2.5 - 0.25 * epoch - 0.125 * n,
    batchLoss: 2.5 - 0.25 * epoch - 0.25 * n,
    batchImages: 30,
    runningAccuracy: 0.2,
    imagesPerSecond: 120,
    seconds: n,
  };
}

/** The text/plain or text/html of every display call with this display id. */
function sent(
  jupyter: ReturnType<typeof fakeJupyter>,
  id: string | undefined,
  mime: string,
): string[] {
  return jupyter.calls.filter((c) => c.options.display_id === id).map((c) => {
    // A chart comes as itself (the kernel asks it for its bundle), the bar as a raw bundle.
    const value = c.value as Record<string | symbol, unknown>;
    const bundle = DISPLAY_SYMBOL in value
      ? (value[DISPLAY_SYMBOL] as () => Record<string, string>)()
      : value as Record<string, string>;
    return bundle[mime]!;
  });
}

/** Feeds `monitor` one epoch: two training batches, one validation batch, the record. */
async function feedEpoch(
  monitor: Awaited<ReturnType<typeof trainingMonitor>>,
  record: EpochRecord,
  previousBest: number,
): Promise<void> {
  await monitor.onBatch(batch(record.epoch, "train", 1, 2));
  await monitor.onBatch(batch(record.epoch, "train", 2, 2));
  await monitor.onBatch(batch(record.epoch, "valid", 1, 1));
  await monitor.onEpoch(record);
  if (record.saved) {
    monitor.onSave({
      epoch: record.epoch,
      previousLoss: previousBest,
      validLoss: record.validLoss!,
      dir: null,
    });
  }
}

Deno.test("trainingMonitor() draws the bar, the live loss chart and the tutorial's lines", async () => {
  const jupyter = fakeJupyter();
  const lines: string[] = [];
  const monitor = await trainingMonitor({
    epochs: 2,
    batchesPerEpoch: 3,
    title: "Loss during training — test",
    jupyter,
    minIntervalMs: 0,
    print: (line) => lines.push(line),
  });
  const [barId, chartId] = [...new Set(jupyter.calls.map((c) => c.options.display_id))];
  assert.ok(barId !== undefined && chartId !== undefined && barId !== chartId);
  assert.match(sent(jupyter, barId, "text/plain")[0]!, /^training {3}0%.* 0\/6 /);
  await feedEpoch(monitor, epochRecord(1, 2.0, 1.75, 1.75), Infinity);
  await feedEpoch(monitor, epochRecord(2, 1.5, 1.8, 1.75), 1.75);
  await monitor.finish({
    stopReason: "completed",
    message: null,
    bestEpoch: 1,
    bestValidLoss: 1.75,
  });

  assert.deepEqual(lines, [
    "Epoch: 1 \tTraining Loss: 2.000000 \tValidation Loss: 1.750000",
    "Validation loss decreased (inf --> 1.750000).  Saving model ...",
    "Epoch: 2 \tTraining Loss: 1.500000 \tValidation Loss: 1.800000",
  ]);
  const bar = sent(jupyter, barId, "text/plain");
  // 0/6, one redraw per batch, the final state.
  assert.equal(bar.length, 1 + 6 + 1, bar.join("\n"));
  assert.match(bar[1]!, / 1\/6 .* epoch 1\/2 training 1\/2, loss 2\.125, 120 images\/s$/);
  assert.match(bar[3]!, / 3\/6 .* epoch 1\/2 validation 1\/1, loss 2\.125, /);
  assert.match(bar.at(-1)!, /^training 100%.* 6\/6 .* best epoch 1, validation loss 1\.750000$/);
  assert.match(sent(jupyter, barId, "text/html").at(-1)!, /data-fraction="1"/);
  const charts = sent(jupyter, chartId, "image/svg+xml");
  const final = charts.at(-1)!;
  assert.match(final, /aria-label="Loss during training — test"/);
  assert.equal((final.match(/<circle/g) ?? []).length, 4, "2 epochs × (training, validation)");
  assert.match(final, /class="running-loss"/);
  assert.equal((charts[0]!.match(/<circle/g) ?? []).length, 0, "the chart starts empty");
});

Deno.test("trainingMonitor()'s training-loss line runs on across epochs instead of restarting", async () => {
  // Batch losses fall steadily, 0.01 a batch, over 3 epochs of 40 batches. The epoch's own running
  // mean lags behind them and falls back to the batch loss when an epoch starts (a step of ~0.2);
  // the line must move by about one batch's change everywhere, epoch starts included.
  const jupyter = fakeJupyter();
  const monitor = await trainingMonitor({
    epochs: 3,
    batchesPerEpoch: 40,
    jupyter,
    minIntervalMs: 0,
    print: () => {},
  });
  const chartId = [...new Set(jupyter.calls.map((c) => c.options.display_id))][1];
  let lossSum = 0;
  for (let epoch = 1, t = 0; epoch <= 3; epoch++, lossSum = 0) {
    for (let n = 1; n <= 40; n++, t++) {
      const batchLoss = 2 - 0.01 * t;
      lossSum += batchLoss;
      await monitor.onBatch({
        ...batch(epoch, "train", n, 40),
        runningLoss: lossSum / n,
        batchLoss,
        batchImages: 30,
      });
    }
  }
  const svg = sent(jupyter, chartId, "image/svg+xml").at(-1)!;
  const d = /class="running-loss"[^]*?<path[^>]* d="([^"]+)"/.exec(svg)?.[1];
  assert.ok(d !== undefined, "the chart has a training-loss line");
  const ys = [...d.matchAll(/[ML]\s*[-\d.]+\s*,\s*([-\d.]+)/g)].map((m) => Number(m[1]));
  assert.equal(ys.length, 120, "one point per training batch");
  const steps = ys.slice(1).map((y, i) => Math.abs(y - ys[i]!));
  const typical = [...steps].sort((a, b) => a - b)[Math.floor(steps.length / 2)]!;
  for (const i of [39, 79]) {
    assert.ok(
      steps[i]! <= 2 * typical,
      `the line jumps ${steps[i]!.toFixed(2)} px at the start of epoch ${(i + 1) / 40 + 1}, ` +
        `against ${typical.toFixed(2)} px a batch elsewhere`,
    );
  }
});

Deno.test("trainingMonitor() continues a resumed run: earlier epochs drawn, the bar counts what is left", async () => {
  const jupyter = fakeJupyter();
  const lines: string[] = [];
  const monitor = await trainingMonitor({
    epochs: 3,
    batchesPerEpoch: 3,
    done: [epochRecord(1, 2.0, 1.75, 1.75)],
    jupyter,
    minIntervalMs: 0,
    print: (line) => lines.push(line),
  });
  const [barId, chartId] = [...new Set(jupyter.calls.map((c) => c.options.display_id))];
  assert.match(sent(jupyter, barId, "text/plain")[0]!, / 0\/6 /);
  const first = sent(jupyter, chartId, "image/svg+xml")[0]!;
  assert.equal((first.match(/<circle/g) ?? []).length, 2, "epoch 1 is on the chart at once");
  assert.match(first, /aria-label="Loss during training"/);
  await monitor.onBatch(batch(2, "train", 1, 2));
  assert.match(sent(jupyter, barId, "text/plain").at(-1)!, / 1\/6 .* epoch 2\/3 training 1\/2, /);
  assert.deepEqual(lines, [], "earlier epochs are not printed again");
});

Deno.test("trainingMonitor() after an interrupt leaves the bar where it stopped and prints why", async () => {
  const jupyter = fakeJupyter();
  const lines: string[] = [];
  const monitor = await trainingMonitor({
    epochs: 2,
    batchesPerEpoch: 3,
    jupyter,
    minIntervalMs: 0,
    print: (line) => lines.push(line),
  });
  const barId = jupyter.calls[0]!.options.display_id;
  await feedEpoch(monitor, epochRecord(1, 2.0, 1.75, 1.75), Infinity);
  await monitor.onBatch(batch(2, "train", 1, 2));
  const message = "Training stopped by request during epoch 2 (after 1 training batches); …";
  const note = 'To continue this run: resumeRun = "x"';
  await monitor.finish(
    { stopReason: "aborted", message, bestEpoch: 1, bestValidLoss: 1.75 },
    { note },
  );
  assert.match(
    sent(jupyter, barId, "text/plain").at(-1)!,
    /^training {2}66%.* 4\/6 .* interrupted$/,
  );
  assert.doesNotMatch(sent(jupyter, barId, "text/html").at(-1)!, /data-fraction="1"/);
  assert.deepEqual(lines.slice(-2), [message, note], "why it stopped, then the note");
  assert.equal(lines.length, 4);
});

Deno.test("trainingMonitor() on a terminal writes the bar and prints the lines, no chart", async () => {
  const written: string[] = [];
  const lines: string[] = [];
  const monitor = await trainingMonitor({
    epochs: 1,
    batchesPerEpoch: 3,
    jupyter: null,
    isTerminal: false,
    write: (text) => written.push(text),
    print: (line) => lines.push(line),
  });
  await feedEpoch(monitor, epochRecord(1, 2.0, 1.75, 1.75), Infinity);
  await monitor.finish({
    stopReason: "completed",
    message: null,
    bestEpoch: 1,
    bestValidLoss: 1.75,
  });
  assert.equal(lines.length, 2);
  assert.match(written[0]!, /^training {3}0%.* 0\/3 /);
  assert.match(
    written.at(-1)!,
    /^training 100%.* 3\/3 .* best epoch 1, validation loss 1\.750000\n$/,
  );
});

Deno.test("trainingMonitor() lets the event loop run between batches, at most every interval", async () => {
  const clock = fakeClock();
  const monitor = await trainingMonitor({
    epochs: 1,
    batchesPerEpoch: 3,
    jupyter: null,
    write: () => {},
    now: clock.now,
    yieldIntervalMs: 200,
  });
  // A timer stands for a signal listener: both run only when the event loop turns.
  let fired = 0;
  setTimeout(() => fired++, 0);
  await monitor.onBatch(batch(1, "train", 1, 2));
  assert.equal(fired, 0, "no turn within the interval");
  clock.advance(200);
  await monitor.onBatch(batch(1, "train", 2, 2));
  assert.equal(fired, 1, "a turn once the interval passed");
  setTimeout(() => fired++, 0);
  await monitor.onBatch(batch(1, "valid", 1, 1));
  assert.equal(fired, 1);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(fired, 2);
});

Deno.test("trainingMonitor() rejects epochs and batch counts that are not whole numbers", async () => {
  await assert.rejects(
    () => trainingMonitor({ epochs: 0, batchesPerEpoch: 3, jupyter: null }),
    new RangeError("Cannot monitor training: expected epochs to be an integer ≥ 1, found 0"),
  );
  await assert.rejects(
    () => trainingMonitor({ epochs: 2, batchesPerEpoch: 2.5, jupyter: null }),
    new RangeError(
      "Cannot monitor training: expected batchesPerEpoch to be an integer ≥ 0, found 2.5",
    ),
  );
});
