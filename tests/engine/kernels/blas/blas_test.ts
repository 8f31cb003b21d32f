import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  BLAS_BACKEND_NAME,
  FusedAdamOptimizer,
  getBlasThreads,
  loadNativeKernels,
  registerBlasBackend,
  setBlasThreads,
} from "../../../../lib/engine/kernels/blas/blas.ts";
import { THREAD_ENV_DEFAULTS } from "../../../../lib/engine/kernels/native/native.ts";
import { withTempDir } from "../../../_util.ts";
import { blasCandidates, openBlas } from "../../../../lib/engine/kernels/blas/cblas.ts";
import { im2col } from "../../../../lib/engine/kernels/blas/products.ts";
import { ArrayPool, BlasBackend } from "../../../../lib/engine/kernels/blas/backend.ts";
import {
  registerTrainingGradients,
  RELU_BACKPROP,
  reluBackprop,
} from "../../../../lib/engine/gradients.ts";
import { createRng } from "../../../../lib/core/random.ts";
import { buildModel } from "../../../../lib/model/model.ts";
import { makeConfig } from "../../../../lib/core/config.ts";

// Every kernel the "blas" backend overrides is compared with tfjs's own `cpu` kernel on the same
// inputs. GEMM-based kernels sum in a different order (float32 inside BLAS), so they match within a
// float32 tolerance; the element-wise, reduction and pooling kernels must match bit for bit.

const registration = await registerBlasBackend();
const available = registration.ok;
if (!available) {
  console.warn(`blas_test: skipping the kernel tests: ${registration.reason}`);
}
const ignore = !available;

function randomValues(size: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: size }, () => rng.normal() * scale);
}

/** Runs `build` on a backend with fresh tensors and returns every output's values. */
async function runOn(
  backend: string,
  build: () => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outputs = tf.tidy(build);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const values = list.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(list);
  assert.equal(tf.memory().numTensors, before, `${backend} leaked tensors`);
  return values;
}

/** Largest |a − b| divided by the largest |reference| (at least 1e-6). */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length, "output sizes differ");
  let maxDiff = 0, maxRef = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!, a = actual[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      assert.ok(Number.isNaN(e) && Number.isNaN(a), `NaN mismatch at ${i}: ${a} vs ${e}`);
      continue;
    }
    maxDiff = Math.max(maxDiff, Math.abs(a - e));
    maxRef = Math.max(maxRef, Math.abs(e));
  }
  return maxDiff / maxRef;
}

async function assertClose(
  build: () => tf.Tensor | tf.Tensor[],
  label: string,
  { tolerance = 2e-5, backends = [BLAS_BACKEND_NAME] } = {},
) {
  const expected = await runOn("cpu", build);
  for (const backend of backends) {
    const actual = await runOn(backend, build);
    for (let i = 0; i < expected.length; i++) {
      const error = relativeError(actual[i]!, expected[i]!);
      assert.ok(
        error <= tolerance,
        `${label} on ${backend}, output ${i}: relative error ${error} > ${tolerance}`,
      );
    }
  }
}

/**
 * A second registration whose im2col chunks hold ~3000 values: many chunks per convolution (the
 * direct convolutions are off, so that every convolution takes the im2col path).
 */
const SMALL_CHUNKS = "blas-small-chunks";
if (available) {
  await registerBlasBackend({
    name: SMALL_CHUNKS,
    chunkElements: 3000,
    nativeProducts: false,
  });
}

/**
 * Native loops, but convolutions and products through OpenBLAS (im2col + sgemm): bit for bit
 * the JS loops' results.
 */
const IM2COL = "blas-im2col";
if (available) await registerBlasBackend({ name: IM2COL, nativeProducts: false });

/**
 * The same backend with the element-wise, pooling, im2col and bias loops in JS, not in the native
 * kernels (lib/engine/kernels/native/native.c): both must give the same bits.
 */
const JS_LOOPS = "blas-js-loops";
if (available) await registerBlasBackend({ name: JS_LOOPS, nativeKernels: false });

/** Whether a C compiler runs here, so that the native kernels must build. */
function compilerRuns(): boolean {
  for (const compiler of [Deno.env.get("CC") ?? "cc", "gcc"]) {
    try {
      if (
        new Deno.Command(compiler, { args: ["--version"], stdout: "null", stderr: "null" })
          .outputSync().success
      ) return true;
    } catch {
      // Not installed.
    }
  }
  return false;
}
const native = loadNativeKernels();
const nativeIgnore = !available || !native.ok;
if (!native.ok) console.warn(`blas_test: the native kernels did not load: ${native.reason}`);

async function assertIdentical(build: () => tf.Tensor | tf.Tensor[], label: string) {
  const expected = await runOn("cpu", build);
  for (const backend of [BLAS_BACKEND_NAME, JS_LOOPS]) {
    const actual = await runOn(backend, build);
    for (let i = 0; i < expected.length; i++) {
      assertSameFloats(actual[i]!, expected[i]!, `${label} on ${backend}, output ${i}`);
    }
  }
}

/** Equal element for element under Object.is: NaN equals NaN, and −0 differs from 0. */
function assertSameFloats(actual: Float32Array, expected: Float32Array, label: string) {
  assert.equal(actual.length, expected.length, `${label}: sizes differ`);
  for (let j = 0; j < expected.length; j++) {
    if (!Object.is(actual[j], expected[j])) {
      assert.fail(`${label} differs from the cpu kernel at ${j}: ${actual[j]} vs ${expected[j]}`);
    }
  }
}

/** One convolution case: NHWC input, HWIO filter. */
interface ConvCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: "same" | "valid" | number;
}

