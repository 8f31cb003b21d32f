/**
 * Picks and starts the TensorFlow.js backend, the way the tutorial's "check GPU" step decides
 * between CUDA and the CPU, and registers the training kernels the pure backends lack.
 *
 * Order for `"auto"` (fastest first):
 * 1. `tensorflow` through `@tensorflow/tfjs-node-gpu` (libtensorflow with CUDA 11.2 + cuDNN 8.1);
 * 2. `tensorflow` through `@tensorflow/tfjs-node` (libtensorflow on the CPU);
 * 3. `webgpu` through Deno's WebGPU, on a real GPU only (software adapters such as llvmpipe or
 *    SwiftShader are far too slow; asked for by name, webgpu runs on them too, with a warning);
 * 4. `blas` (OpenBLAS through Deno's FFI, lib/engine/kernels/blas/blas.ts);
 * 5. `wasm` (XNNPACK with SIMD; the portable default);
 * 6. `cpu` (pure JavaScript).
 *
 * On macOS `auto` starts at `webgpu` (Metal): tfjs-node has no GPU build there, and its CPU build
 * is not what a Mac user installs; `blas` then finds Apple's Accelerate (see
 * {@linkcode autoOrder}). Asked for by name, `tensorflow` is still tried.
 *
 * The native packages are optional and not in deno.json (their install scripts download
 * libtensorflow); they are looked for in node_modules and imported through computed specifiers,
 * so nothing is fetched when they are absent. Each step is a loader function that tests can
 * replace.
 * @module
 */
import type { BackendName } from "../core/config.ts";
import { registerCpuTrainingKernels } from "./kernels/js/cpu.ts";
import { registerWasmTrainingKernels } from "./kernels/wasm/wasm.ts";
import { type BackendLoaders, defaultLoaders, errorText, type LoadResult } from "./loaders.ts";

/** The backend in use, as `initBackend` reports it. */
export interface BackendInfo {
  /** tfjs backend name: `tensorflow`, `webgpu`, `blas`, `wasm` or `cpu`. */
  name: string;
  /** What computes: GPU name or adapter description; for wasm "WebAssembly SIMD, 1 thread". */
  device: string;
  /** Why this backend: what was requested, and why each faster one was skipped. */
  reason: string;
  /** Whether the backend computes on a GPU. */
  gpu?: boolean;
  /** Whether WebAssembly SIMD is in use (wasm only). */
  simd?: boolean;
  /** Threads the backend computes with (wasm only). */
  threads?: number;
  /** A line a person should see, e.g. that webgpu runs on a slow software adapter. */
  warning?: string;
}

/** Options of `initBackend`. */
export interface InitBackendOptions {
  /** Replace some loaders (tests inject fakes). @default the real loaders */
  loaders?: Partial<BackendLoaders>;
  /** Register our training kernels on the chosen backend. @default true */
  registerKernels?: boolean;
  /** The OS whose `auto` order applies (tests pass others). @default `Deno.build.os` */
  os?: string;
}

interface Step {
  loader: keyof BackendLoaders;
  name: string;
  label: string;
  hint: string;
}

const NATIVE_HINT =
  "install it with `deno task install-native` on a machine with internet access (the GPU build " +
  "needs CUDA 11.2 and cuDNN 8.1), or use backend auto";

/** The selection order. */
const STEPS: readonly Step[] = [
  { loader: "tensorflowGpu", name: "tensorflow", label: "tensorflow (GPU)", hint: NATIVE_HINT },
  { loader: "tensorflowCpu", name: "tensorflow", label: "tensorflow (CPU)", hint: NATIVE_HINT },
  {
    loader: "webgpu",
    name: "webgpu",
    label: "webgpu",
    hint: "run on a machine with a GPU and its Vulkan/Metal/D3D12 driver, or use backend wasm",
  },
  {
    loader: "blas",
    name: "blas",
    label: "blas",
    hint: "install OpenBLAS (Debian: sudo apt-get install libopenblas0-pthread; macOS has " +
      "Accelerate, or brew install openblas), or use backend wasm",
  },
  { loader: "wasm", name: "wasm", label: "wasm", hint: "use backend cpu" },
  { loader: "cpu", name: "cpu", label: "cpu", hint: "reinstall with `deno install`" },
];

