/**
 * The notebook as people see it, in headless Chromium: the exported HTML (images decode, charts have
 * their marks), and Jupyter Notebook driven like a person (Shift+Enter through the cells, then an
 * edit of the parameters cell and a re-run). Tiny synthetic settings keep it quick.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import {
  ensureDenoKernel,
  executeNotebook,
  exportHtml,
  findJupyter,
  PROJECT_ROOT,
} from "../scripts/_jupyter.ts";
import { hasChromium, launchChromium, saveArtifact, startNotebookServer } from "./_browser.ts";

const NOTEBOOK = join(PROJECT_ROOT, "notebooks", "cifar10_cnn.ipynb");
const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(PROJECT_ROOT);
const skip = jupyter === null || !(await hasChromium());

/** Tiny synthetic settings; epochs stay the parameters cell's so the UI test can edit them. */
const TINY_ENV = {
  CIFAR10_SYNTHETIC: "true",
  CIFAR10_TRAIN_LIMIT: "150",
  CIFAR10_TEST_LIMIT: "60",
};

interface CellIds {
  ids: string[];
  index(id: string): number;
}

async function cellIds(): Promise<CellIds> {
  const notebook = JSON.parse(await Deno.readTextFile(NOTEBOOK)) as { cells: { id: string }[] };
  const ids = notebook.cells.map((c) => c.id);
  return {
    ids,
    index(id) {
      const i = ids.indexOf(id);
      assert.ok(i >= 0, `no cell "${id}"`);
      return i;
    },
  };
}

