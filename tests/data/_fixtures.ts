/**
 * Fixtures of the data tests: tiny folders and archives in the CIFAR-10 layout (10 records per
 * file), binary and Python version (pickles written as cPickle writes them), random records, and a
 * naive reference for the CHW → NHWC conversion.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  BATCHES_FOLDER,
  CIFAR10_CLASSES,
  IMAGE_BYTES,
  RECORD_BYTES,
  SYNTHETIC_MARKER,
  TEST_BATCH_FILE,
  TRAIN_BATCH_FILES,
} from "../../lib/data/format.ts";
import { PYTHON_BATCHES_FOLDER } from "../../lib/data/python_format.ts";
import { gzip, writeTar } from "../../lib/data/tar.ts";
import { writeSyntheticDataset } from "../../lib/data/synthetic.ts";
import { createRng } from "../../lib/core/random.ts";

/** Records per batch file of the tiny fixtures. */
export const TINY = 10;

/** Writes a tiny non-synthetic folder (CIFAR-10 names, no marker) into `dir`; returns its path. */
export async function makeTinyFolder(dir: string, seed = 1): Promise<string> {
  const { folder } = await writeSyntheticDataset(dir, {
    seed,
    imagesPerBatch: TINY,
    testImages: TINY,
  });
  await Deno.remove(join(folder, SYNTHETIC_MARKER));
  await Deno.writeTextFile(join(folder, "batches.meta.txt"), CIFAR10_CLASSES.join("\n") + "\n\n");
  return folder;
}

/** Packs a folder's files into a .tar.gz under `top/` (`cifar-10-batches-bin/`); returns its bytes. */
export async function packFolder(
  folder: string,
  archive: string,
  top: string = BATCHES_FOLDER,
): Promise<Uint8Array> {
  const entries = [{ name: top }] as { name: string; data?: Uint8Array }[];
  for (const e of [...Deno.readDirSync(folder)].sort((a, b) => a.name.localeCompare(b.name))) {
    entries.push({
      name: `${top}/${e.name}`,
      data: await Deno.readFile(join(folder, e.name)),
    });
  }
  const bytes = await gzip(writeTar(entries));
  await Deno.writeFile(archive, bytes);
  return bytes;
}

/** The md5 of some bytes, in hex. */
export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** The sorted names in a folder (none when it does not exist). */
export function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** A naive CHW → HWC conversion, the reference for the fast loop. */
export function naiveNhwc(
  records: Uint8Array,
  count: number,
): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    labels[r] = records[r * RECORD_BYTES]!;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          images[r * IMAGE_BYTES + (y * 32 + x) * 3 + c] =
            records[r * RECORD_BYTES + 1 + c * 1024 + y * 32 + x]!;
        }
      }
    }
  }
  return { images, labels };
}

