/**
 * Tables for the notebook: every row of a list of records or a polars DataFrame, as HTML with a
 * plain-text twin for terminals and text frontends.
 * @module
 */
import { DISPLAY_SYMBOL, type Displayable } from "../core/html.ts";
import { escapeHtml } from "../core/html.ts";

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
 * import { DISPLAY_SYMBOL } from "../core/html.ts";
 * import { table } from "./table.ts";
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
