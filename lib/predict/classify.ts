/**
 * Your own images: the tutorial's last suggestion ("try your own images") as library calls.
 * Classifies PNG or JPEG files of any size with a trained model and gives each image's top
 * classes with their softmax probabilities (reported by report.ts, drawn by
 * lib/plots/predictions.ts).
 *
 * Pipeline of one file:
 * 1. Read the bytes; check by content (not by extension) that they are a whole PNG or JPEG
 *    (`checkImageBytes` in image_format.ts: a truncated file is an error, not a half-grey picture).
 * 2. Decode with Skia (`decodeImage` in image_io.ts), which applies a JPEG's EXIF orientation, and
 *    draw it over white, so transparent parts of a PNG become white rather than black.
 * 3. Resize to 32×32 like Pillow's `resize(..., BILINEAR)` (`toModelInput` in resize.ts):
 *    `fit: "stretch"` (default) squeezes the whole picture into the square; `fit: "crop"` first
 *    takes the largest centred square.
 * 4. Normalise exactly like the test set (`predict` from lib/evaluate/evaluate.ts: `batchToTensor`
 *    with `augment: false`), forward with dropout off, softmax.
 *
 * A file that cannot be used fails alone: `classifyImages` returns an error for it (naming the
 * file and the reason) and still classifies the others.
 * @module
 */
import type { TrainConfig } from "../core/mod.ts";
import { IMAGE_SIZE } from "../data/mod.ts";
import { predict } from "../evaluate/mod.ts";
import type { Model } from "../model/mod.ts";
import { type OwnImage, readOwnImage } from "./image_io.ts";
import type { ReadImageOptions } from "./resize.ts";
import { type ClassScore, topClasses } from "./scores.ts";

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
    const pixels = new Uint8Array(batch.length * IMAGE_SIZE * IMAGE_SIZE * 3);
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
