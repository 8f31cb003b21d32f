/**
 * Evaluation on the test set: accuracy, per-class accuracy, the confusion matrix, predictions.
 * @module
 */
export * from "./evaluate.ts";
