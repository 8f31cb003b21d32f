/**
 * Fixtures of the predict tests (and the prediction chart's): images drawn with the canvas, PNGs
 * assembled by hand, a GIF and a BMP, tiny saved models and runs, and classified results.
 * @module
 */
import { deflateSync } from "node:zlib";
import { basename } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { createCanvas } from "@napi-rs/canvas";
import { makeConfig, type TrainConfig, writeJsonAtomic } from "../../lib/core/mod.ts";
import {
  buildModel,
  getWeights,
  type Model,
  saveCheckpoint,
  setWeights,
} from "../../lib/model/mod.ts";
import { RUN_CONFIG_FILE, RUN_RECORD_FILE } from "../../lib/runs/mod.ts";
import { type ImagePrediction, type ImageResult, topClasses } from "../../lib/predict/mod.ts";

await tf.setBackend("cpu");

/** The tiny network every test model uses. */
export const CONFIG: TrainConfig = makeConfig({ convChannels: [4], hiddenUnits: 8, seed: 5 });
/** Pure red, as RGB bytes. */
export const RED = [255, 0, 0];
/** Pure blue, as RGB bytes. */
export const BLUE = [0, 0, 255];

/** Encodes a canvas-drawn image: left part red, right part blue (split at `split` pixels). */
export function twoColourImage(
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
export function gradientImage(
  width: number,
  height: number,
  format: "png" | "jpeg" | "webp",
): Uint8Array {
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
export function handMadePng(
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
export const GIF_BYTES = Uint8Array.from(
  atob("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="),
  (c) => c.charCodeAt(0),
);
export function bmpBytes(): Uint8Array {
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
export function constantModel(bias: number[]): Model {
  const model = buildModel(CONFIG);
  const weights = getWeights(model);
  for (const w of Object.values(weights)) w.values.fill(0);
  weights["fc2.bias"]!.values.set(bias);
  setWeights(model, weights);
  return model;
}

/** Softmax of `logits`, in double precision (the reference the model is checked against). */
export function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/**
 * Writes a run record (`metrics.json`) as `deno task train` starts one: an id, a status, the
 * config and the start time, plus `fields` (which may override any of them).
 */
export async function writeRunRecord(
  runDir: string,
  config: TrainConfig,
  fields: Record<string, unknown> = {},
): Promise<void> {
  await writeJsonAtomic(`${runDir}/${RUN_RECORD_FILE}`, {
    format: "cifar10-run",
    id: basename(runDir),
    status: "completed",
    config,
    startedAt: "2026-01-01T00:00:00.000Z",
    ...fields,
  });
}

/**
 * Saves a tiny model as `<runsDir>/<name>/best-model` with config.json and a run record
 * (`writeRunRecord`: started at `startedAt`, with `metrics` merged in), as a training run leaves
 * its folder.
 */
export async function saveRun(
  runsDir: string,
  name: string,
  options: {
    bias?: number[];
    metrics?: Record<string, unknown>;
    synthetic?: boolean;
    startedAt?: string;
  } = {},
): Promise<string> {
  const config = makeConfig({ ...CONFIG, synthetic: options.synthetic ?? false });
  const model = options.bias ? constantModel(options.bias) : buildModel(config);
  const runDir = `${runsDir}/${name}`;
  await saveCheckpoint(model, `${runDir}/best-model`, {
    config,
    metadata: { epoch: 4, validLoss: 1.5 },
  });
  await writeJsonAtomic(`${runDir}/${RUN_CONFIG_FILE}`, config);
  await writeRunRecord(runDir, config, {
    ...(options.startedAt === undefined ? {} : { startedAt: options.startedAt }),
    ...options.metrics,
  });
  model.dispose();
  return runDir;
}

/** The RGB bytes at (`x`, `y`) of a 32×32 network input. */
export function pixelAt(input: Uint8Array, x: number, y: number): number[] {
  const i = (y * 32 + x) * 3;
  return [input[i]!, input[i + 1]!, input[i + 2]!];
}

/** A classified 64×48 PNG, cropped, with the given probabilities (no file behind it). */
export function fakePrediction(file: string, probabilities: number[]): ImagePrediction {
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

/** One classified image and one failed file, for the reports and the chart. */
export const REPORT_RESULTS: ImageResult[] = [
  fakePrediction("samples/plane.png", [0.625, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.125]),
  { ok: false, file: "x.gif", error: new TypeError('Cannot read image "x.gif": a GIF') },
];
