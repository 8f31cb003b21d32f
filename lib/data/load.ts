/**
 * Loading CIFAR-10: find a copy, or download, verify and extract the official binary archive
 * (`cifar-10-binary.tar.gz`), and parse it into NHWC byte arrays, with a record of where it came
 * from (`DataSource`). Both official versions are read: the binary one and the Python one that
 * torchvision downloads (`cifar-10-python.tar.gz`, `cifar-10-batches-py/`). The formats live in
 * `format.ts` and `python_format.ts`, the archive handling in `archive.ts`, and the
 * train/validation split and batches in `split.ts`.
 *
 * Where the data comes from, in order:
 * 1. `dataPath`, else the `CIFAR10_DATA` environment variable: an archive of either version, an
 *    extracted `cifar-10-batches-bin/` or `cifar-10-batches-py/` folder, or a folder holding one
 *    of these (looked for in that order: `cifar-10-batches-bin/`, `cifar-10-binary.tar.gz`,
 *    `cifar-10-batches-py/`, `cifar-10-python.tar.gz`).
 * 2. Else the project's `data/` folder: `cifar-10-binary.tar.gz` (reusing its extracted folder
 *    while the archive is unchanged), else `cifar-10-batches-bin/`, else `cifar-10-python.tar.gz`
 *    (the same way), else `cifar-10-batches-py/`: what `datasets.CIFAR10(root="data",
 *    download=True)` leaves is found as it is.
 * 3. Else a download of the binary version into `data/`.
 *
 * An archive is extracted once into `data/cifar-10-batches-bin/` or `data/cifar-10-batches-py/`
 * (atomically, with a marker recording its md5), so later loads read the folder directly. Each
 * version's official md5 is checked; a copy whose md5 differs is used after the structural checks,
 * with a one-line notice.
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isFile, statOrNull } from "../core/fs.ts";
import { displayPath } from "../core/paths.ts";
import {
  ARCHIVE_NAME,
  BATCHES_FOLDER,
  type Cifar10Data,
  type DataSource,
  type DataVersion,
  type FolderContents,
  readCifar10Folder,
  TRAIN_BATCH_FILES,
} from "./format.ts";
import {
  PYTHON_ARCHIVE_NAME,
  PYTHON_BATCHES_FOLDER,
  PYTHON_TRAIN_BATCH_FILES,
  readCifar10PythonFolder,
} from "./python_format.ts";
import {
  archiveMd5,
  batchesFolder,
  CIFAR10_MD5,
  CIFAR10_PYTHON_MD5,
  CIFAR10_URL,
  extractCifar10Archive,
  type ExtractedMarker,
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
   * An archive (binary or Python version), an extracted `cifar-10-batches-bin/` or
   * `cifar-10-batches-py/` folder, or a folder holding one of these. Null or absent: the
   * `CIFAR10_DATA` environment variable if set, else the data folder.
   * @default null
   */
  dataPath?: string | null;
  /** Folder for the download, the extracted copy and caches. @default the project's `data/` */
  dataDir?: string;
  /** Download the archive when no copy is found. @default true */
  download?: boolean;
  /** Download URL. @default CIFAR10_URL */
  url?: string;
  /** md5 the download must have, and the binary version's official md5. @default CIFAR10_MD5 */
  expectedMd5?: string;
  /** The Python version's official md5. @default CIFAR10_PYTHON_MD5 */
  expectedPythonMd5?: string;
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

/** How a version is named in descriptions: `CIFAR-10` or `CIFAR-10 (Python version)`. */
function versionTitle(version: DataVersion): string {
  return version === "python" ? "CIFAR-10 (Python version)" : "CIFAR-10";
}

function checksumText(
  checksum: DataSource["checksum"],
  md5: string | null,
  official: string,
): string {
  if (checksum === "official") return "official checksum";
  if (checksum === "unofficial") return `unofficial checksum: md5 ${md5}, official ${official}`;
  return "checksum unchecked";
}

function unofficialNotice(
  archive: string,
  md5: string,
  title: string | null,
  version: DataVersion,
  official: string,
): string {
  const what = version === "python"
    ? "the official CIFAR-10 archive (Python version)"
    : "the official CIFAR-10 archive";
  return `Notice: "${displayPath(archive)}" is not ${what} (md5 ${md5}, official ` +
    `${official}${title ? `; its README: "${title}"` : ""}); it passed the structural checks ` +
    `and is used as given.`;
}

