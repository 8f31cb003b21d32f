/**
 * The loaders behind `initBackend`'s selection order: each tries to load and activate one tfjs
 * backend, importing its package only when called (the native tfjs-node packages through
 * computed specifiers, so nothing is fetched when they are absent), and says why when it cannot.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * What one loader reports: the backend is now active, or why it could not be. `warning` is one
 * line a person should see (e.g. a software WebGPU adapter: slow).
 */
export type LoadResult =
  | {
    ok: true;
    device: string;
    gpu?: boolean;
    simd?: boolean;
    threads?: number;
    note?: string;
    warning?: string;
  }
  | {
    ok: false;
    reason: string;
    /** A setting of the user's cannot be honoured: stop there, even under `auto`. */
    fatal?: boolean;
  };

/** How a loader was asked: `explicit` when the backend was named, not reached by `auto`. */
export interface LoadRequest {
  /** The user named this backend (`--backend webgpu`), so a slow variant of it is acceptable. */
  explicit: boolean;
}

/** A function that tries to load and activate one backend. */
export type BackendLoader = (request?: LoadRequest) => Promise<LoadResult>;

/** One loader per step of the selection order. */
export interface BackendLoaders {
  /** `tensorflow` through `@tensorflow/tfjs-node-gpu`, only when CUDA is usable. */
  tensorflowGpu: BackendLoader;
  /** `tensorflow` through `@tensorflow/tfjs-node`. */
  tensorflowCpu: BackendLoader;
  /** `webgpu` on a real (non-fallback) adapter; on a software one too when asked explicitly. */
  webgpu: BackendLoader;
  /** `blas` from lib/engine/kernels/blas/blas.ts. */
  blas: BackendLoader;
  /** `wasm`. */
  wasm: BackendLoader;
  /** `cpu`. */
  cpu: BackendLoader;
}

/** Pinned versions of the optional native packages (the same tfjs-core as deno.json). */
export const TFJS_NODE_VERSION = "4.22.0";

/** The command that installs the optional native packages (needs internet access). */
export const INSTALL_NATIVE_COMMAND =
  `deno install --no-save --allow-scripts=npm:@tensorflow/tfjs-node@${TFJS_NODE_VERSION},` +
  `npm:@tensorflow/tfjs-node-gpu@${TFJS_NODE_VERSION} npm:@tensorflow/tfjs-node@${TFJS_NODE_VERSION} ` +
  `npm:@tensorflow/tfjs-node-gpu@${TFJS_NODE_VERSION}`;

/** The first line of an error's message. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.trim();
}

/** The part of `navigator.gpu` the webgpu loader uses. */
export interface GpuLike {
  /** Resolves to an adapter (with `info`) or null. */
  requestAdapter(options?: { powerPreference?: string }): Promise<unknown>;
}

/** Options of `defaultLoaders`. */
export interface DefaultLoadersOptions {
  /** The node_modules folder to look for the native packages in. @default the project's */
  nodeModules?: URL;
  /** WebGPU entry point; null when absent. @default navigator.gpu */
  gpu?: GpuLike | null;
}

/**
 * The real loaders: each imports its package only when called and activates the backend with
 * `tf.setBackend`.
 *
 * @param options Where the native packages live.
 * @returns A fresh set of loaders.
 * @example
 * ```ts
 * import { defaultLoaders } from "./loaders.ts";
 * const empty = new URL("file:///nonexistent/node_modules/");
 * const result = await defaultLoaders({ nodeModules: empty }).tensorflowCpu();
 * if (result.ok || result.reason !== "@tensorflow/tfjs-node is not installed") throw new Error();
 * ```
 */
export function defaultLoaders(options: DefaultLoadersOptions = {}): BackendLoaders {
  const nodeModules = options.nodeModules ?? new URL("../../node_modules/", import.meta.url);
  return {
    tensorflowGpu: () => loadTensorflow("@tensorflow/tfjs-node-gpu", nodeModules),
    tensorflowCpu: () => loadTensorflow("@tensorflow/tfjs-node", nodeModules),
    webgpu: (request) => {
      const explicit = request?.explicit ?? false;
      if (options.gpu !== undefined) return loadWebgpu(options.gpu, explicit);
      // On Linux a hardware adapter needs a GPU device node; without one, asking for an adapter
      // only finds a software rasteriser (and makes Mesa print alarming "error:" lines), which
      // only an explicit request accepts.
      if (Deno.build.os === "linux" && !hasLinuxGpuDevice() && !explicit) {
        return Promise.resolve({
          ok: false,
          reason: "no GPU device on this machine (no /dev/dri/renderD* or /dev/nvidia*)",
        });
      }
      return loadWebgpu((navigator as unknown as { gpu?: GpuLike }).gpu ?? null, explicit);
    },
    blas: loadBlas,
    wasm: loadWasm,
    cpu: loadCpu,
  };
}

