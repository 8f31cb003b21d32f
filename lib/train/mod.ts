/**
 * Training: loss, optimisers and their state, the epoch loop, resuming, and the tutorial's log
 * lines.
 * @module
 */
export * from "./fit.ts";
