/**
 * How `deno task bench` runs one side: the command line of each side ({@link sideCommand}, with
 * the flags both share, {@link sharedArgs}), running it and reading its result ({@link runSide}),
 * checking that an interpreter given with `--python` has PyTorch ({@link ensurePytorch}), and that
 * a side ran the instruction set `--isa` asked for ({@link checkIsaHonoured}).
 *
 * @module
 */
import { DEFAULT_VENV_DIR, TORCH_VERSION, venvPython } from "./pytorch_env.ts";
import { type BenchResult, parseBenchOutput, type Side } from "./result.ts";
import type { BenchOptions, IsaLimit } from "./options.ts";

const BENCH_DIR = new URL(".", import.meta.url).pathname;

/**
 * The flags both sides understand, built from the options (the data path is passed separately).
 *
 * @param options The run's settings.
 * @returns Arguments such as `--batch-sizes 30,128 --repeats 3 …`.
 * @example
 * ```ts
 * import { DEFAULT_BENCH_OPTIONS } from "./options.ts";
 * import { sharedArgs } from "./sides.ts";
 * const args = sharedArgs({ ...DEFAULT_BENCH_OPTIONS, steps: 5 });
 * if (args[args.indexOf("--steps") + 1] !== "5") throw new Error("steps not passed");
 * ```
 */
export function sharedArgs(options: BenchOptions): string[] {
  return [
    "--batch-sizes",
    options.batchSizes.join(","),
    "--warmup",
    String(options.warmup),
    "--steps",
    String(options.steps),
    "--repeats",
    String(options.repeats),
    "--epoch-images",
    String(options.epochImages),
    "--inference-images",
    String(options.inferenceImages),
    "--inference-batch-size",
    String(options.inferenceBatchSize),
    "--threads",
    String(options.threads),
    "--seed",
    String(options.seed),
  ];
}

/**
 * The command line that runs one side. This is the seam for plugging in our implementation:
 * `options.oursCommand` replaces the default `deno run -A bench/ours.ts`.
 *
 * @param side Which side.
 * @param dataPath The folder the side reads (the real copy or the synthetic folder).
 * @param options The run's settings.
 * @returns The program followed by its arguments.
 * @example
 * ```ts
 * import { DEFAULT_BENCH_OPTIONS } from "./options.ts";
 * import { sideCommand } from "./sides.ts";
 * const venv = sideCommand("pytorch", "/tmp/data", DEFAULT_BENCH_OPTIONS);
 * if (!venv[0]!.endsWith("/.tools/pytorch-2.14.1/bin/python")) throw new Error(venv.join(" "));
 * const cmd = sideCommand("pytorch", "/tmp/data", { ...DEFAULT_BENCH_OPTIONS, python: "/usr/bin/python3" });
 * if (cmd[0] !== "/usr/bin/python3" || cmd[2] !== "bench") throw new Error(cmd.join(" "));
 * const ours = sideCommand("ours", "/tmp/data", { ...DEFAULT_BENCH_OPTIONS, oursCommand: ["./ours"] });
 * if (ours[0] !== "./ours" || !ours.includes("/tmp/data")) throw new Error(ours.join(" "));
 * ```
 */
export function sideCommand(side: Side, dataPath: string, options: BenchOptions): string[] {
  const common = ["--data", dataPath, ...sharedArgs(options)];
  if (side === "pytorch") {
    const python = options.python ?? venvPython(DEFAULT_VENV_DIR);
    return [python, BENCH_DIR + "pytorch_tutorial.py", "bench", ...common];
  }
  const base = options.oursCommand ??
    [Deno.execPath(), "run", "-A", BENCH_DIR + "ours.ts"];
  return [...base, ...common, "--backend", options.backend];
}

/**
 * Checks that an interpreter chosen with `--python` has PyTorch and torchvision; when it does not,
 * it is Debian's `/usr/bin/python3` and we run as root, installs Debian's `python3-torch` and
 * `python3-torchvision` with apt-get (PyTorch 1.13), saying so. Without `--python` the benchmark
 * uses the project venv instead (`ensurePytorchVenv` in bench/pytorch_env.ts).
 *
 * @param python The interpreter, e.g. `/usr/bin/python3`.
 * @returns The versions found, e.g. `torch 1.13.0a0, torchvision 0.14.1a0`.
 * @throws {Error} When PyTorch is missing and cannot be installed.
 */
