import assert from "node:assert/strict";
import { blasCandidates, openBlas } from "../../../../lib/engine/kernels/blas/cblas.ts";

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
  // An environment of its own: setting the process's would reach every test file running beside.
  const env = { CIFAR10_BLAS_LIB: "/opt/blas/libcustom.so" };
  const candidates = blasCandidates("/explicit/libblas.so", true, Deno.build.os, env);
  assert.deepEqual(candidates.slice(0, 2), ["/explicit/libblas.so", "/opt/blas/libcustom.so"]);
  if (Deno.build.os === "linux") assert.ok(candidates.includes("libopenblas.so.0"));
  if (Deno.build.os === "darwin") {
    assert.ok(candidates.includes("/System/Library/Frameworks/Accelerate.framework/Accelerate"));
  }
  assert.deepEqual(blasCandidates(undefined, false, Deno.build.os, env), [
    "/opt/blas/libcustom.so",
  ]);
  assert.deepEqual(blasCandidates(undefined, false, Deno.build.os, {}), []);
});

Deno.test("blasCandidates() looks where each OS keeps its CBLAS", async (t) => {
  await t.step("macOS: Accelerate, then Homebrew's OpenBLAS (Apple Silicon, then Intel)", () => {
    assert.deepEqual(blasCandidates("/explicit/lib.dylib", true, "darwin").slice(-4), [
      "/explicit/lib.dylib",
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
    ]);
  });
  await t.step("Linux: Debian's OpenBLAS by its soname first, no macOS paths", () => {
    const linux = blasCandidates(undefined, true, "linux");
    assert.ok(linux.indexOf("libopenblas.so.0") >= 0);
    assert.ok(linux.every((path) => !path.endsWith(".dylib") && !path.includes("Accelerate")));
  });
  await t.step("Windows: the DLL", () => {
    assert.ok(blasCandidates(undefined, true, "windows").includes("libopenblas.dll"));
  });
});
