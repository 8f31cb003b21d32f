/**
 * Downloading a file safely: bytes go to `<dest>.part`, which is renamed to `dest` only after its
 * md5 matches; a cut connection is resumed with an HTTP Range request when the server honours it
 * (else downloaded again from the start); a mismatching file is removed. Progress is reported as
 * records that a terminal bar (`createProgressBar`) or a notebook display can render, both drawn
 * by lib/core/progress.ts like every progress bar in the project (`downloadProgressState`).
 * @module
 */

import { createHash } from "node:crypto";
import {
  formatBytes,
  progressLineWriter,
  type ProgressState,
  progressText,
} from "../core/progress.ts";

/** A progress record, passed to `onProgress` during a download. */
export interface DownloadProgress {
  /** The URL being downloaded. */
  url: string;
  /** `downloading` while bytes arrive, `verifying` during the checksum, `done` at the end. */
  phase: "downloading" | "verifying" | "done";
  /** Bytes of the file on disk so far (including a resumed part). */
  bytesDone: number;
  /** Size of the whole file, or null when the server does not say. */
  bytesTotal: number | null;
  /** Average speed of this attempt, bytes per second. */
  bytesPerSecond: number;
  /** Seconds since the download started (all attempts). */
  elapsedSeconds: number;
  /** Bytes that were already on disk when this attempt resumed (0 for a fresh start). */
  resumedFrom: number;
  /** Attempt number, from 1. */
  attempt: number;
}

/** A `fetch`-compatible function (injectable for tests and proxies). */
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

/** Options of `downloadFile`. */
export interface DownloadOptions {
  /** Expected md5 (hex); null skips the check. @default null */
  expectedMd5?: string | null;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: FetchFunction;
  /** Called with progress records (at most every `progressIntervalMs`, and at each phase change). */
  onProgress?: ((progress: DownloadProgress) => void) | null;
  /** Minimum milliseconds between two `downloading` progress records. @default 100 */
  progressIntervalMs?: number;
  /** Attempts before giving up on a cut or failed connection. @default 4 */
  maxAttempts?: number;
  /** Milliseconds to wait before retrying (doubled each time). @default 500 */
  retryDelayMs?: number;
  /** Cancels the download (the `.part` file is kept for a later resume). */
  signal?: AbortSignal;
}

/** What `downloadFile` did. */
export interface DownloadResult {
  /** The final path (`dest`). */
  path: string;
  /** md5 of the file (hex). */
  md5: string;
  /** Size in bytes. */
  bytes: number;
  /** Attempts used. */
  attempts: number;
  /** Whether some attempt resumed a partial file with a Range request. */
  resumed: boolean;
}

/**
 * Computes the md5 of a file, streaming it.
 *
 * @param path The file.
 * @returns The md5 as 32 lower-case hex digits.
 * @example Hash an archive (reads the file, so not run by `deno test --doc`)
 * ```ts ignore
 * import { md5File } from "./download.ts";
 * const md5 = await md5File("data/cifar-10-binary.tar.gz");
 * // "c32a1d4ab5d03f1284b67883e8d87530" for the official archive
 * ```
 */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function removeIfExists(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** An HTTP failure that retrying will not fix (4xx other than 408/429). */
class PermanentHttpError extends Error {}

/** Parses `Content-Range: bytes <start>-<end>/<total>` (or `bytes *\/<total>`). */
function parseContentRange(header: string | null): { start: number | null; total: number | null } {
  const match = header ? /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!match) return { start: null, total: null };
  return {
    start: match[1] !== undefined ? Number(match[1]) : null,
    total: match[2] !== "*" ? Number(match[2]) : null,
  };
}

