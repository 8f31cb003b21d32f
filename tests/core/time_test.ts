import assert from "node:assert/strict";
import { formatDuration } from "../../lib/core/time.ts";

Deno.test("formatDuration() writes seconds in words, the two largest units", () => {
  assert.deepEqual([0, 59.4, 60, 3599, 3600, 86399].map((s) => formatDuration(s)), [
    "0s",
    "59s",
    "1m 00s",
    "59m 59s",
    "1h 00m",
    "23h 59m",
  ]);
});
