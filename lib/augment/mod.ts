/**
 * Augmentation and normalisation of batches (the tutorial's torchvision transforms).
 * @module
 */
export * from "./augment.ts";
