/**
 * The only module that talks to the Jupyter kernel (`Deno.jupyter`). It shows values (charts,
 * image grids, tables, HTML), draws a progress bar and a live output that redraw in place
 * (`update_display_data` through a display id), and falls back to plain terminal output when the
 * code does not run in the Deno kernel (scripts, tests).
 *
 * `trainingMonitor` puts these together for a training run: the progress bar, the live loss chart
 * and the tutorial's per-epoch lines, as `fit`'s callbacks.
 *
 * Every function takes an optional `jupyter` object; by default the kernel's `Deno.jupyter` is used
 * when present. Tests pass a fake one that records what would be sent.
 * @module
 */
import { formatDuration, nextTurn, YIELD_INTERVAL_MS } from "../core/time.ts";
import { liveLossChart } from "../plots/curves.ts";
import {
  type BatchCallback,
  type EpochRecord,
  type FitResult,
  formatEpochLine,
  formatSavingLine,
  type SaveEvent,
} from "../train/fit.ts";

/** The symbol the Deno kernel calls to get an object's media bundle. */
export const DISPLAY_SYMBOL: unique symbol = Symbol.for("Jupyter.display") as typeof DISPLAY_SYMBOL;

/** A Jupyter media bundle: MIME type → data (`text/html` → markup, `image/png` → base64, …). */
export type MediaBundle = Record<string, unknown>;

/** An object the Deno kernel (and `show`) displays through its media bundle. */
export interface Displayable {
  /** Returns the media bundle to display. */
  [DISPLAY_SYMBOL](): MediaBundle;
}

/** Options of `Deno.jupyter.display`. */
export interface DisplayOptions {
  /** Send the object as a ready media bundle. */
  raw?: boolean;
  /** Identifies an output so later messages can redraw it. */
  display_id?: string;
  /** Redraw the output with this display id instead of adding one (`update_display_data`). */
  update?: boolean;
}

/** The part of `Deno.jupyter` this module uses. */
export interface JupyterApi {
  /** Sends `display_data` (or `update_display_data` with `update`) for an object. */
  display(value: unknown, options?: DisplayOptions): Promise<void>;
}

/** Where output goes: the kernel, or (null) the terminal. */
export interface OutputOptions {
  /** The kernel API; default: `Deno.jupyter` inside the Deno kernel, else null (terminal). */
  jupyter?: JupyterApi | null;
  /** Writes a line of terminal output (fallback); default: `console.log`. */
  log?: (line: string) => void;
}

/**
 * The kernel's API when this code runs in the Deno Jupyter kernel, else null. (Reading
 * `Deno.jupyter` outside the kernel throws, hence the guard.)
 *
 * @returns `Deno.jupyter` or null.
 * @example
 * ```ts
 * import { jupyterApi } from "./show.ts";
 * if (jupyterApi() !== null) throw new Error("deno test is not a Jupyter kernel");
 * ```
 */
export function jupyterApi(): JupyterApi | null {
  try {
    const api = (Deno as unknown as { jupyter?: Partial<JupyterApi> }).jupyter;
    return typeof api?.display === "function" ? (api as JupyterApi) : null;
  } catch {
    return null;
  }
}

function resolveJupyter(options: OutputOptions): JupyterApi | null {
  return options.jupyter === undefined ? jupyterApi() : options.jupyter;
}

/**
 * Waits a moment so the kernel publishes pending outputs before the cell ends. The Deno kernel
 * (2.9.6) sometimes reports a cell finished ("idle") before publishing its last outputs, and
 * frontends then drop those outputs; a short pause at the end of a cell avoids it (measured: 0 of
 * 160 cells lost with the pause, about 1 in 20 without).
 *
 * @param ms How long to wait. @default 15
 * @returns When the time has passed.
 */
export function settle(ms = 15): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isDisplayable(value: unknown): value is Displayable {
  // `in` first, as the kernel does: a polars DataFrame is a Proxy that returns a function for any
  // symbol it is asked for, yet answers `in` truthfully.
  return typeof value === "object" && value !== null && DISPLAY_SYMBOL in value &&
    typeof (value as Record<symbol, unknown>)[DISPLAY_SYMBOL] === "function";
}

