/**
 * Training: loss, optimisers and their state, the epoch loop, resuming, and the tutorial's log
 * lines.
 * @module
 */
export * from "./optimizers.ts";
export * from "./optimizer_state.ts";
export * from "./loop.ts";
export * from "./session.ts";
export * from "./fit.ts";
export * from "./resume.ts";
export * from "./log.ts";