/**
 * Downloads `url` to `dest` through `<dest>.part`. The part is renamed to `dest` only when the
 * whole body arrived and (if given) its md5 matches. A cut connection is retried, resuming the part
 * with a Range request; a server that ignores Range (status 200) restarts it from byte 0. A part
 * left by an earlier, interrupted run is resumed the same way. A checksum mismatch removes the part
 * and throws (after one clean retry if the part had been resumed, since a stale part could be the
 * cause).
 *
 * @param url The URL.
 * @param dest The final path; its folder must exist.
 * @param options Checksum, fetch, progress and retry options.
 * @returns The path, md5, size and what it took.
 * @throws {Error} On an HTTP error status, repeated connection failures, or an md5 mismatch
 *   (`Cannot verify download of "<url>": expected md5 <expected>, found <found>; the file was removed`).
 * @example Download the official archive with a progress bar (needs the network and write access,
 * so not run by `deno test --doc`; tests/data/download_test.ts runs it against a local server)
 * ```ts ignore
 * import { createProgressBar, downloadFile } from "./download.ts";
 * const result = await downloadFile(
 *   "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
 *   "data/cifar-10-binary.tar.gz",
 *   { expectedMd5: "c32a1d4ab5d03f1284b67883e8d87530", onProgress: createProgressBar() },
 * );
 * console.log(result.bytes, result.resumed);
 * ```
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const expectedMd5 = options.expectedMd5?.toLowerCase() ?? null;
  const maxAttempts = options.maxAttempts ?? 4;
  const intervalMs = options.progressIntervalMs ?? 100;
  const part = `${dest}.part`;
  const started = performance.now();
  let resumedEver = false;
  let cleanRetryDone = false;
  let lastError: unknown = null;

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    options.signal?.throwIfAborted();
    if (attempt > 1) {
      const delay = (options.retryDelayMs ?? 500) * 2 ** (attempt - 2);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    const attemptStart = performance.now();
    let offset = (await fileSize(part)) ?? 0;
    let total: number | null = null;
    const report = (phase: DownloadProgress["phase"], bytesDone: number) => {
      const seconds = (performance.now() - attemptStart) / 1000;
      options.onProgress?.({
        url,
        phase,
        bytesDone,
        bytesTotal: total,
        bytesPerSecond: seconds > 0 ? (bytesDone - offset) / seconds : 0,
        elapsedSeconds: (performance.now() - started) / 1000,
        resumedFrom: offset,
        attempt,
      });
    };

    // 1. Request, resuming a part with a Range request.
    let response: Response;
    try {
      const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
      response = await fetchFn(url, { headers, signal: options.signal });
    } catch (error) {
      options.signal?.throwIfAborted();
      lastError = error;
      continue;
    }
    let append = false;
    if (offset > 0 && response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (range.start !== offset) {
        // A range we did not ask for: start over rather than splice wrong bytes.
        await response.body?.cancel();
        await removeIfExists(part);
        lastError = new Error(`server answered Range ${offset}- with "${range.start}-"`);
        continue;
      }
      total = range.total;
      append = true;
      resumedEver = true;
    } else if (offset > 0 && response.status === 416) {
      // The part may already hold the whole file; verify it below if the sizes agree.
      await response.body?.cancel();
      const range = parseContentRange(response.headers.get("content-range"));
      if (range.total !== offset) {
        await removeIfExists(part);
        lastError = new Error(`server refused Range ${offset}- (status 416)`);
        continue;
      }
      total = offset;
    } else if (response.status === 200) {
      const length = response.headers.get("content-length");
      total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
      offset = 0;
    } else {
      await response.body?.cancel();
      const message =
        `Cannot download "${url}": expected HTTP status 200, found ${response.status} ${response.statusText}`;
      if (
        response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status)
      ) {
        throw new PermanentHttpError(message);
      }
      lastError = new Error(message);
      continue;
    }

    // 2. Stream the body into the part file.
    let bytesDone = offset;
    if (response.status !== 416) {
      const file = await Deno.open(part, {
        write: true,
        create: true,
        append,
        truncate: !append,
      });
      let lastReport = 0;
      try {
        if (response.body) {
          for await (const chunk of response.body) {
            let written = 0;
            while (written < chunk.length) written += await file.write(chunk.subarray(written));
            bytesDone += chunk.length;
            const now = performance.now();
            if (now - lastReport >= intervalMs) {
              lastReport = now;
              report("downloading", bytesDone);
            }
          }
        }
      } catch (error) {
        options.signal?.throwIfAborted();
        lastError = error; // Keep the part: the next attempt resumes it.
        continue;
      } finally {
        file.close();
      }
      report("downloading", bytesDone);
      if (total !== null && bytesDone !== total) {
        lastError = new Error(`connection closed after ${bytesDone} of ${total} bytes`);
        if (bytesDone > total) await removeIfExists(part);
        continue;
      }
    }

    // 3. Verify, then publish under the final name.
    report("verifying", bytesDone);
    const md5 = await md5File(part);
    if (expectedMd5 !== null && md5 !== expectedMd5) {
      await removeIfExists(part);
      if (offset > 0 && !cleanRetryDone) {
        cleanRetryDone = true; // The resumed part may have been stale: try once from scratch.
        lastError = new Error(`expected md5 ${expectedMd5}, found ${md5} after resuming`);
        continue;
      }
      throw new Error(
        `Cannot verify download of "${url}": expected md5 ${expectedMd5}, found ${md5}; ` +
          `the file was removed`,
      );
    }
    await Deno.rename(part, dest);
    report("done", bytesDone);
    return { path: dest, md5, bytes: bytesDone, attempts: attempt, resumed: resumedEver };
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(
    `Cannot download "${url}": failed after ${maxAttempts} attempts (last error: ${why}); ` +
      `the partial file "${part}" is kept and will be resumed by the next run`,
  );
}

/**
 * The progress state of a download record, for the project's one progress rendering
 * (`progressText` for a terminal line, `progressHtml` for a notebook): bytes done of the total,
 * the speed as info, the time left from this attempt's speed. While verifying and when done the
 * whole file is on disk, so its size is the total.
 *
 * @param progress The record.
 * @param label Text before the bar. @default the URL's file name
 * @returns The state.
 * @example
 * ```ts
 * import { downloadProgressState } from "./download.ts";
 * const state = downloadProgressState({
 *   url: "https://host/f.tar.gz", phase: "verifying", bytesDone: 10e6, bytesTotal: 10e6,
 *   bytesPerSecond: 1e6, elapsedSeconds: 10, resumedFrom: 0, attempt: 1,
 * });
 * if (state.label !== "f.tar.gz" || state.info !== "verifying checksum" || state.total !== 10e6) {
 *   throw new Error(JSON.stringify(state));
 * }
 * ```
 */
