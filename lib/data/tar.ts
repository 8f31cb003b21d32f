/**
 * A small tar reader and writer (ustar, with GNU long names and pax paths on reading) and gzip
 * helpers, enough for the CIFAR-10 archive. Internal to the data modules.
 *
 * The reader checks every header's checksum and reports truncation (a header or an entry's data cut
 * short, or no end-of-archive block), so a damaged archive is never half-trusted.
 * @module
 */

const BLOCK = 512;
/** Entries are read whole into memory; CIFAR-10's largest is 30.7 MB. */
const MAX_ENTRY_BYTES = 1 << 30;

/** One entry of a tar archive, with its whole content. */
export interface TarEntry {
  /** Path inside the archive, e.g. `cifar-10-batches-bin/data_batch_1.bin`. */
  name: string;
  /** Regular file, directory, or anything else (links, devices: callers skip these). */
  type: "file" | "directory" | "other";
  /** Size of the content in bytes. */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** The content (empty for directories). */
  data: Uint8Array;
}

/** An entry to write with `writeTar`. */
export interface TarInput {
  /** Path inside the archive (at most 100 bytes); a trailing `/` is added for directories. */
  name: string;
  /** Content; omit for a directory. */
  data?: Uint8Array;
  /** Modification time, seconds since the epoch. @default 0 */
  mtime?: number;
}

/** Reads exactly the requested number of bytes from a stream, across chunk boundaries. */
class ChunkReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #onError: (error: unknown) => never;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #done = false;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(stream: ReadableStream<Uint8Array>, onError: (error: unknown) => never) {
    this.#reader = stream.getReader();
    this.#onError = onError;
  }

  /** Fills `out` as far as the stream allows; returns the number of bytes read (< length at end). */
  async readInto(out: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < out.length) {
      if (this.#pos >= this.#chunk.length) {
        if (this.#done) break;
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await this.#reader.read();
        } catch (error) {
          this.#onError(error);
        }
        if (result.done) {
          this.#done = true;
          break;
        }
        this.#chunk = result.value;
        this.#pos = 0;
        continue;
      }
      const n = Math.min(out.length - filled, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + n), filled);
      this.#pos += n;
      filled += n;
    }
    this.offset += filled;
    return filled;
  }

  /** Releases the stream (cancelling what is left of it). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? bytes.subarray(0, end) : bytes);
}

/** Parses a numeric header field: octal text, or GNU base-256 when the high bit is set. */
function parseNumber(field: Uint8Array, what: string, fail: (why: string) => never): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = cString(field).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) fail(`its ${what} field is not an octal number ("${text}")`);
  return parseInt(text, 8);
}

/** Parses pax extended header records (`"<len> key=value\n"`) and returns the `path`, if any. */
function paxPath(data: Uint8Array): string | null {
  const text = new TextDecoder().decode(data);
  let path: string | null = null;
  for (const line of text.split("\n")) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) path = match[1]!;
  }
  return path;
}

