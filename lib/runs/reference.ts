/**
 * The reference side: a training run of the tutorial's own PyTorch code, as
 * `bench/pytorch_tutorial.py train` records it (its JSON line; `docs/reference/` keeps one, trained
 * with torch 2.14.1). `compare_runs.ipynb` draws its validation curve beside our runs'.
 * @module
 */

/** The reference run `compare_runs.ipynb` overlays by default, relative to the project folder. */
export const DEFAULT_REFERENCE_RUN = "docs/reference/pytorch-2.14.1-15-epochs.json";

/** One epoch of a reference run. */
export interface ReferenceEpoch {
  /** Epoch (1-based). */
  epoch: number;
  /** Average training loss per image. */
  trainLoss: number;
  /** Average validation loss per image. */
  validLoss: number;
}

/** A PyTorch training run of the tutorial's code. */
export interface ReferenceRun {
  /** Where it was read from. */
  file: string;
  /** What ran it, e.g. `PyTorch 2.14.1+cu130 (torchvision 0.29.1+cu130), CPU, kernels AVX512`. */
  implementation: string;
  /** A legend label: `PyTorch 2.14.1, the tutorial's code (15 epochs, test 76.2%)`. */
  label: string;
  /** The epochs, in order. */
  epochs: ReferenceEpoch[];
  /** The epoch with the lowest validation loss, and that loss. */
  bestEpoch: number;
  /** The lowest validation loss. */
  bestValidLoss: number;
  /** Test loss and accuracy of the saved (best) model; null when not recorded. */
  testLoss: number | null;
  /** Test accuracy in [0, 1]; null when not recorded. */
  testAccuracy: number | null;
  /** Test accuracy per class, by class name. */
  classAccuracy: Record<string, number>;
  /** Wall-clock seconds of the whole run; null when not recorded. */
  wallSeconds: number | null;
  /** True when it trained on the synthetic data set. */
  synthetic: boolean;
}

function finite(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/**
 * Reads a reference run: the JSON line `bench/pytorch_tutorial.py train` prints (mode `train`).
 *
 * @param file Its path.
 * @returns The run's curve and results.
 * @throws {Deno.errors.NotFound} When there is no such file.
 * @throws {SyntaxError} When it is not JSON, or not a `pytorch_tutorial.py train` record (the
 *   message says what was expected).
 * @example
 * ```ts
 * import { readReferenceRun } from "./reference.ts";
 * const file = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(file, '{"mode": "bench"}');
 * const error = await readReferenceRun(file).catch((e) => e);
 * if (!(error instanceof SyntaxError) || !error.message.includes('expected "mode": "train"')) throw error;
 * await Deno.remove(file);
 * ```
 */
export async function readReferenceRun(file: string): Promise<ReferenceRun> {
  const prefix = `Cannot read reference run "${file}"`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${prefix}: no such file`);
    }
    throw error;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`${prefix}: not JSON (${(error as Error).message})`);
  }
  const rawEpochs = parsed?.epochs;
  if (parsed?.mode !== "train" || !Array.isArray(rawEpochs)) {
    throw new SyntaxError(
      `${prefix}: expected "mode": "train" with a list of epochs, as bench/pytorch_tutorial.py ` +
        `train prints, found mode ${JSON.stringify(parsed?.mode ?? null)}`,
    );
  }
  const epochs = rawEpochs.map((e, i) => {
    if (!finite(e?.epoch) || !finite(e?.trainLoss) || !finite(e?.validLoss)) {
      throw new SyntaxError(
        `${prefix}: expected epoch ${i + 1} to have numbers epoch, trainLoss and validLoss, ` +
          `found ${JSON.stringify(e)}`,
      );
    }
    return { epoch: e.epoch, trainLoss: e.trainLoss, validLoss: e.validLoss };
  });
  if (epochs.length === 0) throw new SyntaxError(`${prefix}: expected at least one epoch, found 0`);
  const best = epochs.reduce((a, b) => (b.validLoss < a.validLoss ? b : a));
  const testAccuracy = finite(parsed.testAccuracy) ? parsed.testAccuracy : null;
  const implementation = typeof parsed.implementation === "string"
    ? parsed.implementation
    : "PyTorch";
  const version = /^PyTorch ([\d.]+)/.exec(implementation)?.[1];
  const result = testAccuracy === null ? "" : `, test ${(100 * testAccuracy).toFixed(1)}%`;
  const synthetic = (parsed.data as { synthetic?: unknown } | undefined)?.synthetic === true;
  const classAccuracy: Record<string, number> = {};
  for (const [name, value] of Object.entries(parsed.classAccuracy ?? {})) {
    if (finite(value)) classAccuracy[name] = value;
  }
  return {
    file,
    implementation,
    label: `PyTorch${version ? ` ${version}` : ""}, the tutorial's code (${epochs.length} epoch${
      epochs.length === 1 ? "" : "s"
    }${result})${synthetic ? " SYNTHETIC" : ""}`,
    epochs,
    bestEpoch: best.epoch,
    bestValidLoss: best.validLoss,
    testLoss: finite(parsed.testLoss) ? parsed.testLoss : null,
    testAccuracy,
    classAccuracy,
    wallSeconds: finite(parsed.wallSeconds) ? parsed.wallSeconds : null,
    synthetic,
  };
}
