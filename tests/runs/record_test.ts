import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { readCheckpoint, readOptimizerState } from "../../lib/model/checkpoint.ts";
import { makeConfig, type TrainConfig } from "../../lib/core/config.ts";
import { CIFAR10_CLASSES, type DataSource, splitTrainValid } from "../../lib/data/load.ts";
import type { TestResult } from "../../lib/evaluate/evaluate.ts";
import { buildModel, getWeights, type Model, setWeights } from "../../lib/model/model.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";
import type { EpochRecord } from "../../lib/train/fit.ts";
import { BEST_CHECKPOINT_FOLDER, dataKind, differingSettings, findRunDir, isProcessAlive, LAST_CHECKPOINT_FOLDER, listRuns, noRunsMessage, perClassComparison, perClassComparisonTable, pickRunsToCompare, readRunRecord, RUN_CONFIG_FILE, RUN_RECORD_FILE, type RunEntry, type RunRecord, runsTable, runsTableRows, sortRuns, startRunRecord } from "../../lib/runs/record.ts";
import { formatDuration } from "../../lib/core/time.ts";
import { perClassComparisonChart, runLabel, validationLossChart } from "../../lib/plots/compare.ts";
import { main as runsMain } from "../../scripts/runs.ts";
import { ensureDenoKernel, findJupyter } from "../../scripts/_jupyter.ts";

// The cpu backend with the backend module's faster convolution gradients.
await initBackend("cpu");

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TINY: TrainConfig = makeConfig({
  convChannels: [2],
  poolEvery: 1,
  hiddenUnits: 8,
  batchSize: 10,
  epochs: 2,
  learningRate: 0.01,
  rotationDegrees: 10,
});
const SET = generateSyntheticImages(60, { seed: 7 });
const SPLIT = splitTrainValid(SET.count, 0.2, TINY.seed);
const SYNTHETIC_SOURCE: DataSource = {
  kind: "synthetic",
  path: "memory",
  checksum: "unchecked",
  md5: null,
  synthetic: true,
  description: "Synthetic shapes data set (NOT CIFAR-10)",
};
const OFFICIAL_SOURCE: DataSource = {
  kind: "archive",
  path: "data/cifar-10-binary.tar.gz",
  checksum: "official",
  md5: "c32a1d4ab5d03f1284b67883e8d87530",
  synthetic: false,
  description: "CIFAR-10 from archive (official checksum)",
};
const BACKEND = { name: "cpu", device: "JavaScript", reason: "test" };

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** A pid that no longer runs: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

interface FixtureSpec {
  id: string;
  startedAt: string;
  status?: string;
  config?: Partial<TrainConfig>;
  synthetic?: boolean;
  validLosses?: number[];
  /** Right answers per class out of 100 each, or null for no test report. */
  classCorrect?: number[] | null;
  durationSeconds?: number;
  process?: Record<string, unknown>;
}

