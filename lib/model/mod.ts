/**
 * The network (the tutorial's CNN) and its checkpoints.
 * @module
 */
export * from "./model.ts";
export * from "./summary.ts";
export * from "./checkpoint.ts";
