/**
 * The "blas" backend on the tutorial's model: a per-kernel profile of one training step (median ms
 * per step over the profiled steps) and training-step throughput (forward + backward + Adam,
 * `tf.variableGrads` + `applyGradients`) in images/s at each batch size, with the fused Adam and,
 * for comparison, `tf.train.adam`. Optionally times the same step in PyTorch (Debian's
 * `/usr/bin/python3`, 2 threads) in the same command, for a ratio on equally noisy ground.
 *
 * ```sh
 * deno run -A bench/blas_bench.ts                       # batch 30 and 128, fused Adam
 * deno run -A bench/blas_bench.ts --batch 30 --steps 12 --pytorch
 * deno run -A bench/blas_bench.ts --adam both --threads 1
 * deno run -A bench/blas_bench.ts --batch 30 --levers    # each optimisation switched on in turn
 * deno run -A bench/blas_bench.ts --batch 30 --gemm      # only the bare sgemm calls of one step
 * deno run -A bench/blas_bench.ts --batch 30 --products  # convolutions, dense products: native vs OpenBLAS
 * deno run -A bench/blas_bench.ts --profile-baseline     # profile with GEMM kernels only, tf.train.adam
 * ```
 * @module
 */
import { median } from "./stats.ts";
import { parseArgs } from "node:util";
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  BLAS_BACKEND_NAME,
  FusedAdamOptimizer,
  getBlasThreads,
  registerBlasBackend,
} from "../lib/engine/kernels/blas/blas.ts";
import { parseInteger } from "../lib/core/flags.ts";
import { openBlas } from "../lib/engine/kernels/blas/cblas.ts";
import { makeConfig } from "../lib/core/config.ts";
import { buildModel, type Model } from "../lib/model/model.ts";
import { crossEntropy } from "../lib/train/mod.ts";
import { createRng } from "../lib/core/random.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "30,128" },
    steps: { type: "string", default: "8" },
    warmup: { type: "string", default: "2" },
    threads: { type: "string" },
    adam: { type: "string", default: "fused" },
    "profile-steps": { type: "string", default: "5" },
    pytorch: { type: "boolean", default: false },
    levers: { type: "boolean", default: false },
    gemm: { type: "boolean", default: false },
    products: { type: "boolean", default: false },
    "profile-baseline": { type: "boolean", default: false },
  },
});

const batchSizes = flags.batch.split(",").map((size) => parseInteger(size, "--batch", { min: 1 }));
const steps = parseInteger(flags.steps, "--steps", { min: 1 });
const warmup = parseInteger(flags.warmup, "--warmup", { min: 0 });
const profileSteps = parseInteger(flags["profile-steps"], "--profile-steps", { min: 0 });
const adamKinds = flags.adam === "both" ? ["fused", "tf"] : [flags.adam];
for (const kind of adamKinds) {
  if (kind !== "fused" && kind !== "fused-js" && kind !== "tf") {
    throw new RangeError(
      `Cannot run blas_bench: expected --adam fused, fused-js, tf or both, found "${kind}"`,
    );
  }
}