/** Writes a run folder as the recorder does (record and config; no checkpoints). */
async function writeFixtureRun(outDir: string, spec: FixtureSpec): Promise<string> {
  const dir = `${outDir}/${spec.id}`;
  const config = makeConfig(spec.config ?? {});
  const synthetic = spec.synthetic ?? false;
  const losses = spec.validLosses ?? [1.5, 1.2];
  const best = losses.indexOf(Math.min(...losses));
  const classNames = synthetic ? ["red-square", "green-circle"] : [...CIFAR10_CLASSES];
  const correct = spec.classCorrect === undefined
    ? classNames.map((_, i) => 50 + i)
    : spec.classCorrect;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/${RUN_CONFIG_FILE}`, JSON.stringify(config));
  await Deno.writeTextFile(
    `${dir}/${RUN_RECORD_FILE}`,
    JSON.stringify({
      format: "cifar10-run",
      version: 1,
      id: spec.id,
      status: spec.status ?? "completed",
      message: null,
      startedAt: spec.startedAt,
      updatedAt: spec.startedAt,
      finishedAt: spec.startedAt,
      durationSeconds: spec.durationSeconds ?? 60,
      process: spec.process ?? null,
      backend: { name: "wasm", device: "WebAssembly", reason: "fixture" },
      data: {
        kind: synthetic ? "synthetic" : "real",
        synthetic,
        source: synthetic ? SYNTHETIC_SOURCE : OFFICIAL_SOURCE,
        classNames,
        trainImages: 100,
        validImages: 25,
        testImages: 100 * classNames.length,
      },
      config,
      model: { parameters: 1000 },
      bestEpoch: best + 1,
      bestValidLoss: losses[best],
      bestCheckpoint: BEST_CHECKPOINT_FOLDER,
      lastCheckpoint: LAST_CHECKPOINT_FOLDER,
      epochs: losses.map((validLoss, i) => ({
        epoch: i + 1,
        trainLoss: validLoss + 0.1,
        trainAccuracy: 0.5,
        validLoss,
        validAccuracy: 0.5,
        trainImages: 100,
        validImages: 25,
        seconds: 30,
        trainImagesPerSecond: 100,
        saved: i === best,
        bestValidLoss: Math.min(...losses.slice(0, i + 1)),
      })),
      test: correct === null ? null : {
        loss: 1,
        accuracy: correct.reduce((a, b) => a + b, 0) / (100 * correct.length),
        correct: correct.reduce((a, b) => a + b, 0),
        total: 100 * correct.length,
        perClass: classNames.map((name, i) => ({
          name,
          correct: correct[i]!,
          total: 100,
          accuracy: correct[i]! / 100,
        })),
        confusion: [],
        imagesPerSecond: 1000,
        epoch: best + 1,
        testedAt: spec.startedAt,
      },
      segments: [],
    }),
  );
  return dir;
}

/** Three runs: a baseline, a run with another learning rate and dropout, a synthetic one. */
async function writeFixtureRuns(outDir: string): Promise<void> {
  await writeFixtureRun(outDir, {
    id: "20261128-100000-aaaaaa",
    startedAt: "2026-11-28T10:00:00.000Z",
    validLosses: [1.5, 1.2, 1.25],
    classCorrect: [84, 88, 61, 53, 73, 71, 84, 80, 86, 82],
    durationSeconds: 3725,
  });
  await writeFixtureRun(outDir, {
    id: "20261128-110000-bbbbbb",
    startedAt: "2026-11-28T11:00:00.000Z",
    config: { learningRate: 0.01, dropout: 0.5 },
    validLosses: [1.4, 1.1],
    classCorrect: [80, 90, 65, 50, 70, 75, 85, 81, 88, 80],
    durationSeconds: 725,
  });
  await writeFixtureRun(outDir, {
    id: "20261128-120000-cccccc",
    startedAt: "2026-11-28T12:00:00.000Z",
    synthetic: true,
    config: { synthetic: true },
    validLosses: [2.1],
    classCorrect: [90, 95],
    durationSeconds: 5,
  });
}

function testResult(classCorrect: number[], classTotal: number[]): TestResult {
  const correct = classCorrect.reduce((a, b) => a + b, 0);
  const total = classTotal.reduce((a, b) => a + b, 0);
  return {
    loss: 0.75,
    correct,
    total,
    accuracy: correct / total,
    classCorrect,
    classTotal,
    predictions: new Int32Array(0),
    labels: new Int32Array(0),
    confusion: classTotal.map((_, i) => classTotal.map((_, j) => (i === j ? classCorrect[i]! : 0))),
    seconds: 1,
    imagesPerSecond: 123,
  };
}

Deno.test("startRunRecord() writes config.json and a running record with the process, backend and data", async () => {
  await withTempDir(async (outDir) => {
    const config = makeConfig({ epochs: 3, learningRate: 0.02 });
    const run = await startRunRecord(config, {
      backend: BACKEND,
      source: OFFICIAL_SOURCE,
      classNames: CIFAR10_CLASSES,
      trainImages: 40000,
      validImages: 10000,
      testImages: 10000,
      parameters: 4_198_950,
      outDir,
      id: "20261128-090000-abcdef",
    });
    assert.equal(run.dir, `${outDir}/20261128-090000-abcdef`);
    assert.equal(run.bestCheckpointDir, `${run.dir}/${BEST_CHECKPOINT_FOLDER}`);
    assert.equal(run.lastCheckpointDir, `${run.dir}/${LAST_CHECKPOINT_FOLDER}`);
    assert.equal(run.resume, null);
    assert.deepEqual(await listDir(run.dir), [RUN_CONFIG_FILE, RUN_RECORD_FILE]);
    assert.deepEqual(await readJson(`${run.dir}/${RUN_CONFIG_FILE}`), { ...config });
    const raw = await readJson(`${run.dir}/${RUN_RECORD_FILE}`);
    assert.equal(raw.status, "running");
    assert.equal(raw.id, "20261128-090000-abcdef");
    assert.equal("stale" in raw, false, "staleness is judged when read, not stored");
    const process = raw.process as Record<string, unknown>;
    assert.equal(process.pid, Deno.pid);
    assert.equal(process.host, Deno.hostname());
    assert.deepEqual(raw.backend, BACKEND);
    assert.deepEqual(raw.config, { ...config });
    assert.deepEqual(raw.data, {
      kind: "real",
      label: "CIFAR-10",
      synthetic: false,
      source: OFFICIAL_SOURCE,
      classNames: [...CIFAR10_CLASSES],
      trainImages: 40000,
      validImages: 10000,
      testImages: 10000,
    });
    assert.deepEqual(raw.model, { parameters: 4_198_950 });
    assert.deepEqual(raw.epochs, []);
    assert.equal(raw.test, null);
    // Read back while the process lives: still running, not stale.
    const record = await readRunRecord(run.dir);
    assert.equal(record.status, "running");
    assert.equal(record.stale, false);
    await run.finish("failed", "stopped by the test");
  });
});

Deno.test("RunRecorder.fit() records every epoch, the checkpoints, the outcome and the test report", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord(TINY, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      classNames: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
      outDir,
    });
    const model = buildModel(TINY);
    const seen: EpochRecord[] = [];
    try {
      const result = await run.fit(model, { set: SET, ...SPLIT }, {
        onEpoch: (record) => void seen.push(record),
      });
      assert.equal(result.stopReason, "completed");
      assert.deepEqual(seen, result.history, "the caller's onEpoch still sees every epoch");
      const afterFit = await readRunRecord(run.dir);
      assert.equal(afterFit.status, "completed");
      assert.equal(afterFit.message, null);
      assert.deepEqual(afterFit.epochs, result.history);
      assert.equal(afterFit.bestEpoch, result.bestEpoch);
      assert.equal(afterFit.bestValidLoss, result.bestValidLoss);
      assert.equal(afterFit.bestCheckpoint, BEST_CHECKPOINT_FOLDER);
      assert.equal(afterFit.lastCheckpoint, LAST_CHECKPOINT_FOLDER);
      assert.equal(afterFit.data.kind, "synthetic");
      assert.equal(afterFit.data.label, "SYNTHETIC (not CIFAR-10)");
      assert.ok(afterFit.finishedAt !== null);
      assert.ok(afterFit.durationSeconds > 0);
      assert.deepEqual(afterFit.segments.map((s) => [s.fromEpoch, s.status, s.backend]), [
        [1, "completed", "cpu"],
      ]);
      // The checkpoints: the best epoch's model, and the last epoch's model with the optimiser.
      const best = await readCheckpoint(`${run.dir}/${BEST_CHECKPOINT_FOLDER}`);
      assert.equal(best.metadata.epoch, result.bestEpoch);
      assert.equal(best.metadata.run, run.id);
      assert.deepEqual(best.weights, getWeights(model), "fit loaded the best weights back");
      const last = await readCheckpoint(`${run.dir}/${LAST_CHECKPOINT_FOLDER}`);
      assert.equal(last.metadata.epoch, 2);
      const optimizer = await readOptimizerState(`${run.dir}/${LAST_CHECKPOINT_FOLDER}`);
      assert.equal(optimizer?.className, "Adam");
      assert.equal(optimizer?.iterations, 2 * Math.ceil(SPLIT.trainIndices.length / 10));
      // The test report, per class with the record's class names.
      await run.test(testResult([3, 1, 0, 0, 0, 0, 0, 0, 0, 0], [4, 2, 0, 0, 0, 0, 0, 0, 0, 0]));
      const tested = await readRunRecord(run.dir);
      assert.equal(tested.test?.accuracy, 4 / 6);
      assert.equal(tested.test?.epoch, result.bestEpoch);
      assert.deepEqual(tested.test?.perClass.slice(0, 3), [
        { name: "a", correct: 3, total: 4, accuracy: 0.75 },
        { name: "b", correct: 1, total: 2, accuracy: 0.5 },
        { name: "c", correct: 0, total: 0, accuracy: null },
      ]);
      assert.deepEqual(
        (await listDir(run.dir)).filter((n) => n.includes(".tmp-")),
        [],
        "no temporary files left",
      );
    } finally {
      model.dispose();
    }
  });
});

Deno.test("RunRecorder.fit() records an interrupted run and keeps its checkpoints", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord({ ...TINY, epochs: 5 }, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
    });
    const model = buildModel(TINY);
    const controller = new AbortController();
    try {
      const result = await run.fit(model, { set: SET, ...SPLIT }, {
        signal: controller.signal,
        onBatch: (p) => {
          if (p.epoch === 2 && p.batch === 1) controller.abort();
        },
      });
      assert.equal(result.stopReason, "aborted");
      const record = await readRunRecord(run.dir);
      assert.equal(record.status, "interrupted");
      assert.equal(record.stale, false);
      assert.equal(record.message, result.message);
      assert.match(record.message!, /^Training stopped by request during epoch 2 /);
      assert.equal(record.epochs.length, 1);
      assert.equal(
        (await readCheckpoint(`${run.dir}/${BEST_CHECKPOINT_FOLDER}`)).metadata.epoch,
        1,
      );
      assert.equal(
        (await readCheckpoint(`${run.dir}/${LAST_CHECKPOINT_FOLDER}`)).metadata.epoch,
        1,
      );
    } finally {
      model.dispose();
    }
  });
});

Deno.test("RunRecorder.fit() records a diverged loss and a thrown error", async (t) => {
  await withTempDir(async (outDir) => {
    await t.step("diverged", async () => {
      const run = await startRunRecord(TINY, {
        backend: BACKEND,
        source: SYNTHETIC_SOURCE,
        outDir,
      });
      const model = buildModel(TINY);
      try {
        const weights = getWeights(model);
        weights["fc2.bias"]!.values.fill(NaN);
        setWeights(model, weights);
        const result = await run.fit(model, { set: SET, ...SPLIT });
        assert.equal(result.stopReason, "non-finite-loss");
        const record = await readRunRecord(run.dir);
        assert.equal(record.status, "diverged");
        assert.equal(record.message, result.message);
      } finally {
        model.dispose();
      }
    });
    await t.step("failed", async () => {
      const run = await startRunRecord(TINY, {
        backend: BACKEND,
        source: SYNTHETIC_SOURCE,
        outDir,
      });
      const model = buildModel(TINY);
      try {
        await assert.rejects(
          () =>
            run.fit(model, { set: SET, ...SPLIT }, {
              onEpoch: () => {
                throw new TypeError("display broke");
              },
            }),
          { name: "TypeError", message: "display broke" },
        );
        const record = await readRunRecord(run.dir);
        assert.equal(record.status, "failed");
        assert.equal(record.message, "Training failed: display broke");
        assert.equal(record.epochs.length, 1, "the epoch was recorded before the callback threw");
      } finally {
        model.dispose();
      }
    });
  });
});

Deno.test("RunRecorder.fit() with stopOnInterrupt stops at a batch boundary on SIGINT and the process lives on", async () => {
  // What a Jupyter kernel interrupt does: SIGINT to the kernel's process (which, without a
  // listener, ends the Deno kernel). In a child process: `deno test` handles SIGINT itself.
  await withTempDir(async (dir) => {
    const lib = JSON.stringify(new URL("../../lib/mod.ts", import.meta.url).href);
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `
      import {
        buildModel, generateSyntheticImages, initBackend, makeConfig, splitTrainValid, startRunRecord,
      } from ${lib};
      await initBackend("cpu");
      const config = makeConfig(${JSON.stringify({ ...TINY, epochs: 500 })});
      const set = generateSyntheticImages(60, { seed: 7 });
      const run = await startRunRecord(config, {
        backend: { name: "cpu", device: "JavaScript", reason: "test" },
        source: ${JSON.stringify(SYNTHETIC_SOURCE)},
        outDir: ${JSON.stringify(`${dir}/runs`)},
      });
      const model = buildModel(config);
      const result = await run.fit(model, { set, ...splitTrainValid(60, 0.2, config.seed) }, {
        stopOnInterrupt: true,
        onEpoch: (r) => console.log("EPOCH " + r.epoch),
      });
      console.log("RESULT " + JSON.stringify({ stopReason: result.stopReason, dir: run.dir }));
      `,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", `${ROOT}/deno.json`, `${dir}/child.ts`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    while (!stdout.includes("EPOCH 1")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
    }
    child.kill("SIGINT");
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      stdout += chunk.value;
    }
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    assert.equal(status.code, 0, `the process finished normally: ${stderr}`);
    const result = JSON.parse(stdout.split("RESULT ")[1]!);
    assert.equal(result.stopReason, "aborted");
    const record = await readRunRecord(result.dir);
    assert.equal(record.status, "interrupted");
    assert.ok(record.epochs.length >= 1 && record.epochs.length < 500);
    assert.equal(
      (await readCheckpoint(`${result.dir}/${LAST_CHECKPOINT_FOLDER}`)).metadata.epoch,
      record.epochs.length,
    );
  });
});

Deno.test("RunRecorder.fit() rewrites the record as a heartbeat while an epoch runs", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord({ ...TINY, epochs: 1 }, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
      heartbeatMs: 0,
    });
    const started = run.record().process!.heartbeatAt;
    const beats: string[] = [];
    const model = buildModel(TINY);
    try {
      await run.fit(model, { set: SET, ...SPLIT }, {
        onBatch: async (p) => {
          if (p.phase !== "train") return;
          // Make each beat's time differ, then read what the recorder wrote before this call.
          await new Promise((resolve) => setTimeout(resolve, 2));
          const raw = await readJson(`${run.dir}/${RUN_RECORD_FILE}`);
          assert.deepEqual(raw.epochs, [], "no epoch finished yet");
          beats.push((raw.process as { heartbeatAt: string }).heartbeatAt);
        },
      });
    } finally {
      model.dispose();
    }
    assert.equal(beats.length, Math.ceil(SPLIT.trainIndices.length / TINY.batchSize));
    assert.ok(beats[0]! >= started);
    assert.equal(new Set(beats).size, beats.length, "a new heartbeat for every batch");
  });
});

Deno.test("the run record is replaced atomically: a reader never sees a partial file", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord(TINY, { backend: BACKEND, source: SYNTHETIC_SOURCE, outDir });
    const path = `${run.dir}/${RUN_RECORD_FILE}`;
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        JSON.parse(await Deno.readTextFile(path)); // throws on a partial file
        reads++;
      }
    })();
    const base: EpochRecord = {
      epoch: 1,
      trainLoss: 1,
      trainAccuracy: 0.5,
      validLoss: 1,
      validAccuracy: 0.5,
      trainImages: 1,
      validImages: 1,
      seconds: 1,
      trainImagesPerSecond: 1,
      saved: true,
      bestValidLoss: 1,
    };
    for (let epoch = 1; epoch <= 200; epoch++) await run.epoch({ ...base, epoch });
    writing = false;
    await reader;
    assert.ok(reads > 0);
    assert.equal((await readRunRecord(run.dir)).epochs.length, 200);
    assert.deepEqual(await listDir(run.dir), [RUN_CONFIG_FILE, RUN_RECORD_FILE]);
    await run.finish("completed");
  });
});

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

Deno.test("runsTableRows() shows the settings that differ and the results, synthetic runs marked", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const runs = await listRuns(outDir);
    assert.deepEqual(differingSettings(runs.map((r) => r.record)), ["learningRate", "dropout"]);
    const rows = runsTableRows(runs, { sort: "test-accuracy" });
    const common = { status: "completed", backend: "wasm" };
    assert.deepEqual(rows, [
      {
        run: "20261128-120000-cccccc",
        ...common,
        data: "SYNTHETIC (not CIFAR-10)",
        learningRate: 0.001,
        dropout: 0.25,
        "epochs done": 1,
        "best epoch": 1,
        "best valid loss": 2.1,
        "test accuracy (%)": 92.5,
        duration: "5s",
      },
      {
        run: "20261128-110000-bbbbbb",
        ...common,
        data: "CIFAR-10",
        learningRate: 0.01,
        dropout: 0.5,
        "epochs done": 2,
        "best epoch": 2,
        "best valid loss": 1.1,
        "test accuracy (%)": 76.4,
        duration: "12m 05s",
      },
      {
        run: "20261128-100000-aaaaaa",
        ...common,
        data: "CIFAR-10",
        learningRate: 0.001,
        dropout: 0.25,
        "epochs done": 3,
        "best epoch": 2,
        "best valid loss": 1.2,
        "test accuracy (%)": 76.2,
        duration: "1h 02m",
      },
    ]);
    assert.deepEqual(Object.keys(rows[0]!), [
      "run",
      "status",
      "data",
      "backend",
      "learningRate",
      "dropout",
      "epochs done",
      "best epoch",
      "best valid loss",
      "test accuracy (%)",
      "duration",
    ]);
    // One run: nothing differs, so no settings columns.
    assert.deepEqual(Object.keys(runsTableRows(runs.slice(0, 1))[0]!), [
      "run",
      "status",
      "data",
      "backend",
      "epochs done",
      "best epoch",
      "best valid loss",
      "test accuracy (%)",
      "duration",
    ]);
  });
});

Deno.test("sortRuns() orders by each key, runs without the value last", async (t) => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    await writeFixtureRun(outDir, {
      id: "20261128-130000-dddddd",
      startedAt: "2026-11-28T13:00:00.000Z",
      status: "interrupted",
      validLosses: [1.0],
      classCorrect: null,
      durationSeconds: 100,
    });
    const runs = await listRuns(outDir);
    const ids = (sorted: RunEntry[]) => sorted.map((r) => r.record.id.slice(-1)).join("");
    const cases: [string, Parameters<typeof sortRuns>[1], string][] = [
      ["started: newest first", { sort: "started" }, "dcba"],
      ["test accuracy: best first, untested last", { sort: "test-accuracy" }, "cbad"],
      [
        "test accuracy reversed: untested still last",
        { sort: "test-accuracy", reverse: true },
        "abcd",
      ],
      ["validation loss: lowest first", { sort: "valid-loss" }, "dbac"],
      ["duration: longest first", { sort: "duration" }, "abdc"],
      ["epochs: most first, ties in start order", { sort: "epochs" }, "abcd"],
      ["status", { sort: "status" }, "abcd"],
      ["run id", { sort: "run", reverse: true }, "dcba"],
    ];
    for (const [name, options, expected] of cases) {
      await t.step(name, () => assert.equal(ids(sortRuns(runs, options)), expected));
    }
    assert.throws(() => sortRuns(runs, { sort: "speed" as never }), {
      name: "RangeError",
      message: 'Cannot sort runs by "speed": expected one of started, test-accuracy, valid-loss, ' +
        "duration, epochs, status, run",
    });
  });
});

Deno.test("runsTable() is a polars DataFrame with one row per run, empty for no runs", async () => {
  await withTempDir(async (outDir) => {
    assert.equal(runsTable([]).height, 0);
    await writeFixtureRuns(outDir);
    const frame = runsTable(await listRuns(outDir), { sort: "valid-loss" });
    assert.equal(frame.height, 3);
    assert.deepEqual(frame.columns.slice(0, 6), [
      "run",
      "status",
      "data",
      "backend",
      "learningRate",
      "dropout",
    ]);
    assert.deepEqual(frame.getColumn("best valid loss").toArray(), [1.1, 1.2, 2.1]);
    assert.deepEqual(frame.getColumn("data").toArray(), [
      "CIFAR-10",
      "CIFAR-10",
      "SYNTHETIC (not CIFAR-10)",
    ]);
  });
});

Deno.test("perClassComparison() sets two runs side by side and refuses what cannot be compared", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    await writeFixtureRun(outDir, {
      id: "untested",
      startedAt: "2026-11-28T13:00:00.000Z",
      status: "interrupted",
      classCorrect: null,
    });
    const [a, b, synthetic, untested] = await listRuns(outDir) as [
      RunEntry,
      RunEntry,
      RunEntry,
      RunEntry,
    ];
    const rows = perClassComparison(a, b);
    assert.equal(rows.length, 10);
    assert.deepEqual(rows[0], { className: "airplane", first: 84, second: 80, difference: -4 });
    assert.deepEqual(rows[2], { className: "bird", first: 61, second: 65, difference: 4 });
    const frame = perClassComparisonTable(a, b);
    assert.deepEqual(frame.columns, [
      "class",
      "20261128-100000-aaaaaa (%)",
      "20261128-110000-bbbbbb (%)",
      "difference (points)",
    ]);
    assert.deepEqual(frame.getColumn("difference (points)").toArray().slice(0, 4), [-4, 2, 4, -3]);
    assert.throws(() => perClassComparison(a, untested), {
      name: "TypeError",
      message:
        'Cannot compare per-class accuracy: run "untested" has no test report (status interrupted)',
    });
    assert.throws(() => perClassComparison(a, synthetic), (error: Error) => {
      assert.equal(error.name, "TypeError");
      assert.ok(error.message.startsWith(
        'Cannot compare per-class accuracy of runs "20261128-100000-aaaaaa" and ' +
          '"20261128-120000-cccccc": they have different classes (airplane, ',
      ));
      return true;
    });
    // The pair to compare: named ones, else the most accurate.
    // The most accurate run is synthetic and has no partner: the two best CIFAR-10 runs.
    assert.deepEqual(pickRunsToCompare([a, b, synthetic, untested]).map((r) => r.record.id), [
      "20261128-110000-bbbbbb",
      "20261128-100000-aaaaaa",
    ]);
    assert.deepEqual(pickRunsToCompare([synthetic, untested]).map((r) => r.record.id), [
      "20261128-120000-cccccc",
    ]);
    assert.deepEqual(
      pickRunsToCompare([a, b, untested], [a.dir]).map((r) => r.record.id),
      ["20261128-100000-aaaaaa", "20261128-110000-bbbbbb"],
    );
    assert.deepEqual(pickRunsToCompare([untested]), []);
    assert.throws(() => pickRunsToCompare([a, untested], ["untested"]), {
      name: "RangeError",
      message: 'Cannot compare run "untested": it has no test report (status interrupted)',
    });
    assert.throws(() => pickRunsToCompare([a], ["nope"]), {
      name: "RangeError",
      message: 'Cannot compare run "nope": no such run (runs: 20261128-100000-aaaaaa)',
    });
  });
});

Deno.test("validationLossChart() overlays one curve per run, synthetic runs dashed and labelled", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const runs = await listRuns(outDir);
    const chart = validationLossChart(runs, { title: "Validation loss" });
    assert.equal(chart.tagName.toLowerCase(), "svg");
    const lines = [...chart.querySelectorAll('g[aria-label="line"]')];
    assert.equal(lines.length, 3, "one line per run");
    const strokes = lines.map((g) => g.getAttribute("stroke"));
    assert.equal(new Set(strokes).size, 3, "one colour per run");
    assert.deepEqual(
      lines.map((g) => g.getAttribute("stroke-dasharray")),
      [null, null, "6,4"],
      "the synthetic run is dashed",
    );
    // Points: 3 + 2 + 1 epochs.
    const paths = lines.map((g) => g.querySelector("path")!.getAttribute("d")!);
    assert.deepEqual(paths.map((d) => (d.match(/[ML]/g) ?? []).length), [3, 2, 1]);
    const legend = [...chart.querySelectorAll("g.legend text")].map((t) => t.textContent);
    assert.deepEqual(legend, [
      "━ 20261128-100000-aaaaaa (test 76.2%)",
      "━ 20261128-110000-bbbbbb (test 76.4%)",
      "┅ 20261128-120000-cccccc (test 92.5%) SYNTHETIC",
    ]);
    assert.equal(runLabel(runs[2]!), "20261128-120000-cccccc (test 92.5%) SYNTHETIC");
    // Zero runs and runs without epochs still draw a chart.
    const empty = validationLossChart([]);
    assert.equal(empty.querySelectorAll('g[aria-label="line"]').length, 0);
    assert.match(empty.outerHTML, /no epochs recorded yet/);
  });
});

Deno.test("perClassComparisonChart() draws two bars per class, labelled", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const [a, b] = await listRuns(outDir) as [RunEntry, RunEntry];
    const chart = perClassComparisonChart(a, b, { title: "Per class" });
    assert.equal(chart.querySelectorAll('g[aria-label="bar"] rect').length, 20);
    const labels = [...chart.querySelectorAll("g.bar-label text")].map((t) => t.textContent);
    assert.equal(labels.length, 20);
    assert.ok(labels.includes("84.0%") && labels.includes("80.0%"), labels.join(","));
    const legend = [...chart.querySelectorAll("g.legend text")].map((t) => t.textContent);
    assert.equal(legend.length, 2, "the legend is drawn once, not once per class");
  });
});

Deno.test("dataKind() and formatDuration() label runs for tables", () => {
  assert.equal(dataKind(SYNTHETIC_SOURCE), "synthetic");
  assert.equal(dataKind(OFFICIAL_SOURCE), "real");
  assert.equal(dataKind({ ...OFFICIAL_SOURCE, checksum: "unofficial" }), "local copy");
  assert.equal(
    dataKind({ ...OFFICIAL_SOURCE, kind: "folder", checksum: "unchecked" }),
    "local copy",
  );
  assert.deepEqual([0, 59.4, 60, 3599, 3600, 86399].map((s) => formatDuration(s)), [
    "0s",
    "59s",
    "1m 00s",
    "59m 59s",
    "1h 00m",
    "23h 59m",
  ]);
});

Deno.test("deno task runs prints the table, the comparison and the chart; no runs gives the hint", async () => {
  await withTempDir(async (outDir) => {
    const io = () => {
      const out: string[] = [], err: string[] = [];
      return {
        out,
        err,
        io: { print: (l: string) => out.push(l), printError: (l: string) => err.push(l), env: {} },
      };
    };
    const empty = io();
    assert.equal(await runsMain(["--dir", outDir], empty.io), 0);
    assert.deepEqual(empty.out, [noRunsMessage(outDir)]);

    await writeFixtureRuns(outDir);
    const full = io();
    const svg = `${outDir}/chart.svg`;
    assert.equal(
      await runsMain(
        ["--dir", outDir, "--sort", "valid-loss", "--compare", "best", "--svg", svg],
        full.io,
      ),
      0,
    );
    const text = full.out.join("\n");
    const lines = text.split("\n");
    assert.equal(lines[0], `3 runs under ${outDir} (sorted by valid-loss)`);
    assert.match(
      lines[1]!,
      /^run\s+status\s+data\s+backend\s+learningRate\s+dropout\s+epochs done/,
    );
    assert.ok(lines[3]!.startsWith("20261128-110000-bbbbbb  completed  CIFAR-10 "), lines[3]);
    assert.ok(lines[5]!.includes("SYNTHETIC (not CIFAR-10)"), lines[5]);
    assert.match(text, /Runs marked SYNTHETIC trained on generated shapes, not CIFAR-10\./);
    assert.match(
      text,
      /\nTest accuracy per class\nclass\s+20261128-110000-bbbbbb \(%\)\s+20261128-100000-aaaaaa \(%\)/,
    );
    assert.match(await Deno.readTextFile(svg), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);

    const compared = io();
    assert.equal(
      await runsMain([
        "--dir",
        outDir,
        "--compare",
        "20261128-100000-aaaaaa,20261128-110000-bbbbbb",
      ], compared.io),
      0,
    );
    const table = compared.out.join("\n").split("Test accuracy per class\n")[1]!.split("\n");
    assert.match(
      table[0]!,
      /^class\s+20261128-100000-aaaaaa \(%\)\s+20261128-110000-bbbbbb \(%\)\s+difference \(points\)$/,
    );
    assert.match(table[2]!, /^airplane\s+84\s+80\s+-4$/);

    const json = io();
    assert.equal(await runsMain(["--dir", outDir, "--json"], json.io), 0);
    const records = JSON.parse(json.out.join("\n")) as { dir: string; record: RunRecord }[];
    assert.deepEqual(records.map((r) => r.record.id), [
      "20261128-100000-aaaaaa",
      "20261128-110000-bbbbbb",
      "20261128-120000-cccccc",
    ]);

    for (
      const [args, message] of [
        [
          ["--sort", "speed"],
          'runs: Cannot parse --sort: expected one of started, test-accuracy, valid-loss, duration, epochs, status, run, found "speed"',
        ],
        [
          ["--epochs", "3"],
          'runs: Cannot use argument "--epochs": unknown flag; allowed flags: --dir, --sort, --compare, --svg, --reverse, --json, --help',
        ],
        [
          ["--compare", "one"],
          'runs: Cannot parse --compare: expected two run ids separated by a comma, or best, found "one"',
        ],
        [["--dir"], "runs: Cannot parse --dir: expected a value after it, found nothing"],
      ] as [string[], string][]
    ) {
      const bad = io();
      assert.equal(await runsMain(args, bad.io), 2, args.join(" "));
      assert.equal(bad.err[0], message);
      assert.deepEqual(bad.out, []);
    }
  });
});

Deno.test("the run recorder leaks no tensors", async () => {
  await withTempDir(async (outDir) => {
    const run = await startRunRecord({ ...TINY, epochs: 1 }, {
      backend: BACKEND,
      source: SYNTHETIC_SOURCE,
      outDir,
    });
    const model: Model = buildModel(TINY);
    const before = tf.memory().numTensors;
    await run.fit(model, { set: SET, ...SPLIT });
    assert.equal(tf.memory().numTensors, before, "fit's own optimiser is disposed");
    model.dispose();
  });
});

/** Whether Jupyter and the project's Deno kernel are installed (`./run setup`). */
/** The project's pinned Jupyter (`./run setup`) and its Deno kernel, or null without them. */
const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(ROOT);

Deno.test({
  name: "notebooks/compare_runs.ipynb executes headless with zero and with several runs",
  ignore: jupyter === null,
  fn: async (t) => {
    await withTempDir(async (tmp) => {
      const execute = async (runsDir: string) => {
        const output = `${tmp}/executed.ipynb`;
        const result = await new Deno.Command(jupyter!.jupyter, {
          args: [
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.kernel_name=deno",
            "--ExecutePreprocessor.timeout=120",
            `${ROOT}/notebooks/compare_runs.ipynb`,
            "--output",
            output,
          ],
          env: { ...kernel!.env, CIFAR10_RUNS_DIR: runsDir, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(result.success, new TextDecoder().decode(result.stderr));
        const notebook = JSON.parse(await Deno.readTextFile(output));
        const outputs: Record<string, { data?: Record<string, unknown>; output_type: string }[]> =
          {};
        for (const cell of notebook.cells) outputs[cell.id] = cell.outputs ?? [];
        const text = (id: string) =>
          (outputs[id] ?? []).map((o) => [o.data?.["text/plain"] ?? ""].flat().join("")).join("\n");
        return { outputs, text };
      };
      await t.step("zero runs: the hint in every section", async () => {
        const { text } = await execute(`${tmp}/empty-runs`);
        for (const id of ["table", "curves", "classes"]) {
          assert.equal(text(id), noRunsMessage(`${tmp}/empty-runs`), id);
        }
      });
      await t.step("three runs: the table, the chart and the comparison", async () => {
        await writeFixtureRuns(`${tmp}/runs`);
        const { outputs, text } = await execute(`${tmp}/runs`);
        assert.match(text("table"), /^3 runs under .*, sorted by test-accuracy/);
        assert.match(text("table"), /SYNTHETIC \(not CIFAR-10\)/);
        assert.equal(
          outputs.curves!.filter((o) => o.data?.["image/svg+xml"] !== undefined).length,
          1,
        );
        assert.ok(
          outputs.classes!.filter((o) => o.data?.["image/svg+xml"] !== undefined).length === 1,
          "the per-class chart",
        );
        assert.match(
          text("classes"),
          /Test accuracy per class \(%\): 20261128-110000-bbbbbb vs 20261128-100000-aaaaaa/,
        );
      });
    });
  },
});
