/**
 * Recognising image files by their bytes and checking that a PNG or JPEG file is whole before it
 * is decoded. Skia decodes a truncated PNG or JPEG without complaint (the missing rows come out
 * transparent or grey), so a cut-off download would be classified as if it were fine; walking the
 * file's chunk / marker structure first turns that into an error naming the file.
 * @module
 */

/** Largest image accepted, in pixels (width × height): decoding needs 4 bytes per pixel. */
export const MAX_IMAGE_PIXELS = 40_000_000;

/** The formats `checkImageBytes` accepts. */
export type SupportedFormat = "png" | "jpeg";

/** What `checkImageBytes` learns from a file's header. */
export interface ImageHeader {
  /** The file's format. */
  format: SupportedFormat;
  /** Width in pixels as stored (a JPEG's EXIF orientation may swap it with the height). */
  width: number;
  /** Height in pixels as stored. */
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + prefix.length) return false;
  return prefix.every((b, i) => bytes[offset + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/**
 * Names the image format a file's first bytes announce, supported or not.
 *
 * @param bytes The file's content (the first 32 bytes are enough).
 * @returns `"PNG"`, `"JPEG"`, `"GIF"`, `"BMP"`, `"WebP"`, `"TIFF"`, `"ICO"`, `"HEIF/AVIF"`,
 *   `"SVG"`, `"PDF"`, or null when no known signature matches.
 * @example
 * ```ts
 * import { sniffImageFormat } from "./image_format.ts";
 * if (sniffImageFormat(new TextEncoder().encode("GIF89a...")) !== "GIF") throw new Error();
 * if (sniffImageFormat(new TextEncoder().encode("hello")) !== null) throw new Error();
 * ```
 */
export function sniffImageFormat(bytes: Uint8Array): string | null {
  if (startsWith(bytes, PNG_SIGNATURE)) return "PNG";
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "JPEG";
  if (startsWith(bytes, ascii("GIF87a")) || startsWith(bytes, ascii("GIF89a"))) return "GIF";
  if (startsWith(bytes, ascii("BM")) && bytes.length >= 26) return "BMP";
  if (startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)) return "WebP";
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0]) || startsWith(bytes, [0x4d, 0x4d, 0, 0x2a])) {
    return "TIFF";
  }
  if (startsWith(bytes, [0, 0, 1, 0]) && bytes.length >= 6) return "ICO";
  if (startsWith(bytes, ascii("ftyp"), 4)) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (/^(heic|heix|hevc|mif1|msf1|avif|avis)$/.test(brand)) return "HEIF/AVIF";
  }
  if (startsWith(bytes, ascii("%PDF"))) return "PDF";
  const head = new TextDecoder().decode(bytes.subarray(0, 512)).trimStart().toLowerCase();
  if (head.startsWith("<svg") || (head.startsWith("<?xml") && head.includes("<svg"))) return "SVG";
  return null;
}

/** What a file starts with, for "not an image" messages: printable text quoted, else hex bytes. */
function describeStart(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 12);
  const printable = head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
  if (printable) {
    const text = new TextDecoder().decode(head).replace(/\s+/g, " ");
    return `text starting "${text}${bytes.length > head.length ? "…" : ""}"`;
  }
  return `data starting ${
    [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ")
  }`;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 as PNG computes it (ISO 3309, polynomial 0xEDB88320), over `bytes[from, to)`. */
function crc32(bytes: Uint8Array, from: number, to: number): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = from; i < to; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Walks the chunks of a PNG: IHDR first, CRCs right, at least one IDAT, an IEND within the file. */
function checkPng(bytes: Uint8Array): ImageHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = PNG_SIGNATURE.length;
  let width = 0;
  let height = 0;
  let sawData = false;
  while (true) {
    if (offset + 8 > bytes.length) {
      throw new SyntaxError(
        `truncated PNG: the file ends at byte ${bytes.length} before the IEND chunk`,
      );
    }
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const end = offset + 8 + length + 4;
    if (end > bytes.length) {
      throw new SyntaxError(
        `truncated PNG: chunk ${type} at byte ${offset} needs ${length + 12} bytes, ` +
          `only ${bytes.length - offset} remain`,
      );
    }
    const stored = view.getUint32(offset + 8 + length);
    if (crc32(bytes, offset + 4, offset + 8 + length) !== stored) {
      throw new SyntaxError(`corrupt PNG: chunk ${type} at byte ${offset} fails its CRC check`);
    }
    if (offset === PNG_SIGNATURE.length) {
      if (type !== "IHDR" || length !== 13) {
        throw new SyntaxError(`corrupt PNG: expected an IHDR chunk first, found ${type}`);
      }
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
    }
    if (type === "IDAT") sawData = true;
    if (type === "IEND") break;
    offset = end;
  }
  if (!sawData) throw new SyntaxError("corrupt PNG: no IDAT chunk (no pixel data)");
  return { format: "png", width, height };
}

