import { openBlas } from "../lib/engine/kernels/blas/cblas.ts";
import assert from "node:assert/strict";
import { hasWebgpuAdapter, skipName, withTempDir } from "./_util.ts";
import { type BenchResult, parseBenchOutput } from "../bench/result.ts";
import { DEFAULT_BENCH_OPTIONS, ISA_LIMITS, parseBenchArgs } from "../bench/options.ts";
import { checkIsaHonoured, ensurePytorch, runSide, sideCommand } from "../bench/sides.ts";
import { writeSyntheticData } from "../bench/synthetic.ts";
import {
  describeCeiling,
  describeFmaPeak,
  efficiencyRows,
  formatReport,
  markdownTable,
  projectedRunRow,
  summarizeCeiling,
  summarizeResults,
} from "../bench/report.ts";
import {
  type CeilingResult,
  measureCeiling,
  parseCeilingArgs,
  parseCeilingOutput,
  runCeiling,
} from "../bench/ceiling.ts";
import {
  DEFAULT_VENV_DIR,
  ensurePytorchVenv,
  FALLBACK_INSTALL,
  isPinnedVersion,
  TORCH_VERSION,
  TORCHVISION_VERSION,
  venvPython,
} from "../bench/pytorch_env.ts";
import { median, trainingGflopPerImage } from "../bench/stats.ts";
import { makeConfig } from "../lib/core/config.ts";

const SCRIPT = new URL("../bench/pytorch_tutorial.py", import.meta.url).pathname;

async function importsTorch(python: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import torch, torchvision"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * The interpreter the PyTorch tests run: the project venv when `deno task bench` has made it,
 * else Debian's; the tests are skipped when neither imports torch.
 */
const PYTHON = await importsTorch(venvPython(DEFAULT_VENV_DIR))
  ? venvPython(DEFAULT_VENV_DIR)
  : "/usr/bin/python3";

function makeResult(
  side: "ours" | "pytorch",
  step: [number, number[]][],
  inference: number[],
  rss: number,
): BenchResult {
  return {
    mode: "bench",
    side,
    implementation: side === "ours" ? "TensorFlow.js test" : "PyTorch test",
    backend: side === "ours" ? "blas" : "pytorch-cpu",
    threads: 2,
    data: { path: null, synthetic: true, trainImages: 10, testImages: 10 },
    settings: {
      batchSizes: step.map(([b]) => b),
      warmupSteps: 0,
      steps: 1,
      repeats: inference.length,
      epochImages: 10,
      inferenceImages: 10,
      inferenceBatchSize: 1000,
      seed: 1,
    },
    trainStep: step.map(([batchSize, samples]) => ({
      batchSize,
      images: batchSize,
      imagesPerSecond: median(samples),
      samples,
    })),
    epoch: step.map(([batchSize, samples]) => ({
      batchSize,
      images: 10,
      imagesPerSecond: median(samples) / 2,
      samples: samples.map((s) => s / 2),
    })),
    validation: step.map(([batchSize, samples]) => ({
      batchSize,
      images: 10,
      imagesPerSecond: median(samples) * 2,
      samples: samples.map((s) => s * 2),
    })),
    inference: {
      batchSize: 1000,
      images: 10,
      imagesPerSecond: median(inference),
      samples: inference,
    },
    checkpointSeconds: 0.05,
    peakRssMiB: rss,
    trainingPeakRssMiB: rss - 1,
    wallSeconds: 1,
  };
}

function hasTorch(): Promise<boolean> {
  return importsTorch(PYTHON);
}

Deno.test("median() takes the middle value or the mean of the middle two", () => {
  assert.equal(median([5]), 5);
  assert.equal(median([9, 1, 4]), 4);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), {
    name: "RangeError",
    message: "Cannot take the median: expected numbers, found none",
  });
});

Deno.test("parseBenchOutput() reads the last JSON line and checks the side", () => {
  const good = makeResult("pytorch", [[30, [100]]], [900], 500);
  const older = { ...good, peakRssMiB: 1 };
  const parsed = parseBenchOutput(
    `progress\n${JSON.stringify(older)}\nmore\n${JSON.stringify(good)}\n`,
    "pytorch",
  );
  assert.equal(parsed.peakRssMiB, 500);
  assert.deepEqual(parsed.trainStep[0], good.trainStep[0]);

  assert.throws(() => parseBenchOutput("nothing\n", "ours"), {
    name: "SyntaxError",
    message:
      'Cannot read the ours side\'s result: expected a JSON line on stdout, found "nothing\\n"',
  });
  assert.throws(() => parseBenchOutput(JSON.stringify(good), "ours"), {
    name: "SyntaxError",
    message: 'Cannot read the ours side\'s result: expected "side": "ours", found "pytorch"',
  });
  assert.throws(() => parseBenchOutput("{not json", "pytorch"), (error: Error) => {
    assert.equal(error.name, "SyntaxError");
    assert.match(
      error.message,
      /^Cannot read the pytorch side's result: expected JSON, found "\{not json"/,
    );
    return true;
  });
  const noSamples = structuredClone(good);
  noSamples.inference.samples = [];
  assert.throws(() => parseBenchOutput(JSON.stringify(noSamples), "pytorch"), (error: Error) => {
    assert.match(
      error.message,
      /expected inference as \{batchSize, images, imagesPerSecond, samples\[\]\}/,
    );
    return true;
  });
});

