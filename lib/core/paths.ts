/**
 * Paths as people should read them in outputs that may be published: a notebook's captions and
 * messages, exported HTML, run listings. An absolute path names the machine it ran on (its user,
 * its folders) and means nothing to a reader elsewhere, so a path inside the project is shown
 * relative to the project, one under the home folder as `~/…`, one beside the project (in the
 * folder holding it, as a shared data set often is) as `../…`, and only others in full.
 * @module
 */

import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The project's root folder (the one holding `deno.json`), from this module's location; `.` where
 * the module is not loaded from a file (the browser page's bundle, which shows no paths).
 */
export const PROJECT_ROOT: string = new URL(import.meta.url).protocol === "file:"
  ? fileURLToPath(new URL("../..", import.meta.url)).replace(/[\\/]$/, "")
  : ".";

function homeFolder(): string | null {
  try {
    return Deno.env.get("HOME") || Deno.env.get("USERPROFILE") || null;
  } catch {
    return null; // no --allow-env: show such paths in full
  }
}

function inside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Where `displayPath` shows paths from. */
export interface DisplayPathOptions {
  /** Paths inside it are shown relative to it. @default PROJECT_ROOT */
  root?: string;
  /** Paths under it (and not inside `root`) are shown as `~/…`; null for none. @default $HOME */
  home?: string | null;
}

/**
 * A path as a published output shows it: relative to the project when inside it (`runs/2026…`,
 * `.` for the project itself), `~/…` when under the home folder, `../…` when beside the project
 * (in the folder holding it, unless that is `/`), else absolute. Relative input is taken against
 * the current folder.
 *
 * @param path The path.
 * @param options The project root and home folder (for tests).
 * @returns The path to print.
 * @example
 * ```ts
 * import { displayPath } from "./paths.ts";
 * const at = { root: "/home/ann/cifar", home: "/home/ann" };
 * if (displayPath("/home/ann/cifar/runs/r1", at) !== "runs/r1") throw new Error();
 * if (displayPath("/home/ann/data/c.tar.gz", at) !== "~/data/c.tar.gz") throw new Error();
 * if (displayPath("/srv/c.tar.gz", at) !== "/srv/c.tar.gz") throw new Error();
 * if (displayPath("/work/shared/c.tar.gz", { root: "/work/main" }) !== "../shared/c.tar.gz") {
 *   throw new Error();
 * }
 * ```
 */
export function displayPath(path: string, options: DisplayPathOptions = {}): string {
  const absolute = resolve(path);
  const root = resolve(options.root ?? PROJECT_ROOT);
  if (inside(absolute, root)) return relative(root, absolute) || ".";
  const home = options.home === undefined ? homeFolder() : options.home;
  if (home !== null && home !== "/" && inside(absolute, resolve(home))) {
    const rel = relative(resolve(home), absolute);
    return rel === "" ? "~" : `~${sep}${rel}`;
  }
  const parent = dirname(root);
  if (parent !== root && dirname(parent) !== parent && inside(absolute, parent)) {
    return relative(root, absolute);
  }
  return absolute;
}
