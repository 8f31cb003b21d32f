/**
 * A sweep's progress in the notebook: one bar over all its trials, with the time left, and a line
 * per trial as it starts and ends, in one output redrawn in place (so the exported HTML keeps the
 * final state). Outside Jupyter the same lines go to the terminal or the log.
 * @module
 */
import { escapeHtml } from "../core/html.ts";
import {
  progressHtml,
  progressLineWriter,
  type ProgressState,
  progressText,
} from "../core/progress.ts";
import { displayPath } from "../core/paths.ts";
import type { RunSweepOptions, SweepOutcome } from "../sweep/run.ts";
import { newDisplayId, type OutputOptions, resolveJupyter, settle } from "./show.ts";

/** The callbacks `runSweep` takes, drawing as they are called; `finish` draws the last state. */
export interface SweepMonitor
  extends Pick<RunSweepOptions, "onProgress" | "onTrialStart" | "onTrialEnd"> {
  /** Draws the final state: the bar full (or where an interrupted sweep stopped) and every line. */
  finish(outcome: SweepOutcome): Promise<void>;
}

/** Options of `sweepMonitor`. */
export interface SweepMonitorOptions extends OutputOptions {
  /** Minimum milliseconds between redraws. @default 250 */
  minIntervalMs?: number;
  /** Terminal output. @default stderr */
  write?: (text: string) => void;
  /** Whether the terminal is a TTY. @default Deno.stderr.isTerminal() */
  isTerminal?: boolean;
}

/**
 * Creates a sweep's progress display; pass it to `runSweep` (`{ ...monitor }`).
 *
 * @param options Output targets and redraw interval.
 * @returns The callbacks and `finish`.
 * @example
 * ```ts
 * import { sweepMonitor } from "./sweep.ts";
 * const out: string[] = [];
 * const monitor = await sweepMonitor({ jupyter: null, isTerminal: false, write: (t) => out.push(t) });
 * monitor.onTrialEnd!({ index: 1, label: "baseline" } as never, "completed 2 epochs");
 * await monitor.finish({ interrupted: false, counts: { completed: 1 } as never });
 * if (!out.join("").includes("trial 1 (baseline): completed 2 epochs")) throw new Error(out.join(""));
 * ```
 */
export async function sweepMonitor(options: SweepMonitorOptions = {}): Promise<SweepMonitor> {
  const jupyter = resolveJupyter(options);
  const interval = options.minIntervalMs ?? 250;
  const lines: string[] = [];
  let state: ProgressState = { done: 0, total: 0, label: "sweep", info: "", seconds: 0 };
  let last = -Infinity;
  const displayId = newDisplayId();
  const bundle = () => ({
    "text/html": progressHtml(state) +
      `<ul style="font-family:monospace;font-size:13px;margin:4px 0">${
        lines.map((line) => `<li>${escapeHtml(line)}</li>`).join("")
      }</ul>`,
    "text/plain": [progressText(state), ...lines].join("\n"),
  });
  if (jupyter !== null) {
    await jupyter.display(bundle(), { raw: true, display_id: displayId });
  }
  const out = jupyter === null
    ? progressLineWriter({ write: options.write, isTerminal: options.isTerminal })
    : null;
  const redraw = async (force: boolean) => {
    const now = performance.now();
    if (!force && now - last < interval) return;
    last = now;
    if (jupyter !== null) {
      await jupyter.display(bundle(), { raw: true, display_id: displayId, update: true });
    } else if (out!.isTerminal) {
      out!.draw(progressText(state));
    }
  };
  const addLine = (line: string) => {
    lines.push(line);
    if (out !== null) out.finish(line);
    void redraw(true);
  };
  return {
    onProgress(p) {
      state = {
        done: p.done,
        total: p.total,
        label: `trial ${p.trial.index}/${p.trials}, epoch ${p.epoch}/${p.epochs}`,
        info: `${p.phase} loss ${p.runningLoss.toFixed(4)}`,
        seconds: p.seconds,
        rate: p.rate,
      };
      void redraw(false);
    },
    onTrialStart(trial, runDir, resumed) {
      addLine(
        `trial ${trial.index} (${trial.label}): ${resumed ? "continuing" : "training"} ${
          displayPath(runDir)
        }`,
      );
    },
    onTrialEnd(trial, summary) {
      addLine(`trial ${trial.index} (${trial.label}): ${summary}`);
    },
    async finish(outcome) {
      state = {
        ...state,
        done: outcome.interrupted ? state.done : state.total ?? state.done,
        label: outcome.interrupted ? "sweep interrupted" : "sweep done",
        info: "",
      };
      if (jupyter !== null) {
        await redraw(true);
        await settle();
      } else if (out!.isTerminal) {
        out!.finish(progressText(state));
      }
    },
  };
}
