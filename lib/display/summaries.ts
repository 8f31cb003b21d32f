/**
 * The tutorial notebook's summary tables, one call each, so its cells stay a few lines: images per
 * class, the split into batches, and the test accuracy per class.
 * @module
 */
import type { TrainConfig } from "../core/config.ts";
import { batchCount, countLabels, type DataSplit, type ImageSet } from "../data/mod.ts";
import type { TestResult } from "../evaluate/mod.ts";
import { classAccuracies } from "../plots/mod.ts";
import { batchesPerEpoch } from "../train/mod.ts";
import type { Displayable } from "../core/html.ts";
import { table } from "./table.ts";

/**
 * Images per class in each set: one row per class, one column per set.
 *
 * @param classNames The class names, in label order.
 * @param sets The sets by column name, e.g. `{ training: train, test }` (their first `count` images).
 * @param caption The table's caption.
 * @returns The table.
 * @example
 * ```ts
 * import { classCountsTable } from "./summaries.ts";
 * import { textOf } from "./show.ts";
 * const set = { images: new Uint8Array(3 * 3072), labels: Uint8Array.from([0, 1, 1]), count: 3 };
 * const text = textOf(classCountsTable(["cat", "dog"], { training: set }, "counts"));
 * if (!text.includes("dog") || !text.includes("2")) throw new Error(text);
 * ```
 */
export function classCountsTable(
  classNames: readonly string[],
  sets: Readonly<Record<string, ImageSet>>,
  caption: string,
): Displayable {
  const counts = Object.entries(sets).map(([name, set]) =>
    [
      name,
      countLabels(set.labels.subarray(0, set.count), { numClasses: classNames.length }),
    ] as const
  );
  return table(
    classNames.map((className, i) => ({
      class: className,
      ...Object.fromEntries(counts.map(([name, perClass]) => [name, perClass[i]])),
    })),
    { caption },
  );
}

/**
 * The three parts of the data and how each is batched and transformed: training (augmented),
 * validation (augmented only with `augmentValidation`) and test (normalised only).
 *
 * @param split The train/validation split.
 * @param testImages Images of the test set.
 * @param config Batch size, `maxBatchesPerEpoch`, `augmentValidation`.
 * @param caption The table's caption.
 * @returns The table.
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { splitTrainValid } from "../data/split.ts";
 * import { splitTable } from "./summaries.ts";
 * import { textOf } from "./show.ts";
 * const text = textOf(splitTable(splitTrainValid(100, 0.2, 1), 30, makeConfig(), "parts"));
 * if (!text.includes("validation") || !text.includes("80")) throw new Error(text);
 * ```
 */
export function splitTable(
  split: DataSplit,
  testImages: number,
  config: TrainConfig,
  caption: string,
): Displayable {
  const augmented = "flip, rotation, normalise";
  return table([
    {
      part: "training",
      images: split.trainIndices.length,
      batches: batchesPerEpoch(split.trainIndices.length, config),
      transformed: augmented,
    },
    {
      part: "validation",
      images: split.validIndices.length,
      batches: batchesPerEpoch(split.validIndices.length, config),
      transformed: config.augmentValidation ? augmented : "normalise",
    },
    {
      part: "test",
      images: testImages,
      batches: batchCount(testImages, config.batchSize),
      transformed: "normalise",
    },
  ], { caption });
}

/**
 * Test accuracy per class, with the overall accuracy in the caption.
 *
 * @param tested The test result (`evaluateTest`).
 * @param classNames The class names, in label order.
 * @param caption What the table shows; `: overall …% (correct/total)` is appended.
 * @returns The table.
 * @example
 * ```ts
 * import { classAccuracyTable } from "./summaries.ts";
 * import { textOf } from "./show.ts";
 * const tested = { classCorrect: [3, 1], classTotal: [4, 2], accuracy: 4 / 6, correct: 4, total: 6 };
 * const text = textOf(classAccuracyTable(tested, ["cat", "dog"], "Test accuracy"));
 * if (!text.includes("75") || !text.includes("overall 66.7% (4/6)")) throw new Error(text);
 * ```
 */
export function classAccuracyTable(
  tested: Pick<TestResult, "classCorrect" | "classTotal" | "accuracy" | "correct" | "total">,
  classNames: readonly string[],
  caption: string,
): Displayable {
  return table(
    classAccuracies(classNames, tested.classCorrect, tested.classTotal).map((row) => ({
      class: row.className,
      correct: row.correct,
      images: row.total,
      "accuracy (%)": row.total > 0 ? Number((100 * row.correct / row.total).toFixed(1)) : null,
    })),
    {
      caption: `${caption}: overall ${(100 * tested.accuracy).toFixed(1)}% ` +
        `(${tested.correct}/${tested.total})`,
    },
  );
}
