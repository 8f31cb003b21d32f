import assert from "node:assert/strict";
import { listDir, removeCheckpoint, skipName, withTempDir } from "../_util.ts";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import {
  loadModel,
  readCheckpoint,
  readOptimizerState,
  saveCheckpoint,
} from "../../lib/model/checkpoint.ts";
import { makeConfig, type OptimizerName, type TrainConfig } from "../../lib/core/config.ts";
import { splitTrainValid } from "../../lib/data/split.ts";
import { buildModel, getWeights, type Model, type WeightValues } from "../../lib/model/model.ts";
import { type EpochRecord, type FitResult } from "../../lib/train/session.ts";
import { fit } from "../../lib/train/fit.ts";
import { readResumeState } from "../../lib/train/resume.ts";
import { BASE, BASE_SET } from "./_fixtures.ts";
import { SYNTHETIC_SOURCE } from "../runs/_fixtures.ts";
import { displayPath } from "../../lib/core/paths.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  LAST_CHECKPOINT_FOLDER,
  openRunRecord,
  readRunRecord,
  resumeConfig,
  resumeRunRecord,
  RUN_CONFIG_FILE,
  RUN_RECORD_FILE,
  startRunRecord,
} from "../../lib/runs/mod.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

// A small network and synthetic set. 160 training images in batches of 8 make 20 Adam steps an
// epoch: after 20 steps, β₂ᵗ recomputed with pow (as tfjs's own Adam.setWeights does) differs in
// its last bit from the running float32 product training uses, which a resume must reproduce.
const SET = BASE_SET;
const SPLIT = splitTrainValid(SET.count, 0.2, BASE.seed);
const DATA = { set: SET, ...SPLIT };
const SOURCE = SYNTHETIC_SOURCE;

const wasm = await initBackend("wasm");

function assertSameWeights(
  actual: Record<string, WeightValues>,
  expected: Record<string, WeightValues>,
  what: string,
): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected), what);
  for (const name of Object.keys(expected)) {
    const a = actual[name]!.values, b = expected[name]!.values;
    const differing = a.findIndex((v, i) => v !== b[i]);
    assert.equal(
      differing,
      -1,
      `${what}: ${name}[${differing}] ${a[differing]} vs ${b[differing]}`,
    );
  }
}

/** What must match between a straight run and an interrupted-and-resumed one. */
function losses(history: readonly EpochRecord[]) {
  return history.map((r) => ({
    epoch: r.epoch,
    trainLoss: r.trainLoss,
    trainAccuracy: r.trainAccuracy,
    validLoss: r.validLoss,
    validAccuracy: r.validAccuracy,
    saved: r.saved,
    bestValidLoss: r.bestValidLoss,
  }));
}

interface Straight {
  result: FitResult;
  weights: Record<string, WeightValues>;
  last: Record<string, WeightValues>;
}

/** Trains `config.epochs` epochs without interruption. */
async function trainStraight(config: TrainConfig, dir: string): Promise<Straight> {
  const model = buildModel(config);
  try {
    const result = await fit(model, DATA, { config, lastCheckpointDir: `${dir}/straight-last` });
    const last = (await readCheckpoint(`${dir}/straight-last`)).weights;
    return { result, weights: getWeights(model), last };
  } finally {
    model.dispose();
  }
}

/** Trains until `stopAt` (epoch, batch), as Ctrl-C would stop it, with both checkpoints. */
async function trainInterrupted(
  config: TrainConfig,
  dir: string,
  stopAt: [number, number],
): Promise<FitResult> {
  const model = buildModel(config);
  const controller = new AbortController();
  try {
    return await fit(model, DATA, {
      config,
      checkpointDir: `${dir}/best`,
      lastCheckpointDir: `${dir}/last`,
      signal: controller.signal,
      onBatch: (p) => {
        if (p.epoch === stopAt[0] && p.phase === "train" && p.batch === stopAt[1]) {
          controller.abort();
        }
      },
    });
  } finally {
    model.dispose();
  }
}

