/**
 * The reference PyTorch of `deno task bench`: the newest torch and torchvision that pip installs
 * here, pinned ({@link TORCH_VERSION}, {@link TORCHVISION_VERSION}), in a project venv under
 * `.tools/pytorch-<version>/` (git-ignored). The comparison is meant against the PyTorch a user
 * installs today, not against the years-old one a distribution packages.
 *
 * {@link ensurePytorchVenv} reuses the venv when its Python imports exactly the pinned versions;
 * otherwise it builds a new one in a temporary folder beside it and renames that into place only
 * after `import torch, torchvision` works, so a killed install never leaves a half venv that a
 * later run would trust.
 *
 * ```sh
 * deno task bench                   # makes or reuses .tools/pytorch-2.14.1/
 * .tools/pytorch-2.14.1/bin/python bench/pytorch_tutorial.py bench --data data --repeats 1
 * ```
 * @module
 */
import { basename, dirname, join, relative } from "node:path";

/** The torch version the reference runs (the newest pip installs here). */
export const TORCH_VERSION = "2.14.1";
/** The torchvision release made for {@link TORCH_VERSION}. */
export const TORCHVISION_VERSION = "0.29.1";

/** The project root (this file's parent folder's parent), without a trailing slash. */
export const PROJECT_ROOT: string = dirname(dirname(new URL(import.meta.url).pathname));

/** Where the reference venv lives: `.tools/pytorch-<TORCH_VERSION>` under the project root. */
export const DEFAULT_VENV_DIR: string = join(PROJECT_ROOT, ".tools", `pytorch-${TORCH_VERSION}`);

/** The torch and torchvision versions an interpreter imports, as they print them. */
export interface PytorchVersions {
  /** `torch.__version__`, e.g. `2.14.1+cu130`. */
  torch: string;
  /** `torchvision.__version__`, e.g. `0.29.1+cu130`. */
  torchvision: string;
}

/** A ready reference venv. */
export interface PytorchVenv {
  /** The venv folder. */
  dir: string;
  /** Its interpreter, `<dir>/bin/python`. */
  python: string;
  /** What that interpreter imports. */
  versions: PytorchVersions;
  /** True when this call installed it, false when an existing venv was reused. */
  installed: boolean;
}

/** Options of {@link ensurePytorchVenv}. */
export interface EnsureVenvOptions {
  /** The venv folder. @default DEFAULT_VENV_DIR */
  dir?: string;
  /** The interpreter that creates the venv (`<basePython> -m venv`). @default "python3" */
  basePython?: string;
  /** Receives the progress lines, pip's output included. @default a line on stderr */
  log?: (line: string) => void;
}

/** One pip command of an install recipe, with the reason a person reads in the progress lines. */
export interface PipStep {
  /** Arguments after `pip install`. */
  args: readonly string[];
  /** Why this step is needed. */
  why: string;
}

/**
 * The plain install: pip resolves every dependency itself. It works wherever the full PyPI is
 * reachable.
 */
export const PLAIN_INSTALL: Readonly<PipStep> = Object.freeze({
  args: [`torch==${TORCH_VERSION}`, `torchvision==${TORCHVISION_VERSION}`],
  why: `torch ${TORCH_VERSION} and torchvision ${TORCHVISION_VERSION} with their dependencies`,
});

/**
 * The install used when the plain one fails. On this project's machines the package index lacks
 * one of torch's declared CUDA dependencies (`cuda-bindings`), so pip's resolver gives up; torch
 * itself does not need it on the CPU. The steps install torch and torchvision without dependencies,
 * then what they import, then the NVIDIA libraries that torch `+cu130` links at import even on a
 * machine without a GPU (it fails to import without `libcudnn.so.9` and the rest).
 */
