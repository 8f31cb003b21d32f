import assert from "node:assert/strict";
import { withTempDir } from "../_util.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  createProgressBar,
  downloadFile,
  type DownloadProgress,
  formatProgress,
  md5File,
} from "../../lib/data/download.ts";
import { ARCHIVE_NAME, BATCHES_FOLDER, readCifar10Folder } from "../../lib/data/format.ts";
import { loadCifar10 } from "../../lib/data/load.ts";
import { CIFAR10_CLASSES, SYNTHETIC_MARKER } from "../../lib/data/format.ts";
import { gzip, writeTar } from "../../lib/data/tar.ts";
import { createRng } from "../../lib/core/random.ts";
import { writeSyntheticDataset } from "../../lib/data/synthetic.ts";

// ---------------------------------------------------------------------------------------------
// A real local HTTP server whose behaviour each request can be told.

type Mode =
  | "full" // 200 with the whole file
  | "cut" // 200 (or 206 for a Range request) that stops after `cutAt` bytes of the file
  | "ignoreRange" // always 200 with the whole file
  | "wrong" // 200 with different bytes of the same length
  | "notFound"; // 404

interface Served {
  url: string;
  requests: { range: string | null }[];
  /** Modes for the coming requests, in order; the last one repeats. */
  modes: Mode[];
  close(): Promise<void>;
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

function serve(file: Uint8Array, cutAt: number): Served {
  const requests: { range: string | null }[] = [];
  const served: Served = { url: "", requests, modes: ["full"], close: async () => {} };
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      onError: () => new Response(null, { status: 500 }),
    },
    (request) => {
      const range = request.headers.get("range");
      requests.push({ range });
      const mode = served.modes.length > 1 ? served.modes.shift()! : served.modes[0]!;
      if (mode === "notFound") {
        return new Response("nope", { status: 404, statusText: "Not Found" });
      }
      if (mode === "wrong") {
        const other = file.map((b) => b ^ 0x5a);
        return new Response(other, { headers: { "content-length": String(file.length) } });
      }
      const match = range && mode !== "ignoreRange" ? /^bytes=(\d+)-$/.exec(range) : null;
      const start = match ? Number(match[1]) : 0;
      const headers: Record<string, string> = { "content-length": String(file.length - start) };
      if (match) headers["content-range"] = `bytes ${start}-${file.length - 1}/${file.length}`;
      const status = match ? 206 : 200;
      if (mode !== "cut") return new Response(file.slice(start), { status, headers });
      // Send part of the body, then break the connection.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(file.slice(start, Math.max(start, cutAt)));
          setTimeout(() => controller.error(new Error("connection cut by the test server")), 10);
        },
      });
      return new Response(body, { status, headers });
    },
  );
  served.url = `http://127.0.0.1:${server.addr.port}/cifar-10-binary.tar.gz`;
  served.close = () => server.shutdown();
  return served;
}

function payload(size: number, seed = 1): Uint8Array {
  const rng = createRng(seed);
  return Uint8Array.from({ length: size }, () => rng.int(256));
}

function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

const FILE = payload(300_000);
const FILE_MD5 = md5(FILE);
const FAST = { retryDelayMs: 1, progressIntervalMs: 0 };

// ---------------------------------------------------------------------------------------------
// downloadFile()

Deno.test("md5File() computes the md5 of a file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "f"), FILE);
    assert.equal(await md5File(join(dir, "f")), FILE_MD5);
  });
});

