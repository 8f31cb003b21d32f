import assert from "node:assert/strict";
import { listDir, withTempDir } from "./_util.ts";
import { fileURLToPath } from "node:url";
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../lib/model/checkpoint.ts";
import { CHECKPOINT_FOLDER, helpText, runFolderName } from "../scripts/train.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TINY_FLAGS = [
  "--synthetic",
  "--backend",
  "wasm",
  "--conv-channels",
  "4,8",
  "--hidden-units",
  "16",
  "--epochs",
  "2",
  "--train-limit",
  "200",
  "--test-limit",
  "60",
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  // Drop any CIFAR10_* settings of the machine running the tests, then add the test's own.
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("CIFAR10_")),
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/train.ts", ...args],
    cwd: ROOT,
    env: { ...base, ...env, NO_COLOR: "1" },
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

Deno.test("deno task train runs the whole pipeline on a tiny synthetic set and writes a run folder", async () => {
  await withTempDir(async (out) => {
    // CIFAR10_EPOCHS loses to --epochs; CIFAR10_BATCH_SIZE applies.
    const run = await runCli([...TINY_FLAGS, "--out", out], {
      CIFAR10_EPOCHS: "5",
      CIFAR10_BATCH_SIZE: "40",
    });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split("\n");
    assert.match(lines[0]!, /^No GPU: training on the CPU with wasm \(/);
    assert.match(run.stdout, /Data: Synthetic shapes data set \(NOT CIFAR-10\)/);
    assert.match(run.stdout, /Images: 160 training, 40 validation, 60 test; batch size 40/);
    assert.match(run.stdout, /Note: trained on SYNTHETIC data, not CIFAR-10\./);
    const peak = /Peak memory while training \(RSS\): (\d+) MiB/.exec(run.stderr);
    assert.ok(peak !== null && Number(peak[1]) > 50, run.stderr);
    assert.match(run.stderr, /Memory after epoch 1: RSS \d+ MiB \(peak \d+ MiB\), \d+ tensors/);
    assert.match(run.stderr, /Peak memory of the whole run \(RSS\): \d+ MiB\n/);

    const [runName] = await listDir(out);
    assert.match(runName!, /^\d{8}-\d{6}-[0-9a-f]{6}$/);
    const runDir = `${out}/${runName}`;
    assert.deepEqual(await listDir(runDir), [
      CHECKPOINT_FOLDER,
      "config.json",
      "last-model",
      "metrics.json",
    ]);
    assert.deepEqual(await listDir(`${runDir}/${CHECKPOINT_FOLDER}`), [
      "model.json",
      "weights.bin",
    ]);

    const config = JSON.parse(await Deno.readTextFile(`${runDir}/config.json`));
    assert.deepEqual(config.convChannels, [4, 8]);
    assert.equal(config.epochs, 2);
    assert.equal(config.batchSize, 40);
    assert.equal(config.trainLimit, 200);
    assert.equal(config.synthetic, true);

    const metrics = JSON.parse(await Deno.readTextFile(`${runDir}/metrics.json`));
    assert.equal(metrics.id, runName);
    assert.equal(metrics.status, "completed");
    assert.equal(metrics.backend.name, "wasm");
    assert.equal(metrics.data.synthetic, true);
    assert.equal(metrics.data.kind, "synthetic");
    assert.deepEqual(metrics.config, config);
    assert.equal(metrics.bestCheckpoint, CHECKPOINT_FOLDER);
    assert.equal(metrics.epochs.length, 2);
    assert.equal(metrics.test.total, 60);
    assert.equal(metrics.test.perClass.length, 10);
    // The printed lines are the records, formatted like the tutorial.
    for (const record of metrics.epochs) {
      assert.ok(
        lines.includes(
          `Epoch: ${record.epoch} \tTraining Loss: ${
            record.trainLoss.toFixed(6)
          } \tValidation Loss: ${record.validLoss.toFixed(6)}`,
        ),
        `missing epoch line for ${JSON.stringify(record)}`,
      );
    }
    assert.ok(
      lines.includes(
        `Validation loss decreased (inf --> ${
          metrics.epochs[0].validLoss.toFixed(6)
        }).  Saving model ...`,
      ),
    );
    assert.ok(lines.includes(`Test Loss: ${metrics.test.loss.toFixed(6)}`));
    const overall = Math.trunc((100 * metrics.test.correct) / metrics.test.total);
    assert.ok(
      lines.includes(
        `Test Accuracy (Overall): ${String(overall).padStart(2)}% (${
          String(metrics.test.correct).padStart(2)
        }/60)`,
      ),
    );
    assert.ok(
      lines.some((l) => l.startsWith("Test Accuracy of red-square: ")),
      "synthetic class names",
    );

    // The checkpoint is the best epoch's model and loads back.
    await tf.setBackend("cpu");
    const { model, checkpoint } = await loadModel(`${runDir}/${CHECKPOINT_FOLDER}`);
    assert.equal(checkpoint.metadata.epoch, metrics.bestEpoch);
    assert.equal(checkpoint.metadata.validLoss, metrics.bestValidLoss);
    assert.deepEqual(checkpoint.config, config);
    model.dispose();
  });
});

Deno.test("deno task train gives the same losses for the same seed on wasm", async () => {
  await withTempDir(async (out) => {
    const flags = [...TINY_FLAGS, "--epochs", "1", "--train-limit", "100", "--out", out];
    const first = await runCli(flags);
    const second = await runCli(flags);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    const epochLines = (run: Run) => run.stdout.split("\n").filter((l) => l.startsWith("Epoch: "));
    assert.equal(epochLines(first).length, 1);
    assert.deepEqual(epochLines(first), epochLines(second));
    const runs = await listDir(out);
    assert.equal(runs.length, 2, "each run gets its own folder");
    const metrics = await Promise.all(
      runs.map(async (r) => JSON.parse(await Deno.readTextFile(`${out}/${r}/metrics.json`))),
    );
    assert.deepEqual(metrics[0].test.confusion, metrics[1].test.confusion);
  });
});

Deno.test("deno task train stops at a batch boundary on Ctrl-C and keeps the best checkpoint", async () => {
  await withTempDir(async (out) => {
    const base = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("CIFAR10_")),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/train.ts", ...TINY_FLAGS, "--epochs", "200", "--out", out],
      cwd: ROOT,
      env: { ...base, NO_COLOR: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Interrupt once the first epoch (and so the first checkpoint) is done.
    let stdout = "";
    const decoder = new TextDecoder();
    const reader = child.stdout.getReader();
    while (!stdout.includes("Saving model ...")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += decoder.decode(value, { stream: true });
    }
    child.kill("SIGINT");
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      stdout += decoder.decode(chunk.value, { stream: true });
    }
    const [status, stderrBytes] = await Promise.all([
      child.status,
      new Response(child.stderr).arrayBuffer(),
    ]);
    const stderr = decoder.decode(stderrBytes);
    assert.equal(status.code, 130, stderr);
    assert.match(stderr, /Training stopped by request during epoch \d+/);
    const [runName] = await listDir(out);
    const metrics = JSON.parse(await Deno.readTextFile(`${out}/${runName}/metrics.json`));
    assert.equal(metrics.status, "interrupted");
    assert.match(metrics.message, /^Training stopped by request during epoch \d+/);
    assert.equal(metrics.test, null, "no test after Ctrl-C");
    assert.ok(metrics.epochs.length >= 1 && metrics.epochs.length < 200);
    assert.deepEqual(await listDir(`${out}/${runName}/${CHECKPOINT_FOLDER}`), [
      "model.json",
      "weights.bin",
    ]);
    assert.doesNotMatch(stdout, /Test Accuracy/);
  });
});