const CONV_CASES: ConvCase[] = [
  { n: 1, h: 9, w: 7, cin: 3, cout: 16, k: 3, stride: 1, pad: "same" },
  { n: 30, h: 8, w: 8, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" },
  { n: 2, h: 11, w: 10, cin: 5, cout: 7, k: 5, stride: 2, pad: "same" },
  { n: 1, h: 10, w: 9, cin: 8, cout: 12, k: 5, stride: 1, pad: "valid" },
  { n: 3, h: 9, w: 9, cin: 64, cout: 128, k: 3, stride: 2, pad: "valid" },
  { n: 30, h: 6, w: 5, cin: 128, cout: 3, k: 1, stride: 1, pad: "valid" },
  { n: 4, h: 7, w: 7, cin: 3, cout: 5, k: 1, stride: 2, pad: "same" },
  { n: 30, h: 5, w: 6, cin: 32, cout: 64, k: 3, stride: 2, pad: 1 },
  { n: 1, h: 4, w: 4, cin: 128, cout: 128, k: 3, stride: 1, pad: "same" },
  // Stride 1 with 16, 32 or 64 channels: the native direct convolutions, where they load.
  { n: 3, h: 7, w: 5, cin: 5, cout: 48, k: 3, stride: 1, pad: "same" },
  { n: 2, h: 9, w: 11, cin: 32, cout: 16, k: 5, stride: 1, pad: "valid" },
  { n: 5, h: 6, w: 7, cin: 16, cout: 64, k: 3, stride: 1, pad: 2 },
  { n: 4, h: 8, w: 8, cin: 64, cout: 32, k: 2, stride: 1, pad: "same" },
  { n: 2, h: 5, w: 5, cin: 16, cout: 32, k: 3, stride: 1, pad: 3 },
];

function convName(c: ConvCase): string {
  return `${c.n}×${c.h}×${c.w}×${c.cin}→${c.cout}, ${c.k}×${c.k}, stride ${c.stride}, pad ${c.pad}`;
}

function convTensors(c: ConvCase, seed: number) {
  const x = tf.tensor4d(randomValues(c.n * c.h * c.w * c.cin, seed), [c.n, c.h, c.w, c.cin]);
  const filter = tf.tensor4d(
    randomValues(c.k * c.k * c.cin * c.cout, seed + 1, 0.2),
    [c.k, c.k, c.cin, c.cout],
  );
  const y = tf.conv2d(x, filter, c.stride, c.pad);
  const dy = tf.tensor4d(randomValues(y.size, seed + 2), y.shape);
  return { x, filter, y, dy };
}

Deno.test({
  name: "registerBlasBackend() registers every cpu kernel and reports the library",
  ignore,
  fn: async () => {
    assert.ok(registration.ok);
    assert.match(registration.device, /\(.+\)$/);
    assert.ok(tf.findBackendFactory(BLAS_BACKEND_NAME) !== null);
    const cpuNames = tf.getKernelsForBackend("cpu").map((k) => k.kernelName).sort();
    const blasNames = new Set(tf.getKernelsForBackend(BLAS_BACKEND_NAME).map((k) => k.kernelName));
    assert.deepEqual(cpuNames.filter((name) => !blasNames.has(name)), []);
    // A second call reuses the registration.
    const again = await registerBlasBackend();
    assert.deepEqual(again, registration);
  },
});

Deno.test({
  name: "registerBlasBackend() refuses a name another backend already holds",
  ignore,
  fn: async () => {
    const result = await registerBlasBackend({ name: "cpu" });
    assert.deepEqual(result, {
      ok: false,
      reason: 'Cannot register backend "cpu": that name is already taken',
    });
  },
});

Deno.test({
  name: "setBlasThreads() changes the OpenBLAS thread count and rejects bad counts",
  ignore,
  fn: () => {
    const original = getBlasThreads();
    if (original === null) return; // A library without thread control (Accelerate).
    assert.equal(setBlasThreads(1), true);
    assert.equal(getBlasThreads(), 1);
    assert.equal(setBlasThreads(original), true);
    assert.equal(getBlasThreads(), original);
    assert.throws(() => setBlasThreads(0), {
      name: "RangeError",
      message: "Cannot set BLAS threads: expected an integer >= 1, found 0",
    });
  },
});

Deno.test("openBlas() explains a missing library in one line", () => {
  const result = openBlas("/nonexistent/libopenblas-missing.so", false);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.ok(!result.reason.includes("\n"));
  if (Deno.permissions.querySync({ name: "ffi" }).state === "granted") {
    assert.match(
      result.reason,
      /^Cannot load OpenBLAS: tried \/nonexistent\/libopenblas-missing\.so; first error: .+/,
    );
  }
});

Deno.test("blasCandidates() puts the explicit path and CIFAR10_BLAS_LIB first", () => {
  const previous = Deno.env.get("CIFAR10_BLAS_LIB");
  try {
    Deno.env.set("CIFAR10_BLAS_LIB", "/opt/blas/libcustom.so");
    const candidates = blasCandidates("/explicit/libblas.so");
    assert.deepEqual(candidates.slice(0, 2), ["/explicit/libblas.so", "/opt/blas/libcustom.so"]);
    if (Deno.build.os === "linux") assert.ok(candidates.includes("libopenblas.so.0"));
    if (Deno.build.os === "darwin") {
      assert.ok(candidates.includes("/System/Library/Frameworks/Accelerate.framework/Accelerate"));
    }
    assert.deepEqual(blasCandidates(undefined, false), ["/opt/blas/libcustom.so"]);
  } finally {
    if (previous === undefined) Deno.env.delete("CIFAR10_BLAS_LIB");
    else Deno.env.set("CIFAR10_BLAS_LIB", previous);
  }
});

Deno.test("registerBlasBackend() without --allow-ffi reports the missing permission", async () => {
  const script = `
    import { registerBlasBackend } from ${
    JSON.stringify(new URL("../../../../lib/engine/kernels/blas/blas.ts", import.meta.url).href)
  };
    console.log(JSON.stringify(await registerBlasBackend()));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "-"],
    cwd: new URL("../../../..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await output.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout).trim()), {
    ok: false,
    reason: "Cannot load OpenBLAS: Deno needs --allow-ffi (or -A)",
  });
});

/** Both gradient kernels of a convolution case, run directly. */
function convGradients(c: ConvCase, x: tf.Tensor, filter: tf.Tensor, dy: tf.Tensor) {
  const attrs = { strides: c.stride, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
  const dFilter = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
    ...attrs,
    filterShape: filter.shape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const dx = tf.engine().runKernel("Conv2DBackpropInput", { dy, filter }, {
    ...attrs,
    inputShape: x.shape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return { dFilter, dx };
}

Deno.test({
  name: "Conv2D, Conv2DBackpropFilter and Conv2DBackpropInput match the cpu kernels",
  ignore,
  fn: async (t) => {
    for (const [i, c] of CONV_CASES.entries()) {
      await t.step(convName(c), async () => {
        await assertClose(
          () => {
            const { x, filter, y, dy } = convTensors(c, 100 + 10 * i);
            const { dFilter, dx } = convGradients(c, x, filter, dy);
            return [y, dFilter, dx];
          },
          convName(c),
          { backends: [BLAS_BACKEND_NAME, SMALL_CHUNKS, JS_LOOPS] },
        );
      });
    }
  },
});

Deno.test("im2col() copies every value bit for bit, NaN payloads included", () => {
  for (
    const [n, h, w, c, k, stride, pad] of [[2, 5, 6, 4, 3, 1, "same"], [
      1,
      7,
      7,
      3,
      3,
      2,
      "valid",
    ]] as const
  ) {
    const info = tf.backend_util.computeConv2DInfo([n, h, w, c], [k, k, c, 1], stride, 1, pad);
    const bits = new Uint32Array(n * h * w * c);
    const rng = createRng(900 + c);
    for (let i = 0; i < bits.length; i++) {
      // Mostly ordinary floats; every fifth a quiet NaN with a payload, shaped so that a pair of
      // channels read as one float64 is a NaN too (exponent and top mantissa bits all set).
      // (Signalling NaNs are quieted by any float32 load in JS, so they are not used.)
      bits[i] = i % 5 === 0
        ? (rng.next() < 0.5 ? 0x7ff00001 : 0xfff00003) + (i % 1000)
        : 0x3f000000 + i;
    }
    const rowSize = k * k * c;
    const col = new Float32Array(info.outHeight * info.outWidth * n * rowSize).fill(7);
    im2col(new Float32Array(bits.buffer), info, 0, n, col);
    const colBits = new Uint32Array(col.buffer);
    let row = 0;
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < info.outHeight; oh++) {
        for (let ow = 0; ow < info.outWidth; ow++, row++) {
          for (let kh = 0; kh < k; kh++) {
            for (let kw = 0; kw < k; kw++) {
              for (let ch = 0; ch < c; ch++) {
                const ih = oh * stride - info.padInfo.top + kh;
                const iw = ow * stride - info.padInfo.left + kw;
                const inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
                const expected = inside ? bits[((b * h + ih) * w + iw) * c + ch]! : 0;
                const at = row * rowSize + (kh * k + kw) * c + ch;
                if (colBits[at] !== expected) {
                  assert.fail(
                    `col[${at}] = ${colBits[at]!.toString(16)}, expected ${expected.toString(16)}`,
                  );
                }
              }
            }
          }
        }
      }
    }
  }
});

Deno.test({
  name: "Conv2D falls back to the cpu kernel for dilations and NCHW",
  ignore,
  fn: async () => {
    await assertIdentical(() => {
      const x = tf.tensor4d(randomValues(2 * 9 * 9 * 4, 7), [2, 9, 9, 4]);
      const filter = tf.tensor4d(randomValues(3 * 3 * 4 * 6, 8), [3, 3, 4, 6]);
      return tf.conv2d(x, filter, 1, "same", "NHWC", 2);
    }, "dilated conv2d");
  },
});

Deno.test({
  name: "FusedConv2D adds the bias and applies the activation like the cpu kernel",
  ignore,
  fn: async (t) => {
    const activations = ["linear", "relu", "relu6", "elu"] as const;
    for (const activation of activations) {
      await t.step(activation, async () => {
        await assertClose(() => {
          const x = tf.tensor4d(randomValues(3 * 8 * 8 * 5, 21), [3, 8, 8, 5]);
          const filter = tf.tensor4d(randomValues(3 * 3 * 5 * 16, 22, 0.3), [3, 3, 5, 16]);
          const bias = tf.tensor1d(randomValues(16, 23));
          return [
            tf.fused.conv2d({ x, filter, strides: 1, pad: "same", bias, activation }),
            tf.fused.conv2d({ x, filter, strides: 2, pad: "valid", activation }),
            tf.fused.conv2d({
              x,
              filter,
              strides: 1,
              pad: "same",
              bias: tf.scalar(0.5),
              activation,
            }),
          ];
        }, `fused conv2d ${activation}`);
      });
    }
  },
});

Deno.test({
  name: "BatchMatMul matches the cpu kernel for every transpose combination and batch broadcast",
  ignore,
  fn: async (t) => {
    const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const [m, k, n] = [30, 96, 50];
        cases.push({ a: ta ? [k, m] : [m, k], b: tb ? [n, k] : [k, n], ta, tb });
        cases.push({ a: ta ? [3, k, m] : [3, m, k], b: tb ? [3, n, k] : [3, k, n], ta, tb });
        cases.push({ a: ta ? [1, k, m] : [1, m, k], b: tb ? [4, n, k] : [4, k, n], ta, tb });
        cases.push({ a: ta ? [2, 2, k, m] : [2, 2, m, k], b: tb ? [n, k] : [k, n], ta, tb });
      }
    }
    cases.push({ a: [1, 7], b: [7, 1], ta: false, tb: false });
    cases.push({ a: [30, 8192], b: [8192, 500], ta: false, tb: false });
    cases.push({ a: [30, 8192], b: [30, 500], ta: true, tb: false });
    cases.push({ a: [30, 500], b: [8192, 500], ta: false, tb: true });
    // Batch-sized products (the native ones where they load): row, column and step remainders.
    cases.push({ a: [7, 300], b: [300, 77], ta: false, tb: false });
    cases.push({ a: [128, 257], b: [257, 100], ta: false, tb: false });
    cases.push({ a: [5, 70], b: [300, 70], ta: false, tb: true });
    cases.push({ a: [33, 64], b: [256, 64], ta: false, tb: true });
    cases.push({ a: [9, 257], b: [9, 65], ta: true, tb: false });
    cases.push({ a: [128, 300], b: [128, 64], ta: true, tb: false });
    for (const [i, c] of cases.entries()) {
      const label = `${c.a}${c.ta ? "ᵀ" : ""} · ${c.b}${c.tb ? "ᵀ" : ""}`;
      await t.step(label, async () => {
        await assertClose(() => {
          const a = tf.tensor(randomValues(c.a.reduce((p, d) => p * d, 1), 300 + i), c.a);
          const b = tf.tensor(randomValues(c.b.reduce((p, d) => p * d, 1), 400 + i), c.b);
          return tf.matMul(a, b, c.ta, c.tb);
        }, label);
      });
    }
  },
});

Deno.test({
  name: "_FusedMatMul adds the bias and applies the activation like the cpu kernel",
  ignore,
  fn: async () => {
    await assertClose(() => {
      const a = tf.tensor2d(randomValues(30 * 64, 51), [30, 64]);
      const b = tf.tensor2d(randomValues(64 * 20, 52), [64, 20]);
      const bT = tf.tensor2d(randomValues(20 * 64, 53), [20, 64]);
      const bias = tf.tensor1d(randomValues(20, 54));
      return [
        tf.fused.matMul({ a, b, bias, activation: "relu" }),
        tf.fused.matMul({ a, b: bT, transposeB: true, bias, activation: "linear" }),
        tf.fused.matMul({ a, b, bias: tf.scalar(-0.25), activation: "relu6" }),
        tf.fused.matMul({ a, b, activation: "sigmoid" }),
        tf.fused.matMul({ a, b, bias: tf.tensor2d(randomValues(30 * 20, 55), [30, 20]) }),
      ];
    }, "fused matMul");
  },
});

Deno.test({
  name: "Relu, Step, Floor, Add, Sub, Multiply, RealDiv and Sum match the cpu kernels bit for bit",
  ignore,
  fn: async () => {
    const shape = [30, 8, 8, 16];
    const size = shape.reduce((p, d) => p * d, 1);
    const xValues = randomValues(size, 61);
    xValues[5] = NaN;
    xValues[6] = -0;
    xValues[7] = -Infinity;
    xValues[8] = Infinity;
    await assertIdentical(() => {
      const x = tf.tensor(xValues, shape);
      const y = tf.tensor(randomValues(size, 62), shape);
      const bias = tf.tensor1d(randomValues(16, 63));
      const rowBias = tf.tensor2d(randomValues(16, 64), [1, 16]);
      const plane = tf.tensor3d(randomValues(8 * 16, 65), [1, 8, 16]);
      const odd = tf.tensor4d(randomValues(30 * 16, 66), [30, 1, 1, 16]);
      return [
        tf.relu(x),
        tf.step(x),
        tf.step(x, 0.3),
        tf.floor(tf.mul(x, 3)),
        tf.add(x, y),
        tf.add(x, bias),
        tf.add(bias, x),
        tf.add(x, rowBias),
        tf.add(plane, x),
        tf.add(x, tf.scalar(1.5)),
        tf.add(x, odd), // a broadcast in the middle: the cpu kernel's path
        tf.mul(x, y),
        tf.mul(bias, x),
        tf.mul(tf.scalar(-2), x),
        tf.mul(x, odd),
        tf.sub(x, y),
        tf.sub(bias, x),
        tf.sub(x, tf.scalar(0.25)),
        tf.div(x, y),
        tf.div(x, bias),
        tf.div(tf.scalar(3), x),
        tf.div(x, odd),
        tf.sum(y, [0, 1, 2]),
        tf.sum(y, [1, 0], true),
        tf.sum(y),
        tf.sum(y, -1),
        tf.sum(y, [0, 2]),
      ];
    }, "element-wise");
  },
});

Deno.test({
  name: "ReLU's fused input gradient gives the bits of mul(dy, step(x)), special values included",
  ignore,
  fn: async () => {
    assert.ok(tf.getKernel(RELU_BACKPROP, BLAS_BACKEND_NAME) !== undefined);
    assert.ok(tf.getKernel(RELU_BACKPROP, JS_LOOPS) !== undefined);
    const size = 40_000; // above the size at which the native loop uses every thread
    const x = randomValues(size, 60), dy = randomValues(size, 61);
    const specials = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45];
    for (const [i, v] of specials.entries()) {
      for (const [j, d] of [...specials, -2.5, 3].entries()) {
        x[i * 16 + j] = v;
        dy[i * 16 + j] = d;
      }
    }
    await assertIdentical(() => {
      const dyt = tf.tensor2d(dy, [200, 200]), xt = tf.tensor2d(x, [200, 200]);
      // On cpu reluBackprop runs Multiply and Step; on the blas backends, the fused kernel.
      return [reluBackprop(dyt, xt), tf.mul(dyt, tf.step(xt))];
    }, "ReLU backprop");
  },
});

Deno.test({
  name: "MaxPool and MaxPoolGrad match the cpu kernels bit for bit",
  ignore,
  fn: async (t) => {
    const cases: { shape: number[]; size: number; stride: number; pad: "same" | "valid" }[] = [
      { shape: [30, 8, 8, 32], size: 2, stride: 2, pad: "valid" },
      { shape: [2, 7, 9, 3], size: 2, stride: 2, pad: "valid" },
      { shape: [2, 9, 9, 4], size: 3, stride: 3, pad: "valid" },
      { shape: [2, 8, 8, 4], size: 2, stride: 2, pad: "same" },
      { shape: [2, 7, 7, 4], size: 2, stride: 2, pad: "same" },
      { shape: [2, 9, 9, 4], size: 3, stride: 2, pad: "valid" },
    ];
    for (const [i, c] of cases.entries()) {
      const label = `${c.shape} pool ${c.size} stride ${c.stride} ${c.pad}`;
      await t.step(label, async () => {
        const size = c.shape.reduce((p, d) => p * d, 1);
        // Rounded values make ties, which the first maximum must win.
        const xValues = randomValues(size, 70 + i).map((v) => Math.round(v * 2) / 2);
        xValues[3] = NaN;
        // A window of NaN and −∞ only: no maximum, so no gradient goes anywhere.
        const c4 = c.shape[3]!, row = c.shape[2]! * c4;
        for (const at of [1, 1 + c4, 1 + row, 1 + row + c4]) xValues[at] = at % 2 ? -Infinity : NaN;
        xValues[2 + c4] = -Infinity;
        await assertIdentical(() => {
          const x = tf.tensor4d(xValues, c.shape as [number, number, number, number]);
          const y = tf.maxPool(x, c.size, c.stride, c.pad);
          const grad = (dy: tf.Tensor) =>
            tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: y }, {
              filterSize: c.size,
              strides: c.stride,
              pad: c.pad,
            }) as tf.Tensor;
          // A first gradient, disposed: the blas backend hands its array, full of stale values,
          // to the next one, which must overwrite or zero every value.
          tf.dispose(grad(tf.fill(y.shape, 7)));
          const dx = grad(tf.tensor4d(randomValues(y.size, 80 + i), y.shape));
          return [y, dx];
        }, label);
      });
    }
  },
});

Deno.test({
  name: "the blas backend reuses disposed output arrays, but never ones handed out or still viewed",
  ignore,
  fn: async () => {
    await tf.setBackend(BLAS_BACKEND_NAME);
    const pool = (tf.backend() as BlasBackend).pool;
    const x = tf.tensor2d(randomValues(64 * 32, 800), [64, 32]);
    const firstValues = () => {
      const t = tf.relu(x);
      const values = (tf.backend() as BlasBackend).data.get(t.dataId).values as Float32Array;
      return { t, values };
    };
    // 1. A disposed kernel output comes back as the next output of the same size.
    const a = firstValues();
    a.t.dispose();
    const b = firstValues();
    assert.equal(b.values.buffer, a.values.buffer);
    // 2. Once read with dataSync() it is the caller's: never reused.
    const read = b.t.dataSync() as Float32Array;
    const snapshot = Float32Array.from(read);
    b.t.dispose();
    const c = firstValues();
    assert.notEqual(c.values.buffer, read.buffer);
    tf.mul(x, -1).dispose(); // Would overwrite `read` if its array were reused.
    assert.deepEqual(read, snapshot);
    // 3. A slice that views the array (the cpu Slice kernel returns a subarray) keeps it from
    // reuse after the original is disposed.
    const view = tf.slice(c.t, [0, 0], [2, 32]);
    const viewValues = (tf.backend() as BlasBackend).data.get(view.dataId).values as Float32Array;
    assert.equal(viewValues.buffer, c.values.buffer);
    const viewBefore = Float32Array.from(viewValues);
    c.t.dispose();
    const other = tf.mul(x, -3); // Same size, different values.
    const otherValues = (tf.backend() as BlasBackend).data.get(other.dataId).values as Float32Array;
    assert.notEqual(otherValues.buffer, c.values.buffer);
    assert.deepEqual(Float32Array.from(viewValues), viewBefore);
    // Once the view goes too, the array is free again.
    view.dispose();
    const again = tf.mul(x, 2);
    const againValues = (tf.backend() as BlasBackend).data.get(again.dataId).values as Float32Array;
    assert.equal(againValues.buffer, c.values.buffer);
    tf.dispose([other, again, x]);
    assert.ok(pool.reused >= 2, `reused ${pool.reused}`);
  },
});

// ---------------------------------------------------------------------------------------------
// The tutorial model, in plain tf ops, and its gradients on both backends.

const CHANNELS = [3, 16, 32, 64, 128];

interface ModelWeights {
  [name: string]: { shape: number[]; values: Float32Array };
}

function tutorialWeights(seed: number): ModelWeights {
  const weights: ModelWeights = {};
  for (let i = 0; i < 4; i++) {
    const shape = [3, 3, CHANNELS[i]!, CHANNELS[i + 1]!];
    const fanIn = 9 * CHANNELS[i]!;
    weights[`conv${i + 1}.weight`] = {
      shape,
      values: randomValues(shape.reduce((p, d) => p * d, 1), seed + i, Math.sqrt(2 / fanIn)),
    };
    weights[`conv${i + 1}.bias`] = {
      shape: [CHANNELS[i + 1]!],
      values: randomValues(CHANNELS[i + 1]!, seed + 10 + i, 0.05),
    };
  }
  weights["fc1.weight"] = {
    shape: [8192, 500],
    values: randomValues(8192 * 500, seed + 20, 1 / Math.sqrt(8192)),
  };
  weights["fc1.bias"] = { shape: [500], values: randomValues(500, seed + 21, 0.05) };
  weights["fc2.weight"] = {
    shape: [500, 10],
    values: randomValues(5000, seed + 22, 1 / Math.sqrt(500)),
  };
  weights["fc2.bias"] = { shape: [10], values: randomValues(10, seed + 23, 0.05) };
  return weights;
}

/** conv 3→16, 16→32, pool, 32→64, 64→128, pool, flatten, dense 8192→500 ReLU, dense 500→10. */
function tutorialLogits(p: Record<string, tf.Tensor>, x: tf.Tensor4D): tf.Tensor2D {
  let h = x;
  for (let i = 1; i <= 4; i++) {
    const w = p[`conv${i}.weight`] as tf.Tensor4D;
    h = tf.relu(tf.add(tf.conv2d(h, w, 1, "same"), p[`conv${i}.bias`]!)) as tf.Tensor4D;
    if (i % 2 === 0) h = tf.maxPool(h, 2, 2, "valid");
  }
  const flat = tf.reshape(h, [x.shape[0], 8192]);
  const hidden = tf.relu(tf.add(tf.matMul(flat, p["fc1.weight"] as tf.Tensor2D), p["fc1.bias"]!));
  return tf.add(tf.matMul(hidden, p["fc2.weight"] as tf.Tensor2D), p["fc2.bias"]!) as tf.Tensor2D;
}

/** Mean cross-entropy of the logits against integer labels. */
function crossEntropy(logits: tf.Tensor2D, labels: number[]): tf.Scalar {
  const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
  return tf.mul(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits))), tf.scalar(-1 / labels.length));
}

async function modelGradients(
  backend: string,
  weights: ModelWeights,
  images: Float32Array,
  labels: number[],
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const params: Record<string, tf.Variable> = {};
  for (const [name, w] of Object.entries(weights)) {
    params[name] = tf.tidy(() =>
      tf.variable(tf.tensor(w.values, w.shape), true, `${backend}/${name}`)
    );
  }
  const x = tf.tensor4d(images, [labels.length, 32, 32, 3]);
  const { value, grads } = tf.variableGrads(() => crossEntropy(tutorialLogits(params, x), labels));
  const loss = value.dataSync()[0]!;
  const gradients: Record<string, Float32Array> = {};
  for (const name of Object.keys(weights)) {
    gradients[name] = Float32Array.from(grads[`${backend}/${name}`]!.dataSync());
  }
  tf.dispose([value, x, ...Object.values(grads), ...Object.values(params)]);
  assert.equal(tf.memory().numTensors, before, `${backend} leaked tensors`);
  return { loss, gradients };
}

Deno.test({
  name: "the tutorial model's gradients on blas match the cpu backend's",
  ignore,
  fn: async () => {
    registerTrainingGradients();
    const weights = tutorialWeights(500);
    const batch = 4;
    const images = randomValues(batch * 32 * 32 * 3, 600);
    const labels = [3, 8, 0, 6];
    const reference = await modelGradients("cpu", weights, images, labels);
    assert.ok(Number.isFinite(reference.loss) && reference.loss > 0);
    // Native loops (im2col rebuilt for the filter gradients), and JS loops (im2col kept from the
    // forward pass: the column cache's path).
    for (const backend of [BLAS_BACKEND_NAME, JS_LOOPS]) {
      const actual = await modelGradients(backend, weights, images, labels);
      assert.ok(
        Math.abs(actual.loss - reference.loss) <= 1e-5 * reference.loss,
        `loss on ${backend}: ${actual.loss} vs ${reference.loss}`,
      );
      for (const name of Object.keys(weights)) {
        const error = relativeError(actual.gradients[name]!, reference.gradients[name]!);
        assert.ok(error <= 1e-4, `gradient of ${name} on ${backend}: relative error ${error}`);
        assert.ok(
          reference.gradients[name]!.some((v) => v !== 0),
          `gradient of ${name} is all zero`,
        );
      }
    }
  },
});

// ---------------------------------------------------------------------------------------------
// The fused Adam optimiser against tf.train.adam.

async function adamTrajectory(
  backend: string,
  makeOptimizer: () => tf.Optimizer,
  steps: number,
  shareData: boolean,
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const a = tf.tidy(() =>
    tf.variable(tf.tensor2d(randomValues(40 * 25, 90), [40, 25]), true, `adam-a-${backend}`)
  );
  const initialB = tf.tensor1d(randomValues(25, 91));
  // `shared` keeps the initial tensor alive: its data is then shared with the variable.
  const b = tf.variable(initialB, true, `adam-b-${backend}`);
  if (!shareData) initialB.dispose();
  const optimizer = makeOptimizer();
  const dataIds = [a.dataId, b.dataId];
  for (let s = 0; s < steps; s++) {
    const grads = {
      [a.name]: tf.tensor2d(randomValues(40 * 25, 1000 + s, 0.1 * (s + 1)), [40, 25]),
      [b.name]: tf.tensor1d(randomValues(25, 2000 + s)),
    };
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const result = [Float32Array.from(a.dataSync()), Float32Array.from(b.dataSync())];
  const kept = [a.dataId === dataIds[0], b.dataId === dataIds[1]];
  const initialAfter = shareData ? Float32Array.from(initialB.dataSync()) : null;
  if (shareData) initialB.dispose();
  optimizer.dispose();
  tf.dispose([a, b]);
  assert.equal(tf.memory().numTensors, before, `${backend} adam leaked tensors`);
  return { result, initialAfter, kept };
}

/** Within a few float32 ulps of the reference, element by element. */
function assertAdamClose(actual: Float32Array[], expected: Float32Array[]) {
  assert.equal(actual.length, expected.length);
  for (let v = 0; v < expected.length; v++) {
    for (let i = 0; i < expected[v]!.length; i++) {
      const a = actual[v]![i]!, e = expected[v]![i]!;
      if (Math.abs(a - e) > 5e-7 * Math.max(1, Math.abs(e))) {
        assert.fail(`variable ${v}[${i}] = ${a} differs from tf.train.adam's ${e}`);
      }
    }
  }
}