Deno.test("downloadFile() downloads, verifies and renames, reporting progress", async () => {
  const server = serve(FILE, 0);
  try {
    await withTempDir(async (dir) => {
      const dest = join(dir, "f.tar.gz");
      const progress: DownloadProgress[] = [];
      const result = await downloadFile(server.url, dest, {
        ...FAST,
        expectedMd5: FILE_MD5,
        onProgress: (p) => progress.push(p),
      });
      assert.deepEqual(result, {
        path: dest,
        md5: FILE_MD5,
        bytes: FILE.length,
        attempts: 1,
        resumed: false,
      });
      assert.deepEqual(await Deno.readFile(dest), FILE);
      assert.deepEqual(entries(dir), ["f.tar.gz"]);
      assert.deepEqual(server.requests, [{ range: null }]);
      const phases = progress.map((p) => p.phase);
      assert.equal(phases.at(-1), "done");
      assert.equal(phases.at(-2), "verifying");
      assert.ok(phases.slice(0, -2).every((p) => p === "downloading"));
      assert.ok(progress.every((p) => p.bytesTotal === FILE.length && p.url === server.url));
      const done = progress.map((p) => p.bytesDone);
      assert.deepEqual(done, [...done].sort((a, b) => a - b)); // monotonic
      assert.equal(done.at(-1), FILE.length);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() resumes a cut download with a Range request", async () => {
  const server = serve(FILE, 100_000);
  server.modes = ["cut", "full"];
  try {
    await withTempDir(async (dir) => {
      const dest = join(dir, "f.tar.gz");
      const result = await downloadFile(server.url, dest, { ...FAST, expectedMd5: FILE_MD5 });
      assert.equal(result.attempts, 2);
      assert.equal(result.resumed, true);
      assert.equal(server.requests[0]!.range, null);
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.requests[1]!.range!)![1]);
      assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${resumedAt}`);
      assert.deepEqual(await Deno.readFile(dest), FILE);
      assert.deepEqual(entries(dir), ["f.tar.gz"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() starts over when the server ignores Range", async () => {
  const server = serve(FILE, 100_000);
  server.modes = ["cut", "ignoreRange"];
  try {
    await withTempDir(async (dir) => {
      const dest = join(dir, "f.tar.gz");
      const result = await downloadFile(server.url, dest, { ...FAST, expectedMd5: FILE_MD5 });
      assert.equal(result.resumed, false);
      assert.equal(server.requests.length, 2);
      assert.notEqual(server.requests[1]!.range, null); // it asked, the server said 200
      assert.deepEqual(await Deno.readFile(dest), FILE);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() removes a file whose md5 does not match", async () => {
  const server = serve(FILE, 0);
  server.modes = ["wrong"];
  try {
    await withTempDir(async (dir) => {
      const dest = join(dir, "f.tar.gz");
      await assert.rejects(
        () => downloadFile(server.url, dest, { ...FAST, expectedMd5: FILE_MD5 }),
        {
          name: "Error",
          message: `Cannot verify download of "${server.url}": expected md5 ${FILE_MD5}, found ${
            md5(FILE.map((b) => b ^ 0x5a))
          }; the file was removed`,
        },
      );
      assert.deepEqual(entries(dir), []);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() never leaves a trusted file after repeated cuts, and resumes later", async () => {
  const server = serve(FILE, 120_000);
  server.modes = ["cut"];
  try {
    await withTempDir(async (dir) => {
      const dest = join(dir, "f.tar.gz");
      await assert.rejects(
        () => downloadFile(server.url, dest, { ...FAST, expectedMd5: FILE_MD5, maxAttempts: 2 }),
        (error: Error) => {
          assert.equal(error.name, "Error");
          assert.match(
            error.message,
            new RegExp(
              `^Cannot download "${server.url}": failed after 2 attempts \\(last error: .*\\); ` +
                `the partial file "${dest}.part" is kept and will be resumed by the next run$`,
            ),
          );
          return true;
        },
      );
      assert.deepEqual(entries(dir), ["f.tar.gz.part"]); // only the untrusted part
      assert.ok((await Deno.stat(`${dest}.part`)).size < FILE.length);
      // A later run resumes the part.
      server.modes = ["full"];
      const before = server.requests.length;
      const result = await downloadFile(server.url, dest, { ...FAST, expectedMd5: FILE_MD5 });
      assert.equal(result.resumed, true);
      assert.match(server.requests[before]!.range ?? "", /^bytes=\d+-$/);
      assert.deepEqual(await Deno.readFile(dest), FILE);
      assert.deepEqual(entries(dir), ["f.tar.gz"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() retries from scratch when a stale part spoils the checksum", async () => {
  const server = serve(FILE, 0);
  try {
    await withTempDir(async (dir) => {
      const dest = join(dir, "f.tar.gz");
      await Deno.writeFile(`${dest}.part`, new Uint8Array(50_000).fill(1)); // not FILE's bytes
      const result = await downloadFile(server.url, dest, { ...FAST, expectedMd5: FILE_MD5 });
      assert.deepEqual(server.requests, [{ range: "bytes=50000-" }, { range: null }]);
      assert.equal(result.attempts, 2);
      assert.deepEqual(await Deno.readFile(dest), FILE);
      assert.deepEqual(entries(dir), ["f.tar.gz"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() stops at once on HTTP 404", async () => {
  const server = serve(FILE, 0);
  server.modes = ["notFound"];
  try {
    await withTempDir(async (dir) => {
      await assert.rejects(() => downloadFile(server.url, join(dir, "f"), FAST), {
        message: `Cannot download "${server.url}": expected HTTP status 200, found 404 Not Found`,
      });
      assert.equal(server.requests.length, 1);
      assert.deepEqual(entries(dir), []);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() uses the injected fetch", async () => {
  await withTempDir(async (dir) => {
    const calls: string[] = [];
    const fakeFetch = (input: string) => {
      calls.push(input);
      return Promise.resolve(new Response(FILE.slice()));
    };
    const dest = join(dir, "f");
    const result = await downloadFile("http://example.invalid/f", dest, {
      ...FAST,
      fetch: fakeFetch,
      expectedMd5: FILE_MD5,
    });
    assert.deepEqual(calls, ["http://example.invalid/f"]);
    assert.equal(result.bytes, FILE.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Progress rendering.

const SAMPLE: DownloadProgress = {
  url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
  phase: "downloading",
  bytesDone: 85_000_000,
  bytesTotal: 170_000_000,
  bytesPerSecond: 5_000_000,
  elapsedSeconds: 17,
  resumedFrom: 0,
  attempt: 1,
};

Deno.test("formatProgress() shows bar, percentage, bytes, elapsed time and time left, speed", () => {
  // The line every progress bar in the project draws (lib/core/progress.ts), in bytes.
  assert.equal(
    formatProgress(SAMPLE, { width: 20 }),
    "cifar-10-binary.tar.gz  50%|##########----------| 85.0 MB/170.0 MB [00:17<00:17] 5.0 MB/s",
  );
  assert.equal(
    formatProgress({ ...SAMPLE, bytesTotal: null }, { label: "x" }),
    "x 85.0 MB [00:17] 5.0 MB/s",
  );
  assert.equal(
    formatProgress({ ...SAMPLE, phase: "verifying", bytesDone: 170_000_000 }, { width: 4 }),
    "cifar-10-binary.tar.gz 100%|####| 170.0 MB/170.0 MB [00:17<00:00] verifying checksum",
  );
  assert.equal(
    formatProgress({ ...SAMPLE, phase: "done" }, { width: 4 }),
    "cifar-10-binary.tar.gz 100%|####| 85.0 MB/85.0 MB [00:17<00:00] done",
  );
});

Deno.test("formatProgress() estimates the time left from this attempt's speed, not the average since the start", () => {
  // Resumed at 60 MB after 48 s of earlier attempts: 85 MB in 60 s is 1.4 MB/s on average, but
  // this attempt fetches 5 MB/s, so the 85 MB left take 17 s.
  const resumed = { ...SAMPLE, resumedFrom: 60_000_000, elapsedSeconds: 60, attempt: 2 };
  assert.match(formatProgress(resumed), / 85\.0 MB\/170\.0 MB \[01:00<00:17\] 5\.0 MB\/s$/);
  assert.match(formatProgress({ ...resumed, bytesPerSecond: 0 }), /\[01:00<\?\] 0 B\/s$/);
});

Deno.test("createProgressBar() redraws one line on a terminal and prints lines otherwise", () => {
  let tty = "";
  const bar = createProgressBar({
    write: (t) => (tty += t),
    isTerminal: true,
    redrawIntervalMs: 0,
    width: 4,
  });
  bar({ ...SAMPLE, bytesDone: 0 });
  bar(SAMPLE);
  bar({ ...SAMPLE, phase: "done", bytesDone: 170_000_000 });
  assert.equal(tty.split("\r").length, 4);
  assert.ok(tty.endsWith("\n") && !tty.slice(0, -1).includes("\n"));
  assert.match(
    tty,
    /\rcifar-10-binary\.tar\.gz 100%\|####\| 170\.0 MB\/170\.0 MB \[00:17<00:00\] done *\n$/,
  );

  let log = "";
  const lines = createProgressBar({
    write: (t) => (log += t),
    isTerminal: false,
    lineIntervalMs: 60_000,
  });
  lines(SAMPLE);
  lines(SAMPLE); // within the interval: skipped
  lines({ ...SAMPLE, phase: "verifying" }); // phase change: printed
  lines({ ...SAMPLE, phase: "done" });
  assert.equal(log.includes("\r"), false);
  assert.equal(log.trimEnd().split("\n").length, 3);
});

// ---------------------------------------------------------------------------------------------
// loadCifar10() with a download.

async function tinyArchive(dir: string): Promise<Uint8Array> {
  const { folder } = await writeSyntheticDataset(dir, { imagesPerBatch: 10, testImages: 10 });
  await Deno.remove(join(folder, SYNTHETIC_MARKER));
  await Deno.writeTextFile(join(folder, "batches.meta.txt"), CIFAR10_CLASSES.join("\n") + "\n");
  const files = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
  const entries = [];
  for (const f of files) {
    entries.push({ name: `${BATCHES_FOLDER}/${f}`, data: await Deno.readFile(join(folder, f)) });
  }
  return await gzip(writeTar(entries));
}

Deno.test("loadCifar10() downloads into the data folder when nothing is there", async () => {
  await withTempDir(async (dir) => {
    const archive = await tinyArchive(join(dir, "src"));
    const server = serve(archive, Math.floor(archive.length / 2));
    server.modes = ["cut", "full"];
    try {
      const dataDir = join(dir, "data");
      const progress: DownloadProgress[] = [];
      const options = {
        dataDir,
        url: server.url,
        expectedMd5: md5(archive),
        recordsPerFile: 10,
        onProgress: (p: DownloadProgress) => progress.push(p),
        env: {},
      };
      const data = await loadCifar10(options);
      assert.equal(data.source.kind, "download");
      assert.equal(data.source.checksum, "official");
      assert.equal(data.source.md5, md5(archive));
      assert.equal(data.train.count, 50);
      assert.equal(progress.at(-1)?.phase, "done");
      assert.deepEqual(entries(dataDir), [".md5-cache.json", BATCHES_FOLDER, ARCHIVE_NAME]);
      const onDisk = await readCifar10Folder(join(dataDir, BATCHES_FOLDER), { recordsPerFile: 10 });
      assert.deepEqual(onDisk.train.images, data.train.images);
      // The next load finds the archive and its extracted folder: no request.
      const requests = server.requests.length;
      const again = await loadCifar10(options);
      assert.equal(again.source.kind, "archive");
      assert.equal(server.requests.length, requests);
    } finally {
      await server.close();
    }
  });
});

Deno.test("loadCifar10() reports a download with the wrong md5 and keeps nothing", async () => {
  await withTempDir(async (dir) => {
    const archive = await tinyArchive(join(dir, "src"));
    const server = serve(archive, 0);
    try {
      const dataDir = join(dir, "data");
      await assert.rejects(
        () => loadCifar10({ dataDir, url: server.url, onProgress: null, env: {} }),
        {
          name: "Error",
          message: `Cannot verify download of "${server.url}": expected md5 ` +
            `c32a1d4ab5d03f1284b67883e8d87530, found ${md5(archive)}; the file was removed`,
        },
      );
      assert.deepEqual(entries(dataDir), []);
    } finally {
      await server.close();
    }
  });
});
