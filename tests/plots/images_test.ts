import assert from "node:assert/strict";
import { type Canvas, createCanvas } from "@napi-rs/canvas";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { batchToTensor } from "../../lib/augment/augment.ts";
import { makeConfig } from "../../lib/core/config.ts";
import {
  canvasToPng,
  CAPTION_HEIGHT,
  CELL_PADDING,
  gridLayout,
  imageGrid,
  overlaySaliency,
  RIGHT_COLOR,
  tensorToPixels,
  TITLE_HEIGHT,
  WRONG_COLOR,
} from "../../lib/plots/images.ts";
import { createRng } from "../../lib/core/random.ts";

const IMAGE_BYTES = 3072;

function randomPixels(count: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  return Uint8Array.from({ length: count * IMAGE_BYTES }, () => rng.int(256));
}

function rgbaAt(
  canvas: Canvas,
  x: number,
  y: number,
  width: number,
  height: number,
): Uint8ClampedArray {
  return canvas.getContext("2d").getImageData(x, y, width, height).data;
}

/**
 * Counts the pixels of the square drawn at `at` that differ from image `n` of `pixels` scaled by
 * `scale` (nearest neighbour), or are not opaque.
 */
function wrongPixels(
  canvas: Canvas,
  at: { x: number; y: number },
  pixels: Uint8Array,
  n: number,
  scale: number,
): number {
  const data = rgbaAt(canvas, at.x, at.y, 32 * scale, 32 * scale);
  let wrong = 0;
  for (let row = 0; row < 32 * scale; row++) {
    for (let col = 0; col < 32 * scale; col++) {
      const source = n * IMAGE_BYTES + (Math.floor(row / scale) * 32 + Math.floor(col / scale)) * 3;
      const to = (row * 32 * scale + col) * 4;
      if (
        data[to] !== pixels[source] || data[to + 1] !== pixels[source + 1] ||
        data[to + 2] !== pixels[source + 2] || data[to + 3] !== 255
      ) wrong++;
    }
  }
  return wrong;
}

Deno.test("gridLayout() sizes the grid from count, columns and scale", () => {
  const titles = (n: number) => Array(n).fill("a");
  for (
    const [count, columns, scale, expectedColumns, rows] of [
      [20, undefined, undefined, 10, 2],
      [7, 3, 2, 3, 3],
      [1, undefined, 1, 1, 1],
      [5, 8, 4, 5, 1],
    ] as const
  ) {
    const layout = gridLayout(count, { titles: titles(count), columns, scale });
    const side = 32 * (scale ?? 3);
    assert.equal(layout.imageSide, side);
    assert.equal(layout.columns, columns ?? Math.min(count, 10));
    assert.equal(layout.rows, rows);
    assert.equal(layout.cellWidth, side + 2 * CELL_PADDING);
    assert.equal(layout.cellHeight, side + TITLE_HEIGHT + 2 * CELL_PADDING);
    assert.equal(layout.width, expectedColumns * (side + 2 * CELL_PADDING));
    assert.equal(layout.height, rows * (side + TITLE_HEIGHT + 2 * CELL_PADDING));
  }
  // The tutorial's figure: 20 images at 3× → 10 × 104 by 2 × 120 pixels; a caption adds a line.
  assert.deepEqual(
    [gridLayout(20, { titles: titles(20) }).width, gridLayout(20, { titles: titles(20) }).height],
    [1040, 240],
  );
  assert.equal(gridLayout(20, { titles: titles(20), caption: "x" }).height, 240 + CAPTION_HEIGHT);
});

Deno.test("gridLayout() widens cells to fit long titles", () => {
  const long = "automobile (automobile) automobile";
  const layout = gridLayout(2, { titles: [long, "a"], scale: 1 });
  assert.ok(layout.cellWidth > 32 + 2 * CELL_PADDING, `cell ${layout.cellWidth}`);
  assert.equal(layout.width, 2 * layout.cellWidth);
  // Images stay centred in their cells.
  assert.equal(layout.images[1]!.x - layout.images[0]!.x, layout.cellWidth);
  assert.ok(Math.abs(layout.images[0]!.x + 16 - layout.cellWidth / 2) <= 1);
});

