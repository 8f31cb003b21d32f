import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { originalKernel, restoreKernels } from "../../../../lib/engine/kernels/registry.ts";
import { transformKernel } from "../../../../lib/engine/kernels/js/transform.ts";
import { registerBlasBackend } from "../../../../lib/engine/kernels/blas/blas.ts";
import { registerCpuTrainingKernels } from "../../../../lib/engine/kernels/js/cpu.ts";
import { createRng, type Rng } from "../../../../lib/core/random.ts";
import { skipName } from "../../../_util.ts";

type Interpolation = "nearest" | "bilinear";
type FillMode = "constant" | "nearest" | "reflect" | "wrap";

const INTERPOLATIONS: readonly Interpolation[] = ["nearest", "bilinear"];
const FILL_MODES: readonly FillMode[] = ["constant", "nearest", "reflect", "wrap"];
/** A non-square batch with odd sizes, so row/column and height/width mix-ups show. */
const SHAPE = [7, 9, 11, 3] as const;
const FILL_VALUE = 7.5;

/** tfjs 4.22's cpu kernel, captured before our registration replaces it. */
const ORIGINAL = originalKernel(tf.Transform, "cpu")!.kernelFunc;
const blas = await registerBlasBackend();

interface Case {
  interpolation: Interpolation;
  fillMode: FillMode;
  outputShape?: [number, number];
}

const CASES: Case[] = INTERPOLATIONS.flatMap((interpolation): Case[] =>
  FILL_MODES.map((fillMode) => ({ interpolation, fillMode }))
).concat([
  { interpolation: "nearest", fillMode: "constant", outputShape: [6, 13] },
  { interpolation: "bilinear", fillMode: "reflect", outputShape: [12, 5] },
]);

/** Random pixels (not integers, so bilinear mixes show). */
function randomImages(rng: Rng, shape: readonly number[]): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: size }, () => rng.uniform(0, 255));
}

/**
 * Random projective transforms about the image: rotation up to ±60°, scale 0.7–1.3, shifts up to
 * ±3 pixels (so points land outside and every fill mode matters), small perspective terms. Row 3
 * has c1 = −0.5, whose projection is exactly 0 on output row 2 (the fill value there).
 */
function randomTransforms(rng: Rng, count: number): Float32Array {
  const out = new Float32Array(count * 8);
  for (let i = 0; i < count; i++) {
    const angle = rng.uniform(-Math.PI / 3, Math.PI / 3);
    const scale = rng.uniform(0.7, 1.3);
    const cos = Math.cos(angle) * scale, sin = Math.sin(angle) * scale;
    const c0 = i === 3 ? 0 : rng.uniform(-0.02, 0.02);
    const c1 = i === 3 ? -0.5 : rng.uniform(-0.02, 0.02);
    out.set(
      [cos, -sin, rng.uniform(-3, 3) + 1, sin, cos, rng.uniform(-3, 3) - 1, c0, c1],
      i * 8,
    );
  }
  return out;
}

function transformOn(
  images: Float32Array,
  transforms: Float32Array,
  c: Case,
  shape: readonly number[] = SHAPE,
): Float32Array {
  return tf.tidy(() => {
    const image = tf.tensor4d(images, shape as [number, number, number, number]);
    const rows = tf.tensor2d(transforms, [transforms.length / 8, 8]);
    const out = tf.image.transform(
      image,
      rows,
      c.interpolation,
      c.fillMode,
      FILL_VALUE,
      c.outputShape,
    );
    assert.equal(out.dtype, "float32");
    return out.dataSync() as Float32Array;
  }).slice();
}

/** tfjs's original cpu kernel, one image at a time (it is correct for a batch of one). */
function originalPerImage(images: Float32Array, transforms: Float32Array, c: Case): Float32Array {
  const [batch, height, width, channels] = SHAPE;
  const [outHeight, outWidth] = c.outputShape ?? [height, width];
  const outImage = outHeight * outWidth * channels;
  const result = new Float32Array(batch * outImage);
  const backend = tf.findBackend("cpu") as MathBackendCPU;
  const shared = transforms.length === 8;
  for (let b = 0; b < batch; b++) {
    const imageValues = images.subarray(
      b * height * width * channels,
      (b + 1) * height * width * channels,
    );
    const row = shared ? transforms : transforms.subarray(b * 8, b * 8 + 8);
    tf.tidy(() => {
      const image = tf.tensor4d(imageValues, [1, height, width, channels]);
      const rows = tf.tensor2d(row, [1, 8]);
      const info = ORIGINAL({
        inputs: { image, transforms: rows },
        attrs: {
          interpolation: c.interpolation,
          fillMode: c.fillMode,
          fillValue: FILL_VALUE,
          outputShape: c.outputShape ?? null,
        } as unknown as tf.NamedAttrMap,
        backend,
      }) as tf.TensorInfo;
      result.set(backend.readSync(info.dataId) as Float32Array, b * outImage);
      backend.disposeData(info.dataId);
    });
  }
  return result;
}

