/**
 * The compute engine: tfjs backend selection and our training kernels and gradients. The kernels
 * under kernels/ are loaded lazily by backend.ts and are not re-exported here.
 * @module
 */
export * from "./backend.ts";
export * from "./loaders.ts";
export * from "./gradients.ts";
export * from "./optimizers.ts";
export * from "./dropout.ts";
