/**
 * Per-kernel profile of the tutorial model's training step, on the wasm and cpu backends with our
 * training kernels registered (lib/engine/backend.ts): median milliseconds per kernel at the model's
 * shapes, and a whole training step (forward, backward through `tf.variableGrads`, Adam).
 *
 * ```sh
 * deno run -A bench/kernels_bench.ts                       # wasm and cpu, batch 30
 * deno run -A bench/kernels_bench.ts --backends wasm --original   # also tfjs's own wasm kernels
 * deno run -A bench/kernels_bench.ts --repeats 9 --json out/kernels.json
 * ```
 *
 * Inputs are random tensors (no data set involved) with ReLU's zeros where training has them.
 * Timings on a shared machine are noisy: each figure is the median of `--repeats` runs after one
 * warm-up run.
 * @module
 */
import { median } from "./stats.ts";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../lib/core/config.ts";
import { initBackend, registerTrainingKernels } from "../lib/engine/backend.ts";
import { restoreKernels } from "../lib/engine/kernels/registry.ts";
import { registerTrainingGradients } from "../lib/engine/gradients.ts";
import { createRng } from "../lib/core/random.ts";
import { parseInteger } from "../lib/core/flags.ts";

/** One benchmarked operation: `run` returns the tensors to wait for and dispose. */
interface Case {
  kernel: string;
  shape: string;
  /** Builds inputs once; returns the timed function, an untimed preparation run before each
   * timed call, and a cleanup. */
  setup(): { run: () => tf.Tensor | tf.Tensor[]; before?: () => void; dispose: () => void };
}

interface Row {
  kernel: string;
  shape: string;
  ms: Record<string, number | null>;
}

