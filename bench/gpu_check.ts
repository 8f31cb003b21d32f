/**
 * `bench/gpu_check.sh` (`deno task bench:gpu`): the check a person with a GPU runs in one command.
 * It prints the WebGPU adapter, then our training-step (and epoch, inference) images/s at batch 30
 * and 128 on the webgpu backend. Where a PyTorch that sees a CUDA GPU is installed (the bench's
 * venv `.tools/pytorch-2.14.1/`, `--python PATH`, or Debian's), it measures the tutorial's PyTorch
 * code on CUDA the same way and prints the ratios. `--full` then trains the tutorial's 60 epochs on
 * webgpu (`deno task train --backend webgpu`).
 *
 * A software adapter (Mesa's llvmpipe on a machine without a GPU) is named and the check stops
 * there (exit code 2): its timings would be the CPU's. `--allow-software` times it anyway, which is
 * how the tests run the check end to end.
 *
 * ```sh
 * bench/gpu_check.sh                                # synthetic data (NOT CIFAR-10)
 * bench/gpu_check.sh --data data --full             # the real copy, then the 60 epochs
 * deno task bench:gpu --allow-software --batch-sizes 2 --steps 1 --repeats 1
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import type { BenchResult } from "./result.ts";
import { type BenchOptions, DEFAULT_BENCH_OPTIONS } from "./options.ts";
import { runSide, sideCommand } from "./sides.ts";
import { writeSyntheticData } from "./synthetic.ts";
import { formatReport, summarizeResults } from "./report.ts";
import { type BenchData, prepareBenchData } from "./bench_data.ts";
import { DEFAULT_VENV_DIR, venvPython } from "./pytorch_env.ts";
import { resolveUserPath } from "../lib/core/config.ts";
import { isFile } from "../lib/core/fs.ts";
import { rejectSoftwareAdapter } from "../lib/engine/loaders.ts";
import { parseInteger } from "../lib/core/flags.ts";

/** What `navigator.gpu.requestAdapter()` says about the adapter, as the check prints it. */
export interface AdapterReport {
  /** E.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  description: string;
  /** Whether it is a software adapter (fallback flag, or a known software renderer's name). */
  software: boolean;
}

/**
 * Reads the adapter WebGPU gives this process.
 *
 * @returns The adapter, or null when there is none (no WebGPU, no driver).
 */
export async function findAdapter(): Promise<AdapterReport | null> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(o?: unknown): Promise<unknown> } })
    .gpu;
  if (gpu === undefined) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() =>
    null
  ) as { info?: Record<string, unknown>; isFallbackAdapter?: boolean } | null;
  if (adapter === null) return null;
  const info = adapter.info ?? {};
  const text = (key: string) => typeof info[key] === "string" ? info[key] as string : "";
  const description = text("description") ||
    [text("vendor"), text("architecture"), text("device")].filter((p) => p).join(" ") ||
    "unnamed adapter";
  const fallback = info["isFallbackAdapter"] === true || adapter.isFallbackAdapter === true;
  // The backend loader's own rule, so the check and `auto` never disagree about an adapter.
  const software = rejectSoftwareAdapter({ description, isFallbackAdapter: fallback }) !== null;
  return { description, software };
}

