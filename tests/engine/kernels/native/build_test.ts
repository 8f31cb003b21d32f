import assert from "node:assert/strict";
import { loadNativeKernels } from "../../../../lib/engine/kernels/native/native_kernels.ts";
import { THREAD_ENV_DEFAULTS } from "../../../../lib/engine/kernels/native/environment.ts";
import { withTempDir } from "../../../_util.ts";
import { available, compilerRuns, native, registration } from "../blas/_blas_backends.ts";

// Building native.c with the machine's compiler, and what loadNativeKernels() says when it cannot.

Deno.test({
  name: "the native kernels build and load wherever a C compiler runs",
  ignore: !available,
  fn: async () => {
    if (!compilerRuns()) {
      console.warn("build_test: no C compiler here; the JS loops run instead");
      assert.ok(!native.ok);
      return;
    }
    assert.ok(native.ok, native.ok ? "" : native.reason);
    assert.match(
      native.kernels.path,
      /cifar10_kernels-(avx512|avx2|portable|native)-[0-9a-f]{16}\.so$/,
    );
    assert.ok(native.kernels.threads() >= 1);
    // The device line says which loops run.
    assert.match(
      registration.ok ? registration.device : "",
      /element-wise loops, convolutions and batch-sized products native \((avx512|avx2|portable|native) build, \d+ threads\)/,
    );
    // A build into a fresh folder removes libraries of older sources, and nothing else.
    await withTempDir(async (dir) => {
      const isa = native.ok ? native.kernels.isa : null;
      await Deno.writeTextFile(`${dir}/cifar10_kernels-0123456789abcdef.so`, "an unnamed build");
      await Deno.writeTextFile(`${dir}/cifar10_kernels-${isa}-0123456789abcdef.so`, "an older one");
      // Another ISA's build, and an experiment's, stay.
      const other = isa === "portable" ? "avx2" : "portable";
      await Deno.writeTextFile(`${dir}/cifar10_kernels-${other}-0123456789abcdef.so`, "kept");
      await Deno.writeTextFile(`${dir}/cifar10_kernels-${isa}-variant-0123456789abcdef.so`, "kept");
      await Deno.writeTextFile(`${dir}/notes.txt`, "not ours");
      const fresh = loadNativeKernels({ cacheDir: dir });
      assert.ok(fresh.ok, fresh.ok ? "" : fresh.reason);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(
        names,
        [
          fresh.kernels.path.split("/").pop()!,
          "notes.txt",
          `cifar10_kernels-${other}-0123456789abcdef.so`,
          `cifar10_kernels-${isa}-variant-0123456789abcdef.so`,
        ].sort(),
      );
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
      const failed = loadNativeKernels({ cacheDir: `${dir}/cache` });
      assert.ok(!failed.ok);
      assert.match(
        failed.reason,
        /bad-cc failed on \/.*\/native\/native\.c: boom: cannot compile$/,
      );
      assert.deepEqual([...Deno.readDirSync(`${dir}/cache`)], []);
      await Deno.remove(`${dir}/cache`);
      await Deno.remove(badCompiler);
      Deno.env.set("CIFAR10_NATIVE", "0");
      assert.deepEqual(loadNativeKernels({ cacheDir: dir }), {
        ok: false,
        reason: "turned off by CIFAR10_NATIVE=0",
      });
      Deno.env.set("CIFAR10_NATIVE", `${dir}/missing.so`);
      const missing = loadNativeKernels({ cacheDir: dir });
      assert.ok(!missing.ok);
      assert.match(
        missing.reason,
        new RegExp(`^Cannot load the native kernels from ${dir}/missing\\.so: `),
      );
      Deno.env.delete("CIFAR10_NATIVE");
      Deno.env.set("CC", `${dir}/no-such-cc`);
      assert.deepEqual(loadNativeKernels({ cacheDir: dir }), {
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
