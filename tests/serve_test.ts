/**
 * `./run serve`: the page that classifies an image in the browser with a trained run's model.
 * The command line, a start without any run, and the page itself in headless Chromium on a tiny
 * real training run: a picked PNG and a dropped JPEG get the same top 3 as `deno task predict`,
 * changing the fit classifies again, a non-image and a huge image get clear messages, and no
 * request leaves the server (tfjs is served from npm packages, no CDN).
 */
/// <reference lib="dom" />
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { parseServeArgs } from "../scripts/serve.ts";
import { PROJECT_ROOT } from "../scripts/_jupyter.ts";
import { hasChromium, launchChromium, saveArtifact } from "./_browser.ts";
import { handMadePng } from "./predict/_fixtures.ts";
import { skipName, withTempDir } from "./_util.ts";

const SERVE = join(PROJECT_ROOT, "scripts", "serve.ts");
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("parseServeArgs() reads --run, --port, --host, --out and names bad flags", () => {
  const args = parseServeArgs(["--run", "runs/x", "--port", "0", "--host", "0.0.0.0"], {
    CIFAR10_OUT_DIR: "elsewhere",
  });
  assert.deepEqual([args.run, args.port, args.host, args.config.outDir], [
    "runs/x",
    0,
    "0.0.0.0",
    "elsewhere",
  ]);
  const defaults = parseServeArgs([], {});
  assert.deepEqual([defaults.run, defaults.port, defaults.host, defaults.config.outDir], [
    "latest",
    8000,
    "127.0.0.1",
    "runs",
  ]);
  assert.equal(parseServeArgs(["--out", "mine"], { CIFAR10_OUT_DIR: "env" }).config.outDir, "mine");
  assert.throws(() => parseServeArgs(["--port", "http"], {}), {
    message: 'Cannot parse --port: expected an integer from 0 to 65535, found "http"',
  });
  assert.throws(() => parseServeArgs(["--port", "70000"], {}), /from 0 to 65535/);
  assert.throws(() => parseServeArgs(["--epochs", "3"], {}), {
    message: "Cannot use flag --epochs with serve: expected one of --run, --out, --port, --host, " +
      "--help",
  });
  assert.throws(() => parseServeArgs(["--colour"], {}), /Cannot use flag --colour: unknown flag/);
});

Deno.test("deno task serve without a trained run says how to train one, and exits 1", async () => {
  await withTempDir(async (dir) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SERVE, "--port", "0"],
      env: { CIFAR10_OUT_DIR: `${dir}/runs` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 1);
    assert.match(
      decode(output.stderr),
      /serve: No trained model found under .*runs\/: train one with `deno task train`/,
    );
  });
});

/** A tiny real training run (synthetic shapes, one epoch) under `dir`, as `deno task train` leaves it. */
async function trainTinyRun(dir: string): Promise<string> {
  const train = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(PROJECT_ROOT, "scripts", "train.ts"), "--synthetic"]
      .concat(["--epochs", "1", "--train-limit", "300", "--test-limit", "40"])
      .concat(["--conv-channels", "8,16", "--hidden-units", "16", "--out", dir]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(train.success, decode(train.stderr));
  const [runName] = [...Deno.readDirSync(dir)].map((e) => e.name);
  return join(dir, runName!);
}

/** Starts `deno task serve` and waits for the address it prints. */
async function startServe(args: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVE, "--port", "0", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await lines.cancel().catch(() => {});
    await stderr;
  };
  const timer = setTimeout(() => stop(), 120_000);
  try {
    while (true) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`serve stopped before serving:\n${printed}\n${await stderr}`);
      printed += value;
      const url = /Serving the page at (http:\/\/\S+\/)/.exec(printed)?.[1];
      if (url) return { url, stop };
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** `deno task predict --json`'s top 3 for one file: names and probabilities. */
async function predictTop(runDir: string, file: string, fit = "stretch") {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(PROJECT_ROOT, "scripts", "predict.ts"), "--json", "--run", runDir]
      .concat(["--fit", fit, "--backend", "cpu", file]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, decode(output.stderr));
  const [result] = JSON.parse(decode(output.stdout)).results;
  return (result.top as { class: string; probability: number }[])
    .map((c) => ({ name: c.class, probability: c.probability }));
}

/** The page's top 3 once it has classified (or its message, when it refused). */
async function pageTop(page: Page) {
  await page.waitForFunction(
    () => ["classified", "error"].includes(document.body.dataset.state ?? ""),
    null,
    { timeout: 60_000 },
  );
  const state = await page.evaluate(() => document.body.dataset.state);
  const message = (await page.textContent("#message"))!;
  const top = await page.$$eval("#top li", (items) =>
    items.map((li) => ({
      name: (li as HTMLElement).dataset.class!,
      probability: Number((li as HTMLElement).dataset.probability),
      shown: li.querySelector(".percent")!.textContent!,
    })));
  return { state, message, top };
}

function assertSameTop(
  shown: { name: string; probability: number; shown: string }[],
  expected: { name: string; probability: number }[],
  what: string,
) {
  assert.deepEqual(shown.map((c) => c.name), expected.map((c) => c.name), `${what}: classes`);
  shown.forEach((c, i) => {
    const p = expected[i]!.probability;
    assert.ok(Math.abs(c.probability - p) < 1e-3, `${what}: ${c.name} ${c.probability} vs ${p}`);
    assert.equal(c.shown, `${(100 * p).toFixed(1)}%`, `${what}: ${c.name} as shown`);
  });
}

