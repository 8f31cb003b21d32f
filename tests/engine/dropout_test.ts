import assert from "node:assert/strict";
import { dropoutMask } from "../../lib/core/random.ts";
import { dropoutMaskOn, registerDropoutMask } from "../../lib/engine/dropout.ts";

// The registry of backend-specific dropout masks (the blas backend's native one is compared with
// the JS loop in tests/engine/kernels/native/native_kernels_test.ts).

Deno.test("dropoutMaskOn() uses a backend's registered maker, else dropoutMask()", () => {
  assert.deepEqual(dropoutMaskOn("cpu", 100, 0.3, 9), dropoutMask(100, 0.3, 9));
  const asked: number[][] = [];
  const unregister = registerDropoutMask("dropout-test", (length, rate, seed) => {
    asked.push([length, rate, seed]);
    return new Float32Array(length).fill(2);
  });
  try {
    assert.deepEqual([...dropoutMaskOn("dropout-test", 3, 0.5, 4)], [2, 2, 2]);
    assert.deepEqual(asked, [[3, 0.5, 4]]);
    // Another backend is not affected.
    assert.deepEqual(dropoutMaskOn("cpu", 3, 0.5, 4), dropoutMask(3, 0.5, 4));
  } finally {
    unregister();
  }
  assert.deepEqual(dropoutMaskOn("dropout-test", 3, 0.5, 4), dropoutMask(3, 0.5, 4));
  // The JS loop's error for a bad rate comes through.
  assert.throws(() => dropoutMaskOn("cpu", 3, 1.5, 4), RangeError);
});
