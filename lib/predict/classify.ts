/**
 * Your own images: the tutorial's last suggestion ("try your own images") as library calls. Reads
 * PNG or JPEG files of any size, brings each to the 32×32 the network expects, classifies them with
 * a trained run's best model and reports each image's top classes with their softmax
 * probabilities, as a chart (a canvas the notebook shows), a terminal table or JSON.
 *
 * Pipeline of one file:
 * 1. Read the bytes; check by content (not by extension) that they are a whole PNG or JPEG
 *    (`checkImageBytes`: a truncated file is an error, not a half-grey picture).
 * 2. Decode with Skia (`@napi-rs/canvas`), which applies a JPEG's EXIF orientation, and draw it
 *    over white, so transparent parts of a PNG become white rather than black.
 * 3. Resize to 32×32 like Pillow's `resize(..., BILINEAR)` — what torchvision's
 *    `transforms.Resize` does to a PIL image: a triangle filter widened by the scale factor, so a
 *    large photo is averaged, not sampled. `fit: "stretch"` (default) squeezes the whole picture
 *    into the square; `fit: "crop"` first takes the largest centred square (`centerCropBox`),
 *    keeping proportions but losing the sides.
 * 4. Normalise exactly like the test set (`predict` from lib/evaluate/evaluate.ts: `batchToTensor` with
 *    `augment: false`), forward with dropout off, softmax.
 *
 * A file that cannot be used fails alone: `classifyImages` returns an error for it (naming the
 * file and the reason) and still classifies the others.
 * @module
 */
import { type Canvas, createCanvas, loadImage, type SKRSContext2D } from "@napi-rs/canvas";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Checkpoint, loadModel } from "../model/checkpoint.ts";
import type { TrainConfig } from "../core/config.ts";
import { CIFAR10_CLASSES } from "../data/load.ts";
import { predict } from "../evaluate/evaluate.ts";
import type { Model } from "../model/model.ts";
import { checkImageBytes, type SupportedFormat } from "./image_file.ts";

export type { SupportedFormat } from "./image_file.ts";

/** Side of the network's input in pixels (mirrors `IMAGE_SIZE` in lib/data/load.ts). */
const INPUT_SIZE = 32;

/** How an image is brought to a square: squeeze it whole, or cut the centred square out of it. */
export const FIT_MODES = ["stretch", "crop"] as const;
/** A fit mode. */
export type FitMode = typeof FIT_MODES[number];

/** Largest image accepted, in pixels (width × height): decoding needs 4 bytes per pixel. */
export const MAX_IMAGE_PIXELS = 40_000_000;

/** Longest side of the preview kept with each image (for charts). */
export const PREVIEW_SIZE = 96;

/** Name of the checkpoint folder inside a run folder (as `deno task train` writes it). */
export const RUN_CHECKPOINT_FOLDER = "best-model";

/** File extensions `listImageFiles` picks up. */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([".png", ".jpg", ".jpeg"]);

/** An RGB picture: `height` rows of `width` pixels, R, G, B bytes interleaved. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width × height × 3` bytes. */
  pixels: Uint8Array;
}

/** A decoded file. */
export interface DecodedImage extends RgbImage {
  /** The file's format. */
  format: SupportedFormat;
}

/** A rectangle of an image, in pixels (may be fractional for `resizeRgb`). */
export interface Box {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  width: number;
  /** Height. */
  height: number;
}

/** One of your images, ready for the network. */
export interface OwnImage {
  /** The path it was read from, as given. */
  file: string;
  /** Its format. */
  format: SupportedFormat;
  /** Its width in pixels (after EXIF orientation). */
  width: number;
  /** Its height in pixels. */
  height: number;
  /** How it was fitted into the square. */
  fit: FitMode;
  /** The part of the image the network sees (the whole image when stretched). */
  region: Box;
  /** The network's input: 32 × 32 × 3 bytes, NHWC, like a CIFAR-10 image. */
  input: Uint8Array;
  /** The whole image scaled down to at most `PREVIEW_SIZE` on its longest side. */
  preview: RgbImage;
}

/** A class and its probability. */
export interface ClassScore {
  /** Class index (the label). */
  index: number;
  /** Class name. */
  name: string;
  /** Softmax probability, in [0, 1]. */
  probability: number;
}

/** A classified image. */
export interface ImagePrediction {
  /** Always true. */
  ok: true;
  /** The path, as given. */
  file: string;
  /** The image as the network saw it. */
  image: OwnImage;
  /** Softmax probabilities of every class, in label order (they sum to 1). */
  probabilities: Float32Array;
  /** The most probable classes, most probable first. */
  top: ClassScore[];
}

/** A file that could not be classified. */
export interface ImageFailure {
  /** Always false. */
  ok: false;
  /** The path, as given. */
  file: string;
  /** Why: its message names the file and the reason. */
  error: Error;
}

/** What `classifyImages` returns for each file. */
export type ImageResult = ImagePrediction | ImageFailure;

/** Options of `readOwnImage` and `toModelInput`. */
export interface ReadImageOptions {
  /** Squeeze the whole image (`"stretch"`) or take its centred square (`"crop"`). @default "stretch" */
  fit?: FitMode;
}

/** Options of `classifyImages`. */
export interface ClassifyOptions extends ReadImageOptions {
  /** The run's config (normalisation is read from it). */
  config: TrainConfig;
  /** Classes to report per image. @default 3 */
  top?: number;
  /** Class names in label order. @default CIFAR10_CLASSES */
  classNames?: readonly string[];
  /** Images per forward pass. @default 64 */
  batchSize?: number;
}

