/**
 * Classifying your own images with a trained run: image files, resizing, classification, choosing
 * the run, reports.
 * @module
 */
export * from "./image_format.ts";
export * from "./resize.ts";
export * from "./image_io.ts";
export * from "./scores.ts";
export * from "./classify.ts";
export * from "./paths.ts";
export * from "./run.ts";
export * from "./report.ts";
