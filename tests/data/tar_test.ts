import assert from "node:assert/strict";
import { readTar, writeTar } from "../../lib/data/tar.ts";

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes.slice()]).stream();
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("readTar() reads what writeTar() writes, including GNU long names", async () => {
  const long = "d/" + "x".repeat(120);
  // A GNU long-name entry ("L") is an ordinary entry whose data is the next entry's name.
  const longEntry = writeTar([{
    name: "././@LongLink",
    data: new TextEncoder().encode(long + "\0"),
  }])
    .slice(0, 1024);
  longEntry[156] = "L".charCodeAt(0);
  longEntry.fill(0x20, 148, 156);
  const sum = longEntry.subarray(0, 512).reduce((a, b) => a + b, 0);
  longEntry.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const head = writeTar([
    { name: "short" },
    { name: "short/a.bin", data: new Uint8Array([1, 2, 3]), mtime: 1234 },
  ]);
  const tail = writeTar([{ name: "placeholder", data: new Uint8Array(600).fill(9) }]);
  const tar = concat(head.subarray(0, head.length - 1024), longEntry, tail);
  const seen = [];
  for await (const e of readTar(streamOf(tar), "t.tar")) seen.push(e);
  assert.deepEqual(seen.map((e) => [e.name, e.type, e.size]), [
    ["short/", "directory", 0],
    ["short/a.bin", "file", 3],
    [long, "file", 600],
  ]);
  assert.deepEqual([...seen[1]!.data], [1, 2, 3]);
  assert.equal(seen[1]!.mtime, 1234);
  assert.equal(seen[2]!.data.every((b) => b === 9), true);
});

Deno.test("readTar() rejects a bad header checksum and truncation", async () => {
  const tar = writeTar([{ name: "a.bin", data: new Uint8Array(700) }]);
  const read = async (bytes: Uint8Array) => {
    for await (const _ of readTar(streamOf(bytes), "t.tar")) { /* drain */ }
  };
  const corrupt = tar.slice();
  corrupt[0] = "b".charCodeAt(0);
  await assert.rejects(() => read(corrupt), {
    name: "SyntaxError",
    message: `Cannot read archive "t.tar": tar header at byte 0 has checksum ${
      tar.subarray(0, 512).reduce((a, b, i) => a + (i >= 148 && i < 156 ? 32 : b), 0)
    }, expected ${
      corrupt.subarray(0, 512).reduce((a, b, i) => a + (i >= 148 && i < 156 ? 32 : b), 0)
    } (corrupt, or not a tar archive)`,
  });
  await assert.rejects(() => read(tar.subarray(0, 512 + 300)), {
    name: "SyntaxError",
    message:
      'Cannot read archive "t.tar": it is truncated: entry "a.bin" needs 700 bytes, found 300',
  });
  await assert.rejects(() => read(tar.subarray(0, 300)), {
    name: "SyntaxError",
    message: 'Cannot read archive "t.tar": it is truncated: header at byte 0 has 300 of 512 bytes',
  });
  await assert.rejects(() => read(tar.subarray(0, 512 * 3)), {
    name: "SyntaxError",
    message:
      'Cannot read archive "t.tar": it is truncated: no end-of-archive block after 1 entries',
  });
});