/** Whether an interpreter's PyTorch sees a CUDA GPU, and which. */
async function cudaDevice(python: string): Promise<string | null> {
  try {
    const out = await new Deno.Command(python, {
      args: [
        "-c",
        "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')",
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const name = new TextDecoder().decode(out.stdout).trim();
    return out.success && name !== "" ? name : null;
  } catch {
    return null;
  }
}

const USAGE = `bench/gpu_check.sh [flags]   (deno task bench:gpu)
  --data PATH            the real copy, as every command takes it (an archive of either version, a
                         cifar-10-batches-bin/ or cifar-10-batches-py/ folder, or a folder
                         holding one); default synthetic
  --python PATH          a Python whose torch sees CUDA (default: the bench venv, then /usr/bin/python3)
  --batch-sizes 30,128 --steps N --repeats N --epoch-images N --inference-images N
  --full                 then train the tutorial's 60 epochs on webgpu
  --allow-software       time a software adapter too (its figures are the CPU's)`;

if (import.meta.main) {
  const { values: flags } = parseArgs({
    args: Deno.args,
    options: {
      data: { type: "string" },
      python: { type: "string" },
      "batch-sizes": { type: "string", default: "30,128" },
      steps: { type: "string", default: "10" },
      repeats: { type: "string", default: "3" },
      "epoch-images": { type: "string", default: "3000" },
      "inference-images": { type: "string", default: "5000" },
      full: { type: "boolean", default: false },
      "allow-software": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (flags.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const count = (flag: string, text: string) => parseInteger(text, `--${flag}`, { min: 1 });
  // 1. The adapter.
  const adapter = await findAdapter();
  if (adapter === null) {
    console.log("Adapter: none (this Deno finds no WebGPU adapter: no GPU driver, or no GPU)");
    Deno.exit(2);
  }
  console.log(`Adapter: ${adapter.description}${adapter.software ? " (software)" : ""}`);
  if (adapter.software && !flags["allow-software"]) {
    console.log(
      "No GPU: this is a software adapter, so its timings would be the CPU's. Run this on a " +
        "machine with a GPU and its Vulkan (Linux, Windows) or Metal (macOS) driver, or pass " +
        "--allow-software to time it anyway.",
    );
    Deno.exit(2);
  }
  const batchSizes = flags["batch-sizes"].split(",").map((b) => count("batch-sizes", b.trim()));
  const options: BenchOptions = {
    ...DEFAULT_BENCH_OPTIONS,
    batchSizes,
    steps: count("steps", flags.steps),
    repeats: count("repeats", flags.repeats),
    warmup: 2,
    epochImages: count("epoch-images", flags["epoch-images"]),
    inferenceImages: count("inference-images", flags["inference-images"]),
    inferenceBatchSize: Math.min(1000, count("inference-images", flags["inference-images"])),
    backend: "webgpu",
  };
  // The real copy resolved as every command resolves --data, one binary folder for both sides.
  const userData = flags.data === undefined ? null : resolveUserPath(flags.data);
  let real: BenchData | null = null;
  if (userData !== null) {
    try {
      real = await prepareBenchData(userData);
    } catch (error) {
      console.error(error instanceof Error ? error.message : String(error));
      Deno.exit(1);
    }
  }
  let dataPath = real?.folder ?? null, synthetic: string | null = null;
  if (dataPath === null) {
    synthetic = await Deno.makeTempDir({ prefix: "cifar10-gpu-check-" });
    console.log(`Data: SYNTHETIC (random pixels, NOT CIFAR-10) in ${synthetic}`);
    dataPath = await writeSyntheticData(synthetic, {
      recordsPerFile: Math.max(options.epochImages, options.inferenceImages, 128 * 4),
    });
  } else {
    console.log(`Data: ${real!.description}`);
  }
  try {
    // 2. Ours on webgpu, then the tutorial's PyTorch code on CUDA where a CUDA torch is here.
    const results: BenchResult[] = [];
    const ours = await runSide(sideCommand("ours", dataPath, options), "ours");
    results.push(ours);
    console.log(`ours: ${ours.implementation}`);
    const candidates: string[] = flags.python !== undefined ? [flags.python] : [];
    if (flags.python === undefined) {
      for (const python of [venvPython(DEFAULT_VENV_DIR), "/usr/bin/python3"]) {
        if (await isFile(python)) candidates.push(python);
      }
    }
    let cuda: { python: string; device: string } | null = null;
    for (const python of candidates) {
      const device = await cudaDevice(python);
      if (device !== null) {
        cuda = { python, device };
        break;
      }
    }
    if (cuda === null) {
      console.log(
        `PyTorch on CUDA: not run (no PyTorch that sees a CUDA GPU among ${
          candidates.join(", ") || "no interpreter found"
        }; pass --python)`,
      );
    } else {
      const command = [...sideCommand("pytorch", dataPath, { ...options, python: cuda.python })];
      const theirs = await runSide([...command, "--device", "cuda"], "pytorch");
      results.push(theirs);
      console.log(`PyTorch: ${theirs.implementation} (${cuda.python})`);
    }
    for (const line of formatReport(summarizeResults(results), [])) console.log(line);
    // 3. The tutorial's 60 epochs on webgpu, when asked.
    if (flags.full) {
      const args = ["run", "-A", new URL("../scripts/train.ts", import.meta.url).pathname];
      args.push("--backend", "webgpu", "--epochs", "60");
      if (userData !== null) args.push("--data", userData);
      else args.push("--synthetic");
      console.log(`Training the tutorial's 60 epochs on webgpu: deno ${args.join(" ")}`);
      const started = performance.now();
      const status = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
      console.log(
        `60 epochs on webgpu: ${status.success ? "done" : `failed (exit ${status.code})`} in ` +
          `${((performance.now() - started) / 60000).toFixed(1)} min`,
      );
    }
  } finally {
    if (synthetic !== null) await Deno.remove(synthetic, { recursive: true });
    await real?.cleanup();
  }
}