export const FALLBACK_INSTALL: readonly Readonly<PipStep>[] = Object.freeze([
  {
    args: ["--no-deps", `torch==${TORCH_VERSION}`, `torchvision==${TORCHVISION_VERSION}`],
    why: "torch and torchvision alone, without pip's dependency resolution",
  },
  {
    args: [
      "numpy",
      "pillow",
      "filelock",
      "typing-extensions",
      "sympy",
      "networkx",
      "jinja2",
      "fsspec",
    ],
    why: "the Python packages torch and torchvision import",
  },
  {
    args: [
      "--no-deps",
      "nvidia-cudnn-cu13==9.24.0.43",
      "nvidia-cusparselt-cu13==0.8.1",
      "nvidia-nccl-cu13==2.30.7",
      "nvidia-nvshmem-cu13==3.4.5",
      "nvidia-cublas",
      "nvidia-cuda-cupti",
      "nvidia-cuda-nvrtc",
      "nvidia-cufft",
      "nvidia-cufile",
      "nvidia-curand",
      "nvidia-cusolver",
      "nvidia-cusparse",
      "nvidia-nvjitlink",
      "nvidia-nvtx",
      "cuda-toolkit",
      "nvidia-cuda-runtime",
    ],
    why: "the NVIDIA libraries torch links when it is imported, even on the CPU",
  },
]);

/** Python that prints `torch.__version__ torchvision.__version__` on one line. */
const PROBE = "import torch, torchvision; print(torch.__version__, torchvision.__version__)";

/**
 * The interpreter of a venv folder.
 *
 * @param dir The venv folder.
 * @returns `<dir>/bin/python`.
 * @example
 * ```ts
 * import { venvPython } from "./pytorch_env.ts";
 * if (venvPython("/x/venv") !== "/x/venv/bin/python") throw new Error(venvPython("/x/venv"));
 * ```
 */
export function venvPython(dir: string): string {
  return join(dir, "bin", "python");
}

/**
 * Whether a version as a package prints it is the pinned one: the local part after `+` (the build,
 * e.g. `+cu130` or `+cpu`) is ignored, everything else must be equal.
 *
 * @param found E.g. `2.14.1+cu130`.
 * @param pinned E.g. `2.14.1`.
 * @returns True when they name the same release.
 * @example
 * ```ts
 * import { isPinnedVersion } from "./pytorch_env.ts";
 * if (!isPinnedVersion("2.14.1+cu130", "2.14.1") || isPinnedVersion("2.14.10", "2.14.1")) {
 *   throw new Error("wrong version match");
 * }
 * ```
 */
export function isPinnedVersion(found: string, pinned: string): boolean {
  return found.split("+")[0] === pinned;
}

/**
 * Asks an interpreter which torch and torchvision it imports.
 *
 * @param python The interpreter.
 * @returns The versions, or the reason it cannot say (not found, import error).
 */
export async function probeTorch(
  python: string,
): Promise<{ ok: true; versions: PytorchVersions } | { ok: false; reason: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(python, {
      args: ["-c", PROBE],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    return { ok: false, reason: `cannot start ${python} (${(error as Error).message})` };
  }
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const [torch, torchvision] = stdout.split(/\s+/);
  if (!output.success || torch === undefined || torchvision === undefined) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1) ?? "";
    return {
      ok: false,
      reason: `${python} cannot import torch and torchvision (exit code ${output.code}: ${
        stderr || stdout || "no output"
      })`,
    };
  }
  return { ok: true, versions: { torch, torchvision } };
}

function isPinned(versions: PytorchVersions): boolean {
  return isPinnedVersion(versions.torch, TORCH_VERSION) &&
    isPinnedVersion(versions.torchvision, TORCHVISION_VERSION);
}

/** Runs a command, passing each output line to `log`; returns its exit code and last lines. */
async function runLogged(
  program: string,
  args: readonly string[],
  log: (line: string) => void,
  prefix: string,
): Promise<{ code: number; tail: string[]; started: boolean; error?: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, { args: [...args], stdout: "piped", stderr: "piped" })
      .spawn();
  } catch (error) {
    return { code: -1, tail: [], started: false, error: (error as Error).message };
  }
  const tail: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    const take = (line: string) => {
      const text = line.trimEnd();
      if (text === "") return;
      log(`${prefix}${text}`);
      tail.push(text);
      // Enough of pip's output to see why it failed, not the whole download list.
      if (tail.length > 12) tail.shift();
    };
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      const lines = (pending + decoder.decode(bytes, { stream: true })).split(/\r?\n|\r/);
      pending = lines.pop()!;
      lines.forEach(take);
    }
    take(pending);
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  return { code: status.code, tail, started: true };
}

