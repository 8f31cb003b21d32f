import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { deflateSync } from "node:zlib";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { createCanvas } from "@napi-rs/canvas";
import { saveCheckpoint } from "../../lib/model/checkpoint.ts";
import { writeJsonAtomic } from "../../lib/core/fs.ts";
import { makeConfig } from "../../lib/core/config.ts";
import { CIFAR10_CLASSES } from "../../lib/data/load.ts";
import { buildModel, getWeights, type Model, setWeights } from "../../lib/model/model.ts";
import {
  centerCropBox,
  classifyImages,
  decodeImage,
  describeRun,
  expandImagePaths,
  formatPredictionTable,
  type ImagePrediction,
  type ImageResult,
  loadRun,
  MAX_IMAGE_PIXELS,
  predictionChart,
  predictionRows,
  predictionsToJson,
  readOwnImage,
  resizeRgb,
  resolveRun,
  topClasses,
} from "../../lib/predict/classify.ts";
import { checkImageBytes, sniffImageFormat } from "../../lib/predict/image_file.ts";
import { main, parsePredictArgs, type PredictIo } from "../../scripts/predict.ts";
import { drawSample, SAMPLE_SPECS, sampleFileName } from "../../scripts/make_samples.ts";

await tf.setBackend("cpu");

const CONFIG = makeConfig({ convChannels: [4], hiddenUnits: 8, seed: 5 });
const RED = [255, 0, 0];
const BLUE = [0, 0, 255];

// ---------------------------------------------------------------------------------------------
// Fixtures: images drawn with the canvas, PNGs assembled by hand, a tiny saved model.

/** Encodes a canvas-drawn image: left part red, right part blue (split at `split` pixels). */
function twoColourImage(
  width: number,
  height: number,
  format: "png" | "jpeg",
  split = width / 2,
): Uint8Array {
  const canvas = createCanvas(width, height);
  const context = canvas.getContext("2d");
  context.fillStyle = "#ff0000";
  context.fillRect(0, 0, split, height);
  context.fillStyle = "#0000ff";
  context.fillRect(split, 0, width - split, height);
  return new Uint8Array(
    format === "png" ? canvas.toBuffer("image/png") : canvas.toBuffer("image/jpeg", 90),
  );
}

/** A gradient picture (so a JPEG has plenty of image data). */
function gradientImage(width: number, height: number, format: "png" | "jpeg" | "webp"): Uint8Array {
  const canvas = createCanvas(width, height);
  const context = canvas.getContext("2d");
  const gradient = context.createLinearGradient(0, 0, width, height);
  gradient.addColorStop(0, "#123456");
  gradient.addColorStop(0.5, "#f0c020");
  gradient.addColorStop(1, "#20a060");
  context.fillStyle = gradient;
  context.fillRect(0, 0, width, height);
  context.fillStyle = "#ffffff";
  context.beginPath();
  context.arc(width / 3, height / 2, Math.min(width, height) / 4, 0, 2 * Math.PI);
  context.fill();
  const mime = format === "png" ? "image/png" : format === "jpeg" ? "image/jpeg" : "image/webp";
  return new Uint8Array(canvas.toBuffer(mime as "image/png"));
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * A PNG assembled by hand (8-bit RGB, filter 0 on every row), so byte offsets are known:
 * the IHDR chunk at byte 8, the IDAT chunk at byte 33.
 */
function handMadePng(
  width: number,
  height: number,
  pixel: (x: number, y: number) => number[],
  declared = { width, height },
): { bytes: Uint8Array; idatLength: number } {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, declared.width);
  view.setUint32(4, declared.height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = new Uint8Array(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), y * (1 + 3 * width) + 1 + 3 * x);
  }
  const idat = new Uint8Array(deflateSync(raw));
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array(0)),
  ];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return { bytes, idatLength: idat.length };
}

/** A 1×1 GIF and a 1×1 BMP, the smallest of their kinds. */
const GIF_BYTES = Uint8Array.from(
  atob("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="),
  (c) => c.charCodeAt(0),
);
function bmpBytes(): Uint8Array {
  const bmp = new Uint8Array(58);
  const view = new DataView(bmp.buffer);
  bmp.set([0x42, 0x4d]);
  view.setUint32(2, 58, true);
  view.setUint32(10, 54, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, 1, true);
  view.setInt32(22, 1, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 24, true);
  return bmp;
}

