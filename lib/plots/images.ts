/**
 * Image grids for the notebooks: the tutorial's "20 training images with their class names" and
 * "20 test images titled predicted (true), green when right, red when wrong". A grid is a
 * `@napi-rs/canvas` `Canvas`; the Deno Jupyter kernel shows any value with `toDataURL()` as
 * `image/png`, so a cell can end with the grid. Pixels are scaled up by an integer factor with
 * smoothing off, so each CIFAR-10 pixel stays a crisp square.
 *
 * Layout (all in canvas pixels): an optional caption line of {@link CAPTION_HEIGHT} at the top,
 * then rows of cells. A cell is `max(32·scale, widest title) + 2·CELL_PADDING` wide and
 * `32·scale + TITLE_HEIGHT + 2·CELL_PADDING` tall; the image is centred horizontally and sits
 * under (or over) its title. {@link gridLayout} returns the exact positions.
 *
 * @module
 */
import { type Canvas, createCanvas, type SKRSContext2D } from "@napi-rs/canvas";
import * as tf from "@tensorflow/tfjs-core";
import { denormalize, type NormalizeOptions } from "../augment/augment.ts";
import { IMAGE_SIZE } from "../data/mod.ts";

/** Space around each image inside its cell, in canvas pixels. */
export const CELL_PADDING = 4;
/** Height of the title line of each cell, in canvas pixels. */
export const TITLE_HEIGHT = 16;
/** Height of the caption line at the top of the grid (when there is a caption). */
export const CAPTION_HEIGHT = 24;
/** Title colour for a correct prediction (matplotlib's "green"). */
export const RIGHT_COLOR = "#008000";
/** Title colour for a wrong prediction (matplotlib's "red"). */
export const WRONG_COLOR = "#ff0000";

/** The canvas class {@link imageGrid} returns (re-exported so callers need not import it). */
export type { Canvas } from "@napi-rs/canvas";

const TITLE_FONT = "12px sans-serif";
const CAPTION_FONT = "bold 14px sans-serif";

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** One title per image, e.g. the class name or "predicted (true)". */
  titles: readonly string[];
  /** One CSS colour per title (e.g. {@link RIGHT_COLOR} / {@link WRONG_COLOR}). @default "#000000" for all */
  titleColors?: readonly string[];
  /** Images per row. @default min(count, 10) (the tutorial's 2 rows of 10) */
  columns?: number;
  /** Integer upscaling factor: 32 px → 32·scale px. @default 3 */
  scale?: number;
  /** A header line across the top, e.g. "SYNTHETIC DATA — not CIFAR-10". @default none */
  caption?: string;
  /** Colour of the caption. @default "#000000" */
  captionColor?: string;
  /** Title above the image (as matplotlib's `set_title`) or below it. @default "above" */
  titlePosition?: "above" | "below";
  /** Background colour. @default "#ffffff" */
  background?: string;
  /** Side of each (square) image in pixels: 3 for first-layer filters, 16 for deep feature maps. @default 32 */
  size?: number;
  /** Colour channels per pixel: 3 (RGB) or 1 (grey, e.g. feature maps and saliency maps). @default 3 */
  channels?: 1 | 3;
}

/** Where everything of a grid goes, in canvas pixels. */
export interface GridLayout {
  /** Canvas width. */
  width: number;
  /** Canvas height. */
  height: number;
  /** Images per row. */
  columns: number;
  /** Number of rows. */
  rows: number;
  /** Side of one drawn image: 32 · scale. */
  imageSide: number;
  /** Width of one cell (image or widest title, plus padding). */
  cellWidth: number;
  /** Height of one cell (image, title line and padding). */
  cellHeight: number;
  /** Top-left corner of each drawn image. */
  images: { x: number; y: number }[];
  /** Centre of each title line. */
  titles: { x: number; y: number }[];
}

function withCanvasContext<T>(body: (context: SKRSContext2D) => T): T {
  return body(createCanvas(1, 1).getContext("2d"));
}

/**
 * Computes the layout of a grid without drawing it.
 *
 * @param count Number of images (≥ 1).
 * @param options Layout options of {@link imageGrid}; titles are measured to size the cells.
 * @returns Canvas size and the position of every image and title.
 * @example
 * ```ts
 * import { gridLayout } from "./images.ts";
 * const layout = gridLayout(20, { titles: Array(20).fill("cat") });
 * // 10 columns of (96 + 2·4) px; 2 rows of (96 + 16 + 2·4) px.
 * if (layout.width !== 1040 || layout.height !== 240) throw new Error(`${layout.width}×${layout.height}`);
 * ```
 */