function describe(c: Case): string {
  return `${c.interpolation}/${c.fillMode}${c.outputShape ? ` → ${c.outputShape.join("×")}` : ""}`;
}

Deno.test("registerCpuTrainingKernels() puts the batched Transform on cpu; blas has it too", async () => {
  registerCpuTrainingKernels();
  assert.equal(tf.getKernel(tf.Transform, "cpu")!.kernelFunc, transformKernel);
  assert.equal(originalKernel(tf.Transform, "cpu")!.kernelFunc, ORIGINAL);
  assert.notEqual(ORIGINAL, transformKernel);
  if (blas.ok) {
    assert.equal(tf.getKernel(tf.Transform, "blas")!.kernelFunc, transformKernel);
    // blas registered its own, so the cpu registration leaves it alone.
    assert.deepEqual(registerCpuTrainingKernels("blas").includes(tf.Transform), false);
  }
  assert.ok(await tf.setBackend("cpu"));
});

for (const c of CASES) {
  for (const shared of [false, true]) {
    const name = `Transform on cpu equals tfjs's cpu kernel image by image (${describe(c)}, ${
      shared ? "one shared transform" : "one transform per image"
    })`;
    Deno.test(name, async () => {
      registerCpuTrainingKernels();
      assert.ok(await tf.setBackend("cpu"));
      const before = tf.memory().numTensors;
      const rng = createRng(shared ? 11 : 12);
      const images = randomImages(rng, SHAPE);
      const transforms = randomTransforms(rng, shared ? 1 : SHAPE[0]);
      const expected = originalPerImage(images, transforms, c);
      const actual = transformOn(images, transforms, c);
      assert.equal(actual.length, expected.length);
      // Exact, value for value (NaN never occurs: pixels and fill are finite).
      const firstDiff = actual.findIndex((v, i) => v !== expected[i]);
      assert.equal(firstDiff, -1, `first difference at ${firstDiff}`);
      // Not all fill: the transforms keep most points inside the image.
      assert.ok(actual.filter((v) => v !== FILL_VALUE).length > actual.length / 4);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
    });
  }
}

Deno.test("Transform on cpu agrees with the wasm backend's batched kernel", async () => {
  registerCpuTrainingKernels();
  // wasm's reflect compares with −len as an unsigned size_t, so it mirrors negative coordinates
  // wrongly; reflect is pinned by tfjs's cpu kernel above and by hand below.
  for (const c of CASES.filter((c) => c.fillMode !== "reflect")) {
    const rng = createRng(21);
    const images = randomImages(rng, SHAPE);
    const transforms = randomTransforms(rng, SHAPE[0]);
    assert.ok(await tf.setBackend("wasm"));
    const expected = transformOn(images, transforms, c);
    assert.ok(await tf.setBackend("cpu"));
    const actual = transformOn(images, transforms, c);
    assert.equal(actual.length, expected.length);
    // wasm computes coordinates in float32, we (like tfjs's cpu kernel) in float64: a point that
    // falls within rounding of a pixel boundary may pick the neighbour. Allow a few such values.
    const tolerance = c.interpolation === "bilinear" ? 1e-2 : 0;
    const off = actual.filter((v, i) => !(Math.abs(v - expected[i]!) <= tolerance)).length;
    assert.ok(off <= actual.length * 0.002, `${describe(c)}: ${off} of ${actual.length} differ`);
  }
});

