import assert from "node:assert/strict";
import { centerCropBox, resizeRgb } from "../../lib/predict/resize.ts";
import { BLUE, pixelAt, RED } from "./_fixtures.ts";

Deno.test("centerCropBox() takes the largest centred square on whole pixels", () => {
  const cases: [number, number, number[]][] = [
    [64, 32, [16, 0, 32, 32]],
    [32, 64, [0, 16, 32, 32]],
    [50, 50, [0, 0, 50, 50]],
    [33, 30, [1, 0, 30, 30]], // odd leftover: 1 pixel left, 2 right
  ];
  for (const [w, h, expected] of cases) {
    const box = centerCropBox(w, h);
    assert.deepEqual([box.x, box.y, box.width, box.height], expected, `${w}×${h}`);
  }
});

Deno.test("resizeRgb() keeps a same-size image and averages when shrinking", () => {
  const pixels = new Uint8Array(5 * 4 * 3).map((_, i) => (i * 37) % 256);
  const same = resizeRgb({ width: 5, height: 4, pixels }, { width: 5, height: 4 });
  assert.deepEqual([...same.pixels], [...pixels]);
  // 64×32 red|blue squeezed to 32×32: output column 15 reads inputs 29–32 with triangle weights
  // 1/8, 3/8, 3/8, 1/8 — three red, one blue — so 7/8 red: round(0.875·255) = 223.
  const half = new Uint8Array(64 * 32 * 3);
  for (let i = 0; i < 64 * 32; i++) half.set(i % 64 < 32 ? RED : BLUE, i * 3);
  const out = resizeRgb({ width: 64, height: 32, pixels: half }, { width: 32, height: 32 });
  for (let y = 0; y < 32; y += 31) {
    assert.deepEqual(pixelAt(out.pixels, 0, y), RED);
    assert.deepEqual(pixelAt(out.pixels, 14, y), RED);
    assert.deepEqual(pixelAt(out.pixels, 15, y), [223, 0, 32]);
    assert.deepEqual(pixelAt(out.pixels, 16, y), [32, 0, 223]);
    assert.deepEqual(pixelAt(out.pixels, 17, y), BLUE);
    assert.deepEqual(pixelAt(out.pixels, 31, y), BLUE);
  }
  assert.throws(
    () => resizeRgb({ width: 2, height: 2, pixels: new Uint8Array(12) }, { width: 0, height: 1 }),
    {
      name: "RangeError",
      message: "Cannot resize image: expected a positive integer width, found 0",
    },
  );
  assert.throws(
    () =>
      resizeRgb({ width: 2, height: 2, pixels: new Uint8Array(12) }, {
        width: 1,
        height: 1,
        box: { x: 1, y: 0, width: 2, height: 2 },
      }),
    {
      name: "RangeError",
      message: "Cannot resize image: expected a box inside 2×2, found 2×2 at (1, 0)",
    },
  );
});
