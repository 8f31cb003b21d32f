import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { loadNativeKernels } from "../../../../lib/engine/kernels/native/native_kernels.ts";
import {
  buildNativeLibrary,
  buildPlan,
  isaFlags,
} from "../../../../lib/engine/kernels/native/build.ts";
import { THREAD_ENV_DEFAULTS } from "../../../../lib/engine/kernels/native/environment.ts";
import { skipName, withTempDir } from "../../../_util.ts";
import {
  available,
  compilerRuns,
  native,
  prebuiltNative,
  registration,
} from "../blas/_blas_backends.ts";

// Building native.c with the machine's compiler, and what loadNativeKernels() says when it cannot.

Deno.test({
  name: skipName(
    "the native kernels build and load wherever a C compiler runs",
    !available || prebuiltNative !== null,
    prebuiltNative !== null
      ? `CIFAR10_NATIVE names a prebuilt library (${prebuiltNative}): nothing is built`
      : "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore: !available || prebuiltNative !== null,
  fn: async () => {
    if (!compilerRuns()) {
      console.warn("build_test: no C compiler here; the JS loops run instead");
      assert.ok(!native.ok);
      return;
    }
    assert.ok(native.ok, native.ok ? "" : native.reason);
    assert.match(
      native.kernels.path,
      /cifar10_kernels-(avx512|avx2|neon|portable|native)-[0-9a-f]{16}\.(so|dylib)$/,
    );
    assert.ok(native.kernels.threads() >= 1);
    // The device line says which loops run.
    assert.match(
      registration.ok ? registration.device : "",
      /element-wise loops, convolutions and batch-sized products native \((avx512|avx2|neon|portable|native) build, \d+ threads\)/,
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
  // The variables go in an environment of the test's own: `deno test --parallel` runs every test
  // file in this one process, so setting Deno.env's CC would change what the others build.
  await withTempDir(async (dir) => {
    // A "compiler" that runs but fails: its message comes back, and no partial library stays.
    const badCompiler = `${dir}/bad-cc`;
    await Deno.writeTextFile(
      badCompiler,
      '#!/bin/sh\n[ "$1" = --version ] && { echo "bad-cc 1.0"; exit 0; }\necho "boom: cannot compile" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const failed = loadNativeKernels({ cacheDir: `${dir}/cache`, env: { CC: badCompiler } });
    assert.ok(!failed.ok);
    assert.match(
      failed.reason,
      /bad-cc failed on \/.*\/native\/native\.c: boom: cannot compile$/,
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/cache`)], []);
    await Deno.remove(`${dir}/cache`);
    await Deno.remove(badCompiler);
    assert.deepEqual(loadNativeKernels({ cacheDir: dir, env: { CIFAR10_NATIVE: "0" } }), {
      ok: false,
      reason: "turned off by CIFAR10_NATIVE=0",
    });
    const missing = loadNativeKernels({
      cacheDir: dir,
      env: { CIFAR10_NATIVE: `${dir}/missing.so` },
    });
    assert.ok(!missing.ok);
    assert.match(
      missing.reason,
      new RegExp(`^Cannot load the native kernels from ${dir}/missing\\.so: `),
    );
    assert.deepEqual(loadNativeKernels({ cacheDir: dir, env: { CC: `${dir}/no-such-cc` } }), {
      ok: false,
      reason:
        `no C compiler found (tried ${dir}/no-such-cc); install gcc (Debian: sudo apt-get install gcc) or set CC`,
    });
    // Nothing half-built is left behind.
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("buildPlan() picks flags, file type and threads by OS, CPU and compiler", async (t) => {
  const linuxX86 = { os: "linux", arch: "x86_64", compilerVersion: "cc (Debian 12.2.0-14) 12.2.0" };
  const linuxArm = {
    os: "linux",
    arch: "aarch64",
    compilerVersion: "aarch64-linux-gnu-gcc 12.2.0",
  };
  const mac = { os: "darwin", arch: "aarch64", compilerVersion: "Apple clang version 16.0.0" };
  await t.step("Linux: OpenMP on every core, a .so kept mapped at exit", () => {
    const plan = buildPlan("avx512", linuxX86);
    assert.equal(plan.extension, "so");
    assert.ok(plan.openmp && plan.note === undefined);
    for (const flag of ["-fopenmp", "-shared", "-Wl,-z,nodelete", "-mavx512f", "-mfma"]) {
      assert.ok(plan.flags.includes(flag), flag);
    }
    // The features native.c uses, not a -march level a VM may show only part of.
    assert.ok(plan.flags.every((flag) => !flag.startsWith("-march=")), plan.flags.join(" "));
    assert.ok(plan.flags.includes("-ffp-contract=off"));
  });
  await t.step("AArch64: NEON needs no -march or -mcpu (a cross compiler builds it too)", () => {
    const neon = buildPlan("neon", linuxArm);
    assert.ok(neon.flags.every((flag) => !/^-m(arch|cpu|tune)=/.test(flag)), neon.flags.join(" "));
    assert.deepEqual(isaFlags("portable", "aarch64"), ["-DCIFAR_GENERIC_TILES"]);
    assert.deepEqual(isaFlags("portable", "x86_64"), []);
  });
  await t.step("macOS with Apple's clang: no OpenMP, a .dylib, one thread and why", () => {
    const plan = buildPlan("neon", mac);
    assert.equal(plan.extension, "dylib");
    assert.equal(plan.openmp, false);
    assert.equal(plan.note, "one thread: Apple's clang builds without OpenMP");
    assert.ok(plan.flags.includes("-dynamiclib"));
    for (const flag of ["-fopenmp", "-shared", "-Wl,-z,nodelete"]) {
      assert.ok(!plan.flags.includes(flag), flag);
    }
    // An Intel Mac: x86 flags, still no OpenMP.
    const intel = buildPlan("native", { ...mac, arch: "x86_64" });
    assert.ok(intel.flags.includes("-march=native") && !intel.openmp);
  });
  await t.step("experiments' flags come last", () => {
    assert.equal(buildPlan("portable", linuxX86, ["-DCV_NV_MAX=4"]).flags.at(-1), "-DCV_NV_MAX=4");
  });
});

/** Whether a compiler named by `command` runs here. */
function runs(command: string): boolean {
  try {
    return new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const CROSS_CC = "aarch64-linux-gnu-gcc";

Deno.test({
  name: skipName(
    "the NEON build cross-compiles to an AArch64 library (aarch64-linux-gnu-gcc)",
    Deno.build.arch !== "x86_64" || !runs(CROSS_CC),
    "needs x86-64 and aarch64-linux-gnu-gcc (sudo apt-get install gcc-aarch64-linux-gnu)",
  ),
  ignore: Deno.build.arch !== "x86_64" || !runs(CROSS_CC),
  fn: async () => {
    await withTempDir((dir) => {
      // CC in an environment of its own (not the process's, which parallel test files share).
      const built = buildNativeLibrary(dir, "neon", [], { CC: CROSS_CC });
      assert.ok(built.ok, built.ok ? "" : built.reason);
      assert.match(built.path, /\/cifar10_kernels-neon-[0-9a-f]{16}\.so$/);
      // ELF e_machine (bytes 18–19, little-endian) 183 is EM_AARCH64.
      const header = Deno.readFileSync(built.path).subarray(0, 20);
      assert.deepEqual([...header.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
      assert.equal(header[18]! | (header[19]! << 8), 183);
      return Promise.resolve();
    });
  },
});

/** Debian's clang, to build as Apple's clang does: clang, and no OpenMP. */
const CLANG = ["clang", "clang-16", "clang-15", "clang-14"].find(runs);

/** The target clang builds for by default (`x86_64-pc-linux-gnu`). */
function clangMachine(): string {
  const output = new Deno.Command(CLANG!, { args: ["-dumpmachine"], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(output.stdout).trim();
}

Deno.test({
  name: skipName(
    "native.c builds with clang and no OpenMP (as on macOS) and runs on one thread",
    !available || CLANG === undefined,
    "needs OpenBLAS and clang (sudo apt-get install libopenblas0-pthread clang)",
  ),
  ignore: !available || CLANG === undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      // Apple's flags, with -shared for an ELF library in place of -dynamiclib.
      const plan = buildPlan("portable", {
        os: "darwin",
        arch: Deno.build.arch,
        compilerVersion: "clang",
      });
      const flags = plan.flags.map((flag) => flag === "-dynamiclib" ? "-shared" : flag);
      // Under emulation (./run test:arm64) this process is AArch64 and clang an x86-64 program:
      // it cross-builds, as Apple's clang builds for Apple Silicon.
      if (!clangMachine().startsWith(Deno.build.arch)) {
        flags.push(`--target=${Deno.build.arch}-linux-gnu`);
      }
      const source = new URL("../../../../lib/engine/kernels/native/native.c", import.meta.url);
      const output = await new Deno.Command(CLANG!, {
        args: [...flags, "-Werror", "-o", `${dir}/lib.so`, source.pathname, "-lm"],
        stderr: "piped",
      }).output();
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
      const loaded = loadNativeKernels({
        cacheDir: dir,
        env: { CIFAR10_NATIVE: `${dir}/lib.so` },
      });
      assert.ok(loaded.ok, loaded.ok ? "" : loaded.reason);
      const kernels = loaded.kernels;
      assert.equal(kernels.threads(), 1);
      // Its convolution (fused multiply-adds by clang's pragma) against tfjs's cpu kernel.
      await tf.setBackend("cpu");
      const [n, h, w, c, co] = [2, 6, 5, 3, kernels.convLanes * 2];
      const xs = Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i));
      const ws = Float32Array.from({ length: 9 * c * co }, (_, i) => Math.cos(i));
      const info = tf.backend_util.computeConv2DInfo(
        [n, h, w, c],
        [3, 3, c, co],
        1,
        1,
        "same",
      );
      assert.ok(kernels.directConvFits(info, co));
      const out = new Float32Array(n * h * w * co);
      kernels.convForward(xs, ws, info, out);
      const expected = tf.conv2d(
        tf.tensor4d(xs, [n, h, w, c]),
        tf.tensor4d(ws, [3, 3, c, co]),
        1,
        "same",
      )
        .dataSync();
      for (let i = 0; i < out.length; i++) {
        assert.ok(
          Math.abs(out[i]! - expected[i]!) <= 1e-5 * (1 + Math.abs(expected[i]!)),
          `${i}`,
        );
      }
    });
  },
});
