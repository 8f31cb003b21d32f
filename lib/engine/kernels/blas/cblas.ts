/**
 * Internal: opens a CBLAS library (OpenBLAS, or Apple's Accelerate) through Deno's FFI and wraps
 * the few symbols the "blas" backend needs. Nothing happens at import; {@linkcode openBlas} loads.
 * @module
 */

import { applyThreadEnvDefaults, envValue, permissionGranted } from "../native/environment.ts";

/** CBLAS enum values (cblas.h), shared by OpenBLAS and Accelerate. */
export const CBLAS_ROW_MAJOR = 101;
/** `CblasNoTrans`. */
export const CBLAS_NO_TRANS = 111;
/** `CblasTrans`. */
export const CBLAS_TRANS = 112;

/** Environment variable naming a CBLAS library file to try first. */
export const BLAS_LIBRARY_ENV = "CIFAR10_BLAS_LIB";

const SYMBOLS = {
  cblas_sgemm: {
    // order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

type BlasDynamicLibrary = Deno.DynamicLibrary<typeof SYMBOLS>;

/** A loaded CBLAS library: single-precision GEMM plus thread control where the library has it. */
export interface BlasLibrary {
  /** The path or name it was opened from. */
  path: string;
  /** Library description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (Cooperlake)", or "Accelerate". */
  description: string;
  /**
   * Row-major `C = alpha·op(A)·op(B) + beta·C` (`cblas_sgemm`). The arrays are passed by
   * pointer, without copying; subarrays start at their own offset.
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  /** Threads the library uses, or null when it cannot say (Accelerate). */
  getThreads(): number | null;
  /** Sets the thread count; returns false when the library has no such control. */
  setThreads(threads: number): boolean;
}

/** The outcome of {@linkcode openBlas}: a library, or a one-line reason why none loaded. */
export type OpenBlasResult =
  | { ok: true; library: BlasLibrary }
  | { ok: false; reason: string };

function readCString(pointer: Deno.PointerValue): string | null {
  if (pointer === null) return null;
  return new Deno.UnsafePointerView(pointer).getCString();
}

/** Versioned OpenBLAS files (`libopenblasp-r0.3.21.so`) in the usual library folders. */
function versionedOpenBlasFiles(): string[] {
  const folders = [
    "/usr/lib/x86_64-linux-gnu/openblas-pthread",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
  ];
  const found: string[] = [];
  for (const folder of folders) {
    if (!permissionGranted({ name: "read", path: folder })) continue;
    try {
      for (const entry of Deno.readDirSync(folder)) {
        if (/^libopenblas[op]?-r\d.*\.so$/.test(entry.name)) found.push(`${folder}/${entry.name}`);
      }
    } catch {
      // A missing folder is the common case.
    }
  }
  return found.sort();
}

/**
 * Library names and paths to try, in order: `explicitPath`, the `CIFAR10_BLAS_LIB` environment
 * variable's, then (unless `searchDefaults` is false) the usual locations for the OS: on macOS
 * Apple's Accelerate framework (its CBLAS, `cblas_sgemm`, ships with every Mac), then Homebrew's
 * OpenBLAS (`brew install openblas`: /opt/homebrew on Apple Silicon, /usr/local on Intel); on
 * Linux Debian's OpenBLAS (`libopenblas.so.0`) and versioned OpenBLAS files; on Windows
 * `libopenblas.dll`.
 *
 * @param explicitPath A library the caller names; tried first.
 * @param searchDefaults Whether to add the OS's usual locations.
 * @param os The OS to list them for (`Deno.build.os`; tests pass others).
 * @param env Where `CIFAR10_BLAS_LIB` is read from. @default the process's environment
 * @returns Paths and names for `Deno.dlopen`, without repeats.
 * @example
 * ```ts
 * import { blasCandidates } from "./cblas.ts";
 * const mac = blasCandidates(undefined, true, "darwin");
 * if (!mac[0]?.includes("Accelerate.framework")) throw new Error("Accelerate first on macOS");
 * ```
 */
export function blasCandidates(
  explicitPath?: string,
  searchDefaults = true,
  os: string = Deno.build.os,
  env?: Readonly<Record<string, string | undefined>>,
): string[] {
  const candidates: string[] = [];
  if (explicitPath) candidates.push(explicitPath);
  const fromEnv = envValue(BLAS_LIBRARY_ENV, env);
  if (fromEnv) candidates.push(fromEnv);
  if (!searchDefaults) {
    // Nothing else.
  } else if (os === "darwin") {
    candidates.push(
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
    );
  } else if (os === "windows") {
    candidates.push("libopenblas.dll", "openblas.dll");
  } else {
    candidates.push("libopenblas.so.0", "libopenblas.so", ...versionedOpenBlasFiles());
  }
  return [...new Set(candidates)];
}

function wrap(dylib: BlasDynamicLibrary, path: string): BlasLibrary {
  const s = dylib.symbols;
  const config = s.openblas_get_config ? readCString(s.openblas_get_config()) : null;
  const core = s.openblas_get_corename ? readCString(s.openblas_get_corename()) : null;
  const description = config
    ? `${config}${core && !config.includes(core) ? ` (${core})` : ""}`
    : path.includes("Accelerate")
    ? "Accelerate"
    : `CBLAS from ${path}`;
  return {
    path,
    description,
    sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
      s.cblas_sgemm(
        CBLAS_ROW_MAJOR,
        transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
        transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
      );
    },
    getThreads() {
      return s.openblas_get_num_threads ? s.openblas_get_num_threads() : null;
    },
    setThreads(threads) {
      if (!s.openblas_set_num_threads) return false;
      s.openblas_set_num_threads(threads);
      return true;
    },
  };
}

/**
 * Opens the first loadable CBLAS library among {@linkcode blasCandidates}. Never throws: a missing
 * `--allow-ffi` permission or library comes back as `{ ok: false, reason }`.
 */
export function openBlas(explicitPath?: string, searchDefaults = true): OpenBlasResult {
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") {
    return { ok: false, reason: "Cannot load OpenBLAS: this runtime has no Deno.dlopen (FFI)" };
  }
  if (!permissionGranted({ name: "ffi" })) {
    return { ok: false, reason: "Cannot load OpenBLAS: Deno needs --allow-ffi (or -A)" };
  }
  const tried: string[] = [];
  let firstError = "";
  for (const path of blasCandidates(explicitPath, searchDefaults)) {
    try {
      applyThreadEnvDefaults();
      const dylib = Deno.dlopen(path, SYMBOLS);
      return { ok: true, library: wrap(dylib, path) };
    } catch (error) {
      tried.push(path);
      if (firstError === "") {
        firstError = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
      }
    }
  }
  if (tried.length === 0) {
    return { ok: false, reason: "Cannot load OpenBLAS: no library path to try" };
  }
  return {
    ok: false,
    reason: `Cannot load OpenBLAS: tried ${tried.join(", ")}; first error: ${firstError}`,
  };
}
