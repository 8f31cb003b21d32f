/**
 * `deno task sweep` end to end: a grid of tiny synthetic trials, the table it ends with, bad lists
 * named by their flags, and a sweep killed outright mid-trial, then continued with --resume.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { listDir, withTempDir } from "./_util.ts";
import { readRunRecord } from "../lib/runs/record.ts";
import { readSweepRecord } from "../lib/sweep/plan.ts";
import { helpText, parseSweepArgs } from "../scripts/sweep.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
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

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("CIFAR10_")),
  );
}

async function runSweepCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/sweep.ts", ...args],
    cwd: ROOT,
    env: { ...cleanEnv(), ...env, NO_COLOR: "1" },
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

/** Runs the sweep until stdout matches `pattern`, then kills it with SIGKILL. */
async function runUntilKilled(args: string[], pattern: RegExp): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/sweep.ts", ...args],
    cwd: ROOT,
    env: { ...cleanEnv(), NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  let stdout = "";
  while (!pattern.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += decoder.decode(value, { stream: true });
  }
  child.kill("SIGKILL");
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    stdout += decoder.decode(chunk.value, { stream: true });
  }
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  return { code: status.code, stdout, stderr };
}

Deno.test("deno task sweep runs a grid of trials under one sweep folder and ends with the table by validation loss", async () => {
  await withTempDir(async (out) => {
    const run = await runSweepCli([
      ...TINY_FLAGS,
      "--epochs",
      "2",
      "--lr",
      "0.001,0.003",
      "--dropout",
      "0.1,0.4",
      "--out",
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const [sweepName] = await listDir(out);
    assert.match(sweepName!, /^sweep-\d{8}-\d{6}-[0-9a-f]{6}$/);
    const record = await readSweepRecord(join(out, sweepName!));
    assert.deepEqual(record.trials.map((t) => [t.label, t.status]), [
      ["learning-rate=0.001 dropout=0.1", "completed"],
      ["learning-rate=0.001 dropout=0.4", "completed"],
      ["learning-rate=0.003 dropout=0.1", "completed"],
      ["learning-rate=0.003 dropout=0.4", "completed"],
    ]);
    assert.match(run.stdout, /^Sweep .*sweep-.*: 4 trials \(learning-rate=0\.001 dropout=0\.1; /m);
    assert.match(
      run.stdout,
      /^Trial 4\/4 \(learning-rate=0\.003 dropout=0\.4\): completed 2 epochs; test accuracy/m,
    );
    // The table: one row per trial, sorted by best validation loss.
    const table = run.stdout.slice(run.stdout.indexOf("by best validation loss:"));
    const losses = [...table.matchAll(/completed +2\/2 +\d +([0-9.]+)/g)].map((m) => Number(m[1]));
    assert.equal(losses.length, 4, table);
    assert.deepEqual([...losses].sort((a, b) => a - b), losses);
    assert.match(run.stdout, /Note: trained on SYNTHETIC data, not CIFAR-10\./);
    // Each trial is a normal run: the runs command lists them.
    for (const trial of record.trials) {
      const runRecord = await readRunRecord(join(out, sweepName!, trial.runId!));
      assert.equal(runRecord.config.learningRate, trial.overrides.learningRate);
      assert.equal(runRecord.config.seed, 42, "the same seed for every trial");
    }
  });
});

Deno.test("a sweep killed mid-trial continues with --resume latest: finished trials kept, the killed one resumed", async () => {
  await withTempDir(async (out) => {
    const args = [...TINY_FLAGS, "--epochs", "3", "--dropout", "0.1,0.4", "--out", out];
    const killed = await runUntilKilled(args, /^Trial 2\/2 .*\n {2}Epoch: 1 /m);
    assert.equal(killed.code, 137);
    const [sweepName] = await listDir(out);
    const sweepDir = join(out, sweepName!);
    const stopped = await readSweepRecord(sweepDir);
    assert.deepEqual(stopped.trials.map((t) => t.status), ["completed", "running"]);
    const firstRun = await readRunRecord(join(sweepDir, stopped.trials[0]!.runId!));

    const resumed = await runSweepCli(["--resume", "latest", "--out", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /^Resuming sweep .*: 1 of 2 trials done$/m);
    assert.match(resumed.stdout, /^Trial 2\/2 \(dropout=0\.4\): continuing .*sweep-/m);
    assert.doesNotMatch(resumed.stdout, /^Trial 1\/2 /m, "the finished trial is not trained again");
    const after = await readSweepRecord(sweepDir);
    assert.deepEqual(after.trials.map((t) => t.status), ["completed", "completed"]);
    assert.equal(after.trials[1]!.runId, stopped.trials[1]!.runId, "the same run folder");
    const second = await readRunRecord(join(sweepDir, after.trials[1]!.runId!));
    assert.deepEqual(second.epochs.map((e) => e.epoch), [1, 2, 3]);
    assert.equal(second.segments.length, 2, "trained in two processes");
    assert.deepEqual(
      (await readRunRecord(join(sweepDir, after.trials[0]!.runId!))).updatedAt,
      firstRun.updatedAt,
      "the finished trial's run is untouched",
    );
    // A sweep with every trial done has nothing left: it prints the table again.
    const again = await runSweepCli(["--resume", sweepDir, "--out", out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /2 of 2 trials done/);
  });
});

Deno.test("deno task sweep rejects bad lists with the flag's own message, before any work", async (t) => {
  const cases: [string, string[], RegExp][] = [
    [
      "a bad value in a list",
      ["--lr", "0.001,fast"],
      /Cannot parse --lr: expected learning rate \(> 0\), a decimal number, found "fast"/,
    ],
    [
      "a value out of range",
      ["--dropout", "0.2,1"],
      /Cannot use --dropout: expected a number in \[0, 1\), found 1/,
    ],
    [
      "an empty item",
      ["--epochs", "2,"],
      /Cannot parse --epochs: expected comma-separated values, found an empty one in "2,"/,
    ],
    ["a value twice", ["--batch-size", "30,30"], /Cannot use --batch-size 30 twice/],
    ["a fixed field", ["--backend", "cpu,wasm"], /Cannot sweep --backend/],
    ["an unknown flag", ["--dropuot", "0.1"], /Cannot use flag --dropuot: unknown flag/],
    [
      "a plan with --resume",
      ["--resume", "latest", "--lr", "0.1"],
      /Cannot use --lr with --resume: a resumed sweep keeps its own plan/,
    ],
  ];
  cases.push([
    "--retry-failed without --resume",
    ["--retry-failed"],
    /Cannot use --retry-failed without --resume: a new sweep has no failed trials/,
  ]);
  const retry = await parseSweepArgs(["--resume", "latest", "--retry-failed"], {});
  assert.ok(retry.kind === "resume" && retry.retryFailed);
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      await assert.rejects(() => parseSweepArgs(args, {}), message);
    });
  }
  await withTempDir(async (out) => {
    const bad = await runSweepCli(["--lr", "0.001,fast", "--out", out]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^sweep: Cannot parse --lr: .*\n\(see deno task sweep --help\)\n$/);
    assert.deepEqual(await listDir(out), [], "nothing written");
    const missing = await runSweepCli(["--configs", join(out, "none.json"), "--out", out]);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /sweep: Cannot read --configs .*none\.json: .* \(expected a JSON file\)/,
    );
    const noSweep = await runSweepCli(["--resume", "latest", "--out", out]);
    assert.equal(noSweep.code, 2);
    assert.match(noSweep.stderr, /Cannot find a sweep under ".*": none started yet/);
  });
  assert.match(helpText(), /--configs FILE/);
});
