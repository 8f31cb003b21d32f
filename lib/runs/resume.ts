/**
 * Whether a stopped run can be resumed, and the config it then trains with: `resumeConfig` reads
 * the run's stored config (with a new epoch count) so the model can be built before
 * `resumeRunRecord` (lib/runs/recorder.ts) reopens the run.
 * @module
 */
import { makeConfig, type TrainConfig } from "../core/config.ts";
import { findRunDir } from "./list.ts";
import { LAST_CHECKPOINT_FOLDER, readRunRecord, type RunRecord } from "./record.ts";

/** Options of `resumeRunRecord` and `resumeConfig`. */
export interface ResumeRunOptions {
  /** Where runs live, for `"latest"`. @default "runs" */
  outDir?: string;
  /** Train up to this many epochs in all (to extend a finished run). @default the run's own */
  epochs?: number;
}

/**
 * The config a resumed run trains with: the run's stored config, with `epochs` changed when
 * given. Build the model and optimiser from it before `resumeRunRecord`. Checks first that the
 * run can be resumed (cheaply: without reading the checkpoint's weights).
 *
 * @param spec `"latest"` or a run folder.
 * @param options Runs folder, new epoch count.
 * @returns The config.
 * @throws {Deno.errors.NotFound} When there is no such run.
 * @throws {Error} When the run is still running, has no completed epoch or nothing left to train.
 * @example
 * ```ts
 * import { makeConfig } from "../core/config.ts";
 * import { resumeConfig } from "./resume.ts";
 * import { startRunRecord } from "./recorder.ts";
 * const outDir = await Deno.makeTempDir();
 * const source = { kind: "synthetic", path: "memory", checksum: "unchecked", md5: null, synthetic: true, description: "Synthetic" } as const;
 * const run = await startRunRecord(makeConfig({ epochs: 2 }), {
 *   backend: { name: "cpu", device: "JavaScript", reason: "test" }, source, outDir,
 * });
 * await run.finish("interrupted"); // before its first epoch ended: nothing to continue from
 * const error = await resumeConfig("latest", { outDir, epochs: 5 }).catch((e) => e);
 * if (!error.message.endsWith("has no completed epoch to continue from (no last-model/); start a new run instead")) throw error;
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function resumeConfig(
  spec: string,
  options: ResumeRunOptions = {},
): Promise<TrainConfig> {
  const dir = await findRunDir(spec, options);
  const record = await readRunRecord(dir);
  const epochs = options.epochs ?? record.config.epochs;
  await checkResumable(dir, record, epochs);
  return makeConfig({ ...record.config, epochs });
}

/**
 * Checks that a run can be resumed: it is not running, it has a last-epoch checkpoint to
 * continue from, and it has epochs left to train. Cheap: reads only the checkpoint's model.json,
 * not its weights.
 *
 * @param dir The run folder.
 * @param record Its record (`readRunRecord`, so a dead run reads as interrupted).
 * @param epochs The epochs the resumed run is to reach in all.
 * @throws {Error} Naming the run and what stops it: still running (its process and heartbeat),
 *   no completed epoch (no `last-model/`), or `epochs` already reached (with how many to pass).
 * @example
 * ```ts
 * import { checkResumable } from "./resume.ts";
 * const record = { status: "running", process: { pid: 1, host: "h", heartbeatAt: "now" } };
 * const error = await checkResumable("runs/r1", record as never, 5).catch((e) => e);
 * if (!error.message.startsWith('Cannot resume run "runs/r1": it is still running')) throw error;
 * ```
 */
export async function checkResumable(
  dir: string,
  record: RunRecord,
  epochs: number,
): Promise<void> {
  const name = `Cannot resume run "${dir}"`;
  if (record.status === "running") {
    throw new Error(
      `${name}: it is still running (pid ${record.process?.pid} on ${record.process?.host}, ` +
        `last heartbeat ${record.process?.heartbeatAt})`,
    );
  }
  let completed: unknown;
  try {
    const json = JSON.parse(await Deno.readTextFile(`${dir}/${LAST_CHECKPOINT_FOLDER}/model.json`));
    completed = json?.userDefinedMetadata?.metadata?.epoch;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      `${name}: it has no completed epoch to continue from (no ${LAST_CHECKPOINT_FOLDER}/); ` +
        "start a new run instead",
    );
  }
  if (typeof completed === "number" && completed >= epochs) {
    throw new Error(
      `${name}: it has completed ${completed} of ${epochs} epochs; pass more epochs ` +
        `(e.g. --epochs ${completed + 10}) to train it further`,
    );
  }
}
