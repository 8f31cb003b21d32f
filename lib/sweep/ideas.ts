/**
 * The tutorial's closing list of "ideas to improve the model", as sweep trials: each idea is one
 * or two variants of the tutorial's config, run against the baseline on one budget. Class
 * weights come from the baseline's own per-class validation accuracy, so they are a second
 * stage; and a last trial combines, idea by idea, the best variant of each idea that beat the
 * baseline.
 * @module
 */
import { join, resolve } from "node:path";
import { configOverridesFromEnv, makeConfig, type TrainConfig } from "../core/config.ts";
import { classWeightsFromRun } from "../runs/class_weights.ts";
import type { RunEntry } from "../runs/list.ts";
import {
  findSweepDir,
  newSweepRecord,
  readSweepRecord,
  type SweepPlan,
  type SweepRecord,
} from "./plan.ts";
import { type SweepTableRow, sweepTableRows, type TrialResult } from "./results.ts";

/** One idea of the tutorial and the variants that try it. */
export interface Idea {
  /** The idea, as the tutorial words it. */
  idea: string;
  /** What is tried: a label and the config fields it changes. */
  variants: { label: string; overrides: Partial<TrainConfig> }[];
}

/** The label of the trial every idea is measured against. */
export const BASELINE_LABEL = "baseline";
/** The label of the class-weights trial (second stage). */
export const CLASS_WEIGHTS_LABEL = "more images of the weak classes: class weights";
/** The label of the trial that combines the ideas that helped. */
export const COMBINED_LABEL = "combined: the ideas that helped";

/**
 * The tutorial's ideas, in its order, each with the variants tried. "Passing more images of the
 * classes it gets wrong" is not here: it needs the baseline's result (`classWeightsTrial`).
 */
export const TUTORIAL_IDEAS: readonly Idea[] = [
  {
    idea: "the learning rate",
    variants: [
      { label: "learning rate 0.0005", overrides: { learningRate: 0.0005 } },
      { label: "learning rate 0.002", overrides: { learningRate: 0.002 } },
    ],
  },
  {
    idea: "the number of epochs",
    // The one idea that spends more: twice the budget's epochs (patience still applies).
    variants: [{ label: "twice the epochs", overrides: {} }],
  },
  {
    idea: "dropout",
    variants: [
      { label: "dropout 0.1", overrides: { dropout: 0.1 } },
      { label: "dropout 0.4", overrides: { dropout: 0.4 } },
    ],
  },
  {
    idea: "the batch size",
    variants: [
      { label: "batch size 64", overrides: { batchSize: 64 } },
      { label: "batch size 128", overrides: { batchSize: 128 } },
    ],
  },
  {
    idea: "adding or removing transforms",
    variants: [
      { label: "no transforms", overrides: { flipProbability: 0, rotationDegrees: 0 } },
      { label: "flips only", overrides: { rotationDegrees: 0 } },
    ],
  },
  {
    idea: "adding or removing convolution layers",
    variants: [
      { label: "3 convolutions (16,32,64)", overrides: { convChannels: [16, 32, 64] } },
      {
        label: "5 convolutions (16,32,64,128,256)",
        overrides: { convChannels: [16, 32, 64, 128, 256] },
      },
    ],
  },
  {
    idea: "changing the optimizer",
    variants: [
      {
        label: "SGD, momentum 0.9, lr 0.01",
        overrides: { optimizer: "sgd", momentum: 0.9, learningRate: 0.01 },
      },
      {
        label: "RMSprop, lr 0.0005",
        overrides: { optimizer: "rmsprop", momentum: 0, learningRate: 0.0005 },
      },
    ],
  },
];

/** Each trial's label → its idea, for the table's first column. */
export function ideaOf(label: string, ideas: readonly Idea[] = TUTORIAL_IDEAS): string {
  if (label === BASELINE_LABEL) return "the tutorial's settings";
  if (label === CLASS_WEIGHTS_LABEL) return "passing more images of the classes it gets wrong";
  if (label === COMBINED_LABEL) return "the ideas that helped, together";
  return ideas.find((i) => i.variants.some((v) => v.label === label))?.idea ?? label;
}

/**
 * The first stage of the ideas: the baseline, then every variant, on one budget.
 *
 * @param budget Fields every trial shares (e.g. `{ epochs: 8, trainLimit: 20000, patience: 3 }`).
 * @param ideas The ideas. @default TUTORIAL_IDEAS
 * @returns The plan; "twice the epochs" gets `2 × budget.epochs`.
 * @example
 * ```ts
 * import { ideasPlan } from "./ideas.ts";
 * const plan = ideasPlan({ epochs: 8 });
 * if (plan.trials[0]!.label !== "baseline" || plan.trials.find((t) => t.label === "twice the epochs")!.overrides.epochs !== 16) throw new Error();
 * ```
 */
