import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { withTempDir } from "../_util.ts";
import { CIFAR10_CLASSES } from "../../lib/data/mod.ts";
import { buildModel } from "../../lib/model/mod.ts";
import { classifyImages } from "../../lib/predict/classify.ts";
import { MAX_IMAGE_PIXELS } from "../../lib/predict/image_format.ts";
import { readOwnImage } from "../../lib/predict/image_io.ts";
import { topClasses } from "../../lib/predict/scores.ts";
import {
  BLUE,
  bmpBytes,
  CONFIG,
  constantModel,
  GIF_BYTES,
  gradientImage,
  handMadePng,
  RED,
  softmax,
} from "./_fixtures.ts";

// ---------------------------------------------------------------------------------------------
// Bad input.

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
