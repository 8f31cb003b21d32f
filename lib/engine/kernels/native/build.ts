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
const BASE_FLAGS = [
  "-O3",
  "-std=gnu11",
  "-ffp-contract=off",
  "-fno-math-errno",
  "-fno-trapping-math",
];

/**
 * The instruction sets native.c is built for, each with its own tile shapes (see native.c):
 * `avx512` (AVX-512 F, BW, DQ and VL with FMA: 32 registers of 16 floats), `avx2` (AVX2 and FMA:
 * 16 registers of 8), `neon` (AArch64's Advanced SIMD: 32 registers of 4 floats, with FMA),
 * `portable` (the compiler's baseline with the small generic tiles: SSE2 on x86-64, no FMA; NEON on
 * AArch64) and `native` (`-march=native`, for other CPUs, where the compiler knows best).
 */
export const NATIVE_ISAS = ["avx512", "avx2", "neon", "portable", "native"] as const;
/** One of {@linkcode NATIVE_ISAS}. */
export type NativeIsa = typeof NATIVE_ISAS[number];

/**
 * The x86-64 CPU features each x86 build uses, as /proc/cpuinfo names them, and the compiler flag
 * that enables each. A build asks for exactly these and nothing else — not a whole `-march`
 * level (x86-64-v3 also means LZCNT, BMI1/2, MOVBE and F16C, none of which native.c needs), because
 * a VM may hide one flag of a level (one Zen 5 VM showed AVX-512 and AVX2 but not LZCNT, and a
 * `-march` rule then refused AVX2 while accepting AVX-512, which implies it).
 */
export const X86_FEATURES: Readonly<Record<"avx512" | "avx2", Readonly<Record<string, string>>>> = {
  avx512: {
    avx2: "-mavx2",
    fma: "-mfma",
    avx512f: "-mavx512f",
    avx512bw: "-mavx512bw",
    avx512dq: "-mavx512dq",
    avx512vl: "-mavx512vl",
  },
  avx2: { avx: "-mavx", avx2: "-mavx2", fma: "-mfma" },
};

/**
 * Compiler flags of each ISA's build. The x86 builds enable exactly {@linkcode X86_FEATURES}
 * and are tuned (`-mtune`) for the machine building them. `neon` needs none: Advanced SIMD is in
 * every AArch64 CPU, and `-mcpu=native` would stop a cross compiler (and Apple's clang names CPUs
 * differently). `portable` on AArch64 asks native.c for the generic tiles, so that build stays the
 * small-tile fallback it is on x86-64.
 */
export function isaFlags(isa: NativeIsa, arch: string = Deno.build.arch): readonly string[] {
  switch (isa) {
    case "avx512":
    case "avx2":
      return [...Object.values(X86_FEATURES[isa]), "-mtune=native"];
    case "neon":
      return [];
    case "portable":
      return arch === "aarch64" ? ["-DCIFAR_GENERIC_TILES"] : [];
    case "native":
      return ["-march=native"];
  }
}

/** What a build targets: the OS and CPU it runs on, and the compiler's `--version` line. */
export interface BuildTarget {
  /** `Deno.build.os`: `linux`, `darwin`, … */
  os: string;
  /** `Deno.build.arch`: `x86_64` or `aarch64`. */
  arch: string;
  /** First line of the compiler's `--version` (e.g. `Apple clang version 16.0.0 …`). */
  compilerVersion: string;
}

/** How native.c is compiled for one ISA and target (see {@linkcode buildPlan}). */
export interface BuildPlan {
  /** Compiler arguments before `-o`. */
  flags: string[];
  /** File extension of the shared library: `so` (Linux) or `dylib` (macOS). */
  extension: "so" | "dylib";
  /** Whether the loops run on every core through OpenMP. */
  openmp: boolean;
  /** Why not, when they run on one thread. */
  note?: string;
}

/**
 * Compiler flags, library file type and threading for one build. OpenMP (`-fopenmp`) everywhere
 * but macOS: Apple's clang has none (Homebrew's libomp needs flags of its own), so there the loops
 * run on one thread and the plan says so. `-Wl,-z,nodelete` (GNU ld) keeps the library mapped at
 * exit, where OpenMP threads outlive a dlclose; macOS's linker has no such flag and needs none
 * without those threads.
 *
 * @param isa The instruction set (see {@linkcode isaFlags}).
 * @param target OS, CPU and compiler; this machine's by default.
 * @param extraFlags Flags after the usual ones (experiments).
 * @returns The plan.
 * @example
 * ```ts
 * import { buildPlan } from "./build.ts";
 * const mac = buildPlan("neon", { os: "darwin", arch: "aarch64", compilerVersion: "Apple clang" });
 * if (mac.openmp || mac.extension !== "dylib" || mac.flags.includes("-fopenmp")) {
 *   throw new Error("Apple clang has no OpenMP");
 * }
 * ```
 */
