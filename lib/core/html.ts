/**
 * HTML text for every layer that writes markup (progress bars in core, tables and notices in
 * display): one escaping rule, and the Deno kernel's display protocol, which charts (plots) and
 * tables (display) both implement.
 * @module
 */

/** The symbol the Deno kernel calls to get an object's media bundle. */
export const DISPLAY_SYMBOL: unique symbol = Symbol.for("Jupyter.display") as typeof DISPLAY_SYMBOL;

/** A Jupyter media bundle: MIME type → data (`text/html` → markup, `image/png` → base64, …). */
export type MediaBundle = Record<string, unknown>;

/** An object the Deno kernel (and `show`) displays through its media bundle. */
export interface Displayable {
  /** Returns the media bundle to display. */
  [DISPLAY_SYMBOL](): MediaBundle;
}

/**
 * Escapes text for HTML.
 *
 * @param text Any text.
 * @returns The text with `& < > " '` escaped.
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * if (escapeHtml(`<a href="x">&</a>`) !== "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;") throw new Error();
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