export async function ensurePytorch(python: string): Promise<string> {
  const probe = async () => {
    try {
      const out = await new Deno.Command(python, {
        args: [
          "-c",
          "import torch, torchvision; print(torch.__version__, torchvision.__version__)",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
    } catch {
      return null;
    }
  };
  let versions = await probe();
  if (versions === null) {
    const isRoot = Deno.uid?.() === 0;
    if (!isRoot || python !== "/usr/bin/python3") {
      throw new Error(
        `Cannot run the PyTorch side: ${python} cannot import torch and torchvision; install ` +
          "Debian's packages with `sudo apt-get install -y python3-torch python3-torchvision` " +
          "(or pass --python with an interpreter that has them, or leave --python out to use " +
          `the project's venv with torch ${TORCH_VERSION})`,
      );
    }
    console.error(
      "PyTorch is missing: installing python3-torch python3-torchvision with apt-get (as root)",
    );
    const apt = async (...args: string[]) =>
      (await new Deno.Command("apt-get", { args, stdout: "inherit", stderr: "inherit" }).output())
        .success;
    if (!(await apt("install", "-y", "python3-torch", "python3-torchvision"))) {
      await apt("update");
      await apt("install", "-y", "python3-torch", "python3-torchvision");
    }
    versions = await probe();
    if (versions === null) {
      throw new Error(
        "Cannot run the PyTorch side: apt-get did not make torch and torchvision importable by " +
          python,
      );
    }
  }
  const [torch, vision] = versions.split(/\s+/);
  return `torch ${torch}, torchvision ${vision}`;
}

/**
 * Runs one side once and reads its result. Its stderr (progress lines) goes to ours.
 *
 * @param command From {@link sideCommand}.
 * @param side Which side it is.
 * @returns The side's result.
 * @throws {Error} When the process fails; the message holds the command and the end of its output.
 */
export async function runSide(command: string[], side: Side): Promise<BenchResult> {
  const [program, ...args] = command;
  const output = await new Deno.Command(program!, {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `Cannot finish the ${side} side: \`${command.join(" ")}\` exited with code ${output.code}; ` +
        `its stdout ended with ${JSON.stringify(stdout.slice(-500))}`,
    );
  }
  return parseBenchOutput(stdout, side);
}

/**
 * What each side reports running when `--isa` limits it: our native build's name in the backend
 * description (`avx2 build`), and PyTorch's ATen kernels (`kernels AVX2`).
 */
const ISA_EVIDENCE: Readonly<Record<IsaLimit, Readonly<Record<Side, string>>>> = {
  avx512: { ours: "avx512 build", pytorch: "kernels AVX512" },
  avx2: { ours: "avx2 build", pytorch: "kernels AVX2" },
  portable: { ours: "portable build", pytorch: "kernels DEFAULT" },
};

/**
 * Checks that a side ran the instruction set `--isa` asked for. A side that quietly ran another
 * (a CPU without it, a library that ignores the variable) would make the table compare something
 * else, so that is an error naming what it ran.
 *
 * @param result One side's result.
 * @param isa The limit of the run, or null (nothing to check).
 * @throws {Error} When the side's description does not name the ISA.
 * @example
 * ```ts
 * import { checkIsaHonoured } from "./sides.ts";
 * const ran = { side: "pytorch", implementation: "PyTorch 2.14.1 (torchvision 0.29.1), CPU, kernels AVX512" } as const;
 * let refused = false;
 * try {
 *   checkIsaHonoured(ran, "avx2");
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("an AVX-512 run passed for avx2");
 * ```
 */
export function checkIsaHonoured(
  result: Pick<BenchResult, "side" | "implementation">,
  isa: IsaLimit | null,
): void {
  if (isa === null) return;
  const evidence = ISA_EVIDENCE[isa][result.side];
  if (result.implementation.toLowerCase().includes(evidence.toLowerCase())) return;
  throw new Error(
    `Cannot compare the sides with --isa ${isa}: the ${result.side} side did not run it ` +
      `(expected "${evidence}" in its description, found "${result.implementation}")`,
  );
}
