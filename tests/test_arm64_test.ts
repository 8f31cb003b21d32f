import assert from "node:assert/strict";
import {
  KERNEL_TESTS,
  LOSS_TOLERANCE,
  maxRelativeDifference,
  testCounts,
} from "../scripts/test_arm64.ts";

// scripts/test_arm64.ts (./run test:arm64) itself runs under CI; these check what it reads and
// decides, natively and fast.

Deno.test("test:arm64 reads deno test's summary, colours and all", () => {
  const output =
    "a ... ok\n\x1b[0m\x1b[32mok\x1b[0m | 31 passed (60 steps) | 0 failed | 1 ignored " +
    "\x1b[0m\x1b[38;5;245m(4m20s)\x1b[0m\n";
  assert.deepEqual(testCounts(output), { passed: 31, failed: 0, ignored: 1, steps: 60 });
  assert.deepEqual(testCounts("FAILED | 8 passed (14 steps) | 1 failed | 1 ignored (4m)\n"), {
    passed: 8,
    failed: 1,
    ignored: 1,
    steps: 14,
  });
  assert.deepEqual(testCounts("ok | 2 passed | 0 failed (1s)"), {
    passed: 2,
    failed: 0,
    ignored: 0,
    steps: 0,
  });
  // A crash before the summary is no pass.
  assert.equal(testCounts("error: Module not found\n"), null);
});

Deno.test("test:arm64 compares losses by their largest relative difference", () => {
  assert.equal(maxRelativeDifference([2.3, 2.2], [2.3, 2.2]), 0);
  const close = maxRelativeDifference([2.30001, 2.2], [2.3, 2.2]);
  assert.ok(close > 4e-6 && close < 5e-6 && close <= LOSS_TOLERANCE);
  // A kernel bug moves losses by percents; a missing batch is a failure, not a match.
  assert.ok(maxRelativeDifference([2.4, 2.2], [2.3, 2.2]) > LOSS_TOLERANCE);
  assert.equal(maxRelativeDifference([2.3], [2.3, 2.2]), Infinity);
});

Deno.test("test:arm64 runs the test folders of every native kernel", async () => {
  for (const folder of KERNEL_TESTS) {
    const names = [...Deno.readDirSync(folder)].map((entry) => entry.name);
    assert.ok(names.some((name) => name.endsWith("_test.ts")), folder);
  }
  // Every test file that loads the native kernels is in one of them.
  const native = "lib/engine/kernels/native/native_kernels.ts";
  for await (const file of walk("tests")) {
    const text = await Deno.readTextFile(file);
    if (file === "tests/test_arm64_test.ts" || !text.includes(native.split("/").pop()!)) continue;
    assert.ok(KERNEL_TESTS.some((folder) => file.startsWith(folder)), file);
  }
});

async function* walk(folder: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(folder)) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (path.endsWith(".ts")) yield path;
  }
}