Deno.test("fit() resumed after an interruption gives the same losses and weights as an uninterrupted run (wasm)", async (t) => {
  assert.equal(wasm.name, "wasm");
  const cases: [OptimizerName, Partial<TrainConfig>][] = [
    ["adam", {}],
    ["sgd", { learningRate: 0.02, momentum: 0.9 }],
    ["rmsprop", { learningRate: 0.001, momentum: 0.5 }],
    ["adagrad", { learningRate: 0.02 }],
  ];
  for (const [optimizer, overrides] of cases) {
    await t.step(optimizer, async () => {
      await withTempDir(async (dir) => {
        const config = makeConfig({ ...BASE, ...overrides, optimizer });
        const straight = await trainStraight(config, dir);
        assert.equal(straight.result.history.length, 3);

        // 1. Stop in the middle of epoch 2: epoch 1 is the last checkpoint.
        const first = await trainInterrupted(config, dir, [2, 3]);
        assert.equal(first.stopReason, "aborted");
        assert.equal(first.history.length, 1);

        // 2. A new model and optimiser (as after a restart), continued from the checkpoint.
        const before = tf.memory().numTensors;
        const resume = await readResumeState(`${dir}/last`, { bestCheckpointDir: `${dir}/best` });
        assert.equal(resume.epoch, 1);
        assert.equal(resume.bestEpoch, 1);
        assert.equal(resume.bestValidLoss, first.bestValidLoss);
        const model = buildModel(config);
        try {
          const second = await fit(model, DATA, {
            config,
            resume,
            checkpointDir: `${dir}/best`,
            lastCheckpointDir: `${dir}/last`,
          });
          assert.deepEqual(second.history.map((r) => r.epoch), [2, 3]);
          assert.deepEqual(
            losses([...first.history, ...second.history]),
            losses(straight.result.history),
          );
          assert.equal(second.bestEpoch, straight.result.bestEpoch);
          assert.equal(second.bestValidLoss, straight.result.bestValidLoss);
          assertSameWeights(getWeights(model), straight.weights, "final (best) weights");
          assertSameWeights(
            (await readCheckpoint(`${dir}/last`)).weights,
            straight.last,
            "last-epoch weights",
          );
        } finally {
          model.dispose();
        }
        assert.equal(tf.memory().numTensors, before, "no tensors leaked by resuming");
      });
    });
  }
});

Deno.test("fit() resumed without the optimiser state does not reproduce the run (the state matters)", async () => {
  await withTempDir(async (dir) => {
    const config = makeConfig({ ...BASE, epochs: 2 });
    const straight = await trainStraight(config, dir);
    await trainInterrupted(config, dir, [2, 1]);
    const resume = await readResumeState(`${dir}/last`);
    const model = buildModel(config);
    try {
      const second = await fit(model, DATA, { config, resume: { ...resume, optimizer: null } });
      assert.notEqual(second.history[0]!.trainLoss, straight.result.history[1]!.trainLoss);
    } finally {
      model.dispose();
    }
  });
});

Deno.test("fit() resumes the fused Adam of the blas backend exactly", async (t) => {
  let blas = false;
  try {
    blas = (await initBackend("blas")).name === "blas";
  } catch {
    // No OpenBLAS here: nothing to test.
  }
  if (!blas) {
    await t.step({
      name: skipName(
        "the blas backend",
        true,
        "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
      ),
      ignore: true,
      fn: () => {},
    });
    return;
  }
  try {
    await withTempDir(async (dir) => {
      const config = makeConfig({ ...BASE, epochs: 2 });
      const straight = await trainStraight(config, dir);
      await trainInterrupted(config, dir, [2, 2]);
      const resume = await readResumeState(`${dir}/last`, { bestCheckpointDir: `${dir}/best` });
      assert.equal(resume.optimizer?.className, "FusedAdam");
      const model = buildModel(config);
      try {
        const second = await fit(model, DATA, { config, resume });
        assert.deepEqual(losses(second.history), losses(straight.result.history.slice(1)));
        assertSameWeights(getWeights(model), straight.weights, "final weights");
      } finally {
        model.dispose();
      }
    });
  } finally {
    await initBackend("wasm");
  }
});

