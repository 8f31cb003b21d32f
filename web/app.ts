/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The page `./run serve` serves: a trained run's model, running in the browser on TensorFlow.js,
 * classifies an image the user picks or drops and shows the top 3 classes with bars.
 *
 * Nothing here is a second copy of the pipeline: `./run serve` bundles this file with the same
 * lib/ modules `./run predict` uses (checkpoint decoding, the network, the image checks, the
 * resize, the normalisation, the top classes). Only decoding differs: the browser's own decoder
 * (Skia, as in Deno) instead of @napi-rs/canvas, so the probabilities agree within rounding.
 *
 * The page reads `api/run` (the run and where its checkpoint is), then the checkpoint's two files,
 * and builds the network on tfjs's CPU backend: one 32×32 image takes about a tenth of a second,
 * decoding included, so no GPU is needed, and the numbers are those of the CPU. `document.body.dataset.state` says where it is
 * (`loading`, `ready`, `classifying`, `classified`, `error`) for tests and scripts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { predict } from "../lib/evaluate/evaluate.ts";
import { type Checkpoint, decodeCheckpoint, parseModelJson } from "../lib/model/checkpoint.ts";
import { buildModel, type Model, setWeights } from "../lib/model/model.ts";
import { checkImageFile } from "../lib/predict/image_format.ts";
import {
  FIT_MODES,
  type FitMode,
  rgbFromRgba,
  type RgbImage,
  toModelInput,
} from "../lib/predict/resize.ts";
import { topClasses } from "../lib/predict/scores.ts";
import type { RunInfo } from "../scripts/serve.ts";

/** Classes shown per image. */
const TOP = 3;

/** How each fit mode brings the picture to the network's 32×32. */
const FIT_WORDS: Record<FitMode, string> = {
  stretch: "the whole picture squeezed to 32×32",
  crop: "the centred square scaled to 32×32",
};

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`The page has no element #${id}`);
  return found as T;
}

const page = {
  run: element<HTMLParagraphElement>("run"),
  drop: element<HTMLElement>("drop"),
  file: element<HTMLInputElement>("file"),
  fit: element<HTMLSelectElement>("fit"),
  message: element<HTMLParagraphElement>("message"),
  result: element<HTMLElement>("result"),
  picture: element<HTMLImageElement>("picture"),
  input: element<HTMLCanvasElement>("input"),
  caption: element<HTMLElement>("caption"),
  top: element<HTMLOListElement>("top"),
};

function setState(state: string): void {
  document.body.dataset.state = state;
}

function showMessage(text: string): void {
  page.message.textContent = text;
  page.message.hidden = text === "";
}

async function fetchOk(url: string, what: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(
      `Cannot load ${what} from ${url}: ${(error as Error).message}; is ./run serve running?`,
    );
  }
  if (!response.ok) {
    const text = (await response.text()).trim();
    throw new Error(text || `Cannot load ${what} from ${url}: HTTP ${response.status}`);
  }
  return response;
}

/** Fetches the run and its checkpoint, and builds the network with its weights. */
async function fetchModel(): Promise<{ info: RunInfo; checkpoint: Checkpoint; model: Model }> {
  const info = await (await fetchOk("api/run", "the run")).json() as RunInfo;
  const jsonUrl = new URL(info.modelUrl, location.href);
  const json = parseModelJson(
    await (await fetchOk(jsonUrl.href, "model.json")).text(),
    jsonUrl.href,
  );
  const weightsUrl = new URL(json.weightsManifest[0]!.paths[0]!, jsonUrl);
  const bytes = new Uint8Array(await (await fetchOk(weightsUrl.href, "the weights")).arrayBuffer());
  const checkpoint = await decodeCheckpoint(json, bytes, weightsUrl.href);
  const model = buildModel(checkpoint.config);
  setWeights(model, checkpoint.weights);
  return { info, checkpoint, model };
}

/**
 * Decodes a checked PNG or JPEG to RGB over white, as lib/predict/image_io.ts does in Deno: EXIF
 * orientation applied, transparent parts white, colours as stored (no colour-profile conversion,
 * which Skia in Deno does not do either).
 */