function syntheticSource(path: string, contents: FolderContents, version: DataVersion): DataSource {
  const marker = contents.syntheticDescription ?? "";
  // The description must say "synthetic" whatever the marker file says.
  const text = /synthetic/i.test(marker)
    ? marker
    : `Synthetic data set, not CIFAR-10 ${marker}`.trim();
  const layout = version === "python" ? ", in the Python version's layout" : "";
  return {
    kind: "synthetic",
    path,
    checksum: "unchecked",
    md5: null,
    synthetic: true,
    version,
    description:
      `${text} (from "${
        displayPath(path)
      }"${layout}: ${contents.train.count} train / ${contents.test.count} ` +
      `test images)`,
  };
}

interface LoadSettings {
  dataDir: string;
  officialMd5: Record<DataVersion, string>;
  notice: (message: string) => void;
  recordsPerFile: number | null | undefined;
}

/** Loaded contents, as `loadCifar10` returns them. */
function loaded(contents: FolderContents, source: DataSource, folder: string): Cifar10Data {
  return {
    train: contents.train,
    test: contents.test,
    classNames: contents.classNames,
    source,
    folder,
  };
}

/**
 * Loads from an archive of either version, reusing `<dataDir>/cifar-10-batches-bin/` or
 * `<dataDir>/cifar-10-batches-py/` when its marker records the archive's md5.
 */
async function loadArchive(
  archive: string,
  kind: "archive" | "download",
  settings: LoadSettings,
  knownMd5?: string,
): Promise<Cifar10Data> {
  const { dataDir, officialMd5, notice, recordsPerFile } = settings;
  const md5 = knownMd5 ?? await archiveMd5(archive, dataDir);
  const checksum: "official" | "unofficial" =
    md5 === officialMd5.binary || md5 === officialMd5.python ? "official" : "unofficial";
  let reused: { version: DataVersion; marker: ExtractedMarker } | null = null;
  for (const version of ["binary", "python"] as const) {
    const marker = await readExtractedMarker(join(dataDir, batchesFolder(version)));
    if (marker?.archiveMd5 === md5) {
      reused = { version, marker };
      break;
    }
  }
  let contents: FolderContents;
  let title: string | null;
  let version: DataVersion;
  if (reused !== null) {
    version = reused.version;
    const read = version === "python" ? readCifar10PythonFolder : readCifar10Folder;
    contents = await read(join(dataDir, batchesFolder(version)), { recordsPerFile });
    title = reused.marker.readmeTitle;
  } else {
    const extracted = await extractCifar10Archive(archive, dataDir, {
      md5,
      checksum,
      recordsPerFile,
      onNotice: notice,
    });
    contents = extracted.contents;
    title = extracted.marker.readmeTitle;
    version = extracted.version;
  }
  const folder = join(dataDir, batchesFolder(version));
  if (contents.synthetic) {
    return loaded(
      contents,
      { ...syntheticSource(archive, contents, version), checksum, md5 },
      folder,
    );
  }
  const official = officialMd5[version];
  if (checksum === "unofficial") notice(unofficialNotice(archive, md5, title, version, official));
  const from = kind === "download" ? "downloaded archive" : "archive";
  return loaded(contents, {
    kind,
    path: archive,
    checksum,
    md5,
    synthetic: false,
    version,
    description: `${versionTitle(version)} from ${from} "${displayPath(archive)}" (${
      checksumText(checksum, md5, official)
    }${title && checksum === "unofficial" ? `; README: "${title}"` : ""})`,
  }, folder);
}

/** Loads an extracted folder of either version given directly (no archive to compare with). */
async function loadFolder(
  folder: string,
  version: DataVersion,
  settings: LoadSettings,
): Promise<Cifar10Data> {
  const { notice, recordsPerFile } = settings;
  const read = version === "python" ? readCifar10PythonFolder : readCifar10Folder;
  const contents = await read(folder, { recordsPerFile });
  if (contents.synthetic) {
    return loaded(contents, syntheticSource(folder, contents, version), folder);
  }
  const marker = await readExtractedMarker(folder);
  const checksum = marker?.checksum ?? "unchecked";
  const md5 = marker?.archiveMd5 ?? null;
  const official = settings.officialMd5[version];
  if (marker && checksum === "unofficial") {
    notice(
      unofficialNotice(
        marker.archivePath,
        marker.archiveMd5,
        marker.readmeTitle,
        version,
        official,
      ),
    );
  }
  const origin = marker ? `extracted from "${displayPath(marker.archivePath)}", ` : "";
  return loaded(contents, {
    kind: "folder",
    path: folder,
    checksum,
    md5,
    synthetic: false,
    version,
    description: `${versionTitle(version)} from folder "${displayPath(folder)}" (${origin}${
      checksumText(checksum, md5, official)
    }${
      marker?.readmeTitle && checksum === "unofficial" ? `; README: "${marker.readmeTitle}"` : ""
    })`,
  }, folder);
}