Deno.test("readResumeState() repairs a best checkpoint the process did not get to write, and rejects a mismatched one", async (t) => {
  await withTempDir(async (dir) => {
    const config = makeConfig({ ...BASE, epochs: 2 });
    const first = await trainInterrupted(config, dir, [2, 1]);
    assert.equal(first.bestEpoch, 1);
    await t.step("the last epoch was the best, its best checkpoint is missing", async () => {
      await removeCheckpoint(`${dir}/best`);
      const resume = await readResumeState(`${dir}/last`, { bestCheckpointDir: `${dir}/best` });
      assert.equal(resume.rewriteBest, true);
      assertSameWeights(resume.bestWeights!, resume.weights, "best = last");
      const model = buildModel(config);
      try {
        // Stopped again at once: the best checkpoint is written before training goes on.
        const controller = new AbortController();
        controller.abort();
        await fit(model, DATA, {
          config,
          resume,
          checkpointDir: `${dir}/best`,
          signal: controller.signal,
        });
      } finally {
        model.dispose();
      }
      const best = await readCheckpoint(`${dir}/best`);
      assert.equal(best.metadata.epoch, 1);
      assertSameWeights(best.weights, resume.weights, "rewritten best checkpoint");
    });
    await t.step("the best checkpoint holds another epoch than the last one names", async () => {
      // Pretend the last checkpoint is epoch 2 with epoch 1 still the best.
      const last = await loadModel(`${dir}/last`);
      await saveCheckpoint(last.model, `${dir}/last`, {
        config,
        metadata: { epoch: 2, bestEpoch: 1, bestValidLoss: 1 },
      });
      await saveCheckpoint(last.model, `${dir}/best`, { config, metadata: { epoch: 3 } });
      last.model.dispose();
      await assert.rejects(
        () => readResumeState(`${dir}/last`, { bestCheckpointDir: `${dir}/best` }),
        {
          name: "RangeError",
          message: `Cannot resume from "${dir}/last": it names epoch 1 as the best, but ` +
            `"${dir}/best" holds epoch 3`,
        },
      );
    });
    await t.step("no last checkpoint", async () => {
      await assert.rejects(() => readResumeState(`${dir}/nothing`), { name: "NotFound" });
    });
  });
});

Deno.test("resumeRunRecord() continues a run in its folder and appends the epochs", async () => {
  await withTempDir(async (dir) => {
    const outDir = `${dir}/runs`;
    const backend = { name: wasm.name, device: wasm.device, reason: "test" };
    const straight = await trainStraight(BASE, dir);

    // 1. A run stopped during epoch 2.
    const run = await startRunRecord(BASE, { backend, source: SOURCE, outDir });
    let model: Model = buildModel(BASE);
    const controller = new AbortController();
    try {
      const stopped = await run.fit(model, DATA, {
        signal: controller.signal,
        onBatch: (p) => {
          if (p.epoch === 2 && p.batch === 2) controller.abort();
        },
      });
      assert.equal(stopped.stopReason, "aborted");
    } finally {
      model.dispose();
    }
    const interrupted = await readRunRecord(run.dir);
    assert.equal(interrupted.status, "interrupted");

    // 2. Resumed ("latest"), as a new process would: config from the run, fresh model.
    const config = await resumeConfig("latest", { outDir });
    assert.deepEqual(config, BASE);
    // (openRunRecord is the notebook's entry point: with `resume` it reopens the run.)
    const resumed = await openRunRecord(config, {
      resume: "latest",
      backend,
      source: SOURCE,
      outDir,
    });
    assert.equal(resumed.dir, run.dir);
    assert.equal(resumed.resume?.epoch, 1);
    const running = await readRunRecord(run.dir);
    assert.equal(running.status, "running");
    assert.equal(running.test, null);
    model = buildModel(resumed.config);
    try {
      const result = await resumed.fit(model, DATA);
      assert.equal(result.stopReason, "completed");
      assertSameWeights(getWeights(model), straight.weights, "final weights");
    } finally {
      model.dispose();
    }
    const record = await readRunRecord(run.dir);
    assert.equal(record.status, "completed");
    assert.equal(record.id, run.id);
    assert.deepEqual(losses(record.epochs), losses(straight.result.history));
    assert.deepEqual(record.segments.map((s) => [s.fromEpoch, s.status]), [
      [1, "interrupted"],
      [2, "completed"],
    ]);
    assert.ok(record.durationSeconds > interrupted.durationSeconds);
    assert.equal(record.bestEpoch, straight.result.bestEpoch);
    assert.deepEqual(await listDir(run.dir), [
      BEST_CHECKPOINT_FOLDER,
      RUN_CONFIG_FILE,
      LAST_CHECKPOINT_FOLDER,
      RUN_RECORD_FILE,
    ]);
  });
});