/** Checks every `<img>` under `root` decoded; returns how many there are. */
async function decodedImages(page: Page, root: string): Promise<number> {
  const sizes = await page.$$eval(
    `${root} img`,
    (images) => images.map((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
  );
  assert.ok(sizes.every((w) => w > 0), `undecodable images: ${JSON.stringify(sizes)}`);
  return sizes.length;
}

/** Counts elements matching a selector inside the page. */
function count(page: Page, selector: string): Promise<number> {
  return page.locator(selector).count();
}

Deno.test({
  name: "the exported HTML shows every image and chart with its marks",
  ignore: skip,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cifar10-export-test-" });
    const browser = await launchChromium();
    try {
      const env = {
        ...kernel!.env,
        ...TINY_ENV,
        CIFAR10_EPOCHS: "2",
        CIFAR10_OUT_DIR: join(dir, "runs"),
      };
      const executed = join(dir, "cifar10_cnn.ipynb");
      const result = await executeNotebook(NOTEBOOK, executed, {
        cwd: join(PROJECT_ROOT, "notebooks"),
        env,
        python: jupyter!.python,
      });
      assert.equal(result.error, null, JSON.stringify(result.error));
      const html = await exportHtml(executed, join(dir, "cifar10_cnn.html"), {
        jupyter: jupyter!.jupyter,
        env,
      });
      const page = await browser.context.newPage();
      const failed: string[] = [];
      page.on("requestfailed", (r) => failed.push(r.url()));
      await page.goto(`file://${html}`);
      await page.waitForLoadState("load");

      assert.equal(await decodedImages(page, "body"), 2, "the training grid and the test results");
      // Charts: live loss, loss curves, per-class accuracy, confusion matrix (HTML twins of SVG).
      const charts = page.locator("svg[class^='plot-']");
      assert.equal(await charts.count(), 4);
      const loss = page.locator('svg[aria-label^="Training and validation loss"]');
      assert.equal(await loss.locator('g[aria-label="line"] path').count(), 2);
      assert.equal(await loss.locator("g.best-epoch circle").count(), 1);
      assert.match(
        await loss.locator("g.best-epoch-label text").textContent() ?? "",
        /^best: epoch [12], validation loss \d\.\d{3}$/,
      );
      const live = page.locator('svg[aria-label^="Loss during training"]');
      assert.equal(await live.locator("g.epoch-loss circle").count(), 4);
      assert.equal(await live.locator("g.running-loss path").count(), 1);
      const perClass = page.locator('svg[aria-label^="Test accuracy per class"]');
      assert.equal(await perClass.locator('g[aria-label="bar"] rect').count(), 10);
      assert.equal(await perClass.locator("g.bar-label text").count(), 10);
      const confusion = page.locator('svg[aria-label^="Confusion matrix"]');
      assert.equal(await confusion.locator('g[aria-label="cell"] rect').count(), 100);
      assert.equal(await confusion.locator("g.count text").count(), 100);
      // Every chart is drawn with a size (not collapsed by the page's styles).
      for (
        const box of await charts.evaluateAll((svgs) =>
          svgs.map((s) => s.getBoundingClientRect().width)
        )
      ) {
        assert.ok(box > 200, `chart width ${box}`);
      }
      assert.equal(await count(page, "div.cifar10-progress"), 2, "training and test bars");
      assert.match(await page.locator("body").innerText(), /Epoch: 2 \tTraining Loss: \d+\.\d{6}/);
      assert.deepEqual(failed.filter((u) => !u.startsWith("file:")), [], "no network requests");
      const shot = await page.screenshot({ fullPage: true });
      const path = await saveArtifact(PROJECT_ROOT, "notebook-export.png", new Uint8Array(shot));
      console.log(`screenshot: ${path}`);
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Presses Shift+Enter on the selected cell (the one at `index`) and waits until it has run. */
async function runSelected(page: Page, index: number): Promise<void> {
  const before = await page.evaluate(
    // deno-lint-ignore no-explicit-any
    (i) => (globalThis as any).Jupyter.notebook.get_cell(i).input_prompt_number ?? null,
    index,
  );
  await page.keyboard.press("Shift+Enter");
  await page.waitForFunction(
    ([i, previous]) => {
      // deno-lint-ignore no-explicit-any
      const cell = (globalThis as any).Jupyter.notebook.get_cell(i);
      if (cell.cell_type !== "code") return true;
      const prompt = cell.input_prompt_number;
      return typeof prompt === "number" && prompt !== previous;
    },
    [index, before] as const,
    { timeout: 180_000 },
  );
}

/** Replaces the number after `epochs:` in the parameters cell by double-clicking it and typing. */
async function editEpochs(page: Page, cellIndex: number, epochs: number): Promise<void> {
  const line = page.locator("div.cell").nth(cellIndex).locator(".CodeMirror-line", {
    hasText: /^\s*epochs: \d+,/,
  });
  await line.locator("span.cm-number").first().dblclick();
  await page.keyboard.type(String(epochs));
  const text = await line.innerText();
  assert.match(text, new RegExp(`^\\s*epochs: ${epochs},`), `edited line: ${text}`);
}

function cellText(page: Page, index: number): Promise<string> {
  return page.locator("div.cell").nth(index).locator("div.output_wrapper").innerText();
}

Deno.test({
  name: "a person can run the notebook cell by cell in Jupyter Notebook and re-run after an edit",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ids = await cellIds();
    // Serve a copy: the server may autosave, and the committed notebook must stay clean. The copy
    // sits in <tmp>/notebooks/ beside a link to lib/, so the cells' `../lib/` imports resolve.
    const root = await Deno.makeTempDir({
      dir: join(PROJECT_ROOT, "out"),
      prefix: "browser-test-",
    });
    await Deno.mkdir(join(root, "notebooks"));
    await Deno.symlink(join(PROJECT_ROOT, "lib"), join(root, "lib"));
    await Deno.copyFile(NOTEBOOK, join(root, "notebooks", "cifar10_cnn.ipynb"));
    const env = { ...kernel!.env, ...TINY_ENV, CIFAR10_OUT_DIR: join(root, "runs") };
    const server = await startNotebookServer(jupyter!.jupyter, root, env);
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}notebooks/notebooks/cifar10_cnn.ipynb?token=${server.token}`);
      await page.waitForFunction(
        () => {
          // deno-lint-ignore no-explicit-any
          const k = (globalThis as any).Jupyter?.notebook?.kernel;
          return k?.is_connected() && k.info_reply?.status === "ok";
        },
        null,
        { timeout: 90_000 },
      );
      // Keep the served copy as it is (no autosave while cells run).
      // deno-lint-ignore no-explicit-any
      await page.evaluate(() => (globalThis as any).Jupyter.notebook.set_autosave_interval(0));

      const parameters = ids.index("parameters");
      await editEpochs(page, parameters, 1);
      await page.keyboard.press("Escape");
      await page.locator("div.cell").first().click();
      await page.keyboard.press("Escape");
      for (let i = 0; i < ids.ids.length; i++) await runSelected(page, i);

      const out = (id: string) =>
        page.locator("div.cell").nth(ids.index(id)).locator("div.output_area");
      assert.equal(await out("imports").count(), 0, "imports show nothing");
      assert.equal(await out("parameters").locator("table.cifar10-table").count(), 1);
      assert.match(
        await cellText(page, ids.index("load-data")),
        /SYNTHETIC shapes \(not CIFAR-10\): 150 training/,
      );
      assert.match(await cellText(page, ids.index("backend")), /Training on the (CPU|GPU)/);
      assert.equal(await out("split").locator("table").count(), 1);
      assert.equal(await out("grid").locator("img").count(), 1);
      assert.equal(await out("model").locator("table tr").count(), 13);
      assert.equal(await out("optimizer").locator("table").count(), 1);
      assert.equal(await out("train").locator("div.cifar10-progress").count(), 1);
      assert.equal(await out("train").locator("svg g.epoch-loss circle").count(), 2);
      const firstRun = await cellText(page, ids.index("train"));
      assert.equal((firstRun.match(/^Epoch: \d+/gm) ?? []).length, 1, firstRun);
      assert.match(
        firstRun,
        /Validation loss decreased \(inf --> \d+\.\d{6}\)\. {2}Saving model \.\.\./,
      );
      assert.equal(await out("plot").locator('svg g[aria-label="line"] path').count(), 2);
      assert.match(
        await cellText(page, ids.index("test")),
        /Test Accuracy \(Overall\): +\d+% \( ?\d+\/60\)/,
      );
      assert.equal(await out("test-charts").locator("svg").count(), 2);
      assert.equal(await out("visualise").locator("img").count(), 1);
      await decodedImages(page, "div.output_area");
      assert.equal(await count(page, "div.output_error"), 0, "no cell failed");

      // Edit the parameters cell and run it and everything below again.
      await editEpochs(page, parameters, 2);
      for (let i = parameters; i < ids.ids.length; i++) await runSelected(page, i);
      const secondRun = await cellText(page, ids.index("train"));
      assert.deepEqual(secondRun.match(/^Epoch: \d+/gm), ["Epoch: 1", "Epoch: 2"], secondRun);
      assert.equal(await out("train").locator("svg g.epoch-loss circle").count(), 4);
      assert.match(await cellText(page, ids.index("parameters")), /epochs\s+2/);
      assert.equal(await count(page, "div.output_error"), 0, "no cell failed on the re-run");
      // The classic notebook scrolls inside #site; let the page grow for a full-page screenshot.
      await page.addStyleTag({
        content: "#site { height: auto !important; overflow: visible !important; } " +
          "body { overflow: visible !important; }",
      });
      const shot = await page.screenshot({ fullPage: true });
      console.log(
        `screenshot: ${await saveArtifact(PROJECT_ROOT, "notebook-ui.png", new Uint8Array(shot))}`,
      );
    } finally {
      await browser.close();
      await server.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