Deno.test("deno task train rejects bad flags before any work, naming the flag and allowed values", async (t) => {
  await withTempDir(async (out) => {
    const cases: [string, string[], Record<string, string>, string][] = [
      [
        "a bad value",
        ["--optimizer", "adamw"],
        {},
        'train: Cannot parse --optimizer: expected one of adam, sgd, rmsprop, adagrad, found "adamw"',
      ],
      [
        "an unknown flag",
        ["--epoch", "3"],
        {},
        "train: Cannot use flag --epoch: unknown flag; allowed flags: ",
      ],
      [
        "an out-of-range value",
        ["--dropout", "1.5"],
        {},
        'train: Cannot use config field "dropout": expected a number in [0, 1), found 1.5',
      ],
      [
        "a bad environment variable",
        [],
        { CIFAR10_EPOCHS: "many" },
        'train: Cannot parse CIFAR10_EPOCHS: expected training epochs, an integer ≥ 1 in decimal digits, found "many"',
      ],
    ];
    for (const [name, args, env, message] of cases) {
      await t.step(name, async () => {
        const run = await runCli([...args, "--out", `${out}/runs`], env);
        assert.equal(run.code, 2);
        assert.ok(run.stderr.startsWith(message), run.stderr);
        assert.equal(run.stdout, "", "nothing should have started");
      });
    }
    assert.deepEqual(await listDir(out), [], "no run folder for rejected arguments");
  });
});

Deno.test("deno task train --help lists every config flag", async () => {
  const run = await runCli(["--help"]);
  assert.equal(run.code, 0);
  assert.equal(run.stdout, helpText() + "\n");
  for (
    const flag of [
      "--conv-channels",
      "--train-limit",
      "--out",
      "--lr",
      "--data",
      "--augment-validation",
    ]
  ) {
    assert.ok(run.stdout.includes(flag), flag);
  }
});

Deno.test("runFolderName() is a UTC timestamp and a short id", () => {
  const name = runFolderName(new Date("2026-11-28T09:05:07.123Z"));
  assert.match(name, /^20261128-090507-[0-9a-f]{6}$/);
  assert.notEqual(runFolderName(), runFolderName());
});