Deno.test("resumeRunRecord() refuses runs it cannot continue, naming the reason", async (t) => {
  await withTempDir(async (dir) => {
    const outDir = `${dir}/runs`;
    const backend = { name: "wasm", device: "WebAssembly", reason: "test" };
    const config = makeConfig({ ...BASE, epochs: 1 });
    const live = await startRunRecord(config, { backend, source: SOURCE, outDir, id: "a-live" });
    await t.step("still running", async () => {
      await assert.rejects(() => resumeRunRecord(live.dir, { backend }), (error: Error) => {
        assert.equal(error.constructor, Error);
        assert.equal(
          error.message,
          `Cannot resume run "${live.dir}": it is still running (pid ${Deno.pid} on ` +
            `${Deno.hostname()}, last heartbeat ${live.record().process?.heartbeatAt})`,
        );
        return true;
      });
    });
    await t.step("no completed epoch", async () => {
      await live.finish("interrupted");
      await assert.rejects(() => resumeRunRecord(live.dir, { backend }), {
        message: `Cannot resume run "${live.dir}": it has no completed epoch to continue from ` +
          `(no ${LAST_CHECKPOINT_FOLDER}/); start a new run instead`,
      });
    });
    const done = await startRunRecord(config, { backend, source: SOURCE, outDir, id: "b-done" });
    const model = buildModel(config);
    await done.fit(model, DATA);
    model.dispose();
    await t.step("all epochs done", async () => {
      await assert.rejects(() => resumeConfig(done.dir), {
        message: `Cannot resume run "${done.dir}": it has completed 1 of 1 epochs; pass more ` +
          "epochs (e.g. --epochs 11) to train it further",
      });
    });
    await t.step("other data", async () => {
      const other = {
        ...SOURCE,
        synthetic: false,
        kind: "archive" as const,
        description: "CIFAR-10",
      };
      await assert.rejects(() => resumeRunRecord(done.dir, { backend, source: other, epochs: 2 }), {
        message: `Cannot resume run "${done.dir}": it trained on ${SOURCE.description}, but the ` +
          "data loaded now is CIFAR-10",
      });
    });
    await t.step("more epochs extend a finished run", async () => {
      const more = await resumeRunRecord(done.dir, { backend, source: SOURCE, epochs: 2 });
      assert.equal(more.config.epochs, 2);
      assert.equal(JSON.parse(await Deno.readTextFile(`${done.dir}/${RUN_CONFIG_FILE}`)).epochs, 2);
      await more.finish("interrupted");
    });
    await t.step("no such run", async () => {
      await assert.rejects(() => resumeRunRecord(`${dir}/nope`, { backend }), {
        name: "NotFound",
        message:
          `Cannot use run "${dir}/nope": expected a run folder with ${RUN_RECORD_FILE}, found none`,
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI: Ctrl-C, SIGKILL and --resume, end to end.

const TINY_FLAGS = [
  "--synthetic",
  "--backend",
  "wasm",
  "--conv-channels",
  "4,8",
  "--hidden-units",
  "16",
  "--train-limit",
  "200",
  "--test-limit",
  "60",
];

function cleanEnv(): Record<string, string> {
  // Drop any CIFAR10_* settings of the machine running the tests.
  return {
    ...Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("CIFAR10_")),
    ),
    NO_COLOR: "1",
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCli(args: string[]): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/train.ts", ...args],
    cwd: ROOT,
    env: cleanEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Starts the CLI, waits for a line of stdout, sends a signal, and collects the rest. */
async function runCliUntil(args: string[], waitFor: RegExp, signal: Deno.Signal): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/train.ts", ...args],
    cwd: ROOT,
    env: cleanEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!waitFor.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  child.kill(signal);
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    stdout += chunk.value;
  }
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  return { code: status.code, stdout, stderr };
}

const epochLines = (run: Run) => run.stdout.split("\n").filter((l) => l.startsWith("Epoch: "));

Deno.test("deno task train: Ctrl-C records the run as interrupted, --resume finishes it with the losses of an uninterrupted run", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/runs`;
    // 1. Ctrl-C once the first epoch's checkpoint is saved.
    const stopped = await runCliUntil(
      [...TINY_FLAGS, "--epochs", "200", "--out", out],
      /Saving model \.\.\./,
      "SIGINT",
    );
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /Training stopped by request during epoch \d+/);
    const [name] = await listDir(out);
    const runDir = `${out}/${name}`;
    assert.match(stopped.stdout, new RegExp(`Continue with: deno task train --resume ${runDir}\n`));
    const record = await readRunRecord(runDir);
    assert.equal(record.status, "interrupted");
    assert.equal(record.stale, false);
    const done = record.epochs.length;
    assert.ok(done >= 1 && done < 200, `${done} epochs`);
    assert.deepEqual(epochLines(stopped).length, done);
    // The checkpoints are intact: the best one loads, the last one holds the optimiser state.
    await tf.setBackend("wasm");
    const { model, checkpoint } = await loadModel(`${runDir}/${BEST_CHECKPOINT_FOLDER}`);
    model.dispose();
    assert.equal(checkpoint.metadata.epoch, record.bestEpoch);
    assert.equal(
      (await readCheckpoint(`${runDir}/${LAST_CHECKPOINT_FOLDER}`)).metadata.epoch,
      done,
    );
    assert.equal(
      (await readOptimizerState(`${runDir}/${LAST_CHECKPOINT_FOLDER}`))?.className,
      "Adam",
    );

    // 2. Resume for two more epochs.
    const total = done + 2;
    const resumed = await runCli(["--resume", runDir, "--epochs", String(total)]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`Resuming ${runDir} after epoch ${done} of ${total} `));
    assert.deepEqual(
      epochLines(resumed).map((l) => Number(l.split(" ")[1])),
      [done + 1, done + 2],
    );
    assert.match(resumed.stdout, /Test Accuracy \(Overall\)/);
    const finished = await readRunRecord(runDir);
    assert.equal(finished.status, "completed");
    assert.deepEqual(
      finished.epochs.map((e) => e.epoch),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    assert.equal(finished.config.epochs, total);
    assert.equal(finished.segments.length, 2);
    assert.deepEqual(await listDir(out), [name], "the same run folder");

    // 3. The same losses as one uninterrupted run of as many epochs.
    const straight = await runCli([
      ...TINY_FLAGS,
      "--epochs",
      String(total),
      "--out",
      `${dir}/straight`,
    ]);
    assert.equal(straight.code, 0, straight.stderr);
    assert.deepEqual([...epochLines(stopped), ...epochLines(resumed)], epochLines(straight));
    const [straightName] = await listDir(`${dir}/straight`);
    const straightRecord = await readRunRecord(`${dir}/straight/${straightName}`);
    assert.deepEqual(finished.test?.confusion, straightRecord.test?.confusion);
  });
});

Deno.test("deno task train killed outright: the record reads as interrupted (stale) and --resume latest continues it", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/runs`;
    const killed = await runCliUntil(
      [...TINY_FLAGS, "--epochs", "200", "--out", out],
      /^Epoch: 1 /m,
      "SIGKILL",
    );
    assert.equal(killed.code, 137);
    const [name] = await listDir(out);
    const record = await readRunRecord(`${out}/${name}`);
    assert.equal(record.status, "interrupted");
    assert.equal(record.stale, true);
    assert.match(
      record.message!,
      /^Run stopped unexpectedly: its process \(pid \d+ on .*\) ended without finishing the record; \d+ epochs? completed\.$/,
    );
    const resumed = await runCli([
      "--resume",
      "latest",
      "--out",
      out,
      "--epochs",
      String(record.epochs.length + 1),
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await readRunRecord(`${out}/${name}`)).status, "completed");
  });
});

Deno.test("deno task train --resume rejects settings that would change the run, and runs it cannot continue", async (t) => {
  await withTempDir(async (dir) => {
    const out = `${dir}/runs`;
    const first = await runCli([...TINY_FLAGS, "--epochs", "1", "--out", out]);
    assert.equal(first.code, 0, first.stderr);
    const [name] = await listDir(out);
    const runDir = `${out}/${name}`;
    const cases: [string, string[], string][] = [
      [
        "a setting of the run",
        ["--resume", runDir, "--lr", "0.1", "--dropout", "0.5"],
        "train: Cannot use --lr, --dropout with --resume: a resumed run keeps its own " +
        "config; with --resume only --epochs, --backend, --data and --out apply",
      ],
      [
        "a finished run",
        ["--resume", runDir],
        `train: Cannot resume run "${runDir}": it has completed 1 of 1 epochs; pass more epochs ` +
        "(e.g. --epochs 11) to train it further",
      ],
      [
        "no such run",
        ["--resume", `${dir}/nope`],
        `train: Cannot use run "${dir}/nope": expected a run folder with ${RUN_RECORD_FILE}, found none`,
      ],
      [
        "no runs at all",
        ["--resume", "latest", "--out", `${dir}/empty`],
        `train: No runs yet under ${
          displayPath(`${dir}/empty`)
        }/: train one with \`deno task train\` or the tutorial notebook.`,
      ],
    ];
    for (const [what, args, message] of cases) {
      await t.step(what, async () => {
        const run = await runCli(args);
        assert.equal(run.code, 2);
        assert.equal(run.stderr.split("\n")[0], message);
        assert.equal(run.stdout, "", "nothing started");
      });
    }
  });
});
