/**
 * Charts and image grids: loss curves, accuracy charts, the confusion matrix, run comparisons,
 * image grids.
 * @module
 */
export * from "./images.ts";
export * from "./curves.ts";
export * from "./compare.ts";
