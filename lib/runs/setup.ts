/**
 * The start of a training notebook in one call: the parameters cell's settings, overridden by
 * `CIFAR10_*` environment variables (how `deno task notebook` and CI run it headless), or, when a
 * stopped run is to be continued, that run's own stored settings with the new epoch count.
 * @module
 */

import { resolve } from "node:path";
import { configOverridesFromEnv, makeConfig, type TrainConfig } from "../core/config.ts";
import { displayPath } from "../core/paths.ts";
import { findRunDir } from "./list.ts";
import { resumeConfig } from "./resume.ts";

/** Where a run's settings come from, besides the parameters. */
export interface RunSetupOptions {
  /**
   * Continue a stopped run instead of starting one: `"latest"` (the run started last), a run id
   * (its folder under the runs folder) or a path; null starts a new run. `CIFAR10_RESUME` in `env`
   * wins over it. @default null
   */
  resume?: string | null;
  /** Environment variables: `CIFAR10_<FIELD>` override the parameters. @default {} */
  env?: Record<string, string>;
  /** The folder `outDir` (and a run id) is relative to: the project root. @default "." */
  projectDir?: string;
}

/** A run's settings, ready to build the model and open the run record. */
export interface RunSetup {
  /** The config the run trains with. */
  config: TrainConfig;
  /** The runs folder, absolute. */
  runsDir: string;
  /** The run folder to continue (absolute), or null for a new run. */
  resumeDir: string | null;
  /** The resume request as given (`"latest"`, a run id, a path), or null. */
  resumeRequest: string | null;
  /** The settings to show: each parameter given (and the batch cap), with its value as JSON. */
  settings: { setting: string; value: string }[];
  /** A caption for `settings`: "Settings of this run" or "Settings of the resumed run (…)". */
  caption: string;
}

/**
 * Builds a run's config from a notebook's parameters, the environment and a resume request.
 *
 * - A new run: `makeConfig({ ...parameters, ...CIFAR10_* overrides })`.
 * - A resumed run: the run's stored config (`resumeConfig`), with `epochs` from `CIFAR10_EPOCHS`
 *   or the parameters; checked to be resumable before any work.
 *
 * @param parameters The parameters cell's settings (any `TrainConfig` fields).
 * @param options The resume request, environment and project folder.
 * @returns The config, the runs folder, the run to continue, and the settings to show.
 * @throws {RangeError} For a bad parameter or `CIFAR10_*` value, naming it.
 * @throws {Deno.errors.NotFound} When the run to resume does not exist.
 * @throws {Error} When that run cannot be resumed (still running, no completed epoch, finished).
 * @example
 * ```ts
 * import { setUpRun } from "./setup.ts";
 * const setup = await setUpRun({ epochs: 60, batchSize: 30 }, {
 *   env: { CIFAR10_EPOCHS: "2", CIFAR10_OUT_DIR: "/tmp/runs" },
 * });
 * if (setup.config.epochs !== 2 || setup.config.batchSize !== 30) throw new Error("env should win");
 * if (setup.resumeDir !== null || setup.runsDir !== "/tmp/runs") throw new Error("a new run");
 * if (!setup.settings.some((s) => s.setting === "epochs" && s.value === "2")) throw new Error();
 * ```
 */
export async function setUpRun(
  parameters: Partial<TrainConfig>,
  options: RunSetupOptions = {},
): Promise<RunSetup> {
  const env = options.env ?? {};
  const fromEnv = configOverridesFromEnv(env);
  const projectDir = options.projectDir ?? ".";
  const runsDir = resolve(projectDir, fromEnv.outDir ?? parameters.outDir ?? "runs");
  const resumeRequest = env.CIFAR10_RESUME ?? options.resume ?? null;
  let config: TrainConfig;
  let resumeDir: string | null = null;
  if (resumeRequest === null) {
    config = makeConfig({ ...parameters, ...fromEnv });
  } else {
    resumeDir = resolve(
      resumeRequest === "latest"
        ? await findRunDir("latest", { outDir: runsDir })
        : await findRunDir(resolve(runsDir, resumeRequest)),
    );
    config = await resumeConfig(resumeDir, {
      outDir: runsDir,
      epochs: fromEnv.epochs ?? parameters.epochs,
    });
  }
  const shown = new Set<string>([...Object.keys(parameters), "maxBatchesPerEpoch"]);
  // Paths as a published page may show them: relative to the project, or ~/… (displayPath).
  const root = resolve(projectDir);
  const shownValue = (setting: string, value: unknown) =>
    JSON.stringify(
      (setting === "dataPath" || setting === "outDir") && typeof value === "string"
        ? displayPath(value, { root })
        : value,
    );
  return {
    config,
    runsDir,
    resumeDir,
    resumeRequest,
    settings: Object.entries(config)
      .filter(([key]) => shown.has(key))
      .map(([setting, value]) => ({ setting, value: shownValue(setting, value) })),
    caption: resumeDir === null
      ? "Settings of this run"
      : `Settings of the resumed run (${displayPath(resumeDir, { root })})`,
  };
}

/**
 * What to tell the user when training ends: where the run record and the best model are, and,
 * for a stopped run, how to continue it from the parameters cell.
 *
 * @param run The run (`dir`, `id`).
 * @param stopReason How training ended (`FitResult.stopReason`).
 * @param projectDir The folder paths are shown relative to (the project root). @default "."
 * @returns The lines, starting with an empty one.
 * @example
 * ```ts
 * import { runNote } from "./setup.ts";
 * const note = runNote({ dir: "/p/runs/20261201-a", id: "20261201-a" }, "aborted", "/p");
 * if (note !== '\nRun record and best model: runs/20261201-a/\nTo continue this run: resumeRun = "20261201-a"') {
 *   throw new Error(note);
 * }
 * ```
 */
export function runNote(
  run: { dir: string; id: string },
  stopReason: string,
  projectDir: string = ".",
): string {
  return `\nRun record and best model: ${displayPath(run.dir, { root: resolve(projectDir) })}/` +
    (stopReason === "aborted" ? `\nTo continue this run: resumeRun = "${run.id}"` : "");
}
