import assert from "node:assert/strict";
import { DISPLAY_SYMBOL } from "../../lib/core/html.ts";
import { trainingMonitor } from "../../lib/display/monitor.ts";
import { type BatchProgress, type EpochRecord, lossTracePoint } from "../../lib/train/mod.ts";
import { fakeClock, fakeJupyter } from "./_fakes.ts";

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

/** The y values of the chart's training-loss line, in drawing order. */
function lineYs(svg: string): number[] {
  const d = /class="running-loss"[^]*?<path[^>]* d="([^"]+)"/.exec(svg)?.[1];
  assert.ok(d !== undefined, "the chart has a training-loss line");
  return [...d.matchAll(/[ML]\s*[-\d.]+\s*,\s*([-\d.]+)/g)].map((m) => Number(m[1]));
}

/**
 * Feeds `epochs` epochs of 40 training batches whose losses fall 0.01 a batch, each followed by
 * its record, whose loss trace is what the loop computes (the mean over each tenth).
 */
async function feedFallingLosses(
  monitor: Awaited<ReturnType<typeof trainingMonitor>>,
  epochs: readonly number[],
): Promise<EpochRecord[]> {
  const records: EpochRecord[] = [];
  for (const epoch of epochs) {
    const sums: number[] = [], counts: number[] = [];
    for (let n = 1; n <= 40; n++) {
      const batchLoss = 2 - 0.01 * ((epoch - 1) * 40 + n - 1);
      const { point } = lossTracePoint(n - 1, 40);
      sums[point] = (sums[point] ?? 0) + batchLoss;
      counts[point] = (counts[point] ?? 0) + 1;
      await monitor.onBatch({ ...batch(epoch, "train", n, 40), batchLoss, batchImages: 30 });
    }
    const record = {
      ...epochRecord(epoch, 1.5, 1.5, 1.5),
      trainLossTrace: sums.map((sum, point) => sum / counts[point]!),
    };
    await monitor.onEpoch(record);
    records.push(record);
  }
  return records;
}

Deno.test("trainingMonitor()'s training-loss line: ten points an epoch, running on across epochs", async () => {
  const jupyter = fakeJupyter();
  const monitor = await trainingMonitor({
    epochs: 3,
    batchesPerEpoch: 40,
    jupyter,
    minIntervalMs: 0,
    print: () => {},
  });
  const chartId = [...new Set(jupyter.calls.map((c) => c.options.display_id))][1];
  await feedFallingLosses(monitor, [1, 2, 3]);
  const ys = lineYs(sent(jupyter, chartId, "image/svg+xml").at(-1)!);
  assert.equal(ys.length, 30, "the mean over each tenth of each epoch");
  // The losses fall steadily: so does the line, by the same step at epoch starts as elsewhere.
  const steps = ys.slice(1).map((y, i) => y - ys[i]!);
  for (const [i, step] of steps.entries()) {
    assert.ok(Math.abs(step - steps[0]!) < 0.05, `step ${i} is ${step}, against ${steps[0]}`);
  }
});

Deno.test("trainingMonitor() draws a resumed run's chart as the uninterrupted run's, from the record", async () => {
  const straight = fakeJupyter();
  const whole = await trainingMonitor({
    epochs: 3,
    batchesPerEpoch: 40,
    jupyter: straight,
    minIntervalMs: 0,
    print: () => {},
  });
  const records = await feedFallingLosses(whole, [1, 2, 3]);
  const wholeId = [...new Set(straight.calls.map((c) => c.options.display_id))][1];
  const expected = sent(straight, wholeId, "image/svg+xml").at(-1)!;

  // The same run stopped after epoch 2, its records read back, and resumed.
  const later = fakeJupyter();
  const resumed = await trainingMonitor({
    epochs: 3,
    batchesPerEpoch: 40,
    done: records.slice(0, 2),
    jupyter: later,
    minIntervalMs: 0,
    print: () => {},
  });
  const resumedId = [...new Set(later.calls.map((c) => c.options.display_id))][1];
  assert.equal(lineYs(sent(later, resumedId, "image/svg+xml")[0]!).length, 20, "at once");
  await feedFallingLosses(resumed, [3]);
  const drawn = sent(later, resumedId, "image/svg+xml").at(-1)!;
  assert.deepEqual(lineYs(drawn), lineYs(expected));
  assert.equal(drawn, expected, "one form across the resume");
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