if (flags.gemm) {
  // The floor under a step: only OpenBLAS's products, on random operands, no im2col, no tfjs.
  const opened = openBlas();
  if (!opened.ok) {
    console.error(`blas_bench: ${opened.reason}`);
    Deno.exit(1);
  }
  const blas = opened.library;
  if (flags.threads) blas.setThreads(parseInteger(flags.threads, "--threads", { min: 1 }));
  const rng = createRng(7);
  for (const batch of batchSizes) {
    console.log(
      `\nbare sgemm calls of one training step, batch ${batch} (median of 15 calls each)`,
    );
    let totalMs = 0, totalFlop = 0;
    for (const shape of stepGemmShapes(batch)) {
      const { transA, transB, m, n, k } = shape;
      const a = Float32Array.from({ length: m * k }, () => rng.uniform(-1, 1));
      const b = Float32Array.from({ length: k * n }, () => rng.uniform(-1, 1));
      const c = new Float32Array(m * n);
      const times: number[] = [];
      for (let i = 0; i < 16; i++) {
        const t0 = performance.now();
        blas.sgemm(transA, transB, m, n, k, 1, a, transA ? m : k, b, transB ? k : n, 0, c, n);
        if (i > 0) times.push(performance.now() - t0);
      }
      const ms = median(times), flop = 2 * m * n * k;
      totalMs += ms;
      totalFlop += flop;
      console.log(
        `${shape.name.padEnd(20)} ${`${m}×${n}×${k}`.padEnd(16)} ${ms.toFixed(2).padStart(7)} ms ` +
          `${(flop / ms / 1e6).toFixed(0).padStart(4)} GFLOP/s`,
      );
    }
    console.log(
      `${"all".padEnd(37)} ${totalMs.toFixed(1).padStart(7)} ms ` +
        `${(totalFlop / totalMs / 1e6).toFixed(0).padStart(4)} GFLOP/s`,
    );
  }
  Deno.exit(0);
}

if (flags.products) {
  // Each convolution and dense-layer product of a training step, run by tfjs on two
  // registrations that differ only there: native loops vs OpenBLAS (im2col + sgemm for the
  // convolutions). Calls alternate between the two, so that machine load hits both alike.
  const native = await registerBlasBackend();
  const openblasName = "blas-openblas-products";
  const openblas = await registerBlasBackend({ name: openblasName, nativeProducts: false });
  if (!native.ok || !openblas.ok) {
    console.error(
      `blas_bench: ${native.ok ? (openblas.ok ? "" : openblas.reason) : native.reason}`,
    );
    Deno.exit(1);
  }
  if (!native.device.includes("convolutions and batch-sized products native")) {
    console.error(`blas_bench: the native products do not run here: ${native.device}`);
    Deno.exit(1);
  }
  console.log(`device: ${native.device}`);
  const calls = 15;
  for (const batch of batchSizes) {
    console.log(
      `\nconvolutions and dense products of one training step, batch ${batch}: median ms of ` +
        `${calls} alternating calls; ratio = OpenBLAS / native; max |difference| / max |value|`,
    );
    console.log(
      `${"kernel".padEnd(24)} ${"native".padStart(8)} ${"OpenBLAS".padStart(8)} ` +
        `${"ratio".padStart(6)} ${"GFLOP/s".padStart(8)} ${"rel diff".padStart(9)}`,
    );
    let totalNative = 0, totalOpenblas = 0;
    for (const product of stepProducts(batch)) {
      const times = { native: [] as number[], openblas: [] as number[] };
      const results: Float32Array[] = [];
      // The same operand values on both backends, so that their results can be compared.
      const operands = new Map<string, tf.NamedTensorMap>();
      for (const backend of [BLAS_BACKEND_NAME, openblasName]) {
        tf.setBackend(backend);
        const map: tf.NamedTensorMap = {};
        for (const [name, { values, shape }] of Object.entries(product.inputs)) {
          map[name] = tf.tensor(values, shape);
        }
        operands.set(backend, map);
      }
      for (let c = 0; c <= calls; c++) {
        for (
          const [side, backend] of [["native", BLAS_BACKEND_NAME], [
            "openblas",
            openblasName,
          ]] as const
        ) {
          tf.setBackend(backend);
          const t0 = performance.now();
          const result = tf.engine().runKernel(
            product.kernel,
            operands.get(backend)!,
            product.attrs as unknown as tf.NamedAttrMap,
          ) as tf.Tensor;
          // The kernels run synchronously. Reading the values (first call only) would bar the
          // output array from reuse: later calls would time fresh allocations, as training never
          // does.
          if (c > 0) times[side].push(performance.now() - t0);
          else results.push(Float32Array.from(result.dataSync() as Float32Array));
          result.dispose();
        }
      }
      for (const map of operands.values()) tf.dispose(Object.values(map));
      const n = median(times.native), o = median(times.openblas);
      totalNative += n;
      totalOpenblas += o;
      console.log(
        `${product.name.padEnd(24)} ${n.toFixed(2).padStart(8)} ${o.toFixed(2).padStart(8)} ` +
          `${(o / n).toFixed(2).padStart(5)}× ${(product.flop / n / 1e6).toFixed(0).padStart(8)} ` +
          `${relativeDifference(results[0]!, results[1]!).toExponential(1).padStart(9)}`,
      );
    }
    console.log(
      `${"all".padEnd(24)} ${totalNative.toFixed(2).padStart(8)} ${
        totalOpenblas.toFixed(2).padStart(8)
      } ${(totalOpenblas / totalNative).toFixed(2).padStart(5)}×`,
    );
  }
  Deno.exit(0);
}

