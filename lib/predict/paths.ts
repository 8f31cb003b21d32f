/**
 * Paths relative to the project, whatever the working folder is: notebooks run in `notebooks/`,
 * scripts in the project root, so `"samples"` or `config.outDir` must be resolved against the
 * folder above `lib/`, not against the working folder.
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: the folder above `lib/`. */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Resolves a path against the project root (the folder above `lib/`), whatever the working folder
 * is — notebooks run in `notebooks/`, scripts in the root. Absolute paths come back unchanged.
 *
 * @param path A path such as `"samples"` or `config.outDir`.
 * @returns An absolute path.
 * @example
 * ```ts
 * import { projectPath } from "./paths.ts";
 * if (!projectPath("samples").endsWith("/samples") || projectPath("/tmp") !== "/tmp") throw new Error();
 * ```
 */
export function projectPath(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

/**
 * The project's folder of sample images (drawn by `scripts/make_samples.ts`).
 *
 * @returns An absolute path.
 * @example
 * ```ts
 * import { defaultSamplesDir } from "./paths.ts";
 * if (!defaultSamplesDir().endsWith("samples")) throw new Error(defaultSamplesDir());
 * ```
 */
export function defaultSamplesDir(): string {
  return projectPath("samples");
}