Deno.test("imageGrid() copies every pixel exactly into its scaled square", () => {
  const count = 5;
  const pixels = randomPixels(count, 1);
  for (
    const [scale, titlePosition, caption] of [[3, "above", undefined], [
      2,
      "below",
      "CAPTION",
    ]] as const
  ) {
    const options = {
      titles: ["a", "b", "c", "d", "e"],
      columns: 2,
      scale,
      titlePosition,
      caption,
    };
    const canvas = imageGrid(pixels, options);
    const layout = gridLayout(count, options);
    assert.equal(canvas.width, layout.width);
    assert.equal(canvas.height, layout.height);
    for (let n = 0; n < count; n++) {
      const wrong = wrongPixels(canvas, layout.images[n]!, pixels, n, scale);
      assert.equal(wrong, 0, `scale ${scale}, image ${n}: ${wrong} pixels differ`);
    }
    // Outside the images, the bottom-right empty cell (5 images in 3 rows of 2) stays white.
    const empty = rgbaAt(
      canvas,
      layout.cellWidth,
      layout.height - layout.cellHeight,
      layout.cellWidth,
      layout.cellHeight,
    );
    assert.ok(empty.every((v) => v === 255));
  }
});

/**
 * Counts the pixels of a rectangle drawn in `colour` on white: anti-aliased text blends the colour
 * with the background, so a pixel counts when it is close to white − α·(white − colour) for some
 * α ≥ 0.3, and closer to that line than to the line of any other candidate colour.
 */
function countColour(
  data: Uint8ClampedArray,
  colour: [number, number, number],
  candidates: [number, number, number][],
): number {
  const residual = (p: number[], c: number[]): [number, number] => {
    const d = c.map((v) => 255 - v), q = p.map((v) => 255 - v);
    const alpha = Math.min(
      1,
      Math.max(
        0,
        (d[0]! * q[0]! + d[1]! * q[1]! + d[2]! * q[2]!) / (d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2),
      ),
    );
    return [Math.hypot(...q.map((v, i) => v - alpha * d[i]!)), alpha];
  };
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    const p = [data[i]!, data[i + 1]!, data[i + 2]!];
    const [own, alpha] = residual(p, colour);
    if (alpha < 0.3 || own > 30) continue;
    if (candidates.every((c) => c === colour || residual(p, c)[0] > own)) count++;
  }
  return count;
}

Deno.test("imageGrid() draws each title in its own colour", () => {
  const options = {
    titles: ["cat (cat)", "dog (cat)", "frog (frog)"],
    titleColors: [RIGHT_COLOR, WRONG_COLOR, "#0000ff"],
  };
  const canvas = imageGrid(randomPixels(3, 2), options);
  const layout = gridLayout(3, options);
  const colours: [number, number, number][] = [[0, 128, 0], [255, 0, 0], [0, 0, 255]];
  layout.titles.forEach(({ y }, n) => {
    const band = rgbaAt(
      canvas,
      n * layout.cellWidth,
      y - TITLE_HEIGHT / 2,
      layout.cellWidth,
      TITLE_HEIGHT,
    );
    colours.forEach((colour, m) => {
      const found = countColour(band, colour, colours);
      if (m === n) assert.ok(found >= 10, `title ${n}: only ${found} pixels of its colour`);
      else assert.equal(found, 0, `title ${n} has pixels of colour ${m}`);
    });
  });
  // Without colours titles are black; a caption line is drawn above the cells.
  const plain = imageGrid(randomPixels(1, 3), {
    titles: ["cat"],
    caption: "SYNTHETIC DATA — not CIFAR-10",
  });
  const plainLayout = gridLayout(1, { titles: ["cat"], caption: "SYNTHETIC DATA — not CIFAR-10" });
  const title = plainLayout.titles[0]!;
  const black: [number, number, number] = [0, 0, 0];
  assert.ok(countColour(rgbaAt(plain, 0, title.y - 8, plain.width, 16), black, [black]) >= 10);
  assert.ok(countColour(rgbaAt(plain, 0, 0, plain.width, CAPTION_HEIGHT), black, [black]) >= 50);
  const noCaption = imageGrid(randomPixels(1, 3), { titles: ["cat"] });
  assert.equal(noCaption.height, plain.height - CAPTION_HEIGHT);
});

