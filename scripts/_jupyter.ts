/**
 * Shared helpers for the notebook scripts and tests: find Jupyter, register the project's Deno
 * kernel (project-locally, through `JUPYTER_PATH`), execute a notebook headless with nbclient and
 * export it to HTML with nbconvert.
 *
 * Why nbclient through a small Python driver instead of `jupyter nbconvert --execute`: the Deno
 * kernel (2.9.6) sometimes publishes a cell's "idle" status before that cell's last outputs (its
 * result, a printed line, a display), measured at about one cell in twenty. nbconvert stops listening
 * at "idle" and silently drops them. The driver routes such late outputs back to their cell, and
 * drains the channel before the kernel shuts down. (In the notebook itself, `show()` from
 * lib/display/show.ts ends a cell with a short pause so frontends get everything before "idle".)
 * @module
 */

import { isFile } from "../lib/core/fs.ts";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Name of the kernelspec the project registers (the notebooks' metadata uses it). */
export const KERNEL_NAME = "deno";

/** Display name shown by Jupyter's kernel pickers (the lead's `./run` script writes the same). */
export const KERNEL_DISPLAY_NAME = "Deno (cifar10-cnn)";

/** The project root (the folder above `scripts/`). */
export const PROJECT_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What `ensureDenoKernel` returns. */
export interface DenoKernel {
  /** The environment to run Jupyter with (the current one plus `JUPYTER_PATH`). */
  env: Record<string, string>;
  /** The kernelspec name to ask Jupyter for. */
  kernelName: string;
  /** The kernelspec folder (`<root>/.jupyter/kernels/deno`). */
  kernelDir: string;
}

/** Where Jupyter lives. */
export interface JupyterTools {
  /** The `jupyter` command. */
  jupyter: string;
  /** The Python interpreter that runs it (has nbclient / nbconvert). */
  python: string;
}

/**
 * The text of the project's `kernel.json`, byte for byte what the lead's `./run` script writes, so
 * neither rewrites the other's file.
 *
 * @param denoPath The Deno executable the kernel runs.
 * @returns The kernelspec JSON text.
 * @example
 * ```ts
 * import { kernelSpecText } from "./_jupyter.ts";
 * const spec = JSON.parse(kernelSpecText("/opt/deno"));
 * if (spec.argv.join(" ") !== "/opt/deno jupyter --kernel --conn {connection_file}") throw new Error();
 * ```
 */
export function kernelSpecText(denoPath: string): string {
  const argv = [denoPath, "jupyter", "--kernel", "--conn", "{connection_file}"];
  return `{"argv": [${argv.map((a) => JSON.stringify(a)).join(", ")}], "display_name": ${
    JSON.stringify(KERNEL_DISPLAY_NAME)
  }, "language": "typescript"}`;
}

/** The Deno the kernel should run: the project's own (`.tools/`), else the one running now. */
async function projectDeno(projectRoot: string): Promise<string> {
  const local = join(projectRoot, ".tools", "node_modules", ".bin", "deno");
  return (await isFile(local)) ? local : Deno.execPath();
}

/**
 * Registers the Deno kernel for this project only (`<root>/.jupyter/kernels/deno/kernel.json`),
 * idempotently: the file is rewritten (atomically) only when its content would change. Jupyter finds
 * it through `JUPYTER_PATH`, which the returned environment sets (prepended to any existing value).
 *
 * @param projectRoot The project folder.
 * @param options `denoPath`: the Deno executable for the kernel (default: `.tools/`'s, else this one).
 * @returns The environment for Jupyter commands, the kernel name and the kernelspec folder.
 */
export async function ensureDenoKernel(
  projectRoot: string,
  options: { denoPath?: string } = {},
): Promise<DenoKernel> {
  const root = resolve(projectRoot);
  const kernelDir = join(root, ".jupyter", "kernels", KERNEL_NAME);
  const file = join(kernelDir, "kernel.json");
  const text = kernelSpecText(options.denoPath ?? await projectDeno(root));
  let current: string | null = null;
  try {
    current = await Deno.readTextFile(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (current !== text) {
    await Deno.mkdir(kernelDir, { recursive: true });
    const tmp = `${file}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, file);
  }
  const env = Deno.env.toObject();
  const jupyterDir = join(root, ".jupyter");
  const paths = (env.JUPYTER_PATH ?? "").split(":").filter((p) => p !== "" && p !== jupyterDir);
  env.JUPYTER_PATH = [jupyterDir, ...paths].join(":");
  env.DENO_NO_UPDATE_CHECK = "1";
  return { env, kernelName: KERNEL_NAME, kernelDir };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Finds the project's Jupyter: `$CIFAR10_JUPYTER` (set by `./run`, which installs the pinned stack
 * of `scripts/jupyter/requirements.txt` into `.venv/`), else `.venv/bin/jupyter`. A `jupyter` on
 * PATH is never used: one stack, the same on every machine. The Python that runs it comes from the
 * script's `#!` line.
 *
 * @param options `env`: the environment to search (default: this process's); `projectRoot`.
 * @returns Jupyter and its Python, or null when `./run setup` has not installed it.
 */
export async function findJupyter(
  options: { env?: Record<string, string>; projectRoot?: string } = {},
): Promise<JupyterTools | null> {
  const env = options.env ?? Deno.env.toObject();
  const root = options.projectRoot ?? PROJECT_ROOT;
  const candidates = [env.CIFAR10_JUPYTER, join(root, ".venv", "bin", "jupyter")]
    .filter((c): c is string => c !== undefined && c !== "");
  for (const jupyter of candidates) {
    if (!(await isExecutable(jupyter))) continue;
    const head = (await Deno.readTextFile(jupyter)).slice(0, 300).split("\n")[0] ?? "";
    const python = shebangPython(head) ?? join(dirname(jupyter), "python3");
    if (await isExecutable(python)) return { jupyter, python };
  }
  return null;
}

/**
 * The interpreter named by a script's `#!` line (`#!/usr/bin/python3`, `#!/usr/bin/env python3` is
 * not resolved and gives null).
 *
 * @param line The first line of the script.
 * @returns The interpreter path, or null.
 * @example
 * ```ts
 * import { shebangPython } from "./_jupyter.ts";
 * if (shebangPython("#!/usr/bin/python3") !== "/usr/bin/python3") throw new Error();
 * if (shebangPython("#!/usr/bin/env python3") !== null) throw new Error();
 * ```
 */
export function shebangPython(line: string): string | null {
  const match = /^#!\s*(\S+)\s*$/.exec(line.trim());
  if (match === null || !/python/.test(match[1]!)) return null;
  return match[1]!;
}

/** The kernel's error, when a cell failed. */
export interface CellError {
  /** Index of the failing cell in the notebook (markdown cells count). */
  cellIndex: number;
  /** The error's class name, e.g. `RangeError`. */
  ename: string;
  /** The error's message. */
  evalue: string;
}

/** The result of `executeNotebook`. */
export interface ExecuteResult {
  /** True when every cell ran without error. */
  ok: boolean;
  /** The first failing cell, or null. */
  error: CellError | null;
  /** Wall-clock seconds, kernel start included. */
  seconds: number;
  /** True when the kernel was interrupted (`ExecuteOptions.interrupt`). */
  interrupted: boolean;
  /**
   * Set when the driver got SIGINT (Ctrl-C in the terminal): it interrupted the kernel as Lab's
   * Kernel → Interrupt does, so training stopped at a batch boundary, let that cell finish, and ran
   * no cell after it. `cellIndex` is the cell that was running (-1: before the first). A second
   * SIGINT shuts the kernel down at once.
   */
  stopped: { cellIndex: number } | null;
}

/** Options of `executeNotebook`. */
export interface ExecuteOptions {
  /** The kernel's working folder; relative imports in cells resolve against it. */
  cwd: string;
  /** Environment for Jupyter and the kernel (use `ensureDenoKernel`'s, plus overrides). */
  env: Record<string, string>;
  /** Jupyter's Python (from `findJupyter`). */
  python: string;
  /** The kernelspec name. @default "deno" */
  kernelName?: string;
  /**
   * Seconds one cell may run, or null for no limit: a training cell runs as long as its schedule
   * (the tutorial's 60 epochs take over an hour on a 2-core CPU). A cell that runs out of time is
   * reported like a failing cell (`CellTimeoutError`), with the notebook executed so far.
   * @default null
   */
  cellTimeoutS?: number | null;
  /** Echo progress and the cells' printed text to stderr. @default false */
  echo?: boolean;
  /**
   * Interrupt the kernel (as Jupyter's Kernel → Interrupt does: SIGINT) once the cell with this
   * id prints text containing `after`; the run goes on with the cells after it. For tests.
   */
  interrupt?: { cellId: string; after: string };
}

// The driver: executes every code cell with nbclient, writes the notebook (also after a failure),
// and ends with one line `NBRUN {json}` on stdout. Outputs that arrive after their cell's "idle"
// status are routed back to that cell instead of being dropped.
const DRIVER = String.raw`
import json, sys, time, asyncio, queue, signal
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import (CellExecutionComplete, CellExecutionError, CellTimeoutError,
                                 DeadKernelError)
from nbclient.util import ensure_async

args = json.loads(sys.argv[1])
nb = nbformat.read(args["input"], as_version=4)
echo = args["echo"]
interrupt = args.get("interrupt")
interrupted = []  # the interrupt's task, once sent
failed = {}
stop = {}  # set by Ctrl-C (SIGINT): the cell that was running
tasks = []  # keeps the interrupt and shutdown tasks alive until they finish

def on_sigint(*_):
    # Ctrl-C in a terminal reaches this process (the kernel runs in a session of its own): stop
    # the run as Lab's Kernel > Interrupt would, with no Python traceback. A second Ctrl-C shuts the
    # kernel down without waiting for the batch boundary.
    km = getattr(client, "km", None) if "client" in globals() else None
    if stop:
        sys.stderr.write("\n[notebook] Ctrl-C again: shutting the kernel down now\n")
        if km is not None:
            tasks.append(asyncio.ensure_future(ensure_async(km.shutdown_kernel(now=True))))
        return
    stop["cellIndex"] = current[0]
    sys.stderr.write("\n[notebook] Ctrl-C: interrupting the kernel; training stops at the next "
                     "batch boundary (Ctrl-C again to stop at once)\n")
    sys.stderr.flush()
    if km is not None and current[0] >= 0:
        tasks.append(asyncio.ensure_future(ensure_async(km.interrupt_kernel())))

# Until the event loop runs, a Ctrl-C only marks the run as stopped.
signal.signal(signal.SIGINT, lambda *_: stop.setdefault("cellIndex", -1))

tty = sys.stderr.isatty()
last_progress = [0.0, ""]
open_line = [False]  # a progress line drawn with \r and not yet ended

def echo_progress(msg):
    # Progress bars are HTML in the notebook; echo their text form to the terminal: redrawn in
    # place on a TTY, else one line every 30 s (and the final state).
    data = msg["content"].get("data", {})
    text = data.get("text/plain")
    if not isinstance(text, str) or "cifar10-progress" not in str(data.get("text/html", "")):
        return
    now = time.time()
    done = "100%" in text
    if tty:
        sys.stderr.write("\r" + text + ("\n" if done else ""))
        open_line[0] = not done
    elif done or now - last_progress[0] >= 30:
        if text != last_progress[1]:
            sys.stderr.write(text + "\n")
        last_progress[0] = now
    last_progress[1] = text
    sys.stderr.flush()

class Client(NotebookClient):
    routes = {}

    def output(self, outs, msg, display_id, cell_index):
        if (interrupt and not interrupted and msg["msg_type"] == "stream"
                and nb.cells[cell_index].get("id") == interrupt["cellId"]
                and interrupt["after"] in msg["content"].get("text", "")):
            interrupted.append(asyncio.ensure_future(ensure_async(self.km.interrupt_kernel())))
        if echo and msg["msg_type"] == "stream":
            if open_line[0]:
                sys.stderr.write("\n")
                open_line[0] = False
            sys.stderr.write(msg["content"].get("text", ""))
            sys.stderr.flush()
        return super().output(outs, msg, display_id, cell_index)

    def process_message(self, msg, cell, cell_index):
        if echo and msg["msg_type"] in ("display_data", "update_display_data"):
            echo_progress(msg)
        return super().process_message(msg, cell, cell_index)

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        self.routes[parent_msg_id] = (cell, cell_index)
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            else:
                self.late(msg)

    def late(self, msg):
        route = self.routes.get(msg["parent_header"].get("msg_id"))
        if route is None or msg["msg_type"] == "status":
            return
        try:
            self.process_message(msg, route[0], route[1])
        except CellExecutionComplete:
            pass

    async def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=0.1))
            except queue.Empty:
                continue
            self.late(msg)

def on_error(cell, cell_index, execute_reply):
    if "cellIndex" not in failed:
        failed.update(cellIndex=cell_index, ename=execute_reply["content"].get("ename", "Error"),
                      evalue=execute_reply["content"].get("evalue", ""))

client = Client(nb, kernel_name=args["kernel"], timeout=args["timeout"], startup_timeout=120,
                allow_errors=False, on_cell_error=on_error,
                resources={"metadata": {"path": args["cwd"]}})
code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
current = [-1]

async def run():
    client.reset_execution_trackers()
    async with client.async_setup_kernel():
        # After nbclient's own SIGINT handler (which would shut the kernel down), in its place.
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_sigint)
        info = await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
        if info is not None and "language_info" in info["content"]:
            nb.metadata["language_info"] = info["content"]["language_info"]
        try:
            for index, cell in enumerate(nb.cells):
                if stop:
                    break  # Ctrl-C: no cell after the one it stopped
                current[0] = index
                if echo and cell.cell_type == "code":
                    n = code_cells.index(index) + 1
                    sys.stderr.write(f"[notebook] cell {n}/{len(code_cells)}\n")
                    sys.stderr.flush()
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        finally:
            await client.drain(0.5)

start = time.time()
try:
    asyncio.run(run())
except CellExecutionError as e:
    if "cellIndex" not in failed:
        failed.update(cellIndex=-1, ename="Error", evalue=str(e)[-2000:])
except (CellTimeoutError, DeadKernelError) as e:
    # Reported like a failing cell, so the caller keeps the notebook executed so far.
    if "cellIndex" not in failed:
        failed.update(cellIndex=current[0], ename=type(e).__name__, evalue=str(e).split("\n")[0])
except (KeyboardInterrupt, asyncio.CancelledError):
    stop.setdefault("cellIndex", current[0])
finally:
    signal.signal(signal.SIGINT, lambda *_: stop.setdefault("cellIndex", current[0]))
    nbformat.write(nb, args["output"])
if stop and failed.get("ename") == "DeadKernelError":
    failed.clear()  # the second Ctrl-C shut the kernel down: a stop, not a failure
print("NBRUN " + json.dumps({"ok": not failed and not stop, "error": failed or None,
                            "seconds": time.time() - start, "interrupted": bool(interrupted),
                            "stopped": stop or None}))
`;

/**
 * Executes every code cell of a notebook with the given kernel and writes the executed notebook
 * (also when a cell fails, so the error can be read). A failing cell, a cell that runs out of time
 * (`CellTimeoutError`) and a kernel that dies (`DeadKernelError`) do not throw: they are reported in
 * the result, with the notebook executed up to there. Errors of the driver itself (Python or the
 * kernel missing) throw.
 *
 * @param input The notebook to run.
 * @param output Where to write the executed notebook (written atomically).
 * @param options Working folder, environment, Python, kernel, per-cell timeout, echo.
 * @returns Whether all cells succeeded, the first failing cell, and the time taken.
 */
export async function executeNotebook(
  input: string,
  output: string,
  options: ExecuteOptions,
): Promise<ExecuteResult> {
  const tmp = `${output}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const args = {
    input: resolve(input),
    output: tmp,
    cwd: resolve(options.cwd),
    kernel: options.kernelName ?? KERNEL_NAME,
    timeout: options.cellTimeoutS ?? null,
    echo: options.echo ?? false,
    interrupt: options.interrupt ?? null,
  };
  const child = new Deno.Command(options.python, {
    args: ["-c", DRIVER, JSON.stringify(args)],
    env: options.env,
    clearEnv: true,
    stdout: "piped",
    stderr: options.echo ? "inherit" : "piped",
  }).spawn();
  const result = await child.output();
  const out = new TextDecoder().decode(result.stdout);
  const line = out.split("\n").find((l) => l.startsWith("NBRUN "));
  if (line === undefined) {
    await Deno.remove(tmp).catch(() => {});
    const err = options.echo ? "" : new TextDecoder().decode(result.stderr).slice(-3000);
    throw new Error(
      `Cannot execute notebook "${input}": the nbclient driver exited with code ${result.code}\n${out}${err}`,
    );
  }
  await Deno.rename(tmp, output);
  return JSON.parse(line.slice("NBRUN ".length)) as ExecuteResult;
}

/** Folder of the project's nbconvert templates. */
export const TEMPLATES_DIR: string = join(PROJECT_ROOT, "scripts", "jupyter", "templates");

/**
 * The nbconvert template of the HTML export: nbconvert's "lab" template without the require.js,
 * MathJax, widget and Mermaid scripts it would fetch from a CDN, so the file opens offline.
 */
export const EXPORT_TEMPLATE = "cifar10_offline";

/**
 * Exports an executed notebook to one self-contained HTML file with nbconvert and the project's
 * offline template (`EXPORT_TEMPLATE`), written atomically.
 *
 * @param input The executed notebook.
 * @param outputHtml The HTML file to write.
 * @param options `jupyter`: the `jupyter` command; `env`: its environment.
 * @returns The path written.
 */
export async function exportHtml(
  input: string,
  outputHtml: string,
  options: { jupyter: string; env: Record<string, string> },
): Promise<string> {
  const target = resolve(outputHtml);
  const dir = dirname(target);
  const base = target.replace(/^.*\//, "").replace(/\.html$/, "");
  const tmpBase = `${base}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir, { recursive: true });
  const { code, stderr } = await new Deno.Command(options.jupyter, {
    args: [
      "nbconvert",
      "--to",
      "html",
      `--TemplateExporter.extra_template_basedirs=${TEMPLATES_DIR}`,
      "--template",
      EXPORT_TEMPLATE,
      "--output-dir",
      dir,
      "--output",
      tmpBase,
      resolve(input),
    ],
    env: options.env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const tmp = join(dir, `${tmpBase}.html`);
  if (code !== 0) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(
      `Cannot export "${input}" to HTML: nbconvert exited with code ${code}\n${
        new TextDecoder().decode(stderr).slice(-3000)
      }`,
    );
  }
  await Deno.rename(tmp, target);
  return target;
}

/**
 * Describes what a committed notebook must not carry: outputs or execution counts.
 *
 * @param notebook The parsed `.ipynb` JSON.
 * @returns One line per offending cell; empty when clean.
 * @example
 * ```ts
 * import { notebookLeftovers } from "./_jupyter.ts";
 * const nb = { cells: [{ cell_type: "code", execution_count: 3, outputs: [] }] };
 * if (notebookLeftovers(nb).length !== 1) throw new Error();
 * ```
 */
export function notebookLeftovers(notebook: { cells: unknown[] }): string[] {
  const problems: string[] = [];
  notebook.cells.forEach((raw, index) => {
    const cell = raw as { cell_type?: string; execution_count?: unknown; outputs?: unknown[] };
    if (cell.cell_type !== "code") return;
    if (cell.execution_count !== null && cell.execution_count !== undefined) {
      problems.push(`cell ${index}: execution_count is ${JSON.stringify(cell.execution_count)}`);
    }
    if ((cell.outputs?.length ?? 0) > 0) {
      problems.push(`cell ${index}: has ${cell.outputs!.length} output(s)`);
    }
  });
  return problems;
}
