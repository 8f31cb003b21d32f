/**
 * Run records: the run folder and its metrics.json (record.ts), the process that writes it
 * (process.ts), recording a fit (recorder.ts), resuming (resume.ts), listing and finding runs
 * (list.ts), comparing them (compare.ts), the PyTorch reference run (reference.ts) and setting a notebook's run up (setup.ts).
 * @module
 */
export * from "./process.ts";
export * from "./record.ts";
export * from "./list.ts";
export * from "./resume.ts";
export * from "./recorder.ts";
export * from "./compare.ts";
export * from "./reference.ts";
export * from "./setup.ts";
export * from "./class_weights.ts";
