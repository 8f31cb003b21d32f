/**
 * Charts and image grids: loss curves, accuracy charts, the confusion matrix, run comparisons,
 * image grids.
 * @module
 */
export { type Chart, type ChartNode, type ChartOptions, SVG_NAMESPACE } from "./chart.ts";
export * from "./images.ts";
export * from "./curves.ts";
export * from "./compare.ts";
export * from "./predictions.ts";
