/**
 * CIFAR-10 data: find, download, verify, extract and parse the official binary archive
 * (`cifar-10-binary.tar.gz`) into NHWC byte arrays; split off a validation set; iterate batches.
 *
 * Where the data comes from, in order: `dataPath` (an archive, an extracted `cifar-10-batches-bin/`
 * folder, or a folder holding either), else the `CIFAR10_DATA` environment variable, else the
 * project's `data/` folder (an extracted folder, then an archive), else a download into `data/`.
 * An archive is extracted once into `data/cifar-10-batches-bin/` (atomically, with a marker
 * recording its md5), so later loads read the folder directly.
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  IMAGE_BYTES,
  META_FILE,
  NUM_CLASSES,
  RECORD_BYTES,
  RECORDS_PER_BATCH,
  recordsToNhwc,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "./format.ts";
import { readTarGz } from "./tar.ts";
import {
  createProgressBar,
  downloadFile,
  type DownloadProgress,
  type FetchFunction,
  md5File,
} from "./download.ts";
import { createRng, deriveSeed, shuffleInPlace } from "../core/random.ts";
import { generateSyntheticData, type SyntheticOptions } from "./synthetic.ts";

export {
  ARCHIVE_NAME,
  BATCH_FILE_BYTES,
  BATCHES_FOLDER,
  CHANNELS,
  CIFAR10_CLASSES,
  IMAGE_BYTES,
  IMAGE_SIZE,
  META_FILE,
  NUM_CLASSES,
  RECORD_BYTES,
  RECORDS_PER_BATCH,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "./format.ts";

/** Where the official archive is downloaded from. */
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/** md5 of the official archive. */
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
/** Marker written into an extracted folder, recording the archive it came from. */
export const EXTRACTED_MARKER = ".extracted.json";
/** Cache of archive checksums in the data folder, keyed by path, size and modification time. */
export const MD5_CACHE_FILE = ".md5-cache.json";

/**
 * A set of images. `images` holds `count × 32 × 32 × 3` bytes, NHWC (row by row, R, G, B
 * interleaved), converted from the file's CHW planes at load; `labels` holds `count` class indices.
 */
