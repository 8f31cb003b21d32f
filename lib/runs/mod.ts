/**
 * Run records: the run folder, its metrics.json, recording a fit, resuming, listing and comparing
 * runs.
 * @module
 */
export * from "./record.ts";
