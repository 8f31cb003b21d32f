/**
 * A person's walk through JupyterLab 4 (the project's pinned stack), in headless Chromium: open the
 * tutorial notebook, run every cell with Shift+Enter while watching the live progress bar, check
 * what each cell shows, edit `epochs` and rerun from the parameters cell, press Kernel → Interrupt
 * during training and resume the run; then open and run the other two notebooks. Screenshots of Lab
 * after each notebook go to `out/test-artifacts/`. Tiny synthetic settings keep it quick.
 */
import { skipName } from "./_util.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import {
  ensureDenoKernel,
  findJupyter,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
  PROJECT_ROOT,
} from "../scripts/_jupyter.ts";
import { listRuns } from "../lib/runs/mod.ts";
import { displayPath } from "../lib/core/paths.ts";
import {
  freePort,
  hasChromium,
  launchChromium,
  saveArtifact,
  startLabServer,
  waitForServer,
} from "./_browser.ts";

const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(PROJECT_ROOT);
const hasLab = jupyter !== null && (await new Deno.Command(jupyter.jupyter, {
  args: ["lab", "--version"],
  stdout: "null",
  stderr: "null",
}).output()).success;
const skip = !hasLab || !(await hasChromium());
if (skip) {
  console.warn("lab_test: skipped: needs the project's JupyterLab (./run setup) and Chromium");
}

/**
 * Tiny synthetic settings, with enough batches (24 training + 6 validation an epoch) that training
 * lasts a few seconds: the bar redraws every 250 ms, and the interrupt needs a run to stop.
 */
const TINY_ENV = {
  CIFAR10_SYNTHETIC: "true",
  CIFAR10_TRAIN_LIMIT: "900",
  CIFAR10_TEST_LIMIT: "60",
};

/**
 * The page's globals, in code that runs in the browser (`evaluate`): Deno's type check has no DOM
 * library, and this file needs only a few of its calls.
 */
// deno-lint-ignore no-explicit-any
type BrowserGlobals = any;

/** Cell ids of a notebook, in order (Lab shows the cells in the same order). */
async function cellIds(name: string): Promise<string[]> {
  const path = join(PROJECT_ROOT, "notebooks", name);
  const notebook = JSON.parse(await Deno.readTextFile(path)) as { cells: { id: string }[] };
  return notebook.cells.map((c) => c.id);
}

function indexOf(ids: string[], id: string): number {
  const i = ids.indexOf(id);
  assert.ok(i >= 0, `no cell "${id}"`);
  return i;
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The open notebook in Lab's main area, with `cellCount` cells as committed (Shift+Enter on the
 * last cell appends an empty one, which never runs).
 */
class LabNotebook {
  constructor(readonly page: Page, readonly cellCount: number) {}

  get panel(): Locator {
    return this.page.locator(".jp-NotebookPanel:visible");
  }

  cell(index: number): Locator {
    return this.panel.locator(".jp-Notebook .jp-Cell").nth(index);
  }

  outputs(index: number): Locator {
    return this.cell(index).locator(".jp-Cell-outputArea .jp-OutputArea-output");
  }

  /** The text of a cell's outputs, as a person reads it. */
  async text(index: number): Promise<string> {
    return (await this.outputs(index).allInnerTexts()).join("\n");
  }

  /** The execution count in a cell's prompt (`[3]:` → 3), "*" while queued or running, or null. */
  async prompt(index: number): Promise<number | "*" | null> {
    const text = (await this.cell(index).locator(".jp-InputArea-prompt").textContent()) ?? "";
    const match = /\[(\d+|\*)\]/.exec(text);
    if (match === null) return null;
    return match[1] === "*" ? "*" : Number(match[1]);
  }

  async isCode(index: number): Promise<boolean> {
    return (await this.cell(index).getAttribute("class"))?.includes("jp-CodeCell") ?? false;
  }

  /** Waits until the kernel is connected and idle (the status bar says so). */
  async kernelIdle(timeoutMs = 120_000): Promise<void> {
    await until("the kernel to be idle", async () => {
      const status = await this.page.locator("#jp-main-statusbar").innerText().catch(() => "");
      return /\bIdle\b/.test(status) ? true : undefined;
    }, timeoutMs);
  }

