/**
 * What every chart module shares: a DOM for Observable Plot (linkedom) and the finishing touches
 * that make a Plot SVG display in the Deno kernel and in exported HTML.
 * @module
 */
import { parseHTML } from "linkedom";
import { DISPLAY_SYMBOL } from "../core/html.ts";

/** The SVG namespace, set on every chart so its markup stands alone as an `.svg` file. */
export const SVG_NAMESPACE = "http://www.w3.org/2000/svg";

// Plot's option type names the browser's Document, which Deno's types lack; linkedom's fits.
// deno-lint-ignore no-explicit-any
export type PlotDocument = any;

/** A node of a chart's server-side DOM (linkedom), with the DOM methods tests and callers use. */
export interface ChartNode {
  /** Upper- or lower-case tag name (`svg`, `g`, `path`, `text`, …). */
  readonly tagName: string;
  /** The text inside the node. */
  readonly textContent: string | null;
  /** Markup of the node and its children. */
  readonly outerHTML: string;
  /** Reads an attribute. */
  getAttribute(name: string): string | null;
  /** Sets an attribute. */
  setAttribute(name: string, value: string): void;
  /** First descendant matching a CSS selector. */
  querySelector(selector: string): ChartNode | null;
  /** All descendants matching a CSS selector. */
  querySelectorAll(selector: string): ArrayLike<ChartNode> & Iterable<ChartNode>;
}

/** A chart: the `<svg>` element (its `outerHTML` is the markup the notebook shows). */
export type Chart = ChartNode;

/** Options shared by the charts. */
export interface ChartOptions {
  /** A title drawn across the top (say "synthetic data" here when it is). @default none */
  title?: string;
  /** Width in pixels. @default 640 */
  width?: number;
  /** Height in pixels. @default depends on the chart */
  height?: number;
}

/** A fresh DOM document for `Plot.plot({ document })`. */
export function newDocument(): PlotDocument {
  const window = parseHTML("<!DOCTYPE html><html><head></head><body></body></html>");
  return (window as unknown as { document: unknown }).document;
}

/** Checks Plot returned an SVG and makes it a standalone, displayable chart. */
export function finish(chart: ChartNode, title: string | undefined): Chart {
  if (chart.tagName.toLowerCase() !== "svg") {
    throw new TypeError(
      `Cannot draw a chart: expected Plot to return <svg>, found <${chart.tagName}>`,
    );
  }
  chart.setAttribute("xmlns", SVG_NAMESPACE);
  if (title !== undefined) chart.setAttribute("aria-label", title);
  chart.setAttribute("style", "background:white;color:black;max-width:100%;height:auto");
  // The kernel asks displayable objects for their bundle first: SVG plus the same markup as HTML,
  // because nbconvert 6.5 strips SVG elements from `image/svg+xml` outputs (see lib/display/show.ts).
  Object.defineProperty(chart, DISPLAY_SYMBOL, {
    value: () => ({
      "image/svg+xml": chart.outerHTML,
      "text/html": chart.outerHTML,
      "text/plain": `[chart${title === undefined ? "" : `: ${title}`}]`,
    }),
  });
  return chart;
}
