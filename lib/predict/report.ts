/**
 * Reporting what `classifyImages` found: table rows (for `table()` in lib/display/table.ts), a
 * plain-text table for the terminal, and JSON for `--json`. The chart is `predictionChart` in
 * lib/plots/predictions.ts.
 * @module
 */
import { basename } from "node:path";
import { CIFAR10_CLASSES } from "../data/mod.ts";
import type { ImageResult } from "./classify.ts";
import type { SupportedFormat } from "./image_format.ts";
import type { Box, FitMode } from "./resize.ts";

/**
 * A probability as the reports show it: a percentage with one decimal.
 *
 * @param probability A probability in [0, 1].
 * @returns E.g. `"81.2%"`.
 * @example
 * ```ts
 * import { formatProbability } from "./report.ts";
 * if (formatProbability(0.625) !== "62.5%") throw new Error(formatProbability(0.625));
 * ```
 */
export function formatProbability(probability: number): string {
  return `${(100 * probability).toFixed(1)}%`;
}

/** Column names of the top classes: `1st`, `2nd`, `3rd`, `4th`, … */
function ordinal(i: number): string {
  return ["1st", "2nd", "3rd"][i] ?? `${i + 1}th`;
}

/** One row of `predictionRows`: `file`, `size`, `fit`, then `1st`, `2nd`, … or `error`. */
export type PredictionRow = Record<string, string>;

/**
 * The results as table rows (for `table()` in lib/display/table.ts, or `formatPredictionTable`):
 * `file`, `size` (`640×480`), `fit`, then one column per top class (`1st`: `airplane 81.2%`);
 * a failed file has `error` instead.
 *
 * @param results What `classifyImages` returned.
 * @param options `names`: `"path"` (default) shows files as given, `"base"` only their names.
 * @returns One row per result.
 * @example
 * ```ts
 * import { predictionRows } from "./report.ts";
 * const [row] = predictionRows([{ ok: false, file: "a/b.gif", error: new TypeError("GIF") }], { names: "base" });
 * if (JSON.stringify(row) !== '{"file":"b.gif","error":"GIF"}') throw new Error(JSON.stringify(row));
 * ```
 */
export function predictionRows(
  results: readonly ImageResult[],
  options: { names?: "path" | "base" } = {},
): PredictionRow[] {
  const name = (file: string) => (options.names === "base" ? basename(file) : file);
  return results.map((r) => {
    if (!r.ok) return { file: name(r.file), error: r.error.message };
    const row: PredictionRow = {
      file: name(r.file),
      size: `${r.image.width}×${r.image.height}`,
      fit: r.image.fit,
    };
    r.top.forEach((c, i) => (row[ordinal(i)] = `${c.name} ${formatProbability(c.probability)}`));
    return row;
  });
}

/**
 * A plain-text table of the results: one row per file with its size, fit and top classes
 * (`airplane 81.2%`); a file that failed gets `error: <reason>` instead.
 *
 * @param results What `classifyImages` returned (pass only the successes to leave errors out).
 * @returns The table's lines joined with `"\n"`.
 * @example
 * ```ts
 * import { formatPredictionTable } from "./report.ts";
 * const text = formatPredictionTable([{ ok: false, file: "a.gif", error: new TypeError("bad") }]);
 * if (text.split("\n")[2] !== "a.gif  error: bad") throw new Error(text);
 * ```
 */
export function formatPredictionTable(results: readonly ImageResult[]): string {
  const k = Math.max(0, ...results.map((r) => (r.ok ? r.top.length : 0)));
  const header = ["file", "size", "fit", ...Array.from({ length: k }, (_, i) => ordinal(i))];
  const rows = predictionRows(results).map((row) =>
    row.error !== undefined ? [row.file!, `error: ${row.error}`] : header.map((h) => row[h] ?? "")
  );
  // Error rows span the columns after the file, so they do not widen them.
  const widths = header.map((h, i) =>
    Math.max(
      h.length,
      ...rows.filter((row) => row.length === header.length || i === 0).map((row) => row[i]!.length),
    )
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The JSON form of one result (see `predictionsToJson`). */
export type ImageResultJson =
  | {
    file: string;
    ok: true;
    format: SupportedFormat;
    width: number;
    height: number;
    fit: FitMode;
    region: Box;
    top: { class: string; index: number; probability: number }[];
    probabilities: Record<string, number>;
  }
  | { file: string; ok: false; error: { name: string; message: string } };

/**
 * The results as plain JSON-ready objects (for `--json`): per file its size, fit, top classes and
 * every class's probability, or its error.
 *
 * @param results What `classifyImages` returned.
 * @param classNames Class names in label order. @default CIFAR10_CLASSES
 * @returns One object per result.
 * @example
 * ```ts
 * import { predictionsToJson } from "./report.ts";
 * const [json] = predictionsToJson([{ ok: false, file: "x.png", error: new SyntaxError("cut") }]);
 * if (JSON.stringify(json) !== '{"file":"x.png","ok":false,"error":{"name":"SyntaxError","message":"cut"}}') throw new Error();
 * ```
 */
export function predictionsToJson(
  results: readonly ImageResult[],
  classNames: readonly string[] = CIFAR10_CLASSES,
): ImageResultJson[] {
  return results.map((r): ImageResultJson =>
    r.ok
      ? {
        file: r.file,
        ok: true,
        format: r.image.format,
        width: r.image.width,
        height: r.image.height,
        fit: r.image.fit,
        region: r.image.region,
        top: r.top.map((c) => ({ class: c.name, index: c.index, probability: c.probability })),
        probabilities: Object.fromEntries(
          [...r.probabilities].map((p, i) => [classNames[i] ?? `class ${i}`, p]),
        ),
      }
      : { file: r.file, ok: false, error: { name: r.error.name, message: r.error.message } }
  );
}