/** Strips tags and decodes the few entities `escapeHtml` produces. */
function htmlToText(markup: string): string {
  return markup.replace(/<br\s*\/?>/gi, "\n").replace(/<\/(p|div|tr|h\d|li)>/gi, "\n")
    .replace(/<\/t[dh]>/gi, "\t").replace(/<[^>]*>/g, "").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&")
    .replace(/[ \t]+\n/g, "\n").trim();
}

/**
 * A plain-text stand-in for a value, used when there is no notebook to show it in.
 *
 * @param value Anything `show` accepts.
 * @returns Text: a displayable's `text/plain` (else its HTML as text), a DataFrame's table,
 *   `[image W×H]` for a canvas, `[chart: label]` for an SVG element, strings as they are.
 * @example
 * ```ts
 * import { html, textOf } from "./show.ts";
 * if (textOf(html("<b>a &amp; b</b>")) !== "a & b") throw new Error();
 * if (textOf({ width: 64, height: 32, toDataURL: () => "" }) !== "[image 64×32]") throw new Error();
 * ```
 */
export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    // A polars DataFrame prints as a neat text table (its own display bundle has no text form).
    const v = value as Record<string, unknown>;
    if (typeof v.toRecords === "function" && typeof v.head === "function") return String(value);
  }
  if (isDisplayable(value)) {
    const bundle = value[DISPLAY_SYMBOL]();
    if (typeof bundle["text/plain"] === "string") return bundle["text/plain"];
    if (typeof bundle["text/html"] === "string") return htmlToText(bundle["text/html"]);
    return `[${Object.keys(bundle).join(", ")}]`;
  }
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (typeof v.toDataURL === "function") return `[image ${v.width}×${v.height}]`;
    if (typeof v.outerHTML === "string" && v.outerHTML.startsWith("<svg")) {
      const label = /aria-label="([^"]*)"/.exec(v.outerHTML)?.[1];
      return `[chart${label ? `: ${label}` : ""}]`;
    }
  }
  return Deno.inspect(value, { colors: false, depth: 4 });
}

/**
 * Shows a value: in the notebook as rich output (a canvas as a PNG, an SVG element as
 * `image/svg+xml`, a polars DataFrame or `table()` as a table, `html()` as HTML); elsewhere as text
 * on the terminal. End a notebook cell with `await show(x)` rather than a bare `x` so the output
 * is never lost (see `settle`).
 *
 * @param value What to show.
 * @param options Where to show it (default: the kernel when present, else `console.log`).
 * @returns When the output has been sent.
 * @example
 * ```ts
 * import { html, show } from "./show.ts";
 * const lines: string[] = [];
 * await show(html("<b>hi</b>"), { jupyter: null, log: (l) => lines.push(l) });
 * if (lines[0] !== "hi") throw new Error(lines[0]);
 * ```
 */
export async function show(value: unknown, options: OutputOptions = {}): Promise<void> {
  const jupyter = resolveJupyter(options);
  if (jupyter === null) {
    (options.log ?? console.log)(textOf(value));
    return;
  }
  const bundle = svgBundle(value);
  await (bundle === null ? jupyter.display(value) : jupyter.display(bundle, { raw: true }));
  await settle();
}

/**
 * The media bundle of an SVG element: `image/svg+xml`, plus the same markup as `text/html` and a
 * `text/plain` label. Why both: nbconvert 6.5 (Debian 12) passes `image/svg+xml` outputs through
 * lxml's `clean_html`, which deletes every SVG element it does not know (paths, groups, circles),
 * leaving blank charts in the exported HTML; exporters and frontends prefer `text/html`, which they
 * embed as is. Objects with their own `Symbol.for("Jupyter.display")` keep their bundle.
 *
 * @param value Any value.
 * @returns The bundle, or null when `value` is not an SVG element without a bundle of its own.
 * @example
 * ```ts
 * import { svgBundle } from "./show.ts";
 * const bundle = svgBundle({ outerHTML: '<svg aria-label="Loss"><path d="M0,0"/></svg>' })!;
 * if (bundle["image/svg+xml"] !== bundle["text/html"] || bundle["text/plain"] !== "[chart: Loss]") throw new Error();
 * if (svgBundle("text") !== null) throw new Error();
 * ```
 */
