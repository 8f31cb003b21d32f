/**
 * `deno task export`: writes the HTML of an already executed notebook (default
 * `out/cifar10_cnn.ipynb`, as `deno task notebook` leaves it) next to it, or to `--output`.
 *
 *     deno task export
 *     deno task export out/cifar10_cnn.ipynb --output out/report.html
 * @module
 */

import { join, resolve } from "node:path";
import { parseFlags } from "../lib/core/flags.ts";
import { ensureDenoKernel, exportHtml, findJupyter, PROJECT_ROOT } from "./_jupyter.ts";

/** The executed notebook exported by default. */
export const DEFAULT_EXECUTED = join(PROJECT_ROOT, "out", "cifar10_cnn.ipynb");

const USAGE = `Usage: deno task export [executed.ipynb] [--output file.html]

Writes the HTML of an executed notebook (default out/cifar10_cnn.ipynb); run \`deno task notebook\`
first to execute it.`;

/**
 * Counts the outputs of a notebook's code cells, to tell an executed notebook from a clean one.
 *
 * @param notebook The parsed `.ipynb` JSON.
 * @returns Code cells and how many of them have outputs.
 * @example
 * ```ts
 * import { outputCounts } from "./export.ts";
 * const counts = outputCounts({ cells: [{ cell_type: "code", outputs: [{}] }, { cell_type: "code", outputs: [] }] });
 * if (counts.code !== 2 || counts.withOutputs !== 1) throw new Error(JSON.stringify(counts));
 * ```
 */
export function outputCounts(
  notebook: { cells: { cell_type: string; outputs?: unknown[] }[] },
): { code: number; withOutputs: number } {
  const code = notebook.cells.filter((c) => c.cell_type === "code");
  return {
    code: code.length,
    withOutputs: code.filter((c) => (c.outputs?.length ?? 0) > 0).length,
  };
}

async function main(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  const { flags, positionals } = parseFlags(args, { "--output": "string", "--help": "bool" }, {
    positionals: true,
  });
  if (positionals.length > 1) {
    throw new RangeError(
      `Cannot parse arguments: expected at most one notebook, found ${positionals.length} (${
        positionals.join(", ")
      })`,
    );
  }
  let input = positionals[0] ?? DEFAULT_EXECUTED;
  let output: string | null = null;
  for (const [flag, value] of flags) if (flag === "--output") output = value as string;
  input = resolve(input);
  const html = resolve(output ?? input.replace(/\.ipynb$/, "") + ".html");
  let notebook;
  try {
    notebook = JSON.parse(await Deno.readTextFile(input));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(`Cannot export "${input}": no such file; run \`deno task notebook\` first.`);
      return 1;
    }
    throw error;
  }
  const counts = outputCounts(notebook);
  if (counts.withOutputs === 0) {
    console.error(
      `Cannot export "${input}": expected an executed notebook, found ${counts.code} code cells ` +
        "without outputs; run `deno task notebook` (it writes the executed copy to out/).",
    );
    return 1;
  }
  const jupyter = await findJupyter();
  if (jupyter === null) {
    console.error("Cannot export: Jupyter with nbconvert was not found; run `./run export`.");
    return 1;
  }
  const { env } = await ensureDenoKernel(PROJECT_ROOT);
  await exportHtml(input, html, { jupyter: jupyter.jupyter, env });
  console.log(html);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