export interface ImageSet {
  /** Pixels, `count × 3072` bytes, NHWC. */
  images: Uint8Array;
  /** Class index (0–9) per image. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
}

/** Where loaded data came from and how far it was verified: for displays and run records. */
export interface DataSource {
  /** Downloaded now, read from an archive, read from an extracted folder, or synthetic. */
  kind: "download" | "archive" | "folder" | "synthetic";
  /** The archive or folder read (or a description for in-memory synthetic data). */
  path: string;
  /** The archive's md5 equals the official one, differs, or no archive was checked. */
  checksum: "official" | "unofficial" | "unchecked";
  /** The archive's md5 (hex), or null when no archive was involved. */
  md5: string | null;
  /** True for generated data: never present it as CIFAR-10. */
  synthetic: boolean;
  /** One line for people, e.g. `CIFAR-10 from archive "…" (official checksum)`. */
  description: string;
}

/** A loaded data set. */
export interface Cifar10Data {
  /** The 50,000 training images (the five training batches, in file order). */
  train: ImageSet;
  /** The 10,000 test images. */
  test: ImageSet;
  /** Class names in label order, from `batches.meta.txt`. */
  classNames: string[];
  /** Provenance. */
  source: DataSource;
}

/** Options of `loadCifar10`. */
export interface LoadOptions {
  /**
   * An archive, an extracted `cifar-10-batches-bin/` folder, or a folder holding either. Null or
   * absent: the `CIFAR10_DATA` environment variable if set, else the data folder.
   * @default null
   */
  dataPath?: string | null;
  /** Folder for the download, the extracted copy and caches. @default the project's `data/` */
  dataDir?: string;
  /** Download the archive when no copy is found. @default true */
  download?: boolean;
  /** Download URL. @default CIFAR10_URL */
  url?: string;
  /** md5 the download must have. @default CIFAR10_MD5 */
  expectedMd5?: string;
  /** The fetch used to download (for tests and proxies). @default globalThis.fetch */
  fetch?: FetchFunction;
  /** Download progress; null for silence. @default a progress bar on stderr */
  onProgress?: ((progress: DownloadProgress) => void) | null;
  /** One-line notices (e.g. an unofficial archive); null for silence. @default console.warn */
  onNotice?: ((message: string) => void) | null;
  /**
   * Generate a synthetic data set in memory instead (labelled synthetic everywhere); an object
   * sets its size and seed.
   * @default false
   */
  synthetic?: boolean | SyntheticOptions;
  /** Environment to read `CIFAR10_DATA` from. @default Deno.env (when permitted) */
  env?: Record<string, string | undefined>;
  /**
   * Records each batch file must hold (see `ReadFolderOptions`), for tests and cut-down copies.
   * @default 10000 (any count for folders marked synthetic)
   */
  recordsPerFile?: number | null;
}

/** What `readCifar10Folder` found. */
export interface FolderContents {
  /** Training images (the five batch files, in order). */
  train: ImageSet;
  /** Test images. */
  test: ImageSet;
  /** Class names from `batches.meta.txt`. */
  classNames: string[];
  /** True when the folder carries the synthetic marker file. */
  synthetic: boolean;
  /** First line of the synthetic marker, or null. */
  syntheticDescription: string | null;
}

/** Options of `readCifar10Folder`. */
export interface ReadFolderOptions {
  /** How to name the folder in errors (e.g. `archive.tar.gz:cifar-10-batches-bin`). @default the path */
  label?: string;
  /**
   * Records each batch file must hold; null accepts any positive number (any multiple of 3,073
   * bytes). @default 10000, or null when the folder carries the synthetic marker
   */
  recordsPerFile?: number | null;
}

/**
 * The project's `data/` folder, resolved from this module's location (not the working directory).
 *
 * @returns An absolute path.
 * @example
 * ```ts
 * import { defaultDataDir } from "./load.ts";
 * if (!defaultDataDir().endsWith("data")) throw new Error(defaultDataDir());
 * ```
 */
export function defaultDataDir(): string {
  const url = new URL("../../data", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url) : resolve("data");
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Parses one batch file's bytes (records of a label byte and R, G, B planes) into NHWC images.
 *
 * @param bytes The file's content.
 * @param options `name` for errors; `records`: the count required, or null for any (a multiple of
 *   3,073 bytes). Default 10,000.
 * @returns The images.
 * @throws {RangeError} On a wrong size or a label outside 0–9 (naming the record).
 * @example
 * ```ts
 * import { parseCifar10Batch, RECORD_BYTES } from "./load.ts";
 * const bytes = new Uint8Array(2 * RECORD_BYTES);
 * bytes[RECORD_BYTES] = 7; // label of record 1
 * bytes[1] = 200; // red of pixel 0 in record 0
 * const set = parseCifar10Batch(bytes, { name: "tiny.bin", records: null });
 * if (set.count !== 2 || set.labels[1] !== 7 || set.images[0] !== 200) throw new Error("bad parse");
 * ```
 */
export function parseCifar10Batch(
  bytes: Uint8Array,
  options: { name?: string; records?: number | null } = {},
): ImageSet {
  const name = options.name ?? "batch";
  const records = options.records === undefined ? RECORDS_PER_BATCH : options.records;
  checkBatchSize(bytes.length, name, records);
  const count = bytes.length / RECORD_BYTES;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  const bad = recordsToNhwc(bytes, { images, labels }, NUM_CLASSES);
  if (bad >= 0) throw badLabel(name, bad, bytes[bad * RECORD_BYTES]!);
  return { images, labels, count };
}

function checkBatchSize(size: number, name: string, records: number | null): void {
  if (records !== null) {
    if (size !== records * RECORD_BYTES) {
      throw new RangeError(
        `Cannot read CIFAR-10 batch "${name}": expected ${
          records * RECORD_BYTES
        } bytes, found ${size}`,
      );
    }
  } else if (size === 0 || size % RECORD_BYTES !== 0) {
    throw new RangeError(
      `Cannot read CIFAR-10 batch "${name}": expected a positive multiple of ${RECORD_BYTES} bytes, ` +
        `found ${size}`,
    );
  }
}

function badLabel(name: string, record: number, label: number): RangeError {
  return new RangeError(
    `Cannot read CIFAR-10 batch "${name}": record ${record} has label ${label}, expected 0–${
      NUM_CLASSES - 1
    }`,
  );
}

/**
 * Parses `batches.meta.txt`: one class name per line; blank lines are ignored.
 *
 * @param text The file's text.
 * @param name How to name the file in errors.
 * @returns The 10 class names.
 * @throws {RangeError} When there are not exactly 10 names.
 * @example
 * ```ts
 * import { CIFAR10_CLASSES, parseClassNames } from "./load.ts";
 * const names = parseClassNames(CIFAR10_CLASSES.join("\n") + "\n\n", "batches.meta.txt");
 * if (names.join() !== CIFAR10_CLASSES.join()) throw new Error("bad names");
 * ```
 */
export function parseClassNames(text: string, name: string = META_FILE): string[] {
  const names = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  if (names.length !== NUM_CLASSES) {
    throw new RangeError(
      `Cannot read class names "${name}": expected ${NUM_CLASSES} names, found ${names.length}`,
    );
  }
  return names;
}

/**
 * Reads an extracted `cifar-10-batches-bin/` folder: the five training batches, the test batch
 * and the class names, validating every file. Folders carrying `SYNTHETIC.txt` are synthetic data
 * sets: any record count per file is accepted and the result says `synthetic: true`.
 *
 * @param folder The folder.
 * @param options A label for errors and the required record count.
 * @returns Images, labels, class names and whether the data is synthetic.
 * @throws {Error} When a file is missing (naming it); {RangeError} on a wrong size, a bad label
 *   or a wrong class count.
 * @example Read an extracted folder (reads files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { readCifar10Folder } from "./load.ts";
 * const { train, test, classNames } = await readCifar10Folder("data/cifar-10-batches-bin");
 * // train.count 50000, test.count 10000, classNames[0] "airplane"
 * ```
 */
export async function readCifar10Folder(
  folder: string,
  options: ReadFolderOptions = {},
): Promise<FolderContents> {
  const label = options.label ?? folder;
  const batchFiles = [...TRAIN_BATCH_FILES, TEST_BATCH_FILE];

  // 1. Every file present, with a plausible size, before reading anything big.
  const sizes = new Map<string, number>();
  const missing: string[] = [];
  for (const file of [...batchFiles, META_FILE]) {
    const info = await statOrNull(join(folder, file));
    if (info === null || !info.isFile) missing.push(file);
    else sizes.set(file, info.size);
  }
  if (missing.length > 0) {
    const what = missing.includes(META_FILE) && missing.length === 1
      ? `class names "${META_FILE}"`
      : `CIFAR-10 batch "${missing[0]}"`;
    throw new Error(
      `Cannot find ${what} in "${label}" (missing: ${missing.join(", ")}): the folder is ` +
        `incomplete; delete it and run \`deno task data\` again, or pass --data with a complete copy`,
    );
  }
  const markerText = await Deno.readTextFile(join(folder, SYNTHETIC_MARKER)).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  });
  const synthetic = markerText !== null;
  const records = options.recordsPerFile !== undefined
    ? options.recordsPerFile
    : (synthetic ? null : RECORDS_PER_BATCH);
  for (const file of batchFiles) checkBatchSize(sizes.get(file)!, `${label}/${file}`, records);
  const classNames = parseClassNames(
    await Deno.readTextFile(join(folder, META_FILE)),
    `${label}/${META_FILE}`,
  );