/** Where a run's best model is. */
export interface RunLocation {
  /** The run folder (config.json, metrics.json), or null for a bare checkpoint folder. */
  runDir: string | null;
  /** The checkpoint folder (model.json + weights.bin). */
  checkpointDir: string;
}

/** A run's best model, loaded. */
export interface LoadedRun extends RunLocation {
  /** The model (call `model.dispose()` when done). */
  model: Model;
  /** The checkpoint it came from (config, metadata). */
  checkpoint: Checkpoint;
  /** Class names in label order (from the run's metrics, else CIFAR-10's). */
  classNames: string[];
  /** True when the model was trained on the synthetic data set, not CIFAR-10. */
  synthetic: boolean;
  /** Epoch of the saved model, when recorded. */
  epoch: number | null;
  /** Its validation loss, when recorded. */
  validLoss: number | null;
  /** Test accuracy of the run's best model, when the run got that far. */
  testAccuracy: number | null;
  /** The run's status from metrics.json (`"running"`, `"completed"`, …), when known. */
  status: string | null;
}

/** Options of `resolveRun` and `loadRun`. */
export interface RunOptions {
  /** Where run folders live, for `"latest"`. @default "runs" (relative to the working folder) */
  outDir?: string;
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Resolves a path against the project root (the folder above `lib/`), whatever the working folder
 * is — notebooks run in `notebooks/`, scripts in the root. Absolute paths come back unchanged.
 *
 * @param path A path such as `"samples"` or `config.outDir`.
 * @returns An absolute path.
 * @example
 * ```ts
 * import { projectPath } from "./classify.ts";
 * if (!projectPath("samples").endsWith("/samples") || projectPath("/tmp") !== "/tmp") throw new Error();
 * ```
 */
export function projectPath(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

/**
 * The project's folder of sample images (drawn by `scripts/make_samples.ts`).
 *
 * @returns An absolute path.
 * @example
 * ```ts
 * import { defaultSamplesDir } from "./classify.ts";
 * if (!defaultSamplesDir().endsWith("samples")) throw new Error(defaultSamplesDir());
 * ```
 */
export function defaultSamplesDir(): string {
  return projectPath("samples");
}

/**
 * The largest centred square of an image (the `"crop"` fit). Odd leftovers go to the right or
 * bottom, so the box stays on whole pixels.
 *
 * @param width Image width.
 * @param height Image height.
 * @returns The square.
 * @example
 * ```ts
 * import { centerCropBox } from "./classify.ts";
 * const box = centerCropBox(64, 32);
 * if (box.x !== 16 || box.y !== 0 || box.width !== 32 || box.height !== 32) throw new Error();
 * ```
 */
export function centerCropBox(width: number, height: number): Box {
  const side = Math.min(width, height);
  return {
    x: Math.floor((width - side) / 2),
    y: Math.floor((height - side) / 2),
    width: side,
    height: side,
  };
}

/** Pillow's bilinear (triangle) filter. */
function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

interface Coefficients {
  /** First input index used by each output index. */
  starts: Int32Array;
  /** Weights of each output index, normalised to sum 1. */
  weights: Float64Array[];
}

/** Pillow's `precompute_coeffs` for the bilinear filter over `[from, to)` of an axis. */
function coefficients(inSize: number, outSize: number, from: number, to: number): Coefficients {
  const scale = (to - from) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1, widened when shrinking
  const starts = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = from + (i + 0.5) * scale;
    const min = Math.max(0, Math.trunc(center - support + 0.5));
    const max = Math.min(inSize, Math.trunc(center + support + 0.5));
    const w = new Float64Array(Math.max(0, max - min));
    let sum = 0;
    for (let j = 0; j < w.length; j++) {
      w[j] = triangle((j + min - center + 0.5) / filterScale);
      sum += w[j]!;
    }
    if (sum !== 0) { for (let j = 0; j < w.length; j++) w[j]! /= sum; }
    starts[i] = min;
    weights.push(w);
  }
  return { starts, weights };
}

/**
 * Resizes (a region of) an RGB image like Pillow's `Image.resize(size, BILINEAR, box)`: separable,
 * with a triangle filter that widens with the shrink factor (so shrinking averages every pixel,
 * as torchvision's `Resize` does to PIL images). Values match Pillow's within 1 (Pillow rounds
 * between the two passes).
 *
 * @param image The source.
 * @param options Output `width` and `height`, and the source `box` to read (default: all of it).
 * @returns The resized image.
 * @throws {RangeError} When a size is not a positive integer or the box leaves the image.
 * @example
 * ```ts
 * import { resizeRgb } from "./classify.ts";
 * // 4×1 red, red, blue, blue → 2×1. Output 0 is centred on input 1 and weighs inputs 0, 1, 2 by
 * // 0.75, 0.75, 0.25 (triangle twice as wide when halving): red 1.5/1.75 → 219, blue 0.25/1.75 → 36.
 * const image = { width: 4, height: 1, pixels: Uint8Array.of(255,0,0, 255,0,0, 0,0,255, 0,0,255) };
 * const out = resizeRgb(image, { width: 2, height: 1 });
 * if (out.pixels.join() !== "219,0,36,36,0,219") throw new Error(out.pixels.join());
 * ```
 */
export function resizeRgb(
  image: RgbImage,
  options: { width: number; height: number; box?: Box },
): RgbImage {
  const { width, height } = options;
  const box = options.box ?? { x: 0, y: 0, width: image.width, height: image.height };
  for (const [name, value] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `Cannot resize image: expected a positive integer ${name}, found ${value}`,
      );
    }
  }
  if (
    !(box.width > 0 && box.height > 0 && box.x >= 0 && box.y >= 0 &&
      box.x + box.width <= image.width && box.y + box.height <= image.height)
  ) {
    throw new RangeError(
      `Cannot resize image: expected a box inside ${image.width}×${image.height}, found ` +
        `${box.width}×${box.height} at (${box.x}, ${box.y})`,
    );
  }
  const horizontal = coefficients(image.width, width, box.x, box.x + box.width);
  const vertical = coefficients(image.height, height, box.y, box.y + box.height);
  // 1. Horizontal pass, only over the rows the vertical pass reads.
  const firstRow = vertical.starts[0]!;
  const lastRow = vertical.starts[height - 1]! + vertical.weights[height - 1]!.length;
  const rows = lastRow - firstRow;
  const middle = new Float32Array(rows * width * 3);
  const source = image.pixels;
  for (let r = 0; r < rows; r++) {
    const rowOffset = (firstRow + r) * image.width * 3;
    for (let x = 0; x < width; x++) {
      const w = horizontal.weights[x]!;
      let p = rowOffset + horizontal.starts[x]! * 3;
      let red = 0, green = 0, blue = 0;
      for (let j = 0; j < w.length; j++, p += 3) {
        red += w[j]! * source[p]!;
        green += w[j]! * source[p + 1]!;
        blue += w[j]! * source[p + 2]!;
      }
      const o = (r * width + x) * 3;
      middle[o] = red;
      middle[o + 1] = green;
      middle[o + 2] = blue;
    }
  }
  // 2. Vertical pass, rounding once at the end.
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const w = vertical.weights[y]!;
    const start = vertical.starts[y]! - firstRow;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let j = 0; j < w.length; j++) {
          sum += w[j]! * middle[((start + j) * width + x) * 3 + c]!;
        }
        pixels[(y * width + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return { width, height, pixels };
}

/**
 * Brings an image to the network's 32×32 input.
 *
 * @param image The decoded image.
 * @param options `fit`: `"stretch"` (default) resizes the whole image; `"crop"` resizes its
 *   centred square.
 * @returns The 32 × 32 × 3 bytes and the region used.
 * @example
 * ```ts
 * import { toModelInput } from "./classify.ts";
 * const grey = { width: 100, height: 50, pixels: new Uint8Array(100 * 50 * 3).fill(128) };
 * const { input, region } = toModelInput(grey, { fit: "crop" });
 * if (input.length !== 3072 || input.some((v) => v !== 128) || region.x !== 25) throw new Error();
 * ```
 */
export function toModelInput(
  image: RgbImage,
  options: ReadImageOptions = {},
): { input: Uint8Array; region: Box } {
  const fit = options.fit ?? "stretch";
  if (!FIT_MODES.includes(fit)) {
    throw new RangeError(
      `Cannot fit image: expected fit ${FIT_MODES.join(" or ")}, found "${fit}"`,
    );
  }
  const region = fit === "crop"
    ? centerCropBox(image.width, image.height)
    : { x: 0, y: 0, width: image.width, height: image.height };
  const { pixels } = resizeRgb(image, { width: INPUT_SIZE, height: INPUT_SIZE, box: region });
  return { input: pixels, region };
}

/**
 * Decodes a PNG or JPEG file's bytes to RGB pixels (transparent parts over white, EXIF
 * orientation applied).
 *
 * @param bytes The file's content.
 * @param options `name`: how to name the file in errors. @default "image"
 * @returns The pixels and the format.
 * @throws {TypeError} When the bytes are no PNG or JPEG (empty, not an image, another format).
 * @throws {SyntaxError} When the file is truncated or corrupt, or Skia cannot decode it.
 * @throws {RangeError} When it has more than `MAX_IMAGE_PIXELS` pixels.
 * @example
 * ```ts
 * import { decodeImage } from "./classify.ts";
 * const error = await decodeImage(new TextEncoder().encode("hello"), { name: "notes.png" }).catch((e) => e);
 * if (error.message !== 'Cannot read image "notes.png": expected a PNG or JPEG image, found text starting "hello"') {
 *   throw new Error(error.message);
 * }
 * ```
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: { name?: string } = {},
): Promise<DecodedImage> {
  const prefix = `Cannot read image "${options.name ?? "image"}"`;
  let header;
  try {
    header = checkImageBytes(bytes);
  } catch (error) {
    const ErrorClass = error instanceof TypeError ? TypeError : SyntaxError;
    throw new ErrorClass(`${prefix}: ${(error as Error).message}`);
  }
  if (header.width === 0 || header.height === 0) {
    throw new SyntaxError(
      `${prefix}: corrupt ${header.format.toUpperCase()}: size ${header.width}×${header.height}`,
    );
  }
  if (header.width * header.height > MAX_IMAGE_PIXELS) {
    throw new RangeError(
      `${prefix}: expected at most ${MAX_IMAGE_PIXELS.toLocaleString("en-US")} pixels, found ` +
        `${header.width}×${header.height}; scale it down first`,
    );
  }
  let decoded;
  try {
    // Bytes, never a string: a string source would be read as a path, a URL or SVG markup.
    decoded = await loadImage(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SyntaxError(
      `${prefix}: the ${header.format.toUpperCase()} decoder failed (${reason})`,
    );
  }
  const { width, height } = decoded;
  const canvas = createCanvas(width, height);
  const context = canvas.getContext("2d");
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  context.drawImage(decoded, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < pixels.length; i += 4, o += 3) {
    pixels[o] = rgba[i]!;
    pixels[o + 1] = rgba[i + 1]!;
    pixels[o + 2] = rgba[i + 2]!;
  }
  return { width, height, pixels, format: header.format };
}

/**
 * Reads one image file and prepares it for the network.
 *
 * @param file Path of a PNG or JPEG file.
 * @param options `fit`: `"stretch"` (default) or `"crop"`.
 * @returns The network's input, the region used, a preview and the facts about the file.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {TypeError} When it is a folder, no image, or another format than PNG or JPEG.
 * @throws {SyntaxError} When it is truncated or corrupt.
 * @throws {RangeError} When it is too large.
 * @example
 * ```ts
 * import { readOwnImage } from "./classify.ts";
 * const error = await readOwnImage("no-such-file.png").catch((e) => e);
 * if (!(error instanceof Deno.errors.NotFound)) throw error;
 * if (error.message !== 'Cannot read image "no-such-file.png": no such file') throw new Error(error.message);
 * ```
 */
export async function readOwnImage(
  file: string,
  options: ReadImageOptions = {},
): Promise<OwnImage> {
  const prefix = `Cannot read image "${file}"`;
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(file);
    if (info.isDirectory) {
      throw new TypeError(`${prefix}: expected a PNG or JPEG file, found a folder`);
    }
    bytes = await Deno.readFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${prefix}: no such file`);
    }
    if (error instanceof TypeError) throw error;
    throw new Error(`${prefix}: ${(error as Error).message}`, { cause: error });
  }
  const image = await decodeImage(bytes, { name: file });
  const fit = options.fit ?? "stretch";
  const { input, region } = toModelInput(image, { fit });
  const shrink = Math.min(1, PREVIEW_SIZE / Math.max(image.width, image.height));
  const preview = shrink < 1
    ? resizeRgb(image, {
      width: Math.max(1, Math.round(image.width * shrink)),
      height: Math.max(1, Math.round(image.height * shrink)),
    })
    : { width: image.width, height: image.height, pixels: image.pixels };
  return {
    file,
    format: image.format,
    width: image.width,
    height: image.height,
    fit,
    region,
    input,
    preview,
  };
}

/**
 * The image files (`.png`, `.jpg`, `.jpeg`, any case) directly inside a folder, sorted by name.
 *
 * @param dir The folder.
 * @returns Their paths (`dir/name`).
 * @example
 * ```ts
 * import { listImageFiles } from "./classify.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/b.JPG`, "");
 * await Deno.writeTextFile(`${dir}/a.png`, "");
 * await Deno.writeTextFile(`${dir}/notes.txt`, "");
 * const files = (await listImageFiles(dir)).map((f) => f.slice(dir.length + 1));
 * if (files.join() !== "a.png,b.JPG") throw new Error(files.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const lower = entry.name.toLowerCase();
    if (entry.isFile && IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext))) names.push(entry.name);
  }
  return names.sort().map((name) => `${dir.replace(/\/+$/, "")}/${name}`);
}

