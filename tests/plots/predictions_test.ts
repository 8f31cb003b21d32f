import assert from "node:assert/strict";
import { predictionChart } from "../../lib/plots/predictions.ts";
import { REPORT_RESULTS } from "../predict/_fixtures.ts";

Deno.test("predictionChart() draws a row per image with its input and bars, and error rows", () => {
  const chart = predictionChart(REPORT_RESULTS, { caption: "Model: test" });
  // margin 8; two 96-px squares + gaps; label 84 + bar 180 + value 52; rows 112 and 56.
  assert.equal(chart.width, 8 + 2 * (96 + 8) + 84 + 180 + 52 + 8);
  assert.equal(chart.height, 8 + 22 + 22 + 112 + 56 + 8);
  const context = chart.getContext("2d");
  // The network-input square (pixels all 200) at x 112–207, row top at y 8 + 44 + 8.
  assert.deepEqual([...context.getImageData(150, 100, 1, 1).data], [200, 200, 200, 255]);
  // The top bar (orange, 62.5% of 180 px) starts at x 216 + 84 and ends near x 412.
  const barY = 8 + 44 + 8 + 38 + 7;
  assert.deepEqual([...context.getImageData(305, barY, 1, 1).data], [0xf5, 0x85, 0x18, 255]);
  assert.deepEqual([...context.getImageData(300 + 115, barY, 1, 1).data], [0xee, 0xee, 0xee, 255]);
});