/** A model whose logits are `bias` whatever the image (all weights zero). */
function constantModel(bias: number[]): Model {
  const model = buildModel(CONFIG);
  const weights = getWeights(model);
  for (const w of Object.values(weights)) w.values.fill(0);
  weights["fc2.bias"]!.values.set(bias);
  setWeights(model, weights);
  return model;
}

function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Saves a tiny model as `<runsDir>/<name>/best-model` with config.json (and metrics.json). */
async function saveRun(
  runsDir: string,
  name: string,
  options: { bias?: number[]; metrics?: Record<string, unknown>; synthetic?: boolean } = {},
): Promise<string> {
  const config = makeConfig({ ...CONFIG, synthetic: options.synthetic ?? false });
  const model = options.bias ? constantModel(options.bias) : buildModel(config);
  const runDir = `${runsDir}/${name}`;
  await saveCheckpoint(model, `${runDir}/best-model`, {
    config,
    metadata: { epoch: 4, validLoss: 1.5 },
  });
  await writeJsonAtomic(`${runDir}/config.json`, config);
  if (options.metrics) await writeJsonAtomic(`${runDir}/metrics.json`, options.metrics);
  model.dispose();
  return runDir;
}

function pixelAt(input: Uint8Array, x: number, y: number): number[] {
  const i = (y * 32 + x) * 3;
  return [input[i]!, input[i + 1]!, input[i + 2]!];
}

// ---------------------------------------------------------------------------------------------
// Geometry.

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
// Bad input.

