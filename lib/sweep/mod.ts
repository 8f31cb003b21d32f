/**
 * Sweeps: many runs of the tutorial's model on one budget, to compare ideas. The plan and the
 * sweep record (plan.ts), running the trials and continuing a stopped sweep (run.ts), the results
 * table (results.ts), and the tutorial's ideas as trials (ideas.ts).
 * @module
 */
export * from "./plan.ts";
export * from "./run.ts";
export * from "./results.ts";
export * from "./ideas.ts";
