import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import {
  type BackendLoader,
  type BackendLoaders,
  defaultLoaders,
  type LoadResult,
} from "../../lib/engine/loaders.ts";
import { autoOrder, describeBackend, initBackend } from "../../lib/engine/backend.ts";
import type { BackendName } from "../../lib/core/config.ts";
import { fakeAdapter } from "./_adapters.ts";

const ORDER: (keyof BackendLoaders)[] = [
  "tensorflowGpu",
  "tensorflowCpu",
  "webgpu",
  "blas",
  "wasm",
  "cpu",
];
const NAMES = ["tensorflow", "tensorflow", "webgpu", "blas", "wasm", "cpu"];
const LABELS = ["tensorflow (GPU)", "tensorflow (CPU)", "webgpu", "blas", "wasm", "cpu"];

/** Fake loaders: `results[name]` says what each returns; `calls` records the order. */
function fakeLoaders(results: Partial<Record<keyof BackendLoaders, LoadResult | Error>>) {
  const calls: string[] = [];
  const loaders = {} as BackendLoaders;
  for (const name of ORDER) {
    const loader: BackendLoader = () => {
      calls.push(name);
      const result = results[name] ?? { ok: false, reason: `${name} unavailable` };
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    };
    loaders[name] = loader;
  }
  return { loaders, calls };
}

Deno.test("initBackend() tries backends fastest first and takes the first that loads", async (t) => {
  for (let winner = 0; winner < ORDER.length; winner++) {
    await t.step(`${ORDER[winner]} loads`, async () => {
      const results: Partial<Record<keyof BackendLoaders, LoadResult>> = {};
      for (let i = 0; i < winner; i++) results[ORDER[i]!] = { ok: false, reason: `reason ${i}` };
      results[ORDER[winner]!] = { ok: true, device: "device" };
      const { loaders, calls } = fakeLoaders(results);
      const info = await initBackend("auto", { loaders, registerKernels: false, os: "linux" });
      assert.deepEqual(calls, ORDER.slice(0, winner + 1));
      assert.equal(info.name, NAMES[winner]);
      assert.equal(info.device, "device");
      const skipped = ORDER.slice(0, winner).map((_, i) => `${LABELS[i]}: reason ${i}`);
      assert.equal(
        info.reason,
        `auto: ${LABELS[winner]} loaded` +
          (skipped.length ? `; skipped ${skipped.join("; ")}` : ""),
      );
    });
  }
});

Deno.test("on macOS, auto tries webgpu (Metal), then blas (Accelerate), then wasm", async (t) => {
  assert.deepEqual(autoOrder("darwin"), ["webgpu", "blas", "wasm", "cpu"]);
  assert.deepEqual(autoOrder("linux"), ORDER);
  await t.step("no Metal adapter: blas, without asking tfjs-node", async () => {
    const { loaders, calls } = fakeLoaders({
      webgpu: { ok: false, reason: "no adapter" },
      blas: { ok: true, device: "Accelerate" },
    });
    const info = await initBackend("auto", { loaders, registerKernels: false, os: "darwin" });
    assert.deepEqual(calls, ["webgpu", "blas"]);
    assert.equal(info.name, "blas");
    assert.equal(info.reason, "auto: blas loaded; skipped webgpu: no adapter");
  });
  await t.step("asked for by name, tensorflow is still tried", async () => {
    const { loaders, calls } = fakeLoaders({ tensorflowCpu: { ok: true, device: "CPU" } });
    const info = await initBackend("tensorflow", { loaders, registerKernels: false, os: "darwin" });
    assert.deepEqual(calls, ["tensorflowGpu", "tensorflowCpu"]);
    assert.equal(info.name, "tensorflow");
  });
});

Deno.test("initBackend() records a failed import in one line and falls back", async () => {
  const { loaders, calls } = fakeLoaders({
    tensorflowGpu: new Error(
      "Cannot find module 'npm:@tensorflow/tfjs-node-gpu@4.22.0'\n    at async loadTensorflow",
    ),
    tensorflowCpu: new TypeError("(0 , util_1.isNullOrUndefined) is not a function"),
    webgpu: { ok: false, reason: "no WebGPU adapter found" },
    blas: new Error("Could not open library: libopenblas.so.0"),
    wasm: { ok: true, device: "WebAssembly SIMD, 1 thread", simd: true, threads: 1 },
  });
  const info = await initBackend("auto", { loaders, registerKernels: false });
  assert.deepEqual(calls, ["tensorflowGpu", "tensorflowCpu", "webgpu", "blas", "wasm"]);
  assert.deepEqual(info, {
    name: "wasm",
    device: "WebAssembly SIMD, 1 thread",
    simd: true,
    threads: 1,
    reason: "auto: wasm loaded; skipped " +
      "tensorflow (GPU): Cannot find module 'npm:@tensorflow/tfjs-node-gpu@4.22.0'; " +
      "tensorflow (CPU): (0 , util_1.isNullOrUndefined) is not a function; " +
      "webgpu: no WebGPU adapter found; blas: Could not open library: libopenblas.so.0",
  });
});

