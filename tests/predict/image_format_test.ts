import assert from "node:assert/strict";
import { checkImageBytes, sniffImageFormat } from "../../lib/predict/image_format.ts";
import {
  bmpBytes,
  GIF_BYTES,
  gradientImage,
  handMadePng,
  RED,
  twoColourImage,
} from "./_fixtures.ts";

Deno.test("checkImageBytes() names the format it finds", () => {
  const webp = gradientImage(8, 8, "webp");
  const cases: [string, Uint8Array, string | null][] = [
    ["gif", GIF_BYTES, "GIF"],
    ["bmp", bmpBytes(), "BMP"],
    ["webp", webp, "WebP"],
    ["svg", new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'), "SVG"],
    ["pdf", new TextEncoder().encode("%PDF-1.4 ..."), "PDF"],
    ["text", new TextEncoder().encode("just text"), null],
  ];
  for (const [name, bytes, expected] of cases) {
    assert.equal(sniffImageFormat(bytes), expected, name);
  }
  const png = handMadePng(3, 2, () => RED);
  assert.deepEqual(checkImageBytes(png.bytes), { format: "png", width: 3, height: 2 });
  const jpeg = checkImageBytes(twoColourImage(40, 20, "jpeg"));
  assert.deepEqual(jpeg, { format: "jpeg", width: 40, height: 20 });
});