async function activate(name: string): Promise<string | null> {
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return `tf.setBackend("${name}") failed to initialise it`;
    await tf.ready();
    return null;
  } catch (error) {
    return `tf.setBackend("${name}") threw: ${errorText(error)}`;
  }
}

/** The package's folder in node_modules, or null when it is not installed. */
function nativePackageDir(pkg: string, root: URL): URL | null {
  const candidates = [
    new URL(`${pkg}/`, root),
    new URL(`.deno/${pkg.replace("/", "+")}@${TFJS_NODE_VERSION}/node_modules/${pkg}/`, root),
  ];
  for (const dir of candidates) {
    try {
      if (Deno.statSync(new URL("package.json", dir)).isFile) return dir;
    } catch {
      // Not there (or not readable): try the next place.
    }
  }
  return null;
}

/** Whether the package's native binding (`lib/napi-v*\/tfjs_binding.node`) was built. */
function hasNativeBinding(dir: URL): boolean {
  try {
    for (const entry of Deno.readDirSync(new URL("lib/", dir))) {
      if (!entry.isDirectory || !entry.name.startsWith("napi-v")) continue;
      try {
        Deno.statSync(new URL(`lib/${entry.name}/tfjs_binding.node`, dir));
        return true;
      } catch {
        // Keep looking.
      }
    }
  } catch {
    // No lib/ folder: the install script never ran.
  }
  return false;
}

/** tfjs-node 4.22 calls `util.isNullOrUndefined`, which Deno ≥ 2.4.4 (like Node ≥ 23) no longer
 * has (tfjs issue #8609); put it back before the package loads. */
async function restoreNodeUtil(): Promise<void> {
  const util = (await import("node:util")).default as unknown as Record<string, unknown>;
  if (typeof util.isNullOrUndefined !== "function") {
    util.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
  }
}

async function gpuName(): Promise<string | null> {
  try {
    const output = await new Deno.Command("nvidia-smi", {
      args: ["--query-gpu=name", "--format=csv,noheader"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const name = new TextDecoder().decode(output.stdout).split("\n")[0]?.trim();
    return output.success && name ? name : null;
  } catch {
    return null;
  }
}

async function loadTensorflow(
  pkg: "@tensorflow/tfjs-node" | "@tensorflow/tfjs-node-gpu",
  nodeModules: URL,
): Promise<LoadResult> {
  const gpuBuild = pkg.endsWith("-gpu");
  const dir = nativePackageDir(pkg, nodeModules);
  if (dir === null) return { ok: false, reason: `${pkg} is not installed` };
  if (!hasNativeBinding(dir)) {
    return {
      ok: false,
      reason: `${pkg} is installed but its native binding was not built (its install script ` +
        `downloads libtensorflow)`,
    };
  }
  await restoreNodeUtil();
  // A computed specifier keeps Deno from resolving (and fetching) the package ahead of time.
  const specifier = `npm:${pkg}@${TFJS_NODE_VERSION}`;
  let mod: { engine?: () => unknown };
  try {
    mod = await import(specifier);
  } catch (error) {
    return { ok: false, reason: `cannot import ${pkg}: ${errorText(error)}` };
  }
  if (typeof mod.engine === "function" && mod.engine() !== tf.engine()) {
    return {
      ok: false,
      reason: `${pkg} loaded a second tfjs-core; every package must resolve to ` +
        `@tensorflow/tfjs-core@${TFJS_NODE_VERSION}`,
    };
  }
  const failure = await activate("tensorflow");
  if (failure !== null) return { ok: false, reason: failure };
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  if (gpuBuild && backend.isUsingGpuDevice !== true) {
    // The GPU build without a usable CUDA runs libtensorflow on the CPU: exactly step 2, so keep
    // it rather than loading a second libtensorflow.
    return {
      ok: true,
      gpu: false,
      device: "CPU (libtensorflow, GPU build)",
      note: "no usable CUDA 11.2 / cuDNN 8.1 GPU, so libtensorflow runs on the CPU",
    };
  }
  if (gpuBuild) return { ok: true, gpu: true, device: (await gpuName()) ?? "CUDA GPU" };
  return { ok: true, gpu: false, device: "CPU (libtensorflow)" };
}

/** Adapter descriptions of software renderers, which are far too slow to train on. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/** The parts of WebGPU's adapter info we read (Deno's types may lack some). */
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * Decides whether a WebGPU adapter is a real GPU.
 *
 * @param info The adapter's `info` (plus the older `adapter.isFallbackAdapter`).
 * @returns Null for a real GPU, else why not.
 * @example
 * ```ts
 * import { rejectSoftwareAdapter } from "./loaders.ts";
 * const why = rejectSoftwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" });
 * if (why === null) throw new Error("llvmpipe is software");
 * if (rejectSoftwareAdapter({ description: "NVIDIA GeForce RTX 4090" }) !== null) throw new Error();
 * ```
 */
export function rejectSoftwareAdapter(info: AdapterInfoLike): string | null {
  const text = adapterDescription(info);
  if (info.isFallbackAdapter === true) {
    return `the only WebGPU adapter is a software fallback (${text}), far too slow`;
  }
  if (SOFTWARE_ADAPTER.test(text)) {
    return `the only WebGPU adapter is a software renderer (${text}), far too slow`;
  }
  return null;
}

function adapterDescription(info: AdapterInfoLike): string {
  if (info.description) return info.description;
  const parts = [info.vendor, info.architecture, info.device].filter((p) => p);
  return parts.length > 0 ? parts.join(" ") : "unnamed adapter";
}

function hasLinuxGpuDevice(): boolean {
  const names = (dir: string): string[] => {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      return [];
    }
  };
  return names("/dev/dri").some((n) => n.startsWith("renderD")) ||
    names("/dev").some((n) => /^nvidia\d+$/.test(n));
}

/**
 * Loads tfjs's webgpu backend on the first adapter. A software adapter (Mesa's llvmpipe,
 * SwiftShader) is refused under `auto`, and accepted with a warning when the backend was asked
 * for by name: slow (seconds per batch of 30), but the real GPU code path, which is how the tests
 * run it on machines without a GPU.
 */
async function loadWebgpu(gpu: GpuLike | null, explicit: boolean): Promise<LoadResult> {
  if (gpu === null) return { ok: false, reason: "this Deno has no WebGPU (navigator.gpu)" };
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }) as
    | { info?: AdapterInfoLike; isFallbackAdapter?: boolean }
    | null;
  if (adapter === null) return { ok: false, reason: "no WebGPU adapter found" };
  // GPUAdapterInfo exposes its fields as prototype getters: read them one by one.
  const raw = adapter.info ?? {};
  const info: AdapterInfoLike = {
    vendor: raw.vendor,
    architecture: raw.architecture,
    device: raw.device,
    description: raw.description,
    isFallbackAdapter: raw.isFallbackAdapter ?? adapter.isFallbackAdapter,
  };
  const rejected = rejectSoftwareAdapter(info);
  if (rejected !== null && !explicit) return { ok: false, reason: rejected };
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
  } catch (error) {
    return {
      ok: false,
      reason: `cannot import @tensorflow/tfjs-backend-webgpu: ${errorText(error)}`,
    };
  }
  const failure = await activate("webgpu");
  if (failure !== null) return { ok: false, reason: failure };
  if (rejected !== null) {
    return {
      ok: true,
      gpu: false,
      device: `${adapterDescription(info)}, a software WebGPU adapter`,
      warning: `webgpu runs on a software adapter (${
        adapterDescription(info)
      }): the GPU code path on the CPU, many times slower than blas; for speed use backend auto`,
    };
  }
  return { ok: true, gpu: true, device: adapterDescription(info) };
}

