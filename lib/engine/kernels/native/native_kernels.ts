/**
 * Internal: the native kernels' FFI binding. {@linkcode loadNativeKernels} builds native.c with
 * the machine's C compiler (build.ts; the library is cached under `.tools/native/`) and opens it
 * through Deno's FFI as {@linkcode NativeKernels}. The "blas" backend's element-wise, pooling,
 * im2col and Adam loops then run there, on every core, instead of in single-threaded JS; without
 * a compiler (or with `CIFAR10_NATIVE=0`) the JS loops run, with the same results bit for bit.
 * Nothing happens at import.
 * @module
 */

import { fileURLToPath } from "node:url";
import type { DirectConvGeometry, Im2colGeometry, PoolGeometry } from "../geometry.ts";
import { buildNativeLibrary, NATIVE_ISAS, type NativeIsa, supportedIsas } from "./build.ts";
import { applyThreadEnvDefaults, envValue, permissionGranted } from "./environment.ts";

/**
 * Environment variable: `0` (or off/false/no) turns the native kernels off; `1` (or on/true/yes,
 * or unset) builds them here; anything else is the path of a prebuilt library.
 */
export const NATIVE_ENV = "CIFAR10_NATIVE";

/**
 * Environment variable: the instruction set the native kernels are built for, `auto` (unset: the
 * best this CPU runs), `avx512`, `avx2`, `neon`, `portable` or `native` (see build.ts). Naming one the
 * CPU lacks is refused (it would stop the process on an illegal instruction); an AVX-512 machine
 * runs the `avx2` build, the closest it gets to timing an AVX2 CPU.
 */
export const NATIVE_ISA_ENV = "CIFAR10_NATIVE_ISA";

export type { NativeIsa } from "./build.ts";

const INTERFACE_VERSION = 4;
const DEFAULT_CACHE_URL = new URL("../../../../.tools/native/", import.meta.url);

/** (input, filter or gradient, geometry, batch, out channels, output) → 0, or 1 out of memory. */
const CONVOLUTION = {
  parameters: ["buffer", "buffer", "buffer", "i32", "i32", "buffer"],
  result: "i32",
} as const;
/** (a, b, c, and three sizes) → 0, or 1 out of memory. */
const PRODUCT = {
  parameters: ["buffer", "buffer", "buffer", "i64", "i64", "i64"],
  result: "i32",
} as const;

const SYMBOLS = {
  cifar_native_version: { parameters: [], result: "i32" },
  cifar_native_threads: { parameters: [], result: "i32" },
  cifar_native_set_threads: { parameters: ["i32"], result: "void" },
  cifar_im2col: { parameters: ["buffer", "buffer", "i32", "i32", "buffer"], result: "void" },
  cifar_col2im: { parameters: ["buffer", "buffer", "i32", "i32", "buffer"], result: "void" },
  cifar_conv_lanes: { parameters: [], result: "i32" },
  cifar_native_tile: { parameters: ["i32"], result: "i32" },
  cifar_fma_peak: { parameters: ["i64", "buffer"], result: "f64" },
  cifar_native_set_winograd: { parameters: ["i32"], result: "void" },
  cifar_winograd_tile: { parameters: ["buffer", "i32"], result: "i32" },
  cifar_conv_forward: CONVOLUTION,
  cifar_conv_input_grad: CONVOLUTION,
  cifar_conv_filter_grad: CONVOLUTION,
  cifar_gemm_small_m: PRODUCT,
  cifar_gemm_small_m_nt: PRODUCT,
  cifar_gemm_small_k_tn: PRODUCT,
  cifar_relu: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  cifar_step: { parameters: ["buffer", "buffer", "i64", "f32"], result: "void" },
  cifar_floor: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  cifar_dropout_mask: { parameters: ["buffer", "i64", "f64", "u32", "f32"], result: "void" },
  cifar_relu_backprop: { parameters: ["buffer", "buffer", "buffer", "i64"], result: "void" },
  cifar_binary: {
    parameters: ["i32", "buffer", "i64", "buffer", "i64", "buffer", "i64"],
    result: "void",
  },
  cifar_sum_rows: { parameters: ["buffer", "i64", "i64", "buffer", "buffer"], result: "void" },
  cifar_max_pool_2x2: { parameters: ["buffer", "buffer", "buffer"], result: "void" },
  cifar_max_pool_grad_2x2: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "void" },
  cifar_bias_activation: {
    parameters: ["buffer", "i64", "i64", "buffer", "i64", "i32"],
    result: "void",
  },
  cifar_adam: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "i64",
      "f64",
      "f64",
      "f64",
      "f64",
      "f64",
      "f64",
      "f64",
      "f64",
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type NativeSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Binary operations of {@linkcode NativeKernels.binary}. */
export type BinaryOp = "add" | "sub" | "mul" | "div";
const OP_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };

