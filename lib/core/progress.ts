/**
 * The one rendering of a progress bar, shared by every bar in the project: the notebook's and the
 * training monitor's (lib/display), the download's (lib/data/download.ts) and the training CLI's.
 * A `ProgressState` is drawn as a tqdm-style line of text (`progressText`) or as HTML
 * (`progressHtml`); `progressLineWriter` puts such lines on a terminal (one line redrawn in place)
 * or into a log (a line each). How often to draw stays with each bar.
 * @module
 */
import { escapeHtml } from "./html.ts";
import { formatDuration } from "./time.ts";

/** The state a progress bar draws. */
export interface ProgressState {
  /** Steps done. */
  done: number;
  /** Steps in total; null when unknown (a server that does not send the size): no bar is drawn. */
  total: number | null;
  /** A label before the bar. */
  label: string;
  /** Free text after the counts (loss, speed, …). */
  info: string;
  /** Seconds since the bar started. */
  seconds: number;
  /**
   * Steps per second, for the time left. @default done / seconds (the average so far; give it when
   * part of `done` was there before the clock started, as in a resumed download)
   */
  rate?: number;
  /**
   * How counts are written: `"count"` as `5/10`, `"bytes"` as `85.0 MB/170.0 MB`.
   * @default "count"
   */
  unit?: "count" | "bytes";
}

/**
 * Writes a byte count in decimal units (MB = 10^6 bytes).
 *
 * @param bytes The count.
 * @returns E.g. `512 B`, `1.5 kB`, `170.5 MB`, `1.25 GB`.
 * @example
 * ```ts
 * import { formatBytes } from "./progress.ts";
 * if (formatBytes(170_498_071) !== "170.5 MB" || formatBytes(512) !== "512 B") throw new Error();
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/**
 * The fraction of a progress state that is done.
 *
 * @param state The state.
 * @returns `done / total` clamped to [0, 1]; 0 when the total is unknown or 0.
 * @example
 * ```ts
 * import { progressFraction } from "./progress.ts";
 * const state = { done: 12, total: 10, label: "", info: "", seconds: 1 };
 * if (progressFraction(state) !== 1 || progressFraction({ ...state, total: null }) !== 0) throw new Error();
 * ```
 */
export function progressFraction(state: ProgressState): number {
  return state.total !== null && state.total > 0
    ? Math.min(1, Math.max(0, state.done / state.total))
    : 0;
}

/**
 * `12/300 [00:04<01:36]`: counts, elapsed time and the estimated time left; without a total only
 * the count and the elapsed time (`85.0 MB [00:17]`).
 */
function countsAndTimes(state: ProgressState): string {
  const count = state.unit === "bytes" ? formatBytes : String;
  const elapsed = formatDuration(state.seconds, "clock");
  if (state.total === null) return `${count(state.done)} [${elapsed}]`;
  const toDo = state.total - state.done;
  const left = state.rate !== undefined
    ? (state.rate > 0 ? toDo / state.rate : NaN)
    : (state.done > 0 ? (state.seconds / state.done) * toDo : NaN);
  return `${count(state.done)}/${count(state.total)} [${elapsed}<${formatDuration(left, "clock")}]`;
}

/** The percentage done, rounded down, e.g. `42%`. */
function percentText(state: ProgressState): string {
  return `${Math.floor(progressFraction(state) * 100)}%`;
}

/**
 * A progress bar as one line of text, tqdm style.
 *
 * @param state What to draw.
 * @param width Characters of the bar itself. @default 30
 * @returns E.g. `train  40%|############------------------| 4/10 [00:04<00:06] loss 1.2`; without a
 *   total, no percentage or bar: `f.tar.gz 85.0 MB [00:17] 5.0 MB/s`.
 * @example
 * ```ts
 * import { progressText } from "./progress.ts";
 * const line = progressText({ done: 1, total: 4, label: "epoch 1", info: "loss 2.3", seconds: 10 }, 8);
 * if (line !== "epoch 1  25%|##------| 1/4 [00:10<00:30] loss 2.3") throw new Error(line);
 * ```
 */