  /** Selects cell `index` in command mode, by clicking its prompt area as a person would. */
  async select(index: number): Promise<void> {
    await this.cell(index).locator(".jp-InputPrompt").click();
    await this.page.keyboard.press("Escape");
  }

  /** Presses Shift+Enter on the selected cell (at `index`) and waits until it has run. */
  async shiftEnter(index: number): Promise<void> {
    const before = await this.prompt(index);
    await this.page.keyboard.press("Shift+Enter");
    if (!(await this.isCode(index))) return;
    await until(`cell ${index} to run`, async () => {
      const now = await this.prompt(index);
      return typeof now === "number" && now !== before ? true : undefined;
    });
  }

  /** Clicks a menu bar entry, then one of its items. */
  async menu(name: string, item: string): Promise<void> {
    await this.page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", { hasText: name }).first()
      .click();
    await this.page.locator(".lm-Menu:visible .lm-Menu-itemLabel", {
      hasText: new RegExp(`^${item}$`),
    }).click();
  }

  /** Waits until every code cell from `from` on has run since the counts in `before`. */
  async ranFrom(from: number, before: (number | "*" | null)[]): Promise<void> {
    for (let i = from; i < this.cellCount; i++) {
      if (!(await this.isCode(i))) continue;
      await until(`cell ${i} to run again`, async () => {
        const now = await this.prompt(i);
        return typeof now === "number" && now !== before[i] ? true : undefined;
      });
    }
  }

  async prompts(): Promise<(number | "*" | null)[]> {
    return await Promise.all(Array.from({ length: this.cellCount }, (_, i) => this.prompt(i)));
  }

  /**
   * Replaces a value in the code of cell `index`: finds the line matching `line`, double-clicks the
   * `nth` occurrence of `word` on it (which selects that word, as in any editor) and types
   * `replacement`.
   */
  async editWord(
    index: number,
    line: RegExp,
    word: string,
    replacement: string,
    nth = 0,
  ): Promise<void> {
    const target = this.cell(index).locator(".cm-line", { hasText: line }).first();
    await target.scrollIntoViewIfNeeded();
    const box = await target.evaluate((element, [word, nth]) => {
      const { document, NodeFilter } = globalThis as BrowserGlobals;
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      let skip = nth;
      for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
        let at = node.textContent!.indexOf(word);
        while (at >= 0 && skip > 0) {
          at = node.textContent!.indexOf(word, at + 1);
          skip--;
        }
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + word.length);
        const r = range.getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }
      return null;
    }, [word, nth] as const);
    assert.ok(box !== null, `no "${word}" on the line ${line} of cell ${index}`);
    await this.page.mouse.dblclick(box.x, box.y);
    await this.page.keyboard.type(replacement);
    await this.page.keyboard.press("Escape");
  }

  /** The code of one line of cell `index`. */
  async line(index: number, line: RegExp): Promise<string> {
    return await this.cell(index).locator(".cm-line", { hasText: line }).first().innerText();
  }

  /** Every failed or stderr output in the notebook. */
  async errors(): Promise<string[]> {
    return await this.panel.locator(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], ' +
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]',
    ).allInnerTexts();
  }

  /** Checks every image in the notebook's outputs decoded; returns how many there are. */
  async decodedImages(): Promise<number> {
    const widths = await this.panel.locator(".jp-OutputArea-output img").evaluateAll((images) =>
      images.map((img) => (img as BrowserGlobals).naturalWidth as number)
    );
    assert.ok(widths.every((w) => w > 0), `images that did not decode: ${JSON.stringify(widths)}`);
    return widths.length;
  }

  /** A screenshot of Lab with the whole notebook in view (the window made as tall as it). */
  async screenshot(name: string): Promise<string> {
    const height = Math.max(
      ...await this.panel.locator(".jp-Notebook, .jp-Notebook *").evaluateAll((all) =>
        all.map((e) => e.scrollHeight as number)
      ),
    );
    const width = this.page.viewportSize()?.width ?? 1280;
    await this.page.setViewportSize({ width, height: Math.min(16_000, height + 160) });
    await this.panel.locator(".jp-Notebook, .jp-Notebook *").evaluateAll((all) => {
      for (const e of all) e.scrollTop = 0;
    });
    await this.page.waitForTimeout(500);
    const shot = await this.page.screenshot();
    await this.page.setViewportSize({ width, height: 900 });
    return await saveArtifact(PROJECT_ROOT, name, new Uint8Array(shot));
  }
}

