/**
 * The benchmarks' real data: `--data` read as every other command reads it (`loadCifar10`: an
 * archive of the binary or the Python version, an extracted `cifar-10-batches-bin/` or
 * `cifar-10-batches-py/` folder, or a folder holding one), verified, and extracted once into the
 * project's `data/` folder; then handed to both sides as one binary `cifar-10-batches-bin/` folder,
 * the layout `bench/ours.ts` and `bench/pytorch_tutorial.py` read. The Python version is converted
 * into that layout in a temporary folder, removed by `cleanup()`.
 * @module
 */

import { join } from "node:path";
import { loadCifar10 } from "../lib/data/load.ts";
import {
  BATCHES_FOLDER,
  type ImageSet,
  META_FILE,
  nhwcToRecords,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "../lib/data/format.ts";

/** What both sides of a benchmark read. */
export interface BenchData {
  /** A folder holding `cifar-10-batches-bin/`'s files (what `--data` gives each side). */
  folder: string;
  /** Where the data came from, for the report, e.g. `CIFAR-10 from archive "…" (…)`. */
  description: string;
  /** Whether the data is a synthetic set (never reported as CIFAR-10). */
  synthetic: boolean;
  /** True when the folder is a converted copy (the source was the Python version). */
  converted: boolean;
  /** Removes the converted copy, if any. */
  cleanup(): Promise<void>;
}

/** Options of {@link prepareBenchData}. */
export interface BenchDataOptions {
  /** The data folder for extraction and caches. @default the project's `data/` */
  dataDir?: string;
  /** Receives notices and progress lines. @default console.error */
  log?: (line: string) => void;
}

function slice(set: ImageSet, first: number, count: number) {
  return {
    images: set.images.subarray(first * 3072, (first + count) * 3072),
    labels: set.labels.subarray(first, first + count),
    count,
  };
}

/**
 * Resolves `--data` like every command, then returns a binary batches folder both sides can read.
 *
 * @param dataPath What the user passed with `--data` (already absolute, or relative to the working
 *   directory).
 * @param options The data folder and where notices go.
 * @returns The folder, its description, and how to remove a converted copy.
 * @throws {Error} What `loadCifar10` throws for a missing or invalid copy (naming the path); it
 *   never downloads.
 * @example Resolve an archive for both sides (reads files, so not run by `deno test --doc`)
 * ```ts ignore
 * import { prepareBenchData } from "./bench_data.ts";
 * const data = await prepareBenchData("/path/to/cifar-10-python.tar.gz");
 * // data.folder: a temporary folder with cifar-10-batches-bin/ converted from the pickles
 * await data.cleanup();
 * ```
 */
export async function prepareBenchData(
  dataPath: string,
  options: BenchDataOptions = {},
): Promise<BenchData> {
  const log = options.log ?? ((line: string) => console.error(line));
  const data = await loadCifar10({
    dataPath,
    dataDir: options.dataDir,
    download: false,
    onNotice: log,
  });
  const { description, synthetic } = data.source;
  if (data.source.version !== "python" && data.folder !== undefined) {
    return {
      folder: data.folder,
      description,
      synthetic,
      converted: false,
      cleanup: async () => {},
    };
  }
  // The Python version: both sides read the binary layout, so write the same images in it.
  const folder = await Deno.makeTempDir({ prefix: "cifar10-bench-binary-" });
  try {
    const inner = join(folder, BATCHES_FOLDER);
    await Deno.mkdir(inner);
    const files = TRAIN_BATCH_FILES.length;
    if (data.train.count < files) {
      throw new RangeError(
        `Cannot convert "${dataPath}" for the benchmark: expected at least ${files} training ` +
          `images, found ${data.train.count}`,
      );
    }
    let first = 0;
    for (const [i, name] of TRAIN_BATCH_FILES.entries()) {
      const count = Math.floor((data.train.count * (i + 1)) / files) - first;
      await Deno.writeFile(join(inner, name), nhwcToRecords(slice(data.train, first, count)));
      first += count;
    }
    await Deno.writeFile(join(inner, TEST_BATCH_FILE), nhwcToRecords(data.test));
    await Deno.writeTextFile(join(inner, META_FILE), data.classNames.join("\n") + "\n");
    if (synthetic) await Deno.writeTextFile(join(inner, SYNTHETIC_MARKER), `${description}\n`);
    log(`Converted the Python version to the binary layout both sides read: ${inner}`);
  } catch (error) {
    await Deno.remove(folder, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    folder,
    description,
    synthetic,
    converted: true,
    cleanup: () => Deno.remove(folder, { recursive: true }).catch(() => {}),
  };
}