/**
 * Reads the entries of an uncompressed tar stream, one at a time.
 *
 * @param stream The tar bytes.
 * @param archiveName How to name the archive in errors.
 * @returns The entries (pax and GNU long-name headers are applied, not yielded).
 * @throws {SyntaxError} On a bad header checksum, a bad numeric field, or truncation.
 * @example
 * ```ts
 * import { readTar, writeTar } from "./tar.ts";
 * const tar = writeTar([{ name: "dir" }, { name: "dir/a.txt", data: new Uint8Array([104, 105]) }]);
 * const names = [];
 * for await (const entry of readTar(new Blob([tar]).stream(), "example.tar")) names.push(entry.name);
 * if (names.join() !== "dir/,dir/a.txt") throw new Error(names.join());
 * ```
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  archiveName: string,
  options: { onStreamError?: (error: unknown) => never } = {},
): AsyncGenerator<TarEntry> {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot read archive "${archiveName}": ${why}`);
  };
  const reader = new ChunkReader(
    stream,
    options.onStreamError ?? ((error) => fail(`cannot read the stream (${error})`)),
  );
  const header = new Uint8Array(BLOCK);
  let longName: string | null = null;
  let entries = 0;
  try {
    while (true) {
      const headerOffset = reader.offset;
      const got = await reader.readInto(header);
      if (got === 0) {
        fail(`it is truncated: no end-of-archive block after ${entries} entries`);
      }
      if (got < BLOCK) {
        fail(`it is truncated: header at byte ${headerOffset} has ${got} of ${BLOCK} bytes`);
      }
      if (header.every((b) => b === 0)) return; // End-of-archive block.

      // 1. Header checksum: the byte sum with the checksum field counted as spaces.
      const stored = parseNumber(
        header.subarray(148, 156),
        "checksum",
        (why) => fail(`tar header at byte ${headerOffset} is corrupt: ${why}`),
      );
      let unsigned = 0;
      let signed = 0;
      for (let i = 0; i < BLOCK; i++) {
        const b = i >= 148 && i < 156 ? 0x20 : header[i]!;
        unsigned += b;
        signed += b > 127 ? b - 256 : b;
      }
      if (stored !== unsigned && stored !== signed) {
        fail(
          `tar header at byte ${headerOffset} has checksum ${stored}, expected ${unsigned} ` +
            `(corrupt, or not a tar archive)`,
        );
      }

      // 2. Fields.
      const badField = (why: string) => fail(`tar header at byte ${headerOffset}: ${why}`);
      const size = parseNumber(header.subarray(124, 136), "size", badField);
      const mtime = parseNumber(header.subarray(136, 148), "mtime", badField);
      const typeFlag = String.fromCharCode(header[156]!);
      let name = cString(header.subarray(0, 100));
      // POSIX ustar ("ustar\0") keeps a path prefix at 345; old GNU ("ustar ") keeps times there.
      const isPosixUstar = cString(header.subarray(257, 262)) === "ustar" && header[262] === 0;
      if (isPosixUstar) {
        const prefix = cString(header.subarray(345, 500));
        if (prefix !== "") name = `${prefix}/${name}`;
      }

      // 3. Content, then padding to the next block.
      if (size > MAX_ENTRY_BYTES) {
        fail(`entry "${name}" claims ${size} bytes, more than the ${MAX_ENTRY_BYTES} allowed`);
      }
      const data = new Uint8Array(size);
      const dataGot = await reader.readInto(data);
      if (dataGot < size) {
        fail(`it is truncated: entry "${name}" needs ${size} bytes, found ${dataGot}`);
      }
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (padding > 0 && (await reader.readInto(new Uint8Array(padding))) < padding) {
        fail(`it is truncated: entry "${name}" lacks its padding`);
      }

      // 4. Metadata entries modify the next one.
      if (typeFlag === "L") {
        longName = cString(data);
        continue;
      }
      if (typeFlag === "x") {
        longName = paxPath(data) ?? longName;
        continue;
      }
      if (typeFlag === "g") continue;
      if (longName !== null) {
        name = longName;
        longName = null;
      }
      entries++;
      const type = typeFlag === "0" || typeFlag === "\0" || typeFlag === "7"
        ? "file"
        : typeFlag === "5"
        ? "directory"
        : "other";
      yield { name, type, size, mtime, data };
    }
  } finally {
    await reader.cancel();
  }
}

/**
 * Reads a `.tar.gz` file entry by entry, decompressing as it goes.
 *
 * @param path The archive.
 * @returns The entries.
 * @throws {SyntaxError} When the gzip data is corrupt or truncated, or the tar inside is.
 * @example List an archive (reads a file, so not run by `deno test --doc`)
 * ```ts ignore
 * import { readTarGz } from "./tar.ts";
 * for await (const entry of readTarGz("cifar-10-binary.tar.gz")) console.log(entry.name, entry.size);
 * ```
 */
export async function* readTarGz(path: string): AsyncGenerator<TarEntry> {
  const file = await Deno.open(path, { read: true });
  const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
  yield* readTar(stream, path, {
    onStreamError: (error) => {
      const why = error instanceof Error ? error.message : String(error);
      throw new SyntaxError(
        `Cannot read archive "${path}": the gzip data is corrupt or truncated (${why})`,
      );
    },
  });
}

function writeField(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > length) {
    throw new RangeError(`Cannot write tar field: "${text}" is longer than ${length} bytes`);
  }
  header.set(bytes, offset);
}

function octal(value: number, digits: number): string {
  return value.toString(8).padStart(digits, "0");
}

/**
 * Writes entries as an uncompressed ustar archive (with the two end-of-archive blocks).
 *
 * @param entries Files (with `data`) and directories (without).
 * @returns The archive bytes.
 * @example
 * ```ts
 * import { writeTar } from "./tar.ts";
 * const tar = writeTar([{ name: "a.txt", data: new Uint8Array(3) }]);
 * if (tar.length !== 4 * 512) throw new Error(`length ${tar.length}`); // header, data, 2 end blocks
 * ```
 */
export function writeTar(entries: readonly TarInput[]): Uint8Array<ArrayBuffer> {
  let total = 2 * BLOCK;
  for (const e of entries) total += BLOCK + Math.ceil((e.data?.length ?? 0) / BLOCK) * BLOCK;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const e of entries) {
    const isDir = e.data === undefined;
    const name = isDir && !e.name.endsWith("/") ? `${e.name}/` : e.name;
    const size = e.data?.length ?? 0;
    const header = out.subarray(pos, pos + BLOCK);
    writeField(header, 0, 100, name);
    writeField(header, 100, 8, octal(isDir ? 0o755 : 0o644, 7));
    writeField(header, 108, 8, octal(0, 7));
    writeField(header, 116, 8, octal(0, 7));
    writeField(header, 124, 12, octal(size, 11));
    writeField(header, 136, 12, octal(e.mtime ?? 0, 11));
    header.fill(0x20, 148, 156);
    header[156] = (isDir ? "5" : "0").charCodeAt(0);
    writeField(header, 257, 6, "ustar");
    writeField(header, 263, 2, "00");
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += header[i]!;
    writeField(header, 148, 8, octal(sum, 6) + "\0 ");
    pos += BLOCK;
    if (e.data) {
      out.set(e.data, pos);
      pos += Math.ceil(size / BLOCK) * BLOCK;
    }
  }
  return out;
}

/**
 * Compresses bytes with gzip.
 *
 * @param bytes The input.
 * @returns The gzip stream's bytes.
 * @example
 * ```ts
 * import { gzip } from "./tar.ts";
 * const packed = await gzip(new Uint8Array(1000));
 * if (packed[0] !== 0x1f || packed[1] !== 0x8b) throw new Error("not gzip");
 * ```
 */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