function random(shape: number[], seed: number, scale = 1): tf.Tensor {
  const rng = createRng(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * scale;
  return tf.tensor(values, shape);
}

/** Zeroes the negative entries (and disposes the input), like a ReLU or its gradient mask. */
function relu(t: tf.Tensor): tf.Tensor {
  const out = tf.relu(t);
  t.dispose();
  return out;
}

function timeCase(c: Case, repeats: number): number {
  const { run, before, dispose } = c.setup();
  const samples: number[] = [];
  for (let i = 0; i <= repeats; i++) {
    before?.();
    const start = performance.now();
    const out = run();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    const ms = performance.now() - start;
    tf.dispose(out);
    if (i > 0) samples.push(ms); // run 0 warms up (XNNPACK operators, JIT)
  }
  dispose();
  return median(samples);
}

/** The tutorial's convolutions at batch `b`: [height, in, out]. */
const CONVS: [string, number, number, number][] = [
  ["conv1", 32, 3, 16],
  ["conv2", 32, 16, 32],
  ["conv3", 16, 32, 64],
  ["conv4", 16, 64, 128],
];

function kernelCases(b: number): Case[] {
  const cases: Case[] = [];
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => () =>
    tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  for (const [layer, h, cin, cout] of CONVS) {
    const shape = `${layer} ${b}×${h}×${h}×${cin}→${cout}`;
    const conv = { strides: 1, pad: "same", dataFormat: "NHWC", dilations: 1 };
    const tensors = () => ({
      // As in training: ReLU outputs (half zeros) feed every convolution but the first, and
      // ReLU's gradient zeroes about half of each convolution's output gradient.
      x: cin === 3 ? random([b, h, h, cin], 1) : relu(random([b, h, h, cin], 1)),
      filter: random([3, 3, cin, cout], 2, 0.1),
      dy: relu(random([b, h, h, cout], 3, 0.01)),
    });
    cases.push({
      kernel: "Conv2D",
      shape,
      setup() {
        const t = tensors();
        return {
          run: run(tf.Conv2D, { x: t.x, filter: t.filter }, conv),
          dispose: () => tf.dispose(t),
        };
      },
    });
    cases.push({
      kernel: "Conv2DBackpropFilter",
      shape,
      setup() {
        const t = tensors();
        const attrs = { ...conv, filterShape: [3, 3, cin, cout] };
        return {
          run: run(tf.Conv2DBackpropFilter, { x: t.x, dy: t.dy }, attrs),
          dispose: () => tf.dispose(t),
        };
      },
    });
    if (cin === 3) continue; // the image needs no gradient
    cases.push({
      kernel: "Conv2DBackpropInput",
      shape,
      setup() {
        const t = tensors();
        const attrs = { ...conv, inputShape: [b, h, h, cin] };
        return {
          run: run(tf.Conv2DBackpropInput, { dy: t.dy, filter: t.filter }, attrs),
          dispose: () => tf.dispose(t),
        };
      },
    });
  }
  // Dense layers: fc1 8192→500, fc2 500→10.
  for (const [layer, k, n] of [["fc1", 8192, 500], ["fc2", 500, 10]] as const) {
    const mats = () => ({
      x: relu(random([b, k], 4)),
      w: random([k, n], 5, 0.01),
      dy: layer === "fc1" ? relu(random([b, n], 6, 0.01)) : random([b, n], 6, 0.01),
    });
    const variants: [string, (t: ReturnType<typeof mats>) => () => tf.Tensor][] = [
      ["MatMul x·W (weights reused)", (t) => () => tf.matMul(t.x, t.w)],
      ["MatMul dy·Wᵀ (input gradient)", (t) => () => tf.matMul(t.dy, t.w, false, true)],
      ["MatMul xᵀ·dy (weight gradient)", (t) => () => tf.matMul(t.x, t.dy, true, false)],
    ];
    const shape = `${layer} ${b}×${k}·${k}×${n}`;
    for (const [kernel, make] of variants) {
      cases.push({
        kernel,
        shape,
        setup() {
          const t = mats();
          return { run: make(t), dispose: () => tf.dispose(t) };
        },
      });
    }
    cases.push({
      kernel: "MatMul x·W (new weights, as in training)",
      shape,
      setup() {
        const t = mats();
        // A fresh copy of the weights before each call (untimed): XNNPACK cannot reuse its packing.
        let fresh: tf.Tensor | null = null;
        const before = () => {
          fresh?.dispose();
          fresh = tf.clone(t.w);
          fresh.dataSync();
        };
        return {
          run: () => tf.matMul(t.x, fresh!),
          before,
          dispose: () => tf.dispose([t, fresh!]),
        };
      },
    });
  }
  for (const [layer, h, c] of [["pool1", 32, 32], ["pool2", 16, 128]] as const) {
    const shape = `${layer} ${b}×${h}×${h}×${c}`;
    const attrs = { filterSize: 2, strides: 2, pad: "valid" };
    cases.push({
      kernel: "MaxPool",
      shape,
      setup() {
        const x = random([b, h, h, c], 7);
        return { run: run(tf.MaxPool, { x }, attrs), dispose: () => x.dispose() };
      },
    });
    cases.push({
      kernel: "MaxPoolGrad",
      shape,
      setup() {
        const input = random([b, h, h, c], 7);
        const output = tf.maxPool(input as tf.Tensor4D, 2, 2, "valid");
        const dy = random(output.shape, 8);
        return {
          run: run(tf.MaxPoolGrad, { dy, input, output }, attrs),
          dispose: () => tf.dispose([input, output, dy]),
        };
      },
    });
  }
  for (const [layer, shape] of [["conv2 out", [b, 32, 32, 32]], ["fc1 out", [b, 500]]] as const) {
    cases.push({
      kernel: "Relu grad (dy·step(x))",
      shape: `${layer} ${shape.join("×")}`,
      setup() {
        const x = random([...shape], 9);
        const dy = random([...shape], 10);
        return {
          run: () => tf.tidy(() => tf.mul(dy, tf.cast(tf.step(x), "float32"))),
          dispose: () => tf.dispose([x, dy]),
        };
      },
    });
  }
  return cases;
}

/** The tutorial's network in plain tf ops (no dropout: it costs little and needs a seed). */
function logits(v: tf.Variable[], x: tf.Tensor4D): tf.Tensor2D {
  const conv = (input: tf.Tensor4D, i: number) =>
    tf.relu(tf.add(tf.conv2d(input, v[i] as tf.Tensor4D, 1, "same"), v[i + 1]!)) as tf.Tensor4D;
  let h = tf.maxPool(conv(conv(x, 0), 2), 2, 2, "valid");
  h = tf.maxPool(conv(conv(h, 4), 6), 2, 2, "valid");
  const flat = tf.reshape(h, [x.shape[0], 8192]) as tf.Tensor2D;
  const hidden = tf.relu(tf.add(tf.matMul(flat, v[8] as tf.Tensor2D), v[9]!)) as tf.Tensor2D;
  return tf.add(tf.matMul(hidden, v[10] as tf.Tensor2D), v[11]!) as tf.Tensor2D;
}

/** Parameters, a batch and the loss of the tutorial model. */
function makeStep(b: number) {
  const shapes = [
    [3, 3, 3, 16],
    [16],
    [3, 3, 16, 32],
    [32],
    [3, 3, 32, 64],
    [64],
    [3, 3, 64, 128],
    [128],
    [8192, 500],
    [500],
    [500, 10],
    [10],
  ];
  const vars = shapes.map((s, i) => {
    const fanIn = s.length === 1 ? 1 : s.slice(0, -1).reduce((p, q) => p * q, 1);
    return tf.variable(random(s, 20 + i, s.length === 1 ? 0 : 1 / Math.sqrt(fanIn)));
  });
  const x = random([b, 32, 32, 3], 11) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: b }, (_, i) => i % 10), "int32");
  const oneHot = tf.oneHot(labels, 10);
  const loss = () =>
    tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits(vars, x)), oneHot), 1))) as tf.Scalar;
  const optimizer = tf.train.adam(0.001);
  /** One training step; returns the loss. */
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss, vars);
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      return value;
    });
  const dispose = () => {
    optimizer.dispose();
    tf.dispose([...vars, x, labels, oneHot]);
  };
  return { vars, x, step, dispose };
}