/**
 * Loads CIFAR-10: finds a local copy of the binary or the Python version (see the module docs for
 * the order), or downloads the official binary archive (md5-verified, resumable), extracts it
 * once, and parses all 60,000 images into NHWC byte arrays. An archive whose md5 is not its
 * version's official one is accepted after the structural checks with a one-line notice, and
 * reported as `checksum: "unofficial"`. With `synthetic`, it generates a small synthetic data set
 * instead, reported as such.
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
  const officialMd5 = {
    binary: (options.expectedMd5 ?? CIFAR10_MD5).toLowerCase(),
    python: (options.expectedPythonMd5 ?? CIFAR10_PYTHON_MD5).toLowerCase(),
  };
  const dataPath = options.dataPath ?? envDataPath(options.env);
  const settings: LoadSettings = {
    dataDir,
    officialMd5,
    notice,
    recordsPerFile: options.recordsPerFile,
  };

  // 1. A path given: an archive, a batches folder of either version, or a folder holding one.
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
    if (await statOrNull(join(path, TRAIN_BATCH_FILES[0]!))) {
      return loadFolder(path, "binary", settings);
    }
    if (await statOrNull(join(path, PYTHON_TRAIN_BATCH_FILES[0]!))) {
      return loadFolder(path, "python", settings);
    }
    if (await statOrNull(join(path, BATCHES_FOLDER))) {
      return loadFolder(join(path, BATCHES_FOLDER), "binary", settings);
    }
    if (await statOrNull(join(path, ARCHIVE_NAME))) {
      return loadArchive(join(path, ARCHIVE_NAME), "archive", settings);
    }
    if (await statOrNull(join(path, PYTHON_BATCHES_FOLDER))) {
      return loadFolder(join(path, PYTHON_BATCHES_FOLDER), "python", settings);
    }
    if (await statOrNull(join(path, PYTHON_ARCHIVE_NAME))) {
      return loadArchive(join(path, PYTHON_ARCHIVE_NAME), "archive", settings);
    }
    throw new Error(
      `Cannot find CIFAR-10 data in folder "${path}": expected "${TRAIN_BATCH_FILES[0]}" or ` +
        `"${PYTHON_TRAIN_BATCH_FILES[0]}", a "${BATCHES_FOLDER}/" or "${PYTHON_BATCHES_FOLDER}/" ` +
        `folder, or "${ARCHIVE_NAME}" or "${PYTHON_ARCHIVE_NAME}" in it`,
    );
  }

  // 2. The data folder: an archive (its extracted copy reused while unchanged), else an extracted
  // folder; the binary version first, then the Python version.
  for (const version of ["binary", "python"] as const) {
    const archive = join(dataDir, version === "python" ? PYTHON_ARCHIVE_NAME : ARCHIVE_NAME);
    const folder = join(dataDir, batchesFolder(version));
    if (await isFile(archive)) return loadArchive(archive, "archive", settings);
    if (await statOrNull(folder)) return loadFolder(folder, version, settings);
  }

  // 3. Download the binary version into the data folder.
  const url = options.url ?? CIFAR10_URL;
  const archive = join(dataDir, ARCHIVE_NAME);
  if (options.download === false) {
    throw new Error(
      `Cannot find CIFAR-10 in "${dataDir}": no "${BATCHES_FOLDER}/" folder or "${ARCHIVE_NAME}" ` +
        `(nor the Python version's "${PYTHON_BATCHES_FOLDER}/" or "${PYTHON_ARCHIVE_NAME}"); run ` +
        `\`deno task data\` to download it from ${url}, or pass --data PATH (or set CIFAR10_DATA)`,
    );
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const result = await downloadFile(url, archive, {
    expectedMd5: officialMd5.binary,
    fetch: options.fetch,
    onProgress: options.onProgress === undefined ? createProgressBar() : options.onProgress,
  });
  await archiveMd5(archive, dataDir); // Seed the cache so the next run skips hashing.
  return loadArchive(archive, "download", settings, result.md5);
}