Deno.test("summarizeResults() pools the samples of all rounds and divides ours by PyTorch", () => {
  const results = [
    makeResult("ours", [[30, [10, 30]], [128, [40]]], [100, 300], 400),
    makeResult("pytorch", [[30, [40]], [128, [80]]], [1000], 600),
    makeResult("ours", [[30, [20]], [128, [60]]], [200], 300),
    makeResult("pytorch", [[30, [60, 50]], [128, [100]]], [900, 1100], 800),
  ];
  const rows = summarizeResults(results);
  assert.deepEqual(rows.map((r) => r.key), [
    "trainStep:30",
    "trainStep:128",
    "epoch:30",
    "epoch:128",
    "validation:30",
    "validation:128",
    "inference",
    "checkpoint",
    "trainingPeakRss",
    "peakRss",
  ]);
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  assert.deepEqual(byKey["validation:30"]!.values, { ours: 40, pytorch: 100 });
  assert.equal(byKey["checkpoint"]!.higherIsBetter, false);
  // ours step b30 samples 10, 30, 20 → 20; PyTorch 40, 60, 50 → 50.
  assert.deepEqual(byKey["trainStep:30"]!.values, { ours: 20, pytorch: 50 });
  assert.equal(byKey["trainStep:30"]!.ratio, 0.4);
  assert.deepEqual(byKey["trainStep:128"]!.values, { ours: 50, pytorch: 90 });
  assert.deepEqual(byKey["epoch:30"]!.values, { ours: 10, pytorch: 25 });
  assert.deepEqual(byKey["inference"]!.values, { ours: 200, pytorch: 1000 });
  assert.equal(byKey["inference"]!.ratio, 0.2);
  assert.equal(byKey["inference"]!.label, "Inference (no gradients), batch 1000");
  // Peak RSS: the median of each run's peak; lower is better.
  assert.deepEqual(byKey["peakRss"]!.values, { ours: 350, pytorch: 700 });
  assert.equal(byKey["peakRss"]!.ratio, 0.5);
  assert.equal(byKey["peakRss"]!.higherIsBetter, false);
  assert.deepEqual(byKey["trainingPeakRss"]!.values, { ours: 349, pytorch: 699 });
  assert.equal(byKey["trainingPeakRss"]!.label, "Peak RSS while training");
  assert.equal(byKey["trainingPeakRss"]!.higherIsBetter, false);
});

Deno.test("projectedRunRow() turns the medians into each side's time for the tutorial's run", () => {
  const rows = summarizeResults([
    makeResult("ours", [[30, [2000]]], [500], 300),
    makeResult("pytorch", [[30, [1000]]], [1000], 600),
  ]);
  const shape = { epochs: 60, trainImages: 40000, validImages: 10000, batchSize: 30 };
  const [projected] = projectedRunRow(rows, shape);
  // ours: epoch 1000 img/s (40 s), validation 4000 img/s (2.5 s), checkpoint 0.05 s, 60 times;
  // PyTorch: 500 and 2000 img/s (80 s + 5 s + 0.05 s).
  assert.equal(projected!.key, "projectedRun:30");
  assert.equal(projected!.unit, "min");
  assert.equal(projected!.higherIsBetter, false);
  assert.ok(Math.abs(projected!.values.ours! - (60 * 42.55) / 60) < 1e-9);
  assert.ok(Math.abs(projected!.values.pytorch! - (60 * 85.05) / 60) < 1e-9);
  assert.ok(Math.abs(projected!.ratio! - 42.55 / 85.05) < 1e-12);
  assert.match(
    formatReport([projected!]).at(-1)!,
    /^ratio ours\/PyTorch, Projected tutorial run: 60 epochs of 40000 training \+ 10000 validation images and a checkpoint, batch 30: 0\.50× \(lower is better\)$/,
  );
  assert.match(formatReport([projected!])[0]!, /ours +42\.5 min +PyTorch +85\.0 min$/);
  // No validation figure at the run's batch size: no projection.
  assert.deepEqual(projectedRunRow(rows, { ...shape, batchSize: 128 }), []);
});

Deno.test("summarizeResults() leaves the ratio empty when one side did not run", () => {
  const rows = summarizeResults([makeResult("pytorch", [[30, [40]]], [1000], 600)]);
  assert.ok(rows.every((r) => r.ratio === null && r.values.ours === undefined));
  assert.equal(rows[0]!.values.pytorch, 40);
});

Deno.test("formatReport() ends with one ratio line per measure", () => {
  const rows = summarizeResults([
    makeResult("ours", [[30, [20]]], [500], 300),
    makeResult("pytorch", [[30, [80]]], [1000], 600),
  ]);
  const lines = formatReport(rows);
  assert.deepEqual(lines.slice(-7), [
    "ratio ours/PyTorch, Training step, batch 30: 0.25× (higher is better)",
    "ratio ours/PyTorch, Epoch incl. batching + augmentation, batch 30: 0.25× (higher is better)",
    "ratio ours/PyTorch, Validation pass (eval mode, augmented), batch 30: 0.25× (higher is better)",
    "ratio ours/PyTorch, Inference (no gradients), batch 1000: 0.50× (higher is better)",
    "ratio ours/PyTorch, Best-checkpoint save: 1.00× (lower is better)",
    "ratio ours/PyTorch, Peak RSS while training: 0.50× (lower is better)",
    "ratio ours/PyTorch, Peak RSS (whole run): 0.50× (lower is better)",
  ]);
  assert.match(lines[0]!, /^Training step, batch 30 +ours +20\.0 img\/s +PyTorch +80\.0 img\/s$/);
});

Deno.test("markdownTable() writes a table row per measure and a caption", () => {
  const rows = summarizeResults([
    makeResult("ours", [[30, [20]]], [500], 300),
    makeResult("pytorch", [[30, [80]]], [1000], 600),
  ]);
  const md = markdownTable(rows, {
    ours: "ours impl",
    pytorch: "torch impl",
    data: "synthetic",
    rounds: 2,
    machine: "2 cores",
    date: "2026-11-28",
  });
  const lines = md.split("\n");
  assert.equal(lines[0], "| Measure (median) | ours | PyTorch | ours / PyTorch |");
  assert.equal(lines[2], "| Training step, batch 30 (images/s) | 20 | 80 | 0.25× |");
  assert.equal(lines[6], "| Best-checkpoint save (s) | 0.050 | 0.050 | 1.00× |");
  assert.equal(lines[7], "| Peak RSS while training (MiB) | 299 | 599 | 0.50× |");
  assert.equal(lines[8], "| Peak RSS (whole run) (MiB) | 300 | 600 | 0.50× |");
  assert.match(md, /Ours: ours impl\. PyTorch: torch impl\. Data: synthetic\. 2 alternating round/);
});