Deno.test("imageGrid() rejects pixel arrays and titles that do not match", () => {
  assert.throws(() => imageGrid(new Uint8Array(IMAGE_BYTES + 1), { titles: ["a"] }), {
    name: "RangeError",
    message:
      "Cannot draw an image grid: expected images to be a Uint8Array of N × 3072 bytes (N ≥ 1), found 3073 bytes",
  });
  assert.throws(() => imageGrid(new Uint8Array(0), { titles: [] }), {
    name: "RangeError",
    message:
      "Cannot draw an image grid: expected images to be a Uint8Array of N × 3072 bytes (N ≥ 1), found 0 bytes",
  });
  assert.throws(() => imageGrid(new Uint8Array(2 * IMAGE_BYTES), { titles: ["a"] }), {
    name: "RangeError",
    message:
      "Cannot draw an image grid: expected options.titles to hold 2 titles (one per image), found 1",
  });
  assert.throws(
    () => imageGrid(new Uint8Array(2 * IMAGE_BYTES), { titles: ["a", "b"], titleColors: ["red"] }),
    {
      name: "RangeError",
      message:
        "Cannot draw an image grid: expected options.titleColors to hold 2 colours (one per image), found 1",
    },
  );
  assert.throws(() => imageGrid(new Uint8Array(IMAGE_BYTES), { titles: ["a"], scale: 1.5 }), {
    name: "RangeError",
    message:
      "Cannot lay out an image grid: expected options.scale to be an integer in [1, 64], found 1.5",
  });
  assert.throws(() => imageGrid(new Uint8Array(IMAGE_BYTES), { titles: ["a"], columns: 0 }), {
    name: "RangeError",
    message: "Cannot lay out an image grid: expected options.columns to be an integer ≥ 1, found 0",
  });
});

Deno.test("canvasToPng() returns PNG bytes that decode to the same size", () => {
  const canvas = imageGrid(randomPixels(2, 4), { titles: ["a", "b"] });
  const png = canvasToPng(canvas);
  assert.ok(png instanceof Uint8Array);
  assert.deepEqual(Array.from(png.subarray(0, 8)), [
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
  ]);
  // IHDR width and height, big-endian at bytes 16..23.
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [canvas.width, canvas.height]);
  // What the Deno Jupyter kernel calls to show a canvas as image/png.
  assert.ok(canvas.toDataURL().startsWith("data:image/png;base64,iVBORw0KGgo"));
  assert.deepEqual(Array.from(canvasToPng(createCanvas(2, 2)).subarray(1, 4)), [0x50, 0x4e, 0x47]);
});