/** Start-of-frame markers: baseline, extended, progressive, lossless, arithmetic variants. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
    marker !== 0xcc;
}

/** Walks the markers of a JPEG: segments within the file, a frame header, scans, then EOI. */
function checkJpeg(bytes: Uint8Array): ImageHeader {
  let offset = 2; // after SOI
  let width = 0;
  let height = 0;
  let sawFrame = false;
  let sawScan = false;
  while (true) {
    // Markers may be preceded by any number of 0xFF fill bytes.
    if (offset >= bytes.length || bytes[offset] !== 0xff) {
      if (offset >= bytes.length) {
        throw new SyntaxError(
          `truncated JPEG: the file ends at byte ${bytes.length} before the end-of-image marker`,
        );
      }
      throw new SyntaxError(
        `corrupt JPEG: expected a marker at byte ${offset}, found 0x${
          bytes[offset]!.toString(16).padStart(2, "0")
        }`,
      );
    }
    while (offset < bytes.length && bytes[offset] === 0xff) offset++;
    if (offset >= bytes.length) continue; // reported as truncated above
    const marker = bytes[offset]!;
    offset++;
    if (marker === 0xd9) break; // EOI
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no length
    if (offset + 2 > bytes.length) {
      throw new SyntaxError(
        `truncated JPEG: the file ends at byte ${bytes.length} inside a segment header`,
      );
    }
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    if (length < 2 || offset + length > bytes.length) {
      throw new SyntaxError(
        `truncated JPEG: segment 0xFF${marker.toString(16).toUpperCase()} at byte ${
          offset - 2
        } needs ${length} bytes, only ${bytes.length - offset} remain`,
      );
    }
    if (isStartOfFrame(marker)) {
      if (length < 8) {
        throw new SyntaxError(`corrupt JPEG: frame header at byte ${offset} too short`);
      }
      height = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
      width = (bytes[offset + 5]! << 8) | bytes[offset + 6]!;
      sawFrame = true;
    }
    offset += length;
    if (marker === 0xda) {
      if (!sawFrame) throw new SyntaxError("corrupt JPEG: image data before the frame header");
      sawScan = true;
      // Entropy-coded data: 0xFF is stuffed as FF 00 and restart markers are FF D0–D7, so the
      // next real marker is the first FF followed by anything else.
      while (offset < bytes.length) {
        if (bytes[offset] === 0xff) {
          const next = bytes[offset + 1];
          if (next === undefined) break;
          if (next !== 0x00 && !(next >= 0xd0 && next <= 0xd7) && next !== 0xff) break;
          if (next === 0xff) {
            offset++;
            continue;
          }
        }
        offset++;
      }
      if (offset >= bytes.length - 1) {
        throw new SyntaxError(
          `truncated JPEG: the file ends at byte ${bytes.length} inside the image data`,
        );
      }
    }
  }
  if (!sawScan) throw new SyntaxError("corrupt JPEG: no image data (no start-of-scan marker)");
  return { format: "jpeg", width, height };
}

/**
 * Checks that a file is a whole PNG or JPEG image, before it is decoded.
 *
 * @param bytes The file's content.
 * @returns The format and the stored size.
 * @throws {TypeError} When the file is empty, is no image, or is an image in another format; the
 *   message says what was found (`expected a PNG or JPEG image, found a GIF image`).
 * @throws {SyntaxError} When a PNG or JPEG is truncated or corrupt; the message says where.
 * @example
 * ```ts
 * import { checkImageBytes } from "./image_format.ts";
 * const error = (() => { try { checkImageBytes(new TextEncoder().encode("GIF89a......")); } catch (e) { return e; } })();
 * if (!(error instanceof TypeError) || error.message !== "expected a PNG or JPEG image, found a GIF image") {
 *   throw new Error(String(error));
 * }
 * ```
 */
export function checkImageBytes(bytes: Uint8Array): ImageHeader {
  const format = sniffImageFormat(bytes);
  if (bytes.length === 0) throw new TypeError("expected a PNG or JPEG image, found an empty file");
  if (format === "PNG") return checkPng(bytes);
  if (format === "JPEG") return checkJpeg(bytes);
  if (format === null) {
    throw new TypeError(`expected a PNG or JPEG image, found ${describeStart(bytes)}`);
  }
  throw new TypeError(
    `expected a PNG or JPEG image, found a${/^[AEIOU]/.test(format) ? "n" : ""} ${format} image`,
  );
}

/**
 * Everything checked about an image file before it is decoded, with messages that name it: a whole
 * PNG or JPEG (`checkImageBytes`), not 0 pixels wide or high, at most `MAX_IMAGE_PIXELS` pixels.
 * `decodeImage` (Skia, in Deno) and the browser page (web/) both call it, so a file is refused for
 * the same reason, in the same words, in both places.
 *
 * @param bytes The file's content.
 * @param name How to name the file in errors (its path, or its name in the browser).
 * @returns The format and the stored size.
 * @throws {TypeError} When the bytes are no PNG or JPEG (empty, not an image, another format).
 * @throws {SyntaxError} When the file is truncated or corrupt, or has no pixels.
 * @throws {RangeError} When it has more than `MAX_IMAGE_PIXELS` pixels.
 * @example
 * ```ts
 * import { checkImageFile } from "./image_format.ts";
 * const error = (() => { try { checkImageFile(new TextEncoder().encode("hello"), "notes.png"); } catch (e) { return e as Error; } })();
 * if (error?.message !== 'Cannot read image "notes.png": expected a PNG or JPEG image, found text starting "hello"') {
 *   throw new Error(String(error));
 * }
 * ```
 */
export function checkImageFile(bytes: Uint8Array, name: string): ImageHeader {
  const prefix = `Cannot read image "${name}"`;
  let header;
  try {
    header = checkImageBytes(bytes);
  } catch (error) {
    const ErrorClass = error instanceof TypeError ? TypeError : SyntaxError;
    throw new ErrorClass(`${prefix}: ${(error as Error).message}`);
  }
  if (header.width === 0 || header.height === 0) {
    throw new SyntaxError(
      `${prefix}: corrupt ${header.format.toUpperCase()}: size ${header.width}×${header.height}`,
    );
  }
  if (header.width * header.height > MAX_IMAGE_PIXELS) {
    throw new RangeError(
      `${prefix}: expected at most ${MAX_IMAGE_PIXELS.toLocaleString("en-US")} pixels, found ` +
        `${header.width}×${header.height}; scale it down first`,
    );
  }
  return header;
}
