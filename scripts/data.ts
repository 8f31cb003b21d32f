/**
 * `deno task data`: find, download, verify and extract CIFAR-10, then print a summary: the source,
 * its checksum status, and images per split (train/valid/test, from the config's `validFraction`
 * and `seed`) and per class.
 *
 * Flags: every config flag (`--data PATH`, `--seed N`, `--valid-fraction F`, `--synthetic`,
 * `--limit N`, …), plus `--json` (print the summary as JSON), `--offline` (never download),
 * `--synthetic-out DIR` (write a synthetic data set, folder and `.tar.gz`, into DIR and summarise
 * it) and `--help`. Environment: `CIFAR10_DATA` and the other `CIFAR10_*` config variables.
 * @module
 */

import { configOverridesFromEnv, makeConfig, parseArgs } from "../lib/core/config.ts";
import { BATCHES_FOLDER, type Cifar10Data } from "../lib/data/format.ts";
import { countLabels, splitTrainValid, subsetImages } from "../lib/data/split.ts";
import { loadCifar10 } from "../lib/data/load.ts";
import { writeSyntheticDataset } from "../lib/data/synthetic.ts";

const HELP = `Usage: deno task data [flags]

Finds CIFAR-10 (--data PATH, CIFAR10_DATA, or the project's data/ folder), downloads the official
archive if needed (md5-verified, resumable), extracts it once into data/cifar-10-batches-bin/, and
prints the source, checksum status and images per split and class. The Python version (what
torchvision downloads: cifar-10-python.tar.gz, cifar-10-batches-py/) is read too.

  --data PATH            an archive (.tar.gz) of either version, a cifar-10-batches-bin/ or
                         cifar-10-batches-py/ folder, or a folder holding one
  --seed N               seed of the train/valid split (default 42)
  --valid-fraction F     fraction of the training set held out for validation (default 0.2)
  --limit N / --test-limit N   count only the first N train / test images
  --synthetic            summarise an in-memory synthetic data set (not CIFAR-10)
  --synthetic-out DIR    write a synthetic data set (folder + .tar.gz) into DIR and summarise it
  --offline              never download; fail if no local copy is found
  --json                 print the summary as JSON
  --help                 this text
`;

/** The summary printed by the CLI (and, as JSON, with `--json`). */
export interface DataSummary {
  /** Where the data came from. */
  source: Cifar10Data["source"];
  /** Split settings. */
  seed: number;
  /** Fraction held out. */
  validFraction: number;
  /** Images per split. */
  counts: { train: number; valid: number; test: number };
  /** Images per class and split. */
  perClass: { name: string; train: number; valid: number; test: number }[];
  /** Seconds the load took. */
  loadSeconds: number;
}

/**
 * Builds the summary of a loaded data set: split sizes and per-class counts.
 *
 * @param data The loaded data.
 * @param options Split settings, limits and the load time.
 * @returns The summary.
 */
export function summarizeData(
  data: Cifar10Data,
  options: {
    seed: number;
    validFraction: number;
    trainLimit: number | null;
    testLimit: number | null;
    loadSeconds: number;
  },
): DataSummary {
  const train = subsetImages(data.train, options.trainLimit);
  const test = subsetImages(data.test, options.testLimit);
  const split = splitTrainValid(train.count, options.validFraction, options.seed);
  const trainCounts = countLabels(train.labels, { indices: split.trainIndices });
  const validCounts = countLabels(train.labels, { indices: split.validIndices });
  const testCounts = countLabels(test.labels);
  return {
    source: data.source,
    seed: options.seed,
    validFraction: options.validFraction,
    counts: {
      train: split.trainIndices.length,
      valid: split.validIndices.length,
      test: test.count,
    },
    perClass: data.classNames.map((name, c) => ({
      name,
      train: trainCounts[c]!,
      valid: validCounts[c]!,
      test: testCounts[c]!,
    })),
    loadSeconds: options.loadSeconds,
  };
}

/**
 * Formats the summary as text lines for the terminal.
 *
 * @param summary The summary.
 * @returns The text, ending with a line break.
 */
export function formatSummary(summary: DataSummary): string {
  const { source, counts } = summary;
  const checksum = source.checksum === "official"
    ? `official (md5 ${source.md5})`
    : source.checksum === "unofficial"
    ? `UNOFFICIAL (md5 ${source.md5}; accepted after structural checks)`
    : "unchecked (no archive involved)";
  const nameWidth = Math.max(5, ...summary.perClass.map((c) => c.name.length));
  const row = (name: string, a: number | string, b: number | string, c: number | string) =>
    `  ${name.padEnd(nameWidth)} ${String(a).padStart(7)} ${String(b).padStart(7)} ${
      String(c).padStart(7)
    }`;
  const lines = [
    source.synthetic ? "SYNTHETIC DATA (not CIFAR-10)" : "CIFAR-10",
    `Source:   ${source.description}`,
    `Kind:     ${source.kind}${
      source.version === undefined ? "" : `, ${source.version} version`
    } — ${source.path}`,
    `Checksum: ${checksum}`,
    `Split:    validFraction ${summary.validFraction}, seed ${summary.seed}`,
    `Images:   train ${counts.train}, valid ${counts.valid}, test ${counts.test} ` +
    `(loaded in ${summary.loadSeconds.toFixed(2)} s)`,
    "",
    row("class", "train", "valid", "test"),
    ...summary.perClass.map((c) => row(c.name, c.train, c.valid, c.test)),
    row("total", counts.train, counts.valid, counts.test),
  ];
  return lines.join("\n") + "\n";
}

async function main(args: string[]): Promise<void> {
  const { overrides, extra } = parseArgs(args, {
    "--json": "bool",
    "--offline": "bool",
    "--synthetic-out": "string",
    "--help": "bool",
  });
  if (extra.help === true) {
    console.log(HELP);
    return;
  }
  const config = makeConfig({ ...configOverridesFromEnv(Deno.env.toObject()), ...overrides });
  const syntheticOut = typeof extra["synthetic-out"] === "string" ? extra["synthetic-out"] : null;
  const started = performance.now();
  let data: Cifar10Data;
  if (syntheticOut !== null) {
    const written = await writeSyntheticDataset(syntheticOut, { seed: config.seed, archive: true });
    console.error(`Wrote synthetic data set: ${written.folder} and ${written.archive}`);
    data = await loadCifar10({ dataPath: `${syntheticOut}/${BATCHES_FOLDER}` });
  } else {
    data = await loadCifar10({
      dataPath: config.dataPath,
      synthetic: config.synthetic ? { seed: config.seed } : false,
      download: extra.offline !== true,
    });
  }
  const summary = summarizeData(data, {
    seed: config.seed,
    validFraction: config.validFraction,
    trainLimit: config.trainLimit,
    testLimit: config.testLimit,
    loadSeconds: (performance.now() - started) / 1000,
  });
  if (extra.json === true) console.log(JSON.stringify(summary, null, 2));
  else console.log(formatSummary(summary));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
