/**
 * Core: the typed config with the tutorial's defaults, seeded randomness, file-system and time
 * helpers. Imports nothing else from lib/.
 * @module
 */
export * from "./config.ts";
export * from "./flags.ts";
export * from "./random.ts";
export * from "./fs.ts";
export * from "./paths.ts";
export * from "./html.ts";
export * from "./time.ts";
export * from "./progress.ts";