export function downloadProgressState(progress: DownloadProgress, label?: string): ProgressState {
  const downloading = progress.phase === "downloading";
  const known = progress.bytesTotal !== null && progress.bytesTotal > 0;
  return {
    done: progress.bytesDone,
    total: !downloading ? progress.bytesDone : known ? progress.bytesTotal : null,
    label: label ?? (progress.url.split("/").pop() || progress.url),
    info: progress.phase === "verifying"
      ? "verifying checksum"
      : progress.phase === "done"
      ? "done"
      : `${formatBytes(progress.bytesPerSecond)}/s`,
    seconds: progress.elapsedSeconds,
    // This attempt's speed: the average over all attempts would count resumed bytes as fetched.
    rate: progress.bytesPerSecond,
    unit: "bytes",
  };
}

/**
 * Formats a progress record as one line, like every progress bar in the project
 * (`progressText`): bar, percentage, bytes, elapsed time and time left, speed.
 *
 * @param progress The record.
 * @param options `width` of the bar in characters (default 30) and a `label` (default: the URL's
 *   file name).
 * @returns The line, without a line break.
 * @example
 * ```ts
 * import { formatProgress } from "./download.ts";
 * const line = formatProgress({
 *   url: "https://host/f.tar.gz", phase: "downloading", bytesDone: 5e6, bytesTotal: 10e6,
 *   bytesPerSecond: 1e6, elapsedSeconds: 5, resumedFrom: 0, attempt: 1,
 * }, { width: 10 });
 * if (line !== "f.tar.gz  50%|#####-----| 5.0 MB/10.0 MB [00:05<00:05] 1.0 MB/s") {
 *   throw new Error(line);
 * }
 * ```
 */
export function formatProgress(
  progress: DownloadProgress,
  options: { width?: number; label?: string } = {},
): string {
  return progressText(downloadProgressState(progress, options.label), options.width);
}

/** Options of `createProgressBar`. */
export interface ProgressBarOptions {
  /** Where text goes. @default writes to stderr */
  write?: (text: string) => void;
  /** Redraw one line with `\r` (terminal) or print plain lines. @default Deno.stderr.isTerminal() */
  isTerminal?: boolean;
  /** Minimum milliseconds between two plain lines (non-terminal). @default 5000 */
  lineIntervalMs?: number;
  /** Minimum milliseconds between two redraws (terminal). @default 100 */
  redrawIntervalMs?: number;
  /** Label before the bar. @default the URL's file name */
  label?: string;
  /** Bar width in characters. @default 30 */
  width?: number;
}

/**
 * Creates a progress renderer for `downloadFile`'s `onProgress`: on a terminal it redraws one line
 * with `\r`; otherwise (logs, CI) it prints a plain line every few seconds and at each phase change.
 *
 * @param options Output, mode and pacing.
 * @returns The `onProgress` callback.
 * @example
 * ```ts
 * import { createProgressBar } from "./download.ts";
 * let out = "";
 * const bar = createProgressBar({ write: (t) => (out += t), isTerminal: false, label: "x" });
 * const base = { url: "u", bytesTotal: 10, bytesPerSecond: 1, elapsedSeconds: 1, resumedFrom: 0, attempt: 1 };
 * bar({ ...base, phase: "downloading", bytesDone: 1 });
 * bar({ ...base, phase: "done", bytesDone: 10 });
 * if (out.split("\n").length !== 3 || out.includes("\r")) throw new Error(out);
 * ```
 */
export function createProgressBar(
  options: ProgressBarOptions = {},
): (progress: DownloadProgress) => void {
  const out = progressLineWriter({ write: options.write, isTerminal: options.isTerminal });
  const interval = out.isTerminal
    ? (options.redrawIntervalMs ?? 100)
    : (options.lineIntervalMs ?? 5000);
  let last = -Infinity;
  let lastPhase = "";
  return (progress) => {
    const now = performance.now();
    const phaseChanged = progress.phase !== lastPhase;
    if (!phaseChanged && now - last < interval) return;
    last = now;
    lastPhase = progress.phase;
    const line = formatProgress(progress, { width: options.width, label: options.label });
    if (progress.phase === "done") out.finish(line);
    else out.draw(line);
  };
}
