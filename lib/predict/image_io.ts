/**
 * Reading your own image files: PNG or JPEG of any size, checked by content (not by extension)
 * to be whole (`checkImageBytes`: a truncated file is an error, not a half-grey picture), decoded
 * with Skia (`@napi-rs/canvas`), which applies a JPEG's EXIF orientation, and drawn over white,
 * so transparent parts of a PNG become white rather than black; then fitted to the network's
 * 32×32 input (`toModelInput`). Also: the image files of a folder.
 * @module
 */
import { createCanvas, loadImage } from "@napi-rs/canvas";
import { checkImageFile, type SupportedFormat } from "./image_format.ts";
import {
  type Box,
  type FitMode,
  type ReadImageOptions,
  resizeRgb,
  rgbFromRgba,
  type RgbImage,
  toModelInput,
} from "./resize.ts";

/** Longest side of the preview kept with each image (for charts). */
export const PREVIEW_SIZE = 96;

/** File extensions `listImageFiles` picks up. */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([".png", ".jpg", ".jpeg"]);

/** A decoded file. */
export interface DecodedImage extends RgbImage {
  /** The file's format. */
  format: SupportedFormat;
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

/**
 * Decodes a PNG or JPEG file's bytes to RGB pixels (transparent parts over white, EXIF
 * orientation applied).
 *
 * @param bytes The file's content.
 * @param options `name`: how to name the file in errors. @default "image"
 * @returns The pixels and the format.
 * @throws {TypeError} When the bytes are no PNG or JPEG (empty, not an image, another format).
 * @throws {SyntaxError} When the file is truncated or corrupt, or Skia cannot decode it.
 * @throws {RangeError} When it has more than `MAX_IMAGE_PIXELS` pixels (`checkImageFile`).
 * @example
 * ```ts
 * import { decodeImage } from "./image_io.ts";
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
  const header = checkImageFile(bytes, options.name ?? "image");
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
  return { ...rgbFromRgba(rgba, width, height), format: header.format };
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
 * import { readOwnImage } from "./image_io.ts";
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
 * import { listImageFiles } from "./image_io.ts";
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
 * import { expandImagePaths } from "./image_io.ts";
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
