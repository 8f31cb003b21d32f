/**
 * The chart of your own images' predictions: one row per image with the image itself, the 32×32
 * input the network saw and bars of its top classes, or the file's error in red. A
 * `@napi-rs/canvas` `Canvas`, which the Deno kernel shows as a PNG.
 * @module
 */
import { type Canvas, createCanvas, type SKRSContext2D } from "@napi-rs/canvas";
import { basename } from "node:path";
import { IMAGE_SIZE } from "../data/mod.ts";
import {
  formatProbability,
  type ImageResult,
  PREVIEW_SIZE,
  type RgbImage,
} from "../predict/mod.ts";

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
 * import { predictionChart } from "./predictions.ts";
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
      context.fillText(fitText(context, basename(result.file), width - 2 * m), m, y + 12);
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
    drawRgb(context, { width: IMAGE_SIZE, height: IMAGE_SIZE, pixels: image.input }, {
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
    context.fillText(fitText(context, basename(result.file), textWidth), textX, top + 8);
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
        formatProbability(score.probability),
        textX + CHART.labelWidth + CHART.barWidth + 6,
        cy,
      );
    }
    y += rowHeight;
  }
  return canvas;
}
