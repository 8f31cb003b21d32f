/**
 * Fixtures of the training tests: a tiny network config (the cpu backend's convolution gradients
 * are naive loops), a small synthetic set, and weight comparisons.
 * @module
 */
import { makeConfig, type TrainConfig } from "../../lib/core/config.ts";
import { generateSyntheticImages } from "../../lib/data/synthetic.ts";
import { getWeights, type Model, type WeightValues } from "../../lib/model/model.ts";

/** Tiny everything: two epochs of a one-convolution network, batches of 10. */
export const TINY: TrainConfig = makeConfig({
  convChannels: [2],
  poolEvery: 1,
  hiddenUnits: 8,
  batchSize: 10,
  epochs: 2,
  learningRate: 0.01,
  rotationDegrees: 10,
});
/** 60 synthetic images. */
export const SET = generateSyntheticImages(60, { seed: 7 });
/**
 * The network and data of the resume tests: big enough that a restored state must reproduce a run
 * bit for bit (after 20 steps, β₂ᵗ recomputed with pow differs from the running product).
 */
export const BASE: TrainConfig = makeConfig({
  convChannels: [4, 8],
  hiddenUnits: 16,
  batchSize: 8,
  epochs: 3,
  learningRate: 0.003,
  seed: 5,
});
/** 200 synthetic images for `BASE`. */
export const BASE_SET = generateSyntheticImages(200, { seed: 3 });
/** Every index of `SET`. */
export const ALL = Int32Array.from({ length: SET.count }, (_, i) => i);

/** True when every value of every weight is the same (bit for bit) in both. */
export function sameWeights(
  a: Record<string, WeightValues>,
  b: Record<string, WeightValues>,
): boolean {
  return Object.keys(a).every((name) => a[name]!.values.every((v, i) => v === b[name]!.values[i]));
}

/** The model's weights with fc2's bias set to NaN, so that every loss becomes NaN. */
export function nanWeights(model: Model): Record<string, WeightValues> {
  const w = getWeights(model);
  w["fc2.bias"]!.values.fill(NaN);
  return w;
}