  // 2. Read and convert each file straight into the combined arrays.
  let fileBuffer = new Uint8Array(0);
  const readSet = async (files: readonly string[]): Promise<ImageSet> => {
    const count = files.reduce((n, f) => n + sizes.get(f)! / RECORD_BYTES, 0);
    const images = new Uint8Array(count * IMAGE_BYTES);
    const labels = new Uint8Array(count);
    let first = 0;
    for (const file of files) {
      const expected = sizes.get(file)!;
      // One reused buffer for every file: reading each into a fresh array left ~180 MB of
      // garbage behind until V8 collected it, on top of the 184 MB the images need.
      if (fileBuffer.length < expected) fileBuffer = new Uint8Array(expected);
      const bytes = fileBuffer.subarray(0, expected);
      const found = await readExactly(join(folder, file), bytes);
      // The size may have changed since the stat (a file being replaced): check again.
      if (found !== expected) {
        throw new RangeError(
          `Cannot read CIFAR-10 batch "${label}/${file}": expected ${expected} bytes ` +
            `(its size a moment ago), found ${
              found > expected ? `more than ${expected}` : found
            }; was it being replaced?`,
        );
      }
      const n = bytes.length / RECORD_BYTES;
      const bad = recordsToNhwc(bytes, { images, labels, first }, NUM_CLASSES);
      if (bad >= 0) throw badLabel(`${label}/${file}`, bad, bytes[bad * RECORD_BYTES]!);
      first += n;
    }
    return { images, labels, count };
  };
  const train = await readSet(TRAIN_BATCH_FILES);
  const test = await readSet([TEST_BATCH_FILE]);
  const syntheticDescription = markerText === null
    ? null
    : (markerText.split("\n").find((line) => line.trim() !== "")?.trim() ?? "synthetic data set");
  return { train, test, classNames, synthetic, syntheticDescription };
}

