/**
 * The CIFAR-10 archives on disk, binary version (`cifar-10-binary.tar.gz`) or Python version
 * (`cifar-10-python.tar.gz`): their md5 (cached per path, size and modification time), their atomic
 * extraction into `<dataDir>/cifar-10-batches-bin/` or `<dataDir>/cifar-10-batches-py/` with a
 * marker recording the archive, and the clean-up of extraction folders that a killed process left
 * behind.
 * @module
 */

import { dirname, join } from "node:path";
import { statOrNull, writeFileAtomic } from "../core/fs.ts";
import { displayPath } from "../core/paths.ts";
import {
  BATCHES_FOLDER,
  type DataVersion,
  type FolderContents,
  readCifar10Folder,
} from "./format.ts";
import { PYTHON_BATCHES_FOLDER, readCifar10PythonFolder } from "./python_format.ts";
import { md5File } from "./download.ts";
import { readTarGz } from "./tar.ts";

/** Where the official archive is downloaded from. */
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/** md5 of the official archive. */
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
/** md5 of the official Python version's archive, `cifar-10-python.tar.gz` (as torchvision checks it). */
export const CIFAR10_PYTHON_MD5 = "c58f30108f718f92721af3b95e74349a";

/**
 * The folder a version's archive unpacks to, and so the folder its extracted copy has in the data
 * folder.
 *
 * @param version `binary` or `python`.
 * @returns `cifar-10-batches-bin` or `cifar-10-batches-py`.
 * @example
 * ```ts
 * import { batchesFolder } from "./archive.ts";
 * if (batchesFolder("python") !== "cifar-10-batches-py") throw new Error(batchesFolder("python"));
 * ```
 */
export function batchesFolder(version: DataVersion): string {
  return version === "python" ? PYTHON_BATCHES_FOLDER : BATCHES_FOLDER;
}
/** Marker written into an extracted folder, recording the archive it came from. */
export const EXTRACTED_MARKER = ".extracted.json";
/** Cache of archive checksums in the data folder, keyed by path, size and modification time. */
export const MD5_CACHE_FILE = ".md5-cache.json";

interface Md5CacheEntry {
  size: number;
  mtimeMs: number;
  md5: string;
}

/**
 * The md5 of an archive, computed once and cached in `<dataDir>/.md5-cache.json` under its path,
 * size and modification time (hashing the 170 MB archive takes about a second).
 *
 * @param archive The archive.
 * @param dataDir Folder holding the cache (not written if it cannot be).
 * @returns The md5 (hex).
 * @example Hash once, then read the cache (reads files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { archiveMd5 } from "./archive.ts";
 * const md5 = await archiveMd5("/path/to/cifar-10-binary.tar.gz", "data"); // ~1 s
 * const again = await archiveMd5("/path/to/cifar-10-binary.tar.gz", "data"); // instant
 * ```
 */
