import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { registerTrainingKernels } from "../../../lib/engine/backend.ts";
import { registerCpuTrainingKernels } from "../../../lib/engine/kernels/js/cpu.ts";
import {
  dilateInto,
  originalKernel,
  permuteInto,
  restoreKernels,
  transposeInto,
} from "../../../lib/engine/kernels/js/loops.ts";
import { registerTrainingGradients } from "../../../lib/engine/gradients.ts";
import { createRng } from "../../../lib/core/random.ts";

/** A backend running tfjs's original cpu kernels: the reference every new kernel must match. */
const REFERENCE = "cpu-reference";

/** Registers the reference backend (once), copying the cpu kernels as tfjs shipped them. */
function setUp(): void {
  if (tf.findBackendFactory(REFERENCE) === null) {
    tf.registerBackend(REFERENCE, () => new MathBackendCPU(), -1);
    for (const config of tf.getKernelsForBackend("cpu")) {
      const original = originalKernel(config.kernelName, "cpu") ?? config;
      tf.registerKernel({ ...original, backendName: REFERENCE });
    }
  }
  registerTrainingKernels("wasm");
  registerTrainingKernels("cpu");
  registerTrainingGradients();
  // Makes the engine check that every kernel frees its intermediates.
  tf.env().set("IS_TEST", true);
}

interface Values {
  values: Float32Array;
  shape: number[];
}

function randomValues(shape: number[], seed: number): Values {
  const rng = createRng(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return { values, shape };
}

/** Runs one kernel on one backend from plain arrays; checks that no tensor leaks. */
async function runKernel(
  backend: string,
  kernelName: string,
  inputs: Record<string, Values>,
  attrs: Record<string, unknown>,
): Promise<Values> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(inputs)) tensors[name] = tf.tensor(v.values, v.shape);
  const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { values: out.dataSync() as Float32Array, shape: out.shape };
  tf.dispose([out, ...Object.values(tensors)]);
  assert.equal(tf.memory().numTensors, before, `${kernelName} on ${backend} leaked tensors`);
  return result;
}

/** Largest absolute difference relative to the reference's largest magnitude. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let scale = 0;
  let error = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
  }
  return error / Math.max(scale, 1e-30);
}

/** float32 accumulation over thousands of terms stays well below this. */
const TOLERANCE = 2e-5;

Deno.test("permuteInto() transposes, crops and reverses a 4-D array", () => {
  const src = Float32Array.from({ length: 24 }, (_, i) => i); // shape [2, 3, 2, 2]
  const out = new Float32Array(24);
  permuteInto(src, out, { shape: [2, 3, 2, 2], perm: [3, 1, 2, 0] });
  // out[d, h, w, b] = src[b, h, w, d]
  assert.deepEqual([...out.subarray(0, 4)], [0, 12, 2, 14]);
  assert.equal(out[1 * 12 + 2 * 4 + 1 * 2 + 1], src[1 * 12 + 2 * 4 + 1 * 2 + 1]);
  const cropped = new Float32Array(8);
  permuteInto(src, cropped, { shape: [2, 3, 2, 2], perm: [0, 1, 2, 3], extent: [1, 2, 2, 2] });
  assert.deepEqual([...cropped], [0, 1, 2, 3, 4, 5, 6, 7]);
  const flipped = new Float32Array(24);
  permuteInto(src, flipped, {
    shape: [2, 3, 2, 2],
    perm: [0, 1, 3, 2],
    reverse: [false, true, true, false],
  });
  // flipped[b, h, d, w] = src[b, 2 - h, 1 - w, d]
  assert.equal(flipped[0], src[0 * 12 + 2 * 4 + 1 * 2 + 0]);
  assert.equal(flipped[1], src[0 * 12 + 2 * 4 + 0 * 2 + 0]);
  assert.equal(flipped[2], src[0 * 12 + 2 * 4 + 1 * 2 + 1]);
});

Deno.test("transposeInto() transposes a matrix larger than a tile, at offsets", () => {
  const rows = 37;
  const cols = 70;
  const src = Float32Array.from({ length: 5 + rows * cols }, (_, i) => i - 5);
  const out = new Float32Array(3 + rows * cols);
  transposeInto(src, out, { rows, cols, srcOffset: 5, dstOffset: 3 });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) assert.equal(out[3 + c * rows + r], r * cols + c);
  }
});

Deno.test("dilateInto() spreads values onto a strided grid", () => {
  const out = new Float32Array(1 * 3 * 5 * 1);
  dilateInto(Float32Array.from([1, 2, 3, 4, 5, 6]), out, {
    shape: [1, 2, 3, 1],
    strideHeight: 2,
    strideWidth: 2,
  });
  assert.deepEqual([...out], [1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 4, 0, 5, 0, 6]);
});