/** The blas helper's contract (lib/engine/kernels/blas/blas.ts). */
interface BlasModule {
  registerBlasBackend(): Promise<
    { ok: true; device: string } | { ok: false; reason: string; fatal?: boolean }
  >;
}

async function loadBlas(): Promise<LoadResult> {
  let mod: BlasModule;
  try {
    // Computed, so that the backend module works (and type-checks) without the blas module.
    const specifier = new URL("./kernels/blas/blas.ts", import.meta.url).href;
    mod = await import(specifier);
  } catch (error) {
    return {
      ok: false,
      reason: `cannot import lib/engine/kernels/blas/blas.ts: ${errorText(error)}`,
    };
  }
  const registered = await mod.registerBlasBackend();
  if (!registered.ok) {
    return registered.fatal
      ? { ok: false, reason: registered.reason, fatal: true }
      : { ok: false, reason: registered.reason };
  }
  const failure = await activate("blas");
  if (failure !== null) return { ok: false, reason: failure };
  return { ok: true, gpu: false, device: registered.device };
}

async function loadWasm(): Promise<LoadResult> {
  let wasm: { getThreadsCount(): number };
  try {
    wasm = await import("@tensorflow/tfjs-backend-wasm");
  } catch (error) {
    return {
      ok: false,
      reason: `cannot import @tensorflow/tfjs-backend-wasm: ${errorText(error)}`,
    };
  }
  const failure = await activate("wasm");
  if (failure !== null) return { ok: false, reason: failure };
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") === true;
  const threads = wasm.getThreadsCount();
  const device = `WebAssembly${simd ? " SIMD" : " (no SIMD)"}, ${threads} thread${
    threads === 1 ? "" : "s"
  }`;
  return { ok: true, gpu: false, device, simd, threads };
}

async function loadCpu(): Promise<LoadResult> {
  try {
    await import("@tensorflow/tfjs-backend-cpu");
  } catch (error) {
    return { ok: false, reason: `cannot import @tensorflow/tfjs-backend-cpu: ${errorText(error)}` };
  }
  const failure = await activate("cpu");
  if (failure !== null) return { ok: false, reason: failure };
  // The cpu backend's first write advertises tfjs-node; describeBackend says what runs instead.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { ok: true, gpu: false, device: "JavaScript, 1 thread", threads: 1 };
}
