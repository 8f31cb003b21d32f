/**
 * The reference every training kernel of the cpu and wasm backends is held to: tfjs's own cpu
 * kernels, registered as a backend of their own, and the comparisons over a table of shapes that
 * js/cpu_test.ts and wasm/wasm_test.ts run for their backend ({@linkcode defineReferenceTests}).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { registerTrainingKernels } from "../../../lib/engine/backend.ts";
import { originalKernel } from "../../../lib/engine/kernels/registry.ts";
import { registerTrainingGradients } from "../../../lib/engine/gradients.ts";
import { createRng } from "../../../lib/core/random.ts";

/** A backend our training kernels are registered on. */
export type TrainingBackend = "wasm" | "cpu";

/** A backend running tfjs's original cpu kernels: the reference every new kernel must match. */
export const REFERENCE = "cpu-reference";

/**
 * Registers the reference backend (once), copying the cpu kernels as tfjs shipped them, and our
 * training kernels and gradients on `backend`.
 */
export function setUp(backend: TrainingBackend): void {
  if (tf.findBackendFactory(REFERENCE) === null) {
    tf.registerBackend(REFERENCE, () => new MathBackendCPU(), -1);
    for (const config of tf.getKernelsForBackend("cpu")) {
      const original = originalKernel(config.kernelName, "cpu") ?? config;
      tf.registerKernel({ ...original, backendName: REFERENCE });
    }
  }
  registerTrainingKernels(backend);
  registerTrainingGradients();
  // Makes the engine check that every kernel frees its intermediates.
  tf.env().set("IS_TEST", true);
}

export interface Values {
  values: Float32Array;
  shape: number[];
}

export function randomValues(shape: number[], seed: number): Values {
  const rng = createRng(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return { values, shape };
}

/** Runs one kernel on one backend from plain arrays; checks that no tensor leaks. */
export async function runKernel(
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
export function relativeError(actual: Float32Array, expected: Float32Array): number {
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
export const TOLERANCE = 2e-5;

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

/**
 * Defines the comparisons with the reference for one backend: Conv2D and both gradients,
 * MaxPoolGrad (ties, NaN and −∞ windows), BatchMatMul (transposed and batched) and the tutorial
 * model's gradients.
 */
export function defineReferenceTests(backend: TrainingBackend): void {
  Deno.test(`Conv2D and its gradients on ${backend} match tfjs's cpu kernels`, async (t) => {
    setUp(backend);
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
          const actual = await runKernel(backend, kernel, inputs, attrs);
          assert.deepEqual(actual.shape, expected.shape);
          const error = relativeError(actual.values, expected.values);
          assert.ok(error < TOLERANCE, `${kernel} on ${backend}: relative error ${error}`);
        }
      });
    }
  });

  Deno.test(`MaxPoolGrad on ${backend} matches tfjs's cpu kernel, ties included`, async (t) => {
    setUp(backend);
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
          const actual = await runKernel(backend, tf.MaxPoolGrad, { dy, input, output }, attrs);
          assert.deepEqual(actual.shape, expected.shape);
          assert.deepEqual(actual.values, expected.values, backend);
        },
      );
    }
  });

  Deno.test(`MaxPoolGrad on ${backend} routes NaN and −∞ windows like tfjs's cpu kernel`, async () => {
    setUp(backend);
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
      const grad = {
        values: Float32Array.from(output.values, (_, i) => i + 1),
        shape: output.shape,
      };
      const expected = await runKernel(
        REFERENCE,
        tf.MaxPoolGrad,
        { dy: grad, input, output },
        attrs,
      );
      const actual = await runKernel(backend, tf.MaxPoolGrad, { dy: grad, input, output }, attrs);
      assert.deepEqual(actual.values, expected.values, `${backend} ${JSON.stringify(attrs)}`);
    }
  });

  Deno.test(`BatchMatMul on ${backend} matches tfjs's cpu kernel, transposed and batched`, async (t) => {
    setUp(backend);
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
            const actual = await runKernel(backend, tf.BatchMatMul, { a, b }, attrs);
            assert.deepEqual(actual.shape, expected.shape);
            const error = relativeError(actual.values, expected.values);
            assert.ok(error < TOLERANCE, `${backend}: relative error ${error}`);
          });
        }
      }
    }
  });

  Deno.test(`gradients of the tutorial model on ${backend} match the reference cpu backend`, async (t) => {
    setUp(backend);
    const expected = await tutorialGradients(REFERENCE, 2);
    await t.step(backend, async () => {
      const actual = await tutorialGradients(backend, 2);
      for (let i = 0; i < expected.length; i++) {
        const error = relativeError(actual[i]!, expected[i]!);
        assert.ok(error < TOLERANCE, `parameter ${i} ${PARAM_SHAPES[i]}: relative error ${error}`);
      }
    });
  });
}