/** [batch, height, width, in, out, kernel, stride, padding] */
type ConvCase = [number, number, number, number, number, number, number, "same" | "valid"];

/** Kernel sizes 1/3/5, strides 1/2, same/valid, batch 1 and 30, channels 3 to 128. Sizes keep
 * each case under ~1.5M multiply-adds: the reference kernels are naive loops. */
const CONV_CASES: ConvCase[] = [
  [1, 8, 8, 3, 8, 1, 1, "same"],
  [1, 9, 7, 3, 16, 3, 1, "same"],
  [1, 9, 9, 16, 32, 3, 2, "same"],
  [1, 10, 10, 8, 8, 5, 2, "valid"],
  [30, 8, 8, 3, 16, 3, 1, "same"],
  [30, 4, 4, 16, 8, 3, 1, "same"],
  [30, 7, 7, 16, 16, 3, 2, "valid"],
  [30, 5, 5, 8, 4, 5, 1, "valid"],
  [1, 4, 4, 128, 64, 3, 1, "same"],
  [1, 5, 5, 64, 128, 3, 2, "same"],
  [1, 5, 5, 32, 128, 5, 2, "valid"],
  [3, 11, 11, 5, 7, 5, 1, "valid"],
  [2, 9, 9, 4, 16, 3, 1, "valid"],
  [2, 12, 12, 128, 16, 1, 2, "same"],
  [4, 9, 9, 24, 12, 5, 2, "same"],
];

Deno.test("Conv2D and its gradients on wasm and cpu match tfjs's cpu kernels", async (t) => {
  setUp();
  for (const [index, [b, h, w, cin, cout, k, stride, pad]] of CONV_CASES.entries()) {
    const name = `batch ${b}, ${h}×${w}×${cin} → ${cout}, ${k}×${k}, stride ${stride}, ${pad}`;
    await t.step(name, async () => {
      const seed = b * 1000 + h * 100 + cin * 10 + cout + k + stride;
      const x = randomValues([b, h, w, cin], seed);
      const filter = randomValues([k, k, cin, cout], seed + 1);
      const geometry = tf.backend_util.computeConv2DInfo(
        [b, h, w, cin],
        [k, k, cin, cout],
        stride,
        1,
        pad,
      );
      const dy = randomValues(geometry.outShape, seed + 2);
      if (index % 2 === 1) {
        // As in training: ReLU zeros in the input and in the output gradient.
        x.values.forEach((v, i) => x.values[i] = Math.max(0, v));
        dy.values.forEach((v, i) => dy.values[i] = v > 0.3 ? v : 0);
      }
      const common = { strides: stride, pad, dataFormat: "NHWC" };
      for (
        const [kernel, inputs, attrs] of [
          [tf.Conv2D, { x, filter }, { ...common, dilations: 1 }],
          [tf.Conv2DBackpropFilter, { x, dy }, { ...common, filterShape: filter.shape }],
          [tf.Conv2DBackpropInput, { dy, filter }, { ...common, inputShape: x.shape }],
        ] as const
      ) {
        const expected = await runKernel(REFERENCE, kernel, inputs, attrs);
        for (const backend of ["wasm", "cpu"]) {
          const actual = await runKernel(backend, kernel, inputs, attrs);
          assert.deepEqual(actual.shape, expected.shape);
          const error = relativeError(actual.values, expected.values);
          assert.ok(error < TOLERANCE, `${kernel} on ${backend}: relative error ${error}`);
        }
      }
    });
  }
});

Deno.test("MaxPoolGrad on wasm and cpu matches tfjs's cpu kernel, ties included", async (t) => {
  setUp();
  // [batch, height, width, channels, window, stride, padding]
  const cases: [number, number, number, number, number, number, "same" | "valid"][] = [
    [30, 8, 8, 32, 2, 2, "valid"],
    [2, 7, 9, 3, 2, 2, "valid"],
    [2, 7, 7, 5, 3, 2, "same"],
    [1, 6, 6, 4, 3, 1, "same"],
    [3, 5, 5, 128, 2, 1, "valid"],
  ];
  for (const [b, h, w, c, size, stride, pad] of cases) {
    await t.step(
      `batch ${b}, ${h}×${w}×${c}, window ${size}, stride ${stride}, ${pad}`,
      async () => {
        // ReLU outputs: many windows hold several zeros, so tie-breaking matters.
        const input = randomValues([b, h, w, c], b + h + c);
        input.values.forEach((v, i) => input.values[i] = Math.max(0, v));
        const attrs = { filterSize: size, strides: stride, pad };
        const info = tf.backend_util.computePool2DInfo([b, h, w, c], size, stride, 1, pad);
        const dy = randomValues(info.outShape, b + w);
        const output = await runKernel(REFERENCE, tf.MaxPool, { x: input }, attrs);
        const expected = await runKernel(REFERENCE, tf.MaxPoolGrad, { dy, input, output }, attrs);
        for (const backend of ["wasm", "cpu"]) {
          const actual = await runKernel(backend, tf.MaxPoolGrad, { dy, input, output }, attrs);
          assert.deepEqual(actual.shape, expected.shape);
          assert.deepEqual(actual.values, expected.values, backend);
        }
      },
    );
  }
});