Deno.test("checkImageBytes() names the format it finds", () => {
  const webp = gradientImage(8, 8, "webp");
  const cases: [string, Uint8Array, string | null][] = [
    ["gif", GIF_BYTES, "GIF"],
    ["bmp", bmpBytes(), "BMP"],
    ["webp", webp, "WebP"],
    ["svg", new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'), "SVG"],
    ["pdf", new TextEncoder().encode("%PDF-1.4 ..."), "PDF"],
    ["text", new TextEncoder().encode("just text"), null],
  ];
  for (const [name, bytes, expected] of cases) {
    assert.equal(sniffImageFormat(bytes), expected, name);
  }
  const png = handMadePng(3, 2, () => RED);
  assert.deepEqual(checkImageBytes(png.bytes), { format: "png", width: 3, height: 2 });
  const jpeg = checkImageBytes(twoColourImage(40, 20, "jpeg"));
  assert.deepEqual(jpeg, { format: "jpeg", width: 40, height: 20 });
});

Deno.test("classifyImages() reports each bad file with its reason and still classifies the others", async () => {
  await withTempDir(async (dir) => {
    const png = handMadePng(40, 30, (x) => (x < 20 ? RED : BLUE));
    const idatAt = 33;
    const jpeg = gradientImage(200, 150, "jpeg");
    const corrupt = png.bytes.slice();
    corrupt[idatAt + 8 + 2]! ^= 0xff; // a byte inside the compressed pixels
    const files: [string, Uint8Array | null][] = [
      ["good.png", png.bytes],
      ["missing.png", null],
      ["notes.png", new TextEncoder().encode("hello, I am not an image\n")],
      ["anim.gif", GIF_BYTES],
      ["photo.webp", gradientImage(8, 8, "webp")],
      ["old.bmp", bmpBytes()],
      ["renamed.jpg", GIF_BYTES], // the content decides, not the name
      ["empty.png", new Uint8Array(0)],
      ["cut.png", png.bytes.subarray(0, idatAt + 13)],
      ["no-end.png", png.bytes.subarray(0, png.bytes.length - 12)],
      ["crc.png", corrupt],
      ["cut.jpg", jpeg.subarray(0, 3000)],
      ["huge.png", handMadePng(2, 2, () => RED, { width: 10000, height: 10000 }).bytes],
      ["good.jpg", jpeg],
    ];
    for (const [name, bytes] of files) if (bytes) await Deno.writeFile(`${dir}/${name}`, bytes);
    await Deno.mkdir(`${dir}/folder.png`);
    const paths = [...files.map(([name]) => `${dir}/${name}`), `${dir}/folder.png`];
    const model = buildModel(CONFIG);
    const results = await classifyImages(model, paths, { config: CONFIG });
    model.dispose();
    const expected: Record<string, [string, string] | null> = {
      "good.png": null,
      "missing.png": ["NotFound", "no such file"],
      "notes.png": [
        "TypeError",
        'expected a PNG or JPEG image, found text starting "hello, I am …"',
      ],
      "anim.gif": ["TypeError", "expected a PNG or JPEG image, found a GIF image"],
      "photo.webp": ["TypeError", "expected a PNG or JPEG image, found a WebP image"],
      "old.bmp": ["TypeError", "expected a PNG or JPEG image, found a BMP image"],
      "renamed.jpg": ["TypeError", "expected a PNG or JPEG image, found a GIF image"],
      "empty.png": ["TypeError", "expected a PNG or JPEG image, found an empty file"],
      "cut.png": [
        "SyntaxError",
        `truncated PNG: chunk IDAT at byte 33 needs ${png.idatLength + 12} bytes, only 13 remain`,
      ],
      "no-end.png": [
        "SyntaxError",
        `truncated PNG: the file ends at byte ${png.bytes.length - 12} before the IEND chunk`,
      ],
      "crc.png": ["SyntaxError", "corrupt PNG: chunk IDAT at byte 33 fails its CRC check"],
      "cut.jpg": [
        "SyntaxError",
        "truncated JPEG: the file ends at byte 3000 inside the image data",
      ],
      "huge.png": [
        "RangeError",
        `expected at most ${
          MAX_IMAGE_PIXELS.toLocaleString("en-US")
        } pixels, found 10000×10000; scale it down first`,
      ],
      "good.jpg": null,
      "folder.png": ["TypeError", "expected a PNG or JPEG file, found a folder"],
    };
    assert.equal(results.length, paths.length);
    for (const [i, result] of results.entries()) {
      const name = paths[i]!.slice(dir.length + 1);
      assert.equal(result.file, paths[i]);
      const want = expected[name];
      if (want === undefined) throw new Error(`no expectation for ${name}`);
      if (want === null) {
        assert.ok(result.ok, `${name}: ${result.ok ? "" : result.error.message}`);
        continue;
      }
      assert.ok(!result.ok, `${name} was classified`);
      assert.equal(result.error.name, want[0], name);
      assert.equal(result.error.message, `Cannot read image "${paths[i]}": ${want[1]}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Classification.

Deno.test("classifyImages() gives softmax probabilities and the top classes in order", async () => {
  await withTempDir(async (dir) => {
    const bias = [0.5, 3, 1, 0, 2, 0, 0, 0, 2.5, 0];
    const model = constantModel(bias);
    const files = [`${dir}/a.png`, `${dir}/b.jpg`];
    await Deno.writeFile(files[0]!, gradientImage(50, 20, "png"));
    await Deno.writeFile(files[1]!, gradientImage(20, 50, "jpeg"));
    const before = tf.memory().numTensors;
    const results = await classifyImages(model, files, { config: CONFIG, top: 4, batchSize: 1 });
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
    const expected = softmax(bias);
    for (const result of results) {
      assert.ok(result.ok);
      assert.equal(result.probabilities.length, 10);
      const sum = result.probabilities.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-6, `sum ${sum}`);
      result.probabilities.forEach((p, i) => assert.ok(Math.abs(p - expected[i]!) < 1e-6));
      assert.deepEqual(result.top.map((c) => c.name), ["automobile", "ship", "deer", "bird"]);
      assert.deepEqual(result.top.map((c) => c.index), [1, 8, 4, 2]);
      assert.equal(result.top[0]!.probability, result.probabilities[1]);
    }
  });
});

Deno.test("classifyImages() normalises like the test set: (x / 255 − 0.5) / 0.5, no augmentation", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/a.png`;
    await Deno.writeFile(file, gradientImage(70, 40, "png"));
    const model = buildModel(CONFIG);
    const [result] = await classifyImages(model, [file], { config: CONFIG, top: 10 });
    assert.ok(result!.ok);
    const image = await readOwnImage(file);
    // The reference: normalise by hand, forward with dropout off, softmax.
    const reference = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(image.input, (v) => (v / 255 - 0.5) / 0.5), [
        1,
        32,
        32,
        3,
      ]);
      return tf.softmax(model.forward(x, { training: false })).dataSync();
    });
    model.dispose();
    result!.probabilities.forEach((p, i) => {
      assert.ok(Math.abs(p - reference[i]!) < 1e-6, `class ${i}: ${p} vs ${reference[i]}`);
    });
    // Every class is listed once, most probable first.
    const top = result!.top.map((c) => c.probability);
    assert.deepEqual(top, [...result!.probabilities].sort((a, b) => b - a));
  });
});