/**
 * Replaces each folder among `paths` by the image files directly inside it (`listImageFiles`);
 * files, missing paths and folders without images stay as they are (reading them reports why).
 *
 * @param paths Files and folders, e.g. command-line arguments.
 * @returns The paths with folders expanded, in order.
 * @example
 * ```ts
 * import { expandImagePaths } from "./classify.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.png`, "");
 * const paths = await expandImagePaths([dir, "missing.jpg"]);
 * if (paths.join() !== `${dir}/a.png,missing.jpg`) throw new Error(paths.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function expandImagePaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = (await Deno.stat(path)).isDirectory;
    } catch {
      // Missing or unreadable: kept, so that reading it reports the reason.
    }
    const inside = isDirectory ? await listImageFiles(path) : [];
    out.push(...(inside.length > 0 ? inside : [path]));
  }
  return out;
}

/**
 * The `k` most probable classes, most probable first (ties: lower label first).
 *
 * @param probabilities One probability per class, in label order.
 * @param options `k` (default 3, at most the number of classes) and the class names.
 * @returns The classes with their probabilities.
 * @throws {RangeError} When `k` is not a positive integer.
 * @example
 * ```ts
 * import { topClasses } from "./classify.ts";
 * const top = topClasses([0.1, 0.6, 0.3], { k: 2, classNames: ["cat", "dog", "frog"] });
 * if (top.map((c) => c.name).join() !== "dog,frog") throw new Error();
 * ```
 */
