import assert from "node:assert/strict";
import { CIFAR10_CLASSES } from "../../lib/data/mod.ts";
import {
  formatPredictionTable,
  predictionRows,
  predictionsToJson,
} from "../../lib/predict/report.ts";
import { REPORT_RESULTS } from "./_fixtures.ts";

Deno.test("formatPredictionTable() and predictionRows() list each file's top classes or error", () => {
  assert.equal(
    formatPredictionTable(REPORT_RESULTS),
    [
      "file               size   fit   1st             2nd         3rd",
      "-----------------  -----  ----  --------------  ----------  -----------",
      "samples/plane.png  64×48  crop  airplane 62.5%  ship 25.0%  truck 12.5%",
      'x.gif              error: Cannot read image "x.gif": a GIF',
    ].join("\n"),
  );
  assert.deepEqual(predictionRows(REPORT_RESULTS, { names: "base" })[0], {
    file: "plane.png",
    size: "64×48",
    fit: "crop",
    "1st": "airplane 62.5%",
    "2nd": "ship 25.0%",
    "3rd": "truck 12.5%",
  });
});

Deno.test("predictionsToJson() gives every class's probability, or the error", () => {
  const json = predictionsToJson(REPORT_RESULTS);
  assert.deepEqual(json[0], {
    file: "samples/plane.png",
    ok: true,
    format: "png",
    width: 64,
    height: 48,
    fit: "crop",
    region: { x: 8, y: 0, width: 48, height: 48 },
    top: [
      { class: "airplane", index: 0, probability: 0.625 },
      { class: "ship", index: 8, probability: 0.25 },
      { class: "truck", index: 9, probability: 0.125 },
    ],
    probabilities: Object.fromEntries(
      CIFAR10_CLASSES.map((c, i) => [c, [0.625, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.125][i]]),
    ),
  });
  assert.deepEqual(json[1], {
    file: "x.gif",
    ok: false,
    error: { name: "TypeError", message: 'Cannot read image "x.gif": a GIF' },
  });
});