export async function archiveMd5(archive: string, dataDir: string): Promise<string> {
  const path = await Deno.realPath(archive);
  const info = await Deno.stat(path);
  const stamp = { size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
  const cachePath = join(dataDir, MD5_CACHE_FILE);
  let cache: Record<string, Md5CacheEntry> = {};
  try {
    const parsed = JSON.parse(await Deno.readTextFile(cachePath));
    if (parsed && typeof parsed === "object") cache = parsed;
  } catch {
    // No cache yet, or unreadable: recompute.
  }
  const hit = cache[path];
  if (
    hit && hit.size === stamp.size && hit.mtimeMs === stamp.mtimeMs &&
    /^[0-9a-f]{32}$/.test(hit.md5)
  ) {
    return hit.md5;
  }
  const md5 = await md5File(path);
  cache[path] = { ...stamp, md5 };
  try {
    await writeFileAtomic(cachePath, JSON.stringify(cache, null, 2) + "\n");
  } catch {
    // A read-only data folder only costs a recomputation next time.
  }
  return md5;
}

/** Contents of the marker written into an extracted folder. */
export interface ExtractedMarker {
  /** The archive extracted (absolute path). */
  archivePath: string;
  /** Its md5. */
  archiveMd5: string;
  /** Its size in bytes. */
  archiveSize: number;
  /** Whether its md5 was the official one. */
  checksum: "official" | "unofficial";
  /** The version it held (absent in markers written before the Python version was read: binary). */
  version?: DataVersion;
  /** First heading of a README.md next to the archive, if any (describes unofficial copies). */
  readmeTitle: string | null;
  /** When it was extracted (ISO time). */
  extractedAt: string;
}

/**
 * Reads the marker of an extracted folder.
 *
 * @param folder An extracted `cifar-10-batches-bin/` or `cifar-10-batches-py/` folder.
 * @returns The marker, or null when the folder has none (or an unreadable one).
 * @example
 * ```ts
 * import { readExtractedMarker } from "./archive.ts";
 * if (await readExtractedMarker("/no/such/folder") !== null) throw new Error("expected null");
 * ```
 */
export async function readExtractedMarker(folder: string): Promise<ExtractedMarker | null> {
  try {
    const marker = JSON.parse(await Deno.readTextFile(join(folder, EXTRACTED_MARKER)));
    return typeof marker?.archiveMd5 === "string" ? marker as ExtractedMarker : null;
  } catch {
    return null;
  }
}

async function readmeTitle(archive: string): Promise<string | null> {
  try {
    const text = await Deno.readTextFile(join(dirname(archive), "README.md"));
    const heading = text.split("\n").find((line) => line.startsWith("#"));
    return heading ? heading.replace(/^#+\s*/, "").trim() : null;
  } catch {
    return null;
  }
}

/** Temporary extraction folders older than this were left by a killed process. */
const STALE_EXTRACTION_MS = 60 * 60 * 1000;

/** Removes `.extract-*` folders that a killed process left (never trusted; just disk space). */
async function removeStaleExtractions(dataDir: string): Promise<void> {
  for await (const entry of Deno.readDir(dataDir)) {
    if (!entry.isDirectory || !entry.name.startsWith(".extract-")) continue;
    const path = join(dataDir, entry.name);
    const modified = (await statOrNull(path))?.mtime?.getTime() ?? Date.now();
    if (Date.now() - modified > STALE_EXTRACTION_MS) {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    }
  }
}

/** Whether a folder's marker names an archive still on disk with the md5 it had: re-extractable. */
async function recoverable(marker: ExtractedMarker | null, dataDir: string): Promise<boolean> {
  if (marker === null) return false;
  const info = await statOrNull(marker.archivePath);
  if (info === null || !info.isFile || info.size !== marker.archiveSize) return false;
  return await archiveMd5(marker.archivePath, dataDir).catch(() => null) === marker.archiveMd5;
}

/** Whether `folder` holds only files of `staged` (its marker aside), byte for byte. */
async function sameFiles(folder: string, staged: string): Promise<boolean> {
  for await (const entry of Deno.readDir(folder)) {
    if (entry.name === EXTRACTED_MARKER) continue;
    if (!entry.isFile) return false;
    const theirs = await statOrNull(join(staged, entry.name));
    const mine = await Deno.stat(join(folder, entry.name));
    if (theirs === null || theirs.size !== mine.size) return false;
    const [a, b] = await Promise.all([
      Deno.readFile(join(folder, entry.name)),
      Deno.readFile(join(staged, entry.name)),
    ]);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  }
  return true;
}

/** Renames `folder` to `<folder>.kept-<time>` (a free name); returns the new path. */
async function keepAside(folder: string): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  for (let n = 0;; n++) {
    const kept = `${folder}.kept-${stamp}${n === 0 ? "" : `-${n}`}`;
    if (await statOrNull(kept) !== null) continue;
    await Deno.rename(folder, kept);
    return kept;
  }
}

/**
 * Extracts an archive's `cifar-10-batches-bin/` folder (binary version) or `cifar-10-batches-py/`
 * folder (Python version) into the folder of that name in `dataDir`: into a temporary folder
 * first, validated by reading it completely, then renamed into place with a marker recording the
 * archive's md5. A damaged archive leaves nothing behind. An archive holding both is read as the
 * version of its first batches entry.
 *
 * @param archive The `.tar.gz` archive.
 * @param dataDir Where the folder goes.
 * @param options The archive's md5 (as computed by `archiveMd5`) and its checksum status.
 * @returns The final folder, the version it holds, its contents (already read, so callers need
 *   not read them again) and the marker.
 * @throws {SyntaxError} On corrupt or truncated gzip/tar data; {Error} when the archive holds
 *   neither folder; and whatever `readCifar10Folder` or `readCifar10PythonFolder` throws.
 * @example Extract an archive (writes files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { archiveMd5, extractCifar10Archive } from "./archive.ts";
 * const archive = "/path/to/cifar-10-binary.tar.gz";
 * const md5 = await archiveMd5(archive, "data");
 * const { folder } = await extractCifar10Archive(archive, "data", { md5, checksum: "unofficial" });
 * // folder: data/cifar-10-batches-bin, with .extracted.json recording the md5
 * ```
 */
export async function extractCifar10Archive(
  archive: string,
  dataDir: string,
  options: {
    md5: string;
    checksum: "official" | "unofficial";
    recordsPerFile?: number | null;
    /** Receives the notice when a folder in the way is kept aside. */
    onNotice?: (line: string) => void;
  },
): Promise<
  { folder: string; version: DataVersion; contents: FolderContents; marker: ExtractedMarker }
> {
  await Deno.mkdir(dataDir, { recursive: true });
  await removeStaleExtractions(dataDir);
  const tmp = await Deno.makeTempDir({ dir: dataDir, prefix: ".extract-" });
  try {
    // 1. Unpack the flat batches folder of the first version seen, refusing unsafe paths.
    const seen: string[] = [];
    let version: DataVersion | null = null;
    let staged = "";
    let wanted = 0;
    for await (const entry of readTarGz(archive)) {
      const name = entry.name.replace(/^(\.\/)+/, "");
      if (seen.length < 8) seen.push(name);
      if (entry.type !== "file") continue;
      const top = name.slice(0, name.indexOf("/"));
      const entryVersion: DataVersion | null = top === BATCHES_FOLDER
        ? "binary"
        : top === PYTHON_BATCHES_FOLDER
        ? "python"
        : null;
      if (entryVersion === null || (version !== null && entryVersion !== version)) continue;
      const file = name.slice(top.length + 1);
      if (file === "" || file.includes("/") || file === ".." || file.startsWith(".")) continue;
      if (version === null) {
        version = entryVersion;
        staged = join(tmp, batchesFolder(version));
        await Deno.mkdir(staged);
      }
      await Deno.writeFile(join(staged, file), entry.data);
      wanted++;
    }
    if (version === null || wanted === 0) {
      throw new Error(
        `Cannot use archive "${archive}": it holds no "${BATCHES_FOLDER}/" folder (binary ` +
          `version) or "${PYTHON_BATCHES_FOLDER}/" folder (Python version) (first entries: ${
            seen.join(", ") || "none"
          })`,
      );
    }

    // 2. Validate by reading everything, then record where it came from.
    const read = version === "python" ? readCifar10PythonFolder : readCifar10Folder;
    const contents = await read(staged, {
      label: `${archive}:${batchesFolder(version)}`,
      recordsPerFile: options.recordsPerFile,
    });
    const marker: ExtractedMarker = {
      archivePath: await Deno.realPath(archive),
      archiveMd5: options.md5,
      archiveSize: (await Deno.stat(archive)).size,
      checksum: options.checksum,
      version,
      readmeTitle: await readmeTitle(archive),
      extractedAt: new Date().toISOString(),
    };
    await Deno.writeTextFile(
      join(staged, EXTRACTED_MARKER),
      JSON.stringify(marker, null, 2) + "\n",
    );

    // 3. Swap into place. Another process may be doing the same: if its folder from the same
    // archive won the race, keep that one. A folder there that cannot be made again (not
    // extracted from an archive still on disk, and not what this archive holds) may be someone's
    // only copy: it is kept beside, under a new name, and never deleted.
    const folder = join(dataDir, batchesFolder(version));
    for (let tries = 0; tries < 3; tries++) {
      if (await statOrNull(folder) !== null) {
        const existing = await readExtractedMarker(folder);
        if (existing?.archiveMd5 === options.md5) break;
        if (!(await recoverable(existing, dataDir)) && !(await sameFiles(folder, staged))) {
          const kept = await keepAside(folder);
          options.onNotice?.(
            `Notice: "${displayPath(folder)}/" was not extracted from an archive that is still ` +
              `on disk, so it is kept as "${displayPath(kept)}/" (remove it when it is not needed)`,
          );
          continue;
        }
        await Deno.rename(folder, join(tmp, `old-${tries}`)).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
      try {
        await Deno.rename(staged, folder);
        break;
      } catch (error) {
        if (tries === 2) throw error;
      }
    }
    return { folder, version, contents, marker };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
