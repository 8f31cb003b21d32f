/**
 * The only code that talks to the Jupyter kernel (`Deno.jupyter`), and how values are shown: as
 * rich output in the notebook (charts, image grids, HTML), as plain text on the terminal when the
 * code does not run in the Deno kernel (scripts, tests). The other modules of lib/display build on
 * it: tables (table.ts), a progress bar (progress.ts) and a live output (live.ts) that redraw in
 * place through a display id (`update_display_data`), and the training monitor (monitor.ts).
 *
 * Every function takes an optional `jupyter` object; by default the kernel's `Deno.jupyter` is used
 * when present. Tests pass a fake one that records what would be sent.
 * @module
 */

import { DISPLAY_SYMBOL, type Displayable, escapeHtml, type MediaBundle } from "../core/html.ts";

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

/**
 * Where output with these options goes: the given `jupyter` (null: the terminal), else the
 * kernel's API when there is one.
 *
 * @param options Output options.
 * @returns The kernel API to send to, or null for the terminal.
 * @example
 * ```ts
 * import { resolveJupyter } from "./show.ts";
 * const fake = { display: () => Promise.resolve() };
 * if (resolveJupyter({ jupyter: fake }) !== fake || resolveJupyter({ jupyter: null }) !== null) {
 *   throw new Error();
 * }
 * ```
 */
export function resolveJupyter(options: OutputOptions): JupyterApi | null {
  return options.jupyter === undefined ? jupyterApi() : options.jupyter;
}

/**
 * A new display id, naming one notebook output so later messages can redraw it in place.
 *
 * @returns `cifar10-` and a random UUID.
 * @example
 * ```ts
 * import { newDisplayId } from "./show.ts";
 * if (!newDisplayId().startsWith("cifar10-") || newDisplayId() === newDisplayId()) throw new Error();
 * ```
 */
export function newDisplayId(): string {
  return `cifar10-${crypto.randomUUID()}`;
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
 * Wraps HTML markup as a displayable (`text/html`, plus `text/plain` for text frontends).
 *
 * @param markup The HTML.
 * @param options `text`: the plain-text form (default: the markup without tags).
 * @returns A displayable.
 * @example
 * ```ts
 * import { DISPLAY_SYMBOL } from "../core/html.ts";
 * import { html } from "./show.ts";
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
 * import { DISPLAY_SYMBOL } from "../core/html.ts";
 * import { notice } from "./show.ts";
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