Deno.test("parseBenchArgs() reads the driver's flags and rejects others", () => {
  const { options, markdown, json, help } = parseBenchArgs([
    "--rounds=2",
    "--sides",
    "pytorch,ours",
    "--batch-sizes",
    "30, 64",
    "--warmup",
    "0",
    "--data",
    "/tmp/cifar10",
    "--seed",
    "7",
    "--ours-cmd",
    "deno run -A x.ts",
    "--markdown",
    "out.md",
  ]);
  assert.equal(options.rounds, 2);
  assert.deepEqual(options.sides, ["pytorch", "ours"]);
  assert.deepEqual(options.batchSizes, [30, 64]);
  assert.equal(options.warmup, 0);
  assert.equal(options.dataPath, "/tmp/cifar10");
  assert.equal(options.seed, 7);
  assert.deepEqual(options.oursCommand, ["deno", "run", "-A", "x.ts"]);
  assert.equal(markdown, "out.md");
  assert.equal(json, null);
  assert.equal(help, false);
  assert.equal(options.repeats, DEFAULT_BENCH_OPTIONS.repeats);
  assert.deepEqual(DEFAULT_BENCH_OPTIONS.sides, ["ours", "pytorch"]);
  assert.equal(options.python, null);
  assert.equal(parseBenchArgs(["--python", "/usr/bin/python3"]).options.python, "/usr/bin/python3");

  assert.throws(() => parseBenchArgs(["--sides", "ours,tensorflow"]), {
    name: "RangeError",
    message:
      'Cannot parse --sides: expected a comma-separated list of ours, pytorch, found "ours,tensorflow"',
  });
  assert.throws(() => parseBenchArgs(["--rounds", "0"]), {
    name: "RangeError",
    message: 'Cannot parse --rounds: expected an integer ≥ 1 in decimal digits, found "0"',
  });
  for (const text of ["0x2", "1e1", "2.5"]) {
    assert.throws(() => parseBenchArgs(["--steps", text]), {
      name: "RangeError",
      message: `Cannot parse --steps: expected an integer ≥ 1 in decimal digits, found "${text}"`,
    });
  }
  assert.throws(() => parseBenchArgs(["--warmup", "-1"]), {
    name: "RangeError",
    message: 'Cannot parse --warmup: expected an integer ≥ 0 in decimal digits, found "-1"',
  });
  assert.equal(parseBenchArgs(["--warmup", "0"]).options.warmup, 0);
  assert.throws(() => parseBenchArgs(["--epochs", "3"]), {
    name: "RangeError",
    message:
      'Cannot use config field "epochs" in the benchmark: only --seed, --data and --backend apply',
  });
  assert.throws(() => parseBenchArgs(["--frobnicate"]), (error: Error) => {
    assert.equal(error.name, "RangeError");
    assert.match(
      error.message,
      /^Cannot use flag --frobnicate: unknown flag; allowed flags: .*--rounds/,
    );
    return true;
  });
});

Deno.test("sideCommand() gives both sides the same data and settings; oursCommand replaces ours", () => {
  const options = { ...DEFAULT_BENCH_OPTIONS, steps: 4, batchSizes: [30, 128] };
  const pytorch = sideCommand("pytorch", "/data", options);
  const ours = sideCommand("ours", "/data", options);
  // The project venv unless --python names another interpreter.
  assert.deepEqual(pytorch.slice(0, 3), [venvPython(DEFAULT_VENV_DIR), SCRIPT, "bench"]);
  assert.equal(
    sideCommand("pytorch", "/data", { ...options, python: "/usr/bin/python3" })[0],
    "/usr/bin/python3",
  );
  assert.deepEqual(ours.slice(0, 3), [Deno.execPath(), "run", "-A"]);
  assert.ok(ours[3]!.endsWith("/bench/ours.ts"));
  const shared = pytorch.slice(3);
  assert.deepEqual(ours.slice(4, 4 + shared.length), shared);
  assert.deepEqual(shared.slice(0, 4), ["--data", "/data", "--batch-sizes", "30,128"]);
  assert.equal(shared[shared.indexOf("--steps") + 1], "4");
  assert.deepEqual(ours.slice(-2), ["--backend", "auto"]);
  const plugged = sideCommand("ours", "/data", {
    ...options,
    oursCommand: ["./ours-bin", "--fast"],
  });
  assert.deepEqual(plugged.slice(0, 4), ["./ours-bin", "--fast", "--data", "/data"]);
});