/** `count` records of random pixels and random labels 0–9, from a seed. */
export function randomRecords(count: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const bytes = new Uint8Array(count * RECORD_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  for (let r = 0; r < count; r++) bytes[r * RECORD_BYTES] = rng.int(10);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// The Python version (pickles), written as Python 2's cPickle writes it with protocol 2.

/** Builds pickle bytes opcode by opcode, to write fixtures and hostile files alike. */
export class PickleBuilder {
  #parts: number[] = [];
  #memo = 1; // cPickle numbers its memo from 1.

  /** Appends raw bytes (an opcode and its arguments). */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.#parts.push(b);
    return this;
  }

  /** PROTO n. */
  proto(n = 2): this {
    return this.raw(0x80, n);
  }

  /** MARK. */
  mark(): this {
    return this.raw(0x28);
  }

  /** BINPUT (or LONG_BINPUT past 255) of the next memo index. */
  put(): this {
    const i = this.#memo++;
    return i < 256 ? this.raw(0x71, i) : this.raw(0x72, ...u32(i));
  }

  /** An int the way cPickle writes it: BININT1, BININT2 or BININT. */
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    if (n >= 0 && n < 65536) return this.raw(0x4d, n & 0xff, n >> 8);
    return this.raw(0x4a, ...u32(n));
  }

  /** A Python 2 str: SHORT_BINSTRING up to 255 bytes, else BINSTRING. */
  str(text: string | Uint8Array): this {
    const bytes = typeof text === "string" ? latin1(text) : text;
    if (bytes.length < 256) this.raw(0x55, bytes.length);
    else this.raw(0x54, ...u32(bytes.length));
    for (const b of bytes) this.#parts.push(b);
    return this;
  }

  /** GLOBAL module\nname\n. */
  global(module: string, name: string): this {
    return this.raw(0x63, ...latin1(`${module}\n${name}\n`));
  }

  /** The bytes so far. */
  bytes(): Uint8Array {
    return new Uint8Array(this.#parts);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** One batch of the Python version: images as R, G, B planes (`count × 3072`) and labels. */
export interface PythonBatchInput {
  /** Rows of the `data` array: each image's red, green and blue planes. */
  planes: Uint8Array;
  /** One label per image (written as given, even out of range). */
  labels: readonly number[];
  /** `batch_label`, e.g. `training batch 1 of 5`. */
  batchLabel: string;
  /** Shape of `data`. @default [labels.length, 3072] */
  shape?: readonly number[];
  /** The dtype's type string. @default "u1" */
  dtype?: string;
  /** Whether `data` says Fortran order. @default false */
  fortran?: boolean;
}

/**
 * A batch file of the Python version as cPickle (Python 2, protocol 2) writes it: a dict of
 * `batch_label`, `labels`, `data` (numpy `_reconstruct` + dtype + BUILD, the bytes as one
 * BINSTRING) and `filenames`, keys as Python 2 str, lists in batches of 1,000 (APPENDS).
 */
export function writePythonBatch(input: PythonBatchInput): Uint8Array {
  const count = input.labels.length;
  const shape = input.shape ?? [count, IMAGE_BYTES];
  const p = new PickleBuilder().proto().raw(0x7d).put().mark();
  p.str("batch_label").put().str(input.batchLabel).put();
  p.str("labels").put().raw(0x5d).put();
  for (let i = 0; i < count; i += 1000) {
    p.mark();
    for (const label of input.labels.slice(i, i + 1000)) p.int(label);
    p.raw(0x65); // APPENDS
  }
  p.str("data").put().global("numpy.core.multiarray", "_reconstruct").put();
  p.global("numpy", "ndarray").put().int(0).raw(0x85).str("b").raw(0x87, 0x52).put(); // REDUCE
  p.mark().int(1);
  for (const n of shape) p.int(n);
  p.raw(0x85 + shape.length - 1); // TUPLE1..3
  p.global("numpy", "dtype").put().str(input.dtype ?? "u1").int(0).int(1).raw(0x87, 0x52).put();
  p.mark().int(3).str("|").raw(0x4e, 0x4e, 0x4e).int(-1).int(-1).int(0).raw(0x74, 0x62); // BUILD
  p.raw(input.fortran ? 0x88 : 0x89).str(input.planes).put().raw(0x74, 0x62);
  p.str("filenames").put().raw(0x5d).put();
  for (let i = 0; i < count; i += 1000) {
    p.mark();
    for (let j = i; j < Math.min(count, i + 1000); j++) p.str(`image_${j}.png`).put();
    p.raw(0x65);
  }
  return p.raw(0x75, 0x2e).bytes(); // SETITEMS, STOP
}

/** `batches.meta` as cPickle writes it: `num_cases_per_batch`, `label_names`, `num_vis`. */
export function writePythonMeta(names: readonly string[], perBatch = 10000): Uint8Array {
  const p = new PickleBuilder().proto().raw(0x7d).put().mark();
  p.str("num_cases_per_batch").put().int(perBatch);
  p.str("label_names").put().raw(0x5d).put().mark();
  for (const name of names) p.str(name).put();
  p.raw(0x65).str("num_vis").put().int(IMAGE_BYTES);
  return p.raw(0x75, 0x2e).bytes();
}

/**
 * Writes the Python version of a binary folder (same images, labels and class names) into
 * `<dir>/cifar-10-batches-py/`, as the official archive holds it (plus `readme.html`, and
 * `SYNTHETIC.txt` when the binary folder has it); returns the folder.
 */
export async function writePythonFolder(binaryFolder: string, dir: string): Promise<string> {
  const folder = join(dir, PYTHON_BATCHES_FOLDER);
  await Deno.mkdir(folder, { recursive: true });
  const names = [...TRAIN_BATCH_FILES, TEST_BATCH_FILE];
  for (const [i, name] of names.entries()) {
    const records = await Deno.readFile(join(binaryFolder, name));
    const count = records.length / RECORD_BYTES;
    const planes = new Uint8Array(count * IMAGE_BYTES);
    const labels: number[] = [];
    for (let r = 0; r < count; r++) {
      labels.push(records[r * RECORD_BYTES]!);
      planes.set(
        records.subarray(r * RECORD_BYTES + 1, (r + 1) * RECORD_BYTES),
        r * IMAGE_BYTES,
      );
    }
    const batchLabel = i < 5 ? `training batch ${i + 1} of 5` : "testing batch 1 of 1";
    const file = i < 5 ? `data_batch_${i + 1}` : "test_batch";
    await Deno.writeFile(join(folder, file), writePythonBatch({ planes, labels, batchLabel }));
  }
  const classNames = (await Deno.readTextFile(join(binaryFolder, "batches.meta.txt")))
    .split("\n").filter((line) => line.trim() !== "");
  await Deno.writeFile(join(folder, "batches.meta"), writePythonMeta(classNames));
  await Deno.writeTextFile(join(folder, "readme.html"), "<meta HTTP-EQUIV=...>\n");
  const marker = await Deno.readTextFile(join(binaryFolder, SYNTHETIC_MARKER)).catch(() => null);
  if (marker !== null) await Deno.writeTextFile(join(folder, SYNTHETIC_MARKER), marker);
  return folder;
}

/** Packs a Python-version folder into a .tar.gz under `cifar-10-batches-py/`; returns its bytes. */
export function packPythonFolder(folder: string, archive: string): Promise<Uint8Array> {
  return packFolder(folder, archive, PYTHON_BATCHES_FOLDER);
}

/** A tiny Python-version folder (10 images per file, CIFAR-10 names) in `<dir>/cifar-10-batches-py/`,
 * with the binary folder it was made from in `<dir>/bin/`. */
export async function makeTinyPythonFolder(
  dir: string,
  seed = 1,
): Promise<{ folder: string; binary: string }> {
  const binary = await makeTinyFolder(join(dir, "bin"), seed);
  return { folder: await writePythonFolder(binary, dir), binary };
}
