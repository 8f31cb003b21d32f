/**
 * Fixtures of the data tests: tiny folders and archives in the CIFAR-10 layout (10 records per
 * file), random records, and a naive reference for the CHW → NHWC conversion.
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
} from "../../lib/data/format.ts";
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

/** Packs a folder's files into a .tar.gz under `cifar-10-batches-bin/`; returns its bytes. */
export async function packFolder(folder: string, archive: string): Promise<Uint8Array> {
  const entries = [{ name: BATCHES_FOLDER }] as { name: string; data?: Uint8Array }[];
  for (const e of [...Deno.readDirSync(folder)].sort((a, b) => a.name.localeCompare(b.name))) {
    entries.push({
      name: `${BATCHES_FOLDER}/${e.name}`,
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
