/**
 * `deno task lab` (`./run lab`): opens the notebooks in JupyterLab 4, the project's pinned stack
 * (`./run` installs it into `.venv/`), with the project's Deno kernel registered (project-locally,
 * through `JUPYTER_PATH`). Only where `./run` fell back to Debian's Jupyter (pip reached no index)
 * does it open the classic Jupyter Notebook instead, and says so. Further
 * arguments go to Jupyter (`deno task lab --no-browser --port 8890`). `--dry-run` prints the command
 * instead of running it.
 * @module
 */

import { join } from "node:path";
import {
  ensureDenoKernel,
  findJupyter,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
  PROJECT_ROOT,
} from "./_jupyter.ts";

/** Which Jupyter front end to start. */
export type JupyterApp = "lab" | "notebook";

/**
 * The command line that opens the notebooks folder in a Jupyter front end.
 *
 * @param jupyter The `jupyter` command.
 * @param app JupyterLab or the classic Notebook.
 * @param options `notebookDir` to open, `asRoot` (Jupyter needs `--allow-root` then), extra `args`.
 * @returns The program and its arguments.
 * @example
 * ```ts
 * import { labCommand } from "./lab.ts";
 * const { args } = labCommand("/usr/bin/jupyter", "notebook", { notebookDir: "/p/notebooks", asRoot: true, args: ["--no-browser"] });
 * if (args.join(" ") !== "notebook --notebook-dir=/p/notebooks --MappingKernelManager.default_kernel_name=deno --allow-root --no-browser") throw new Error(args.join(" "));
 * ```
 */
export function labCommand(
  jupyter: string,
  app: JupyterApp,
  options: { notebookDir: string; asRoot?: boolean; args?: readonly string[] },
): { command: string; args: string[] } {
  return {
    command: jupyter,
    args: [
      app,
      `--notebook-dir=${options.notebookDir}`,
      // A new notebook (File → New → Notebook) starts the project's kernel, not Python's.
      `--MappingKernelManager.default_kernel_name=${KERNEL_NAME}`,
      ...(options.asRoot ? ["--allow-root"] : []),
      ...(options.args ?? []),
    ],
  };
}

async function works(
  jupyter: string,
  app: JupyterApp,
  env: Record<string, string>,
): Promise<boolean> {
  const { code } = await new Deno.Command(jupyter, {
    args: [app, "--version"],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).output();
  return code === 0;
}

async function main(args: string[]): Promise<number> {
  const dryRun = args.includes("--dry-run");
  const passed = args.filter((a) => a !== "--dry-run");
  const tools = await findJupyter();
  if (tools === null) {
    console.error(
      "Cannot open the notebooks: the project's Jupyter (.venv/bin/jupyter) is not installed; " +
        "run `./run lab`, which installs the pinned JupyterLab from scripts/jupyter/requirements.txt.",
    );
    return 1;
  }
  const kernel = await ensureDenoKernel(PROJECT_ROOT);
  const app: JupyterApp | null = (await works(tools.jupyter, "lab", kernel.env))
    ? "lab"
    : (await works(tools.jupyter, "notebook", kernel.env))
    ? "notebook"
    : null;
  if (app === null) {
    console.error(
      `Cannot open the notebooks: "${tools.jupyter}" has neither JupyterLab nor Jupyter Notebook. ` +
        "Run `./run setup` to install the pinned JupyterLab into .venv/.",
    );
    return 1;
  }
  const { command, args: commandArgs } = labCommand(tools.jupyter, app, {
    notebookDir: join(PROJECT_ROOT, "notebooks"),
    asRoot: Deno.uid() === 0,
    args: passed,
  });
  if (app === "notebook") {
    console.error(
      `[lab] WARNING: "${tools.jupyter}" has no JupyterLab; opening the classic Jupyter Notebook. ` +
        "Run `./run setup` once pip reaches a package index to get the pinned JupyterLab.",
    );
  }
  console.error(
    `[lab] the notebooks use the kernel "${KERNEL_DISPLAY_NAME}" registered in ${kernel.kernelDir}`,
  );
  if (dryRun) {
    console.log(`JUPYTER_PATH=${kernel.env.JUPYTER_PATH} ${[command, ...commandArgs].join(" ")}`);
    return 0;
  }
  const child = new Deno.Command(command, {
    args: commandArgs,
    env: kernel.env,
    clearEnv: true,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl+C reaches Jupyter too (same process group); wait for it to shut its kernels down. A
  // SIGTERM (a service manager, a test) is passed on, so Jupyter is never left running alone.
  Deno.addSignalListener("SIGINT", () => {});
  Deno.addSignalListener("SIGTERM", () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  });
  const status = await child.status;
  return status.code;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
