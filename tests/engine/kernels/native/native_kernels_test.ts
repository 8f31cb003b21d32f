import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BLAS_BACKEND_NAME } from "../../../../lib/engine/kernels/blas/blas.ts";
import {
  chooseIsa,
  loadNativeKernels,
  NATIVE_ISA_ENV,
} from "../../../../lib/engine/kernels/native/native_kernels.ts";
import { NATIVE_ISAS, supportedIsas } from "../../../../lib/engine/kernels/native/build.ts";
import { skipName, withTempDir } from "../../../_util.ts";
import { dropoutMask } from "../../../../lib/core/random.ts";
import { dropoutMaskOn } from "../../../../lib/engine/dropout.ts";
import {
  assertSameFloats,
  compilerRuns,
  type ConvCase,
  convGradients,
  convName,
  convTensors,
  IM2COL,
  JS_LOOPS,
  native,
  nativeIgnore,
  prebuiltNative,
  randomValues,
  relativeError,
  runOn,
} from "../blas/_blas_backends.ts";

// The native kernels (lib/engine/kernels/native/native.c) against the JS loops they replace.

Deno.test({
  name: skipName(
    "native and JS loops give the same bits at sizes that run on every thread",
    nativeIgnore,
    "the native loops need OpenBLAS and a C compiler (sudo apt-get install libopenblas0-pthread gcc)",
  ),
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
  name: skipName(
    "the blas backend runs stride-1 convolutions and batch-sized products as native loops",
    nativeIgnore,
    "the native loops need OpenBLAS and a C compiler (sudo apt-get install libopenblas0-pthread gcc)",
  ),
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

/** Tile each ISA's build must use on x86-64 (native.c): lanes, accumulators, vectors. */
const TILES: Record<string, { lanes: number; accumulators: number; vectors: number }> = {
  avx512: { lanes: 16, accumulators: 24, vectors: 4 },
  avx2: { lanes: 8, accumulators: 12, vectors: 2 },
  // AArch64: 32 registers of 4 floats take AVX-512's tile shape; portable keeps the small one.
  neon: { lanes: 4, accumulators: 24, vectors: 4 },
  portable: { lanes: 4, accumulators: 12, vectors: 2 },
};

Deno.test({
  name: skipName(
    "every ISA build this CPU runs (AVX-512, AVX2, NEON, portable) matches the reference kernels",
    nativeIgnore || !compilerRuns() || prebuiltNative !== null,
    prebuiltNative !== null
      ? `CIFAR10_NATIVE names a prebuilt library (${prebuiltNative}): no ISA build is made`
      : "the native loops need OpenBLAS and a C compiler (sudo apt-get install libopenblas0-pthread gcc)",
  ),
  // One library per ISA (build.ts); an AVX-512 machine builds and runs the AVX2 and portable
  // ones too, so their tiles are checked on every machine, not only where they are the default.
  ignore: nativeIgnore || !compilerRuns() || prebuiltNative !== null,
  fn: async (t) => {
    await tf.setBackend("cpu");
    const isas = supportedIsas();
    assert.ok(isas.includes("portable"), isas.join());
    assert.equal(native.ok && native.kernels.isa, isas[0]);
    const defaultKernels = native.ok ? native.kernels : null;
    assert.ok(defaultKernels !== null);
    await withTempDir(async (dir) => {
      for (const isa of isas) {
        await t.step(isa, () => {
          const built = loadNativeKernels({ cacheDir: dir, isa });
          assert.ok(built.ok, built.ok ? "" : built.reason);
          const kernels = built.kernels;
          assert.equal(kernels.isa, isa);
          assert.match(
            kernels.path,
            new RegExp(`/cifar10_kernels-${isa}-[0-9a-f]{16}\\.(so|dylib)$`),
          );
          if (isa !== "native") assert.deepEqual(kernels.tile, TILES[isa]);
          assert.equal(kernels.convLanes, kernels.tile.lanes);
          // The FMA peak loop (the bench's second ceiling) counts its work from the tile it runs:
          // 2 operations per lane, accumulators × lanes per round, on every thread.
          kernels.setThreads(2);
          const peak = kernels.fmaPeak(1000);
          const { lanes: l, accumulators: a } = kernels.tile;
          assert.equal(peak.flops, 2 * l * a * 1000 * kernels.threads());
          assert.ok(peak.seconds > 0 && Number.isFinite(peak.seconds), String(peak.seconds));
          const lanes = kernels.convLanes;
          // The model's widths (16 to 128 channels: 1 to 16 vectors, every tile shape and a
          // short last tile of pixels) and a padding other than "same".
          const cases: ConvCase[] = [
            { n: 3, h: 7, w: 6, cin: 3, cout: 16, k: 3, stride: 1, pad: "same" },
            { n: 3, h: 7, w: 6, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" },
            { n: 2, h: 5, w: 9, cin: 32, cout: 64, k: 3, stride: 1, pad: "same" },
            { n: 2, h: 4, w: 5, cin: 64, cout: 128, k: 3, stride: 1, pad: "same" },
            { n: 2, h: 6, w: 5, cin: 8, cout: 3 * lanes, k: 3, stride: 1, pad: "valid" },
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
              const checks: [string, Float32Array, tf.Tensor][] = [["y", out, y], [
                "dW",
                dw,
                dFilter,
              ]];
              if (kernels.directConvFits(info, c.cin)) {
                kernels.convInputGrad(values(dy), values(filter), info, dxOut);
                checks.push(["dx", dxOut, dx]);
              }
              for (const [name, actual, expected] of checks) {
                const error = relativeError(actual, values(expected));
                assert.ok(error <= 2e-5, `${isa} ${convName(c)} ${name}: ${error}`);
              }
            });
          }
          // Winograd: 3×3 "same" convolutions with at least 8 channels each way take F(4×4, 3×3)
          // where the size is a multiple of 4, F(2×2, 3×3) where it is even; each case runs
          // with each tile allowed and with Winograd off (the direct loops). Tolerances, max
          // |difference| / max |value|: the direct loops' 2e-5 for F(2×2) too (its transforms
          // add and halve); 5e-5 for F(4×4), whose transforms scale by up to 5·5 and 8·8 (these
          // cases measured 3e-6 to 1e-5).
          const winogradCases: ConvCase[] = [
            { n: 3, h: 8, w: 6, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" },
            // 80 tiles of 2×2 (a full block of 48 and a short one), 20 of 4×4.
            { n: 5, h: 8, w: 8, cin: 32, cout: 64, k: 3, stride: 1, pad: "same" },
            // 4×4 tiles: 54 (two full blocks of 24 and a short one).
            { n: 6, h: 12, w: 12, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" },
            { n: 9, h: 6, w: 4, cin: 64, cout: 128, k: 3, stride: 1, pad: "same" },
            // The model's conv2 at full size, and widths off the vector lanes.
            { n: 1, h: 32, w: 32, cin: 16, cout: 32, k: 3, stride: 1, pad: "same" },
            { n: 2, h: 2, w: 10, cin: 8, cout: 3 * lanes + 4, k: 3, stride: 1, pad: "same" },
          ];
          for (const [i, c] of winogradCases.entries()) {
            tf.tidy(() => {
              const { x, filter, y, dy } = convTensors(c, 1990 + 10 * i);
              const { dFilter, dx } = convGradients(c, x, filter, dy);
              const info = tf.backend_util.computeConv2DInfo(
                x.shape as [number, number, number, number],
                filter.shape as [number, number, number, number],
                1,
                1,
                "same",
              );
              const values = (v: tf.Tensor) => v.dataSync() as Float32Array;
              const expectedTile = (largest: 0 | 2 | 4) =>
                largest === 4 && c.h % 4 === 0 && c.w % 4 === 0 ? 4 : largest === 0 ? 0 : 2;
              for (const largest of [4, 2, 0] as const) {
                kernels.setWinograd(largest);
                const tile = kernels.winogradTile(info);
                assert.equal(tile, expectedTile(largest), `${convName(c)} up to ${largest}`);
                const winograd = tile !== 0;
                const out = new Float32Array(y.size), dw = new Float32Array(dFilter.size);
                const dxOut = new Float32Array(dx.size);
                // The direct loops take whole vectors of channels only; Winograd takes any.
                const forward = winograd || kernels.directConvFits(info, c.cout);
                const backward = winograd || kernels.directConvFits(info, c.cin);
                const checks: [string, Float32Array, tf.Tensor][] = [];
                if (forward) {
                  kernels.convForward(values(x), values(filter), info, out);
                  kernels.convFilterGrad(values(x), values(dy), info, dw);
                  checks.push(["y", out, y], ["dW", dw, dFilter]);
                }
                if (backward) {
                  kernels.convInputGrad(values(dy), values(filter), info, dxOut);
                  checks.push(["dx", dxOut, dx]);
                }
                for (const [name, actual, expected] of checks) {
                  const error = relativeError(actual, values(expected));
                  const path = winograd ? `Winograd F(${tile}×${tile}, 3×3)` : "direct";
                  const tolerance = tile === 4 ? 5e-5 : 2e-5;
                  assert.ok(error <= tolerance, `${isa} ${path} ${convName(c)} ${name}: ${error}`);
                }
              }
              kernels.setWinograd(4);
            });
          }
          // Outside its geometry the path is never taken: odd sizes, 3 input channels, stride 2.
          const tileOf = (shape: [number, number, number, number], cout: number, stride = 1) =>
            kernels.winogradTile(
              tf.backend_util.computeConv2DInfo(shape, [3, 3, shape[3], cout], stride, 1, "same"),
            );
          assert.equal(tileOf([2, 8, 8, 16], 32), 4);
          assert.equal(tileOf([2, 8, 6, 16], 32), 2);
          assert.equal(tileOf([2, 7, 8, 16], 32), 0);
          assert.equal(tileOf([2, 32, 32, 3], 16), 0);
          assert.equal(tileOf([2, 8, 8, 16], 32, 2), 0);
          // The dense layers' products, at a width with a vector remainder and a lone column.
          for (const [m, k, n] of [[9, 300, 77], [30, 512, 500], [30, 500, 10]] as const) {
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
              assert.ok(error <= 2e-5, `${isa} ${m}×${k}×${n} product ${i}: ${error}`);
            }
          }
          // The loops with a JS twin give that twin's bits in every build (no FMA contraction):
          // the default build, which the first test compares with the JS loops, is the yardstick.
          const size = 30 * 8 * 8 * 32;
          const x = randomValues(size, 998), y = randomValues(size, 999);
          x[3] = NaN;
          x[4] = -0;
          const pool = {
            batchSize: 30,
            inHeight: 8,
            inWidth: 8,
            inChannels: 32,
            outHeight: 4,
            outWidth: 4,
          };
          const run = (k: typeof kernels) => {
            const outs = [size, size, size, size, size / 4, size].map((n) => new Float32Array(n));
            k.relu(x, outs[0]!);
            k.reluBackprop(y, x, outs[1]!);
            k.binary("div", x, y, outs[2]!);
            k.binary("mul", x, y.subarray(0, 32), outs[3]!);
            k.maxPool2x2(x, pool as never, outs[4]!);
            k.maxPoolGrad2x2(x, y.subarray(0, size / 4), pool as never, outs[5]!);
            const values = x.slice(), m = y.slice(), v = y.map(Math.abs);
            k.adam(values, y, m, v, {
              beta1: 0.9,
              beta2: 0.999,
              oneMinusB1: 0.1,
              oneMinusB2: 0.001,
              learningRate: 0.001,
              correction1: 1 / (1 - 0.9 ** 3),
              correction2: 1 / (1 - 0.999 ** 3),
              epsilon: 1e-7,
            });
            const mask = new Float32Array(size);
            k.dropoutMask(mask, 0.2, 12345);
            return [...outs, values, m, v, mask];
          };
          const expected = run(defaultKernels), actual = run(kernels);
          for (const [i, values] of actual.entries()) {
            assertSameFloats(values, expected[i]!, `${isa} loop ${i}`);
          }
        });
      }
      // A build per ISA, each named for it.
      const names = [...Deno.readDirSync(dir)].map((e) => e.name.split("-")[1]).sort();
      assert.deepEqual(names, [...isas].sort());
    });
  },
});

Deno.test("CIFAR10_NATIVE_ISA picks the build, and one the CPU lacks is refused by name", () => {
  const avx2Machine = ["avx2", "portable"] as const;
  assert.deepEqual(chooseIsa("auto", [...avx2Machine]), { isa: "avx2" });
  assert.deepEqual(chooseIsa("AVX2 ", [...avx2Machine]), { isa: "avx2" });
  assert.deepEqual(chooseIsa("portable", [...avx2Machine]), { isa: "portable" });
  assert.equal(
    chooseIsa("avx512", [...avx2Machine]).reason,
    'Cannot use isa "avx512": this CPU runs only avx2, portable (unset CIFAR10_NATIVE_ISA to pick the best)',
  );
  assert.equal(
    chooseIsa("sse9", [...avx2Machine]).reason,
    'Cannot use isa "sse9": expected auto or one of avx512, avx2, neon, portable, native',
  );
  // Through the loader and the variable: an ISA this CPU lacks (on x86-64, "native" is never
  // built: the named ISAs cover it) is refused before anything is built.
  const lacking = NATIVE_ISAS.find((isa) => !supportedIsas().includes(isa))!;
  // (An environment of its own: the process's is shared by every test file running beside.)
  const refused = loadNativeKernels({
    cacheDir: "/nonexistent/cache",
    env: { [NATIVE_ISA_ENV]: lacking },
  });
  assert.ok(!refused.ok);
  assert.equal(
    refused.reason,
    `Cannot use ${NATIVE_ISA_ENV}=${lacking}: this CPU runs only ${
      supportedIsas().join(", ")
    } (unset ${NATIVE_ISA_ENV} to pick the best)`,
  );
  // The setting is named, so that the blas backend reports an error instead of running JS loops.
  assert.equal(refused.asked, `${NATIVE_ISA_ENV}=${lacking}`);
  const byOption = loadNativeKernels({ cacheDir: "/nonexistent/cache", isa: lacking, env: {} });
  assert.ok(!byOption.ok && byOption.asked === `isa "${lacking}"`);
  // Nothing asked: a failure (here, turned off) is a reason to run the JS loops, not an error.
  const off = loadNativeKernels({ cacheDir: "/nonexistent/cache", env: { CIFAR10_NATIVE: "0" } });
  assert.ok(!off.ok && off.asked === undefined);
  // What the CPU runs comes from its flags: an AVX2 CPU without AVX-512, and an old one.
  const zen3 =
    "flags\t\t: fpu sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt avx f16c abm bmi1 avx2 bmi2\n";
  assert.deepEqual(supportedIsas(zen3, "x86_64"), ["avx2", "portable"]);
  assert.deepEqual(supportedIsas("flags\t: fpu sse2 avx\n", "x86_64"), ["portable"]);
  // A flags line like that of the AMD EPYC (Zen 5) VM that hid LZCNT ("abm"; written from an
  // EPYC's list, without abm): both builds run there, since neither uses LZCNT (a
  // -march=x86-64-v3 rule refused avx2 and kept avx512).
  const zen5VmHidingLzcnt = "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca " +
    "cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm " +
    "rep_good nopl cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 " +
    "x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy svm cr8_legacy " +
    "sse4a misalignsse 3dnowprefetch osvw topoext perfctr_core ssbd ibrs ibpb stibp vmmcall " +
    "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap " +
    "avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 " +
    "xsaves avx512_bf16 clzero xsaveerptr wbnoinvd arat npt nrip_save avx512vbmi umip pku ospke " +
    "avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid movdiri " +
    "movdir64b fsrm avx512_vp2intersect\n";
  assert.deepEqual(supportedIsas(zen5VmHidingLzcnt, "x86_64"), ["avx512", "avx2", "portable"]);
  // A VM that shows AVX-512 F but hides BW: avx512 needs BW, avx2 still runs.
  assert.deepEqual(
    supportedIsas("flags\t: sse2 avx avx2 fma avx512f avx512dq avx512vl\n", "x86_64"),
    ["avx2", "portable"],
  );
  // AVX2 without FMA (a VIA or early emulator): no avx2 build, whose tiles are fused.
  assert.deepEqual(supportedIsas("flags\t: sse2 avx avx2\n", "x86_64"), ["portable"]);
  // Every AArch64 CPU has NEON (Advanced SIMD); other CPUs, and an x86-64 without
  // /proc/cpuinfo (an Intel Mac), let the compiler read the CPU.
  assert.deepEqual(supportedIsas(null, "aarch64"), ["neon", "portable"]);
  assert.deepEqual(supportedIsas("flags\t: fpu sse2 avx\n", "aarch64"), ["neon", "portable"]);
  assert.deepEqual(supportedIsas(null, "x86_64"), ["native", "portable"]);
  assert.deepEqual(supportedIsas(null, "riscv64"), ["native", "portable"]);
});

Deno.test({
  name: skipName(
    "native dropout masks are dropoutMask()'s bit for bit, and the model uses them on blas",
    nativeIgnore,
    "the native loops need OpenBLAS and a C compiler (sudo apt-get install libopenblas0-pthread gcc)",
  ),
  ignore: nativeIgnore,
  fn: async () => {
    const kernels = native.ok ? native.kernels : null;
    assert.ok(kernels !== null);
    // Sizes on one thread and on all; seeds 0 (replaced by the generator's default) and ≥ 2³¹.
    for (const length of [1, 7, 500 * 30, 8192 * 30]) {
      for (const rate of [0, 0.2, 0.5, 0.999]) {
        for (const seed of [0, 1, 42, 2 ** 31 + 5, 2 ** 32 - 1]) {
          const mask = new Float32Array(length);
          kernels.dropoutMask(mask, rate, seed);
          assertSameFloats(mask, dropoutMask(length, rate, seed), `${length}/${rate}/${seed}`);
        }
      }
    }
    // The blas backend's model draws its masks there (same bits as the JS loop), and a bad
    // rate still gets dropoutMask()'s error.
    await tf.setBackend(BLAS_BACKEND_NAME);
    const viaBlas = dropoutMaskOn(BLAS_BACKEND_NAME, 8192 * 30, 0.2, 7);
    assertSameFloats(viaBlas, dropoutMask(8192 * 30, 0.2, 7), "dropoutMaskOn(blas)");
    assert.throws(() => dropoutMaskOn(BLAS_BACKEND_NAME, 4, 1, 1), RangeError);
  },
});
