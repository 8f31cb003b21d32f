/**
 * Internal: compiles native.c with the machine's C compiler into a shared library, once per
 * source, compiler, flags and machine (the file name carries a hash of them), and removes the
 * libraries of older sources. native_kernels.ts loads the result.
 * @module
 */

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { envValue } from "./environment.ts";

/** Environment variable naming the C compiler (default `cc`, then `gcc`, then `clang`). */
export const COMPILER_ENV = "CC";

const SOURCE_URL = new URL("./native.c", import.meta.url);
// -ffp-contract=off: no fused multiply-add, so every sum and product rounds as in JS (the direct
// convolutions opt back in). -fno-trapping-math: no program here traps on floating-point
// exceptions, so loops that compare floats (max-pool, its gradient) may be vectorised; results
// are unchanged (a 2×2 max-pool gradient went from 1.5 to 0.15 ms at batch 30).
const FLAGS = [
  "-O3",
  "-march=native",
  "-std=gnu11",
  "-ffp-contract=off",
  "-fno-math-errno",
  "-fno-trapping-math",
  "-fopenmp",
  "-fPIC",
  "-shared",
  // Never unloaded: OpenMP threads outlive a dlclose at exit, which would crash the process.
  "-Wl,-z,nodelete",
];

/** First line of `cc --version`, or null when that compiler does not run. */
function compilerVersion(compiler: string): string | null {
  try {
    const result = new Deno.Command(compiler, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    })
      .outputSync();
    if (!result.success) return null;
    return new TextDecoder().decode(result.stdout).split("\n")[0] ?? "";
  } catch {
    return null;
  }
}

/**
 * Compiles native.c into `cacheDir` (temp file, then rename) unless a library of the same
 * source, compiler and flags is there already.
 *
 * @param cacheDir Folder for the library (created when missing).
 * @param extraFlags Compiler flags after the usual ones; such variants get their own file name
 *   and never replace the default build.
 * @returns The library's path, or why it could not be built (no compiler, a compile error).
 */
export function buildNativeLibrary(
  cacheDir: string,
  extraFlags: readonly string[],
): { ok: true; path: string } | { ok: false; reason: string } {
  const flags = [...FLAGS, ...extraFlags];
  const source = Deno.readTextFileSync(SOURCE_URL);
  const named = envValue(COMPILER_ENV);
  const compilers = named ? [named] : ["cc", "gcc", "clang"];
  let compiler = "", version: string | null = null;
  for (const candidate of compilers) {
    version = compilerVersion(candidate);
    if (version !== null) {
      compiler = candidate;
      break;
    }
  }
  if (version === null) {
    return {
      ok: false,
      reason: `no C compiler found (tried ${
        compilers.join(", ")
      }); install gcc (Debian: apt-get install gcc) or set ${COMPILER_ENV}`,
    };
  }
  const key = createHash("sha256")
    .update([source, compiler, version, flags.join(" "), Deno.build.target].join("\0"))
    .digest("hex")
    .slice(0, 16);
  // Variants (extra flags) get their own name, and never count as stale builds of the default.
  const variant = extraFlags.length > 0;
  const path = `${cacheDir}/cifar10_kernels-${variant ? "variant-" : ""}${key}.so`;
  try {
    Deno.statSync(path);
    return { ok: true, path };
  } catch {
    // Not built yet.
  }
  Deno.mkdirSync(cacheDir, { recursive: true });
  const temp = `${path}.${Deno.pid}.tmp`;
  const sourcePath = fileURLToPath(SOURCE_URL);
  const result = new Deno.Command(compiler, {
    args: [...flags, "-o", temp, sourcePath, "-lm"],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!result.success) {
    try {
      Deno.removeSync(temp);
    } catch {
      // Nothing was written.
    }
    const stderr = new TextDecoder().decode(result.stderr).trim().split("\n").slice(0, 3).join(
      " | ",
    );
    return { ok: false, reason: `${compiler} failed on ${sourcePath}: ${stderr}` };
  }
  Deno.renameSync(temp, path);
  // Libraries of earlier sources are never loaded again (a process that has one open keeps it
  // mapped after the unlink).
  for (const entry of variant ? [] : Deno.readDirSync(cacheDir)) {
    const stale = /^cifar10_kernels-[0-9a-f]{16}\.so$/.test(entry.name) &&
      `${cacheDir}/${entry.name}` !== path;
    if (stale) Deno.removeSync(`${cacheDir}/${entry.name}`);
  }
  return { ok: true, path };
}