Deno.test("writeSyntheticData() writes the CIFAR-10 layout, marked synthetic, reproducibly", async () => {
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  try {
    await writeSyntheticData(a, { seed: 3, recordsPerFile: 5 });
    await writeSyntheticData(b, { seed: 3, recordsPerFile: 5 });
    const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat("test_batch.bin");
    for (const name of names) {
      const bytes = await Deno.readFile(`${a}/cifar-10-batches-bin/${name}`);
      assert.equal(bytes.length, 5 * 3073);
      for (let r = 0; r < 5; r++) assert.ok(bytes[r * 3073]! < 10, `label of record ${r}`);
      assert.deepEqual(bytes, await Deno.readFile(`${b}/cifar-10-batches-bin/${name}`));
    }
    const first = await Deno.readFile(`${a}/cifar-10-batches-bin/data_batch_1.bin`);
    const second = await Deno.readFile(`${a}/cifar-10-batches-bin/data_batch_2.bin`);
    assert.notDeepEqual(first, second);
    assert.match(await Deno.readTextFile(`${a}/SYNTHETIC.txt`), /NOT CIFAR-10/);
    assert.match(
      await Deno.readTextFile(`${a}/cifar-10-batches-bin/SYNTHETIC.txt`),
      /NOT CIFAR-10/,
    );
    assert.equal(
      (await Deno.readTextFile(`${a}/cifar-10-batches-bin/batches.meta.txt`)).split("\n")[9],
      "truck",
    );
    await assert.rejects(() => writeSyntheticData(a, { recordsPerFile: 0 }), {
      name: "RangeError",
      message: "Cannot write synthetic data: expected recordsPerFile as an integer ≥ 1, found 0",
    });
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test("ensurePytorch() names the fix when the interpreter lacks PyTorch", async () => {
  await assert.rejects(() => ensurePytorch("/nonexistent/python3"), {
    name: "Error",
    message: "Cannot run the PyTorch side: /nonexistent/python3 cannot import torch and " +
      "torchvision; install Debian's packages with `sudo apt-get install -y python3-torch " +
      "python3-torchvision` (or pass --python with an interpreter that has them, or leave " +
      "--python out to use the project's venv with torch 2.14.1)",
  });
});

Deno.test("runSide() reports a failing side with its command and exit code", async () => {
  const command = [Deno.execPath(), "eval", "console.log('partial'); Deno.exit(3)"];
  await assert.rejects(() => runSide(command, "ours"), (error: Error) => {
    assert.equal(
      error.message,
      `Cannot finish the ours side: \`${
        command.join(" ")
      }\` exited with code 3; its stdout ended with "partial\\n"`,
    );
    return true;
  });
  const good = makeResult("ours", [[30, [5]]], [50], 100);
  const echo = [Deno.execPath(), "eval", `console.log(${JSON.stringify(JSON.stringify(good))})`];
  assert.deepEqual(await runSide(echo, "ours"), good);
});

/**
 * Runs one side of the bench on a tiny synthetic data set (batches 4 and 8, 2 repeats of 2 steps,
 * a 12-image epoch, 10 test images) and checks the result has the shared shape and sane figures.
 */
async function assertTinyBenchRun(side: "ours" | "pytorch", extraArgs: string[] = []) {
  await withTempDir(async (dir) => {
    await writeSyntheticData(dir, { recordsPerFile: 40 });
    const options = {
      ...DEFAULT_BENCH_OPTIONS,
      batchSizes: [4, 8],
      warmup: 1,
      steps: 2,
      repeats: 2,
      epochImages: 12,
      inferenceImages: 10,
      inferenceBatchSize: 4,
    };
    const result = await runSide(
      [...sideCommand(side, dir, { ...options, python: PYTHON }), ...extraArgs],
      side,
    );
    assert.equal(result.data.synthetic, true);
    assert.equal(result.data.testImages, 10);
    assert.deepEqual(result.settings.batchSizes, [4, 8]);
    assert.deepEqual(result.trainStep.map((t) => [t.batchSize, t.images, t.samples.length]), [
      [4, 8, 2],
      [8, 16, 2],
    ]);
    assert.deepEqual(result.epoch.map((t) => [t.batchSize, t.images]), [[4, 12], [8, 12]]);
    assert.equal(result.inference.images, 10);
    assert.equal(result.inference.imagesPerSecond, median(result.inference.samples));
    assert.equal(result.threads, 2);
    assert.ok(result.peakRssMiB > 50 && result.peakRssMiB < 8192, `${result.peakRssMiB}`);
    assert.ok(
      result.trainingPeakRssMiB > 50 && result.trainingPeakRssMiB <= result.peakRssMiB,
      `${result.trainingPeakRssMiB} vs ${result.peakRssMiB}`,
    );
  });
}

Deno.test({
  name: skipName(
    "pytorch_tutorial.py bench prints the shared JSON shape on synthetic data",
    !(await hasTorch()),
    "no PyTorch (./run bench installs it, or sudo apt-get install python3-torch python3-torchvision)",
  ),
  ignore: !(await hasTorch()),
  fn: () => assertTinyBenchRun("pytorch", ["--quiet"]),
});

Deno.test({
  name: skipName(
    "pytorch_tutorial.py train prints the tutorial's lines and a JSON summary",
    !(await hasTorch()),
    "no PyTorch (./run bench installs it, or sudo apt-get install python3-torch python3-torchvision)",
  ),
  ignore: !(await hasTorch()),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await writeSyntheticData(dir, { recordsPerFile: 50 });
      const out = await new Deno.Command(PYTHON, {
        args: [
          SCRIPT,
          "train",
          "--data",
          dir,
          "--epochs",
          "2",
          "--train-limit",
          "60",
          "--test-limit",
          "31",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.match(text, /^Using SYNTHETIC data \(not CIFAR-10\): 60 train, 31 test images$/m);
      assert.match(text, /^Epoch: 1 \tTraining Loss: \d+\.\d{6} \tValidation Loss: \d+\.\d{6}$/m);
      assert.match(text, /^Epoch: 2 \tTraining Loss: \d+\.\d{6} \tValidation Loss: \d+\.\d{6}$/m);
      assert.match(
        text,
        /^Validation loss decreased \(inf --> \d+\.\d{6}\)\. {2}Saving model \.\.\.$/m,
      );
      assert.match(text, /^Test Loss: \d+\.\d{6}$/m);
      assert.match(
        text,
        /^Test Accuracy of airplane: +(\d+% \( *\d+\/ *\d+\)|N\/A \(no training examples\))$/m,
      );
      const overall = /^Test Accuracy \(Overall\): +\d+% \( *(\d+)\/ *(\d+)\)$/m.exec(text);
      assert.ok(overall, text);
      const summary = JSON.parse(text.trim().split("\n").at(-1)!);
      assert.equal(summary.mode, "train");
      assert.equal(summary.data.synthetic, true);
      assert.equal(summary.testTotal, 31);
      assert.equal(Number(overall[2]), 31);
      assert.equal(Number(overall[1]), summary.testCorrect);
      assert.equal(summary.testAccuracy, summary.testCorrect / 31);
      assert.equal(summary.epochs.length, 2);
      assert.equal(summary.epochs[0].saved, true);
      assert.equal(
        summary.bestValidLoss,
        Math.min(...summary.epochs.map((e: { validLoss: number }) => e.validLoss)),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "pytorch_tutorial.py rejects a truncated batch file, naming it",
    !(await hasTorch()),
    "no PyTorch (./run bench installs it, or sudo apt-get install python3-torch python3-torchvision)",
  ),
  ignore: !(await hasTorch()),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await writeSyntheticData(dir, { recordsPerFile: 2 });
      await Deno.writeFile(`${dir}/cifar-10-batches-bin/data_batch_1.bin`, new Uint8Array(100));
      const out = await new Deno.Command(PYTHON, {
        args: [SCRIPT, "train", "--data", dir, "--epochs", "1"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.success, false);
      assert.match(
        new TextDecoder().decode(out.stderr),
        /ValueError: Cannot read CIFAR-10 batch "data_batch_1\.bin": expected a positive multiple of 3073 bytes, found 100/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// Our side of the bench is the blas backend: without OpenBLAS it would measure wasm instead.
const noOpenBlas = !openBlas().ok;

Deno.test({
  name: skipName(
    "bench/ours.ts prints the shared JSON shape on synthetic data",
    noOpenBlas,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore: noOpenBlas,
  fn: () => assertTinyBenchRun("ours"),
});

Deno.test("bench:blas --gemm times every product of a training step at the model's shapes", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../bench/blas_bench.ts", import.meta.url).pathname,
      "--batch",
      "2",
      "--gemm",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    // Only a machine without OpenBLAS may fail here, and it must say so.
    assert.match(new TextDecoder().decode(out.stderr), /Cannot load OpenBLAS/);
    return;
  }
  const rows = stdout.split("\n").filter((line) => / ms /.test(line));
  // 4 convolutions × 3 products, less the first layer's input gradient, + 2 dense layers × 3.
  assert.equal(rows.length, 17 + 1, stdout);
  const shapeOf = (name: string) => rows.find((r) => r.startsWith(name))!.split(/\s{2,}/)[1];
  assert.equal(shapeOf("conv1 forward"), "2048×16×27");
  assert.equal(shapeOf("conv4 input grad"), "512×576×128");
  assert.equal(shapeOf("conv4 filter grad"), "576×128×512");
  assert.equal(shapeOf("fc1 weight grad"), "8192×500×2");
  assert.ok(!rows.some((r) => r.startsWith("conv1 input grad")));
  assert.match(rows.at(-1)!, /^all\s+\d+\.\d ms\s+\d+ GFLOP\/s$/);
});

Deno.test({
  name: skipName(
    "pytorch_tutorial.py profile prints torch.profiler's per-operator table",
    !(await hasTorch()),
    "no PyTorch (./run bench installs it, or sudo apt-get install python3-torch python3-torchvision)",
  ),
  ignore: !(await hasTorch()),
  fn: async () => {
    const out = await new Deno.Command(PYTHON, {
      args: [SCRIPT, "profile", "--batch-size", "2", "--warmup", "0", "--steps", "1"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.match(stdout, /^PyTorch \S+, 2 thread\(s\), batch 2: self CPU time over 1 steps/);
    assert.match(stdout, /aten::\w*convolution/);
    assert.match(stdout, /Self CPU time total/);
  },
});

Deno.test("trainingGflopPerImage() counts a training step's products from the config", () => {
  // The tutorial's model: conv 3→16, 16→32 at 32×32, conv 32→64, 64→128 at 16×16, dense 8192→500
  // and 500→10; three products each, less conv1's input gradient.
  const conv = (hw: number, cin: number, cout: number) => 2 * hw * hw * 9 * cin * cout;
  const forward = conv(32, 3, 16) + conv(32, 16, 32) + conv(16, 32, 64) + conv(16, 64, 128) +
    2 * 8192 * 500 + 2 * 500 * 10;
  const expected = (3 * forward - conv(32, 3, 16)) / 1e9;
  assert.equal(trainingGflopPerImage(makeConfig()), expected);
  assert.ok(Math.abs(expected - 0.196245) < 1e-6, `${expected}`);
  // Another architecture: one convolution, a pool after it, 16×16×8 features.
  const small = makeConfig({ convChannels: [8], poolEvery: 1, hiddenUnits: 10 });
  const smallForward = conv(32, 3, 8) + 2 * 2048 * 10 + 2 * 10 * 10;
  assert.equal(trainingGflopPerImage(small), (3 * smallForward - conv(32, 3, 8)) / 1e9);
});

function ceilingAt(best: number, median: number): CeilingResult {
  return {
    mode: "ceiling",
    library: "OpenBLAS 0.3.21 Haswell",
    libraryPath: "libopenblas.so.0",
    threads: 2,
    libraryThreads: 2,
    sizes: [1536, 2048],
    repeats: 5,
    samples: [],
    bestGflops: best,
    medianGflops: median,
    fma: { reason: "not measured" },
  };
}

Deno.test("summarizeCeiling() takes the higher best of before and after, and says what is missing", () => {
  const both = summarizeCeiling(
    { ok: true, result: ceilingAt(200, 190) },
    { ok: true, result: ceilingAt(210, 195) },
  );
  assert.equal(both.gflops, 210);
  assert.equal(
    describeCeiling(both),
    "sgemm ceiling: 210.0 GFLOP/s (OpenBLAS sgemm, 2 thread(s), n = 1536, 2048; best before " +
      "the rounds 200.0, after 210.0; medians 190.0, 195.0; OpenBLAS 0.3.21 Haswell)",
  );
  const one = summarizeCeiling({ ok: false, reason: "killed" }, {
    ok: true,
    result: ceilingAt(180, 170),
  });
  assert.equal(one.gflops, 180);
  assert.deepEqual(one.problems, ["before the rounds: killed"]);
  assert.match(
    describeCeiling(one),
    /best before the rounds —, after 180\.0; .*; before the rounds: killed\)$/,
  );
  const none = summarizeCeiling({ ok: false, reason: "no BLAS" }, { ok: false, reason: "no BLAS" });
  assert.equal(none.gflops, null);
  assert.equal(
    describeCeiling(none),
    "sgemm ceiling: not measured (before the rounds: no BLAS; after the rounds: no BLAS)",
  );
});

Deno.test("the FMA peak: the higher best of the two measurements, its line and each side's share", () => {
  const peak = (best: number) => ({
    isa: "avx512",
    lanes: 16,
    accumulators: 24,
    threads: 2,
    samples: [best - 5, best],
    bestGflops: best,
    medianGflops: best - 2.5,
  });
  const summary = summarizeCeiling(
    { ok: true, result: { ...ceilingAt(300, 290), fma: peak(419) } },
    { ok: true, result: { ...ceilingAt(296, 292), fma: peak(421.5) } },
  );
  assert.equal(summary.fmaGflops, 421.5);
  assert.equal(summary.fmaOther, 419);
  assert.equal(
    describeFmaPeak(summary),
    "FMA peak: 421.5 GFLOP/s (avx512 build: 24 independent 16-lane FMAs per thread, 2 thread(s), " +
      "no memory traffic; median 419.0; the other measurement 419.0)",
  );
  // Without native kernels the line says why, and the shares of it are left out.
  const missing = summarizeCeiling(
    { ok: true, result: ceilingAt(300, 290) },
    { ok: true, result: { ...ceilingAt(296, 292), fma: { reason: "no C compiler found" } } },
  );
  assert.equal(missing.fmaGflops, null);
  assert.equal(
    describeFmaPeak(missing),
    "FMA peak: not measured (before the rounds: not measured; after the rounds: no C compiler found)",
  );
  const rows = summarizeResults([
    makeResult("ours", [[30, [1000]]], [500], 300),
    makeResult("pytorch", [[30, [800]]], [1000], 600),
  ]);
  const out = efficiencyRows(rows, 0.2, 300, summary.fmaGflops);
  const share = out.find((r) => r.key === "fmaShare:30")!;
  assert.equal(share.label, "Training step share of the FMA peak, batch 30");
  // 1000 images/s × 0.2 GFLOP = 200 GFLOP/s of 421.5; PyTorch 160.
  assert.ok(Math.abs(share.values.ours! - 100 * 200 / 421.5) < 1e-9);
  assert.ok(Math.abs(share.values.pytorch! - 100 * 160 / 421.5) < 1e-9);
  assert.ok(!efficiencyRows(rows, 0.2, 300).some((r) => r.key.startsWith("fmaShare")));
});

Deno.test("efficiencyRows() gives GFLOP/s, share of the ceiling and epoch / step per batch size", () => {
  const rows = summarizeResults([
    makeResult("ours", [[30, [1000]], [128, [1200]]], [500], 300),
    makeResult("pytorch", [[30, [800]]], [1000], 600),
  ]);
  // makeResult's epochs run at half the step's throughput.
  const out = efficiencyRows(rows, 0.2, 400);
  assert.deepEqual(out.map((r) => [r.key, r.unit, r.values]), [
    ["stepGflops:30", "GFLOP/s", { ours: 200, pytorch: 160 }],
    ["ceilingShare:30", "%", { ours: 50, pytorch: 40 }],
    ["epochStep:30", "%", { ours: 50, pytorch: 50 }],
    ["stepGflops:128", "GFLOP/s", { ours: 240 }],
    ["ceilingShare:128", "%", { ours: 60 }],
    ["epochStep:128", "%", { ours: 50 }],
  ]);
  assert.deepEqual(efficiencyRows(rows, 0.2, null).map((r) => r.key), [
    "stepGflops:30",
    "epochStep:30",
    "stepGflops:128",
    "epochStep:128",
  ]);
  const lines = formatReport(rows, out);
  assert.ok(lines.includes("epoch / step throughput, batch 30: ours 50.0%, PyTorch 50.0%"));
  assert.ok(lines.includes("Training step compute, batch 128: ours 240.0 GFLOP/s, PyTorch —"));
  assert.ok(
    lines.includes("Training step share of the sgemm ceiling, batch 30: ours 50.0%, PyTorch 40.0%"),
  );
  assert.match(lines.at(-1)!, /^ratio ours\/PyTorch, Peak RSS \(whole run\)/);
  const md = markdownTable(rows, {
    ours: "ours",
    pytorch: "torch",
    data: "synthetic",
    rounds: 1,
    machine: "2 cores",
    date: "2026-12-02",
    ceiling: describeCeiling(summarizeCeiling(
      { ok: true, result: ceilingAt(400, 390) },
      { ok: true, result: ceilingAt(395, 385) },
    )),
    gflopPerImage: 0.2,
  }, out);
  assert.match(md, /^\| Training step compute, batch 30 \(GFLOP\/s\) \| 200 \| 160 \| — \|$/m);
  assert.match(
    md,
    /^\| Training step share of the sgemm ceiling, batch 30 \(%\) \| 50% \| 40% \| — \|$/m,
  );
  assert.match(md, /^\| epoch \/ step throughput, batch 128 \(%\) \| 50% \| — \| — \|$/m);
  assert.match(md, /sgemm ceiling: 400\.0 GFLOP\/s \(OpenBLAS sgemm, 2 thread\(s\)/);
  assert.match(md, /A training step does 0\.200 GFLOP per image/);
});

Deno.test("measureCeiling() times each size after an untimed product; bad settings are named", () => {
  const calls: number[] = [];
  const library = {
    description: "fake",
    path: "fake.so",
    getThreads: () => 3,
    sgemm(_ta: boolean, _tb: boolean, m: number, n: number, k: number) {
      assert.equal(m, n);
      assert.equal(n, k);
      calls.push(n);
    },
  };
  const result = measureCeiling(library, { threads: 3, sizes: [8, 16], repeats: 2 });
  assert.deepEqual(calls, [8, 8, 8, 16, 16, 16]);
  assert.deepEqual(result.samples.map((s) => s.n), [8, 8, 16, 16]);
  assert.equal(result.libraryThreads, 3);
  assert.equal(result.bestGflops, Math.max(...result.samples.map((s) => s.gflops)));
  assert.equal(result.medianGflops, median(result.samples.map((s) => s.gflops)));
  assert.throws(() => measureCeiling(library, { threads: 1, sizes: [], repeats: 1 }), {
    name: "RangeError",
    message: "Cannot measure the sgemm ceiling: expected at least one size and one repeat, " +
      "found sizes [] and 1 repeat(s)",
  });
  assert.throws(() => parseCeilingArgs(["--sizes", "1024,x"]), {
    name: "RangeError",
    message: 'Cannot parse --sizes: expected an integer ≥ 1 in decimal digits, found "x"',
  });
  // Number() would read 0x400 as 1024.
  assert.throws(() => parseCeilingArgs(["--sizes", "0x400"]), {
    name: "RangeError",
    message: 'Cannot parse --sizes: expected an integer ≥ 1 in decimal digits, found "0x400"',
  });
  assert.throws(() => parseCeilingOutput("oops\n"), {
    name: "SyntaxError",
    message: 'Cannot read the sgemm ceiling: expected a JSON line with "mode": "ceiling", ' +
      'bestGflops and medianGflops, found "oops\\n"',
  });
});

Deno.test("bench:ceiling measures OpenBLAS's sgemm in its own process at the given threads", async () => {
  const measured = await runCeiling({ threads: 1, sizes: [128, 256], repeats: 2 });
  if (!measured.ok) {
    // Only a machine without OpenBLAS may fail here, and it must say so.
    assert.match(measured.reason, /Cannot load OpenBLAS/);
    return;
  }
  const r = measured.result;
  assert.equal(r.threads, 1);
  assert.equal(r.libraryThreads, 1); // OPENBLAS_NUM_THREADS was set before the library loaded.
  assert.deepEqual(r.samples.map((s) => s.n), [128, 128, 256, 256]);
  assert.ok(r.bestGflops > 0.1 && r.bestGflops < 1e5, `${r.bestGflops}`);
  assert.match(r.library, /\S/);
});

/** Writes an executable shell script. */
async function writeScript(path: string, body: string): Promise<string> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}`);
  await Deno.chmod(path, 0o755);
  return path;
}

/**
 * A fake `python3` for {@link ensurePytorchVenv}: `-m venv DIR` makes DIR/bin/python, a fake venv
 * interpreter whose `-m pip install` logs its arguments to DIR/pip.log and whose `-c` prints the
 * pinned versions once a torch install succeeded. `plain` and `noDeps` say whether the plain and
 * the `--no-deps` torch installs succeed.
 */
async function fakeBasePython(
  dir: string,
  behaviour: { venv?: boolean; plain: boolean; noDeps: boolean },
): Promise<string> {
  const installed =
    `touch "$venv/installed"; printf '#!%s/bin/python\\n' "$venv" > "$venv/bin/pip"`;
  const venvPythonScript = await writeScript(
    `${dir}/fake-venv-python`,
    `venv="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$1" = "-c" ]; then
  if [ -f "$venv/installed" ]; then echo "${TORCH_VERSION}+cu130 ${TORCHVISION_VERSION}+cu130"; exit 0; fi
  echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
  shift 3
  echo "$*" >> "$venv/pip.log"
  case "$*" in
    *--no-deps*torch==*) ${
      behaviour.noDeps
        ? installed
        : `echo "ERROR: No matching distribution found for torch==${TORCH_VERSION}" >&2; exit 1`
    } ;;
    *torch==*) ${
      behaviour.plain
        ? installed
        : `echo "ERROR: No matching distribution found for cuda-bindings" >&2; exit 1`
    } ;;
  esac
  echo "Successfully installed something"; exit 0
fi
echo "fake venv python: unexpected $*" >&2; exit 9
`,
  );
  return await writeScript(
    `${dir}/fake-python3`,
    `if [ "$1" = "-m" ] && [ "$2" = "venv" ] && [ "$3" = "--prompt" ]; then
  set -- "$5"
  ${
      behaviour.venv === false
        ? `echo "Error: Command '[\"$1/bin/python3\", \"-m\", \"ensurepip\"]' returned non-zero exit status 1." >&2; exit 1`
        : ""
    }
  mkdir -p "$1/bin" && cp "${venvPythonScript}" "$1/bin/python"
  printf 'home = /fake\\ncommand = fake-python3 -m venv %s\\n' "$1" > "$1/pyvenv.cfg"
  exit 0
fi
echo "fake python3: unexpected $*" >&2; exit 9
`,
  );
}

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("isPinnedVersion() ignores the local build tag only", () => {
  assert.ok(isPinnedVersion("2.14.1+cu130", "2.14.1"));
  assert.ok(isPinnedVersion("0.29.1", "0.29.1"));
  assert.ok(!isPinnedVersion("2.14.10", "2.14.1"));
  assert.ok(!isPinnedVersion("1.13.0a0+git", "2.14.1"));
  assert.ok(DEFAULT_VENV_DIR.endsWith(`/.tools/pytorch-${TORCH_VERSION}`));
});

Deno.test("ensurePytorchVenv() reuses a venv that imports the pinned versions, without python3", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/pytorch`;
    await Deno.mkdir(`${dir}/bin`, { recursive: true });
    await writeScript(
      `${dir}/bin/python`,
      `echo "${TORCH_VERSION}+cu130 ${TORCHVISION_VERSION}+cu130"\n`,
    );
    const lines: string[] = [];
    const venv = await ensurePytorchVenv({
      dir,
      basePython: `${root}/no-such-python3`,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(venv, {
      dir,
      python: `${dir}/bin/python`,
      versions: { torch: `${TORCH_VERSION}+cu130`, torchvision: `${TORCHVISION_VERSION}+cu130` },
      installed: false,
    });
    assert.deepEqual(lines, []);
  });
});

Deno.test("ensurePytorchVenv() falls back to the step-by-step install and renames it into place", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/pytorch`;
    // Leftovers of a killed install (its process is gone) go; one of a running process stays.
    await Deno.mkdir(`${dir}.partial-999999999-0123abcd`);
    await Deno.mkdir(`${dir}.partial-1-0123abcd`);
    const basePython = await fakeBasePython(root, { plain: false, noDeps: true });
    const lines: string[] = [];
    const venv = await ensurePytorchVenv({ dir, basePython, log: (l) => lines.push(l) });
    assert.equal(venv.installed, true);
    assert.equal(venv.python, `${dir}/bin/python`);
    assert.deepEqual(venv.versions, {
      torch: `${TORCH_VERSION}+cu130`,
      torchvision: `${TORCHVISION_VERSION}+cu130`,
    });
    const pipCalls = (await Deno.readTextFile(`${dir}/pip.log`)).trim().split("\n");
    const flags = "--disable-pip-version-check --progress-bar off";
    assert.deepEqual(pipCalls, [
      `${flags} torch==${TORCH_VERSION} torchvision==${TORCHVISION_VERSION}`,
      ...FALLBACK_INSTALL.map((step) => `${flags} ${step.args.join(" ")}`),
    ]);
    assert.ok(pipCalls[3]!.includes("nvidia-cudnn-cu13==9.24.0.43"));
    // The scripts name the final folder, not the temporary one.
    assert.equal(await Deno.readTextFile(`${dir}/bin/pip`), `#!${dir}/bin/python\n`);
    assert.match(await Deno.readTextFile(`${dir}/pyvenv.cfg`), new RegExp(`venv ${dir}\n`));
    assert.deepEqual(await names(root), [
      "fake-python3",
      "fake-venv-python",
      "pytorch",
      "pytorch.partial-1-0123abcd",
    ]);
    const text = lines.join("\n");
    assert.match(text, /pytorch is missing: installing torch 2\.14\.1 and torchvision 0\.29\.1/);
    assert.match(text, /removing .*pytorch\.partial-999999999-0123abcd, left by an install/);
    assert.match(
      text,
      /the plain install failed \(exit code 1: ERROR: No matching distribution found for cuda-bindings\); falling back/,
    );
    assert.match(
      text,
      /step 3\/3, the NVIDIA libraries torch links .*: pip install --no-deps nvidia-cudnn/,
    );
    assert.match(text, /^ {2}pip: Successfully installed something$/m);
    assert.match(text, /installed torch 2\.14\.1\+cu130, torchvision 0\.29\.1\+cu130 in /);
  });
});

Deno.test("ensurePytorchVenv() replaces a venv with other versions only once the new one imports", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/pytorch`;
    await Deno.mkdir(`${dir}/bin`, { recursive: true });
    await writeScript(`${dir}/bin/python`, `echo "2.13.0+cpu 0.28.0+cpu"\n`);
    const lines: string[] = [];
    const basePython = await fakeBasePython(root, { plain: true, noDeps: false });
    const venv = await ensurePytorchVenv({ dir, basePython, log: (l) => lines.push(l) });
    assert.equal(venv.installed, true);
    assert.equal(venv.versions.torch, `${TORCH_VERSION}+cu130`);
    assert.match(
      lines[0]!,
      /does not import torch 2\.14\.1 and torchvision 0\.29\.1 \(found torch 2\.13\.0\+cpu, torchvision 0\.28\.0\+cpu\): reinstalling it$/,
    );
    // Only the plain install ran; nothing of the old venv or the temporary folder is left.
    assert.equal((await Deno.readTextFile(`${dir}/pip.log`)).trim().split("\n").length, 1);
    assert.deepEqual(await names(root), ["fake-python3", "fake-venv-python", "pytorch"]);
  });
});

Deno.test("ensurePytorchVenv() names the fix when python3, its venv module or pip fails", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/pytorch`;
    const quiet = () => {};
    await assert.rejects(
      () => ensurePytorchVenv({ dir, basePython: `${root}/no-such-python3`, log: quiet }),
      (error: Error) => {
        assert.match(
          error.message,
          new RegExp(
            `^Cannot make the PyTorch venv: expected an interpreter named ${root}/no-such-python3, ` +
              "found none \\(.+\\); install Python 3 with its venv module \\(Debian: " +
              "`apt-get install -y python3 python3-venv`\\), or pass --python PATH with an " +
              "interpreter that has torch and torchvision$",
          ),
        );
        return true;
      },
    );
    const noVenv = await fakeBasePython(root, { venv: false, plain: true, noDeps: true });
    await assert.rejects(
      () => ensurePytorchVenv({ dir, basePython: noVenv, log: quiet }),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot make the PyTorch venv: `.*fake-python3 -m venv --prompt pytorch .*pytorch\.partial-\d+-[0-9a-f]+` exited with code 1, expected 0 \(Error: Command .*ensurepip.* returned non-zero exit status 1\.\); install Python's venv module \(Debian: `apt-get install -y python3-venv`\), or pass --python PATH/,
        );
        return true;
      },
    );
    assert.deepEqual(await names(root), ["fake-python3", "fake-venv-python"]);
    const noPip = await fakeBasePython(root, { plain: false, noDeps: false });
    await assert.rejects(
      () => ensurePytorchVenv({ dir, basePython: noPip, log: quiet }),
      (error: Error) => {
        assert.equal(
          error.message,
          `Cannot install torch 2.14.1 and torchvision 0.29.1 into ${dir}: \`pip install --no-deps ` +
            "torch==2.14.1 torchvision==0.29.1` exited with code 1, expected 0 (ERROR: No matching " +
            "distribution found for torch==2.14.1; the plain install had failed too: ERROR: No " +
            "matching distribution found for cuda-bindings); check that pip reaches a package " +
            "index with these versions (`pip config list`, PIP_INDEX_URL), or pass --python PATH " +
            "with an interpreter that has torch and torchvision",
        );
        return true;
      },
    );
    // A failed install leaves nothing that a later run would trust.
    assert.deepEqual(await names(root), ["fake-python3", "fake-venv-python"]);
  });
});

