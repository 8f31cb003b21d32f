/**
 * `./run test:arm64`: the project on arm64 Linux, tested on an x86-64 machine under emulation.
 *
 * 1. Checks the tools (`./run test:arm64` installs them first where it is root with apt-get):
 *    qemu-user (`qemu-aarch64-static`), the cross compiler (`aarch64-linux-gnu-gcc`) and the
 *    arm64 libraries of Debian's multiarch (`libc6:arm64`, `libgomp1:arm64`,
 *    `libopenblas0-pthread:arm64`). Each one missing gets its own line and the command that
 *    installs it.
 * 2. Fetches the arm64 build of this Deno from npm (`@deno/linux-arm64-glibc`, the same version)
 *    into `.tools/deno-arm64-<version>/`.
 * 3. Runs every native-kernel test (tests/engine/kernels/native/ and blas/: our C kernels, NEON
 *    build and portable build, and the blas backend's kernels against tfjs's reference kernels)
 *    with that Deno under qemu-aarch64. Children it starts must be arm64 or cross tools: `CC` is
 *    the cross compiler, and tests that start Deno prefix it with {@linkcode EMULATOR_ENV}.
 * 4. Trains the tutorial's network for a few batches of synthetic images on the blas backend,
 *    with the same seed, natively and under emulation, and compares the per-batch losses.
 *
 * Prints one summary line: kernel tests passed, the losses on both architectures, their largest
 * relative difference and the tolerance. Exit code 0 when everything passed, 1 otherwise.
 * `--losses` (internal) prints this process's losses as JSON.
 * @module
 */
import { parseArgs, stripVTControlCharacters } from "node:util";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { makeConfig } from "../lib/core/config.ts";
import { generateSyntheticImages } from "../lib/data/synthetic.ts";
import { initBackend } from "../lib/engine/backend.ts";
import { buildModel } from "../lib/model/model.ts";
import { createOptimizer, trainEpoch } from "../lib/train/mod.ts";

/** Variable the runner sets to the emulator command, for tests that start a Deno of their own. */
export const EMULATOR_ENV = "CIFAR10_EMULATOR";

/** The test folders run under emulation: every test of our native kernels and the blas backend. */
export const KERNEL_TESTS = ["tests/engine/kernels/native/", "tests/engine/kernels/blas/"];

/** The training run compared across architectures: tutorial network, batch 30, seed 1. */
export const TRAINING = { seed: 1, batchSize: 30, batches: 8 } as const;

/**
 * Largest relative difference allowed between the two architectures' batch losses. They are not
 * bit-identical: OpenBLAS's x86-64 and arm64 kernels, and our AVX-512 and NEON convolutions, sum in
 * different orders with fused multiply-adds; after 8 Adam steps the float32 rounding differences
 * stay near 1e-5 relative. 1e-3 leaves room for that and still fails on any real bug (a wrong
 * kernel moves the losses by whole percents from the first batch).
 */
export const LOSS_TOLERANCE = 1e-3;

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** One thing the emulated run needs: how to find it and how to get it. */
interface Requirement {
  what: string;
  found: () => boolean;
  debian: string;
}