Deno.test("tensorToPixels() inverts batchToTensor's normalisation exactly", async () => {
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const pixels = randomPixels(3, 5);
  for (const [mean, std] of [[0.5, 0.5], [0.4914, 0.247]]) {
    const config = makeConfig({ normalizeMean: mean, normalizeStd: std });
    const x = batchToTensor(pixels, 3, { augment: false, config });
    assert.deepEqual(await tensorToPixels(x, { mean, std }), pixels);
    x.dispose();
  }
  // Out-of-range values clip to [0, 255].
  const y = tf.tensor1d([-2, -1, 1, 2]);
  assert.deepEqual(Array.from(await tensorToPixels(y)), [0, 0, 255, 255]);
  y.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

Deno.test("imageGrid() draws an augmented batch as a normal grid", async () => {
  await tf.setBackend("cpu");
  const count = 4;
  const pixels = randomPixels(count, 6);
  const x = batchToTensor(pixels, count, {
    augment: true,
    rng: createRng(1),
    config: makeConfig(),
  });
  const augmented = await tensorToPixels(x);
  x.dispose();
  // The batch was augmented (flipped or rotated), so a grid of the plain pixels would differ.
  assert.equal(augmented.length, pixels.length);
  assert.notDeepEqual(augmented, pixels);
  const options = { titles: ["plane", "car", "bird", "cat"], caption: "Augmented batch" };
  const canvas = imageGrid(augmented, options);
  // The same layout as the plain batch's grid: 4 cells of 96 + 2 · padding, a caption line.
  const layout = gridLayout(count, options);
  const plain = imageGrid(pixels, options);
  assert.deepEqual([canvas.width, canvas.height], [layout.width, layout.height]);
  assert.deepEqual([canvas.width, canvas.height], [plain.width, plain.height]);
  assert.equal(canvas.width, 4 * (96 + 2 * CELL_PADDING));
  // Every cell shows its augmented image, scaled 3×, pixel for pixel; not the plain one.
  let plainMatches = 0;
  for (let n = 0; n < count; n++) {
    const wrong = wrongPixels(canvas, layout.images[n]!, augmented, n, 3);
    assert.equal(wrong, 0, `image ${n}: ${wrong} pixels differ from the augmented image`);
    if (wrongPixels(canvas, layout.images[n]!, pixels, n, 3) === 0) plainMatches++;
  }
  assert.ok(plainMatches < count, "every cell shows the plain image, not the augmented one");
  // The titles and the caption are drawn, in black.
  const black: [number, number, number] = [0, 0, 0];
  layout.titles.forEach(({ y }, n) => {
    const band = rgbaAt(
      canvas,
      n * layout.cellWidth,
      y - TITLE_HEIGHT / 2,
      layout.cellWidth,
      TITLE_HEIGHT,
    );
    const found = countColour(band, black, [black]);
    assert.ok(found >= 10, `title ${n}: only ${found} dark pixels`);
  });
  const caption = countColour(rgbaAt(canvas, 0, 0, canvas.width, CAPTION_HEIGHT), black, [black]);
  assert.ok(caption >= 50, `caption: only ${caption} dark pixels`);
});

Deno.test("imageGrid() draws small RGB patches and grey maps at any size", () => {
  // Two 3×3 RGB filters at scale 10, and two 4×4 grey maps at scale 5.
  const filters = Uint8Array.from({ length: 2 * 27 }, (_, i) => (i * 37) % 256);
  const rgb = imageGrid(filters, { titles: ["a", "b"], size: 3, scale: 10 });
  const layout = gridLayout(2, { titles: ["a", "b"], size: 3, scale: 10 });
  assert.equal(layout.imageSide, 30);
  for (const [n, { x, y }] of layout.images.entries()) {
    for (const [row, col] of [[0, 0], [1, 2], [2, 1]] as const) {
      const from = n * 27 + (row * 3 + col) * 3;
      const pixel = rgbaAt(rgb, x + col * 10 + 5, y + row * 10 + 5, 1, 1);
      assert.deepEqual([...pixel], [filters[from]!, filters[from + 1]!, filters[from + 2]!, 255]);
    }
  }
  const maps = Uint8Array.from({ length: 2 * 16 }, (_, i) => i * 8);
  const grey = imageGrid(maps, { titles: ["c1", "c2"], size: 4, scale: 5, channels: 1 });
  const greyLayout = gridLayout(2, { titles: ["c1", "c2"], size: 4, scale: 5 });
  const { x, y } = greyLayout.images[1]!;
  const value = maps[16 + 2 * 4 + 3]!; // map 1, row 2, column 3
  assert.deepEqual([...rgbaAt(grey, x + 3 * 5 + 2, y + 2 * 5 + 2, 1, 1)], [
    value,
    value,
    value,
    255,
  ]);
  assert.throws(
    () => imageGrid(new Uint8Array(20), { titles: ["x"], size: 4, channels: 1 }),
    { message: /expected images to be a Uint8Array of N × 16 bytes \(N ≥ 1\), found 20 bytes/ },
  );
});

Deno.test("overlaySaliency() turns the most salient pixels red and leaves the rest", () => {
  const images = new Uint8Array(2 * 3072).fill(80), maps = new Uint8Array(2 * 1024);
  maps[5] = 255;
  maps[1024 + 7] = 128;
  const out = overlaySaliency(images, maps, 0.5);
  assert.deepEqual([...out.subarray(15, 18)], [168, 40, 40]); // half-way to red
  assert.deepEqual([...out.subarray(0, 3)], [80, 80, 80]); // not salient: unchanged
  const weight = (128 / 255) * 0.5;
  const at = (1024 + 7) * 3;
  assert.deepEqual([...out.subarray(at, at + 3)], [
    Math.round(80 * (1 - weight) + 255 * weight),
    Math.round(80 * (1 - weight)),
    Math.round(80 * (1 - weight)),
  ]);
  assert.throws(() => overlaySaliency(images, new Uint8Array(10)), RangeError);
  assert.throws(() => overlaySaliency(images, maps, 2), /expected alpha in \[0, 1\], found 2/);
});