Deno.test("--isa limits both sides to one instruction set, and names the choices when wrong", () => {
  assert.equal(parseBenchArgs([]).options.isa, null);
  assert.equal(parseBenchArgs(["--isa", "avx2"]).options.isa, "avx2");
  // Each limit reaches our native build, PyTorch's kernels and its oneDNN convolutions.
  for (const limits of Object.values(ISA_LIMITS)) {
    for (const name of ["CIFAR10_NATIVE_ISA", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"]) {
      assert.ok(limits[name] !== undefined, name);
    }
  }
  assert.equal(ISA_LIMITS.avx2.CIFAR10_NATIVE_ISA, "avx2");
  assert.throws(() => parseBenchArgs(["--isa", "avx9"]), {
    name: "RangeError",
    message: 'Cannot parse --isa: expected one of avx512, avx2, portable, found "avx9"',
  });
});

Deno.test("--isa: a side that ran another instruction set stops the run, naming what it ran", () => {
  const ours = (build: string) => ({
    side: "ours" as const,
    implementation:
      `TensorFlow.js 4.22.0 on Deno 2.9.6, backend OpenBLAS 0.3.21 (libopenblas.so.0); ` +
      `element-wise loops, convolutions and batch-sized products native (${build} build, 2 threads)`,
  });
  const pytorch = (kernels: string) => ({
    side: "pytorch" as const,
    implementation: `PyTorch 2.14.1 (torchvision 0.29.1), CPU, kernels ${kernels}`,
  });
  checkIsaHonoured(ours("avx2"), "avx2");
  checkIsaHonoured(pytorch("AVX2"), "avx2");
  checkIsaHonoured(pytorch("DEFAULT"), "portable");
  checkIsaHonoured(ours("portable"), null);
  assert.throws(() => checkIsaHonoured(pytorch("AVX512"), "avx2"), {
    message:
      /^Cannot compare the sides with --isa avx2: the pytorch side did not run it \(expected "kernels AVX2" in its description, found ".*kernels AVX512"\)$/,
  });
  // Our side without native kernels (the JS loops, as a -march rule once made it) is refused.
  const jsLoops = {
    side: "ours" as const,
    implementation:
      "TensorFlow.js 4.22.0 on Deno 2.9.6, backend OpenBLAS 0.3.21; element-wise loops in JS",
  };
  assert.throws(() => checkIsaHonoured(jsLoops, "avx2"), /the ours side did not run it/);
});

const gpuCheckAdapter = await hasWebgpuAdapter();

Deno.test({
  name: skipName(
    "bench/gpu_check.sh names the adapter, stops on a software one, and times webgpu when told",
    !gpuCheckAdapter,
    "no WebGPU adapter (sudo apt-get install mesa-vulkan-drivers libvulkan1)",
  ),
  ignore: !gpuCheckAdapter,
  async fn() {
    const script = new URL("../bench/gpu_check.ts", import.meta.url).pathname;
    const check = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    };
    const plain = await check();
    assert.match(plain.stdout, /^Adapter: .+/);
    const software = /^Adapter: .*\(software\)$/m.test(plain.stdout);
    if (software) {
      assert.equal(plain.code, 2);
      assert.match(plain.stdout, /No GPU: this is a software adapter/);
    }
    // End to end at a tiny size (on a software adapter, as the tests can).
    const tiny = await check(
      "--allow-software",
      ...["--batch-sizes", "2", "--steps", "1", "--repeats", "1"],
      ...["--epoch-images", "4", "--inference-images", "4"],
    );
    assert.equal(tiny.code, 0, tiny.stdout);
    assert.match(tiny.stdout, /^ours: .*backend webgpu \(/m);
    assert.match(tiny.stdout, /^PyTorch( on CUDA: not run \(no PyTorch that sees a CUDA GPU|: )/m);
    assert.match(tiny.stdout, /^Training step, batch 2 +ours +\d+\.\d img\/s/m);
    assert.match(tiny.stdout, /^Data: SYNTHETIC \(random pixels, NOT CIFAR-10\)/m);
  },
});