export function svgBundle(value: unknown): MediaBundle | null {
  if (typeof value !== "object" || value === null || isDisplayable(value)) return null;
  const markup = (value as { outerHTML?: unknown }).outerHTML;
  if (typeof markup !== "string" || !markup.startsWith("<svg")) return null;
  return { "image/svg+xml": markup, "text/html": markup, "text/plain": textOf(value) };
}

/**
 * Escapes text for HTML.
 *
 * @param text Any text.
 * @returns The text with `& < > " '` escaped.
 * @example
 * ```ts
 * import { escapeHtml } from "./show.ts";
 * if (escapeHtml(`<a href="x">&</a>`) !== "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;") throw new Error();
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * Wraps HTML markup as a displayable (`text/html`, plus `text/plain` for text frontends).
 *
 * @param markup The HTML.
 * @param options `text`: the plain-text form (default: the markup without tags).
 * @returns A displayable.
 * @example
 * ```ts
 * import { DISPLAY_SYMBOL, html } from "./show.ts";
 * const bundle = html("<i>x</i>")[DISPLAY_SYMBOL]();
 * if (bundle["text/html"] !== "<i>x</i>" || bundle["text/plain"] !== "x") throw new Error();
 * ```
 */
export function html(markup: string, options: { text?: string } = {}): Displayable {
  const text = options.text ?? htmlToText(markup);
  return { [DISPLAY_SYMBOL]: () => ({ "text/html": markup, "text/plain": text }) };
}

/**
 * A notice for the reader, such as "this data copy is not the official archive": an amber framed
 * paragraph, unlike text printed to stderr, which notebook frontends and the exported HTML paint
 * as an error.
 *
 * @param message The text (plain text, escaped), e.g. a data module notice.
 * @returns A displayable whose text form is the message.
 * @example
 * ```ts
 * import { DISPLAY_SYMBOL, notice } from "./show.ts";
 * const bundle = notice("Notice: unofficial copy <x>")[DISPLAY_SYMBOL]();
 * if (bundle["text/plain"] !== "Notice: unofficial copy <x>") throw new Error();
 * const markup = bundle["text/html"] as string;
 * if (!markup.includes('role="note"') || !markup.includes("copy &lt;x&gt;")) throw new Error(markup);
 * ```
 */
export function notice(message: string): Displayable {
  return html(
    `<div class="cifar10-notice" role="note" style="border-left:4px solid #c98a00;` +
      `background:#fff8e1;color:#222;padding:6px 12px;margin:4px 0">${escapeHtml(message)}</div>`,
    { text: message },
  );
}

/** Something `table` can show: rows of records, or a polars DataFrame (anything with `toRecords`). */
export type TableSource = readonly Record<string, unknown>[] | {
  toRecords(): Record<string, unknown>[];
};

/** Options of `table`. */
export interface TableOptions {
  /** A caption above the table. */
  caption?: string;
  /** Formats a cell; default: numbers with thousands separators / up to 4 decimals, else `String`. */
  format?: (value: unknown, column: string) => string;
  /** Columns whose cells are right-aligned. @default the columns whose values are all numbers */
  alignRight?: readonly string[];
}

function defaultFormat(value: unknown): string {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value.toLocaleString("en-US");
    return Number.isFinite(value) ? String(Number(value.toFixed(4))) : String(value);
  }
  if (typeof value === "bigint") return value.toLocaleString("en-US");
  return value === null || value === undefined ? "" : String(value);
}

/**
 * A table of every row, as HTML with a plain-text twin. (A DataFrame shown directly gets no text
 * form, and at most 10 or 50 rows depending on the kernel and polars versions.)
 *
 * @param source Rows of records or a polars DataFrame.
 * @param options Caption, cell format, right-aligned columns.
 * @returns A displayable table.
 * @example
 * ```ts
 * import { DISPLAY_SYMBOL, table } from "./show.ts";
 * const bundle = table([{ layer: "conv1", parameters: 448 }, { layer: "fc1", parameters: 4096500 }])[DISPLAY_SYMBOL]();
 * const text = bundle["text/plain"] as string;
 * if (!text.includes("4,096,500") || !(bundle["text/html"] as string).includes(">conv1</td>")) throw new Error(text);
 * ```
 */