function stepCases(b: number): Case[] {
  return [
    {
      kernel: "forward (logits)",
      shape: `batch ${b}`,
      setup() {
        const m = makeStep(b);
        return { run: () => tf.tidy(() => logits(m.vars, m.x)), dispose: m.dispose };
      },
    },
    {
      kernel: "training step (forward, backward, Adam)",
      shape: `batch ${b}`,
      setup() {
        const m = makeStep(b);
        return { run: m.step, dispose: m.dispose };
      },
    },
  ];
}

/** Milliseconds per kernel name inside one training step (`tf.profile`), after a warm-up step. */
async function profileStep(b: number): Promise<Map<string, number>> {
  const m = makeStep(b);
  m.step().dispose();
  const profile = await tf.profile(() => {
    m.step().dispose();
  });
  m.dispose();
  const totals = new Map<string, number>();
  for (const k of profile.kernels) {
    totals.set(k.name, (totals.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  }
  return totals;
}

function formatTable(rows: Row[], columns: string[]): string {
  const header = `| kernel | shape | ${columns.map((c) => `${c} (ms)`).join(" | ")} |`;
  const rule = `| --- | --- | ${columns.map(() => "---:").join(" | ")} |`;
  const cell = (v: number | null | undefined) =>
    v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1);
  const lines = rows.map((r) =>
    `| ${r.kernel} | ${r.shape} | ${columns.map((c) => cell(r.ms[c])).join(" | ")} |`
  );
  return [header, rule, ...lines].join("\n");
}

async function main(): Promise<void> {
  const { extra } = parseArgs(Deno.args, {
    "--backends": "string",
    "--repeats": "string",
    "--batch": "string",
    "--original": "bool",
    "--json": "string",
  });
  const backends = String(extra.backends ?? "wasm,cpu").split(",") as ("wasm" | "cpu")[];
  const batch = parseInteger(String(extra.batch ?? 30), "--batch", { min: 1 });
  const repeats = extra.repeats === undefined
    ? null
    : parseInteger(String(extra.repeats), "--repeats", { min: 1 });
  registerTrainingGradients();
  const kernels = new Map<string, Row>();
  const inStep = new Map<string, Row>();
  const columns: string[] = [];
  const record = (
    rows: Map<string, Row>,
    column: string,
    kernel: string,
    shape: string,
    ms: number,
  ) => {
    const key = `${kernel}|${shape}`;
    const row = rows.get(key) ?? { kernel, shape, ms: {} };
    row.ms[column] = ms;
    rows.set(key, row);
  };
  for (const backend of backends) {
    const info = await initBackend(backend);
    console.error(`# ${info.name}: ${info.device}`);
    // The cpu backend's kernels take seconds each at batch 30: fewer repeats.
    const n = repeats ?? (backend === "cpu" ? 3 : 7);
    columns.push(backend);
    for (const c of [...kernelCases(batch), ...stepCases(batch)]) {
      const ms = timeCase(c, n);
      record(kernels, backend, c.kernel, c.shape, ms);
      console.error(`${backend}  ${c.kernel}  ${c.shape}: ${ms.toFixed(2)} ms`);
    }
    for (const [kernel, ms] of await profileStep(batch)) {
      record(inStep, backend, kernel, `batch ${batch}, all calls`, ms);
    }
    if (extra.original === true && backend === "wasm") {
      // tfjs's own kernels for what we replace (Conv2DBackpropFilter has none on wasm).
      const original = `${backend}, tfjs's kernels`;
      columns.push(original);
      restoreKernels(backend);
      for (const c of kernelCases(batch)) {
        if (!/Conv2DBackpropInput|MatMul|MaxPoolGrad/.test(c.kernel)) continue;
        const ms = timeCase(c, Math.min(n, 3));
        record(kernels, original, c.kernel, c.shape, ms);
        console.error(`${original}  ${c.kernel}  ${c.shape}: ${ms.toFixed(2)} ms`);
      }
      registerTrainingKernels(backend);
    }
  }
  const first = columns[0]!;
  const stepRows = [...inStep.values()]
    .filter((r) => Object.values(r.ms).some((ms) => ms !== null && ms >= 0.5))
    .sort((a, b) => (b.ms[first] ?? 0) - (a.ms[first] ?? 0));
  console.log(`Per kernel, median ms at batch ${batch}:\n`);
  console.log(formatTable([...kernels.values()], columns));
  console.log(`\nWhere one training step's time goes (tf.profile, kernels ≥ 0.5 ms):\n`);
  console.log(formatTable(stepRows, backends));
  if (typeof extra.json === "string") {
    const tmp = `${extra.json}.tmp-${crypto.randomUUID()}`;
    const report = { batch, columns, kernels: [...kernels.values()], step: stepRows };
    await Deno.writeTextFile(tmp, JSON.stringify(report, null, 1));
    await Deno.rename(tmp, extra.json);
  }
}

if (import.meta.main) await main();