/**
 * The loaders `auto` tries on an OS, fastest first: every step on Linux and Windows; on macOS
 * webgpu (Metal), blas (Accelerate or Homebrew's OpenBLAS), wasm, cpu.
 *
 * @param os `Deno.build.os`, or another OS's name.
 * @returns Loader names in order.
 * @example
 * ```ts
 * import { autoOrder } from "./backend.ts";
 * if (autoOrder("darwin").join() !== "webgpu,blas,wasm,cpu") throw new Error("macOS order");
 * ```
 */
export function autoOrder(os: string = Deno.build.os): (keyof BackendLoaders)[] {
  const steps = os === "darwin" ? STEPS.filter((step) => step.name !== "tensorflow") : STEPS;
  return steps.map((step) => step.loader);
}

/**
 * Picks, loads and activates a backend, then registers our training kernels on it
 * (`registerTrainingKernels`).
 *
 * @param requested `"auto"` tries the backends fastest first; any other name loads exactly that
 *   one (`"tensorflow"` tries the GPU build, then the CPU build). Usually `config.backend`, which
 *   `CIFAR10_BACKEND` or `--backend` override.
 * @param options Loaders to replace (tests), kernel registration.
 * @returns What runs, on what device, and why.
 * @throws {Error} When an explicitly requested backend cannot load, or (even under `auto`) a
 *   loader reports a setting of the user's it cannot honour (`CIFAR10_NATIVE_ISA` naming an ISA
 *   this CPU lacks): one line saying why and what to do.
 * @throws {RangeError} When `requested` is not a backend name.
 * @example
 * ```ts
 * import { initBackend } from "./backend.ts";
 * const info = await initBackend("auto", {
 *   registerKernels: false,
 *   loaders: {
 *     tensorflowGpu: () => Promise.resolve({ ok: false, reason: "not installed" }),
 *     tensorflowCpu: () => Promise.resolve({ ok: false, reason: "not installed" }),
 *     webgpu: () => Promise.resolve({ ok: false, reason: "no adapter" }),
 *     blas: () => Promise.resolve({ ok: false, reason: "no OpenBLAS" }),
 *     wasm: () => Promise.resolve({ ok: true, device: "WebAssembly SIMD, 1 thread" }),
 *   },
 * });
 * if (info.name !== "wasm") throw new Error("expected wasm");
 * ```
 */
export async function initBackend(
  requested: BackendName = "auto",
  options: InitBackendOptions = {},
): Promise<BackendInfo> {
  const loaders: BackendLoaders = { ...defaultLoaders(), ...options.loaders };
  const order = autoOrder(options.os);
  const steps = requested === "auto"
    ? STEPS.filter((step) => order.includes(step.loader))
    : STEPS.filter((step) => step.name === requested);
  if (steps.length === 0) {
    throw new RangeError(
      `Cannot select backend "${requested}": expected one of auto, ${
        [...new Set(STEPS.map((s) => s.name))].join(", ")
      }`,
    );
  }
  const skipped: string[] = [];
  const failures: string[] = [];
  for (const step of steps) {
    let result: LoadResult;
    try {
      result = await loaders[step.loader]({ explicit: requested !== "auto" });
    } catch (error) {
      result = { ok: false, reason: errorText(error) };
    }
    if (!result.ok && result.fatal) {
      // The user's own setting cannot be honoured: trying the next backend would hide that.
      throw new Error(`Cannot use backend "${step.name}": ${result.reason}`);
    }
    if (!result.ok) {
      skipped.push(`${step.label}: ${result.reason}`);
      failures.push(steps.length === 1 ? result.reason : `${step.label}: ${result.reason}`);
      continue;
    }
    if (options.registerKernels ?? true) registerTrainingKernels(step.name);
    const why = requested === "auto" ? "auto" : `requested ${requested}`;
    const note = result.note === undefined ? "" : ` (${result.note})`;
    const reason = skipped.length === 0
      ? `${why}: ${step.label} loaded${note}`
      : `${why}: ${step.label} loaded${note}; skipped ${skipped.join("; ")}`;
    const info: BackendInfo = { name: step.name, device: result.device, reason };
    if (result.gpu !== undefined) info.gpu = result.gpu;
    if (result.simd !== undefined) info.simd = result.simd;
    if (result.threads !== undefined) info.threads = result.threads;
    if (result.warning !== undefined) {
      info.warning = result.warning;
      console.warn(`Warning: ${result.warning}`);
    }
    return info;
  }
  if (requested === "auto") {
    throw new Error(`Cannot select a backend: every backend failed (${skipped.join("; ")})`);
  }
  const hint = steps[steps.length - 1]!.hint;
  throw new Error(`Cannot use backend "${requested}": ${failures.join("; ")}; ${hint}`);
}