/** One convolution or dense product of a training step, as the kernel tfjs runs for it. */
interface StepProduct {
  name: string;
  kernel: string;
  inputs: Record<string, { values: Float32Array; shape: number[] }>;
  attrs: Record<string, unknown>;
  flop: number;
}

/**
 * The convolution kernels (forward, input gradient except for the first layer, filter gradient)
 * and the first dense layer's three products of one training step of the tutorial's model, on
 * random operands.
 */
function stepProducts(batch: number): StepProduct[] {
  const config = makeConfig();
  const rng = createRng(11);
  const random = (...shape: number[]) => ({
    shape,
    values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
  });
  const products: StepProduct[] = [];
  let size = 32, channels = 3;
  for (const [i, out] of config.convChannels.entries()) {
    const xShape = [batch, size, size, channels], filterShape = [3, 3, channels, out];
    const attrs = { strides: 1, pad: "same", dataFormat: "NHWC", dimRoundingMode: undefined };
    const flop = 2 * batch * size * size * 9 * channels * out;
    const x = random(...xShape), filter = random(...filterShape);
    const dy = random(batch, size, size, out);
    const name = `conv${i + 1}`;
    products.push({
      name: `${name} forward`,
      kernel: "Conv2D",
      inputs: { x, filter },
      attrs,
      flop,
    });
    if (i > 0) {
      products.push({
        name: `${name} input grad`,
        kernel: "Conv2DBackpropInput",
        inputs: { dy, filter },
        attrs: { ...attrs, inputShape: xShape },
        flop,
      });
    }
    products.push({
      name: `${name} filter grad`,
      kernel: "Conv2DBackpropFilter",
      inputs: { x, dy },
      attrs: { ...attrs, filterShape },
      flop,
    });
    channels = out;
    if ((i + 1) % config.poolEvery === 0) size /= 2;
  }
  const inputs = size * size * channels, hidden = config.hiddenUnits;
  const flop = 2 * batch * inputs * hidden;
  const x = random(batch, inputs), w = random(inputs, hidden), dy = random(batch, hidden);
  const matMul = (
    name: string,
    a: typeof x,
    b: typeof x,
    transposeA: boolean,
    transposeB: boolean,
  ) => ({
    name,
    kernel: "BatchMatMul",
    inputs: { a, b },
    attrs: { transposeA, transposeB },
    flop,
  });
  products.push(matMul("fc1 forward", x, w, false, false));
  products.push(matMul("fc1 input grad", dy, w, false, true));
  products.push(matMul("fc1 weight grad", x, dy, true, false));
  return products;
}

/** Largest |a − b| over the largest |b|: two algorithms' float32 rounding apart. */
function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** One `sgemm` call of a training step: C[m×n] = op(A)·op(B) with inner size k. */
interface GemmShape {
  name: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
}

/**
 * The matrix products of one training step of the tutorial's model on the "blas" backend, as
 * im2col makes them: per convolution the forward product, the input gradient (not for the first
 * layer) and the filter gradient; per dense layer the same three.
 */