Deno.test({
  name: skipName(
    "the served page classifies a picked or dropped image like predict, and refuses bad files",
    !(await hasChromium()),
    "no Chromium (sudo apt-get install chromium, or set CIFAR10_CHROMIUM)",
  ),
  ignore: !(await hasChromium()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const runDir = await trainTinyRun(dir);
      const png = join(PROJECT_ROOT, "samples", "cat-300x200.png");
      const jpeg = join(PROJECT_ROOT, "samples", "ship-240x160.jpg");
      const expected = {
        png: await predictTop(runDir, png),
        jpeg: await predictTop(runDir, jpeg),
        jpegCrop: await predictTop(runDir, jpeg, "crop"),
        pngCrop: await predictTop(runDir, png, "crop"),
      };
      const server = await startServe(["--run", runDir]);
      const browser = await launchChromium();
      try {
        const page = await browser.context.newPage();
        const requests: string[] = [];
        page.on("request", (r) => requests.push(r.url()));
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(server.url);
        await page.waitForFunction(() => document.body.dataset.state !== "loading", null, {
          timeout: 60_000,
        }).catch(async (error) => {
          const text = await page.evaluate(() => document.body.innerText.slice(0, 400));
          throw new Error(
            `the page did not load (${errors.join("; ") || "no page error"}; requests: ${
              requests.join(", ")
            }; it shows: ${text})`,
            { cause: error },
          );
        });
        assert.equal(await page.evaluate(() => document.body.dataset.state), "ready");
        assert.match((await page.textContent("#run"))!, /epoch 1, .*SYNTHETIC/);

        // The file chooser is the first thing the keyboard reaches.
        await page.keyboard.press("Tab");
        assert.equal(await page.evaluate(() => document.activeElement?.id), "file");
        const chooser = await page.locator("#file").boundingBox();
        assert.ok(chooser !== null && chooser.width <= 1, "the native chooser is not drawn");

        // 1. Picked with the file chooser: a PNG.
        await page.setInputFiles("#file", png);
        const picked = await pageTop(page);
        assert.equal(picked.state, "classified", picked.message);
        assertSameTop(picked.top, expected.png, "picked PNG");
        assert.match((await page.textContent("#caption"))!, /cat-300x200\.png, 300×200/);
        const shot = await saveArtifact(
          PROJECT_ROOT,
          "serve-page.png",
          await page.screenshot({ fullPage: true }),
        );
        console.log(`screenshot: ${shot}`);

        // 2. Dropped on the drop zone: a JPEG; then the fit changed to crop classifies it again.
        const bytes = [...await Deno.readFile(jpeg)];
        await page.evaluate((data) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([new Uint8Array(data)], "ship.jpg", { type: "image/jpeg" }));
          const drop = document.getElementById("drop")!;
          drop.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        }, bytes);
        const dropped = await pageTop(page);
        assert.equal(dropped.state, "classified", dropped.message);
        assertSameTop(dropped.top, expected.jpeg, "dropped JPEG");
        await page.selectOption("#fit", "crop");
        const cropped = await pageTop(page);
        assertSameTop(cropped.top, expected.jpegCrop, "dropped JPEG, cropped");

        // 3. A text file and a huge image: messages naming the file and what to do.
        await page.setInputFiles("#file", {
          name: "notes.txt",
          mimeType: "text/plain",
          buffer: Buffer.from("shopping list"),
        });
        const text = await pageTop(page);
        assert.equal(text.state, "error");
        assert.equal(
          text.message,
          'Cannot read image "notes.txt": expected a PNG or JPEG image, found text starting ' +
            '"shopping lis…"',
        );
        assert.equal(await page.isVisible("#result"), false, "no stale result under a message");
        const huge = handMadePng(2, 2, () => [0, 0, 0], { width: 12000, height: 9000 }).bytes;
        await page.setInputFiles("#file", {
          name: "huge.png",
          mimeType: "image/png",
          buffer: Buffer.from(huge),
        });
        const big = await pageTop(page);
        assert.equal(big.state, "error");
        assert.equal(
          big.message,
          'Cannot read image "huge.png": expected at most 40,000,000 pixels, found 12000×9000; ' +
            "scale it down first",
        );
        // And a good file after them is classified again (still cropped).
        await page.setInputFiles("#file", png);
        assertSameTop((await pageTop(page)).top, expected.pngCrop, "PNG after the errors");

        assert.deepEqual(errors, [], "no uncaught errors in the page");
        const away = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith("blob:"));
        assert.deepEqual(away, [], "every request goes to the server: no CDN");
      } finally {
        await browser.close();
        await server.stop();
      }
    });
  },
});

Deno.test({
  name: skipName(
    "the served page says what is wrong when the model's files are gone",
    !(await hasChromium()),
    "no Chromium (sudo apt-get install chromium, or set CIFAR10_CHROMIUM)",
  ),
  ignore: !(await hasChromium()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      await trainTinyRun(dir);
      const server = await startServe(["--out", dir]);
      const browser = await launchChromium();
      try {
        // The run is deleted after the server started: the page names the problem.
        for (const entry of Deno.readDirSync(dir)) {
          await Deno.remove(join(dir, entry.name), { recursive: true });
        }
        const page = await browser.context.newPage();
        await page.goto(server.url);
        await page.waitForFunction(() => document.body.dataset.state !== "loading", null, {
          timeout: 60_000,
        });
        assert.equal(await page.evaluate(() => document.body.dataset.state), "error");
        assert.match((await page.textContent("#message"))!, /No trained model found under/);
        assert.equal(await page.isDisabled("#file"), true, "nothing to classify with");
      } finally {
        await browser.close();
        await server.stop();
      }
    });
  },
});
