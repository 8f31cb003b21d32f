import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { html, show, svgBundle, textOf } from "../../lib/display/show.ts";
import { fakeJupyter, SVG } from "./_fakes.ts";

/**
 * Runs `code` in a fresh `deno eval` (a process that is not a Jupyter kernel, where reading
 * `Deno.jupyter` throws) after importing lib/display/show.ts as `show`; returns its output.
 */
async function evalWithShow(code: string): Promise<string> {
  const showUrl = new URL("../../lib/display/show.ts", import.meta.url).href;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `const show = await import(${JSON.stringify(showUrl)});\n${code}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `deno eval failed: ${stderr}`);
  return new TextDecoder().decode(output.stdout).trim();
}

Deno.test("jupyterApi() is null outside the Deno kernel, and the kernel's API inside it", async () => {
  const lines = await evalWithShow(`
    let reading = "no error";
    try { Deno.jupyter; } catch (error) { reading = "throws"; }
    console.log(reading);
    console.log(show.jupyterApi() === null);
    // What the kernel installs: an object with display(). (Outside the kernel Deno.jupyter has
    // a setter, so a fake can be installed; the kernel's own API is the same property.)
    const api = { display: () => Promise.resolve(), broadcast: () => Promise.resolve() };
    Deno.jupyter = api;
    console.log(show.jupyterApi() === api);
    Deno.jupyter = { broadcast: () => Promise.resolve() };
    console.log(show.jupyterApi() === null);
  `);
  assert.deepEqual(lines.split("\n"), [
    "throws", // the guard is needed: outside the kernel, reading Deno.jupyter throws
    "true", // outside the kernel: null
    "true", // with the kernel's API: that API
    "true", // an object without display(): null
  ]);
});

Deno.test("show() prints a text form on the terminal", async (t) => {
  const cases: [string, unknown, string][] = [
    ["a string", "hello", "hello"],
    ["HTML", html("<p>a &lt; b</p><p>c</p>"), "a < b\nc"],
    ["a canvas", { width: 96, height: 32, toDataURL: () => "data:," }, "[image 96×32]"],
    ["a chart", SVG, "[chart: Loss]"],
    ["a number", 3, "3"],
  ];
  for (const [name, value, expected] of cases) {
    await t.step(name, async () => {
      const lines: string[] = [];
      await show(value, { jupyter: null, log: (line) => lines.push(line) });
      assert.deepEqual(lines, [expected]);
    });
  }
});

Deno.test("show() sends an SVG element as SVG plus an HTML twin, other values as they are", async () => {
  const jupyter = fakeJupyter();
  await show(SVG, { jupyter });
  const displayable = html("<b>x</b>");
  await show(displayable, { jupyter });
  assert.equal(jupyter.calls.length, 2);
  assert.deepEqual(jupyter.calls[0], {
    value: {
      "image/svg+xml": SVG.outerHTML,
      "text/html": SVG.outerHTML,
      "text/plain": "[chart: Loss]",
    },
    options: { raw: true },
  });
  assert.equal(jupyter.calls[1]!.value, displayable);
  assert.deepEqual(jupyter.calls[1]!.options, {});
});

Deno.test("svgBundle() leaves non-SVG values and objects with their own bundle alone", () => {
  assert.equal(svgBundle({ outerHTML: "<div></div>" }), null);
  assert.equal(svgBundle(null), null);
  assert.equal(svgBundle(html("<svg></svg>")), null);
});

Deno.test("textOf() describes DataFrames and other objects as text", () => {
  const frame = pl.DataFrame({ a: [1, 2] });
  assert.match(textOf(frame), /shape: \(2, 1\)/);
  assert.equal(textOf({ a: 1 }), "{ a: 1 }");
});
