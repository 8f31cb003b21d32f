import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeConfig } from "../../lib/core/config.ts";
import { buildModel } from "../../lib/model/model.ts";
import { modelSummary } from "../../lib/model/summary.ts";

await tf.setBackend("cpu");

Deno.test("modelSummary() lists layers, output shapes and parameters with the total", () => {
  const model = buildModel(makeConfig());
  try {
    const summary = modelSummary(model);
    assert.equal(summary.total, 4_198_950);
    assert.deepEqual(
      summary.rows.map((r) => [r.layer, r.outputShape, r.parameters]),
      [
        ["conv1", "32 × 32 × 16", 448],
        ["conv2", "32 × 32 × 32", 4640],
        ["pool1", "16 × 16 × 32", 0],
        ["conv3", "16 × 16 × 64", 18496],
        ["conv4", "16 × 16 × 128", 73856],
        ["pool2", "8 × 8 × 128", 0],
        ["flatten", "8192", 0],
        ["dropout1", "8192", 0],
        ["fc1", "500", 4_096_500],
        ["dropout2", "500", 0],
        ["fc2", "10", 5010],
      ],
    );
    assert.equal(summary.rows[0]!.type, "Conv2d 3→16, 3×3, padding 1, ReLU");
    const frame = summary.frame();
    assert.deepEqual(frame.columns, ["layer", "type", "outputShape", "parameters"]);
    assert.equal(frame.height, 12);
    assert.equal(frame.getColumn("parameters").toArray().at(-1), 4_198_950);
  } finally {
    model.dispose();
  }
});
