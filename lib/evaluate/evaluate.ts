/**
 * Testing the trained model, as in the tutorial: the test loss, the accuracy of each class and
 * overall, plus the predictions and the confusion matrix for plots. Test images are only
 * normalised (no augmentation) and dropout is off. `formatTestReport` gives the tutorial's lines.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { batchToTensor } from "../augment/augment.ts";
import type { TrainConfig } from "../core/config.ts";
import { IMAGE_BYTES, type ImageSet } from "../data/format.ts";
import { batchCount } from "../data/split.ts";
import type { Model } from "../model/model.ts";
import { crossEntropy } from "../train/mod.ts";

/** The outcome of `evaluateTest`. */
export interface TestResult {
  /** Average loss per image. */
  loss: number;
  /** Images classified right. */
  correct: number;
  /** Images tested. */
  total: number;
  /** `correct / total`. */
  accuracy: number;
  /** Right answers per true class. */
  classCorrect: number[];
  /** Images per true class. */
  classTotal: number[];
  /** Predicted class of each test image, in order. */
  predictions: Int32Array;
  /** True class of each test image, in order. */
  labels: Int32Array;
  /** `confusion[trueClass][predictedClass]` = count. */
  confusion: number[][];
  /** Wall-clock seconds. */
  seconds: number;
  /** Throughput. */
  imagesPerSecond: number;
}

/** Progress of the test loop. */
export interface TestProgress {
  /** Batches done (1-based). */
  batch: number;
  /** Batches in total. */
  batches: number;
  /** Images done. */
  images: number;
  /** Throughput so far. */
  imagesPerSecond: number;
}

/** Options of `evaluateTest`. */
export interface EvaluateOptions {
  /** The run's config (batch size and normalisation are read). */
  config: TrainConfig;
  /** Per-batch progress. May return a promise. */
  onBatch?: (progress: TestProgress) => void | Promise<void>;
}

/**
 * Counts (true, predicted) pairs.
 *
 * @param labels True classes.
 * @param predictions Predicted classes, same length.
 * @param classes Number of classes.
 * @returns `matrix[true][predicted]`.
 * @example
 * ```ts
 * import { confusionMatrix } from "./evaluate.ts";
 * const m = confusionMatrix(Int32Array.of(0, 1, 1), Int32Array.of(0, 0, 1), 2);
 * if (JSON.stringify(m) !== "[[1,0],[1,1]]") throw new Error(JSON.stringify(m));
 * ```
 */
export function confusionMatrix(
  labels: Int32Array,
  predictions: Int32Array,
  classes: number,
): number[][] {
  if (labels.length !== predictions.length) {
    throw new RangeError(
      `Cannot build a confusion matrix: expected as many predictions as labels (${labels.length}), found ${predictions.length}`,
    );
  }
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]!]![predictions[i]!]!++;
  return matrix;
}

/**
 * Classifies images (no augmentation, dropout off).
 *
 * @param model The model.
 * @param images Pixels, `size × 32 × 32 × 3` bytes, NHWC.
 * @param options The config (normalisation) and how many images `images` holds.
 * @returns The predicted class and the softmax probabilities (`size × 10`, row by row) of each image.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { predict } from "./evaluate.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 4 });
 * const model = buildModel(config);
 * const { predictions, probabilities } = await predict(model, new Uint8Array(2 * 3072), { config, size: 2 });
 * if (predictions.length !== 2 || Math.abs(probabilities.slice(0, 10).reduce((a, b) => a + b) - 1) > 1e-5) {
 *   throw new Error("bad prediction");
 * }
 * model.dispose();
 * ```
 */
export async function predict(
  model: Model,
  images: Uint8Array,
  options: { config: TrainConfig; size: number },
): Promise<{ predictions: Int32Array; probabilities: Float32Array }> {
  const x = batchToTensor(images, options.size, { augment: false, config: options.config });
  const [classes, probabilities] = tf.tidy(() => {
    const logits = model.forward(x, { training: false });
    return [tf.argMax(logits, 1), tf.softmax(logits)];
  });
  x.dispose();
  try {
    return {
      predictions: new Int32Array(await classes.data()),
      probabilities: new Float32Array(await probabilities.data()),
    };
  } finally {
    classes.dispose();
    probabilities.dispose();
  }
}

/**
 * Tests the model on a whole set, in order, batch by batch (`config.batchSize`).
 *
 * @param model The model (dropout is off).
 * @param testSet The test images.
 * @param options The config and a progress callback.
 * @returns Loss, per-class and overall accuracy, predictions and confusion matrix.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { generateSyntheticImages, SYNTHETIC_CLASSES } from "../data/synthetic.ts";
 * import { evaluateTest, formatTestReport } from "./evaluate.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 8, batchSize: 10 });
 * const model = buildModel(config);
 * const result = await evaluateTest(model, generateSyntheticImages(25, { seed: 2 }), { config });
 * if (result.total !== 25 || result.classTotal.reduce((a, b) => a + b) !== 25) throw new Error("miscounted");
 * const report = formatTestReport(result, SYNTHETIC_CLASSES);
 * if (!report.at(-1)!.startsWith("Test Accuracy (Overall): ")) throw new Error(report.at(-1));
 * model.dispose();
 * ```
 */