/**
 * Removes leftovers of earlier installs that were killed before they could clean up: siblings
 * named `<venv>.partial-<pid>-…` or `<venv>.old-<pid>-…` whose process no longer runs. Only on
 * Linux, where `/proc/<pid>` tells whether a process runs; elsewhere they stay (a running install
 * of another process must not lose its folder).
 */
async function removeStaleInstalls(dir: string, log: (line: string) => void): Promise<void> {
  if (Deno.build.os !== "linux") return;
  const parent = dirname(dir);
  const prefix = basename(dir);
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.name.startsWith(prefix + ".")) continue;
    const match = /^\.(?:partial|old)-(\d+)-[0-9a-f]+$/.exec(entry.name.slice(prefix.length));
    if (match === null || match[1] === String(Deno.pid)) continue;
    const alive = await Deno.stat(`/proc/${match[1]}`).then(() => true, () => false);
    if (alive) continue;
    log(`removing ${join(parent, entry.name)}, left by an install that was stopped`);
    await Deno.remove(join(parent, entry.name), { recursive: true }).catch(() => {});
  }
}

/**
 * Points the venv's scripts at its final folder. A venv writes its own path into `bin/pip`'s
 * shebang, `bin/activate` and `pyvenv.cfg`; after the rename from the temporary folder they would
 * name a folder that no longer exists. (Its `bin/python` is a link to the base interpreter and
 * finds the venv by its own location, so the reference itself works either way.)
 */
async function retargetScripts(from: string, to: string): Promise<void> {
  const files = [join(from, "pyvenv.cfg")];
  for await (const entry of Deno.readDir(join(from, "bin"))) {
    if (entry.isFile) files.push(join(from, "bin", entry.name));
  }
  for (const file of files) {
    const info = await Deno.stat(file).catch(() => null);
    // Scripts are small text files; the rest (none expected) is left alone.
    if (info === null || info.size > 1 << 20) continue;
    const bytes = await Deno.readFile(file);
    if (bytes.includes(0)) continue;
    const text = new TextDecoder().decode(bytes);
    if (text.includes(from)) await Deno.writeTextFile(file, text.replaceAll(from, to));
  }
}

function describePip(step: Readonly<PipStep>): string {
  return `pip install ${step.args.join(" ")}`;
}

/**
 * Makes sure the reference venv exists and imports the pinned torch and torchvision; installs it
 * when it does not (a few GB, a few minutes, once). The install first tries pip's plain install
 * ({@link PLAIN_INSTALL}) and, when that fails, the step-by-step one ({@link FALLBACK_INSTALL}),
 * all in a temporary folder beside `dir` that replaces `dir` only once it imports the pinned
 * versions.
 *
 * @param options The venv folder, the interpreter that creates it, where progress lines go.
 * @returns The ready venv.
 * @throws {Error} When the venv cannot be created (no `python3`, no venv module) or pip cannot
 *   install the pinned versions; the message names the failed command, its last output line and
 *   what to do. Nothing half-installed is left at `dir`.
 */