Deno.test("FusedAdamOptimizer follows tf.train.adam to float32 rounding", async () => {
  const settings = [
    { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    { lr: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-8 },
  ];
  for (const { lr, beta1, beta2, epsilon } of settings) {
    const reference = await adamTrajectory(
      "cpu",
      () => tf.train.adam(lr, beta1, beta2, epsilon),
      5,
      false,
    );
    const fused = await adamTrajectory(
      "cpu",
      () => new FusedAdamOptimizer(lr, { beta1, beta2, epsilon }),
      5,
      false,
    );
    assertAdamClose(fused.result, reference.result);
  }
  // The defaults are tf.train.adam's (epsilon 1e-7 for float32): a different epsilon shows.
  const reference = await adamTrajectory("cpu", () => tf.train.adam(0.001), 2, false);
  const fused = await adamTrajectory("cpu", () => new FusedAdamOptimizer(0.001), 2, false);
  assertAdamClose(fused.result, reference.result);
  const otherEpsilon = await adamTrajectory(
    "cpu",
    () => tf.train.adam(0.001, 0.9, 0.999, 1e-3),
    2,
    false,
  );
  assert.throws(
    () => assertAdamClose(fused.result, otherEpsilon.result),
    /differs from tf.train.adam/,
  );
});

Deno.test({
  name: "FusedAdamOptimizer updates blas variables in place, but copies data shared with a tensor",
  ignore,
  fn: async () => {
    const reference = await adamTrajectory("cpu", () => tf.train.adam(0.001), 3, true);
    const fused = await adamTrajectory(
      BLAS_BACKEND_NAME,
      () => new FusedAdamOptimizer(0.001),
      3,
      true,
    );
    assertAdamClose(fused.result, reference.result);
    // `a` was updated in its own storage; `b`, whose data a tensor shared, got new storage, and
    // that tensor still holds the initial values.
    assert.deepEqual(fused.kept, [true, false]);
    assert.deepEqual(fused.initialAfter, Float32Array.from(randomValues(25, 91)));
  },
});

Deno.test("FusedAdamOptimizer round-trips its state through getWeights/setWeights", async () => {
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const v = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3]), true, "adam-state"));
  const first = new FusedAdamOptimizer(0.1);
  const second = new FusedAdamOptimizer(0.1);
  const step = (optimizer: FusedAdamOptimizer, gradient: number[]) => {
    const g = tf.tensor1d(gradient);
    optimizer.applyGradients({ "adam-state": g });
    g.dispose();
  };
  step(first, [0.5, -1, 2]);
  const weights = await first.getWeights();
  assert.deepEqual(weights.map((w) => w.name), ["iter", "adam-state/m", "adam-state/v"]);
  await second.setWeights(weights);
  tf.dispose(weights.map((w) => w.tensor));
  const snapshot = tf.tensor1d(Float32Array.from(v.dataSync()));
  step(first, [1, 1, 1]);
  const afterFirst = Float32Array.from(v.dataSync());
  v.assign(snapshot);
  snapshot.dispose();
  step(second, [1, 1, 1]);
  assert.deepEqual(Float32Array.from(v.dataSync()), afterFirst);
  const stray = tf.scalar(1);
  assert.throws(() => first.applyGradients({ "no-such-variable": stray }), {
    name: "Error",
    message: 'Cannot apply Adam to variable "no-such-variable": no such variable is registered',
  });
  stray.dispose();
  v.dispose();
  assert.equal(tf.memory().numTensors, before);
});

