import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BLAS_BACKEND_NAME } from "../../../../lib/engine/kernels/blas/blas.ts";
import { loadNativeKernels } from "../../../../lib/engine/kernels/native/native_kernels.ts";
import { withTempDir } from "../../../_util.ts";
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
  randomValues,
  relativeError,
  runOn,
} from "../blas/_blas_backends.ts";

// The native kernels (lib/engine/kernels/native/native.c) against the JS loops they replace.

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
