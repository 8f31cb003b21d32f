/**
 * The architecture as a test: lib/ is a folder per concern, and dependencies point one way,
 * from the folders the data flows through first to the ones that present results:
 *
 *   core → data → augment → engine → model → train → evaluate → runs → sweep → predict → plots →
 *   display
 *
 * A module may import from its own folder and from folders before it, never from a folder after
 * it; no two modules may import each other, directly or around a loop (type-only imports count:
 * a cycle of types is still a knot a reader has to untie). Importing lib/mod.ts must not load the
 * engine's FFI kernels, which backend.ts imports only when that backend is asked for.
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LIB = join(ROOT, "lib");

/** lib/'s folders, lowest layer first. */
export const LAYERS = [
  "core",
  "data",
  "augment",
  "engine",
  "model",
  "train",
  "evaluate",
  "runs",
  "sweep",
  "predict",
  "plots",
  "display",
] as const;

/** Folders whose code is loaded only on demand (backend.ts imports them by URL). */
const LAZY = ["engine/kernels/blas/", "engine/kernels/native/"];

/** One import of one module. */
export interface ImportEdge {
  /** The importing file, relative to lib/. */
  from: string;
  /** The imported file, relative to lib/. */
  to: string;
  /** `import type` / `export type`: nothing is loaded at run time. */
  typeOnly: boolean;
  /** `import("…")`: loaded when the code runs, not when the module loads. */
  dynamic: boolean;
  /** Line number in the importing file. */
  line: number;
}

/** Source without comments (doc examples import freely) and with string contents kept. */
function stripComments(source: string): string {
  // Blank out block comments and whole-line comments, keeping line numbers.
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, " "))
    .replace(/^\s*\/\/.*$/gm, "");
}

/**
 * The relative imports of one module's source: static imports and re-exports (`import … from`,
 * `export … from`, bare `import "…"`) and dynamic `import("…")` with a literal specifier.
 */
export function parseImports(file: string, source: string): ImportEdge[] {
  const code = stripComments(source);
  const edges: ImportEdge[] = [];
  const lineOf = (index: number) => code.slice(0, index).split("\n").length;
  const add = (specifier: string, index: number, typeOnly: boolean, dynamic: boolean) => {
    if (!specifier.startsWith(".")) return;
    const to = normalize(join(dirname(file), specifier));
    edges.push({ from: file, to, typeOnly, dynamic, line: lineOf(index) });
  };
  const statement = /^[ \t]*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*["']([^"']+)["']/gm;
  for (const m of code.matchAll(statement)) {
    // `import { type A, type B } from` is type-only too.
    const names = m[3] ?? "";
    const allTypes = /^\{[^}]*\}$/.test(names.trim()) &&
      names.replace(/[{}\s]/g, "").split(",").filter(Boolean).every((n) => n.startsWith("type"));
    add(m[4]!, m.index!, m[2] !== undefined || allTypes, false);
  }
  for (const m of code.matchAll(/^[ \t]*import\s*["']([^"']+)["']/gm)) {
    add(m[1]!, m.index!, false, false);
  }
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
    add(m[1]!, m.index!, false, true);
  }
  return edges;
}

/** The layer of a file relative to lib/ (`lib/mod.ts` sits above them all). */
export function layerOf(file: string): number {
  const top = file.split("/")[0]!;
  if (top === "mod.ts") return LAYERS.length;
  const layer = (LAYERS as readonly string[]).indexOf(top);
  if (layer < 0) throw new Error(`lib/${file}: expected it in one of lib/${LAYERS.join(", lib/")}`);
  return layer;
}

/** Edges that point from a lower layer to a higher one, as readable lines. */
export function upwardImports(edges: readonly ImportEdge[]): string[] {
  return edges
    .filter((e) => layerOf(e.to) > layerOf(e.from))
    .map((e) =>
      `lib/${e.from}:${e.line} imports lib/${e.to}: ${e.from.split("/")[0]} may not depend on ` +
      `${e.to.split("/")[0]}, which comes after it (${LAYERS.join(" → ")})`
    );
}

