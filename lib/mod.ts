/**
 * The CIFAR-10 CNN tutorial library: everything the notebooks and command-line tools use. One
 * folder per concern, in the order data flows and dependencies point (a folder imports only from
 * folders before it; tests/layering_test.ts holds that):
 * core → data → augment → engine → model → train → evaluate → runs → sweep → predict → plots →
 * display.
 * @module
 */
export * from "./core/mod.ts";
export * from "./data/mod.ts";
export * from "./augment/mod.ts";
export * from "./engine/mod.ts";
export * from "./model/mod.ts";
export * from "./train/mod.ts";
export * from "./evaluate/mod.ts";
export * from "./runs/mod.ts";
export * from "./sweep/mod.ts";
export * from "./predict/mod.ts";
export * from "./plots/mod.ts";
export * from "./display/mod.ts";