Deno.test("initBackend() falls back from a fallback WebGPU adapter to the next backend", async () => {
  const { loaders, calls } = fakeLoaders({
    blas: { ok: true, device: "OpenBLAS, 2 threads" },
  });
  const gpu = {
    requestAdapter: () => Promise.resolve(fakeAdapter("llvmpipe (LLVM 15.0.6, 256 bits)", true)),
  };
  loaders.webgpu = defaultLoaders({ gpu }).webgpu;
  const info = await initBackend("auto", { loaders, registerKernels: false });
  assert.equal(info.name, "blas");
  assert.deepEqual(calls, ["tensorflowGpu", "tensorflowCpu", "blas"]);
  assert.match(
    info.reason,
    /; webgpu: the only WebGPU adapter is a software fallback \(llvmpipe \(LLVM 15\.0\.6, 256 bits\)\), far too slow$/,
  );
});

Deno.test("initBackend('tensorflow') takes the CPU build when the GPU build is missing", async () => {
  const { loaders, calls } = fakeLoaders({
    tensorflowGpu: { ok: false, reason: "@tensorflow/tfjs-node-gpu is not installed" },
    tensorflowCpu: { ok: true, device: "CPU (libtensorflow)", gpu: false },
  });
  const info = await initBackend("tensorflow", { loaders, registerKernels: false });
  assert.deepEqual(calls, ["tensorflowGpu", "tensorflowCpu"]);
  assert.deepEqual(info, {
    name: "tensorflow",
    device: "CPU (libtensorflow)",
    gpu: false,
    reason: "requested tensorflow: tensorflow (CPU) loaded; skipped tensorflow (GPU): " +
      "@tensorflow/tfjs-node-gpu is not installed",
  });
});

Deno.test("initBackend() throws one line saying why and what to do for a requested backend", async (t) => {
  const cases: [BackendName, string][] = [
    [
      "tensorflow",
      'Cannot use backend "tensorflow": tensorflow (GPU): tensorflowGpu unavailable; ' +
      "tensorflow (CPU): tensorflowCpu unavailable; install it with `deno task install-native` " +
      "on a machine with internet access (the GPU build needs CUDA 11.2 and cuDNN 8.1), or use " +
      "backend auto",
    ],
    [
      "webgpu",
      'Cannot use backend "webgpu": webgpu unavailable; run on a machine with a GPU and its ' +
      "Vulkan/Metal/D3D12 driver, or use backend wasm",
    ],
    [
      "blas",
      'Cannot use backend "blas": blas unavailable; install OpenBLAS (Debian: sudo apt-get ' +
      "install libopenblas0-pthread; macOS has Accelerate, or brew install openblas), or use " +
      "backend wasm",
    ],
    ["wasm", 'Cannot use backend "wasm": wasm unavailable; use backend cpu'],
    ["cpu", 'Cannot use backend "cpu": cpu unavailable; reinstall with `deno install`'],
  ];
  for (const [requested, message] of cases) {
    await t.step(requested, async () => {
      const { loaders, calls } = fakeLoaders({ wasm: { ok: true, device: "never asked" } });
      const promise = initBackend(requested, { loaders, registerKernels: false });
      if (requested === "wasm") {
        assert.equal((await promise).name, "wasm");
        return;
      }
      await assert.rejects(promise, { name: "Error", message });
      assert.ok(!message.includes("\n"));
      assert.ok(calls.every((c) => NAMES[ORDER.indexOf(c as keyof BackendLoaders)] === requested));
    });
  }
  await t.step("wasm failing", async () => {
    const { loaders } = fakeLoaders({});
    await assert.rejects(initBackend("wasm", { loaders, registerKernels: false }), {
      name: "Error",
      message: 'Cannot use backend "wasm": wasm unavailable; use backend cpu',
    });
  });
});

