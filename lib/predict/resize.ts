/**
 * Bringing a picture of any size to the network's 32×32 input, like Pillow's
 * `resize(..., BILINEAR)` — what torchvision's `transforms.Resize` does to a PIL image: a triangle
 * filter widened by the scale factor, so a large photo is averaged, not sampled. `fit: "stretch"`
 * (default) squeezes the whole picture into the square; `fit: "crop"` first takes the largest
 * centred square (`centerCropBox`), keeping proportions but losing the sides.
 * @module
 */
import { IMAGE_SIZE } from "../data/format.ts";

/** How an image is brought to a square: squeeze it whole, or cut the centred square out of it. */
export const FIT_MODES = ["stretch", "crop"] as const;
/** A fit mode. */
export type FitMode = typeof FIT_MODES[number];

/** An RGB picture: `height` rows of `width` pixels, R, G, B bytes interleaved. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width × height × 3` bytes. */
  pixels: Uint8Array;
}

/**
 * An RGB picture from a canvas's RGBA pixels (`getImageData`), dropping alpha: the callers have
 * drawn the image over white first, so alpha is 255 everywhere. Skia's canvas in Deno and the
 * browser's canvas both give this layout.
 *
 * @param rgba `width × height × 4` bytes, R, G, B, A interleaved.
 * @param width Width in pixels.
 * @param height Height in pixels.
 * @returns The picture.
 * @example
 * ```ts
 * import { rgbFromRgba } from "./resize.ts";
 * const image = rgbFromRgba(Uint8ClampedArray.of(1, 2, 3, 255, 4, 5, 6, 255), 2, 1);
 * if (image.pixels.join() !== "1,2,3,4,5,6") throw new Error(image.pixels.join());
 * ```
 */
export function rgbFromRgba(rgba: ArrayLike<number>, width: number, height: number): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  if (rgba.length !== width * height * 4) {
    throw new RangeError(
      `Cannot read RGBA pixels: expected ${width * height * 4} bytes for ${width}×${height}, ` +
        `found ${rgba.length}`,
    );
  }
  for (let i = 0, o = 0; o < pixels.length; i += 4, o += 3) {
    pixels[o] = rgba[i]!;
    pixels[o + 1] = rgba[i + 1]!;
    pixels[o + 2] = rgba[i + 2]!;
  }
  return { width, height, pixels };
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

/** Options of `readOwnImage` and `toModelInput`. */
export interface ReadImageOptions {
  /** Squeeze the whole image (`"stretch"`) or take its centred square (`"crop"`). @default "stretch" */
  fit?: FitMode;
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
 * import { centerCropBox } from "./resize.ts";
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
 * import { resizeRgb } from "./resize.ts";
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
 * import { toModelInput } from "./resize.ts";
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
  const { pixels } = resizeRgb(image, { width: IMAGE_SIZE, height: IMAGE_SIZE, box: region });
  return { input: pixels, region };
}