export function buildPlan(
  isa: NativeIsa,
  target: BuildTarget,
  extraFlags: readonly string[] = [],
): BuildPlan {
  const darwin = target.os === "darwin";
  const tail = [...isaFlags(isa, target.arch), ...extraFlags];
  if (darwin) {
    return {
      flags: [...BASE_FLAGS, "-fPIC", "-dynamiclib", ...tail],
      extension: "dylib",
      openmp: false,
      note: `one thread: ${
        /apple/i.test(target.compilerVersion) ? "Apple's clang" : "this macOS compiler"
      } builds without OpenMP`,
    };
  }
  return {
    flags: [...BASE_FLAGS, "-fopenmp", "-fPIC", "-shared", "-Wl,-z,nodelete", ...tail],
    extension: "so",
    openmp: true,
  };
}

/**
 * The ISAs this machine's CPU runs, best first. On x86-64 each build's {@linkcode X86_FEATURES}
 * are looked up in the flags of /proc/cpuinfo, which Linux clears where the OS does not save
 * the registers (x86-64 without them: `portable` only); every AArch64 CPU runs `neon`; other
 * CPUs, and x86-64 where the file cannot be read (macOS), get `native` then `portable`.
 *
 * @param cpuinfo The text of /proc/cpuinfo; read from the machine by default.
 * @param arch The CPU architecture (`Deno.build.arch`).
 * @returns E.g. `["avx512", "avx2", "portable"]`.
 * @example
 * ```ts
 * import { supportedIsas } from "./build.ts";
 * const avx2Only = "flags\t\t: fpu sse2 avx avx2 fma bmi1 bmi2 f16c movbe\n";
 * if (supportedIsas(avx2Only, "x86_64").join() !== "avx2,portable") throw new Error("avx2");
 * if (supportedIsas(null, "aarch64").join() !== "neon,portable") throw new Error("arm");
 * ```
 */
export function supportedIsas(
  cpuinfo: string | null = readCpuinfo(),
  arch: string = Deno.build.arch,
): NativeIsa[] {
  if (arch === "aarch64") return ["neon", "portable"];
  // Without /proc/cpuinfo (an Intel Mac), the compiler reads the CPU itself.
  if (arch !== "x86_64" || cpuinfo === null) return ["native", "portable"];
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? "").trim().split(/\s+/));
  const has = (isa: "avx512" | "avx2") =>
    Object.keys(X86_FEATURES[isa]).every((flag) => flags.has(flag));
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
 * @param isa The instruction set to build for (see {@linkcode isaFlags}).
 * @param extraFlags Compiler flags after the usual ones (experiments, e.g. `-DCV_NV_MAX=4`); such
 *   variants get their own file name and never replace the ISA's default build.
 * @param env Where `CC` is read from. @default the process's environment
 * @returns The library's path and the plan it was built by (its `note` says when the loops run on
 *   one thread), or why it could not be built (no compiler, a compile error).
 */
export function buildNativeLibrary(
  cacheDir: string,
  isa: NativeIsa,
  extraFlags: readonly string[] = [],
  env?: Readonly<Record<string, string | undefined>>,
): { ok: true; path: string; plan: BuildPlan } | { ok: false; reason: string } {
  const source = Deno.readTextFileSync(SOURCE_URL);
  const named = envValue(COMPILER_ENV, env);
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
    const install = Deno.build.os === "darwin"
      ? "install Apple's command line tools (xcode-select --install)"
      : "install gcc (Debian: sudo apt-get install gcc)";
    return {
      ok: false,
      reason: `no C compiler found (tried ${
        compilers.join(", ")
      }); ${install} or set ${COMPILER_ENV}`,
    };
  }
  const plan = buildPlan(isa, {
    os: Deno.build.os,
    arch: Deno.build.arch,
    compilerVersion: version,
  }, extraFlags);
  const key = createHash("sha256")
    .update([source, compiler, version, plan.flags.join(" "), Deno.build.target].join("\0"))
    .digest("hex")
    .slice(0, 16);
  // Variants (extra flags) get their own name, and never count as stale builds of the default.
  const variant = extraFlags.length > 0;
  const prefix = `cifar10_kernels-${isa}-${variant ? "variant-" : ""}`;
  const path = `${cacheDir}/${prefix}${key}.${plan.extension}`;
  try {
    Deno.statSync(path);
    return { ok: true, path, plan };
  } catch {
    // Not built yet.
  }
  Deno.mkdirSync(cacheDir, { recursive: true });
  const temp = `${path}.${Deno.pid}.tmp`;
  const sourcePath = fileURLToPath(SOURCE_URL);
  const result = new Deno.Command(compiler, {
    args: [...plan.flags, "-o", temp, sourcePath, "-lm"],
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
    const stale = (new RegExp(`^${prefix}[0-9a-f]{16}\\.(so|dylib)$`).test(entry.name) ||
      /^cifar10_kernels-[0-9a-f]{16}\.so$/.test(entry.name)) &&
      `${cacheDir}/${entry.name}` !== path;
    if (stale) Deno.removeSync(`${cacheDir}/${entry.name}`);
  }
  return { ok: true, path, plan };
}
