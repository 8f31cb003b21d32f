/**
 * The CIFAR-10 CNN tutorial library: everything the notebooks and command-line tools use.
 * @module
 */
export * from "./config.ts";
export * from "./random.ts";