function stepGemmShapes(batch: number): GemmShape[] {
  const config = makeConfig();
  const shapes: GemmShape[] = [];
  let size = 32, channels = 3;
  config.convChannels.forEach((out, i) => {
    const rows = batch * size * size, k = 9 * channels, name = `conv${i + 1}`;
    shapes.push({ name: `${name} forward`, transA: false, transB: false, m: rows, n: out, k });
    if (i > 0) {
      shapes.push({
        name: `${name} input grad`,
        transA: false,
        transB: true,
        m: rows,
        n: k,
        k: out,
      });
    }
    shapes.push({
      name: `${name} filter grad`,
      transA: true,
      transB: false,
      m: k,
      n: out,
      k: rows,
    });
    channels = out;
    if ((i + 1) % config.poolEvery === 0) size /= 2;
  });
  const dense: [string, number, number][] = [
    ["fc1", size * size * channels, config.hiddenUnits],
    ["fc2", config.hiddenUnits, 10],
  ];
  for (const [name, inputs, outputs] of dense) {
    shapes.push({
      name: `${name} forward`,
      transA: false,
      transB: false,
      m: batch,
      n: outputs,
      k: inputs,
    });
    shapes.push({
      name: `${name} input grad`,
      transA: false,
      transB: true,
      m: batch,
      n: inputs,
      k: outputs,
    });
    shapes.push({
      name: `${name} weight grad`,
      transA: true,
      transB: false,
      m: inputs,
      n: outputs,
      k: batch,
    });
  }
  return shapes;
}

/** A fixed batch of normalised-looking images and labels (synthetic: this measures speed only). */
function syntheticBatch(size: number, seed: number) {
  const rng = createRng(seed);
  const pixels = Float32Array.from({ length: size * 32 * 32 * 3 }, () => rng.uniform(-1, 1));
  const labels = Int32Array.from({ length: size }, () => rng.int(10));
  return { x: tf.tensor4d(pixels, [size, 32, 32, 3]), y: tf.tensor1d(labels, "int32") };
}

