/**
 * The synthetic data `deno task bench` (and `bench:revisions`, `bench:gpu`) measure on when no
 * `--data` is given: random pixels and labels in the CIFAR-10 binary layout, marked SYNTHETIC.
 *
 * @module
 */
import { createRng, deriveSeed } from "../lib/core/random.ts";

/** Options of {@link writeSyntheticData}. */
export interface SyntheticDataOptions {
  /** Seed of labels and pixels. @default 42 */
  seed?: number;
  /** Records in each batch file; the official size is 10,000 (loaders may insist on it). @default 10000 */
  recordsPerFile?: number;
}

/**
 * Writes a synthetic data set in the CIFAR-10 binary layout (`cifar-10-batches-bin/` with five
 * training batches, the test batch, `batches.meta.txt`) plus a `SYNTHETIC.txt` marker, so every
 * loader labels it synthetic. Labels are uniform; pixels are random noise (only throughput is
 * measured on it).
 *
 * @param folder The folder to fill (created when missing).
 * @param options Seed and records per file.
 * @returns The folder.
 * @example
 * ```ts
 * import { writeSyntheticData } from "./synthetic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSyntheticData(dir, { recordsPerFile: 2 });
 * const size = (await Deno.stat(`${dir}/cifar-10-batches-bin/test_batch.bin`)).size;
 * if (size !== 2 * 3073) throw new Error(`size ${size}`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSyntheticData(
  folder: string,
  options: SyntheticDataOptions = {},
): Promise<string> {
  const seed = options.seed ?? 42;
  const records = options.recordsPerFile ?? 10000;
  if (!Number.isInteger(records) || records < 1) {
    throw new RangeError(
      `Cannot write synthetic data: expected recordsPerFile as an integer ≥ 1, found ${records}`,
    );
  }
  const inner = `${folder}/cifar-10-batches-bin`;
  await Deno.mkdir(inner, { recursive: true });
  const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat("test_batch.bin");
  for (const name of names) {
    const rng = createRng(deriveSeed(seed, "synthetic", name));
    const bytes = new Uint8Array(records * 3073);
    const words = new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
    for (let i = 0; i < words.length; i++) words[i] = rng.uint32();
    for (let i = words.length * 4; i < bytes.length; i++) bytes[i] = rng.int(256);
    for (let r = 0; r < records; r++) bytes[r * 3073] = rng.int(10);
    await Deno.writeFile(`${inner}/${name}`, bytes);
  }
  await Deno.writeTextFile(
    `${inner}/batches.meta.txt`,
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n",
  );
  const marker = "SYNTHETIC data written by bench/bench.ts for throughput measurements: random " +
    "pixels and labels in the CIFAR-10 binary layout. This is NOT CIFAR-10.\n";
  await Deno.writeTextFile(`${folder}/SYNTHETIC.txt`, marker);
  await Deno.writeTextFile(`${inner}/SYNTHETIC.txt`, marker);
  return folder;
}
