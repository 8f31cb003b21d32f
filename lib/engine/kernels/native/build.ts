/**
 * Internal: compiles native.c with the machine's C compiler into a shared library, once per
 * source, compiler, instruction set, flags and machine (the file name carries the ISA and a hash
 * of the rest), and removes the libraries of older sources. Which ISAs the CPU runs is read here
 * too; native_kernels.ts picks one and loads the result.
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

/**
 * The instruction sets native.c is built for, each with its own tile shapes (see native.c):
 * `avx512` (x86-64-v4: 32 registers of 16 floats), `avx2` (x86-64-v3: AVX2 and FMA, 16 registers
 * of 8), `portable` (the compiler's baseline: SSE2 on x86-64, 4 floats, no FMA) and `native`
 * (`-march=native`, for CPUs other than x86-64, where the compiler knows best).
 */
export const NATIVE_ISAS = ["avx512", "avx2", "portable", "native"] as const;
/** One of {@linkcode NATIVE_ISAS}. */
export type NativeIsa = typeof NATIVE_ISAS[number];

/** Compiler flags of each ISA's build; each is tuned (`-mtune`) for the machine building it. */
export const ISA_FLAGS: Readonly<Record<NativeIsa, readonly string[]>> = {
  avx512: ["-march=x86-64-v4", "-mtune=native"],
  avx2: ["-march=x86-64-v3", "-mtune=native"],
  portable: [],
  native: ["-march=native"],
};

/** CPU flags (as /proc/cpuinfo names them) each x86-64 ISA needs: x86-64-v4's and v3's lists. */
const X86_REQUIRES: Readonly<Record<"avx512" | "avx2", readonly string[]>> = {
  avx512: ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2", "fma", "bmi2"],
  avx2: ["avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "lzcnt"],
};

/**
 * The ISAs this machine's CPU runs, best first. On x86-64 Linux they are read from the flags in
 * /proc/cpuinfo (x86-64 without them: `portable` only); elsewhere, or when the file cannot be
 * read, `native` then `portable`.
 *
 * @param cpuinfo The text of /proc/cpuinfo; read from the machine by default.
 * @returns E.g. `["avx512", "avx2", "portable"]`.
 * @example
 * ```ts
 * import { supportedIsas } from "./build.ts";
 * const avx2Only = "flags\t\t: fpu sse2 avx avx2 fma bmi1 bmi2 f16c movbe abm lzcnt\n";
 * if (supportedIsas(avx2Only, "x86_64").join() !== "avx2,portable") throw new Error("avx2");
 * if (supportedIsas(null, "aarch64").join() !== "native,portable") throw new Error("arm");
 * ```
 */
export function supportedIsas(
  cpuinfo: string | null = readCpuinfo(),
  arch: string = Deno.build.arch,
): NativeIsa[] {
  if (arch !== "x86_64" || cpuinfo === null) return ["native", "portable"];
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? "").trim().split(/\s+/));
  // /proc/cpuinfo calls LZCNT "abm" on AMD CPUs.
  if (flags.has("abm")) flags.add("lzcnt");
  const has = (isa: "avx512" | "avx2") => X86_REQUIRES[isa].every((flag) => flags.has(flag));
  return [
    ...(has("avx512") ? ["avx512" as const] : []),
    ...(has("avx2") ? ["avx2" as const] : []),
    "portable",
  ];
}

function readCpuinfo(): string | null {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    return null;
  }
}

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
 * Compiles native.c for one ISA into `cacheDir` (temp file, then rename) unless a library of the
 * same source, compiler, ISA and flags is there already.
 *
 * @param cacheDir Folder for the library (created when missing).
 * @param isa The instruction set to build for (see {@linkcode ISA_FLAGS}).
 * @param extraFlags Compiler flags after the usual ones (experiments, e.g. `-DCV_NV_MAX=4`); such
 *   variants get their own file name and never replace the ISA's default build.
 * @returns The library's path, or why it could not be built (no compiler, a compile error).
 */
export function buildNativeLibrary(
  cacheDir: string,
  isa: NativeIsa,
  extraFlags: readonly string[] = [],
): { ok: true; path: string } | { ok: false; reason: string } {
  const flags = [...FLAGS, ...ISA_FLAGS[isa], ...extraFlags];
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
  const prefix = `cifar10_kernels-${isa}-${variant ? "variant-" : ""}`;
  const path = `${cacheDir}/${prefix}${key}.so`;
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
    // This ISA's older builds, and those named before builds carried their ISA.
    const stale = (new RegExp(`^${prefix}[0-9a-f]{16}\\.so$`).test(entry.name) ||
      /^cifar10_kernels-[0-9a-f]{16}\.so$/.test(entry.name)) &&
      `${cacheDir}/${entry.name}` !== path;
    if (stale) Deno.removeSync(`${cacheDir}/${entry.name}`);
  }
  return { ok: true, path };
}