export function gridLayout(
  count: number,
  options: Omit<ImageGridOptions, "titleColors">,
): GridLayout {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(
      `Cannot lay out an image grid: expected count to be an integer ≥ 1, found ${count}`,
    );
  }
  const scale = options.scale ?? 3;
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) {
    throw new RangeError(
      `Cannot lay out an image grid: expected options.scale to be an integer in [1, 64], found ${scale}`,
    );
  }
  const columns = options.columns ?? Math.min(count, 10);
  if (!Number.isInteger(columns) || columns < 1) {
    throw new RangeError(
      `Cannot lay out an image grid: expected options.columns to be an integer ≥ 1, found ${columns}`,
    );
  }
  const size = options.size ?? IMAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > 1024) {
    throw new RangeError(
      `Cannot lay out an image grid: expected options.size to be an integer in [1, 1024], found ${size}`,
    );
  }
  const imageSide = size * scale;
  const widestTitle = withCanvasContext((context) => {
    context.font = TITLE_FONT;
    return Math.max(0, ...options.titles.map((t) => Math.ceil(context.measureText(t).width)));
  });
  const cellWidth = Math.max(imageSide, widestTitle) + 2 * CELL_PADDING;
  const cellHeight = imageSide + TITLE_HEIGHT + 2 * CELL_PADDING;
  const rows = Math.ceil(count / columns);
  const top = options.caption ? CAPTION_HEIGHT : 0;
  const above = (options.titlePosition ?? "above") === "above";
  const images: { x: number; y: number }[] = [];
  const titles: { x: number; y: number }[] = [];
  for (let i = 0; i < count; i++) {
    const cellX = (i % columns) * cellWidth;
    const cellY = top + Math.floor(i / columns) * cellHeight;
    images.push({
      x: cellX + Math.floor((cellWidth - imageSide) / 2),
      y: cellY + CELL_PADDING + (above ? TITLE_HEIGHT : 0),
    });
    titles.push({
      x: cellX + cellWidth / 2,
      y: cellY + CELL_PADDING + (above ? 0 : imageSide) + TITLE_HEIGHT / 2,
    });
  }
  return {
    width: Math.min(count, columns) * cellWidth,
    height: top + rows * cellHeight,
    columns,
    rows,
    imageSide,
    cellWidth,
    cellHeight,
    images,
    titles,
  };
}

/**
 * Draws images in a grid with a title over (or under) each, like the tutorial's matplotlib
 * figures.
 *
 * @param images `N × 32 × 32 × 3` bytes, NHWC (an `ImageSet`'s or `Batch`'s `images`, or
 *   {@link tensorToPixels} of a normalised batch).
 * @param options Titles (one per image, which fixes N), colours, columns, scale, caption.
 * @returns A canvas; as a notebook cell's value the Deno kernel shows it as a PNG.
 * @example
 * ```ts
 * import { imageGrid } from "./images.ts";
 * const pixels = new Uint8Array(2 * 3072).fill(200);
 * const grid = imageGrid(pixels, { titles: ["cat", "dog"], titleColors: ["#008000", "#ff0000"] });
 * if (!grid.toDataURL().startsWith("data:image/png;base64,")) throw new Error("not a PNG");
 * ```
 */
export function imageGrid(images: Uint8Array, options: ImageGridOptions): Canvas {
  const size = options.size ?? IMAGE_SIZE, channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(
      `Cannot draw an image grid: expected options.channels to be 1 or 3, found ${channels}`,
    );
  }
  const imageBytes = size * size * channels;
  if (!(images instanceof Uint8Array) || images.length === 0 || images.length % imageBytes !== 0) {
    const found = images instanceof Uint8Array
      ? `${images.length} bytes`
      : Object.prototype.toString.call(images);
    throw new RangeError(
      `Cannot draw an image grid: expected images to be a Uint8Array of N × ${imageBytes} bytes (N ≥ 1), found ${found}`,
    );
  }
  const count = images.length / imageBytes;
  if (!Array.isArray(options.titles) || options.titles.length !== count) {
    throw new RangeError(
      `Cannot draw an image grid: expected options.titles to hold ${count} titles (one per image), found ${
        Array.isArray(options.titles) ? options.titles.length : typeof options.titles
      }`,
    );
  }
  if (options.titleColors !== undefined && options.titleColors.length !== count) {
    throw new RangeError(
      `Cannot draw an image grid: expected options.titleColors to hold ${count} colours (one per image), found ${options.titleColors.length}`,
    );
  }
  const layout = gridLayout(count, options);
  const canvas = createCanvas(layout.width, layout.height);
  const context = canvas.getContext("2d");
  context.fillStyle = options.background ?? "#ffffff";
  context.fillRect(0, 0, layout.width, layout.height);

  // 1. All images side by side at native size on one strip (RGB or grey → opaque RGBA).
  const strip = createCanvas(size * count, size);
  const stripContext = strip.getContext("2d");
  const rgba = stripContext.createImageData(size * count, size);
  const green = channels === 3 ? 1 : 0, blue = channels === 3 ? 2 : 0;
  for (let n = 0; n < count; n++) {
    for (let row = 0; row < size; row++) {
      for (let col = 0; col < size; col++) {
        const from = n * imageBytes + (row * size + col) * channels;
        const to = (row * size * count + n * size + col) * 4;
        rgba.data[to] = images[from]!;
        rgba.data[to + 1] = images[from + green]!;
        rgba.data[to + 2] = images[from + blue]!;
        rgba.data[to + 3] = 255;
      }
    }
  }
  stripContext.putImageData(rgba, 0, 0);

  // 2. Scale each one up with nearest-neighbour sampling: integer factor, integer offsets.
  context.imageSmoothingEnabled = false;
  layout.images.forEach(({ x, y }, n) => {
    context.drawImage(
      strip,
      n * size,
      0,
      size,
      size,
      x,
      y,
      layout.imageSide,
      layout.imageSide,
    );
  });

  // 3. Titles, then the caption.
  context.font = TITLE_FONT;
  context.textAlign = "center";
  context.textBaseline = "middle";
  layout.titles.forEach(({ x, y }, n) => {
    context.fillStyle = options.titleColors?.[n] ?? "#000000";
    context.fillText(options.titles[n]!, x, y);
  });
  if (options.caption) {
    context.font = CAPTION_FONT;
    context.textAlign = "left";
    context.fillStyle = options.captionColor ?? "#000000";
    context.fillText(options.caption, CELL_PADDING, CAPTION_HEIGHT / 2);
  }
  return canvas;
}