/** One training step of the tutorial's loop: dropout on, cross-entropy, Adam. */
function trainStep(
  model: Model,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  seed: number,
) {
  const { value, grads } = tf.variableGrads(
    () => crossEntropy(model.forward(x, { training: true, seed }), y),
    Object.values(model.params),
  );
  optimizer.applyGradients(grads);
  const loss = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

function makeOptimizer(kind: string): tf.Optimizer {
  return kind === "fused"
    ? new FusedAdamOptimizer(0.001)
    : kind === "fused-js"
    ? new FusedAdamOptimizer(0.001, { native: false })
    : tf.train.adam(0.001);
}

// 1. Register: "blas" for timing, and a second copy whose kernels are wrapped with timers.
const registered = await registerBlasBackend(
  flags.threads ? { threads: parseInteger(flags.threads, "--threads", { min: 1 }) } : {},
);
if (!registered.ok) {
  console.error(`blas_bench: ${registered.reason}`);
  Deno.exit(1);
}
// --profile-baseline: the starting point, only the GEMM-based kernels and tf.train.adam.
const baseline = flags["profile-baseline"];
await registerBlasBackend(
  baseline
    ? {
      name: "blas-profile",
      pointwiseKernels: false,
      recycleArrays: false,
      cacheColumns: false,
      nativeKernels: false,
    }
    : { name: "blas-profile" },
);
/** The current step's kernel calls in order: [kernel, wall ms, process CPU ms]. */
let kernelCalls: [string, number, number][] = [];

/** CPU time of the whole process (all threads) in ms: unlike wall time, others' load barely moves it. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
for (const kernel of tf.getKernelsForBackend("blas-profile")) {
  const inner = kernel.kernelFunc;
  tf.unregisterKernel(kernel.kernelName, "blas-profile");
  tf.registerKernel({
    ...kernel,
    kernelFunc: (args) => {
      const start = performance.now(), cpuStart = cpuMs();
      const out = inner(args);
      kernelCalls.push([kernel.kernelName, performance.now() - start, cpuMs() - cpuStart]);
      return out;
    },
  });
}
console.log(`device: ${registered.device}; BLAS threads ${getBlasThreads()}`);

// 2. Profile one batch size (the first) kernel by kernel. A step runs the same kernel calls in
// the same order every time, so besides the median per kernel we can take each call's fastest
// time over the profiled steps: on a shared machine that "best" column approximates a quiet one.
{
  await tf.setBackend("blas-profile");
  const batch = batchSizes[0]!;
  const model = buildModel(makeConfig());
  const profiledAdam = baseline ? "tf" : adamKinds[0]!;
  const optimizer = makeOptimizer(profiledAdam);
  const { x, y } = syntheticBatch(batch, 1);
  const steps: [string, number, number][][] = [];
  const adamMs: number[] = [];
  for (let s = 0; s < warmup + profileSteps; s++) {
    kernelCalls = [];
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(model.forward(x, { training: true, seed: s }), y),
      Object.values(model.params),
    );
    const start = performance.now();
    optimizer.applyGradients(grads);
    const adam = performance.now() - start;
    tf.dispose([value, ...Object.values(grads)]);
    if (s >= warmup) {
      steps.push(kernelCalls);
      adamMs.push(adam);
    }
  }
  const sameCalls = steps.every((calls) =>
    calls.length === steps[0]!.length && calls.every(([name], i) => name === steps[0]![i]![0])
  );
  const medians = new Map<string, number>(), best = new Map<string, number>();
  const cpu = new Map<string, number>();
  const calls = new Map<string, number>();
  const names = [...new Set(steps.flatMap((c) => c.map(([name]) => name)))];
  for (const name of names) {
    const mine = steps.map((c) => c.filter(([n]) => n === name));
    medians.set(name, median(mine.map((c) => c.reduce((sum, [, ms]) => sum + ms, 0))));
    cpu.set(name, median(mine.map((c) => c.reduce((sum, [, , ms]) => sum + ms, 0))));
    calls.set(name, steps[0]!.filter(([n]) => n === name).length);
  }
  if (sameCalls) {
    for (const [i, [name]] of steps[0]!.entries()) {
      const fastest = Math.min(...steps.map((c) => c[i]![1]));
      best.set(name, (best.get(name) ?? 0) + fastest);
    }
  }
  const rows = names.map((name) =>
    [name, medians.get(name)!, best.get(name) ?? NaN, cpu.get(name)!] as const
  ).sort((a, b) => b[2] - a[2]);
  const total = rows.reduce((sum, [, ms]) => sum + ms, 0);
  const totalBest = rows.reduce((sum, [, , ms]) => sum + ms, 0);
  const totalCpu = rows.reduce((sum, [, , , ms]) => sum + ms, 0);
  console.log(
    `\nkernel profile${baseline ? " (baseline: GEMM kernels only)" : ""}, batch ${batch}, ` +
      `${profiledAdam} Adam, ${profileSteps} steps. ms per step: ` +
      `median wall time; "best": the sum of each call's fastest wall time (near a quiet ` +
      `machine's); "cpu": median process CPU time (all threads, BLAS spinning included)`,
  );
  const header = ["kernel".padEnd(24), "calls".padStart(5), "median".padStart(8)];
  console.log([...header, "best".padStart(8), "share".padStart(6), "cpu".padStart(8)].join(" "));
  for (const [name, ms, fastest, cpuTime] of rows.filter(([, ms]) => ms >= 0.05)) {
    console.log(
      [
        name.padEnd(24),
        String(calls.get(name)).padStart(5),
        ms.toFixed(2).padStart(8),
        fastest.toFixed(2).padStart(8),
        `${(100 * fastest / totalBest).toFixed(1)}%`.padStart(6),
        cpuTime.toFixed(2).padStart(8),
      ].join(" "),
    );
  }
  console.log(
    [
      "all kernels".padEnd(24),
      "".padStart(5),
      total.toFixed(2).padStart(8),
      totalBest.toFixed(2).padStart(8),
      "".padStart(6),
      totalCpu.toFixed(2).padStart(8),
    ].join(" "),
  );
  console.log(
    [
      "applyGradients (Adam)".padEnd(24),
      "".padStart(5),
      median(adamMs).toFixed(2).padStart(8),
      Math.min(...adamMs).toFixed(2).padStart(8),
    ].join(" "),
  );
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
}

// 2b. Each optimisation switched on in turn (first batch size), on its own registration.
if (flags.levers) {
  const batch = batchSizes[0]!;
  const levers: {
    label: string;
    options: Parameters<typeof registerBlasBackend>[0];
    adam: string;
  }[] = [
    {
      label: "GEMM kernels only, tf.train.adam",
      options: {
        pointwiseKernels: false,
        recycleArrays: false,
        cacheColumns: false,
        nativeKernels: false,
      },
      adam: "tf",
    },
    {
      label: "+ element-wise/pool kernels (JS)",
      options: { recycleArrays: false, cacheColumns: false, nativeKernels: false },
      adam: "tf",
    },
    {
      label: "+ array recycling",
      options: { cacheColumns: false, nativeKernels: false },
      adam: "tf",
    },
    { label: "+ im2col reuse", options: { cacheColumns: true, nativeKernels: false }, adam: "tf" },
    {
      label: "+ fused Adam (JS)",
      options: { cacheColumns: true, nativeKernels: false },
      adam: "fused-js",
    },
    {
      label: "+ native loops (C, OpenMP), no im2col reuse",
      options: { nativeProducts: false },
      adam: "fused",
    },
    { label: "+ native convolutions and dense products (C)", options: {}, adam: "fused" },
  ];
  console.log(`\nlevers, batch ${batch}: ms per step (median, best, median process CPU)`);
  for (const [i, lever] of levers.entries()) {
    const name = `blas-lever-${i}`;
    await registerBlasBackend({ ...lever.options, name });
    await tf.setBackend(name);
    const model = buildModel(makeConfig());
    const optimizer = makeOptimizer(lever.adam);
    const { x, y } = syntheticBatch(batch, 3);
    const times: number[] = [], cpuTimes: number[] = [];
    for (let s = 0; s < warmup + steps; s++) {
      const start = performance.now(), cpuStart = cpuMs();
      trainStep(model, optimizer, x, y, s);
      if (s >= warmup) {
        times.push(performance.now() - start);
        cpuTimes.push(cpuMs() - cpuStart);
      }
    }
    console.log(
      `${lever.label.padEnd(36)} ${median(times).toFixed(1).padStart(8)} ` +
        `${Math.min(...times).toFixed(1).padStart(8)} ${median(cpuTimes).toFixed(1).padStart(8)}`,
    );
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  }
}

// 3. Throughput of the whole step on "blas".
await tf.setBackend("blas");
const results: {
  batch: number;
  adam: string;
  ms: number;
  bestMs: number;
  cpuMs: number;
  imagesPerSecond: number;
  tensors: string;
}[] = [];
for (const batch of batchSizes) {
  for (const kind of adamKinds) {
    const model = buildModel(makeConfig());
    const optimizer = makeOptimizer(kind);
    const { x, y } = syntheticBatch(batch, 2);
    const times: number[] = [], cpuTimes: number[] = [];
    const tensorCounts: number[] = [];
    for (let s = 0; s < warmup + steps; s++) {
      const start = performance.now(), cpuStart = cpuMs();
      trainStep(model, optimizer, x, y, s);
      if (s >= warmup) {
        times.push(performance.now() - start);
        cpuTimes.push(cpuMs() - cpuStart);
      }
      tensorCounts.push(tf.memory().numTensors);
    }
    const ms = median(times);
    const stable = tensorCounts.slice(1).every((n) => n === tensorCounts[1]);
    results.push({
      batch,
      adam: kind,
      ms,
      bestMs: Math.min(...times),
      cpuMs: median(cpuTimes),
      imagesPerSecond: batch / (ms / 1000),
      tensors: stable ? `stable (${tensorCounts.at(-1)})` : `GROWING ${tensorCounts.join(",")}`,
    });
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  }
}

// 4. The PyTorch reference step, same model and batch, Adam, 2 threads.
/** PyTorch's [median ms, best ms, median CPU ms] per step, by batch size. */
const pytorch = new Map<number, [number, number, number]>();
if (flags.pytorch) {
  const script = `
import json, sys, time, statistics, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2); torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1); self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1); self.conv4 = nn.Conv2d(64, 128, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2); self.fc1 = nn.Linear(128 * 8 * 8, 500); self.fc2 = nn.Linear(500, 10)
        self.dropout = nn.Dropout(0.25)
    def forward(self, x):
        x = F.relu(self.conv1(x)); x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x)); x = self.pool(F.relu(self.conv4(x)))
        x = self.dropout(x.view(-1, 128 * 8 * 8)); x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)
out = {}
for batch in ${JSON.stringify(batchSizes)}:
    model = Net(); opt = torch.optim.Adam(model.parameters(), lr=0.001); loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, 32, 32) * 2 - 1; y = torch.randint(0, 10, (batch,))
    times, cpu = [], []
    for s in range(${warmup + steps}):
        t, c = time.perf_counter(), time.process_time()
        opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
        if s >= ${warmup}:
            times.append((time.perf_counter() - t) * 1000); cpu.append((time.process_time() - c) * 1000)
    out[batch] = [statistics.median(times), min(times), statistics.median(cpu)]
print(json.dumps(out))
`;
  try {
    const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (code !== 0) throw new Error(new TextDecoder().decode(stderr).trim().split("\n").at(-1));
    const parsed = JSON.parse(new TextDecoder().decode(stdout).trim()) as Record<
      string,
      [number, number, number]
    >;
    for (const [batch, ms] of Object.entries(parsed)) pytorch.set(Number(batch), ms);
  } catch (error) {
    console.log(`\nPyTorch reference not run: ${error instanceof Error ? error.message : error}`);
  }
}

console.log(
  `\ntraining step on "blas" (median of ${steps} steps after ${warmup} warm-up; best: fastest ` +
    `step; cpu: median process CPU time; images/s from the median and from the best step)`,
);
const columns = (cells: string[]) => console.log(cells.join(" "));
columns([
  "batch".padStart(5),
  "adam".padEnd(6),
  "ms/step".padStart(8),
  "best ms".padStart(8),
  "cpu ms".padStart(8),
  "images/s".padStart(9),
  "best img/s".padStart(10),
  " tensors",
]);
for (const r of results) {
  columns([
    String(r.batch).padStart(5),
    r.adam.padEnd(6),
    r.ms.toFixed(1).padStart(8),
    r.bestMs.toFixed(1).padStart(8),
    r.cpuMs.toFixed(1).padStart(8),
    r.imagesPerSecond.toFixed(1).padStart(9),
    (r.batch / (r.bestMs / 1000)).toFixed(1).padStart(10),
    ` ${r.tensors}`,
  ]);
}
if (pytorch.size > 0) {
  console.log(
    `\nPyTorch ${"(/usr/bin/python3, 2 threads, Adam)"}: the same step; ratio = ours / PyTorch images/s`,
  );
  columns([
    "batch".padStart(5),
    "ms/step".padStart(8),
    "best ms".padStart(8),
    "cpu ms".padStart(8),
    "images/s".padStart(9),
    "best img/s".padStart(10),
    "ratio".padStart(6),
    "best ratio".padStart(10),
  ]);
  for (const [batch, [ms, bestMs, cpu]] of pytorch) {
    const ours = results.find((r) => r.batch === batch && r.adam === adamKinds[0]);
    columns([
      String(batch).padStart(5),
      ms.toFixed(1).padStart(8),
      bestMs.toFixed(1).padStart(8),
      cpu.toFixed(1).padStart(8),
      (batch / (ms / 1000)).toFixed(1).padStart(9),
      (batch / (bestMs / 1000)).toFixed(1).padStart(10),
      (ours ? `${(ms / ours.ms).toFixed(2)}×` : "-").padStart(6),
      (ours ? `${(bestMs / ours.bestMs).toFixed(2)}×` : "-").padStart(10),
    ]);
  }
}