function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function commandRuns(command: string, args: string[] = ["--version"]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** qemu-user's AArch64 emulator: Debian's static build, else a dynamic one. */
function findEmulator(): string | null {
  return ["qemu-aarch64-static", "qemu-aarch64"].find((name) => commandRuns(name)) ?? null;
}

const CROSS_COMPILER = "aarch64-linux-gnu-gcc";
const ARM64_LIBS = "/usr/lib/aarch64-linux-gnu";

const REQUIREMENTS: readonly Requirement[] = [
  {
    what: "qemu-aarch64 (qemu-user)",
    found: () => findEmulator() !== null,
    debian: "qemu-user-static",
  },
  {
    what: `the cross compiler ${CROSS_COMPILER}`,
    found: () => commandRuns(CROSS_COMPILER),
    debian: "gcc-aarch64-linux-gnu",
  },
  {
    what: `arm64 glibc (${ARM64_LIBS}/libc.so.6)`,
    found: () => fileExists(`${ARM64_LIBS}/libc.so.6`) && fileExists("/lib/ld-linux-aarch64.so.1"),
    debian: "libc6:arm64",
  },
  {
    what: `arm64 libgomp (${ARM64_LIBS}/libgomp.so.1)`,
    found: () => fileExists(`${ARM64_LIBS}/libgomp.so.1`),
    debian: "libgomp1:arm64",
  },
  {
    what: `arm64 OpenBLAS (${ARM64_LIBS}/libopenblas.so.0)`,
    found: () => fileExists(`${ARM64_LIBS}/libopenblas.so.0`),
    debian: "libopenblas0-pthread:arm64",
  },
];

/**
 * The arm64 Deno of this Deno's version, fetched from npm once into `.tools/`.
 *
 * @returns Its path.
 * @throws {Error} When npm cannot fetch it or the archive holds no `deno`.
 */
async function arm64Deno(): Promise<string> {
  const version = Deno.version.deno;
  const folder = `${ROOT}/.tools/deno-arm64-${version}`;
  const binary = `${folder}/package/deno`;
  if (fileExists(binary)) return binary;
  const partial = `${folder}.partial-${Deno.pid}`;
  await Deno.mkdir(partial, { recursive: true });
  const spec = `@deno/linux-arm64-glibc@${version}`;
  console.log(`[test:arm64] fetching ${spec} from npm into .tools/`);
  const pack = await new Deno.Command("npm", {
    args: ["pack", "--silent", spec],
    cwd: partial,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const tarball = new TextDecoder().decode(pack.stdout).trim().split("\n").pop() ?? "";
  if (!pack.success || tarball === "") {
    throw new Error(`npm pack ${spec} failed (see above); it needs the npm registry`);
  }
  const untar = await new Deno.Command("tar", { args: ["xzf", tarball], cwd: partial }).output();
  if (!untar.success || !fileExists(`${partial}/package/deno`)) {
    throw new Error(`${partial}/${tarball} holds no package/deno`);
  }
  await Deno.remove(`${partial}/${tarball}`);
  // The folder appears whole or not at all.
  await Deno.rename(partial, folder);
  return binary;
}

/** Runs a command with its output passed through, and returns that output too. */
async function runShown(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const pass = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pass(child.stdout, Deno.stdout),
    pass(child.stderr, Deno.stderr),
  ]);
  return { code: status.code, output };
}

/** Counts from the last `ok | 31 passed (60 steps) | 0 failed | 1 ignored` line of deno test. */
export function testCounts(
  output: string,
): { passed: number; failed: number; ignored: number; steps: number } | null {
  // deno test colours its summary; the counts are read without the escapes.
  const plain = stripVTControlCharacters(output);
  const lines = plain.split("\n").filter((line) => /^(ok|FAILED) \| \d+ passed/.test(line));
  const last = lines.at(-1);
  if (last === undefined) return null;
  const number = (pattern: RegExp) => Number(pattern.exec(last)?.[1] ?? 0);
  return {
    passed: number(/(\d+) passed/),
    failed: number(/(\d+) failed/),
    ignored: number(/(\d+) ignored/),
    steps: number(/\((\d+) steps?\)/),
  };
}

/** What the `--losses` mode prints. */
interface LossReport {
  arch: string;
  device: string;
  losses: number[];
}

/** Trains {@linkcode TRAINING}'s batches on the blas backend and returns each batch's loss. */
async function trainingLosses(): Promise<LossReport> {
  const info = await initBackend("blas");
  const config = makeConfig({
    seed: TRAINING.seed,
    batchSize: TRAINING.batchSize,
    maxBatchesPerEpoch: TRAINING.batches,
    backend: "blas",
  });
  const images = TRAINING.batchSize * TRAINING.batches;
  const set = generateSyntheticImages(images, { seed: TRAINING.seed });
  const indices = Int32Array.from({ length: images }, (_, i) => i);
  const model = buildModel(config);
  const optimizer = createOptimizer(config, info.name);
  const losses: number[] = [];
  await trainEpoch(model, { set, indices }, {
    optimizer,
    config,
    epoch: 1,
    onBatch: (progress) => {
      losses.push(progress.batchLoss);
    },
  });
  optimizer.dispose();
  model.dispose();
  tf.disposeVariables();
  return { arch: Deno.build.arch, device: info.device, losses };
}

/** Largest |a − b| / |b| over the batches. */
export function maxRelativeDifference(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-12));
  }
  return worst;
}