async function decodeRgb(bytes: Uint8Array, type: string): Promise<RgbImage> {
  const bitmap = await createImageBitmap(new Blob([bytes as BlobPart], { type }), {
    imageOrientation: "from-image",
    colorSpaceConversion: "none",
  });
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d")!;
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return rgbFromRgba(context.getImageData(0, 0, width, height).data, width, height);
}

/** Draws the 32×32 input the network sees, enlarged without smoothing. */
function drawInput(input: Uint8Array): void {
  const small = new ImageData(32, 32);
  for (let i = 0, o = 0; i < input.length; i += 3, o += 4) {
    small.data.set([input[i]!, input[i + 1]!, input[i + 2]!, 255], o);
  }
  const context = page.input.getContext("2d")!;
  const scratch = new OffscreenCanvas(32, 32);
  scratch.getContext("2d")!.putImageData(small, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(scratch, 0, 0, page.input.width, page.input.height);
}

function showTop(probabilities: Float32Array, classNames: readonly string[]): void {
  page.top.replaceChildren(
    ...topClasses(probabilities, { k: TOP, classNames }).map((score) => {
      const item = document.createElement("li");
      item.dataset.class = score.name;
      item.dataset.probability = String(score.probability);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = score.name;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${(100 * score.probability).toFixed(1)}%`;
      bar.append(fill);
      const percent = document.createElement("span");
      percent.className = "percent";
      percent.textContent = `${(100 * score.probability).toFixed(1)}%`;
      item.append(name, bar, percent);
      return item;
    }),
  );
}

let current: { info: RunInfo; checkpoint: Checkpoint; model: Model } | null = null;
let lastFile: File | null = null;

async function classify(file: File): Promise<void> {
  if (current === null) return;
  lastFile = file;
  setState("classifying");
  showMessage("");
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const header = checkImageFile(bytes, file.name);
    const image = await decodeRgb(bytes, `image/${header.format}`);
    const fit = page.fit.value as FitMode;
    const { input } = toModelInput(image, { fit });
    const { probabilities } = await predict(current.model, input, {
      config: current.checkpoint.config,
      size: 1,
    });
    URL.revokeObjectURL(page.picture.src);
    page.picture.src = URL.createObjectURL(file);
    page.picture.alt = file.name;
    drawInput(input);
    page.caption.textContent = `${file.name}, ${image.width}×${image.height}: ${FIT_WORDS[fit]}`;
    showTop(probabilities, current.info.classNames);
    page.result.hidden = false;
    setState("classified");
  } catch (error) {
    page.result.hidden = true;
    showMessage((error as Error).message);
    setState("error");
  }
}

function firstFile(files: FileList | null | undefined): File | null {
  return files && files.length > 0 ? files[0]! : null;
}

async function start(): Promise<void> {
  setState("loading");
  for (const mode of FIT_MODES) page.fit.add(new Option(mode, mode));
  try {
    await tf.setBackend("cpu");
    current = await fetchModel();
  } catch (error) {
    page.run.textContent = "No model loaded.";
    showMessage((error as Error).message);
    setState("error");
    return;
  }
  page.run.textContent = current.info.description;
  page.run.classList.toggle("warning", current.info.synthetic);
  page.file.disabled = false;
  page.file.addEventListener("change", () => {
    const file = firstFile(page.file.files);
    if (file) classify(file);
  });
  page.fit.addEventListener("change", () => {
    if (lastFile) classify(lastFile);
  });
  for (const type of ["dragenter", "dragover"]) {
    page.drop.addEventListener(type, (event) => {
      event.preventDefault();
      page.drop.classList.add("over");
    });
  }
  page.drop.addEventListener("dragleave", () => page.drop.classList.remove("over"));
  page.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    page.drop.classList.remove("over");
    const file = firstFile((event as DragEvent).dataTransfer?.files);
    if (file) classify(file);
    else showMessage("Drop an image file (PNG or JPEG), not text or a link");
  });
  setState("ready");
}

start();