/** A matrix product into c [m×n] (row-major) with inner size k; see its method for the layouts. */
export type NativeProduct = (
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  n: number,
  k: number,
) => void;

/** Adam hyperparameters of one step, as FusedAdamOptimizer computes them. */
export interface AdamStep {
  beta1: number;
  beta2: number;
  oneMinusB1: number;
  oneMinusB2: number;
  learningRate: number;
  correction1: number;
  correction2: number;
  epsilon: number;
}

/**
 * The native loops. Each element-wise, pooling, im2col and Adam loop matches its JS twin bit for
 * bit; the direct convolutions and small-batch products have no JS twin (the JS path hands them to
 * OpenBLAS) and match the cpu kernels within float32 rounding (see native.c).
 */
export interface NativeKernels {
  /** Where the library was loaded from. */
  path: string;
  /** The instruction set it was built for (null for a prebuilt library named by `CIFAR10_NATIVE`). */
  isa: NativeIsa | null;
  /** Why the loops run on one thread, where they do (macOS: no OpenMP in Apple's clang). */
  note?: string;
  /**
   * Its register tile: vector lanes, accumulator vectors and at most how many vectors of output
   * columns, e.g. `{ lanes: 16, accumulators: 24, vectors: 4 }` for AVX-512 (see native.c).
   */
  tile: { lanes: number; accumulators: number; vectors: number };
  /**
   * Runs `rounds` rounds of independent vector fused multiply-adds (`tile.accumulators` of
   * `tile.lanes` lanes each) on every thread, with no memory traffic: the arithmetic peak of this
   * build's vector width, for the benchmark's second ceiling.
   *
   * @param rounds Rounds per thread (about 10⁸ take a second on one core at AVX-512).
   * @returns Floating-point operations done (2 per lane per FMA) and the wall time, seconds.
   */
  fmaPeak(rounds: number): { flops: number; seconds: number };
  /**
   * The largest Winograd output tile the 3×3 "same" convolutions may use, process-wide: 4 (the
   * default: F(4×4, 3×3) where the size is a multiple of 4, else F(2×2, 3×3)), 2 (F(2×2, 3×3)
   * only) or 0 (the direct loops): for tests and before/after measurements.
   */
  setWinograd(largest: 0 | 2 | 4): void;
  /**
   * The Winograd output tile a convolution takes now (4 or 2), or 0 for the direct loops. It
   * needs a 3×3 filter, stride 1, padding 1 on every side, a height and width the tile divides,
   * and at least 8 channels in and out.
   */
  winogradTile(info: DirectConvGeometry): 0 | 2 | 4;
  /** OpenMP threads of a parallel loop. */
  threads(): number;
  /** Sets the OpenMP thread count. */
  setThreads(threads: number): void;
  /** Writes the im2col rows of images [n0, n1) of x into col, as blas/im2col.ts's `im2col`. */
  im2col(x: Float32Array, info: Im2colGeometry, n0: number, n1: number, col: Float32Array): void;
  /** Writes (not adds) images [n0, n1) of dx from their im2col gradient. */
  col2im(col: Float32Array, info: Im2colGeometry, n0: number, n1: number, dx: Float32Array): void;
  /** Vector lanes of the direct convolutions (16 with AVX-512, 8 with AVX, else 4). */
  convLanes: number;
  /**
   * Whether the direct convolutions handle this geometry with `channels` (the output channels
   * of the pass: outChannels forward and for the filter gradient, inChannels for the input
   * gradient) as the vector axis: stride 1, pads within the filter, channels a multiple of
   * {@linkcode NativeKernels.convLanes}.
   */
  directConvFits(info: DirectConvGeometry, channels: number): boolean;
  /** out [batch, outH, outW, outChannels] = x [batch, inH, inW, inChannels] ⊛ w (HWIO). */
  convForward(x: Float32Array, w: Float32Array, info: DirectConvGeometry, out: Float32Array): void;
  /** dx [batch, inH, inW, inChannels] of the convolution, from dy and w (HWIO). */
  convInputGrad(
    dy: Float32Array,
    w: Float32Array,
    info: DirectConvGeometry,
    dx: Float32Array,
  ): void;
  /** dw [filterH, filterW, inChannels, outChannels] of the convolution, from x and dy. */
  convFilterGrad(
    x: Float32Array,
    dy: Float32Array,
    info: DirectConvGeometry,
    dw: Float32Array,
  ): void;
  /**
   * c [m×n] = a [m×k] · b [k×n] (row-major), for a small m (the batch): a dense layer's forward
   * product.
   */
  gemmSmallM: NativeProduct;
  /** c [m×n] = a [m×k] · bᵀ with b [n×k], for a small m: a dense layer's input gradient. */
  gemmSmallMNT: NativeProduct;
  /** c [m×n] = aᵀ · b with a [k×m] and b [k×n], for a small k: a dense layer's weight gradient. */
  gemmSmallKTN: NativeProduct;
  /** `out = max(0, x)`, NaN kept. */
  relu(x: Float32Array, out: Float32Array): void;
  /** `out = x > 0 ? 1 : alpha`, NaN kept. */
  step(x: Float32Array, out: Float32Array, alpha: number): void;
  /** `out = floor(x)`. */
  floor(x: Float32Array, out: Float32Array): void;
  /**
   * Fills `mask` as `dropoutMask(mask.length, rate, seed)` (lib/core/random.ts) does, bit for
   * bit, on every thread; `rate` must be in [0, 1).
   */
  dropoutMask(mask: Float32Array, rate: number, seed: number): void;
  /** ReLU's input gradient `dy · step(x)`. */
  reluBackprop(dy: Float32Array, x: Float32Array, out: Float32Array): void;
  /** `out[i] = a[i % |a|] op b[i % |b|]`; |a| and |b| divide |out|. */
  binary(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** Column sums of a [rows, out.length] array, accumulated in float64. */
  sumRows(x: Float32Array, rows: number, out: Float32Array): void;
  /** 2×2, stride-2 max-pool of x into out (the first strict maximum from −∞). */
  maxPool2x2(x: Float32Array, info: PoolGeometry, out: Float32Array): void;
  /**
   * Writes the gradient, or 0, to every value of dx a window covers; the rest of dx (a last
   * row or column of an odd size) keeps its values, so zero it in that case.
   */
  maxPoolGrad2x2(x: Float32Array, dy: Float32Array, info: PoolGeometry, dx: Float32Array): void;
  /** In place: out += bias (per channel or scalar, or none), then the activation. */
  biasActivation(
    out: Float32Array,
    channels: number,
    bias: Float32Array | null,
    activation: "linear" | "relu" | "relu6",
  ): void;
  /** One Adam step in place over values and the moments m and v, as FusedAdamOptimizer's loop. */
  adam(
    values: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    step: AdamStep,
  ): void;
}

/** The outcome of {@linkcode loadNativeKernels}. */
export type NativeKernelsResult =
  | { ok: true; kernels: NativeKernels }
  | {
    ok: false;
    reason: string;
    /**
     * The setting that named what could not be loaded (`CIFAR10_NATIVE_ISA=avx2`, `isa "avx2"`,
     * `CIFAR10_NATIVE=/path/lib.so`), when the user asked for one: then the failure is an error,
     * not a reason to run the JS loops (a benchmark "with avx2" must not measure something else).
     */
    asked?: string;
  };

const EMPTY = new Float32Array(1);

/** Throws when a native product reports that its scratch memory could not be allocated. */
function checkScratch(what: string, status: number) {
  if (status !== 0) {
    throw new Error(
      `Cannot run the native ${what} kernel: out of memory for its scratch arrays (a few MB); ` +
        `free memory, or set ${NATIVE_ENV}=0`,
    );
  }
}

function wrap(
  symbols: NativeSymbols,
  path: string,
  isa: NativeIsa | null,
  note: string | undefined,
): NativeKernels {
  const s = symbols;
  const conv = new Int32Array(11);
  const pool = new Int32Array(6);
  const acc = { array: new Float64Array(0) };
  // The geometry goes over as one int32 array, in native.c's order.
  const setConv = (info: Im2colGeometry) => {
    conv.set([
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.strideHeight,
      info.strideWidth,
      info.padInfo.top,
      info.padInfo.left,
      info.filterHeight,
      info.filterWidth,
    ]);
    return conv;
  };
  const setPool = (info: PoolGeometry) => {
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
    pool.set([batchSize, inHeight, inWidth, inChannels, outHeight, outWidth]);
    return pool;
  };
  const lanes = s.cifar_conv_lanes();
  return {
    path,
    isa,
    ...(note === undefined ? {} : { note }),
    tile: {
      lanes: s.cifar_native_tile(0),
      accumulators: s.cifar_native_tile(1),
      vectors: s.cifar_native_tile(2),
    },
    setWinograd: (largest) => s.cifar_native_set_winograd(largest),
    winogradTile: (info) => s.cifar_winograd_tile(setConv(info), info.outChannels) as 0 | 2 | 4,
    fmaPeak(rounds) {
      const sink = new Float32Array(1);
      const t0 = performance.now();
      const flops = s.cifar_fma_peak(BigInt(Math.max(1, Math.floor(rounds))), sink);
      const seconds = (performance.now() - t0) / 1000;
      if (!Number.isFinite(sink[0]!)) {
        throw new Error(`The FMA peak loop produced ${sink[0]}; expected a finite sum`);
      }
      return { flops, seconds };
    },
    convLanes: lanes,
    directConvFits(info, channels) {
      const { top, bottom, left, right } = info.padInfo;
      const kh = info.filterHeight, kw = info.filterWidth;
      return info.strideHeight === 1 && info.strideWidth === 1 && channels % lanes === 0 &&
        Math.min(top, bottom, left, right) >= 0 && Math.max(top, bottom) < kh &&
        Math.max(left, right) < kw;
    },
    convForward: (x, w, info, out) =>
      checkScratch(
        "convolution",
        s.cifar_conv_forward(x, w, setConv(info), info.batchSize, info.outChannels, out),
      ),
    convInputGrad: (dy, w, info, dx) =>
      checkScratch(
        "convolution input gradient",
        s.cifar_conv_input_grad(dy, w, setConv(info), info.batchSize, info.outChannels, dx),
      ),
    convFilterGrad: (x, dy, info, dw) =>
      checkScratch(
        "convolution filter gradient",
        s.cifar_conv_filter_grad(x, dy, setConv(info), info.batchSize, info.outChannels, dw),
      ),
    gemmSmallM: (a, b, c, m, n, k) =>
      checkScratch("product", s.cifar_gemm_small_m(a, b, c, BigInt(m), BigInt(n), BigInt(k))),
    // The C side names the product D·Wᵀ with D [M×N] and W [K×N].
    gemmSmallMNT: (a, b, c, m, n, k) =>
      checkScratch(
        "product",
        s.cifar_gemm_small_m_nt(a, b, c, BigInt(m), BigInt(k), BigInt(n)),
      ),
    // The C side names the product Aᵀ·D with A [M×K] and D [M×N]: M is the batch, K the rows.
    gemmSmallKTN: (a, b, c, m, n, k) =>
      checkScratch(
        "product",
        s.cifar_gemm_small_k_tn(a, b, c, BigInt(k), BigInt(n), BigInt(m)),
      ),
    threads: () => s.cifar_native_threads(),
    setThreads: (threads) => s.cifar_native_set_threads(threads),
    im2col: (x, info, n0, n1, col) => s.cifar_im2col(x, setConv(info), n0, n1, col),
    col2im: (col, info, n0, n1, dx) => s.cifar_col2im(col, setConv(info), n0, n1, dx),
    relu: (x, out) => s.cifar_relu(x, out, BigInt(out.length)),
    step: (x, out, alpha) => s.cifar_step(x, out, BigInt(out.length), alpha),
    floor: (x, out) => s.cifar_floor(x, out, BigInt(out.length)),
    dropoutMask: (mask, rate, seed) =>
      s.cifar_dropout_mask(mask, BigInt(mask.length), rate, seed >>> 0, 1 / (1 - rate)),
    reluBackprop: (dy, x, out) => s.cifar_relu_backprop(dy, x, out, BigInt(out.length)),
    binary: (op, a, b, out) =>
      s.cifar_binary(
        OP_CODES[op],
        a,
        BigInt(a.length),
        b,
        BigInt(b.length),
        out,
        BigInt(out.length),
      ),
    sumRows(x, rows, out) {
      if (acc.array.length < out.length) acc.array = new Float64Array(out.length);
      s.cifar_sum_rows(x, BigInt(rows), BigInt(out.length), out, acc.array);
    },
    maxPool2x2: (x, info, out) => s.cifar_max_pool_2x2(x, setPool(info), out),
    maxPoolGrad2x2: (x, dy, info, dx) => s.cifar_max_pool_grad_2x2(x, dy, setPool(info), dx),
    biasActivation(out, channels, bias, activation) {
      s.cifar_bias_activation(
        out,
        BigInt(out.length),
        BigInt(channels),
        bias ?? EMPTY,
        BigInt(bias === null ? 0 : bias.length),
        activation === "relu" ? 1 : activation === "relu6" ? 2 : 0,
      );
    },
    adam(values, grad, m, v, p) {
      s.cifar_adam(
        values,
        grad,
        m,
        v,
        BigInt(values.length),
        p.beta1,
        p.beta2,
        p.oneMinusB1,
        p.oneMinusB2,
        p.learningRate,
        p.correction1,
        p.correction2,
        p.epsilon,
      );
    },
  };
}

function open(path: string, isa: NativeIsa | null, note?: string): NativeKernelsResult {
  let dylib: Deno.DynamicLibrary<typeof SYMBOLS>;
  applyThreadEnvDefaults();
  try {
    dylib = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    return { ok: false, reason: `Cannot load the native kernels from ${path}: ${message}` };
  }
  const version = dylib.symbols.cifar_native_version();
  if (version !== INTERFACE_VERSION) {
    dylib.close();
    return {
      ok: false,
      reason:
        `Cannot use the native kernels in ${path}: expected interface version ${INTERFACE_VERSION}, found ${version}; delete the file to rebuild it`,
    };
  }
  return { ok: true, kernels: wrap(dylib.symbols, path, isa, note) };
}

/** Options of {@linkcode loadNativeKernels}. */
export interface NativeKernelsOptions {
  /** Folder for the built library. @default the repository's `.tools/native` */
  cacheDir?: string;
  /**
   * The instruction set to build for, or `auto`. @default `CIFAR10_NATIVE_ISA`, else `auto`: the
   * first of {@linkcode supportedIsas}.
   */
  isa?: NativeIsa | "auto";
  /** Compiler flags after the usual ones, for experiments (e.g. `-DCV_NV_MAX=4`). @default none */
  extraFlags?: readonly string[];
  /**
   * Where `CIFAR10_NATIVE`, `CIFAR10_NATIVE_ISA` and `CC` are read from, in place of the process's
   * environment (tests: `deno test --parallel` shares one environment among all test files, so a
   * test that set it would change what the others build). @default the process's environment
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The ISA a load builds for: the one asked for (by option or `CIFAR10_NATIVE_ISA`) when this CPU
 * runs it, else the best one it runs.
 *
 * @param asked The option's value; undefined reads `CIFAR10_NATIVE_ISA`.
 * @param supported What the CPU runs, best first. @default {@linkcode supportedIsas}()
 * @param env Where `CIFAR10_NATIVE_ISA` is read from. @default the process's environment
 * @returns The ISA, or why the one asked for cannot be used.
 * @example
 * ```ts
 * import { chooseIsa } from "./native_kernels.ts";
 * const cpu = ["avx2", "portable"] as const;
 * if (chooseIsa("auto", [...cpu]).isa !== "avx2") throw new Error("auto");
 * if (chooseIsa("avx512", [...cpu]).reason === undefined) throw new Error("should refuse");
 * ```
 */
export function chooseIsa(
  asked?: string,
  supported: readonly NativeIsa[] = supportedIsas(),
  env?: Readonly<Record<string, string | undefined>>,
): { isa: NativeIsa; reason?: undefined } | { isa?: undefined; reason: string } {
  const fromEnv = asked === undefined;
  const value = (asked ?? envValue(NATIVE_ISA_ENV, env) ?? "auto").trim().toLowerCase();
  const where = fromEnv ? `${NATIVE_ISA_ENV}=${value}` : `isa "${value}"`;
  if (value === "" || value === "auto") return { isa: supported[0] ?? "portable" };
  if (!(NATIVE_ISAS as readonly string[]).includes(value)) {
    return {
      reason: `Cannot use ${where}: expected auto or one of ${NATIVE_ISAS.join(", ")}`,
    };
  }
  if (!supported.includes(value as NativeIsa)) {
    return {
      reason: `Cannot use ${where}: this CPU runs only ${
        supported.join(", ")
      } (unset ${NATIVE_ISA_ENV} to pick the best)`,
    };
  }
  return { isa: value as NativeIsa };
}

let cached: NativeKernelsResult | null = null;

/**
 * Builds (first time only) and loads the native kernels for the best instruction set this CPU
 * runs (or the one `CIFAR10_NATIVE_ISA` names). Never throws: a missing permission, compiler or
 * library, or an ISA the CPU lacks, comes back as `{ ok: false, reason }`; callers run their JS
 * loops then, unless `asked` names the user's setting that could not be honoured (an ISA or a
 * library asked for by name), which they report as an error. `CIFAR10_NATIVE=0` turns them off; `CIFAR10_NATIVE=/path/lib.so` loads a
 * prebuilt library.
 *
 * @param options Cache folder, ISA (tests build every ISA the CPU runs) and extra flags; with
 *   none, the result is loaded once per process and shared.
 * @returns The kernels, or why they are not available.
 */
export function loadNativeKernels(options: NativeKernelsOptions = {}): NativeKernelsResult {
  const shared = options.cacheDir === undefined && options.isa === undefined &&
    (options.extraFlags?.length ?? 0) === 0 && options.env === undefined;
  if (cached !== null && shared) return cached;
  const cacheDir = options.cacheDir ?? fileURLToPath(DEFAULT_CACHE_URL).replace(/\/$/, "");
  const result = load(cacheDir, options.isa, options.extraFlags ?? [], options.env);
  if (shared) cached = result;
  return result;
}

function load(
  cacheDir: string,
  askedIsa: NativeIsa | "auto" | undefined,
  extraFlags: readonly string[],
  env: Readonly<Record<string, string | undefined>> | undefined,
): NativeKernelsResult {
  const raw = envValue(NATIVE_ENV, env)?.trim() ?? "";
  if (["0", "off", "false", "no"].includes(raw.toLowerCase())) {
    return { ok: false, reason: `turned off by ${NATIVE_ENV}=${raw}` };
  }
  // On/default words mean "build here"; anything else names a prebuilt library.
  const setting = ["", "1", "on", "true", "yes"].includes(raw.toLowerCase()) ? "" : raw;
  const isaText = (askedIsa ?? envValue(NATIVE_ISA_ENV, env) ?? "").trim().toLowerCase();
  const asked = setting
    ? `${NATIVE_ENV}=${setting}`
    : isaText === "" || isaText === "auto"
    ? undefined
    : askedIsa === undefined
    ? `${NATIVE_ISA_ENV}=${isaText}`
    : `isa "${isaText}"`;
  const failed = (reason: string): NativeKernelsResult =>
    asked === undefined ? { ok: false, reason } : { ok: false, reason, asked };
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") {
    return failed("this runtime has no Deno.dlopen (FFI)");
  }
  if (!permissionGranted({ name: "ffi" })) return failed("Deno needs --allow-ffi (or -A)");
  if (setting) {
    const opened = open(setting, null);
    return opened.ok ? opened : failed(opened.reason);
  }
  const chosen = chooseIsa(askedIsa, supportedIsas(), env);
  if (chosen.reason !== undefined) return failed(chosen.reason);
  if (
    !permissionGranted({ name: "run" }) || !permissionGranted({ name: "write", path: cacheDir })
  ) {
    return failed(
      `building them needs --allow-run and --allow-write for ${cacheDir} (or -A)`,
    );
  }
  let built;
  try {
    built = buildNativeLibrary(cacheDir, chosen.isa, extraFlags, env);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    return failed(`cannot build them in ${cacheDir}: ${message}`);
  }
  if (!built.ok) return failed(built.reason);
  const opened = open(built.path, chosen.isa, built.plan.note);
  return opened.ok ? opened : failed(opened.reason);
}