export function topClasses(
  probabilities: ArrayLike<number>,
  options: { k?: number; classNames?: readonly string[] } = {},
): ClassScore[] {
  const k = options.k ?? 3;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`Cannot pick top classes: expected k ≥ 1 (an integer), found ${k}`);
  }
  const names = options.classNames ?? CIFAR10_CLASSES;
  const order = Array.from({ length: probabilities.length }, (_, i) => i)
    .sort((a, b) => probabilities[b]! - probabilities[a]! || a - b);
  return order.slice(0, k).map((index) => ({
    index,
    name: names[index] ?? `class ${index}`,
    probability: probabilities[index]!,
  }));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Classifies image files with a model: each file is read and fitted (`readOwnImage`), the good
 * ones go through the network together, and each gets its softmax probabilities and top classes.
 * A file that cannot be read becomes an `ImageFailure` and the others are still classified.
 *
 * @param model The trained model.
 * @param files Paths of PNG or JPEG files.
 * @param options The run's config (normalisation), fit, how many top classes, class names.
 * @returns One result per file, in order.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { classifyImages } from "./classify.ts";
 * const config = makeConfig({ convChannels: [2], hiddenUnits: 4 });
 * const model = buildModel(config);
 * const [result] = await classifyImages(model, ["missing.jpg"], { config });
 * if (result!.ok || !result!.error.message.includes('"missing.jpg"')) throw new Error();
 * model.dispose();
 * ```
 */
export async function classifyImages(
  model: Model,
  files: readonly string[],
  options: ClassifyOptions,
): Promise<ImageResult[]> {
  const k = options.top ?? 3;
  const batchSize = options.batchSize ?? 64;
  const loaded: (OwnImage | Error)[] = [];
  for (const file of files) {
    try {
      loaded.push(await readOwnImage(file, { fit: options.fit }));
    } catch (error) {
      loaded.push(asError(error));
    }
  }
  const good = loaded.filter((item): item is OwnImage => !(item instanceof Error));
  const probabilities: Float32Array[] = [];
  for (let from = 0; from < good.length; from += batchSize) {
    const batch = good.slice(from, from + batchSize);
    const pixels = new Uint8Array(batch.length * INPUT_SIZE * INPUT_SIZE * 3);
    batch.forEach((image, i) => pixels.set(image.input, i * image.input.length));
    const result = await predict(model, pixels, { config: options.config, size: batch.length });
    const classes = result.probabilities.length / batch.length;
    for (let i = 0; i < batch.length; i++) {
      probabilities.push(result.probabilities.slice(i * classes, (i + 1) * classes));
    }
  }
  let next = 0;
  return loaded.map((item, i): ImageResult => {
    if (item instanceof Error) return { ok: false, file: files[i]!, error: item };
    const p = probabilities[next++]!;
    return {
      ok: true,
      file: item.file,
      image: item,
      probabilities: p,
      top: topClasses(p, { k: Math.min(k, p.length), classNames: options.classNames }),
    };
  });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
}

/** The checkpoint folder of a run folder or checkpoint folder, or null. */
async function checkpointIn(dir: string): Promise<RunLocation | null> {
  const trimmed = dir.replace(/(.)\/+$/, "$1");
  if (await isFile(`${trimmed}/model.json`)) {
    // The checkpoint may sit in the run folder itself or in its `best-model/`.
    const isRun = async (path: string) =>
      await isFile(`${path}/config.json`) || await isFile(`${path}/metrics.json`);
    const parent = dirname(trimmed);
    const runDir = await isRun(trimmed) ? trimmed : await isRun(parent) ? parent : null;
    return { runDir, checkpointDir: trimmed };
  }
  const inner = `${trimmed}/${RUN_CHECKPOINT_FOLDER}`;
  if (await isFile(`${inner}/model.json`)) return { runDir: trimmed, checkpointDir: inner };
  return null;
}

/** The message when no run has a checkpoint yet. */
function noRunMessage(outDir: string): string {
  return `No trained model found under ${outDir.replace(/\/*$/, "/")}: train one with ` +
    "`deno task train` or pass --run PATH";
}

/**
 * Finds the best model of a run.
 *
 * @param spec `"latest"` (default): of the folders directly under `outDir` that hold a checkpoint
 *   (`best-model/model.json` or `model.json`), the one whose model was saved last; or a path: a
 *   run folder (holding `best-model/`) or a checkpoint folder (holding `model.json`).
 * @param options `outDir`: where run folders live. @default "runs"
 * @returns The run folder (null for a bare checkpoint) and the checkpoint folder.
 * @throws {Deno.errors.NotFound} When the path does not exist, or (`"latest"`) no run has a
 *   checkpoint: ``No trained model found under runs/: train one with `deno task train` or pass
 *   --run PATH``.
 * @throws {TypeError} When the path exists but holds no checkpoint.
 * @example
 * ```ts
 * import { resolveRun } from "./classify.ts";
 * const dir = await Deno.makeTempDir();
 * const error = await resolveRun("latest", { outDir: dir }).catch((e) => e);
 * if (!(error instanceof Deno.errors.NotFound) || !error.message.startsWith("No trained model found under")) throw error;
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveRun(
  spec: string = "latest",
  options: RunOptions = {},
): Promise<RunLocation> {
  const outDir = options.outDir ?? "runs";
  if (spec === "latest") {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(outDir)) {
        // Skip hidden folders and the leftovers of atomic swaps (`x.tmp-…`, `x.old-…`).
        if (entry.isDirectory && !entry.name.startsWith(".") && !/\.(tmp|old)-/.test(entry.name)) {
          names.push(entry.name);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    // Newest = the most recently saved best model (a run's own name is its start time, but the
    // training notebook reuses one folder, so the time of model.json is what tells).
    let newest: { found: RunLocation; time: number; name: string } | null = null;
    for (const name of names) {
      const found = await checkpointIn(`${outDir.replace(/\/+$/, "")}/${name}`);
      if (found === null) continue;
      const time = (await Deno.stat(`${found.checkpointDir}/model.json`)).mtime?.getTime() ?? 0;
      if (newest === null || time > newest.time || (time === newest.time && name > newest.name)) {
        newest = { found, time, name };
      }
    }
    if (newest === null) throw new Deno.errors.NotFound(noRunMessage(outDir));
    return newest.found;
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(spec);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot use run "${spec}": no such folder`);
    }
    throw error;
  }
  const found = info.isDirectory ? await checkpointIn(spec) : null;
  if (found === null) {
    throw new TypeError(
      `Cannot use run "${spec}": expected a run folder (with ${RUN_CHECKPOINT_FOLDER}/model.json) ` +
        `or a checkpoint folder (with model.json), found ${
          info.isDirectory ? "a folder without either" : "a file"
        }`,
    );
  }
  return found;
}

async function readJsonOrNull(path: string): Promise<Record<string, unknown> | null> {
  try {
    const value = JSON.parse(await Deno.readTextFile(path));
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    // metrics.json only adds facts for display; a missing or half-written one is no reason to fail.
    return null;
  }
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Loads a run's best model (`resolveRun`, then `loadModel`) with what the run recorded about it.
 *
 * @param spec `"latest"` (default), a run folder or a checkpoint folder.
 * @param options `outDir` for `"latest"`.
 * @returns The model, its checkpoint, class names and facts for `describeRun`.
 * @throws {Deno.errors.NotFound} When there is no such run (see `resolveRun`).
 */
export async function loadRun(
  spec: string = "latest",
  options: RunOptions = {},
): Promise<LoadedRun> {
  const location = await resolveRun(spec, options);
  const metrics = location.runDir === null
    ? null
    : await readJsonOrNull(`${location.runDir}/metrics.json`);
  const { model, checkpoint } = await loadModel(location.checkpointDir);
  const data = (metrics?.data ?? {}) as Record<string, unknown>;
  const test = (metrics?.test ?? {}) as Record<string, unknown>;
  const names = data.classNames;
  const classNames = Array.isArray(names) && names.length > 0 &&
      names.every((n) => typeof n === "string")
    ? names as string[]
    : [...CIFAR10_CLASSES];
  return {
    ...location,
    model,
    checkpoint,
    classNames,
    synthetic: checkpoint.config.synthetic || data.synthetic === true,
    epoch: numberOrNull(checkpoint.metadata.epoch),
    validLoss: numberOrNull(checkpoint.metadata.validLoss),
    testAccuracy: numberOrNull(test.accuracy),
    status: typeof metrics?.status === "string" ? metrics.status : null,
  };
}

/**
 * One line saying which model classifies, e.g.
 * `Model: runs/20261128-113000-3fa2c1/best-model (epoch 54, validation loss 0.5400, test accuracy 76.7%)`,
 * with a warning when it was trained on synthetic data.
 *
 * @param run What `loadRun` returned (only the facts are read).
 * @returns The line.
 * @example
 * ```ts
 * import { describeRun } from "./classify.ts";
 * const line = describeRun({ checkpointDir: "runs/x/best-model", epoch: 3, validLoss: 1.25, testAccuracy: null, status: null, synthetic: true });
 * if (line !== "Model: runs/x/best-model (epoch 3, validation loss 1.2500) — trained on SYNTHETIC data, not CIFAR-10: its answers say nothing about real images") throw new Error(line);
 * ```
 */
export function describeRun(
  run: Pick<
    LoadedRun,
    "checkpointDir" | "epoch" | "validLoss" | "testAccuracy" | "status" | "synthetic"
  >,
): string {
  const facts: string[] = [];
  if (run.epoch !== null) facts.push(`epoch ${run.epoch}`);
  if (run.validLoss !== null) facts.push(`validation loss ${run.validLoss.toFixed(4)}`);
  if (run.testAccuracy !== null) {
    facts.push(`test accuracy ${(100 * run.testAccuracy).toFixed(1)}%`);
  }
  if (run.status === "running") facts.push("training still running");
  let line = `Model: ${run.checkpointDir}${facts.length > 0 ? ` (${facts.join(", ")})` : ""}`;
  if (run.synthetic) {
    line += " — trained on SYNTHETIC data, not CIFAR-10: its answers say nothing about real images";
  }
  return line;
}

function percent(probability: number): string {
  return `${(100 * probability).toFixed(1)}%`;
}

/** Column names of the top classes: `1st`, `2nd`, `3rd`, `4th`, … */
function ordinal(i: number): string {
  return ["1st", "2nd", "3rd"][i] ?? `${i + 1}th`;
}

/** One row of `predictionRows`: `file`, `size`, `fit`, then `1st`, `2nd`, … or `error`. */
export type PredictionRow = Record<string, string>;

/**
 * The results as table rows (for `table()` in lib/display/show.ts, or `formatPredictionTable`):
 * `file`, `size` (`640×480`), `fit`, then one column per top class (`1st`: `airplane 81.2%`);
 * a failed file has `error` instead.
 *
 * @param results What `classifyImages` returned.
 * @param options `names`: `"path"` (default) shows files as given, `"base"` only their names.
 * @returns One row per result.
 * @example
 * ```ts
 * import { predictionRows } from "./classify.ts";
 * const [row] = predictionRows([{ ok: false, file: "a/b.gif", error: new TypeError("GIF") }], { names: "base" });
 * if (JSON.stringify(row) !== '{"file":"b.gif","error":"GIF"}') throw new Error(JSON.stringify(row));
 * ```
 */
export function predictionRows(
  results: readonly ImageResult[],
  options: { names?: "path" | "base" } = {},
): PredictionRow[] {
  const name = (file: string) => (options.names === "base" ? baseName(file) : file);
  return results.map((r) => {
    if (!r.ok) return { file: name(r.file), error: r.error.message };
    const row: PredictionRow = {
      file: name(r.file),
      size: `${r.image.width}×${r.image.height}`,
      fit: r.image.fit,
    };
    r.top.forEach((c, i) => (row[ordinal(i)] = `${c.name} ${percent(c.probability)}`));
    return row;
  });
}

/**
 * A plain-text table of the results: one row per file with its size, fit and top classes
 * (`airplane 81.2%`); a file that failed gets `error: <reason>` instead.
 *
 * @param results What `classifyImages` returned (pass only the successes to leave errors out).
 * @returns The table's lines joined with `"\n"`.
 * @example
 * ```ts
 * import { formatPredictionTable } from "./classify.ts";
 * const text = formatPredictionTable([{ ok: false, file: "a.gif", error: new TypeError("bad") }]);
 * if (text.split("\n")[2] !== "a.gif  error: bad") throw new Error(text);
 * ```
 */
export function formatPredictionTable(results: readonly ImageResult[]): string {
  const k = Math.max(0, ...results.map((r) => (r.ok ? r.top.length : 0)));
  const header = ["file", "size", "fit", ...Array.from({ length: k }, (_, i) => ordinal(i))];
  const rows = predictionRows(results).map((row) =>
    row.error !== undefined ? [row.file!, `error: ${row.error}`] : header.map((h) => row[h] ?? "")
  );
  // Error rows span the columns after the file, so they do not widen them.
  const widths = header.map((h, i) =>
    Math.max(
      h.length,
      ...rows.filter((row) => row.length === header.length || i === 0).map((row) => row[i]!.length),
    )
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The JSON form of one result (see `predictionsToJson`). */
export type ImageResultJson =
  | {
    file: string;
    ok: true;
    format: SupportedFormat;
    width: number;
    height: number;
    fit: FitMode;
    region: Box;
    top: { class: string; index: number; probability: number }[];
    probabilities: Record<string, number>;
  }
  | { file: string; ok: false; error: { name: string; message: string } };

/**
 * The results as plain JSON-ready objects (for `--json`): per file its size, fit, top classes and
 * every class's probability, or its error.
 *
 * @param results What `classifyImages` returned.
 * @param classNames Class names in label order. @default CIFAR10_CLASSES
 * @returns One object per result.
 * @example
 * ```ts
 * import { predictionsToJson } from "./classify.ts";
 * const [json] = predictionsToJson([{ ok: false, file: "x.png", error: new SyntaxError("cut") }]);
 * if (JSON.stringify(json) !== '{"file":"x.png","ok":false,"error":{"name":"SyntaxError","message":"cut"}}') throw new Error();
 * ```
 */
export function predictionsToJson(
  results: readonly ImageResult[],
  classNames: readonly string[] = CIFAR10_CLASSES,
): ImageResultJson[] {
  return results.map((r): ImageResultJson =>
    r.ok
      ? {
        file: r.file,
        ok: true,
        format: r.image.format,
        width: r.image.width,
        height: r.image.height,
        fit: r.image.fit,
        region: r.image.region,
        top: r.top.map((c) => ({ class: c.name, index: c.index, probability: c.probability })),
        probabilities: Object.fromEntries(
          [...r.probabilities].map((p, i) => [classNames[i] ?? `class ${i}`, p]),
        ),
      }
      : { file: r.file, ok: false, error: { name: r.error.name, message: r.error.message } }
  );
}

/** Layout of `predictionChart`, in canvas pixels. */
const CHART = {
  margin: 8,
  box: PREVIEW_SIZE, // preview and network-input cells are squares of this side
  rowHeight: PREVIEW_SIZE + 16,
  headerHeight: 22,
  labelWidth: 84,
  barWidth: 180,
  barHeight: 14,
  valueWidth: 52,
  errorRowHeight: 56,
} as const;

const BAR_COLOR = "#4c78a8";
const TOP_BAR_COLOR = "#f58518";
const ERROR_COLOR = "#c62828";
const CAPTION_COLOR = "#333333";

/** Options of `predictionChart`. */
export interface PredictionChartOptions {
  /** A line across the top, e.g. `describeRun(run)`. @default none */
  caption?: string;
  /** Colour of the caption (red for a synthetic model, say). @default "#333333" */
  captionColor?: string;
}

function drawRgb(
  context: SKRSContext2D,
  image: RgbImage,
  target: { x: number; y: number; width: number; height: number; smooth: boolean },
): void {
  const tile = createCanvas(image.width, image.height);
  const tileContext = tile.getContext("2d");
  const data = tileContext.createImageData(image.width, image.height);
  for (let i = 0, o = 0; i < image.pixels.length; i += 3, o += 4) {
    data.data[o] = image.pixels[i]!;
    data.data[o + 1] = image.pixels[i + 1]!;
    data.data[o + 2] = image.pixels[i + 2]!;
    data.data[o + 3] = 255;
  }
  tileContext.putImageData(data, 0, 0);
  context.imageSmoothingEnabled = target.smooth;
  context.drawImage(tile, target.x, target.y, target.width, target.height);
  context.imageSmoothingEnabled = true;
}

/** Cuts `text` to fit `width` pixels, ending with "…". */
function fitText(context: SKRSContext2D, text: string, width: number): string {
  if (context.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && context.measureText(cut + "…").width > width) cut = cut.slice(0, -1);
  return cut + "…";
}

/** Splits `text` into at most `lines` lines of `width` pixels (the last one cut with "…"). */
function wrapText(context: SKRSContext2D, text: string, width: number, lines: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > 0 && out.length < lines - 1) {
    let end = rest.length;
    while (end > 1 && context.measureText(rest.slice(0, end)).width > width) {
      const space = rest.lastIndexOf(" ", end - 1);
      end = space > 0 ? space : end - 1;
    }
    out.push(rest.slice(0, end));
    rest = rest.slice(end).trimStart();
  }
  if (rest.length > 0) out.push(fitText(context, rest, width));
  return out;
}

function baseName(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? path;
}

/**
 * Draws the results: one row per image with the image itself (the part the network saw outlined
 * when cropped), the 32×32 input the network saw (enlarged, pixels kept square), and bars of its
 * top classes with their probabilities; a file that failed gets a row with its error in red.
 * The Deno kernel shows the returned canvas as a PNG.
 *
 * @param results What `classifyImages` returned.
 * @param options A caption line and its colour.
 * @returns A canvas.
 * @example
 * ```ts
 * import { predictionChart } from "./classify.ts";
 * const chart = predictionChart([{ ok: false, file: "a.gif", error: new TypeError("GIF") }]);
 * if (chart.width < 400 || chart.height < 40) throw new Error(`${chart.width}×${chart.height}`);
 * ```
 */
export function predictionChart(
  results: readonly ImageResult[],
  options: PredictionChartOptions = {},
): Canvas {
  const m = CHART.margin;
  const textX = m + 2 * (CHART.box + m);
  const width = textX + CHART.labelWidth + CHART.barWidth + CHART.valueWidth + m;
  const captionHeight = options.caption === undefined ? 0 : CHART.headerHeight;
  const heights = results.map((r) => (r.ok ? CHART.rowHeight : CHART.errorRowHeight));
  const height = m + captionHeight + CHART.headerHeight + heights.reduce((a, b) => a + b, 0) + m;
  const canvas = createCanvas(width, height);
  const context = canvas.getContext("2d");
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  context.textBaseline = "middle";
  let y = m;
  // 1. Caption and column headers.
  if (options.caption !== undefined) {
    context.font = "bold 12px sans-serif";
    context.fillStyle = options.captionColor ?? CAPTION_COLOR;
    context.fillText(
      fitText(context, options.caption, width - 2 * m),
      m,
      y + CHART.headerHeight / 2,
    );
    y += captionHeight;
  }
  context.font = "11px sans-serif";
  context.fillStyle = "#666666";
  context.fillText("your image", m, y + CHART.headerHeight / 2);
  context.fillText("network input 32×32", m + CHART.box + m, y + CHART.headerHeight / 2);
  context.fillText("most probable classes", textX, y + CHART.headerHeight / 2);
  y += CHART.headerHeight;
  // 2. One row per result.
  for (const [i, result] of results.entries()) {
    const rowHeight = heights[i]!;
    context.strokeStyle = "#dddddd";
    context.beginPath();
    context.moveTo(m, y + 0.5);
    context.lineTo(width - m, y + 0.5);
    context.stroke();
    if (!result.ok) {
      context.font = "bold 12px sans-serif";
      context.fillStyle = "#000000";
      context.fillText(fitText(context, baseName(result.file), width - 2 * m), m, y + 12);
      context.font = "11px sans-serif";
      context.fillStyle = ERROR_COLOR;
      for (const [j, text] of wrapText(context, result.error.message, width - 2 * m, 2).entries()) {
        context.fillText(text, m, y + 28 + 14 * j);
      }
      y += rowHeight;
      continue;
    }
    const image = result.image;
    const top = y + (rowHeight - CHART.box) / 2;
    // The preview, scaled to fit its square, with the cropped region outlined.
    const scale = Math.min(CHART.box / image.width, CHART.box / image.height);
    const shownWidth = image.width * scale;
    const shownHeight = image.height * scale;
    const left = m + (CHART.box - shownWidth) / 2;
    const upper = top + (CHART.box - shownHeight) / 2;
    drawRgb(context, image.preview, {
      x: left,
      y: upper,
      width: shownWidth,
      height: shownHeight,
      smooth: image.preview.width < image.width,
    });
    if (image.fit === "crop") {
      context.strokeStyle = TOP_BAR_COLOR;
      context.lineWidth = 2;
      context.setLineDash([4, 3]);
      context.strokeRect(
        left + image.region.x * scale,
        upper + image.region.y * scale,
        image.region.width * scale,
        image.region.height * scale,
      );
      context.setLineDash([]);
      context.lineWidth = 1;
    }
    drawRgb(context, { width: INPUT_SIZE, height: INPUT_SIZE, pixels: image.input }, {
      x: m + CHART.box + m,
      y: top,
      width: CHART.box,
      height: CHART.box,
      smooth: false,
    });
    // File name, size, then one bar per class.
    context.font = "bold 12px sans-serif";
    context.fillStyle = "#000000";
    const textWidth = width - textX - m;
    context.fillText(fitText(context, baseName(result.file), textWidth), textX, top + 8);
    context.font = "11px sans-serif";
    context.fillStyle = "#666666";
    context.fillText(
      `${image.width}×${image.height} ${image.format.toUpperCase()}, ${image.fit}`,
      textX,
      top + 24,
    );
    const barTop = top + 38;
    const step = Math.min(20, (CHART.box - 38) / Math.max(1, result.top.length));
    for (const [j, score] of result.top.entries()) {
      const cy = barTop + j * step + CHART.barHeight / 2;
      context.font = j === 0 ? "bold 12px sans-serif" : "12px sans-serif";
      context.fillStyle = "#000000";
      context.fillText(fitText(context, score.name, CHART.labelWidth - 6), textX, cy);
      context.fillStyle = "#eeeeee";
      context.fillRect(
        textX + CHART.labelWidth,
        cy - CHART.barHeight / 2,
        CHART.barWidth,
        CHART.barHeight,
      );
      context.fillStyle = j === 0 ? TOP_BAR_COLOR : BAR_COLOR;
      context.fillRect(
        textX + CHART.labelWidth,
        cy - CHART.barHeight / 2,
        Math.max(1, CHART.barWidth * score.probability),
        CHART.barHeight,
      );
      context.fillStyle = "#000000";
      context.fillText(
        percent(score.probability),
        textX + CHART.labelWidth + CHART.barWidth + 6,
        cy,
      );
    }
    y += rowHeight;
  }
  return canvas;
}