/**
 * Converts a normalised float tensor (as from `batchToTensor`) back to pixel bytes for
 * {@link imageGrid}: `(x · std + mean) · 255`, rounded and clipped to [0, 255].
 *
 * @param x A normalised tensor, e.g. `[N, 32, 32, 3]`. Not disposed.
 * @param options The mean and std used to normalise (defaults 0.5 and 0.5).
 * @returns `x.size` bytes in the tensor's (NHWC) order.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { tensorToPixels } from "./images.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor1d([-1, 0, 1, 3]);
 * if ((await tensorToPixels(x)).join() !== "0,128,255,255") throw new Error("bad pixels");
 * x.dispose();
 * ```
 */
export async function tensorToPixels(
  x: tf.Tensor,
  options: NormalizeOptions = {},
): Promise<Uint8Array> {
  const pixels = tf.tidy(() => tf.clipByValue(tf.round(denormalize(x, options)), 0, 255));
  try {
    // Asynchronously: a GPU backend (webgpu in Deno) cannot read its tensors back synchronously.
    return Uint8Array.from(await pixels.data());
  } finally {
    pixels.dispose();
  }
}

/**
 * Encodes a canvas as PNG bytes (for files or `Deno.jupyter.image`).
 *
 * @param canvas The canvas, e.g. from {@link imageGrid}.
 * @returns The PNG file's bytes.
 * @example
 * ```ts
 * import { createCanvas } from "@napi-rs/canvas";
 * import { canvasToPng } from "./images.ts";
 * const png = canvasToPng(createCanvas(4, 4));
 * if (png[1] !== 0x50 || png[2] !== 0x4e || png[3] !== 0x47) throw new Error("not a PNG");
 * ```
 */
export function canvasToPng(canvas: Canvas): Uint8Array {
  return new Uint8Array(canvas.toBuffer("image/png"));
}

/**
 * Saliency maps laid over their images, for {@link imageGrid}: each pixel blended towards red by
 * its saliency (0 keeps the image, 255 is `alpha` red), so the pixels that move the prediction
 * most glow.
 *
 * @param images `N × 32 × 32 × 3` bytes.
 * @param maps `N × 32 × 32` saliency bytes (as `saliencyMaps` in lib/evaluate returns them).
 * @param alpha How far the most salient pixels go towards red, in [0, 1]. @default 0.7
 * @returns `N × 32 × 32 × 3` bytes.
 * @example
 * ```ts
 * import { overlaySaliency } from "./images.ts";
 * const images = new Uint8Array(3072).fill(100), maps = new Uint8Array(1024);
 * maps[0] = 255;
 * const out = overlaySaliency(images, maps, 1);
 * if (out[0] !== 255 || out[1] !== 0 || out[3] !== 100) throw new Error(`${out.slice(0, 4)}`);
 * ```
 */
export function overlaySaliency(images: Uint8Array, maps: Uint8Array, alpha = 0.7): Uint8Array {
  if (images.length !== maps.length * 3) {
    throw new RangeError(
      `Cannot overlay saliency maps: expected ${
        maps.length * 3
      } image bytes for ${maps.length} map pixels, found ${images.length}`,
    );
  }
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(`Cannot overlay saliency maps: expected alpha in [0, 1], found ${alpha}`);
  }
  const out = new Uint8Array(images.length);
  for (let p = 0; p < maps.length; p++) {
    const weight = (maps[p]! / 255) * alpha;
    out[p * 3] = Math.round(images[p * 3]! * (1 - weight) + 255 * weight);
    out[p * 3 + 1] = Math.round(images[p * 3 + 1]! * (1 - weight));
    out[p * 3 + 2] = Math.round(images[p * 3 + 2]! * (1 - weight));
  }
  return out;
}