Deno.test("initBackend('auto') throws when every backend fails", async () => {
  const { loaders } = fakeLoaders({});
  await assert.rejects(initBackend("auto", { loaders, registerKernels: false }), {
    name: "Error",
    message: "Cannot select a backend: every backend failed (tensorflow (GPU): tensorflowGpu " +
      "unavailable; tensorflow (CPU): tensorflowCpu unavailable; webgpu: webgpu unavailable; " +
      "blas: blas unavailable; wasm: wasm unavailable; cpu: cpu unavailable)",
  });
});

Deno.test("initBackend() rejects an unknown backend name", async () => {
  await assert.rejects(initBackend("cuda" as BackendName, { registerKernels: false }), {
    name: "RangeError",
    message:
      'Cannot select backend "cuda": expected one of auto, tensorflow, webgpu, blas, wasm, cpu',
  });
});

Deno.test("initBackend('wasm') starts wasm with SIMD on 1 thread and registers its kernels", async () => {
  const info = await initBackend("wasm");
  assert.deepEqual(info, {
    name: "wasm",
    device: "WebAssembly SIMD, 1 thread",
    gpu: false,
    simd: true,
    threads: 1,
    reason: "requested wasm: wasm loaded",
  });
  assert.equal(tf.getBackend(), "wasm");
  assert.notEqual(tf.getKernel(tf.Conv2DBackpropFilter, "wasm"), undefined);
  assert.equal(
    describeBackend(info),
    "No GPU: training on the CPU with wasm (WebAssembly SIMD, 1 thread) — requested wasm: wasm loaded",
  );
});

Deno.test("initBackend('cpu') starts the pure-JS backend", async () => {
  const info = await initBackend("cpu");
  assert.equal(info.name, "cpu");
  assert.equal(info.device, "JavaScript, 1 thread");
  assert.equal(tf.getBackend(), "cpu");
  const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
  const dy = tf.ones([1, 4, 4, 3]);
  const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
    strides: 1,
    pad: "same",
    dataFormat: "NHWC",
    filterShape: [3, 3, 2, 3],
  }) as tf.Tensor;
  // The centre tap sees all 16 pixels, a corner tap 9 of them.
  const values = dw.dataSync();
  assert.equal(values[(1 * 3 + 1) * 6], 16);
  assert.equal(values[0], 9);
  tf.dispose([x, dy, dw]);
});

Deno.test("describeBackend() says whether training runs on a GPU", () => {
  assert.equal(
    describeBackend({ name: "tensorflow", device: "NVIDIA H200", reason: "auto", gpu: true }),
    "GPU available: training on the GPU with tensorflow (NVIDIA H200) — auto",
  );
  assert.equal(
    describeBackend({ name: "blas", device: "OpenBLAS, 2 threads", reason: "auto" }),
    "No GPU: training on the CPU with blas (OpenBLAS, 2 threads) — auto",
  );
});

Deno.test("initBackend('auto') stops at a setting of the user's a backend cannot honour", async () => {
  // CIFAR10_NATIVE_ISA=avx512 on an AVX2 CPU: running wasm (or blas's JS loops) instead would
  // train, or benchmark, something other than what was asked for.
  const reason =
    "CIFAR10_NATIVE_ISA=avx512 cannot be honoured: this CPU runs only avx2, portable " +
    "(unset CIFAR10_NATIVE_ISA to pick the best)";
  const { loaders, calls } = fakeLoaders({
    blas: { ok: false, reason, fatal: true },
    wasm: { ok: true, device: "WebAssembly SIMD, 1 thread" },
  });
  await assert.rejects(initBackend("auto", { loaders, registerKernels: false }), {
    name: "Error",
    message: `Cannot use backend "blas": ${reason}`,
  });
  assert.deepEqual(calls, ["tensorflowGpu", "tensorflowCpu", "webgpu", "blas"]);
});

Deno.test("CIFAR10_NATIVE_ISA naming an ISA this CPU lacks stops auto with that name", async () => {
  // The real loaders in a process of its own (the variable is read when blas registers).
  const { NATIVE_ISAS, supportedIsas } = await import("../../lib/engine/kernels/native/build.ts");
  const lacking = NATIVE_ISAS.find((isa) => !supportedIsas().includes(isa))!;
  const code = `import { initBackend } from "./lib/engine/backend.ts";
const info = await initBackend("auto", { registerKernels: false });
console.log("loaded " + info.name);`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: new URL("../../", import.meta.url),
    env: { CIFAR10_NATIVE_ISA: lacking, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, text);
  assert.match(
    text,
    new RegExp(
      `Cannot use backend "blas": CIFAR10_NATIVE_ISA=${lacking} cannot be honoured: this CPU runs only`,
    ),
  );
  assert.doesNotMatch(text, /loaded /);
});