// ---------------------------------------------------------------------------------------------
// Archives: checksum cache, extraction, markers.

/**
 * Reads a file into `into`; returns its size when it fits (the bytes read), or a larger number
 * when the file holds more than `into.length` bytes.
 */
async function readExactly(path: string, into: Uint8Array): Promise<number> {
  using file = await Deno.open(path, { read: true });
  let filled = 0;
  while (filled < into.length) {
    const n = await file.read(into.subarray(filled));
    if (n === null) return filled;
    filled += n;
  }
  // Anything beyond means the file grew.
  const extra = await file.read(new Uint8Array(1));
  return extra === null ? filled : filled + extra;
}

interface Md5CacheEntry {
  size: number;
  mtimeMs: number;
  md5: string;
}

async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
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
 * import { archiveMd5 } from "./load.ts";
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
    await Deno.mkdir(dataDir, { recursive: true });
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
  /** First heading of a README.md next to the archive, if any (describes unofficial copies). */
  readmeTitle: string | null;
  /** When it was extracted (ISO time). */
  extractedAt: string;
}

async function readMarker(folder: string): Promise<ExtractedMarker | null> {
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

/**
 * Extracts an archive's `cifar-10-batches-bin/` folder into `<dataDir>/cifar-10-batches-bin/`:
 * into a temporary folder first, validated by reading it completely, then renamed into place with
 * a marker recording the archive's md5. A damaged archive leaves nothing behind.
 *
 * @param archive The `.tar.gz` archive.
 * @param dataDir Where the folder goes.
 * @param options The archive's md5 (as computed by `archiveMd5`) and its checksum status.
 * @returns The final folder, its contents (already read, so callers need not read them again)
 *   and the marker.
 * @throws {SyntaxError} On corrupt or truncated gzip/tar data; {Error} when the archive holds no
 *   `cifar-10-batches-bin/` folder; and whatever `readCifar10Folder` throws.
 * @example Extract an archive (writes files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { archiveMd5, extractCifar10Archive } from "./load.ts";
 * const archive = "/path/to/cifar-10-binary.tar.gz";
 * const md5 = await archiveMd5(archive, "data");
 * const { folder } = await extractCifar10Archive(archive, "data", { md5, checksum: "unofficial" });
 * // folder: data/cifar-10-batches-bin, with .extracted.json recording the md5
 * ```
 */
export async function extractCifar10Archive(
  archive: string,
  dataDir: string,
  options: { md5: string; checksum: "official" | "unofficial"; recordsPerFile?: number | null },
): Promise<{ folder: string; contents: FolderContents; marker: ExtractedMarker }> {
  await Deno.mkdir(dataDir, { recursive: true });
  await removeStaleExtractions(dataDir);
  const tmp = await Deno.makeTempDir({ dir: dataDir, prefix: ".extract-" });
  try {
    // 1. Unpack the flat cifar-10-batches-bin/ folder, refusing unsafe paths.
    const staged = join(tmp, BATCHES_FOLDER);
    await Deno.mkdir(staged);
    const seen: string[] = [];
    let wanted = 0;
    for await (const entry of readTarGz(archive)) {
      const name = entry.name.replace(/^(\.\/)+/, "");
      if (seen.length < 8) seen.push(name);
      if (entry.type !== "file" || !name.startsWith(`${BATCHES_FOLDER}/`)) continue;
      const file = name.slice(BATCHES_FOLDER.length + 1);
      if (file === "" || file.includes("/") || file === ".." || file.startsWith(".")) continue;
      await Deno.writeFile(join(staged, file), entry.data);
      wanted++;
    }
    if (wanted === 0) {
      throw new Error(
        `Cannot use archive "${archive}": it holds no "${BATCHES_FOLDER}/" folder ` +
          `(first entries: ${seen.join(", ") || "none"})`,
      );
    }

    // 2. Validate by reading everything, then record where it came from.
    const contents = await readCifar10Folder(staged, {
      label: `${archive}:${BATCHES_FOLDER}`,
      recordsPerFile: options.recordsPerFile,
    });
    const marker: ExtractedMarker = {
      archivePath: await Deno.realPath(archive),
      archiveMd5: options.md5,
      archiveSize: (await Deno.stat(archive)).size,
      checksum: options.checksum,
      readmeTitle: await readmeTitle(archive),
      extractedAt: new Date().toISOString(),
    };
    await Deno.writeTextFile(
      join(staged, EXTRACTED_MARKER),
      JSON.stringify(marker, null, 2) + "\n",
    );

    // 3. Swap into place. Another process may be doing the same: if its folder from the same
    // archive won the race, keep that one.
    const folder = join(dataDir, BATCHES_FOLDER);
    for (let tries = 0; tries < 3; tries++) {
      if (await statOrNull(folder) !== null) {
        if ((await readMarker(folder))?.archiveMd5 === options.md5) break;
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
    return { folder, contents, marker };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Finding and loading.

function envDataPath(env: Record<string, string | undefined> | undefined): string | null {
  if (env) return env.CIFAR10_DATA || null;
  try {
    return Deno.env.get("CIFAR10_DATA") || null;
  } catch {
    return null; // No --allow-env: behave as if unset.
  }
}

function checksumText(checksum: DataSource["checksum"], md5: string | null): string {
  if (checksum === "official") return "official checksum";
  if (checksum === "unofficial") return `unofficial checksum: md5 ${md5}, official ${CIFAR10_MD5}`;
  return "checksum unchecked";
}

function unofficialNotice(archive: string, md5: string, title: string | null): string {
  return `Notice: "${archive}" is not the official CIFAR-10 archive (md5 ${md5}, official ` +
    `${CIFAR10_MD5}${title ? `; its README: "${title}"` : ""}); it passed the structural checks ` +
    `and is used as given.`;
}

function syntheticSource(path: string, contents: FolderContents): DataSource {
  const marker = contents.syntheticDescription ?? "";
  // The description must say "synthetic" whatever the marker file says.
  const text = /synthetic/i.test(marker)
    ? marker
    : `Synthetic data set, not CIFAR-10 ${marker}`.trim();
  return {
    kind: "synthetic",
    path,
    checksum: "unchecked",
    md5: null,
    synthetic: true,
    description:
      `${text} (from "${path}": ${contents.train.count} train / ${contents.test.count} ` +
      `test images)`,
  };
}

interface LoadSettings {
  dataDir: string;
  officialMd5: string;
  notice: (message: string) => void;
  recordsPerFile: number | null | undefined;
}

/** Loads from an archive, reusing `<dataDir>/cifar-10-batches-bin/` when its marker matches. */
async function loadArchive(
  archive: string,
  kind: "archive" | "download",
  settings: LoadSettings,
  knownMd5?: string,
): Promise<Cifar10Data> {
  const { dataDir, officialMd5, notice, recordsPerFile } = settings;
  const md5 = knownMd5 ?? await archiveMd5(archive, dataDir);
  const checksum: "official" | "unofficial" = md5 === officialMd5 ? "official" : "unofficial";
  const folder = join(dataDir, BATCHES_FOLDER);
  const marker = await readMarker(folder);
  let contents: FolderContents;
  let title: string | null;
  if (marker?.archiveMd5 === md5) {
    contents = await readCifar10Folder(folder, { recordsPerFile });
    title = marker.readmeTitle;
  } else {
    const extracted = await extractCifar10Archive(archive, dataDir, {
      md5,
      checksum,
      recordsPerFile,
    });
    contents = extracted.contents;
    title = extracted.marker.readmeTitle;
  }
  if (contents.synthetic) {
    const source = { ...syntheticSource(archive, contents), checksum, md5 };
    return { train: contents.train, test: contents.test, classNames: contents.classNames, source };
  }
  if (checksum === "unofficial") notice(unofficialNotice(archive, md5, title));
  const from = kind === "download" ? "downloaded archive" : "archive";
  return {
    train: contents.train,
    test: contents.test,
    classNames: contents.classNames,
    source: {
      kind,
      path: archive,
      checksum,
      md5,
      synthetic: false,
      description: `CIFAR-10 from ${from} "${archive}" (${checksumText(checksum, md5)}${
        title && checksum === "unofficial" ? `; README: "${title}"` : ""
      })`,
    },
  };
}

/** Loads an extracted folder given directly (no archive to compare with). */
async function loadFolder(folder: string, settings: LoadSettings): Promise<Cifar10Data> {
  const { notice, recordsPerFile } = settings;
  const contents = await readCifar10Folder(folder, { recordsPerFile });
  if (contents.synthetic) {
    const source = syntheticSource(folder, contents);
    return { train: contents.train, test: contents.test, classNames: contents.classNames, source };
  }
  const marker = await readMarker(folder);
  const checksum = marker?.checksum ?? "unchecked";
  const md5 = marker?.archiveMd5 ?? null;
  if (marker && checksum === "unofficial") {
    notice(unofficialNotice(marker.archivePath, marker.archiveMd5, marker.readmeTitle));
  }
  const origin = marker ? `extracted from "${marker.archivePath}", ` : "";
  return {
    train: contents.train,
    test: contents.test,
    classNames: contents.classNames,
    source: {
      kind: "folder",
      path: folder,
      checksum,
      md5,
      synthetic: false,
      description: `CIFAR-10 from folder "${folder}" (${origin}${checksumText(checksum, md5)}${
        marker?.readmeTitle && checksum === "unofficial" ? `; README: "${marker.readmeTitle}"` : ""
      })`,
    },
  };
}

/**
 * Loads CIFAR-10: finds a local copy (see the module docs for the order), or downloads the
 * official archive (md5-verified, resumable), extracts it once, and parses all 60,000 images into
 * NHWC byte arrays. An archive whose md5 is not the official one is accepted after the structural
 * checks with a one-line notice, and reported as `checksum: "unofficial"`. With `synthetic`, it
 * generates a small synthetic data set instead, reported as such.
 *
 * @param options Where to look, whether to download, progress and notices.
 * @returns Train and test images, class names and the source.
 * @throws {Error} When no copy is found and downloading is off or fails; {RangeError} or
 *   {SyntaxError} when a file is invalid (the message names the file, what was expected and found).
 * @example
 * ```ts
 * import { loadCifar10 } from "./load.ts";
 * const data = await loadCifar10({ synthetic: { imagesPerBatch: 20, testImages: 10 } });
 * if (data.train.count !== 100 || !data.source.synthetic) throw new Error("bad synthetic load");
 * ```
 */
export async function loadCifar10(options: LoadOptions = {}): Promise<Cifar10Data> {
  const notice = options.onNotice === null
    ? () => {}
    : (options.onNotice ?? ((message: string) => console.warn(message)));
  if (options.synthetic) {
    return generateSyntheticData(options.synthetic === true ? {} : options.synthetic);
  }
  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  const officialMd5 = (options.expectedMd5 ?? CIFAR10_MD5).toLowerCase();
  const dataPath = options.dataPath ?? envDataPath(options.env);
  const settings: LoadSettings = {
    dataDir,
    officialMd5,
    notice,
    recordsPerFile: options.recordsPerFile,
  };

  // 1. A path given: an archive, a batches folder, or a folder holding either.
  if (dataPath !== null) {
    const path = resolve(dataPath);
    const info = await statOrNull(path);
    if (info === null) {
      throw new Error(
        `Cannot find CIFAR-10 data at "${path}" (from --data / dataPath / CIFAR10_DATA): no such ` +
          `file or folder`,
      );
    }
    if (info.isFile) return loadArchive(path, "archive", settings);
    if (await statOrNull(join(path, TRAIN_BATCH_FILES[0]!))) return loadFolder(path, settings);
    if (await statOrNull(join(path, BATCHES_FOLDER))) {
      return loadFolder(join(path, BATCHES_FOLDER), settings);
    }
    if (await statOrNull(join(path, ARCHIVE_NAME))) {
      return loadArchive(join(path, ARCHIVE_NAME), "archive", settings);
    }
    throw new Error(
      `Cannot find CIFAR-10 data in folder "${path}": expected "${TRAIN_BATCH_FILES[0]}", a ` +
        `"${BATCHES_FOLDER}/" folder or "${ARCHIVE_NAME}" in it`,
    );
  }

  // 2. The data folder: an extracted copy (re-extracted if the archive beside it changed).
  const folder = join(dataDir, BATCHES_FOLDER);
  const archive = join(dataDir, ARCHIVE_NAME);
  const hasArchive = (await statOrNull(archive))?.isFile ?? false;
  if (hasArchive) return loadArchive(archive, "archive", settings);
  if (await statOrNull(folder)) return loadFolder(folder, settings);

  // 3. Download into the data folder.
  const url = options.url ?? CIFAR10_URL;
  if (options.download === false) {
    throw new Error(
      `Cannot find CIFAR-10 in "${dataDir}": no "${BATCHES_FOLDER}/" folder or "${ARCHIVE_NAME}"; ` +
        `run \`deno task data\` to download it from ${url}, or pass --data PATH (or set CIFAR10_DATA)`,
    );
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const result = await downloadFile(url, archive, {
    expectedMd5: officialMd5,
    fetch: options.fetch,
    onProgress: options.onProgress === undefined ? createProgressBar() : options.onProgress,
  });
  await archiveMd5(archive, dataDir); // Seed the cache so the next run skips hashing.
  return loadArchive(archive, "download", settings, result.md5);
}

// ---------------------------------------------------------------------------------------------
// Subsets, splits and batches.

/**
 * The first `limit` images of a set, as views (no copy).
 *
 * @param set The images.
 * @param limit How many to keep; null (or a number ≥ count) keeps all.
 * @returns A set sharing memory with `set`.
 * @throws {RangeError} When `limit` is not a non-negative integer.
 * @example
 * ```ts
 * import { subsetImages } from "./load.ts";
 * const set = { images: new Uint8Array(3 * 3072), labels: new Uint8Array([4, 5, 6]), count: 3 };
 * const first2 = subsetImages(set, 2);
 * if (first2.count !== 2 || first2.labels[1] !== 5 || first2.images.length !== 2 * 3072) {
 *   throw new Error("bad subset");
 * }
 * ```
 */
export function subsetImages(set: ImageSet, limit: number | null): ImageSet {
  if (limit === null) return set;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(
      `Cannot take a subset: expected limit ≥ 0 (an integer or null), found ${limit}`,
    );
  }
  const count = Math.min(limit, set.count);
  if (count === set.count) return set;
  return {
    images: set.images.subarray(0, count * IMAGE_BYTES),
    labels: set.labels.subarray(0, count),
    count,
  };
}

/** Index lists of a train/validation split. */
export interface DataSplit {
  /** Indices of training images, ascending. */
  trainIndices: Int32Array;
  /** Indices of validation images, ascending. */
  validIndices: Int32Array;
}

/**
 * Splits `count` images into training and validation indices, like the tutorial: a seeded
 * permutation whose first `floor(count × validFraction)` entries are the validation set. Both lists
 * are returned sorted ascending (order does not matter to a sampler; sorted reads are faster).
 * The same seed gives the same split; the two lists are disjoint and cover 0…count−1.
 *
 * @param count Number of images.
 * @param validFraction Fraction held out, in [0, 1); the validation size is
 *   `floor(count × validFraction)` (with a 1e-9 tolerance so that 0.29 × 100 gives 29).
 * @param seed The config's seed (the permutation uses `deriveSeed(seed, "split")`).
 * @returns The two index lists.
 * @throws {RangeError} On a bad count or fraction.
 * @example
 * ```ts
 * import { splitTrainValid } from "./load.ts";
 * const { trainIndices, validIndices } = splitTrainValid(50000, 0.2, 42);
 * if (trainIndices.length !== 40000 || validIndices.length !== 10000) throw new Error("bad sizes");
 * ```
 */
export function splitTrainValid(count: number, validFraction: number, seed: number): DataSplit {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`Cannot split: expected count to be an integer ≥ 0, found ${count}`);
  }
  if (!(validFraction >= 0 && validFraction < 1)) {
    throw new RangeError(`Cannot split: expected validFraction in [0, 1), found ${validFraction}`);
  }
  const validCount = Math.floor(count * validFraction + 1e-9);
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  shuffleInPlace(order, createRng(deriveSeed(seed, "split")));
  const validIndices = order.slice(0, validCount).sort();
  const trainIndices = order.slice(validCount).sort();
  return { trainIndices, validIndices };
}

/** One batch of images, gathered into fresh arrays. */
export interface Batch {
  /** `size × 3072` bytes, NHWC. */
  images: Uint8Array;
  /** Labels as int32 (what tfjs ops take). */
  labels: Int32Array;
  /** Images in this batch (the last one may be smaller). */
  size: number;
  /** Which images of the set these are. */
  indices: Int32Array;
}

/** Options of `iterateBatches`. */
export interface BatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** The config's seed. */
  seed: number;
  /** Epoch number: each epoch is shuffled differently. */
  epoch: number;
  /** Shuffle with `deriveSeed(seed, "shuffle", epoch)`; false keeps the order of `indices`. */
  shuffle: boolean;
}

/**
 * Yields batches of the given images, shuffled per epoch (reproducibly from seed and epoch) or in
 * order. The last, partial batch is kept. Options are checked when called, not at the first batch.
 *
 * @param set The images.
 * @param indices Which images to use (e.g. `split.trainIndices`).
 * @param options Batch size, seed, epoch and whether to shuffle.
 * @returns A generator of batches.
 * @throws {RangeError} On a bad batch size or an index outside the set.
 * @example
 * ```ts
 * import { iterateBatches } from "./load.ts";
 * const set = { images: new Uint8Array(5 * 3072), labels: new Uint8Array([0, 1, 2, 3, 4]), count: 5 };
 * const sizes = [...iterateBatches(set, new Int32Array([0, 1, 2, 3, 4]), {
 *   batchSize: 2, seed: 1, epoch: 0, shuffle: false,
 * })].map((b) => b.size);
 * if (sizes.join() !== "2,2,1") throw new Error(sizes.join());
 * ```
 */
export function iterateBatches(
  set: ImageSet,
  indices: Int32Array,
  options: BatchOptions,
): Generator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot iterate batches: expected batchSize ≥ 1 (an integer), found ${batchSize}`,
    );
  }
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!;
    if (index < 0 || index >= set.count) {
      throw new RangeError(
        `Cannot iterate batches: indices[${i}] is ${index}, expected 0…${set.count - 1}`,
      );
    }
  }
  const order = Int32Array.from(indices);
  if (options.shuffle) {
    shuffleInPlace(order, createRng(deriveSeed(options.seed, "shuffle", options.epoch)));
  }
  return (function* () {
    for (let start = 0; start < order.length; start += batchSize) {
      const batchIndices = order.subarray(start, Math.min(start + batchSize, order.length));
      const size = batchIndices.length;
      const images = new Uint8Array(size * IMAGE_BYTES);
      const labels = new Int32Array(size);
      for (let i = 0; i < size; i++) {
        const index = batchIndices[i]!;
        images.set(
          set.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES),
          i * IMAGE_BYTES,
        );
        labels[i] = set.labels[index]!;
      }
      yield { images, labels, size, indices: batchIndices };
    }
  })();
}

/**
 * Counts images per class.
 *
 * @param labels Class indices (e.g. `set.labels`).
 * @param options `indices` to count only those images; `numClasses` (default 10).
 * @returns Counts per class.
 * @example
 * ```ts
 * import { countLabels } from "./load.ts";
 * const counts = countLabels(new Uint8Array([0, 2, 2, 9]));
 * if (counts.join() !== "1,0,2,0,0,0,0,0,0,1") throw new Error(counts.join());
 * ```
 */
export function countLabels(
  labels: Uint8Array | Int32Array,
  options: { indices?: Int32Array; numClasses?: number } = {},
): number[] {
  const counts = new Array<number>(options.numClasses ?? NUM_CLASSES).fill(0);
  if (options.indices) {
    for (const i of options.indices) counts[labels[i]!]!++;
  } else {
    for (const label of labels) counts[label]!++;
  }
  return counts;
}