export function ideasPlan(
  budget: Partial<TrainConfig>,
  ideas: readonly Idea[] = TUTORIAL_IDEAS,
): SweepPlan {
  const epochs = budget.epochs ?? 60;
  const trials = [
    { label: BASELINE_LABEL, overrides: {} },
    ...ideas.flatMap((idea) =>
      idea.variants.map((v) => ({
        label: v.label,
        overrides: v.label === "twice the epochs" ? { epochs: 2 * epochs } : { ...v.overrides },
      }))
    ),
  ];
  const varying = [...new Set(trials.flatMap((t) => Object.keys(t.overrides)))] as (
    keyof TrainConfig
  )[];
  return { base: { ...budget }, varying, trials };
}

/**
 * The class-weights trial: weights from the baseline's best epoch's per-class validation
 * accuracy (`classWeightsFromRun`).
 *
 * @param results The sweep's results so far (`readTrialResults`).
 * @returns The trial, or null when the baseline has no run with per-class validation accuracy.
 */
export function classWeightsTrial(
  results: readonly TrialResult[],
): { label: string; overrides: Partial<TrainConfig> } | null {
  const baseline = results.find((r) => r.trial.label === BASELINE_LABEL)?.run ?? null;
  if (baseline === null || baseline.status !== "completed") return null;
  try {
    return {
      label: CLASS_WEIGHTS_LABEL,
      overrides: { classWeights: classWeightsFromRun(baseline) },
    };
  } catch {
    return null;
  }
}

/**
 * The combined trial: for each idea, the variant with the lowest best validation loss, when it
 * beat the baseline's; their fields merged in the ideas' order (a later idea's field wins, e.g.
 * the optimiser's learning rate over the learning-rate idea's). "Twice the epochs" is left out:
 * it spends more, it does not change the model.
 *
 * @param results The sweep's results (`readTrialResults`), class weights included if run.
 * @param ideas The ideas. @default TUTORIAL_IDEAS
 * @returns The trial and the labels it combines, or null when no idea beat the baseline.
 */
export function combinedTrial(
  results: readonly TrialResult[],
  ideas: readonly Idea[] = TUTORIAL_IDEAS,
): { label: string; overrides: Partial<TrainConfig>; combines: string[] } | null {
  const baseline = results.find((r) => r.trial.label === BASELINE_LABEL)?.bestValidLoss ?? null;
  if (baseline === null) return null;
  const groups = [
    ...ideas.map((idea) => idea.variants.map((v) => v.label)),
    [CLASS_WEIGHTS_LABEL],
  ];
  const overrides: Partial<TrainConfig> = {};
  const combines: string[] = [];
  for (const labels of groups) {
    if (labels.includes("twice the epochs")) continue;
    const best = results
      .filter((r) => labels.includes(r.trial.label) && r.bestValidLoss !== null)
      .sort((a, b) => a.bestValidLoss! - b.bestValidLoss!)[0];
    if (best === undefined || !(best.bestValidLoss! < baseline)) continue;
    Object.assign(overrides, best.trial.overrides);
    combines.push(best.trial.label);
  }
  return combines.length === 0 ? null : { label: COMBINED_LABEL, overrides, combines };
}

/**
 * Adds trials to a sweep (pending, after the others); a label already there is not added again,
 * so a notebook rerun over a resumed sweep does not duplicate its second stage.
 *
 * @param record The sweep record (changed in place; write it with `writeSweepRecord`).
 * @param trials The trials to add.
 * @returns The number added.
 */
export function appendTrials(
  record: SweepRecord,
  trials: readonly { label: string; overrides: Partial<TrainConfig> }[],
): number {
  let added = 0;
  for (const t of trials) {
    if (record.trials.some((existing) => existing.label === t.label)) continue;
    record.trials.push({
      index: record.trials.length + 1,
      label: t.label,
      overrides: structuredClone(t.overrides),
      status: "pending",
      runId: null,
      error: null,
    });
    for (const key of Object.keys(t.overrides) as (keyof TrainConfig)[]) {
      if (!record.varying.includes(key)) record.varying.push(key);
    }
    added++;
  }
  return added;
}

/** An idea's runs, as the run charts take them (`validationLossChart`). */
export interface IdeaRuns {
  /** The idea. */
  idea: string;
  /** The baseline's run and the idea's variants' runs that started. */
  runs: RunEntry[];
}

