/**
 * Notebook display: the only code that talks to the Deno Jupyter kernel (show, tables, progress,
 * live charts, the training monitor).
 * @module
 */
export * from "./show.ts";
export * from "./table.ts";
export * from "./progress.ts";
export * from "./live.ts";
export * from "./monitor.ts";
export * from "./summaries.ts";
export * from "./sweep.ts";
