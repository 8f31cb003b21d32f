/**
 * Fixtures shared by the tests of lib/runs: data sources, a backend, and run folders written as
 * the recorder writes them (record and config, no checkpoints).
 * @module
 */
import { makeConfig, type TrainConfig } from "../../lib/core/config.ts";
import { CIFAR10_CLASSES, type DataSource } from "../../lib/data/format.ts";
import {
  BEST_CHECKPOINT_FOLDER,
  LAST_CHECKPOINT_FOLDER,
  RUN_CONFIG_FILE,
  RUN_RECORD_FILE,
} from "../../lib/runs/record.ts";

/** The source of generated shapes (not CIFAR-10). */
export const SYNTHETIC_SOURCE: DataSource = {
  kind: "synthetic",
  path: "memory",
  checksum: "unchecked",
  md5: null,
  synthetic: true,
  description: "Synthetic shapes data set (NOT CIFAR-10)",
};
/** The source of the official CIFAR-10 archive. */
export const OFFICIAL_SOURCE: DataSource = {
  kind: "archive",
  path: "data/cifar-10-binary.tar.gz",
  checksum: "official",
  md5: "c32a1d4ab5d03f1284b67883e8d87530",
  synthetic: false,
  description: "CIFAR-10 from archive (official checksum)",
};
/** The backend a test run records. */
export const BACKEND = { name: "cpu", device: "JavaScript", reason: "test" };

export { listDir } from "../_util.ts";

/** A JSON file, parsed as an object. */
export async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** A pid that no longer runs: a child that has exited. */
export async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

/** What a fixture run holds; the rest is a completed CIFAR-10 run on wasm. */
export interface FixtureSpec {
  id: string;
  startedAt: string;
  status?: string;
  config?: Partial<TrainConfig>;
  synthetic?: boolean;
  validLosses?: number[];
  /** Right answers per class out of 100 each, or null for no test report. */
  classCorrect?: number[] | null;
  durationSeconds?: number;
  process?: Record<string, unknown>;
}

/** Writes a run folder as the recorder does (record and config; no checkpoints). */
export async function writeFixtureRun(outDir: string, spec: FixtureSpec): Promise<string> {
  const dir = `${outDir}/${spec.id}`;
  const config = makeConfig(spec.config ?? {});
  const synthetic = spec.synthetic ?? false;
  const losses = spec.validLosses ?? [1.5, 1.2];
  const best = losses.indexOf(Math.min(...losses));
  const classNames = synthetic ? ["red-square", "green-circle"] : [...CIFAR10_CLASSES];
  const correct = spec.classCorrect === undefined
    ? classNames.map((_, i) => 50 + i)
    : spec.classCorrect;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/${RUN_CONFIG_FILE}`, JSON.stringify(config));
  await Deno.writeTextFile(
    `${dir}/${RUN_RECORD_FILE}`,
    JSON.stringify({
      format: "cifar10-run",
      version: 1,
      id: spec.id,
      status: spec.status ?? "completed",
      message: null,
      startedAt: spec.startedAt,
      updatedAt: spec.startedAt,
      finishedAt: spec.startedAt,
      durationSeconds: spec.durationSeconds ?? 60,
      process: spec.process ?? null,
      backend: { name: "wasm", device: "WebAssembly", reason: "fixture" },
      data: {
        kind: synthetic ? "synthetic" : "real",
        synthetic,
        source: synthetic ? SYNTHETIC_SOURCE : OFFICIAL_SOURCE,
        classNames,
        trainImages: 100,
        validImages: 25,
        testImages: 100 * classNames.length,
      },
      config,
      model: { parameters: 1000 },
      bestEpoch: best + 1,
      bestValidLoss: losses[best],
      bestCheckpoint: BEST_CHECKPOINT_FOLDER,
      lastCheckpoint: LAST_CHECKPOINT_FOLDER,
      epochs: losses.map((validLoss, i) => ({
        epoch: i + 1,
        trainLoss: validLoss + 0.1,
        trainAccuracy: 0.5,
        validLoss,
        validAccuracy: 0.5,
        trainImages: 100,
        validImages: 25,
        seconds: 30,
        trainImagesPerSecond: 100,
        saved: i === best,
        bestValidLoss: Math.min(...losses.slice(0, i + 1)),
      })),
      test: correct === null ? null : {
        loss: 1,
        accuracy: correct.reduce((a, b) => a + b, 0) / (100 * correct.length),
        correct: correct.reduce((a, b) => a + b, 0),
        total: 100 * correct.length,
        perClass: classNames.map((name, i) => ({
          name,
          correct: correct[i]!,
          total: 100,
          accuracy: correct[i]! / 100,
        })),
        confusion: [],
        imagesPerSecond: 1000,
        epoch: best + 1,
        testedAt: spec.startedAt,
      },
      segments: [],
    }),
  );
  return dir;
}

/** Three runs: a baseline, a run with another learning rate and dropout, a synthetic one. */
export async function writeFixtureRuns(outDir: string): Promise<void> {
  await writeFixtureRun(outDir, {
    id: "20261128-100000-aaaaaa",
    startedAt: "2026-11-28T10:00:00.000Z",
    validLosses: [1.5, 1.2, 1.25],
    classCorrect: [84, 88, 61, 53, 73, 71, 84, 80, 86, 82],
    durationSeconds: 3725,
  });
  await writeFixtureRun(outDir, {
    id: "20261128-110000-bbbbbb",
    startedAt: "2026-11-28T11:00:00.000Z",
    config: { learningRate: 0.01, dropout: 0.5 },
    validLosses: [1.4, 1.1],
    classCorrect: [80, 90, 65, 50, 70, 75, 85, 81, 88, 80],
    durationSeconds: 725,
  });
  await writeFixtureRun(outDir, {
    id: "20261128-120000-cccccc",
    startedAt: "2026-11-28T12:00:00.000Z",
    synthetic: true,
    config: { synthetic: true },
    validLosses: [2.1],
    classCorrect: [90, 95],
    durationSeconds: 5,
  });
}
