/**
 * Notebook display: the only code that talks to the Deno Jupyter kernel (show, tables, progress,
 * live charts, the training monitor).
 * @module
 */
export * from "./show.ts";