Deno.test("MaxPoolGrad on wasm and cpu routes NaN and −∞ windows like tfjs's cpu kernel", async () => {
  setUp();
  const nan = Number.NaN;
  const inf = Number.NEGATIVE_INFINITY;
  // Four 2×2 windows of one channel: NaN first, all −∞, NaN last, a plain one.
  const input = {
    values: Float32Array.from([nan, 1, inf, inf, 2, 0, inf, inf, 3, 4, 5, 5, 1, nan, 5, 6]),
    shape: [1, 4, 4, 1],
  };
  for (
    const attrs of [
      { filterSize: 2, strides: 2, pad: "valid" },
      { filterSize: 3, strides: 1, pad: "same" },
    ]
  ) {
    const output = await runKernel(REFERENCE, tf.MaxPool, { x: input }, attrs);
    const grad = { values: Float32Array.from(output.values, (_, i) => i + 1), shape: output.shape };
    const expected = await runKernel(REFERENCE, tf.MaxPoolGrad, { dy: grad, input, output }, attrs);
    for (const backend of ["wasm", "cpu"]) {
      const actual = await runKernel(backend, tf.MaxPoolGrad, { dy: grad, input, output }, attrs);
      assert.deepEqual(actual.values, expected.values, `${backend} ${JSON.stringify(attrs)}`);
    }
  }
});

Deno.test("BatchMatMul on wasm and cpu matches tfjs's cpu kernel, transposed and batched", async (t) => {
  setUp();
  // [m, k, n, batch of a, batch of b]; the first row is the dense layer's shape, scaled down.
  const cases: [number, number, number, number[], number[]][] = [
    [30, 1024, 200, [], []],
    [7, 5, 3, [], []],
    [6, 40, 9, [3], [3]],
    [6, 40, 9, [2, 3], []],
    [6, 40, 9, [], [4]],
  ];
  for (const [m, k, n, batchA, batchB] of cases) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const name = `[${batchA}] ${m}×${k} · [${batchB}] ${k}×${n}, transposeA ${transposeA}, ` +
          `transposeB ${transposeB}`;
        await t.step(name, async () => {
          const a = randomValues([...batchA, ...(transposeA ? [k, m] : [m, k])], m + k);
          const b = randomValues([...batchB, ...(transposeB ? [n, k] : [k, n])], k + n);
          const attrs = { transposeA, transposeB };
          const expected = await runKernel(REFERENCE, tf.BatchMatMul, { a, b }, attrs);
          for (const backend of ["wasm", "cpu"]) {
            const actual = await runKernel(backend, tf.BatchMatMul, { a, b }, attrs);
            assert.deepEqual(actual.shape, expected.shape);
            const error = relativeError(actual.values, expected.values);
            assert.ok(error < TOLERANCE, `${backend}: relative error ${error}`);
          }
        });
      }
    }
  }
});

Deno.test("wasm BatchMatMul gives the same product when its right factor is reused", async () => {
  setUp();
  await tf.setBackend("wasm");
  // The first product with fresh weights takes the swapped layout, later ones XNNPACK's cached one.
  const a = tf.tensor(randomValues([30, 600], 1).values, [30, 600]);
  const w = tf.tensor(randomValues([600, 300], 2).values, [600, 300]);
  const products = [0, 1, 2].map(() => tf.matMul(a, w));
  const [first, second, third] = products.map((p) => p.dataSync() as Float32Array);
  assert.ok(relativeError(second!, first!) < TOLERANCE);
  assert.ok(relativeError(third!, first!) < TOLERANCE);
  tf.dispose([a, w, ...products]);
});

Deno.test("registerTrainingKernels() is idempotent and restoreKernels() puts tfjs's back", () => {
  setUp();
  const ours = tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc;
  assert.deepEqual(registerTrainingKernels("wasm"), []);
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc, ours);
  const original = originalKernel(tf.Conv2DBackpropInput, "wasm")!;
  assert.notEqual(original.kernelFunc, ours);
  assert.deepEqual(restoreKernels("wasm").sort(), [
    tf.BatchMatMul,
    tf.Conv2DBackpropFilter,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
  ]);
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc, original.kernelFunc);
  assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, "wasm"), undefined);
  assert.deepEqual(registerTrainingKernels("wasm").sort(), [
    tf.BatchMatMul,
    tf.Conv2DBackpropFilter,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
  ]);
  assert.equal(tf.getKernel(tf.Conv2DBackpropInput, "wasm")!.kernelFunc, ours);
});

