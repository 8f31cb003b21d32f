/**
 * Benchmark: how long loading all 60,000 CIFAR-10 images takes from the extracted folder (read the
 * six batch files, validate, convert CHW planes to NHWC). Target: well under 2 s.
 *
 * Usage: `deno run -A bench/load_bench.ts [--data PATH] [--runs N]` (PATH: an archive or a folder;
 * default: `CIFAR10_DATA`, then the project's `data/`). The first load may extract an archive; it is
 * reported separately and not counted.
 * @module
 */

import { median } from "./stats.ts";
import { parseArgs } from "../lib/core/config.ts";
import { loadCifar10 } from "../lib/data/load.ts";
import { parseInteger } from "../lib/core/flags.ts";

if (import.meta.main) {
  try {
    const { overrides, extra } = parseArgs(Deno.args, { "--runs": "string" });
    const runs = parseInteger(String(extra.runs ?? 5), "--runs", { min: 1 });
    const options = { dataPath: overrides.dataPath ?? null, download: false, onNotice: null };
    let start = performance.now();
    const first = await loadCifar10(options);
    console.log(`source: ${first.source.description}`);
    console.log(`first load (may extract): ${(performance.now() - start).toFixed(0)} ms`);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      start = performance.now();
      const data = await loadCifar10(options);
      times.push(performance.now() - start);
      if (data.train.count + data.test.count !== first.train.count + first.test.count) {
        throw new Error("Cannot benchmark: the image count changed between loads");
      }
    }
    const images = first.train.count + first.test.count;
    const med = median(times);
    console.log(`loads: ${times.map((t) => t.toFixed(0)).join(", ")} ms`);
    console.log(
      `median load of ${images} images: ${med.toFixed(0)} ms (${
        Math.round(images / (med / 1000))
      } images/s)`,
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
