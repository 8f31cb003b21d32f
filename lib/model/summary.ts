/**
 * The model summary as a table (layers, output shapes, parameters), kept apart from model.ts so the
 * network itself needs nothing but tfjs-core: the browser page (web/) bundles model.ts, and
 * nodejs-polars is a native module no browser can load.
 * @module
 */
import pl from "nodejs-polars";
import type { Model } from "./model.ts";

/** One row of the model summary. */
export interface SummaryRow {
  /** Layer name. */
  layer: string;
  /** What it does. */
  type: string;
  /** Output shape without the batch dimension (height × width × channels, or features). */
  outputShape: string;
  /** Trainable numbers in the layer. */
  parameters: number;
}

/** The model summary: rows, total, and a DataFrame view for notebooks. */
export interface ModelSummary {
  /** One row per layer, in order. */
  rows: SummaryRow[];
  /** Total parameters. */
  total: number;
  /** The rows plus a total row as a nodejs-polars DataFrame (shown as a table by the Deno kernel). */
  frame(): pl.DataFrame;
}

/**
 * Summarises the model as a table: layer, output shape, parameters, and the total.
 *
 * @param model The model.
 * @returns Rows, total and a DataFrame maker.
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "./model.ts";
 * import { modelSummary } from "./summary.ts";
 * const model = buildModel(makeConfig());
 * const summary = modelSummary(model);
 * if (summary.total !== 4_198_950) throw new Error("wrong total");
 * if (summary.rows.find((r) => r.layer === "fc1")!.parameters !== 8192 * 500 + 500) throw new Error("fc1");
 * model.dispose();
 * ```
 */
export function modelSummary(model: Model): ModelSummary {
  const rows: SummaryRow[] = model.layers.map((layer) => ({
    layer: layer.name,
    type: layer.type,
    outputShape: layer.outputShape.join(" × "),
    parameters: layer.paramNames.reduce((sum, name) => sum + model.params[name]!.size, 0),
  }));
  const total = rows.reduce((sum, r) => sum + r.parameters, 0);
  return {
    rows,
    total,
    frame: () =>
      pl.DataFrame([...rows, { layer: "total", type: "", outputShape: "", parameters: total }]),
  };
}
