/**
 * Test helpers: headless Chromium through playwright-core (Debian's `/usr/bin/chromium`, a fresh
 * profile per launch, no network services), and a JupyterLab server on loopback with the project's
 * Deno kernel. Every helper cleans up what it started.
 * @module
 */

import { type BrowserContext, chromium } from "playwright-core";
import { join } from "node:path";

/** The Chromium binary the tests drive (playwright cannot download its own here). */
export const CHROMIUM_PATH = Deno.env.get("CIFAR10_CHROMIUM") ?? "/usr/bin/chromium";

/** Flags for a quiet, sandbox-free headless Chromium. */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** A launched browser (one context on a fresh profile). */
export interface LaunchedBrowser {
  /** The playwright browser context; open pages with `context.newPage()`. */
  context: BrowserContext;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/**
 * Whether the Chromium binary exists (tests are skipped with a reason when it does not).
 *
 * @returns True when `CHROMIUM_PATH` is a file.
 */
export async function hasChromium(): Promise<boolean> {
  try {
    return (await Deno.stat(CHROMIUM_PATH)).isFile;
  } catch {
    return false;
  }
}

/**
 * Launches headless Chromium on a fresh profile folder (`--user-data-dir`, removed by `close`).
 *
 * @returns The browser and its cleanup.
 */
export async function launchChromium(): Promise<LaunchedBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "cifar10-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_FLAGS],
    viewport: { width: 1200, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** A running JupyterLab server. */
export interface LabServer {
  /** Base URL, e.g. `http://127.0.0.1:8899/`. */
  url: string;
  /** The access token. */
  token: string;
  /** The folder the server serves. */
  root: string;
  /** The URL that opens a file of `root` (a relative path) in JupyterLab. */
  open(path: string): string;
  /** Stops the server (and its kernels) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Asks the OS for a free TCP port on loopback. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Waits until a Jupyter server started as `child` answers `url` with 200, for at most 60 s.
 *
 * @param url A URL of the server's API, token included.
 * @param child The server's process (an exit ends the wait).
 * @returns Null once it answers, else why not (for the error message).
 */
export async function waitForServer(url: string, child: Deno.ChildProcess): Promise<string | null> {
  let exited: Deno.CommandStatus | null = null;
  child.status.then((status) => exited = status);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && exited === null) {
    try {
      // A request that reaches the server while it is still starting can stay unanswered for
      // good (seen once): each try gets 2 s, then the loop asks again.
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) return null;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  return exited === null
    ? "it did not answer within 60 s"
    : `it exited with code ${(exited as Deno.CommandStatus).code}`;
}

/**
 * JupyterLab user settings for tests, as `<plugin>.jupyterlab-settings` files: every cell attached
 * to the page (Lab 4 otherwise attaches only the cells in view, and a test cannot find the others),
 * and no question about fetching Jupyter news (a toast over the notebook, and a request to the web).
 */
export const LAB_TEST_SETTINGS: Readonly<Record<string, Record<string, unknown>>> = {
  "@jupyterlab/notebook-extension/tracker": { windowingMode: "none" },
  "@jupyterlab/apputils-extension/notification": { fetchNews: "false", checkForUpdates: false },
};

/**
 * Starts JupyterLab (the project's pinned stack) on 127.0.0.1 with a random token, serving `root`,
 * with `env` (which must carry `JUPYTER_PATH` for the Deno kernel) and fresh settings, workspace
 * and runtime folders (`LAB_TEST_SETTINGS`), so nothing of the user's Lab state leaks in. Waits
 * until it answers.
 *
 * @param jupyter The `jupyter` command.
 * @param root The folder to serve.
 * @param env The environment (also the kernels').
 * @returns The server; call `stop()` in a `finally`.
 */
export async function startLabServer(
  jupyter: string,
  root: string,
  env: Record<string, string>,
): Promise<LabServer> {
  const token = crypto.randomUUID().replaceAll("-", "");
  const port = freePort();
  const state = await Deno.makeTempDir({ prefix: "cifar10-lab-state-" });
  const settings = join(state, "settings");
  for (const [plugin, values] of Object.entries(LAB_TEST_SETTINGS)) {
    const file = join(settings, `${plugin}.jupyterlab-settings`);
    await Deno.mkdir(join(file, ".."), { recursive: true });
    await Deno.writeTextFile(file, JSON.stringify(values));
  }
  const child = new Deno.Command(jupyter, {
    args: [
      "lab",
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${root}`,
      // Nothing to fetch from the web: the extension manager would ask PyPI.
      "--LabApp.extension_manager=readonly",
      // Jupyter refuses to run as root without it (containers, CI).
      ...(Deno.uid() === 0 ? ["--allow-root"] : []),
    ],
    env: {
      ...env,
      JUPYTER_RUNTIME_DIR: join(state, "runtime"),
      JUPYTERLAB_SETTINGS_DIR: settings,
      JUPYTERLAB_WORKSPACES_DIR: join(state, "workspaces"),
    },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Keep reading stderr so the pipe never fills up; remember the tail for error messages.
  let log = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log = (log + decoder.decode(chunk)).slice(-8000);
  })();
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await child.status;
    clearTimeout(timer);
    await reading.catch(() => {});
    await Deno.remove(state, { recursive: true }).catch(() => {});
  };
  const open = (path: string) =>
    `${url}lab/tree/${path.split("/").map(encodeURIComponent).join("/")}?token=${token}`;
  const why = await waitForServer(`${url}api/status?token=${token}`, child);
  if (why === null) return { url, token, root, open, stop };
  await stop();
  throw new Error(`Cannot start JupyterLab on port ${port}: ${why}; its log:\n${log}`);
}

/**
 * Writes a file under `out/` (git-ignored) for the test report, creating folders.
 *
 * @param root The project root.
 * @param name File name under `out/test-artifacts/`.
 * @param data The bytes.
 * @returns The path written.
 */
export async function saveArtifact(root: string, name: string, data: Uint8Array): Promise<string> {
  const dir = join(root, "out", "test-artifacts");
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
  return path;
}
