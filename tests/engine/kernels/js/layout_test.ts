import assert from "node:assert/strict";
import {
  dilateInto,
  permuteInto,
  transposeInto,
} from "../../../../lib/engine/kernels/js/layout.ts";

Deno.test("permuteInto() transposes, crops and reverses a 4-D array", () => {
  const src = Float32Array.from({ length: 24 }, (_, i) => i); // shape [2, 3, 2, 2]
  const out = new Float32Array(24);
  permuteInto(src, out, { shape: [2, 3, 2, 2], perm: [3, 1, 2, 0] });
  // out[d, h, w, b] = src[b, h, w, d]
  assert.deepEqual([...out.subarray(0, 4)], [0, 12, 2, 14]);
  assert.equal(out[1 * 12 + 2 * 4 + 1 * 2 + 1], src[1 * 12 + 2 * 4 + 1 * 2 + 1]);
  const cropped = new Float32Array(8);
  permuteInto(src, cropped, { shape: [2, 3, 2, 2], perm: [0, 1, 2, 3], extent: [1, 2, 2, 2] });
  assert.deepEqual([...cropped], [0, 1, 2, 3, 4, 5, 6, 7]);
  const flipped = new Float32Array(24);
  permuteInto(src, flipped, {
    shape: [2, 3, 2, 2],
    perm: [0, 1, 3, 2],
    reverse: [false, true, true, false],
  });
  // flipped[b, h, d, w] = src[b, 2 - h, 1 - w, d]
  assert.equal(flipped[0], src[0 * 12 + 2 * 4 + 1 * 2 + 0]);
  assert.equal(flipped[1], src[0 * 12 + 2 * 4 + 0 * 2 + 0]);
  assert.equal(flipped[2], src[0 * 12 + 2 * 4 + 1 * 2 + 1]);
});

Deno.test("transposeInto() transposes a matrix larger than a tile, at offsets", () => {
  const rows = 37;
  const cols = 70;
  const src = Float32Array.from({ length: 5 + rows * cols }, (_, i) => i - 5);
  const out = new Float32Array(3 + rows * cols);
  transposeInto(src, out, { rows, cols, srcOffset: 5, dstOffset: 3 });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) assert.equal(out[3 + c * rows + r], r * cols + c);
  }
});

Deno.test("dilateInto() spreads values onto a strided grid", () => {
  const out = new Float32Array(1 * 3 * 5 * 1);
  dilateInto(Float32Array.from([1, 2, 3, 4, 5, 6]), out, {
    shape: [1, 2, 3, 1],
    strideHeight: 2,
    strideWidth: 2,
  });
  assert.deepEqual([...out], [1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 4, 0, 5, 0, 6]);
});