export function table(source: TableSource, options: TableOptions = {}): Displayable {
  // A polars DataFrame is a Proxy whose `in` answers column names, so test the method itself.
  const frame = source as { toRecords?: unknown };
  const rows = typeof frame.toRecords === "function"
    ? (frame.toRecords as () => Record<string, unknown>[])()
    : [...(source as readonly Record<string, unknown>[])];
  const columns: string[] = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  }
  const format = options.format ?? defaultFormat;
  const right = new Set(
    options.alignRight ??
      columns.filter((c) =>
        rows.length > 0 && rows.every((r) => typeof r[c] === "number" || typeof r[c] === "bigint")
      ),
  );
  const cells = rows.map((row) => columns.map((c) => format(row[c], c)));
  // Explicit alignment: notebook stylesheets right-align every cell by default.
  const style = (c: string) => ` style="text-align:${right.has(c) ? "right" : "left"}"`;
  // The caption sits above the table rather than in a <caption>, which browsers wrap to the
  // table's width: a long caption over a narrow table became a tall column of words.
  const markup = [
    options.caption === undefined ? "" : `<div class="cifar10-table-figure">` +
      `<div class="cifar10-caption" style="font-weight:600;text-align:left;margin:0 0 4px">` +
      `${escapeHtml(options.caption)}</div>`,
    `<table class="cifar10-table">`,
    `<thead><tr>${
      columns.map((c) => `<th${style(c)}>${escapeHtml(c)}</th>`).join("")
    }</tr></thead>`,
    `<tbody>`,
    ...cells.map((r) =>
      `<tr>${r.map((v, i) => `<td${style(columns[i]!)}>${escapeHtml(v)}</td>`).join("")}</tr>`
    ),
    `</tbody></table>`,
    options.caption === undefined ? "" : `</div>`,
  ].join("");
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values.map((v, i) => right.has(columns[i]!) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))
      .join("  ").trimEnd();
  const text = [
    ...(options.caption === undefined ? [] : [options.caption]),
    line(columns),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map(line),
  ].join("\n");
  return { [DISPLAY_SYMBOL]: () => ({ "text/html": markup, "text/plain": text }) };
}

/** The state a progress bar draws. */
export interface ProgressState {
  /** Steps done. */
  done: number;
  /** Steps in total. */
  total: number;
  /** A label before the bar. */
  label: string;
  /** Free text after the counts (loss, speed, …). */
  info: string;
  /** Seconds since the bar started. */
  seconds: number;
}

function fraction(state: ProgressState): number {
  return state.total > 0 ? Math.min(1, Math.max(0, state.done / state.total)) : 0;
}

/** `12/300 [00:04<01:36]`: counts, elapsed time and the estimated time left. */
function countsAndTimes(state: ProgressState): string {
  const left = state.done > 0 ? (state.seconds / state.done) * (state.total - state.done) : NaN;
  return `${state.done}/${state.total} [${formatDuration(state.seconds, "clock")}<${
    formatDuration(left, "clock")
  }]`;
}

/**
 * A progress bar as one line of text, tqdm style.
 *
 * @param state What to draw.
 * @param width Characters of the bar itself. @default 30
 * @returns E.g. `train  40%|############------------------| 4/10 [00:04<00:06] loss 1.2`.
 * @example
 * ```ts
 * import { progressText } from "./show.ts";
 * const line = progressText({ done: 1, total: 4, label: "epoch 1", info: "loss 2.3", seconds: 10 }, 8);
 * if (line !== "epoch 1  25%|##------| 1/4 [00:10<00:30] loss 2.3") throw new Error(line);
 * ```
 */
export function progressText(state: ProgressState, width = 30): string {
  const f = fraction(state);
  const filled = Math.floor(f * width);
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  const percent = `${Math.floor(f * 100)}%`.padStart(4);
  const parts = [state.label, `${percent}|${bar}|`, countsAndTimes(state), state.info];
  return parts.filter((p) => p !== "").join(" ");
}