// ---------------------------------------------------------------------------------------------
// The native kernels (lib/engine/kernels/native/native.c) against the JS loops they replace.

Deno.test({
  name: "the native kernels build and load wherever a C compiler runs",
  ignore: !available,
  fn: async () => {
    if (!compilerRuns()) {
      console.warn("blas_test: no C compiler here; the JS loops run instead");
      assert.ok(!native.ok);
      return;
    }
    assert.ok(native.ok, native.ok ? "" : native.reason);
    assert.match(native.kernels.path, /cifar10_kernels-[0-9a-f]{16}\.so$/);
    assert.ok(native.kernels.threads() >= 1);
    // The device line says which loops run.
    assert.match(
      registration.ok ? registration.device : "",
      /element-wise loops, convolutions and batch-sized products native \(\d+ threads\)/,
    );
    // A build into a fresh folder removes libraries of older sources, and nothing else.
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/cifar10_kernels-0123456789abcdef.so`, "an older build");
      await Deno.writeTextFile(`${dir}/notes.txt`, "not ours");
      const fresh = loadNativeKernels(dir);
      assert.ok(fresh.ok, fresh.ok ? "" : fresh.reason);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names, [fresh.kernels.path.split("/").pop()!, "notes.txt"].sort());
    });
    // Threads sleep right after each call instead of spinning against one another.
    for (const [name, value] of Object.entries(THREAD_ENV_DEFAULTS)) {
      assert.ok(Deno.env.get(name) !== undefined, `${name} is unset (default ${value})`);
    }
  },
});

Deno.test("loadNativeKernels() explains what is missing in one line", async () => {
  const saved = { native: Deno.env.get("CIFAR10_NATIVE"), cc: Deno.env.get("CC") };
  const restore = () => {
    for (const [name, value] of [["CIFAR10_NATIVE", saved.native], ["CC", saved.cc]] as const) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  };
  try {
    await withTempDir(async (dir) => {
      // A "compiler" that runs but fails: its message comes back, and no partial library stays.
      const badCompiler = `${dir}/bad-cc`;
      await Deno.writeTextFile(
        badCompiler,
        '#!/bin/sh\n[ "$1" = --version ] && { echo "bad-cc 1.0"; exit 0; }\necho "boom: cannot compile" >&2\nexit 1\n',
        { mode: 0o755 },
      );
      Deno.env.set("CC", badCompiler);
      const failed = loadNativeKernels(`${dir}/cache`);
      assert.ok(!failed.ok);
      assert.match(failed.reason, /bad-cc failed on \/.*\/native\/native\.c: boom: cannot compile$/);
      assert.deepEqual([...Deno.readDirSync(`${dir}/cache`)], []);
      await Deno.remove(`${dir}/cache`);
      await Deno.remove(badCompiler);
      Deno.env.set("CIFAR10_NATIVE", "0");
      assert.deepEqual(loadNativeKernels(dir), {
        ok: false,
        reason: "turned off by CIFAR10_NATIVE=0",
      });
      Deno.env.set("CIFAR10_NATIVE", `${dir}/missing.so`);
      const missing = loadNativeKernels(dir);
      assert.ok(!missing.ok);
      assert.match(
        missing.reason,
        new RegExp(`^Cannot load the native kernels from ${dir}/missing\\.so: `),
      );
      Deno.env.delete("CIFAR10_NATIVE");
      Deno.env.set("CC", `${dir}/no-such-cc`);
      assert.deepEqual(loadNativeKernels(dir), {
        ok: false,
        reason:
          `no C compiler found (tried ${dir}/no-such-cc); install gcc (Debian: apt-get install gcc) or set CC`,
      });
      // Nothing half-built is left behind.
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    });
  } finally {
    restore();
  }
});

Deno.test({
  name: "native and JS loops give the same bits at sizes that run on every thread",
  ignore: nativeIgnore,
  fn: async (t) => {
    const run = async (build: () => tf.Tensor[], label: string) => {
      const viaJs = await runOn(JS_LOOPS, build);
      const viaNative = await runOn(IM2COL, build);
      for (let i = 0; i < viaJs.length; i++) {
        assertSameFloats(viaNative[i]!, viaJs[i]!, `${label} output ${i}`);
      }
    };
    const shape = [30, 16, 16, 32];
    const size = shape.reduce((p, d) => p * d, 1);
    const xValues = randomValues(size, 900);
    xValues[11] = NaN;
    xValues[12] = -0;
    xValues[13] = -Infinity;
    await t.step("element-wise, sums and pooling", () =>
      run(() => {
        const x = tf.tensor(xValues, shape);
        const y = tf.tensor(randomValues(size, 901), shape);
        const bias = tf.tensor1d(randomValues(32, 902));
        const pooled = tf.maxPool(x as tf.Tensor4D, 2, 2, "valid");
        const dy = tf.tensor(randomValues(pooled.size, 903), pooled.shape);
        const dx = tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: pooled }, {
          filterSize: 2,
          strides: 2,
          pad: "valid",
        }) as tf.Tensor;
        return [
          tf.relu(x),
          tf.step(x, 0.1),
          tf.floor(tf.mul(x, 4)),
          tf.add(x, y),
          tf.sub(bias, x),
          tf.mul(x, tf.scalar(0.75)),
          tf.div(tf.scalar(2), y),
          tf.div(x, bias),
          tf.sum(y, [0, 1, 2]),
          pooled,
          dx,
        ];
      }, "element-wise"));
    const cases: ConvCase[] = [
      { n: 30, h: 16, w: 16, cin: 32, cout: 64, k: 3, stride: 1, pad: "same" },
      { n: 7, h: 15, w: 13, cin: 16, cout: 8, k: 3, stride: 2, pad: "same" },
      { n: 5, h: 12, w: 12, cin: 24, cout: 16, k: 5, stride: 2, pad: "valid" },
    ];
    for (const [i, c] of cases.entries()) {
      await t.step(`convolutions ${convName(c)}`, () =>
        run(() => {
          const { x, filter, y, dy } = convTensors(c, 910 + 10 * i);
          const { dFilter, dx } = convGradients(c, x, filter, dy);
          const bias = tf.tensor1d(randomValues(c.cout, 919 + i));
          const fused = tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: filter as tf.Tensor4D,
            strides: c.stride,
            pad: c.pad,
            bias,
            activation: "relu",
          });
          return [y, dx, dFilter, fused];
        }, convName(c)));
    }
    await t.step("matrix product with bias and relu6", () =>
      run(() => {
        const a = tf.tensor2d(randomValues(64 * 300, 930), [64, 300]);
        const b = tf.tensor2d(randomValues(300 * 700, 931, 0.2), [300, 700]);
        const bias = tf.tensor1d(randomValues(700, 932));
        return [
          tf.fused.matMul({ a, b, bias, activation: "relu6" }),
          tf.fused.matMul({ a, b, activation: "relu6" }),
        ];
      }, "fused matMul"));
  },
});

Deno.test({
  name: "the blas backend runs stride-1 convolutions and batch-sized products as native loops",
  ignore: nativeIgnore,
  fn: async (t) => {
    const kernels = native.ok ? native.kernels : null;
    assert.ok(kernels !== null);
    const lanes = kernels.convLanes;
    assert.ok([4, 8, 16].includes(lanes), `unexpected vector lanes ${lanes}`);
    const geometry = (
      xShape: number[],
      k: number,
      cout: number,
      stride: number,
      pad: "same" | "valid" | number,
    ) =>
      tf.backend_util.computeConv2DInfo(
        xShape as [number, number, number, number],
        [k, k, xShape[3]!, cout],
        stride,
        1,
        pad,
      );
    await t.step("directConvFits() takes stride 1, pads inside the filter, whole vectors", () => {
      const fits = (info: ReturnType<typeof geometry>, channels = info.outChannels) =>
        kernels.directConvFits(info, channels);
      assert.ok(fits(geometry([2, 8, 8, 3], 3, lanes, 1, "same")));
      assert.ok(fits(geometry([2, 8, 8, 3], 5, 2 * lanes, 1, "valid")));
      assert.ok(fits(geometry([2, 8, 8, 3], 3, lanes, 1, 2)));
      assert.ok(!fits(geometry([2, 8, 8, 3], 3, lanes, 2, "same")), "stride 2");
      assert.ok(!fits(geometry([2, 8, 8, 3], 3, lanes, 1, 3)), "pad 3 with a 3×3 filter");
      assert.ok(!fits(geometry([2, 8, 8, 3], 3, lanes + 2, 1, "same")), "a partial vector");
      assert.ok(!fits(geometry([2, 8, 8, 3], 3, lanes, 1, "same"), 3), "3 input channels");
    });
    await t.step("Conv2D and both gradient kernels call them, bit for bit", async () => {
      const c: ConvCase = { n: 3, h: 9, w: 7, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" };
      await tf.setBackend(BLAS_BACKEND_NAME);
      const values = tf.tidy(() => {
        const { x, filter, y, dy } = convTensors(c, 970);
        const { dFilter, dx } = convGradients(c, x, filter, dy);
        return [x, filter, dy, y, dFilter, dx].map((v) => Float32Array.from(v.dataSync()));
      });
      const [x, filter, dy, y, dFilter, dx] = values as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      const info = geometry([c.n, c.h, c.w, c.cin], c.k, c.cout, c.stride, c.pad);
      const out = new Float32Array(y.length), dw = new Float32Array(dFilter.length);
      const dxDirect = new Float32Array(dx.length);
      kernels.convForward(x, filter, info, out);
      kernels.convFilterGrad(x, dy, info, dw);
      kernels.convInputGrad(dy, filter, info, dxDirect);
      assertSameFloats(y, out, "Conv2D");
      assertSameFloats(dFilter, dw, "Conv2DBackpropFilter");
      assertSameFloats(dx, dxDirect, "Conv2DBackpropInput");
      // And they are not the im2col path's bits: on several threads the filter gradient sums
      // each thread's images apart (on one, both paths add pixel after pixel).
      const viaIm2col = await runOn(IM2COL, () => {
        const { x, filter, dy } = convTensors(c, 970);
        return convGradients(c, x, filter, dy).dFilter;
      });
      if (kernels.threads() > 1) {
        assert.ok(viaIm2col[0]!.some((v, i) => v !== dw[i]), "identical to the im2col path");
      }
    });
    await t.step("BatchMatMul calls the batch-sized products, bit for bit", async () => {
      const [m, k, n] = [30, 1000, 200];
      const a = randomValues(m * k, 980), b = randomValues(k * n, 981);
      const dy = randomValues(m * n, 982);
      const [forward, inputGrad, weightGrad] = await runOn(BLAS_BACKEND_NAME, () => [
        tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])),
        tf.matMul(tf.tensor2d(dy, [m, n]), tf.tensor2d(b, [k, n]), false, true),
        tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(dy, [m, n]), true, false),
      ]);
      const direct = {
        forward: new Float32Array(m * n),
        inputGrad: new Float32Array(m * k),
        weightGrad: new Float32Array(k * n),
      };
      kernels.gemmSmallM(a, b, direct.forward, m, n, k);
      kernels.gemmSmallMNT(dy, b, direct.inputGrad, m, k, n);
      kernels.gemmSmallKTN(a, dy, direct.weightGrad, k, n, m);
      assertSameFloats(forward!, direct.forward, "a · b");
      assertSameFloats(inputGrad!, direct.inputGrad, "dy · bᵀ");
      assertSameFloats(weightGrad!, direct.weightGrad, "aᵀ · dy");
      // And OpenBLAS's forward product sums in another order (on several threads the native one
      // splits k between them).
      const [viaOpenblas] = await runOn(IM2COL, () => [
        tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])),
      ]);
      if (kernels.threads() > 1) {
        assert.ok(viaOpenblas!.some((v, i) => v !== forward![i]), "identical to OpenBLAS's");
      }
    });
  },
});

Deno.test({
  name: "the AVX2 and SSE builds of the native products (machines without AVX-512) match too",
  // The vector width is fixed at compile time (-march=native); build the narrower variants here.
  ignore: nativeIgnore || Deno.build.arch !== "x86_64" || !compilerRuns(),
  fn: async (t) => {
    await tf.setBackend("cpu");
    const variants: [string, string[], number][] = [
      ["AVX2", ["-mno-avx512f"], 8],
      ["SSE", ["-mno-avx512f", "-mno-avx2", "-mno-avx", "-mno-fma"], 4],
    ];
    await withTempDir(async (dir) => {
      for (const [label, flags, lanes] of variants) {
        await t.step(label, () => {
          const built = loadNativeKernels(dir, flags);
          assert.ok(built.ok, built.ok ? "" : built.reason);
          const kernels = built.kernels;
          assert.equal(kernels.convLanes, lanes);
          const cases: ConvCase[] = [
            { n: 3, h: 7, w: 6, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" },
            { n: 2, h: 6, w: 5, cin: 8, cout: 24, k: 3, stride: 1, pad: "valid" },
          ];
          for (const [i, c] of cases.entries()) {
            tf.tidy(() => {
              const { x, filter, y, dy } = convTensors(c, 990 + 10 * i);
              const { dFilter, dx } = convGradients(c, x, filter, dy);
              const info = tf.backend_util.computeConv2DInfo(
                x.shape as [number, number, number, number],
                filter.shape as [number, number, number, number],
                c.stride,
                1,
                c.pad as "same" | "valid",
              );
              const values = (v: tf.Tensor) => v.dataSync() as Float32Array;
              const out = new Float32Array(y.size), dw = new Float32Array(dFilter.size);
              const dxOut = new Float32Array(dx.size);
              kernels.convForward(values(x), values(filter), info, out);
              kernels.convFilterGrad(values(x), values(dy), info, dw);
              kernels.convInputGrad(values(dy), values(filter), info, dxOut);
              for (const [name, a, e] of [["y", out, y], ["dW", dw, dFilter], ["dx", dxOut, dx]]) {
                const error = relativeError(a as Float32Array, values(e as tf.Tensor));
                assert.ok(error <= 2e-5, `${label} ${convName(c)} ${name}: ${error}`);
              }
            });
          }
          const [m, k, n] = [9, 300, 77];
          const a = randomValues(m * k, 995), b = randomValues(k * n, 996);
          const dy = randomValues(m * n, 997);
          const products = tf.tidy(() => {
            const at = tf.tensor2d(a, [m, k]), bt = tf.tensor2d(b, [k, n]);
            const dyt = tf.tensor2d(dy, [m, n]);
            return [
              tf.matMul(at, bt),
              tf.matMul(dyt, bt, false, true),
              tf.matMul(at, dyt, true, false),
            ].map((p) => Float32Array.from(p.dataSync()));
          });
          const forward = new Float32Array(m * n), inputGrad = new Float32Array(m * k);
          const weightGrad = new Float32Array(k * n);
          kernels.gemmSmallM(a, b, forward, m, n, k);
          kernels.gemmSmallMNT(dy, b, inputGrad, m, k, n);
          kernels.gemmSmallKTN(a, dy, weightGrad, k, n, m);
          for (const [i, actual] of [forward, inputGrad, weightGrad].entries()) {
            const error = relativeError(actual, products[i]!);
            assert.ok(error <= 2e-5, `${label} product ${i}: ${error}`);
          }
        });
      }
      // Variant builds never replace the default one.
      assert.ok([...Deno.readDirSync(dir)].every((e) => e.name.includes("variant-")));
    });
  },
});

Deno.test({
  name: "FusedAdamOptimizer gives the same bits with native and JS loops",
  ignore: nativeIgnore,
  fn: async () => {
    await tf.setBackend(BLAS_BACKEND_NAME);
    const size = 200_000; // above the threshold at which the native loop uses every thread
    const trajectory = (useNative: boolean) => {
      const variable = tf.variable(
        tf.tensor1d(randomValues(size, 940)),
        true,
        `adam-native-${useNative}`,
      );
      const optimizer = new FusedAdamOptimizer(0.01, { native: useNative });
      assert.equal(optimizer.nativeKernels !== null, useNative);
      for (let s = 0; s < 3; s++) {
        const g = tf.tensor1d(randomValues(size, 950 + s, 0.5));
        optimizer.applyGradients({ [variable.name]: g });
        g.dispose();
      }
      const values = Float32Array.from(variable.dataSync());
      variable.dispose();
      optimizer.dispose();
      return values;
    };
    const viaJs = trajectory(false);
    const viaNative = trajectory(true);
    assertSameFloats(viaNative, viaJs, "Adam after 3 steps");
    assert.ok(viaJs.some((v, i) => v !== randomValues(size, 940)[i]), "Adam changed nothing");
  },
});

Deno.test({
  name: "the model's inference path (fused bias + ReLU) gives the training path's logits on blas",
  ignore,
  fn: async () => {
    await tf.setBackend(BLAS_BACKEND_NAME);
    const before = tf.memory().numTensors;
    const model = buildModel(makeConfig({ dropout: 0, seed: 5 }));
    const x = tf.tensor4d(randomValues(6 * 32 * 32 * 3, 960), [6, 32, 32, 3]);
    const training = model.forward(x, { training: true, seed: 1 });
    const inference = model.forward(x);
    assertSameFloats(
      Float32Array.from(inference.dataSync()),
      Float32Array.from(training.dataSync()),
      "inference logits",
    );
    tf.dispose([x, training, inference]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before, "inference leaked tensors");
  },
});

Deno.test("ArrayPool drops the arrays freed longest ago when it is full", () => {
  const pool = new ArrayPool(1200); // three arrays of 100 float32 values
  const [a, b, c] = [pool.take(100), pool.take(100), pool.take(100)];
  const small = pool.take(50), huge = pool.take(400);
  for (const array of [a, b, c, small, huge]) pool.track(array);
  for (const array of [a, b, c]) pool.untrack(array);
  assert.equal(pool.freeBytes, 1200);
  pool.untrack(huge); // larger than the whole pool: left to the garbage collector
  assert.equal(pool.freeBytes, 1200);
  pool.untrack(small); // needs 200 bytes: `a`, freed first, goes
  assert.equal(pool.freeBytes, 1000);
  // The pool hands back the same memory (a new view of the freed buffer).
  assert.equal(pool.take(50).buffer, small.buffer);
  assert.equal(pool.take(100).buffer, c.buffer);
  assert.equal(pool.take(100).buffer, b.buffer);
  const allocatedBefore = pool.allocated;
  assert.notEqual(pool.take(100).buffer, a.buffer);
  assert.equal(pool.allocated, allocatedBefore + 1);
  assert.equal(pool.freeBytes, 0);
});