/**
 * One line saying what trains and why, like the tutorial's "CUDA is available! Training on GPU".
 *
 * @param info What `initBackend` returned.
 * @returns E.g. `No GPU: training on the CPU with wasm (WebAssembly SIMD, 1 thread) — auto: …`.
 * @example
 * ```ts
 * import { describeBackend } from "./backend.ts";
 * const line = describeBackend({ name: "wasm", device: "WebAssembly SIMD, 1 thread", reason: "auto" });
 * if (line !== "No GPU: training on the CPU with wasm (WebAssembly SIMD, 1 thread) — auto") {
 *   throw new Error(line);
 * }
 * ```
 */
export function describeBackend(info: BackendInfo): string {
  const where = info.gpu ? "GPU available: training on the GPU" : "No GPU: training on the CPU";
  return `${where} with ${info.name} (${info.device}) — ${info.reason}`;
}

/**
 * Registers the kernels training needs that a backend lacks or runs slowly: for `wasm`,
 * Conv2DBackpropFilter (missing), Conv2DBackpropInput, MaxPoolGrad and transposed or batched
 * BatchMatMul (slow: lib/engine/kernels/wasm/wasm.ts); for `cpu`, Conv2D, both convolution gradients,
 * MaxPoolGrad and BatchMatMul (lib/engine/kernels/js/cpu.ts); for `blas`, those cpu ones it did not replace
 * itself. `tensorflow` and `webgpu` need nothing. Idempotent. The backend's package must have
 * been imported (`initBackend` does that).
 *
 * @param backendName tfjs backend name.
 * @returns Names of the kernels that changed (empty when already registered, or for other
 *   backends).
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { registerTrainingKernels } from "./backend.ts";
 * registerTrainingKernels("cpu");
 * if (registerTrainingKernels("cpu").length !== 0) throw new Error("not idempotent");
 * if (registerTrainingKernels("webgpu").length !== 0) throw new Error("webgpu needs none");
 * ```
 */
export function registerTrainingKernels(backendName: string): string[] {
  switch (backendName) {
    case "wasm":
      return registerWasmTrainingKernels();
    case "cpu":
      return registerCpuTrainingKernels();
    case "blas":
      // blas runs on tfjs's MathBackendCPU with OpenBLAS kernels of its own; ours replace the
      // plain tfjs cpu kernels it copied (e.g. MaxPoolGrad).
      return registerCpuTrainingKernels("blas");
    default:
      return [];
  }
}

/** The highest reading of {@linkcode peakMemoryMiB} so far. */
let highestPeakMiB = 0;

/**
 * Peak resident memory of this process so far, in MiB: VmHWM from /proc/self/status on Linux (the
 * figure Python's `ru_maxrss` reports), else the current RSS. Never below an earlier reading:
 * Linux reports VmHWM as the larger of a lazily updated high-water mark and the current RSS, so a
 * peak that was never recorded can read lower later (by ~0.1 MiB, seen in the bench).
 *
 * @returns MiB.
 * @example
 * ```ts
 * import { peakMemoryMiB } from "./backend.ts";
 * const first = peakMemoryMiB();
 * if (!(first > 0) || peakMemoryMiB() < first) throw new Error("no monotonic memory figure");
 * ```
 */
export function peakMemoryMiB(): number {
  let reading = Deno.memoryUsage().rss / (1024 * 1024);
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kib = /VmHWM:\s*(\d+)\s*kB/.exec(status)?.[1];
    if (kib !== undefined) reading = Number(kib) / 1024;
  } catch {
    // Not Linux, or no read permission.
  }
  highestPeakMiB = Math.max(highestPeakMiB, reading);
  return highestPeakMiB;
}