export function progressText(state: ProgressState, width = 30): string {
  let bar = "";
  if (state.total !== null) {
    const filled = Math.floor(progressFraction(state) * width);
    bar = `${percentText(state).padStart(4)}|${"#".repeat(filled)}${"-".repeat(width - filled)}|`;
  }
  const parts = [state.label, bar, countsAndTimes(state), state.info];
  return parts.filter((p) => p !== "").join(" ");
}

/**
 * A progress bar as HTML (inline styles only, so it looks the same in the exported HTML).
 *
 * @param state What to draw.
 * @returns The markup; the bar's filled part has `data-fraction` set to the fraction done (no bar
 *   when the total is unknown).
 * @example
 * ```ts
 * import { progressHtml } from "./progress.ts";
 * const markup = progressHtml({ done: 3, total: 4, label: "test", info: "", seconds: 3 });
 * if (!markup.includes('data-fraction="0.75"') || !markup.includes("75%")) throw new Error(markup);
 * ```
 */
export function progressHtml(state: ProgressState): string {
  const f = progressFraction(state);
  const complete = state.total !== null && state.total > 0 && state.done >= state.total;
  const bar = state.total === null ? "" : `<span style="display:inline-block;width:320px;` +
    `height:14px;background:#e6e6e6;border:1px solid #999;border-radius:3px;overflow:hidden">` +
    `<span data-fraction="${Number(f.toFixed(4))}" style="display:block;height:100%;` +
    `width:${(f * 100).toFixed(2)}%;background:${complete ? "#3a923a" : "#4c78a8"}"></span></span>`;
  const counts = state.total === null ? "" : `${percentText(state)} `;
  return `<div class="cifar10-progress" style="font-family:monospace;font-size:13px;` +
    `display:flex;align-items:center;gap:8px;flex-wrap:wrap">` +
    (state.label === "" ? "" : `<span>${escapeHtml(state.label)}</span>`) + bar +
    `<span>${counts}${escapeHtml(countsAndTimes(state))}</span>` +
    (state.info === "" ? "" : `<span>${escapeHtml(state.info)}</span>`) +
    `</div>`;
}

/** Options of `progressLineWriter`. */
export interface ProgressLineOptions {
  /** Where text goes. @default writes to stderr */
  write?: (text: string) => void;
  /**
   * Whether the output is a terminal (TTY), where one line is redrawn with `\r`; else (a log file,
   * CI) each line is printed on its own. @default Deno.stderr.isTerminal()
   */
  isTerminal?: boolean;
}

/** Puts progress lines on a terminal or into a log; see `progressLineWriter`. */
export interface ProgressLineWriter {
  /** Whether lines are redrawn in place (a terminal) rather than printed one after another. */
  readonly isTerminal: boolean;
  /** Draws a line: on a terminal over the previous one, in a log as a line of its own. */
  draw(line: string): void;
  /** Draws the last line and ends it, so later output starts on a line of its own. */
  finish(line: string): void;
}

/**
 * Writes progress lines: on a terminal each redraws the same line (`\r`, padded with spaces to
 * cover a longer previous line) and `finish` ends it with a line break; elsewhere every line is
 * printed on its own, since a log cannot redraw.
 *
 * @param options Output and whether it is a terminal.
 * @returns The writer.
 * @example
 * ```ts
 * import { progressLineWriter } from "./progress.ts";
 * let out = "";
 * const tty = progressLineWriter({ write: (t) => (out += t), isTerminal: true });
 * tty.draw("downloading 10%");
 * tty.finish("done");
 * if (out !== "\rdownloading 10%\rdone           \n") throw new Error(JSON.stringify(out));
 * ```
 */
export function progressLineWriter(options: ProgressLineOptions = {}): ProgressLineWriter {
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const isTerminal = options.isTerminal ?? Deno.stderr.isTerminal();
  let lastLength = 0;
  const put = (line: string, end: boolean) => {
    if (!isTerminal) return write(`${line}\n`);
    const pad = " ".repeat(Math.max(0, lastLength - line.length));
    lastLength = end ? 0 : line.length;
    write(`\r${line}${pad}${end ? "\n" : ""}`);
  };
  return {
    isTerminal,
    draw: (line) => put(line, false),
    finish: (line) => put(line, true),
  };
}