Deno.test("topClasses() orders by probability, then by label, and checks k", () => {
  const top = topClasses([0.2, 0.3, 0.2, 0.3], { k: 3, classNames: ["a", "b", "c", "d"] });
  assert.deepEqual(top, [
    { index: 1, name: "b", probability: 0.3 },
    { index: 3, name: "d", probability: 0.3 },
    { index: 0, name: "a", probability: 0.2 },
  ]);
  assert.equal(topClasses([0.5, 0.5], { k: 5 }).length, 2);
  assert.equal(topClasses(new Float32Array(10).fill(0.1))[0]!.name, CIFAR10_CLASSES[0]);
  assert.throws(() => topClasses([1], { k: 0 }), {
    name: "RangeError",
    message: "Cannot pick top classes: expected k ≥ 1 (an integer), found 0",
  });
});

// ---------------------------------------------------------------------------------------------
// Choosing a run.

Deno.test("resolveRun() finds the latest run, a run folder or a checkpoint folder", async () => {
  await withTempDir(async (dir) => {
    const runs = `${dir}/runs`;
    await t_noRun(runs);
    const older = await saveRun(runs, "20260101-000000-aaaaaa");
    const newer = await saveRun(runs, "20260102-000000-bbbbbb");
    await Deno.mkdir(`${runs}/20260103-000000-cccccc`); // started, no checkpoint yet
    await Deno.mkdir(`${runs}/20260104-000000-dddddd.tmp-1234/best-model`, { recursive: true });
    await Deno.writeTextFile(`${runs}/20260104-000000-dddddd.tmp-1234/best-model/model.json`, "{}");
    // "latest" is the checkpoint saved last, whatever the folder's name.
    await Deno.utime(`${older}/best-model/model.json`, new Date(2026, 0, 5), new Date(2026, 0, 5));
    await Deno.utime(`${newer}/best-model/model.json`, new Date(2026, 0, 3), new Date(2026, 0, 3));
    assert.deepEqual(await resolveRun("latest", { outDir: runs }), {
      runDir: older,
      checkpointDir: `${older}/best-model`,
    });
    await Deno.utime(`${newer}/best-model/model.json`, new Date(2026, 0, 6), new Date(2026, 0, 6));
    assert.equal((await resolveRun("latest", { outDir: runs })).runDir, newer);
    // A checkpoint folder directly under runs/ (the training notebook's) counts too.
    const model = buildModel(CONFIG);
    await saveCheckpoint(model, `${runs}/notebook`, { config: CONFIG });
    model.dispose();
    assert.deepEqual(await resolveRun("latest", { outDir: runs }), {
      runDir: null,
      checkpointDir: `${runs}/notebook`,
    });
    // Paths.
    assert.deepEqual(await resolveRun(older), {
      runDir: older,
      checkpointDir: `${older}/best-model`,
    });
    assert.deepEqual(await resolveRun(`${older}/best-model/`), {
      runDir: older,
      checkpointDir: `${older}/best-model`,
    });
    await assert.rejects(() => resolveRun(`${dir}/nowhere`), {
      name: "NotFound",
      message: `Cannot use run "${dir}/nowhere": no such folder`,
    });
    await assert.rejects(() => resolveRun(`${runs}/20260103-000000-cccccc`), {
      name: "TypeError",
      message: `Cannot use run "${runs}/20260103-000000-cccccc": expected a run folder (with ` +
        "best-model/model.json) or a checkpoint folder (with model.json), found a folder without either",
    });
    await assert.rejects(() => resolveRun(`${older}/config.json`), {
      name: "TypeError",
      message: `Cannot use run "${older}/config.json": expected a run folder (with ` +
        "best-model/model.json) or a checkpoint folder (with model.json), found a file",
    });
  });
});

