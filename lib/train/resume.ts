/**
 * Reading back what `fit` saved after a run's last completed epoch, so that `fit` with `resume`
 * continues that run exactly as it would have gone on.
 * @module
 */
import { readCheckpoint, readOptimizerState } from "../model/checkpoint.ts";
import type { WeightValues } from "../model/model.ts";
import type { FitResume } from "./session.ts";

/** Options of `readResumeState`. */
export interface ReadResumeOptions {
  /** The run's best checkpoint, whose weights `fit` loads back at the end. @default none */
  bestCheckpointDir?: string | null;
}

function metadataNumber(metadata: Record<string, unknown>, key: string): number | null {
  const value = metadata[key];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Reads what `fit` needs to continue a run: the model and optimiser state that `fit` saved to
 * `lastCheckpointDir` after the last completed epoch, the best epoch and loss so far, and the best
 * checkpoint's weights.
 *
 * @param lastCheckpointDir The run's last checkpoint (with `optimizer.json`).
 * @param options The best checkpoint folder.
 * @returns The state for `fit`'s `resume` option.
 * @throws {Deno.errors.NotFound} When the last checkpoint does not exist (no epoch completed).
 * @throws {SyntaxError} When the last checkpoint does not say which epoch it holds.
 * @throws {RangeError} When the best checkpoint holds another epoch than the last one names.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { splitTrainValid } from "../data/split.ts";
 * import { buildModel } from "../model/model.ts";
 * import { generateSyntheticImages } from "../data/synthetic.ts";
 * import { fit } from "./fit.ts";
 * import { readResumeState } from "./resume.ts";
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 8, epochs: 1, batchSize: 10 });
 * const set = generateSyntheticImages(20, { seed: 1 });
 * const dir = await Deno.makeTempDir();
 * const model = buildModel(config);
 * const data = { set, ...splitTrainValid(set.count, 0.5, config.seed) };
 * await fit(model, data, { config, checkpointDir: `${dir}/best`, lastCheckpointDir: `${dir}/last` });
 * const resume = await readResumeState(`${dir}/last`, { bestCheckpointDir: `${dir}/best` });
 * if (resume.epoch !== 1 || resume.bestEpoch !== 1) throw new Error("wrong epoch");
 * // One more epoch, continuing from the saved state.
 * const more = await fit(model, data, { config: { ...config, epochs: 2 }, resume });
 * if (more.history.map((r) => r.epoch).join() !== "2") throw new Error("did not continue");
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readResumeState(
  lastCheckpointDir: string,
  options: ReadResumeOptions = {},
): Promise<FitResume> {
  const last = await readCheckpoint(lastCheckpointDir);
  const epoch = metadataNumber(last.metadata, "epoch");
  if (epoch === null || !Number.isInteger(epoch) || epoch < 1) {
    throw new SyntaxError(
      `Cannot resume from "${lastCheckpointDir}": expected its metadata to name the completed ` +
        `epoch, found ${JSON.stringify(last.metadata.epoch ?? null)}`,
    );
  }
  const optimizer = await readOptimizerState(lastCheckpointDir);
  const bestEpoch = metadataNumber(last.metadata, "bestEpoch");
  const bestValidLoss = metadataNumber(last.metadata, "bestValidLoss") ?? Infinity;
  const bestDir = options.bestCheckpointDir ?? null;
  let bestWeights: Record<string, WeightValues> | null = null;
  let rewriteBest = false;
  if (bestEpoch === epoch) {
    // The last epoch was the best: its weights are the best ones, whatever the best folder holds.
    bestWeights = last.weights;
    if (bestDir !== null) {
      const onDisk = await readCheckpoint(bestDir).catch(() => null);
      rewriteBest = onDisk === null || metadataNumber(onDisk.metadata, "epoch") !== bestEpoch;
    }
  } else if (bestEpoch !== null && bestDir !== null) {
    const best = await readCheckpoint(bestDir);
    const found = metadataNumber(best.metadata, "epoch");
    if (found !== bestEpoch) {
      throw new RangeError(
        `Cannot resume from "${lastCheckpointDir}": it names epoch ${bestEpoch} as the best, but ` +
          `"${bestDir}" holds epoch ${found}`,
      );
    }
    bestWeights = best.weights;
  }
  return {
    epoch,
    weights: last.weights,
    optimizer,
    bestEpoch,
    bestValidLoss,
    bestWeights,
    rewriteBest,
  };
}
