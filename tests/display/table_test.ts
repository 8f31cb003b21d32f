import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { DISPLAY_SYMBOL } from "../../lib/core/html.ts";
import { table } from "../../lib/display/table.ts";

Deno.test("table() shows every row of a DataFrame (its own view stops at 50)", () => {
  const frame = pl.DataFrame({
    layer: Array.from({ length: 60 }, (_, i) => `layer${i}`),
    parameters: Array.from({ length: 60 }, (_, i) => i * 1000),
  });
  const bundle = table(frame)[DISPLAY_SYMBOL]();
  const markup = bundle["text/html"] as string;
  assert.equal((markup.match(/<tr>/g) ?? []).length, 61);
  assert.match(
    markup,
    /<td style="text-align:left">layer59<\/td><td style="text-align:right">59,000<\/td>/,
  );
});

Deno.test("table() lays out plain text and escapes HTML", () => {
  const bundle = table([{ name: "a<b", n: 1234567, x: 0.123456 }, { name: "c", n: 5, x: null }], {
    caption: "Caption",
  })[DISPLAY_SYMBOL]();
  assert.equal(
    bundle["text/plain"],
    [
      "Caption",
      "name          n  x",
      "----  ---------  ------",
      "a<b   1,234,567  0.1235",
      "c             5",
    ].join("\n"),
  );
  const markup = bundle["text/html"] as string;
  // The caption is a block above the table (a <caption> would wrap to the table's width).
  assert.match(
    markup,
    /^<div class="cifar10-table-figure"><div class="cifar10-caption"[^>]*>Caption<\/div><table /,
  );
  assert.doesNotMatch(markup, /<caption/);
  assert.match(markup, /<td style="text-align:left">a&lt;b<\/td>/);
});