async function t_noRun(runs: string): Promise<void> {
  // No runs folder at all, then an empty one: the same helpful error.
  for (const make of [false, true]) {
    if (make) await Deno.mkdir(runs, { recursive: true });
    await assert.rejects(() => resolveRun("latest", { outDir: runs }), {
      name: "NotFound",
      message: `No trained model found under ${runs}/: train one with \`deno task train\` or ` +
        "pass --run PATH",
    });
  }
}

Deno.test("loadRun() loads the model with the run's class names and facts", async () => {
  await withTempDir(async (dir) => {
    const runDir = await saveRun(dir, "20260101-000000-aaaaaa", {
      synthetic: true,
      metrics: {
        status: "completed",
        data: { synthetic: true, classNames: [...CIFAR10_CLASSES] },
        test: { accuracy: 0.4321 },
      },
    });
    const run = await loadRun("latest", { outDir: dir });
    try {
      assert.equal(run.runDir, runDir);
      assert.equal(run.synthetic, true);
      assert.equal(run.epoch, 4);
      assert.equal(run.validLoss, 1.5);
      assert.equal(run.testAccuracy, 0.4321);
      assert.equal(run.status, "completed");
      assert.deepEqual(run.classNames, [...CIFAR10_CLASSES]);
      assert.deepEqual(run.checkpoint.config.convChannels, [4]);
      assert.equal(
        describeRun(run),
        `Model: ${runDir}/best-model (epoch 4, validation loss 1.5000, test accuracy 43.2%) — ` +
          "trained on SYNTHETIC data, not CIFAR-10: its answers say nothing about real images",
      );
    } finally {
      run.model.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Reports: table, JSON, chart.

function fakePrediction(file: string, probabilities: number[]): ImagePrediction {
  const p = Float32Array.from(probabilities);
  return {
    ok: true,
    file,
    image: {
      file,
      format: "png",
      width: 64,
      height: 48,
      fit: "crop",
      region: { x: 8, y: 0, width: 48, height: 48 },
      input: new Uint8Array(3072).fill(200),
      preview: { width: 64, height: 48, pixels: new Uint8Array(64 * 48 * 3).fill(90) },
    },
    probabilities: p,
    top: topClasses(p),
  };
}

const REPORT_RESULTS: ImageResult[] = [
  fakePrediction("samples/plane.png", [0.625, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.125]),
  { ok: false, file: "x.gif", error: new TypeError('Cannot read image "x.gif": a GIF') },
];

Deno.test("formatPredictionTable() and predictionRows() list each file's top classes or error", () => {
  assert.equal(
    formatPredictionTable(REPORT_RESULTS),
    [
      "file               size   fit   1st             2nd         3rd",
      "-----------------  -----  ----  --------------  ----------  -----------",
      "samples/plane.png  64×48  crop  airplane 62.5%  ship 25.0%  truck 12.5%",
      'x.gif              error: Cannot read image "x.gif": a GIF',
    ].join("\n"),
  );
  assert.deepEqual(predictionRows(REPORT_RESULTS, { names: "base" })[0], {
    file: "plane.png",
    size: "64×48",
    fit: "crop",
    "1st": "airplane 62.5%",
    "2nd": "ship 25.0%",
    "3rd": "truck 12.5%",
  });
});

Deno.test("predictionsToJson() gives every class's probability, or the error", () => {
  const json = predictionsToJson(REPORT_RESULTS);
  assert.deepEqual(json[0], {
    file: "samples/plane.png",
    ok: true,
    format: "png",
    width: 64,
    height: 48,
    fit: "crop",
    region: { x: 8, y: 0, width: 48, height: 48 },
    top: [
      { class: "airplane", index: 0, probability: 0.625 },
      { class: "ship", index: 8, probability: 0.25 },
      { class: "truck", index: 9, probability: 0.125 },
    ],
    probabilities: Object.fromEntries(
      CIFAR10_CLASSES.map((c, i) => [c, [0.625, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.125][i]]),
    ),
  });
  assert.deepEqual(json[1], {
    file: "x.gif",
    ok: false,
    error: { name: "TypeError", message: 'Cannot read image "x.gif": a GIF' },
  });
});

Deno.test("predictionChart() draws a row per image with its input and bars, and error rows", () => {
  const chart = predictionChart(REPORT_RESULTS, { caption: "Model: test" });
  // margin 8; two 96-px squares + gaps; label 84 + bar 180 + value 52; rows 112 and 56.
  assert.equal(chart.width, 8 + 2 * (96 + 8) + 84 + 180 + 52 + 8);
  assert.equal(chart.height, 8 + 22 + 22 + 112 + 56 + 8);
  const context = chart.getContext("2d");
  // The network-input square (pixels all 200) at x 112–207, row top at y 8 + 44 + 8.
  assert.deepEqual([...context.getImageData(150, 100, 1, 1).data], [200, 200, 200, 255]);
  // The top bar (orange, 62.5% of 180 px) starts at x 216 + 84 and ends near x 412.
  const barY = 8 + 44 + 8 + 38 + 7;
  assert.deepEqual([...context.getImageData(305, barY, 1, 1).data], [0xf5, 0x85, 0x18, 255]);
  assert.deepEqual([...context.getImageData(300 + 115, barY, 1, 1).data], [0xee, 0xee, 0xee, 255]);
});

// ---------------------------------------------------------------------------------------------
// The command line.

Deno.test("parsePredictArgs() splits files from flags and names bad flags", () => {
  const parsed = parsePredictArgs(
    [
      "a.png",
      "--run",
      "runs/x",
      "--fit=crop",
      "b.jpg",
      "--top",
      "5",
      "--json",
      "--out",
      "o",
      "--",
      "--c.png",
    ],
    { CIFAR10_BACKEND: "cpu", CIFAR10_EPOCHS: "not read" },
  );
  assert.deepEqual(parsed.files, ["a.png", "b.jpg", "--c.png"]);
  assert.deepEqual(
    [parsed.run, parsed.fit, parsed.top, parsed.json, parsed.config.outDir, parsed.config.backend],
    ["runs/x", "crop", 5, true, "o", "cpu"],
  );
  const defaults = parsePredictArgs(["a.png"], {});
  assert.deepEqual([defaults.run, defaults.fit, defaults.top, defaults.json], [
    "latest",
    "stretch",
    3,
    false,
  ]);
  const cases: [string[], string][] = [
    [["--fit", "square"], 'Cannot parse --fit: expected stretch or crop, found "square"'],
    [["--top", "0"], 'Cannot parse --top: expected an integer from 1 to 10, found "0"'],
    [["--top", "2.5"], 'Cannot parse --top: expected an integer from 1 to 10, found "2.5"'],
    [
      ["--epochs", "3"],
      "Cannot use flag --epochs with predict: expected one of --run, --fit, --top, --json, --out, --backend, --help",
    ],
    [["--run"], "Cannot parse --run: expected a value after it, found nothing"],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parsePredictArgs(args, {}),
      { name: "RangeError", message },
      args.join(" "),
    );
  }
  assert.throws(() => parsePredictArgs(["--colour", "a.png"], {}), {
    name: "RangeError",
    message: /^Cannot use flag --colour: unknown flag; allowed flags: .*--fit/,
  });
});

function fakeIo(): PredictIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, print: (l) => void out.push(l), error: (l) => void err.push(l), env: {} };
}

Deno.test("predict CLI main(): table, JSON, per-file errors and exit codes", async () => {
  await withTempDir(async (dir) => {
    const runs = `${dir}/runs`;
    const bias = [0.5, 3, 1, 0, 2, 0, 0, 0, 2.5, 0];
    const runDir = await saveRun(runs, "20260101-000000-aaaaaa", { bias });
    await Deno.mkdir(`${dir}/pictures`);
    await Deno.writeFile(`${dir}/pictures/a.png`, gradientImage(64, 48, "png"));
    await Deno.writeFile(`${dir}/pictures/b.jpg`, gradientImage(30, 30, "jpeg"));
    const p = softmax(bias).map((v) => `${(100 * v).toFixed(1)}%`);
    const base = ["--out", runs, "--backend", "cpu"];

    // All good: exit 0, the model line then the table; a folder stands for its images.
    let io = fakeIo();
    assert.equal(await main([...base, `${dir}/pictures`], io), 0);
    assert.equal(io.out[0], `Model: ${runDir}/best-model (epoch 4, validation loss 1.5000)`);
    const table = io.out[1]!.split("\n");
    assert.equal(table.length, 4);
    assert.match(
      table[2]!,
      new RegExp(
        `^${dir}/pictures/a\\.png +64×48 +stretch +automobile ${p[1]} +ship ${p[8]} +deer ${p[4]}$`,
      ),
    );
    assert.match(table[3]!, /\/pictures\/b\.jpg +30×30 +stretch +automobile/);

    // One bad file: the others still classified, an error line naming it, exit 1.
    io = fakeIo();
    assert.equal(
      await main([...base, "--fit", "crop", `${dir}/pictures/a.png`, `${dir}/nope.png`], io),
      1,
    );
    assert.match(io.out[1]!.split("\n")[2]!, /a\.png +64×48 +crop +automobile/);
    assert.deepEqual(io.err.slice(-2), [
      `predict: Cannot read image "${dir}/nope.png": no such file`,
      "predict: 1 of 2 files could not be classified",
    ]);

    // JSON: every file, in order, with all probabilities.
    io = fakeIo();
    assert.equal(
      await main([...base, "--json", "--top", "2", `${dir}/pictures/b.jpg`, `${dir}/nope.png`], io),
      1,
    );
    const json = JSON.parse(io.out.join("\n"));
    assert.equal(json.run.checkpointDir, `${runDir}/best-model`);
    assert.deepEqual(json.results[0].top.map((c: { class: string }) => c.class), [
      "automobile",
      "ship",
    ]);
    const sum = Object.values(json.results[0].probabilities as Record<string, number>)
      .reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6);
    assert.deepEqual(json.results[1], {
      file: `${dir}/nope.png`,
      ok: false,
      error: { name: "NotFound", message: `Cannot read image "${dir}/nope.png": no such file` },
    });

    // No model, no files, bad flag.
    io = fakeIo();
    assert.equal(await main(["--out", `${dir}/empty`, "--backend", "cpu", "a.png"], io), 1);
    assert.equal(
      io.err.at(-1),
      `predict: No trained model found under ${dir}/empty/: train one with \`deno task train\` or pass --run PATH`,
    );
    io = fakeIo();
    assert.equal(await main([...base], io), 2);
    assert.equal(
      io.err[0],
      "predict: no image files given: expected one or more PNG or JPEG paths",
    );
    io = fakeIo();
    assert.equal(await main(["--fit", "square", "a.png"], io), 2);
    assert.equal(
      io.err[0],
      'predict: Cannot parse --fit: expected stretch or crop, found "square"',
    );
    io = fakeIo();
    assert.equal(await main(["--help"], io), 0);
    assert.match(io.out[0]!, /^Usage: deno task predict/);
  });
});

Deno.test("deno task predict runs end to end: JSON on stdout, errors on stderr, exit 1", async () => {
  await withTempDir(async (dir) => {
    await saveRun(`${dir}/runs`, "20260101-000000-aaaaaa");
    await Deno.writeFile(`${dir}/a.png`, gradientImage(40, 40, "png"));
    await Deno.writeTextFile(`${dir}/b.png`, "not a picture");
    const script = new URL("../../scripts/predict.ts", import.meta.url).pathname;
    const run = async (...args: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...args],
        env: { CIFAR10_OUT_DIR: `${dir}/runs`, CIFAR10_BACKEND: "cpu" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
    };
    const mixed = await run("--json", `${dir}/a.png`, `${dir}/b.png`);
    assert.equal(mixed.code, 1, mixed.stderr);
    const json = JSON.parse(mixed.stdout);
    assert.deepEqual(json.results.map((r: { ok: boolean }) => r.ok), [true, false]);
    assert.match(
      mixed.stderr,
      new RegExp(
        `predict: Cannot read image "${dir}/b\\.png": expected a PNG or JPEG image, found text starting "not a pictur…"`,
      ),
    );
    const good = await run(`${dir}/a.png`);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^Model: .*\nfile +size +fit +1st +2nd +3rd\n/);
    const bad = await run("--colour", "red", `${dir}/a.png`);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /predict: Cannot use flag --colour: unknown flag/);
  });
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

// ---------------------------------------------------------------------------------------------
// notebooks/your_images.ipynb, executed headless in the project's Deno kernel.

async function executeYourImages(runsDir: string, outDir: string) {
  const { ensureDenoKernel, executeNotebook, findJupyter, PROJECT_ROOT } = await import(
    "../../scripts/_jupyter.ts"
  );
  const kernel = await ensureDenoKernel(PROJECT_ROOT);
  const jupyter = await findJupyter();
  if (jupyter === null) throw new Error("Jupyter is not installed");
  const output = `${outDir}/your_images.ipynb`;
  const result = await executeNotebook(`${PROJECT_ROOT}/notebooks/your_images.ipynb`, output, {
    cwd: `${PROJECT_ROOT}/notebooks`,
    env: { ...kernel.env, CIFAR10_OUT_DIR: runsDir, CIFAR10_BACKEND: "cpu", NO_COLOR: "1" },
    python: jupyter.python,
    cellTimeoutS: 300,
  });
  const notebook = JSON.parse(await Deno.readTextFile(output)) as {
    cells: { id: string; outputs?: { output_type: string; data?: Record<string, unknown> }[] }[];
  };
  const outputs = new Map(notebook.cells.map((c) => [c.id, c.outputs ?? []]));
  const mimes = (id: string) => (outputs.get(id) ?? []).flatMap((o) => Object.keys(o.data ?? {}));
  const text = (id: string) =>
    (outputs.get(id) ?? []).map((o) => JSON.stringify(o.data ?? o)).join("\n");
  return { result, mimes, text };
}

const jupyterReady = await (async () => {
  try {
    const { findJupyter } = await import("../../scripts/_jupyter.ts");
    return (await findJupyter()) !== null;
  } catch {
    return false;
  }
})();
if (!jupyterReady) console.warn("SKIPPED your_images.ipynb tests: Jupyter is not installed");

Deno.test({
  name: "notebooks/your_images.ipynb classifies the samples with a run's model, headless",
  ignore: !jupyterReady,
  fn: async () => {
    await withTempDir(async (dir) => {
      await saveRun(`${dir}/runs`, "20260101-000000-abcdef");
      const { result, mimes, text } = await executeYourImages(`${dir}/runs`, dir);
      assert.equal(result.error, null, JSON.stringify(result.error));
      assert.ok(result.ok);
      // The stretch and crop charts are pictures; the table names the samples with top classes.
      assert.ok(mimes("your-images-09").includes("image/png"), "stretch chart");
      assert.ok(mimes("your-images-12").includes("image/png"), "crop chart");
      assert.match(text("your-images-10"), /ship-32x32/);
      assert.doesNotMatch(text("your-images-09"), /Skipped/);
      // A missing file and a non-image among good ones: the chart still comes out.
      assert.ok(mimes("your-images-14").includes("image/png"), "mixed-input chart");
    });
  },
});

Deno.test({
  name: "notebooks/your_images.ipynb without any trained run says how to train one",
  ignore: !jupyterReady,
  fn: async () => {
    await withTempDir(async (dir) => {
      const { result, text } = await executeYourImages(`${dir}/no-runs`, dir);
      assert.ok(result.ok, JSON.stringify(result.error));
      assert.match(text("your-images-03"), /deno task train/);
      assert.match(text("your-images-09"), /Skipped: no trained model/);
    });
  },
});
