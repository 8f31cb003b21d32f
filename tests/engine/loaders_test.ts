import assert from "node:assert/strict";
import { defaultLoaders, rejectSoftwareAdapter } from "../../lib/engine/loaders.ts";
import { fakeAdapter } from "./_adapters.ts";

Deno.test("the webgpu loader refuses software adapters and missing WebGPU", async (t) => {
  const cases: [string, unknown, string][] = [
    [
      "fallback adapter",
      fakeAdapter("llvmpipe (LLVM 15.0.6, 256 bits)", true),
      "the only WebGPU adapter is a software fallback (llvmpipe (LLVM 15.0.6, 256 bits)), far too slow",
    ],
    [
      "SwiftShader not flagged as fallback",
      fakeAdapter("SwiftShader Device (Subzero)", false),
      "the only WebGPU adapter is a software renderer (SwiftShader Device (Subzero)), far too slow",
    ],
    [
      "older adapters flag it on the adapter",
      { info: {}, isFallbackAdapter: true },
      "the only WebGPU adapter is a software fallback (unnamed adapter), far too slow",
    ],
    ["no adapter", null, "no WebGPU adapter found"],
  ];
  for (const [name, adapter, reason] of cases) {
    await t.step(name, async () => {
      const requests: unknown[] = [];
      const gpu = {
        requestAdapter: (options?: unknown) => {
          requests.push(options);
          return Promise.resolve(adapter);
        },
      };
      assert.deepEqual(await defaultLoaders({ gpu }).webgpu(), { ok: false, reason });
      assert.deepEqual(requests, [{ powerPreference: "high-performance" }]);
    });
  }
  await t.step("no navigator.gpu", async () => {
    assert.deepEqual(await defaultLoaders({ gpu: null }).webgpu(), {
      ok: false,
      reason: "this Deno has no WebGPU (navigator.gpu)",
    });
  });
});

Deno.test("rejectSoftwareAdapter() accepts real GPUs", () => {
  assert.equal(
    rejectSoftwareAdapter({ description: "NVIDIA H200", isFallbackAdapter: false }),
    null,
  );
  assert.equal(rejectSoftwareAdapter({ vendor: "apple", architecture: "metal-3" }), null);
  assert.equal(
    rejectSoftwareAdapter({ description: "Microsoft Basic Render Driver" }),
    "the only WebGPU adapter is a software renderer (Microsoft Basic Render Driver), far too slow",
  );
});

Deno.test("the tensorflow loaders report packages that are missing or were never built", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const nodeModules = new URL(`file://${dir}/node_modules/`);
    const loaders = defaultLoaders({ nodeModules });
    assert.deepEqual(await loaders.tensorflowGpu(), {
      ok: false,
      reason: "@tensorflow/tfjs-node-gpu is not installed",
    });
    // `deno install` links the package at the top level; its install script then fails offline.
    await Deno.mkdir(`${dir}/node_modules/@tensorflow/tfjs-node`, { recursive: true });
    await Deno.writeTextFile(`${dir}/node_modules/@tensorflow/tfjs-node/package.json`, "{}");
    // Deno's own layout, without the top-level link.
    const inner = `${dir}/node_modules/.deno/@tensorflow+tfjs-node-gpu@4.22.0/node_modules/` +
      "@tensorflow/tfjs-node-gpu";
    await Deno.mkdir(`${inner}/lib/napi-v8`, { recursive: true });
    await Deno.writeTextFile(`${inner}/package.json`, "{}");
    for (
      const [loader, pkg] of [
        [loaders.tensorflowCpu, "@tensorflow/tfjs-node"],
        [loaders.tensorflowGpu, "@tensorflow/tfjs-node-gpu"],
      ] as const
    ) {
      assert.deepEqual(await loader(), {
        ok: false,
        reason: `${pkg} is installed but its native binding was not built (its install script ` +
          "downloads libtensorflow)",
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
