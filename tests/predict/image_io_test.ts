import assert from "node:assert/strict";
import { createCanvas } from "@napi-rs/canvas";
import { withTempDir } from "../_util.ts";
import { decodeImage, expandImagePaths, readOwnImage } from "../../lib/predict/image_io.ts";
import { drawSample, SAMPLE_SPECS, sampleFileName } from "../../scripts/make_samples.ts";
import { BLUE, gradientImage, pixelAt, RED, twoColourImage } from "./_fixtures.ts";

Deno.test("readOwnImage() crops and stretches a half-red, half-blue PNG to the expected pixels", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/wide.png`, twoColourImage(64, 32, "png"));
    // Crop: columns 16–47 of the original, i.e. 16 red then 16 blue, at scale 1 (exact copy).
    const cropped = await readOwnImage(`${dir}/wide.png`, { fit: "crop" });
    assert.deepEqual(cropped.region, { x: 16, y: 0, width: 32, height: 32 });
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        assert.deepEqual(pixelAt(cropped.input, x, y), x < 16 ? RED : BLUE, `crop (${x}, ${y})`);
      }
    }
    // Stretch: the whole image at half width, a one-pixel blend on each side of the edge.
    const stretched = await readOwnImage(`${dir}/wide.png`);
    assert.equal(stretched.fit, "stretch");
    assert.deepEqual(stretched.region, { x: 0, y: 0, width: 64, height: 32 });
    assert.deepEqual(pixelAt(stretched.input, 15, 7), [223, 0, 32]);
    assert.deepEqual(pixelAt(stretched.input, 16, 7), [32, 0, 223]);
    // A tall image crops vertically: top half red becomes the top 16 rows of the crop.
    const tall = createCanvas(20, 60);
    const context = tall.getContext("2d");
    context.fillStyle = "#ff0000";
    context.fillRect(0, 0, 20, 30);
    context.fillStyle = "#0000ff";
    context.fillRect(0, 30, 20, 30);
    await Deno.writeFile(`${dir}/tall.png`, new Uint8Array(tall.toBuffer("image/png")));
    const tallCrop = await readOwnImage(`${dir}/tall.png`, { fit: "crop" });
    assert.deepEqual(tallCrop.region, { x: 0, y: 20, width: 20, height: 20 });
    assert.deepEqual(pixelAt(tallCrop.input, 5, 0), RED);
    assert.deepEqual(pixelAt(tallCrop.input, 5, 31), BLUE);
  });
});

Deno.test("readOwnImage() reads PNG and JPEG files of several sizes", async () => {
  await withTempDir(async (dir) => {
    const sizes = [[1, 1], [32, 32], [64, 48], [17, 93], [300, 200]];
    for (const [w, h] of sizes) {
      for (const format of ["png", "jpeg"] as const) {
        const file = `${dir}/image-${w}x${h}.${format === "png" ? "png" : "jpg"}`;
        await Deno.writeFile(file, gradientImage(w!, h!, format));
        for (const fit of ["stretch", "crop"] as const) {
          const image = await readOwnImage(file, { fit });
          assert.equal(image.file, file);
          assert.equal(image.format, format);
          assert.deepEqual([image.width, image.height], [w, h]);
          assert.equal(image.input.length, 32 * 32 * 3);
          const longest = Math.max(image.preview.width, image.preview.height);
          assert.equal(longest, Math.min(96, Math.max(w!, h!)), `${file} preview`);
        }
      }
    }
  });
});

Deno.test("decodeImage() puts transparent pixels over white and applies JPEG EXIF orientation", async () => {
  const canvas = createCanvas(4, 4);
  const context = canvas.getContext("2d");
  context.fillStyle = "rgba(255, 0, 0, 0.5)";
  context.fillRect(0, 0, 4, 4);
  const translucent = await decodeImage(new Uint8Array(canvas.toBuffer("image/png")));
  const [r, g, b] = [...translucent.pixels.subarray(0, 3)];
  assert.equal(r, 255);
  assert.ok(
    Math.abs(g! - 127.5) <= 1 && Math.abs(b! - 127.5) <= 1,
    `half red over white: ${g}, ${b}`,
  );
  // A 40×20 JPEG tagged "rotate 90° clockwise" (EXIF orientation 6) is 20×40 upright.
  const jpeg = twoColourImage(40, 20, "jpeg");
  const tiff = [
    0x4d,
    0x4d,
    0,
    0x2a,
    0,
    0,
    0,
    8,
    0,
    1,
    0x01,
    0x12,
    0,
    3,
    0,
    0,
    0,
    1,
    0,
    6,
    0,
    0,
    0,
    0,
    0,
    0,
  ];
  const payload = [...new TextEncoder().encode("Exif"), 0, 0, ...tiff];
  const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 255, ...payload];
  const rotated = await decodeImage(
    new Uint8Array([...jpeg.subarray(0, 2), ...app1, ...jpeg.subarray(2)]),
  );
  assert.deepEqual([rotated.width, rotated.height], [20, 40]);
});

// ---------------------------------------------------------------------------------------------
// The shipped samples.

Deno.test("samples/ holds every sample, decodable, as drawn by make_samples.ts, under 200 KB", async () => {
  const dir = new URL("../../samples/", import.meta.url).pathname;
  let total = 0;
  const formats = new Set<string>();
  const shapes = new Set<string>();
  for (const spec of SAMPLE_SPECS) {
    const file = `${dir}${sampleFileName(spec)}`;
    const bytes = await Deno.readFile(file);
    total += bytes.length;
    const image = await decodeImage(bytes, { name: file });
    assert.deepEqual([image.format, image.width, image.height], [
      spec.format,
      spec.width,
      spec.height,
    ]);
    formats.add(spec.format);
    shapes.add(spec.width === spec.height ? "square" : spec.width > spec.height ? "wide" : "tall");
    if (spec.format === "png") {
      // Lossless: redrawing gives the same pixels.
      const redrawn = await decodeImage(drawSample(spec));
      assert.ok(
        redrawn.pixels.every((v, i) => v === image.pixels[i]),
        `${file} differs when redrawn`,
      );
    }
  }
  assert.ok(total < 200_000, `samples take ${total} bytes`);
  assert.deepEqual([...formats].sort(), ["jpeg", "png"]);
  assert.deepEqual([...shapes].sort(), ["square", "tall", "wide"]);
  const listed = (await expandImagePaths([dir])).map((f) => f.slice(dir.length));
  assert.deepEqual(listed, SAMPLE_SPECS.map(sampleFileName).sort());
});