Deno.test(
  skipName(
    "Transform on blas equals Transform on cpu",
    !blas.ok,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  { ignore: !blas.ok },
  async () => {
    registerCpuTrainingKernels();
    for (const c of CASES) {
      const rng = createRng(31);
      const images = randomImages(rng, SHAPE);
      const transforms = randomTransforms(rng, SHAPE[0]);
      assert.ok(await tf.setBackend("cpu"));
      const expected = transformOn(images, transforms, c);
      assert.ok(await tf.setBackend("blas"));
      const before = tf.memory().numTensors;
      const actual = transformOn(images, transforms, c);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      assert.deepEqual(actual, expected, describe(c));
    }
    assert.ok(await tf.setBackend("cpu"));
  },
);

Deno.test("Transform keeps a single image and an empty batch working", async () => {
  registerCpuTrainingKernels();
  assert.ok(await tf.setBackend("cpu"));
  // A 90° turn of a 2×2 image: counter-clockwise as displayed, the right column becomes the top row.
  const turned = tf.tidy(() =>
    tf.image.transform(
      tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]),
      tf.tensor2d([[0, -1, 1, 1, 0, 0, 0, 0]]),
    ).dataSync()
  );
  assert.deepEqual(Array.from(turned), [2, 4, 1, 3]);
  const empty = tf.tidy(() =>
    tf.image.transform(tf.zeros([0, 3, 3, 2]) as tf.Tensor4D, tf.zeros([1, 8]) as tf.Tensor2D)
      .shape
  );
  assert.deepEqual(empty, [0, 3, 3, 2]);
});

Deno.test("Transform's fill modes extend a row as TensorFlow documents", async () => {
  registerCpuTrainingKernels();
  assert.ok(await tf.setBackend("cpu"));
  // One row [a b c d] = [1 2 3 4], read 2 pixels to the left: output x reads input x − 2.
  const shifted = (fillMode: FillMode, interpolation: Interpolation = "nearest") =>
    Array.from(tf.tidy(() =>
      tf.image.transform(
        tf.tensor4d([1, 2, 3, 4, 10, 20, 30, 40], [2, 1, 4, 1]),
        tf.tensor2d([[1, 0, -2, 0, 1, 0, 0, 0]]),
        interpolation,
        fillMode,
        9,
      ).dataSync()
    ));
  // constant: (k k | a b c d | k k); nearest: (a a | a b c d | d d);
  // reflect: (d c b a | a b c d); wrap: (a b c d | a b c d); every image of the batch.
  assert.deepEqual(shifted("constant"), [9, 9, 1, 2, 9, 9, 10, 20]);
  assert.deepEqual(shifted("nearest"), [1, 1, 1, 2, 10, 10, 10, 20]);
  assert.deepEqual(shifted("reflect"), [2, 1, 1, 2, 20, 10, 10, 20]);
  assert.deepEqual(shifted("wrap"), [3, 4, 1, 2, 30, 40, 10, 20]);
  assert.deepEqual(shifted("reflect", "bilinear"), [2, 1, 1, 2, 20, 10, 10, 20]);
});

Deno.test("Transform rejects an unknown interpolation", async () => {
  registerCpuTrainingKernels();
  assert.ok(await tf.setBackend("cpu"));
  const before = tf.memory().numTensors;
  const image = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
  const rows = tf.tensor2d([[1, 0, 0, 0, 1, 0, 0, 0]]);
  assert.throws(
    () => tf.image.transform(image, rows, "cubic" as Interpolation),
    { name: "Error", message: "Error in Transform: Expect 'nearest' or 'bilinear', but got cubic" },
  );
  tf.dispose([image, rows]);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

Deno.test("restoreKernels() puts tfjs's cpu Transform back", async () => {
  registerCpuTrainingKernels();
  assert.ok(restoreKernels("cpu").includes(tf.Transform));
  assert.equal(tf.getKernel(tf.Transform, "cpu")!.kernelFunc, ORIGINAL);
  // tfjs's kernel transforms only image 0 of a batch: why ours exists.
  assert.ok(await tf.setBackend("cpu"));
  const flipped = tf.tidy(() =>
    tf.image.transform(
      tf.tensor4d([1, 2, 3, 4], [2, 1, 2, 1]),
      tf.tensor2d([[-1, 0, 1, 0, 1, 0, 0, 0]]),
    ).dataSync()
  );
  assert.deepEqual(Array.from(flipped), [2, 1, 0, 0]);
  registerCpuTrainingKernels();
  assert.equal(tf.getKernel(tf.Transform, "cpu")!.kernelFunc, transformKernel);
});
