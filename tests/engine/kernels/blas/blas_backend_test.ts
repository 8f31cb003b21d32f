import { skipName } from "../../../_util.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BLAS_BACKEND_NAME } from "../../../../lib/engine/kernels/blas/blas.ts";
import { ArrayPool, BlasBackend } from "../../../../lib/engine/kernels/blas/blas_backend.ts";
import { ignore, randomValues } from "./_blas_backends.ts";

Deno.test({
  name: skipName(
    "the blas backend reuses disposed output arrays, but never ones handed out or still viewed",
    ignore,
    "OpenBLAS did not load (sudo apt-get install libopenblas0-pthread)",
  ),
  ignore,
  fn: async () => {
    await tf.setBackend(BLAS_BACKEND_NAME);
    const pool = (tf.backend() as BlasBackend).pool;
    const x = tf.tensor2d(randomValues(64 * 32, 800), [64, 32]);
    const firstValues = () => {
      const t = tf.relu(x);
      const values = (tf.backend() as BlasBackend).data.get(t.dataId).values as Float32Array;
      return { t, values };
    };
    // 1. A disposed kernel output comes back as the next output of the same size.
    const a = firstValues();
    a.t.dispose();
    const b = firstValues();
    assert.equal(b.values.buffer, a.values.buffer);
    // 2. Once read with dataSync() it is the caller's: never reused.
    const read = b.t.dataSync() as Float32Array;
    const snapshot = Float32Array.from(read);
    b.t.dispose();
    const c = firstValues();
    assert.notEqual(c.values.buffer, read.buffer);
    tf.mul(x, -1).dispose(); // Would overwrite `read` if its array were reused.
    assert.deepEqual(read, snapshot);
    // 3. A slice that views the array (the cpu Slice kernel returns a subarray) keeps it from
    // reuse after the original is disposed.
    const view = tf.slice(c.t, [0, 0], [2, 32]);
    const viewValues = (tf.backend() as BlasBackend).data.get(view.dataId).values as Float32Array;
    assert.equal(viewValues.buffer, c.values.buffer);
    const viewBefore = Float32Array.from(viewValues);
    c.t.dispose();
    const other = tf.mul(x, -3); // Same size, different values.
    const otherValues = (tf.backend() as BlasBackend).data.get(other.dataId).values as Float32Array;
    assert.notEqual(otherValues.buffer, c.values.buffer);
    assert.deepEqual(Float32Array.from(viewValues), viewBefore);
    // Once the view goes too, the array is free again.
    view.dispose();
    const again = tf.mul(x, 2);
    const againValues = (tf.backend() as BlasBackend).data.get(again.dataId).values as Float32Array;
    assert.equal(againValues.buffer, c.values.buffer);
    tf.dispose([other, again, x]);
    assert.ok(pool.reused >= 2, `reused ${pool.reused}`);
  },
});

Deno.test("ArrayPool drops the arrays freed longest ago when it is full", () => {
  const pool = new ArrayPool(1200); // three arrays of 100 float32 values
  const [a, b, c] = [pool.take(100), pool.take(100), pool.take(100)];
  const small = pool.take(50), huge = pool.take(400);
  for (const array of [a, b, c, small, huge]) pool.track(array);
  for (const array of [a, b, c]) pool.untrack(array);
  assert.equal(pool.freeBytes, 1200);
  pool.untrack(huge); // larger than the whole pool: left to the garbage collector
  assert.equal(pool.freeBytes, 1200);
  pool.untrack(small); // needs 200 bytes: `a`, freed first, goes
  assert.equal(pool.freeBytes, 1000);
  // The pool hands back the same memory (a new view of the freed buffer).
  assert.equal(pool.take(50).buffer, small.buffer);
  assert.equal(pool.take(100).buffer, c.buffer);
  assert.equal(pool.take(100).buffer, b.buffer);
  const allocatedBefore = pool.allocated;
  assert.notEqual(pool.take(100).buffer, a.buffer);
  assert.equal(pool.allocated, allocatedBefore + 1);
  assert.equal(pool.freeBytes, 0);
});