/**
 * A progress bar as HTML (inline styles only, so it looks the same in the exported HTML).
 *
 * @param state What to draw.
 * @returns The markup; the bar's filled part has `data-fraction` set to the fraction done.
 * @example
 * ```ts
 * import { progressHtml } from "./show.ts";
 * const markup = progressHtml({ done: 3, total: 4, label: "test", info: "", seconds: 3 });
 * if (!markup.includes('data-fraction="0.75"') || !markup.includes("75%")) throw new Error(markup);
 * ```
 */
export function progressHtml(state: ProgressState): string {
  const f = fraction(state);
  const percent = `${Math.floor(f * 100)}%`;
  const color = state.done >= state.total && state.total > 0 ? "#3a923a" : "#4c78a8";
  return `<div class="cifar10-progress" style="font-family:monospace;font-size:13px;` +
    `display:flex;align-items:center;gap:8px;flex-wrap:wrap">` +
    (state.label === "" ? "" : `<span>${escapeHtml(state.label)}</span>`) +
    `<span style="display:inline-block;width:320px;height:14px;background:#e6e6e6;` +
    `border:1px solid #999;border-radius:3px;overflow:hidden">` +
    `<span data-fraction="${Number(f.toFixed(4))}" style="display:block;height:100%;` +
    `width:${(f * 100).toFixed(2)}%;background:${color}"></span></span>` +
    `<span>${percent} ${escapeHtml(countsAndTimes(state))}</span>` +
    (state.info === "" ? "" : `<span>${escapeHtml(state.info)}</span>`) +
    `</div>`;
}

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

