/**
 * The exported HTML as people see it, in headless Chromium: one self-contained file (no request
 * leaves it), every image decoded, every chart with its marks, tables whose captions keep their
 * width, and the unofficial-data notice shown as a notice. It runs the notebook on the real
 * CIFAR-10 copy when present (tiny limits), else on synthetic data. (JupyterLab itself:
 * lab_test.ts.)
 */
import { skipName } from "./_util.ts";
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
import { hasChromium, launchChromium, saveArtifact } from "./_browser.ts";
import { REAL_ARCHIVE } from "./_real_data.ts";

const NOTEBOOK = join(PROJECT_ROOT, "notebooks", "cifar10_cnn.ipynb");
const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(PROJECT_ROOT);
const skip = jupyter === null || !(await hasChromium());

const realCopy = await Deno.stat(REAL_ARCHIVE).then(() => true, () => false);

/** Tiny settings: the real copy's first images when it is here, else synthetic shapes. */
const TINY_ENV = {
  ...(realCopy ? { CIFAR10_DATA: REAL_ARCHIVE } : { CIFAR10_SYNTHETIC: "true" }),
  CIFAR10_TRAIN_LIMIT: "150",
  CIFAR10_TEST_LIMIT: "60",
};

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
  name: skipName(
    "the exported HTML is one offline file that shows every image, chart, table and notice",
    skip,
    "needs JupyterLab (./run setup) and Chromium: no Chromium (sudo apt-get install chromium, or set CIFAR10_CHROMIUM)",
  ),
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
      const text = await Deno.readTextFile(html);
      assert.doesNotMatch(text, /<script[^>]*\ssrc=/, "no script is loaded from elsewhere");
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      // Every request the page makes, whether it would succeed or not (offline it cannot).
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      const url = `file://${html}`;
      await page.goto(url);
      await page.waitForLoadState("networkidle");
      const away = requests.filter((u) => u !== url && !u.startsWith("data:"));
      assert.deepEqual(away, [], "no request leaves the file");

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
      // Captions keep the width of the output: a long caption over a narrow table is not squeezed
      // into the table's width (a <caption> would be).
      const figures = await page.locator(".cifar10-table-figure").evaluateAll((all) =>
        all.map((figure) => {
          const caption = figure.querySelector(".cifar10-caption")!.getBoundingClientRect();
          const table = figure.querySelector("table")!.getBoundingClientRect();
          const output = figure.parentElement!.getBoundingClientRect();
          return { caption: caption.width, table: table.width, output: output.width };
        })
      );
      assert.ok(figures.length >= 5, `captioned tables: ${figures.length}`);
      for (const f of figures) {
        assert.ok(f.caption >= f.table && f.caption >= 0.9 * f.output, JSON.stringify(f));
      }
      // Nothing reads as an error: no stderr output; the unofficial copy's notice is a notice.
      assert.equal(await count(page, '[data-mime-type="application/vnd.jupyter.stderr"]'), 0);
      if (realCopy) {
        const note = page.locator(".cifar10-notice");
        assert.equal(await note.count(), 1);
        assert.match(await note.innerText(), /is not the official CIFAR-10 archive/);
        const background = await note.evaluate((e) =>
          // deno-lint-ignore no-explicit-any
          (globalThis as any).getComputedStyle(e).backgroundColor as string
        );
        assert.equal(
          background,
          "rgb(255, 248, 225)",
          "the notice's own amber, not an error's red",
        );
      }
      const shot = await page.screenshot({ fullPage: true });
      const path = await saveArtifact(PROJECT_ROOT, "notebook-export.png", new Uint8Array(shot));
      console.log(`screenshot: ${path}`);
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
