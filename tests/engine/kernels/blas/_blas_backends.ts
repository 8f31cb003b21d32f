/**
 * What the tests of the "blas" backend's modules share: the backend registered as "blas" and in
 * three variants (small im2col chunks, OpenBLAS products with native loops, JS loops), the native
 * kernels as loaded here, and comparisons with tfjs's `cpu` kernels on the same inputs.
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  BLAS_BACKEND_NAME,
  loadNativeKernels,
  registerBlasBackend,
} from "../../../../lib/engine/kernels/blas/blas.ts";
import { createRng } from "../../../../lib/core/random.ts";

// Every kernel the "blas" backend overrides is compared with tfjs's own `cpu` kernel on the same
// inputs. GEMM-based kernels sum in a different order (float32 inside BLAS), so they match within a
// float32 tolerance; the element-wise, reduction and pooling kernels must match bit for bit.

/** The "blas" backend's registration here: the device, or why it is missing. */
export const registration = await registerBlasBackend();
/** Whether the "blas" backend registered (OpenBLAS and FFI permission are there). */
export const available = registration.ok;
if (!registration.ok) {
  console.warn(`blas tests: skipping the kernel tests: ${registration.reason}`);
}
/** `ignore` for tests that need the "blas" backend. */
export const ignore = !available;

/** Seeded normal values, times `scale`. */
export function randomValues(size: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: size }, () => rng.normal() * scale);
}

/** Runs `build` on a backend with fresh tensors and returns every output's values. */
export async function runOn(
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
export function relativeError(actual: Float32Array, expected: Float32Array): number {
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

/** Asserts that `build` gives the cpu backend's values on `backends`, within `tolerance`. */
export async function assertClose(
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
export const SMALL_CHUNKS = "blas-small-chunks";
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
export const IM2COL = "blas-im2col";
if (available) await registerBlasBackend({ name: IM2COL, nativeProducts: false });

/**
 * The same backend with the element-wise, pooling, im2col and bias loops in JS, not in the native
 * kernels (lib/engine/kernels/native/native.c): both must give the same bits.
 */
export const JS_LOOPS = "blas-js-loops";
if (available) await registerBlasBackend({ name: JS_LOOPS, nativeKernels: false });

/** Whether a C compiler runs here, so that the native kernels must build. */
export function compilerRuns(): boolean {
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

/** The native kernels as they load here (built on first use). */
export const native = loadNativeKernels();
/**
 * The library `CIFAR10_NATIVE` names in place of a build (an instrumented one, as
 * scripts/heap_hunt.sh loads), or null: the tests of building and naming the cached libraries
 * then skip, since no build or cache is used.
 */
export const prebuiltNative: string | null = native.ok && native.kernels.isa === null
  ? native.kernels.path
  : null;
/** `ignore` for tests that need the "blas" backend and the native kernels. */
export const nativeIgnore = !available || !native.ok;
if (!native.ok) console.warn(`blas tests: the native kernels did not load: ${native.reason}`);

/** Asserts that `build` gives the cpu backend's bits on "blas", native and JS loops alike. */
export async function assertIdentical(build: () => tf.Tensor | tf.Tensor[], label: string) {
  const expected = await runOn("cpu", build);
  for (const backend of [BLAS_BACKEND_NAME, JS_LOOPS]) {
    const actual = await runOn(backend, build);
    for (let i = 0; i < expected.length; i++) {
      assertSameFloats(actual[i]!, expected[i]!, `${label} on ${backend}, output ${i}`);
    }
  }
}

/** Equal element for element under Object.is: NaN equals NaN, and −0 differs from 0. */
export function assertSameFloats(actual: Float32Array, expected: Float32Array, label: string) {
  assert.equal(actual.length, expected.length, `${label}: sizes differ`);
  for (let j = 0; j < expected.length; j++) {
    if (!Object.is(actual[j], expected[j])) {
      assert.fail(`${label} differs from the cpu kernel at ${j}: ${actual[j]} vs ${expected[j]}`);
    }
  }
}

/** One convolution case: NHWC input, HWIO filter. */
export interface ConvCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: "same" | "valid" | number;
}

/** Convolutions over kernel sizes, strides, paddings and channel counts. */
export const CONV_CASES: ConvCase[] = [
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

/** A convolution case's readable name. */
export function convName(c: ConvCase): string {
  return `${c.n}×${c.h}×${c.w}×${c.cin}→${c.cout}, ${c.k}×${c.k}, stride ${c.stride}, pad ${c.pad}`;
}

/** A case's input, filter, forward output and a random output gradient. */
export function convTensors(c: ConvCase, seed: number) {
  const x = tf.tensor4d(randomValues(c.n * c.h * c.w * c.cin, seed), [c.n, c.h, c.w, c.cin]);
  const filter = tf.tensor4d(
    randomValues(c.k * c.k * c.cin * c.cout, seed + 1, 0.2),
    [c.k, c.k, c.cin, c.cout],
  );
  const y = tf.conv2d(x, filter, c.stride, c.pad);
  const dy = tf.tensor4d(randomValues(y.size, seed + 2), y.shape);
  return { x, filter, y, dy };
}

/** Both gradient kernels of a convolution case, run directly. */
export function convGradients(c: ConvCase, x: tf.Tensor, filter: tf.Tensor, dy: tf.Tensor) {
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