Deno.test("registerCpuTrainingKernels() on a MathBackendCPU-based backend keeps its own kernels", () => {
  setUp();
  const name = "cpu-based-test";
  if (tf.findBackendFactory(name) === null) {
    tf.registerBackend(name, () => new MathBackendCPU(), -1);
    for (const config of tf.getKernelsForBackend(REFERENCE)) {
      tf.registerKernel({ ...config, backendName: name });
    }
  }
  // Like the blas backend: its own filter gradient, tfjs's cpu kernels for the rest.
  const own: tf.KernelFunc = (args) =>
    originalKernel(tf.Conv2DBackpropFilter, "cpu")!.kernelFunc(args);
  tf.unregisterKernel(tf.Conv2DBackpropFilter, name);
  tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName: name, kernelFunc: own });
  assert.deepEqual(registerCpuTrainingKernels(name).sort(), [
    tf.BatchMatMul,
    tf.Conv2D,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
    tf.Transform,
  ]);
  assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, name)!.kernelFunc, own);
  assert.equal(
    tf.getKernel(tf.MaxPoolGrad, name)!.kernelFunc,
    tf.getKernel(tf.MaxPoolGrad, "cpu")!.kernelFunc,
  );
  assert.deepEqual(registerCpuTrainingKernels(name), []);
  assert.deepEqual(restoreKernels(name).sort(), [
    tf.BatchMatMul,
    tf.Conv2D,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
    tf.Transform,
  ]);
});

/** The tutorial's network in plain tf ops: conv 3→16, 16→32, pool, 32→64, 64→128, pool,
 * flatten, dense 8192→500 ReLU, dense 500→10. */
function tutorialLogits(params: tf.Tensor[], x: tf.Tensor4D): tf.Tensor {
  const [w1, b1, w2, b2, w3, b3, w4, b4, w5, b5, w6, b6] = params as [
    tf.Tensor4D,
    tf.Tensor,
    tf.Tensor4D,
    tf.Tensor,
    tf.Tensor4D,
    tf.Tensor,
    tf.Tensor4D,
    tf.Tensor,
    tf.Tensor2D,
    tf.Tensor,
    tf.Tensor2D,
    tf.Tensor,
  ];
  const conv = (input: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor) =>
    tf.relu(tf.add(tf.conv2d(input, w, 1, "same"), bias)) as tf.Tensor4D;
  let h = conv(conv(x, w1, b1), w2, b2);
  h = tf.maxPool(h, 2, 2, "valid");
  h = conv(conv(h, w3, b3), w4, b4);
  h = tf.maxPool(h, 2, 2, "valid");
  const flat = tf.reshape(h, [x.shape[0], 8192]) as tf.Tensor2D;
  const hidden = tf.relu(tf.add(tf.matMul(flat, w5), b5)) as tf.Tensor2D;
  return tf.add(tf.matMul(hidden, w6), b6);
}

const PARAM_SHAPES: number[][] = [
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

/** Gradients of `Σ logits · r` for all parameters, on one backend. */
async function tutorialGradients(backend: string, batch: number): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const params = PARAM_SHAPES.map((shape, i) => {
    const fanIn = shape.length === 1 ? 10 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const v = randomValues(shape, 100 + i);
    return tf.tidy(() => tf.mul(tf.tensor(v.values, shape), 1 / Math.sqrt(fanIn)));
  });
  const x = tf.tensor4d(randomValues([batch, 32, 32, 3], 7).values, [batch, 32, 32, 3]);
  const r = tf.tensor(randomValues([batch, 10], 8).values, [batch, 10]);
  const grads = tf.grads((...ps: tf.Tensor[]) => tf.sum(tf.mul(tutorialLogits(ps, x), r)))(params);
  const values = grads.map((g) => g.dataSync() as Float32Array);
  tf.dispose([...params, ...grads, x, r]);
  assert.equal(tf.memory().numTensors, before, `gradients on ${backend} leaked tensors`);
  return values;
}

Deno.test("gradients of the tutorial model on wasm and cpu match the reference cpu backend", async (t) => {
  setUp();
  const expected = await tutorialGradients(REFERENCE, 2);
  for (const backend of ["wasm", "cpu"]) {
    await t.step(backend, async () => {
      const actual = await tutorialGradients(backend, 2);
      for (let i = 0; i < expected.length; i++) {
        const error = relativeError(actual[i]!, expected[i]!);
        assert.ok(error < TOLERANCE, `parameter ${i} ${PARAM_SHAPES[i]}: relative error ${error}`);
      }
    });
  }
});