function newDisplayId(): string {
  return `cifar10-${crypto.randomUUID()}`;
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
 * import { progressBar } from "./show.ts";
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
  const isTerminal = options.isTerminal ?? Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const interval = options.minIntervalMs ?? 1000;
  let last = -Infinity;
  let lastDecile = -1;
  const draw = (final: boolean) => {
    const t = now();
    state.seconds = (t - started) / 1000;
    if (isTerminal) {
      if (!final && t - last < interval) return;
      last = t;
      write(`\r${progressText(state)}${final ? "\n" : ""}`);
      return;
    }
    const decile = Math.floor(fraction(state) * 10);
    if (!final && decile === lastDecile) return;
    lastDecile = decile;
    write(`${progressText(state)}\n`);
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

/** An output that can be redrawn in place (a live chart). */
export interface LiveDisplay {
  /** The display id of its output in the notebook; null outside a notebook. */
  readonly displayId: string | null;
  /**
   * Redraws with what `render` returns. Calls closer together than `minIntervalMs` are deferred:
   * `render` runs only when the output is actually redrawn (here or in `flush`).
   */
  update(render: () => unknown): Promise<void>;
  /** Redraws now with the latest deferred `render`, if any. */
  flush(): Promise<void>;
}

/**
 * Shows a value that later updates redraw in place, e.g. a loss chart during training. Outside a
 * notebook nothing is shown (a chart has no terminal form) and updates cost nothing.
 *
 * @param initial The first value to show (anything `show` accepts).
 * @param options Redraw interval (default 1000 ms), clock, output target.
 * @returns The live output.
 * @example
 * ```ts
 * import { liveDisplay } from "./show.ts";
 * const live = await liveDisplay("start", { jupyter: null });
 * let rendered = 0;
 * await live.update(() => rendered++);
 * if (live.displayId !== null || rendered !== 0) throw new Error("no notebook: nothing to draw");
 * ```
 */
export async function liveDisplay(
  initial: unknown,
  options: Omit<ProgressDisplayOptions, "label" | "write" | "isTerminal"> = {},
): Promise<LiveDisplay> {
  const jupyter = resolveJupyter(options);
  if (jupyter === null) {
    return { displayId: null, update: () => Promise.resolve(), flush: () => Promise.resolve() };
  }
  const now = options.now ?? (() => performance.now());
  const interval = options.minIntervalMs ?? 1000;
  const displayId = newDisplayId();
  const send = (value: unknown, update: boolean) => {
    const bundle = svgBundle(value);
    return bundle === null
      ? jupyter.display(value, { display_id: displayId, update })
      : jupyter.display(bundle, { raw: true, display_id: displayId, update });
  };
  await send(initial, false);
  let last = now();
  let pending: (() => unknown) | null = null;
  const draw = async () => {
    if (pending === null) return;
    const render = pending;
    pending = null;
    last = now();
    await send(render(), true);
  };
  return {
    displayId,
    async update(render) {
      pending = render;
      if (now() - last >= interval) await draw();
    },
    async flush() {
      await draw();
      await settle();
    },
  };
}

/** Options of `trainingMonitor`. */
export interface TrainingMonitorOptions extends ProgressDisplayOptions {
  /** Epochs planned in all (fixes the chart's x axis). */
  epochs: number;
  /** Batches per epoch, training and validation together (sizes the progress bar). */
  batchesPerEpoch: number;
  /**
   * Epochs already completed (a resumed run: the run record's epochs): drawn on the chart, and
   * training is counted from the epoch after the last of them. @default none
   */
  done?: readonly EpochRecord[];
  /** Title of the live chart. @default "Loss during training" */
  title?: string;
  /** Prints one of the tutorial's lines. @default console.log */
  print?: (line: string) => void;
  /**
   * Hand control to the event loop after a batch when this many milliseconds passed since the
   * last time (0: after every batch). @default YIELD_INTERVAL_MS
   */
  yieldIntervalMs?: number;
}

/**
 * The mean loss per image over the last `window` batches added, whatever epoch they came from
 * (the training loss line of the live chart). Running sums: constant work per batch.
 */
function trailingMean(window: number): { add(loss: number, images: number): number } {
  const batches: { lossSum: number; images: number }[] = [];
  let lossSum = 0, imageSum = 0;
  return {
    add(loss, images) {
      if (Number.isFinite(loss) && images > 0) {
        batches.push({ lossSum: loss * images, images });
        lossSum += loss * images;
        imageSum += images;
      }
      if (batches.length > window) {
        const dropped = batches.shift()!;
        lossSum -= dropped.lossSum;
        imageSum -= dropped.images;
      }
      return imageSum > 0 ? lossSum / imageSum : NaN;
    },
  };
}

/** What `trainingMonitor` returns: `fit`'s callbacks and the closing step. */
export interface TrainingMonitor {
  /**
   * Advances the progress bar, adds the moving mean of the training loss to the chart (the last
   * tenth of an epoch's batches, across epoch boundaries), and lets the event
   * loop run now and then (see `YIELD_INTERVAL_MS`).
   */
  onBatch: BatchCallback;
  /** Prints the tutorial's epoch line and adds the epoch's losses to the chart. */
  onEpoch(record: EpochRecord): Promise<void>;
  /** Prints the tutorial's "Validation loss decreased … Saving model ..." line. */
  onSave(event: SaveEvent): void;
  /**
   * Draws the final state: a full bar with the best epoch after a completed run; after an early
   * stop the bar stays where it stopped and `result.message` is printed. `options.note` is printed
   * last (e.g. where the run record is). It ends with `settle()`, so a frontend gets every line
   * before the cell is done: end a training cell with it.
   */
  finish(
    result: Pick<FitResult, "stopReason" | "message" | "bestEpoch" | "bestValidLoss">,
    options?: { note?: string },
  ): Promise<void>;
}

/**
 * Everything a notebook shows while `fit` trains: a progress bar over the batches still to run
 * (training and validation), a live chart of the training loss's moving mean and each epoch's losses
 * (`liveLossChart`, redrawn in place), and the tutorial's per-epoch and "Saving model" lines. Pass
 * its `onBatch`, `onEpoch` and `onSave` to `fit` (or `RunRecorder.fit`), then call `finish` with
 * the result. Outside a notebook the bar goes to the terminal and the chart is skipped.
 *
 * @param options Planned epochs, batches per epoch, epochs already done, chart title, outputs.
 * @returns The callbacks and `finish`.
 * @example
 * ```ts
 * import { trainingMonitor } from "./show.ts";
 * const lines: string[] = [];
 * const monitor = await trainingMonitor({
 *   epochs: 1, batchesPerEpoch: 1, jupyter: null, write: () => {}, print: (l) => lines.push(l),
 * });
 * const record = { epoch: 1, trainLoss: 2.5, validLoss: 2.25, trainAccuracy: 0.1, validAccuracy: 0.1,
 *   trainImages: 30, validImages: 30, seconds: 1, trainImagesPerSecond: 30, saved: true, bestValidLoss: 2.25 };
 * await monitor.onEpoch(record);
 * monitor.onSave({ epoch: 1, previousLoss: Infinity, validLoss: 2.25, dir: null });
 * await monitor.finish({ stopReason: "completed", message: null, bestEpoch: 1, bestValidLoss: 2.25 });
 * if (lines.join("\n") !== "Epoch: 1 \tTraining Loss: 2.500000 \tValidation Loss: 2.250000\n" +
 *   "Validation loss decreased (inf --> 2.250000).  Saving model ...") throw new Error(lines.join("\n"));
 * ```
 */
export async function trainingMonitor(options: TrainingMonitorOptions): Promise<TrainingMonitor> {
  const { epochs, batchesPerEpoch } = options;
  if (!Number.isInteger(epochs) || epochs < 1) {
    throw new RangeError(
      `Cannot monitor training: expected epochs to be an integer ≥ 1, found ${epochs}`,
    );
  }
  if (!Number.isInteger(batchesPerEpoch) || batchesPerEpoch < 0) {
    throw new RangeError(
      `Cannot monitor training: expected batchesPerEpoch to be an integer ≥ 0, found ${batchesPerEpoch}`,
    );
  }
  const print = options.print ?? ((line: string) => console.log(line));
  const finished: EpochRecord[] = [...(options.done ?? [])];
  const firstEpoch = (finished.at(-1)?.epoch ?? 0) + 1;
  const running: { x: number; loss: number }[] = [];
  let recent: ReturnType<typeof trailingMean> | null = null;
  const title = options.title ?? "Loss during training";
  const chart = () =>
    liveLossChart({ batches: running, epochs: finished, totalEpochs: epochs }, { title });
  const bar = await progressBar(Math.max(0, epochs - firstEpoch + 1) * batchesPerEpoch, {
    ...options,
    label: options.label ?? "training",
  });
  const live = await liveDisplay(chart(), options);
  const now = options.now ?? (() => performance.now());
  const yieldInterval = options.yieldIntervalMs ?? YIELD_INTERVAL_MS;
  let lastTurn = now();
  let batchesDone = 0;
  return {
    async onBatch(p) {
      if (now() - lastTurn >= yieldInterval) {
        await nextTurn();
        lastTurn = now();
      }
      batchesDone++;
      await bar.update(
        batchesDone,
        `epoch ${p.epoch}/${epochs} ${p.phase === "train" ? "training" : "validation"} ` +
          `${p.batch}/${p.batches}, loss ${p.runningLoss.toFixed(3)}, ` +
          `${p.imagesPerSecond.toFixed(0)} images/s`,
      );
      if (p.phase === "train") {
        // A tenth of an epoch's batches, carried over epoch boundaries: the epoch's own running
        // mean restarts at each epoch, and its first noisy batches drew a spike on the line.
        recent ??= trailingMean(Math.max(1, Math.ceil(p.batches / 10)));
        const loss = recent.add(p.batchLoss, p.batchImages);
        running.push({ x: p.epoch - 1 + p.batch / p.batches, loss });
        await live.update(chart);
      }
    },
    async onEpoch(record) {
      finished.push(record);
      print(formatEpochLine(record));
      await live.update(chart);
    },
    onSave(event) {
      print(formatSavingLine(event.previousLoss, event.validLoss));
    },
    async finish(result, { note } = {}) {
      await live.update(chart);
      await live.flush();
      if (result.stopReason === "completed") {
        await bar.finish(
          result.bestEpoch === null
            ? "no epoch trained"
            : `best epoch ${result.bestEpoch}` + (Number.isFinite(result.bestValidLoss)
              ? `, validation loss ${result.bestValidLoss.toFixed(6)}`
              : ""),
        );
      } else {
        await bar.finish(
          result.stopReason === "aborted" ? "interrupted" : "stopped: the loss diverged",
          { complete: false },
        );
      }
      if (result.message !== null) print(result.message);
      if (note !== undefined) print(note);
      // Printed lines are sent as the kernel gets to them; the Deno kernel can report the cell
      // done first, and JupyterLab then drops them (seen: the resume hint after an interrupt).
      await settle();
    },
  };
}
