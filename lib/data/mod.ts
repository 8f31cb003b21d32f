/**
 * CIFAR-10 data: the binary and Python formats, the archive (download, checksum, extraction), loading,
 * synthetic stand-ins, and the train/validation split and batches.
 * @module
 */
export * from "./format.ts";
export * from "./python_format.ts";
export * from "./tar.ts";
export * from "./download.ts";
export * from "./archive.ts";
export * from "./load.ts";
export * from "./synthetic.ts";
export * from "./split.ts";