export async function ensurePytorchVenv(options: EnsureVenvOptions = {}): Promise<PytorchVenv> {
  const dir = options.dir ?? DEFAULT_VENV_DIR;
  const basePython = options.basePython ?? "python3";
  const log = options.log ?? ((line: string) => console.error(`pytorch venv: ${line}`));
  const wanted = `torch ${TORCH_VERSION} and torchvision ${TORCHVISION_VERSION}`;
  const orOther = "or pass --python PATH with an interpreter that has torch and torchvision";
  const shown = relative(PROJECT_ROOT, dir).startsWith("..") ? dir : relative(PROJECT_ROOT, dir);

  const existing = await probeTorch(venvPython(dir));
  if (existing.ok && isPinned(existing.versions)) {
    return { dir, python: venvPython(dir), versions: existing.versions, installed: false };
  }
  const hasDir = await Deno.stat(dir).then(() => true, () => false);
  log(
    hasDir
      ? `${shown} does not import ${wanted} (${
        existing.ok
          ? `found torch ${existing.versions.torch}, torchvision ${existing.versions.torchvision}`
          : existing.reason
      }): reinstalling it`
      : `${shown} is missing: installing ${wanted} there (about 4.6 GB, a few minutes, once)`,
  );
  await Deno.mkdir(dirname(dir), { recursive: true });
  await removeStaleInstalls(dir, log);

  const suffix = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const temporary = `${dir}.partial-${suffix}`;
  const started = performance.now();
  try {
    log(`creating a venv with \`${basePython} -m venv\` in ${temporary}`);
    // The prompt names the final folder; by default it would be the temporary one's name.
    const venvArgs = ["-m", "venv", "--prompt", basename(dir), temporary];
    const venv = await runLogged(basePython, venvArgs, log, "  venv: ");
    if (!venv.started) {
      throw new Error(
        `Cannot make the PyTorch venv: expected an interpreter named ${basePython}, found none ` +
          `(${venv.error}); install Python 3 with its venv module (Debian: ` +
          `\`apt-get install -y python3 python3-venv\`), ${orOther}`,
      );
    }
    if (venv.code !== 0) {
      throw new Error(
        `Cannot make the PyTorch venv: \`${basePython} ${venvArgs.join(" ")}\` exited with code ` +
          `${venv.code}, expected 0 (${venv.tail.at(-1) ?? "no output"}); install Python's venv ` +
          `module (Debian: \`apt-get install -y python3-venv\`), ${orOther}`,
      );
    }
    const python = venvPython(temporary);
    // `python -m pip` rather than `bin/pip`: the same pip, with no shebang to go stale.
    const pip = (step: Readonly<PipStep>) =>
      runLogged(
        python,
        [
          "-m",
          "pip",
          "install",
          "--disable-pip-version-check",
          "--progress-bar",
          "off",
          ...step.args,
        ],
        log,
        "  pip: ",
      );
    log(`installing ${PLAIN_INSTALL.why}: ${describePip(PLAIN_INSTALL)}`);
    const plain = await pip(PLAIN_INSTALL);
    if (plain.code !== 0) {
      log(
        `the plain install failed (exit code ${plain.code}: ${
          plain.tail.at(-1) ?? "no output"
        }); ` +
          `falling back to installing the packages step by step`,
      );
      for (const [i, step] of FALLBACK_INSTALL.entries()) {
        log(`step ${i + 1}/${FALLBACK_INSTALL.length}, ${step.why}: ${describePip(step)}`);
        const result = await pip(step);
        if (result.code !== 0) {
          throw new Error(
            `Cannot install ${wanted} into ${shown}: \`${describePip(step)}\` exited with code ` +
              `${result.code}, expected 0 (${result.tail.at(-1) ?? "no output"}; the plain ` +
              `install had failed too: ${plain.tail.at(-1) ?? "no output"}); check that pip ` +
              `reaches a package index with these versions (\`pip config list\`, ` +
              `PIP_INDEX_URL), ${orOther}`,
          );
        }
      }
    }
    const probe = await probeTorch(python);
    if (!probe.ok || !isPinned(probe.versions)) {
      throw new Error(
        `Cannot install ${wanted} into ${shown}: pip finished, but ${
          probe.ok
            ? `the venv imports torch ${probe.versions.torch}, torchvision ${probe.versions.torchvision}`
            : probe.reason
        }; check which versions the package index offers (\`${python} -m pip index versions ` +
          `torch\`), ${orOther}`,
      );
    }
    await retargetScripts(temporary, dir);
    // Swap in the checked venv; an older, wrong one is moved aside first and removed after.
    let old: string | null = null;
    if (hasDir) {
      old = `${dir}.old-${suffix}`;
      await Deno.rename(dir, old);
    }
    await Deno.rename(temporary, dir);
    if (old !== null) await Deno.remove(old, { recursive: true });
    const final = await probeTorch(venvPython(dir));
    if (!final.ok) {
      throw new Error(
        `Cannot use the PyTorch venv ${shown}: it imported torch before the move from ` +
          `${temporary}, but now ${final.reason}; remove ${shown} and run again, ${orOther}`,
      );
    }
    log(
      `installed torch ${final.versions.torch}, torchvision ${final.versions.torchvision} in ` +
        `${shown} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
    return { dir, python: venvPython(dir), versions: final.versions, installed: true };
  } finally {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
  }
}