/**
 * The runs to chart per idea: for each idea (and the class-weights and combined trials when they
 * ran), the baseline's run beside the variants' runs.
 *
 * @param results The sweep's results (`readTrialResults`).
 * @param ideas The ideas. @default TUTORIAL_IDEAS
 * @returns One group per idea that has a run.
 */
export function runsByIdea(
  results: readonly TrialResult[],
  ideas: readonly Idea[] = TUTORIAL_IDEAS,
): IdeaRuns[] {
  const entry = (r: TrialResult | undefined): RunEntry[] =>
    r?.run && r.runDir ? [{ dir: r.runDir, record: r.run }] : [];
  const byLabel = (label: string) => results.find((r) => r.trial.label === label);
  const baseline = entry(byLabel(BASELINE_LABEL));
  const groups = [
    ...ideas.map((idea) => ({ idea: idea.idea, labels: idea.variants.map((v) => v.label) })),
    { idea: ideaOf(CLASS_WEIGHTS_LABEL), labels: [CLASS_WEIGHTS_LABEL] },
    { idea: ideaOf(COMBINED_LABEL), labels: [COMBINED_LABEL] },
  ];
  return groups
    .map((g) => ({
      idea: g.idea,
      runs: [...baseline, ...g.labels.flatMap((l) => entry(byLabel(l)))],
    }))
    .filter((g) => g.runs.length > baseline.length);
}

/**
 * The ideas table: `sweepTableRows` with the idea each trial tries in front.
 *
 * @param results The sweep's results (`readTrialResults`).
 * @param ideas The ideas. @default TUTORIAL_IDEAS
 * @returns One row per trial, by best validation loss.
 */
export function ideasTableRows(
  results: readonly TrialResult[],
  ideas: readonly Idea[] = TUTORIAL_IDEAS,
): SweepTableRow[] {
  return sweepTableRows(results).map((row) => ({ idea: ideaOf(String(row.trial), ideas), ...row }));
}

/** A sweep of the tutorial's ideas, ready to run: its folder, record and shared config. */
export interface IdeasSweepSetup {
  /** The sweep folder (absolute). */
  sweepDir: string;
  /** The sweep record (new, or read back to continue). */
  record: SweepRecord;
  /** The config every trial shares (the budget and `CIFAR10_*` overrides). */
  config: TrainConfig;
  /** True when an earlier sweep is continued. */
  resumed: boolean;
}

/**
 * Sets up the ideas sweep of a notebook: the budget overridden by `CIFAR10_*` variables (how the
 * notebook runs headless), and a new sweep, or the one `resume` (or `CIFAR10_SWEEP`) names.
 *
 * @param budget Fields every trial shares.
 * @param options `resume` (`"latest"`, a sweep id or folder, or null), `env`, `projectDir`.
 * @returns The setup.
 * @throws {RangeError} For a bad `CIFAR10_*` value, naming it.
 * @throws {Deno.errors.NotFound} When the sweep to continue does not exist.
 */
export async function setUpIdeasSweep(
  budget: Partial<TrainConfig>,
  options: { resume?: string | null; env?: Record<string, string>; projectDir?: string } = {},
): Promise<IdeasSweepSetup> {
  const env = options.env ?? {};
  const base = { ...budget, ...configOverridesFromEnv(env) };
  const config = makeConfig(base);
  const runsDir = resolve(options.projectDir ?? ".", config.outDir);
  const resume = env.CIFAR10_SWEEP ?? options.resume ?? null;
  if (resume !== null) {
    const sweepDir = resolve(await findSweepDir(resume, runsDir));
    const record = await readSweepRecord(sweepDir);
    return {
      sweepDir,
      record,
      config: makeConfig({ ...record.base, outDir: sweepDir }),
      resumed: true,
    };
  }
  const record = newSweepRecord(ideasPlan(base));
  const sweepDir = join(runsDir, record.id);
  return { sweepDir, record, config: makeConfig({ ...base, outDir: sweepDir }), resumed: false };
}

/**
 * The plan of an ideas sweep as table rows: each trial's number, idea, variant and the config
 * fields it changes.
 *
 * @param record The sweep record.
 * @returns One row per trial.
 */
export function ideasPlanRows(record: SweepRecord): Record<string, string | number>[] {
  return record.trials.map((t) => ({
    trial: t.index,
    idea: ideaOf(t.label),
    variant: t.label,
    changes: Object.keys(t.overrides).length === 0 ? "—" : JSON.stringify(t.overrides),
  }));
}