export async function evaluateTest(
  model: Model,
  testSet: ImageSet,
  options: EvaluateOptions,
): Promise<TestResult> {
  const { config } = options;
  const total = testSet.count;
  const labels = Int32Array.from(testSet.labels.subarray(0, total));
  const predictions = new Int32Array(total);
  const batches = batchCount(total, config.batchSize);
  const start = performance.now();
  let lossSum = 0;
  let classes = 10;
  for (let b = 0; b < batches; b++) {
    const from = b * config.batchSize;
    const size = Math.min(config.batchSize, total - from);
    const x = batchToTensor(
      testSet.images.subarray(from * IMAGE_BYTES, (from + size) * IMAGE_BYTES),
      size,
      { augment: false, config },
    );
    const y = tf.tensor1d(labels.subarray(from, from + size), "int32");
    const [loss, predicted] = tf.tidy(() => {
      const logits = model.forward(x, { training: false });
      classes = logits.shape[1];
      return [crossEntropy(logits, y), tf.argMax(logits, 1)];
    });
    x.dispose();
    y.dispose();
    try {
      const [lossValues, predictedValues] = await Promise.all([loss.data(), predicted.data()]);
      lossSum += lossValues[0]! * size;
      predictions.set(predictedValues as Int32Array, from);
    } finally {
      loss.dispose();
      predicted.dispose();
    }
    const seconds = (performance.now() - start) / 1000;
    await options.onBatch?.({
      batch: b + 1,
      batches,
      images: from + size,
      imagesPerSecond: seconds > 0 ? (from + size) / seconds : 0,
    });
  }
  const confusion = confusionMatrix(labels, predictions, classes);
  const classCorrect = confusion.map((row, i) => row[i]!);
  const classTotal = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const correct = classCorrect.reduce((a, b) => a + b, 0);
  const seconds = (performance.now() - start) / 1000;
  return {
    loss: total > 0 ? lossSum / total : NaN,
    correct,
    total,
    accuracy: total > 0 ? correct / total : NaN,
    classCorrect,
    classTotal,
    predictions,
    labels,
    confusion,
    seconds,
    imagesPerSecond: seconds > 0 ? total / seconds : 0,
  };
}

/** Python's `'%2d' % x` for a float: truncates toward zero, pads to width 2. */
function percentField(correct: number, total: number): string {
  return String(Math.trunc((100 * correct) / total)).padStart(2);
}

/**
 * The tutorial's test report, line by line (blank lines included, as the template prints them):
 * `Test Loss: 0.987654`, then `Test Accuracy of %5s: %2d%% (%2d/%2d)` per class (`N/A (no training
 * examples)` for a class without images), then `Test Accuracy (Overall): 76% (7674/10000)`.
 * Percentages truncate like the template's `%2d`.
 *
 * @param result The test result.
 * @param classNames Class names in label order.
 * @returns The lines; join them with `"\n"` to print.
 * @example
 * ```ts
 * import { formatTestReport, type TestResult } from "./evaluate.ts";
 * const result = { loss: 0.9876543, classCorrect: [841, 0], classTotal: [1000, 0], correct: 841, total: 1000 };
 * const lines = formatTestReport(result as TestResult, ["airplane", "cat"]);
 * if (lines[2] !== "Test Accuracy of airplane: 84% (841/1000)") throw new Error(lines[2]);
 * if (lines[3] !== "Test Accuracy of   cat: N/A (no training examples)") throw new Error(lines[3]);
 * if (lines.at(-1) !== "Test Accuracy (Overall): 84% (841/1000)") throw new Error(lines.at(-1));
 * ```
 */
export function formatTestReport(
  result: Pick<TestResult, "loss" | "classCorrect" | "classTotal" | "correct" | "total">,
  classNames: readonly string[],
): string[] {
  const lines = [`Test Loss: ${result.loss.toFixed(6)}`, ""];
  result.classTotal.forEach((total, i) => {
    const name = (classNames[i] ?? String(i)).padStart(5);
    const correct = result.classCorrect[i]!;
    lines.push(
      total > 0
        ? `Test Accuracy of ${name}: ${percentField(correct, total)}% (${
          String(correct).padStart(2)
        }/${String(total).padStart(2)})`
        : `Test Accuracy of ${name}: N/A (no training examples)`,
    );
  });
  lines.push("");
  const overall = result.total > 0 ? `${percentField(result.correct, result.total)}%` : "N/A";
  lines.push(
    `Test Accuracy (Overall): ${overall} (${String(result.correct).padStart(2)}/${
      String(result.total).padStart(2)
    })`,
  );
  return lines;
}
