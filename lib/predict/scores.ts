/**
 * From the network's softmax probabilities to the classes shown: the top few with their names.
 * Needs nothing but the class names, so the browser page (web/) uses it too.
 * @module
 */
import { CIFAR10_CLASSES } from "../data/format.ts";

/** A class and its probability. */
export interface ClassScore {
  /** Class index (the label). */
  index: number;
  /** Class name. */
  name: string;
  /** Softmax probability, in [0, 1]. */
  probability: number;
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
 * import { topClasses } from "./scores.ts";
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
