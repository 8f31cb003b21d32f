/**
 * Loading CIFAR-10: find a copy, or download, verify and extract the official binary archive
 * (`cifar-10-binary.tar.gz`), and parse it into NHWC byte arrays, with a record of where it came
 * from (`DataSource`). The format lives in `format.ts`, the archive handling in `archive.ts`, and
 * the train/validation split and batches in `split.ts`.
 *
 * Where the data comes from, in order: `dataPath` (an archive, an extracted `cifar-10-batches-bin/`
 * folder, or a folder holding either), else the `CIFAR10_DATA` environment variable, else the
 * project's `data/` folder (its archive, reusing the extracted folder while the archive is unchanged;
 * else an extracted folder alone), else a download into `data/`.
 * An archive is extracted once into `data/cifar-10-batches-bin/` (atomically, with a marker
 * recording its md5), so later loads read the folder directly.
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isFile, statOrNull } from "../core/fs.ts";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  type Cifar10Data,
  type DataSource,
  type FolderContents,
  readCifar10Folder,
  TRAIN_BATCH_FILES,
} from "./format.ts";
import {
  archiveMd5,
  CIFAR10_MD5,
  CIFAR10_URL,
  extractCifar10Archive,
  readExtractedMarker,
} from "./archive.ts";
import {
  createProgressBar,
  downloadFile,
  type DownloadProgress,
  type FetchFunction,
} from "./download.ts";
import { generateSyntheticData, type SyntheticOptions } from "./synthetic.ts";

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
  const marker = await readExtractedMarker(folder);
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
  const marker = await readExtractedMarker(folder);
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
  if (await isFile(archive)) return loadArchive(archive, "archive", settings);
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
