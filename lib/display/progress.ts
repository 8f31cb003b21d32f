/**
 * The notebook's progress bar: an HTML bar redrawn in place in the notebook, one line on a
 * terminal, a line per tenth in a log file. What it draws comes from lib/core/progress.ts, the one
 * rendering every progress bar in the project shares.
 * @module
 */
import {
  progressFraction,
  progressHtml,
  progressLineWriter,
  type ProgressState,
  progressText,
} from "../core/progress.ts";
import { newDisplayId, type OutputOptions, resolveJupyter, settle } from "./show.ts";

/** A progress bar that redraws itself in place. */
export interface ProgressBar {
  /** The display id of its output in the notebook; null on the terminal. */
  readonly displayId: string | null;
  /** Sets the steps done and the info text; redraws at most every `minIntervalMs`. */
  update(done: number, info?: string): Promise<void>;
  /**
   * Draws the final state (always): full, or with `complete: false` (stopped early) where it
   * stopped.
   */
  finish(info?: string, options?: { complete?: boolean }): Promise<void>;
}

/** Options of `progressBar` (and `liveDisplay`). */
export interface ProgressDisplayOptions extends OutputOptions {
  /** Text before the bar. @default "" */
  label?: string;
  /** Minimum milliseconds between redraws. @default 250 (notebook), 1000 (terminal) */
  minIntervalMs?: number;
  /** Clock in milliseconds. @default performance.now */
  now?: () => number;
  /** Terminal output: redraw one line with `\r` (a TTY) or print a line per 10% (a log file). */
  write?: (text: string) => void;
  /** Whether the terminal is a TTY. @default Deno.stderr.isTerminal() */
  isTerminal?: boolean;
}

/**
 * Creates a progress bar: in the notebook an HTML bar updated in place (`update_display_data`), so
 * the exported HTML keeps its final state; on a terminal one line redrawn with `\r`; in a log file a
 * line per 10%.
 *
 * @param total Steps in total.
 * @param options Label, redraw interval, output targets.
 * @returns The bar (already drawn at 0).
 * @example
 * ```ts
 * import { progressBar } from "./progress.ts";
 * const out: string[] = [];
 * const bar = await progressBar(10, { label: "test", jupyter: null, isTerminal: false, write: (t) => out.push(t) });
 * for (let i = 1; i <= 10; i++) await bar.update(i);
 * await bar.finish("done");
 * if (out.length !== 11 || !out.at(-1)!.includes("100%")) throw new Error(out.join(""));
 * ```
 */
export async function progressBar(
  total: number,
  options: ProgressDisplayOptions = {},
): Promise<ProgressBar> {
  if (!Number.isFinite(total) || total < 0) {
    throw new RangeError(`Cannot create a progress bar: expected total ≥ 0, found ${total}`);
  }
  const jupyter = resolveJupyter(options);
  const now = options.now ?? (() => performance.now());
  const started = now();
  const state: ProgressState = { done: 0, total, label: options.label ?? "", info: "", seconds: 0 };
  const bundle = () => ({ "text/html": progressHtml(state), "text/plain": progressText(state) });
  if (jupyter !== null) {
    const displayId = newDisplayId();
    const interval = options.minIntervalMs ?? 250;
    let last = now();
    await jupyter.display(bundle(), { raw: true, display_id: displayId });
    const redraw = async (force: boolean) => {
      const t = now();
      state.seconds = (t - started) / 1000;
      if (!force && t - last < interval) return;
      last = t;
      await jupyter.display(bundle(), { raw: true, display_id: displayId, update: true });
    };
    return {
      displayId,
      async update(done, info) {
        state.done = done;
        if (info !== undefined) state.info = info;
        await redraw(done >= total);
      },
      async finish(info, { complete = true } = {}) {
        if (info !== undefined) state.info = info;
        if (complete) state.done = Math.max(state.done, total);
        await redraw(true);
        await settle();
      },
    };
  }
  const out = progressLineWriter({ write: options.write, isTerminal: options.isTerminal });
  const interval = options.minIntervalMs ?? 1000;
  let last = -Infinity;
  let lastDecile = -1;
  const draw = (final: boolean) => {
    const t = now();
    state.seconds = (t - started) / 1000;
    if (out.isTerminal) {
      if (!final && t - last < interval) return;
      last = t;
    } else {
      const decile = Math.floor(progressFraction(state) * 10);
      if (!final && decile === lastDecile) return;
      lastDecile = decile;
    }
    if (final) out.finish(progressText(state));
    else out.draw(progressText(state));
  };
  draw(false);
  let finished = false;
  return {
    displayId: null,
    update(done, info) {
      state.done = done;
      if (info !== undefined) state.info = info;
      if (done < total) draw(false);
      return Promise.resolve();
    },
    finish(info, { complete = true } = {}) {
      if (info !== undefined) state.info = info;
      if (complete) state.done = Math.max(state.done, total);
      if (!finished) draw(true);
      finished = true;
      return Promise.resolve();
    },
  };
}
