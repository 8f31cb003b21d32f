/**
 * Classifying your own images with a trained run: image files, resizing, classification, reports.
 * @module
 */
export * from "./classify.ts";