/** Every import cycle among the files, each as `a → b → a`. */
export function importCycles(edges: readonly ImportEdge[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === "open") {
        cycles.push([...path.slice(path.indexOf(to)), to].map((f) => `lib/${f}`).join(" → "));
      } else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of [...next.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

/** The files a module loads when it is imported: static, non-type imports, transitively. */
export function loadedBy(entry: string, edges: readonly ImportEdge[]): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    for (const e of edges) {
      if (e.from === file && !e.typeOnly && !e.dynamic && !seen.has(e.to)) {
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  }
  return seen;
}

async function libEdges(): Promise<{ files: string[]; edges: ImportEdge[] }> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) files.push(relative(LIB, path));
    }
  };
  await walk(LIB);
  files.sort();
  const edges: ImportEdge[] = [];
  for (const file of files) {
    edges.push(...parseImports(file, await Deno.readTextFile(join(LIB, file))));
  }
  return { files, edges };
}

Deno.test("parseImports() finds static, type-only, re-exported and dynamic imports, not doc examples", () => {
  const source = [
    "/**",
    ' * import { nothing } from "../display/mod.ts";',
    " */",
    'import * as tf from "@tensorflow/tfjs-core";',
    'import { a } from "./a.ts";',
    'import type { B } from "../core/b.ts";',
    'import { type C, type D } from "./c.ts";',
    "import {",
    "  e,",
    "  type E,",
    '} from "./e.ts";',
    'export * from "./f.ts";',
    'import "./g.ts";',
    'const h = await import("./h.ts");',
  ].join("\n");
  const edges = parseImports("train/x.ts", source).map((e) =>
    `${e.to}${e.typeOnly ? " type" : ""}${e.dynamic ? " dynamic" : ""}`
  );
  assert.deepEqual(edges, [
    "train/a.ts",
    "core/b.ts type",
    "train/c.ts type",
    "train/e.ts",
    "train/f.ts",
    "train/g.ts",
    "train/h.ts dynamic",
  ]);
});

Deno.test("upwardImports() and importCycles() reject an import from a later layer and a loop", () => {
  const edge = (from: string, to: string): ImportEdge => ({
    from,
    to,
    typeOnly: true,
    dynamic: false,
    line: 1,
  });
  assert.deepEqual(upwardImports([edge("train/loop.ts", "model/model.ts")]), []);
  const upward = upwardImports([edge("data/load.ts", "display/show.ts")]);
  assert.equal(upward.length, 1);
  assert.match(upward[0]!, /^lib\/data\/load\.ts:1 imports lib\/display\/show\.ts: data may not/);
  assert.deepEqual(
    importCycles([edge("data/a.ts", "data/b.ts"), edge("data/b.ts", "data/a.ts")]),
    ["lib/data/a.ts → lib/data/b.ts → lib/data/a.ts"],
  );
  assert.deepEqual(importCycles([edge("data/a.ts", "data/b.ts")]), []);
  assert.throws(() => layerOf("misc/x.ts"), /lib\/misc\/x\.ts: expected it in one of lib\/core/);
});

Deno.test("lib/ imports point one way: no module imports from a later layer", async () => {
  const { files, edges } = await libEdges();
  for (const file of files) layerOf(file); // every module sits in a layer's folder
  assert.deepEqual(upwardImports(edges), []);
});

Deno.test("lib/ has no import cycle, type-only imports included", async () => {
  const { edges } = await libEdges();
  assert.deepEqual(importCycles(edges), []);
});

Deno.test("every lib/ import names a file that exists", async () => {
  const { files, edges } = await libEdges();
  const known = new Set(files);
  const missing = edges.filter((e) => !known.has(e.to)).map((e) =>
    `lib/${e.from}:${e.line} → ${e.to}`
  );
  assert.deepEqual(missing, []);
});

Deno.test("importing lib/mod.ts loads no FFI kernel code (backend.ts loads it on demand)", async () => {
  const { edges } = await libEdges();
  const loaded = [...loadedBy("mod.ts", edges)];
  assert.ok(loaded.includes("engine/backend.ts"), "lib/mod.ts should load the backend selector");
  assert.deepEqual(loaded.filter((f) => LAZY.some((lazy) => f.startsWith(lazy))), []);
});

Deno.test("only lib/display/ talks to the Jupyter kernel (Deno.jupyter)", async () => {
  const { files } = await libEdges();
  const outside: string[] = [];
  for (const file of files) {
    if (file.startsWith("display/")) continue;
    const code = stripComments(await Deno.readTextFile(join(LIB, file)));
    if (/\bDeno\.jupyter\b|\bjupyter\s*[:=]\s*Deno\b/.test(code)) outside.push(`lib/${file}`);
  }
  assert.deepEqual(outside, []);
});
