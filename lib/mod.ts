/**
 * The CIFAR-10 CNN tutorial library: everything the notebooks and command-line tools use, one
 * module per concern.
 * @module
 */
export * from "./core/config.ts";
export * from "./core/random.ts";
export * from "./data/load.ts";
export * from "./data/download.ts";
export * from "./data/synthetic.ts";
export * from "./augment/augment.ts";
export * from "./plots/images.ts";
export * from "./engine/backend.ts";
export * from "./model/model.ts";
export * from "./train/fit.ts";
export * from "./evaluate/evaluate.ts";
export * from "./model/checkpoint.ts";
export * from "./runs/record.ts";
export * from "./plots/curves.ts";
export * from "./plots/compare.ts";
export * from "./display/show.ts";
export * from "./predict/classify.ts";
