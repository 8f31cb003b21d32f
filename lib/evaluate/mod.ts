/**
 * Evaluation on the test set: accuracy, per-class accuracy, the confusion matrix, predictions;
 * and what a trained model learned (filters, feature maps, confident mistakes, saliency).
 * @module
 */
export * from "./evaluate.ts";
export * from "./inspect.ts";