/**
 * Starts recording each distinct fill of the progress bar in cell `index` (its `data-fraction`),
 * as the page draws it; `fractions()` returns what was seen so far.
 */
async function watchProgress(nb: LabNotebook, index: number): Promise<() => Promise<number[]>> {
  const key = `fractions${index}${Date.now()}`;
  await nb.cell(index).evaluate((cell, key) => {
    const seen: number[] = [];
    (globalThis as unknown as Record<string, number[]>)[key] = seen;
    const record = () => {
      for (const bar of cell.querySelectorAll(".cifar10-progress [data-fraction]")) {
        const f = Number(bar.getAttribute("data-fraction"));
        if (seen.at(-1) !== f) seen.push(f);
      }
    };
    new (globalThis as BrowserGlobals).MutationObserver(record).observe(cell, {
      subtree: true,
      childList: true,
      attributes: true,
    });
  }, key);
  return () =>
    nb.page.evaluate((key) => [...(globalThis as unknown as Record<string, number[]>)[key]!], key);
}

Deno.test({
  name: skipName(
    "a person runs the tutorial in JupyterLab: cell by cell, edit and rerun, stop and resume",
    skip,
    "needs JupyterLab (./run setup) and Chromium: no Chromium (sudo apt-get install chromium, or set CIFAR10_CHROMIUM)",
  ),
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Serve a copy: Lab autosaves, and the committed notebooks must stay clean. The copy sits in
    // out/ (under the project's deno.json, which the kernel needs) beside links to lib/, samples/
    // and docs/, so the cells' `../lib/` imports, the sample images and the PyTorch reference run
    // (docs/reference/, drawn by compare_runs.ipynb) resolve.
    await Deno.mkdir(join(PROJECT_ROOT, "out"), { recursive: true });
    const root = await Deno.makeTempDir({ dir: join(PROJECT_ROOT, "out"), prefix: "lab-test-" });
    await Deno.mkdir(join(root, "notebooks"));
    await Deno.symlink(join(PROJECT_ROOT, "lib"), join(root, "lib"));
    await Deno.symlink(join(PROJECT_ROOT, "samples"), join(root, "samples"));
    await Deno.symlink(join(PROJECT_ROOT, "docs"), join(root, "docs"));
    for (const name of ["cifar10_cnn.ipynb", "compare_runs.ipynb", "your_images.ipynb"]) {
      await Deno.copyFile(join(PROJECT_ROOT, "notebooks", name), join(root, "notebooks", name));
    }
    const runsDir = join(root, "runs");
    const env = {
      ...kernel!.env,
      ...TINY_ENV,
      CIFAR10_OUT_DIR: runsDir,
      CIFAR10_RUNS_DIR: runsDir,
    };
    const server = await startLabServer(jupyter!.jupyter, root, env);
    const browser = await launchChromium();
    try {
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      const ids = await cellIds("cifar10_cnn.ipynb");
      const at = (id: string) => indexOf(ids, id);
      await page.goto(server.open("notebooks/cifar10_cnn.ipynb"));
      const nb = new LabNotebook(page, ids.length);
      await until(
        "the notebook's cells",
        async () =>
          await nb.panel.locator(".jp-Notebook .jp-Cell").count() === ids.length ? true : undefined,
        90_000,
      );
      await nb.kernelIdle();

      // 1. Shift+Enter through every cell, with 1 epoch, watching the bar while training runs.
      await nb.editWord(at("parameters"), /^\s*epochs: \d+,/, "60", "2");
      assert.match(await nb.line(at("parameters"), /^\s*epochs:/), /^\s*epochs: 2,/);
      await nb.select(0);
      let progress: (() => Promise<number[]>) | null = null;
      for (let i = 0; i < ids.length; i++) {
        if (i === at("train")) progress = await watchProgress(nb, i);
        await nb.shiftEnter(i);
      }
      const fills = await progress!();
      const moving = fills.filter((f) => f > 0 && f < 1);
      assert.ok(
        new Set(moving).size >= 3,
        `the bar should change at least three times while training; it showed ${fills.join(", ")}`,
      );
      assert.equal(fills.at(-1), 1, "the bar ends full");

      const out = (id: string) => nb.outputs(at(id));
      assert.equal(await out("imports").count(), 0, "imports show nothing");
      assert.equal(await out("parameters").locator("table.cifar10-table").count(), 1);
      assert.match(await nb.text(at("parameters")), /epochs\s+2/);
      assert.match(
        await nb.text(at("load-data")),
        /SYNTHETIC shapes \(not CIFAR-10\): 900 training and 60 test images/,
      );
      assert.equal(await out("load-data").locator("table tbody tr").count(), 10);
      assert.match(await nb.text(at("backend")), /Training on the (CPU|GPU)/);
      assert.equal(await out("split").locator("table tbody tr").count(), 3);
      assert.equal(await out("grid").locator("img").count(), 1);
      assert.equal(await out("model").locator("table tbody tr").count(), 12);
      assert.equal(await out("optimizer").locator("table").count(), 1);
      assert.equal(await out("train").locator(".cifar10-progress").count(), 1);
      const live = out("train").locator('svg[aria-label^="Loss during training"]');
      assert.equal(await live.locator("g.epoch-loss circle").count(), 4, "2 epochs × 2 losses");
      assert.equal(await live.locator("g.running-loss path").count(), 1);
      const firstRun = await nb.text(at("train"));
      assert.deepEqual(firstRun.match(/^Epoch: \d+/gm), ["Epoch: 1", "Epoch: 2"], firstRun);
      assert.match(
        firstRun,
        /^Epoch: 1 \tTraining Loss: \d+\.\d{6} \tValidation Loss: \d+\.\d{6}$/m,
      );
      assert.match(
        firstRun,
        /Validation loss decreased \(inf --> \d+\.\d{6}\)\. {2}Saving model \.\.\./,
      );
      const curves = out("plot").locator('svg[aria-label^="Training and validation loss"]');
      assert.equal(await curves.locator('g[aria-label="line"] path').count(), 2);
      assert.equal(await curves.locator("g.best-epoch circle").count(), 1);
      const report = await nb.text(at("test"));
      assert.match(report, /^Test Loss: \d+\.\d{6}$/m);
      assert.match(report, /^Test Accuracy \(Overall\): +\d+% \( ?\d+\/60\)$/m);
      assert.equal(await out("test").locator("table tbody tr").count(), 10);
      const perClass = out("test-charts").locator('svg[aria-label^="Test accuracy per class"]');
      assert.equal(await perClass.locator('g[aria-label="bar"] rect').count(), 10);
      const confusion = out("test-charts").locator('svg[aria-label^="Confusion matrix"]');
      assert.equal(await confusion.locator('g[aria-label="cell"] rect').count(), 100);
      assert.equal(await out("visualise").locator("img").count(), 1);
      assert.equal(await nb.decodedImages(), 2, "the training grid and the test results");
      assert.deepEqual(await nb.errors(), [], "no cell failed or wrote to stderr");

      // 2. Edit epochs and run the parameters cell and all below again, in the same kernel.
      await nb.editWord(at("parameters"), /^\s*epochs: \d+,/, "2", "3");
      let before = await nb.prompts();
      await nb.select(at("parameters"));
      await nb.menu("Run", "Run Selected Cell and All Below");
      await nb.ranFrom(at("parameters"), before);
      const secondRun = await nb.text(at("train"));
      assert.deepEqual(secondRun.match(/^Epoch: \d+/gm), ["Epoch: 1", "Epoch: 2", "Epoch: 3"]);
      assert.equal(await live.locator("g.epoch-loss circle").count(), 6);
      assert.match(await nb.text(at("parameters")), /epochs\s+3/);
      assert.deepEqual(await nb.errors(), [], "no cell failed on the rerun");

      // 3. Rerun with 5 epochs, and press Kernel → Interrupt while it trains: the run stops at a
      // batch boundary and is recorded as interrupted; the cells below go on with the best weights
      // so far.
      await nb.editWord(at("parameters"), /^\s*epochs: \d+,/, "3", "5");
      before = await nb.prompts();
      await nb.select(at("parameters"));
      progress = await watchProgress(nb, at("train"));
      await nb.menu("Run", "Run Selected Cell and All Below");
      await until("training to be under way", async () => {
        const seen = await progress!();
        // Into epoch 2 of 5, so that the stopped run has a completed epoch to resume from.
        return seen.some((f) => f > 0.25 && f < 0.7) ? true : undefined;
      });
      await nb.menu("Kernel", "Interrupt Kernel");
      await nb.ranFrom(at("parameters"), before);
      const stopped = await nb.text(at("train"));
      assert.match(stopped, /interrupted/);
      assert.match(stopped, /Training stopped by request during epoch \d/);
      const stoppedId = /To continue this run: resumeRun = "([^"]+)"/.exec(stopped)?.[1];
      assert.ok(stoppedId !== undefined, stopped);
      const fraction = await out("train").locator("[data-fraction]").getAttribute("data-fraction");
      assert.ok(Number(fraction) < 1, `the bar stays where training stopped (${fraction})`);
      let runs = await listRuns(runsDir);
      const interrupted = runs.find((r) => r.record.id === stoppedId)?.record;
      assert.equal(interrupted?.status, "interrupted");
      const epochsDone = interrupted.epochs.length;
      assert.ok(epochsDone >= 1 && epochsDone < 5, `epochs done before the stop: ${epochsDone}`);
      assert.deepEqual(await nb.errors(), [], "the interrupt is no error");

      // 4. Resume it: resumeRun = "latest" in the parameters cell, then run it and all below.
      await nb.editWord(at("parameters"), /^const resumeRun/, "null", '"latest"', 1);
      assert.match(await nb.line(at("parameters"), /^const resumeRun/), /= "latest";/);
      before = await nb.prompts();
      await nb.select(at("parameters"));
      await nb.menu("Run", "Run Selected Cell and All Below");
      await nb.ranFrom(at("parameters"), before);
      // The caption names the run "latest" found, as a path inside the project (no machine's path).
      const caption = (await nb.text(at("parameters"))).split("\n")[0];
      assert.equal(
        caption,
        `Settings of the resumed run (${displayPath(join(runsDir, stoppedId), { root })})`,
      );
      assert.doesNotMatch(caption, /\(\//, "a project-relative path");
      const resumed = await nb.text(at("train"));
      const resumedEpochs = (resumed.match(/^Epoch: (\d+)/gm) ?? []).map((l) => Number(l.slice(7)));
      const remaining = Array.from({ length: 5 - epochsDone }, (_, i) => epochsDone + 1 + i);
      assert.deepEqual(
        resumedEpochs,
        remaining,
        `the resumed run trains on from there: ${resumed}`,
      );
      runs = await listRuns(runsDir);
      const record = runs.find((r) => r.record.id === stoppedId)!.record;
      assert.equal(record.status, "completed");
      assert.deepEqual(record.epochs.map((e) => e.epoch), [1, 2, 3, 4, 5]);
      assert.ok(record.test !== null, "the resumed run was tested");
      assert.deepEqual(await nb.errors(), [], "no cell failed after resuming");
      console.log(`screenshot: ${await nb.screenshot("lab-cifar10_cnn.png")}`);

      // 5. The other two notebooks open and run in Lab too, on the runs just made.
      for (const name of ["compare_runs.ipynb", "your_images.ipynb"]) {
        const other = await browser.context.newPage();
        const cells = await cellIds(name);
        await other.goto(server.open(`notebooks/${name}`));
        const book = new LabNotebook(other, cells.length);
        await until(
          `the cells of ${name}`,
          async () =>
            await book.panel.locator(".jp-Notebook .jp-Cell").count() === cells.length
              ? true
              : undefined,
          90_000,
        );
        await book.kernelIdle();
        await book.select(0);
        for (let i = 0; i < cells.length; i++) await book.shiftEnter(i);
        assert.deepEqual(await book.errors(), [], `no cell of ${name} failed`);
        if (name === "compare_runs.ipynb") {
          const table = book.outputs(indexOf(cells, "table"));
          assert.match(await table.innerText(), /3 runs under .*, sorted by test-accuracy/);
          assert.equal(await table.locator("table tbody tr").count(), 3);
          const curvesOut = book.outputs(indexOf(cells, "curves"));
          // The three runs and the PyTorch reference (docs/reference/), dotted.
          assert.equal(await curvesOut.locator('svg g[aria-label="line"] path').count(), 4);
          const classes = book.outputs(indexOf(cells, "classes"));
          assert.equal(await classes.locator("svg").count(), 1);
          assert.equal(await classes.locator("table tbody tr").count(), 10);
        } else {
          assert.ok(await book.decodedImages() >= 3, "samples, predictions, crops");
          assert.match(await book.text(1), /Backend: /);
          assert.doesNotMatch(await book.text(3), /No trained model found/);
        }
        console.log(
          `screenshot: ${await book.screenshot(`lab-${name.replace(".ipynb", "")}.png`)}`,
        );
        await other.close();
      }
    } catch (error) {
      // What Lab showed when it went wrong, for the report.
      for (const [i, open] of browser.context.pages().entries()) {
        const shot = await open.screenshot().catch(() => null);
        if (shot !== null) {
          const name = `lab-failure-${i + 1}.png`;
          console.error(
            `screenshot: ${await saveArtifact(PROJECT_ROOT, name, new Uint8Array(shot))}`,
          );
        }
      }
      throw error;
    } finally {
      await browser.close();
      await server.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: skipName(
    "deno task lab serves JupyterLab 4 with the project's Deno kernel as the default",
    !hasLab,
    "no JupyterLab (run ./run setup)",
  ),
  ignore: !hasLab,
  async fn() {
    const port = freePort();
    const token = crypto.randomUUID();
    const runtime = await Deno.makeTempDir({ prefix: "cifar10-lab-task-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(PROJECT_ROOT, "scripts", "lab.ts"),
        "--no-browser",
        "--ip=127.0.0.1",
        `--port=${port}`,
        "--port-retries=0",
        `--IdentityProvider.token=${token}`,
        "--LabApp.extension_manager=readonly",
      ],
      env: { JUPYTER_RUNTIME_DIR: runtime, JUPYTERLAB_WORKSPACES_DIR: runtime },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new Response(child.stderr).text();
    try {
      const base = `http://127.0.0.1:${port}`;
      const why = await waitForServer(`${base}/api/status?token=${token}`, child);
      assert.equal(why, null, `deno task lab: ${why}`);
      const specs = await fetch(`${base}/api/kernelspecs?token=${token}`).then((r) => r.json()) as {
        default: string;
        kernelspecs: Record<string, { spec: { display_name: string; argv: string[] } }>;
      };
      assert.equal(specs.default, KERNEL_NAME);
      const deno = specs.kernelspecs[KERNEL_NAME]!.spec;
      assert.equal(deno.display_name, KERNEL_DISPLAY_NAME);
      assert.deepEqual(deno.argv.slice(1), ["jupyter", "--kernel", "--conn", "{connection_file}"]);
      const page = await (await fetch(`${base}/lab?token=${token}`)).text();
      assert.match(page, /"appVersion": "4\.\d+\.\d+"/, "JupyterLab 4 answers /lab");
      const tree = await fetch(`${base}/api/contents?token=${token}`).then((r) => r.json()) as {
        content: { name: string }[];
      };
      assert.ok(tree.content.some((f) => f.name === "cifar10_cnn.ipynb"), "it serves notebooks/");
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      const text = await log;
      await Deno.remove(runtime, { recursive: true });
      assert.ok(!/Traceback/.test(text), text.slice(-3000));
      assert.notEqual(status.signal, "SIGKILL");
    }
  },
});
