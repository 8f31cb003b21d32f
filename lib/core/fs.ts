/**
 * File-system helpers every layer shares: existence checks that tell "absent" from "unreadable",
 * atomic writes (temp file, then rename) and lenient JSON reads. One definition each, so "exists"
 * means the same thing in a run folder, a checkpoint and a data folder.
 * @module
 */

import { dirname } from "node:path";

/**
 * Whether anything (file, folder or link, even a dangling one) is at `path`.
 *
 * @param path The path to look at.
 * @returns `false` only when nothing is there; other errors (permissions) are thrown.
 * @example
 * ```ts
 * import { exists } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * if (!(await exists(dir)) || await exists(`${dir}/none`)) throw new Error("wrong answer");
 * await Deno.remove(dir);
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Whether `path` is a regular file (following links).
 *
 * @param path The path to look at.
 * @returns `false` when nothing is there, a parent is not a folder, or it is a folder.
 * @example
 * ```ts
 * import { isFile } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "a");
 * if (!(await isFile(`${dir}/a.txt`)) || await isFile(dir) || await isFile(`${dir}/a.txt/b`)) {
 *   throw new Error("wrong answer");
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function isFile(path: string): Promise<boolean> {
  return (await statOrNull(path))?.isFile ?? false;
}

/**
 * The file information of `path`, or null when nothing is there.
 *
 * @param path The path to look at (links are followed).
 * @returns Its `Deno.FileInfo`, or null for a missing path or a parent that is not a folder.
 * @example
 * ```ts
 * import { statOrNull } from "./fs.ts";
 * if (await statOrNull("/no/such/path") !== null) throw new Error("expected null");
 * ```
 */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

function randomSuffix(): string {
  // Not seeded on purpose: temp names only need to differ between concurrent writers.
  return crypto.randomUUID().slice(0, 8);
}

/**
 * Writes a file atomically: the data goes to `<path>.tmp-<random>` and is renamed onto `path`, so
 * readers see the old file or the new one, never a partial one. Creates missing parent folders.
 *
 * @param path The file to write.
 * @param data Bytes, or text written as UTF-8.
 * @returns Resolves once the file is in place.
 * @example
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a/b.txt`, "hello");
 * if (await Deno.readTextFile(`${dir}/a/b.txt`) !== "hello") throw new Error("not written");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${randomSuffix()}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw withPath(error, `Cannot write ${path}`);
  }
}

/**
 * Prefixes a file-system error's message with what was being done to which file, keeping the
 * error itself (its class, e.g. `Deno.errors.NotFound`, and stack): "No space left on device (os
 * error 28)" alone names neither.
 *
 * @param error The error caught.
 * @param action What failed, naming the path: `Cannot save checkpoint to runs/x/best-model`.
 * @returns The same error, its message now `<action>: <message>` (once, however often wrapped).
 * @example
 * ```ts
 * import { withPath } from "./fs.ts";
 * const error = withPath(new Deno.errors.NotFound("No such file"), "Cannot write /x/y.json");
 * if (!(error instanceof Deno.errors.NotFound) || error.message !== "Cannot write /x/y.json: No such file") {
 *   throw error;
 * }
 * ```
 */
export function withPath(error: unknown, action: string): unknown {
  if (error instanceof Error && !error.message.startsWith("Cannot ")) {
    error.message = `${action}: ${error.message}`;
  }
  return error;
}

/**
 * Writes a value as indented JSON, atomically (see `writeFileAtomic`).
 *
 * @param path The file to write.
 * @param value Anything `JSON.stringify` accepts; non-finite numbers become `null`.
 * @returns Resolves once the file is in place.
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/m.json`, { loss: 0.5 });
 * if (JSON.parse(await Deno.readTextFile(`${dir}/m.json`)).loss !== 0.5) throw new Error("bad json");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Reads a JSON object from a file, or null when the file is missing, unreadable as JSON, or holds
 * something other than an object: for optional metadata that must never stop a read.
 *
 * @param path The file to read.
 * @returns The parsed object, or null.
 * @example
 * ```ts
 * import { readJsonObjectOrNull } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.json`, "[1]");
 * if (await readJsonObjectOrNull(`${dir}/a.json`) !== null) throw new Error("an array is no object");
 * if (await readJsonObjectOrNull(`${dir}/none.json`) !== null) throw new Error("missing is null");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readJsonObjectOrNull(path: string): Promise<Record<string, unknown> | null> {
  try {
    const value: unknown = JSON.parse(await Deno.readTextFile(path));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}