async function lossesOf(command: string, args: string[], env: Record<string, string>) {
  const result = await new Deno.Command(command, {
    args: [...args, "run", "-A", "--no-check", "scripts/test_arm64.ts", "--losses"],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (!result.success || line === undefined) {
    const stderr = new TextDecoder().decode(result.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`the training run (${[command, ...args].join(" ")}) failed:\n${stderr}`);
  }
  return JSON.parse(line) as LossReport;
}

const format = (losses: readonly number[]) => losses.map((l) => l.toFixed(5)).join(" ");

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { losses: { type: "boolean" } }, strict: true });
  if (values.losses) {
    console.log(JSON.stringify(await trainingLosses()));
    return 0;
  }
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    console.error(
      `[test:arm64] runs on Linux x86-64 (this is ${Deno.build.os} ${Deno.build.arch}); on an arm64 machine, ./run test runs the NEON build natively`,
    );
    return 1;
  }
  const missing = REQUIREMENTS.filter((r) => !r.found());
  if (missing.length > 0) {
    for (const r of missing) {
      console.error(
        `[test:arm64] missing ${r.what}; install with: sudo apt-get install ${r.debian}${
          r.debian.endsWith(":arm64")
            ? " (after sudo dpkg --add-architecture arm64 && sudo apt-get update)"
            : ""
        }`,
      );
    }
    return 1;
  }
  const started = performance.now();
  const emulator = findEmulator()!;
  const deno = await arm64Deno();
  const env: Record<string, string> = {
    CC: CROSS_COMPILER,
    [EMULATOR_ENV]: emulator,
    // The emulated Deno's own cache; node_modules/ is shared (its packages are JavaScript).
    DENO_DIR: `${ROOT}/.tools/deno-arm64-cache`,
  };
  const version = new TextDecoder().decode(
    (await new Deno.Command(emulator, { args: [deno, "--version"], stdout: "piped" }).output())
      .stdout,
  ).split("\n")[0];
  console.log(`[test:arm64] ${version} (aarch64) under ${emulator}; CC=${CROSS_COMPILER}`);
  // Type-checked natively by ./run test; checking again under emulation would only be slower.
  // deno test's own lines name each test; this runner adds the summary at the end.
  const tests = await runShown(emulator, [
    deno,
    "test",
    "-A",
    "--no-check",
    // A file per core: emulated JavaScript is about 75× slower than native, and most files are
    // single-threaded JavaScript around the native calls.
    "--parallel",
    ...KERNEL_TESTS,
  ], env);
  const counts = testCounts(tests.output);
  console.log(
    `[test:arm64] training ${TRAINING.batches} batches of ${TRAINING.batchSize} (seed ${TRAINING.seed}, blas) on x86-64 and under emulation`,
  );
  const x86 = await lossesOf(Deno.execPath(), [], {});
  const arm = await lossesOf(emulator, [deno], env);
  const difference = maxRelativeDifference(arm.losses, x86.losses);
  const lossesMatch = difference <= LOSS_TOLERANCE && arm.losses.length === TRAINING.batches;
  const testsPassed = tests.code === 0 && counts !== null && counts.failed === 0 &&
    counts.passed > 0;
  const seconds = Math.round((performance.now() - started) / 1000);
  console.log(`[test:arm64] x86-64 device: ${x86.device}`);
  console.log(`[test:arm64] aarch64 device: ${arm.device}`);
  console.log(
    `test:arm64 ${testsPassed && lossesMatch ? "ok" : "FAILED"}: ${
      counts === null
        ? "kernel tests gave no summary"
        : `${counts.passed} kernel tests passed (${counts.steps} steps), ${counts.failed} failed, ${counts.ignored} ignored`
    } under qemu-aarch64; losses x86-64 [${format(x86.losses)}], aarch64 [${
      format(arm.losses)
    }], largest relative difference ${difference.toExponential(1)} (tolerance ${LOSS_TOLERANCE}); ${
      Math.floor(seconds / 60)
    }m${String(seconds % 60).padStart(2, "0")}s`,
  );
  return testsPassed && lossesMatch ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
