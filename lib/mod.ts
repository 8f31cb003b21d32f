/**
 * The CIFAR-10 CNN tutorial library: everything the notebooks and command-line tools use, one
 * module per concern.
 * @module
 */
export * from "./config.ts";
export * from "./random.ts";
export * from "./data.ts";
export * from "./download.ts";
export * from "./synthetic.ts";
export * from "./augmentation.ts";
export * from "./images.ts";
export * from "./backend.ts";
export * from "./model.ts";
export * from "./training.ts";
export * from "./evaluation.ts";
export * from "./checkpoint.ts";
export * from "./runs.ts";
export * from "./plots.ts";
export * from "./compare_plots.ts";
export * from "./display.ts";
export * from "./own_images.ts";
