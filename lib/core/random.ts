/**
 * Seeded random numbers. Every random choice in the project (split, shuffles, augmentation,
 * initialisation, dropout) draws from a generator made here from the config's seed, so a run is
 * reproducible from its seed alone.
 * @module
 */

/** A seeded pseudo-random generator (mulberry32: fast, 32-bit state, good enough for ML shuffles). */
export interface Rng {
  /** A float uniform in [0, 1). */
  next(): number;
  /** An integer uniform in [0, n). */
  int(n: number): number;
  /** A float uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** A standard normal sample (Box–Muller). */
  normal(): number;
  /** A 32-bit unsigned integer, for seeding other generators (tfjs ops take a numeric seed). */
  uint32(): number;
}

/**
 * Mixes a seed with labels into a new 32-bit seed, so independent streams (split, shuffle of
 * epoch 3, augmentation of epoch 3, …) stay independent yet reproducible.
 *
 * @param seed The base seed (the config's `seed`).
 * @param labels Strings or numbers naming the stream.
 * @returns A 32-bit unsigned seed.
 * @example
 * ```ts
 * import { deriveSeed } from "./random.ts";
 * if (deriveSeed(1, "split") !== deriveSeed(1, "split")) throw new Error("not deterministic");
 * if (deriveSeed(1, "split") === deriveSeed(2, "split")) throw new Error("seed ignored");
 * ```
 */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  // FNV-1a over the seed and labels, then a murmur3 finaliser for avalanche.
  let h = 0x811c9dc5 ^ (seed >>> 0);
  const text = labels.join("\u0000");
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Creates a seeded generator.
 *
 * @param seed Any number; the same seed gives the same sequence.
 * @returns A generator.
 * @example
 * ```ts
 * import { createRng } from "./random.ts";
 * const a = createRng(7), b = createRng(7);
 * if (a.next() !== b.next()) throw new Error("not deterministic");
 * ```
 */
export function createRng(seed: number): Rng {
  let state = (seed >>> 0) || 0x9e3779b9;
  const uint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = (): number => uint32() / 4294967296;
  return {
    next,
    uint32,
    int: (n: number) => Math.floor(next() * n),
    uniform: (lo: number, hi: number) => lo + (hi - lo) * next(),
    normal: () => {
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}

/**
 * Shuffles an array in place (Fisher–Yates) with the given generator.
 *
 * @param items The array to shuffle; it is modified.
 * @param rng The generator.
 * @returns The same array, shuffled.
 * @example
 * ```ts
 * import { createRng, shuffleInPlace } from "./random.ts";
 * const a = shuffleInPlace([1, 2, 3, 4], createRng(1));
 * if ([...a].sort().join() !== "1,2,3,4") throw new Error("lost items");
 * ```
 */
export function shuffleInPlace<A extends ArrayLike<unknown>>(items: A, rng: Rng): A {
  // Typed arrays and plain arrays both index-assign; the cast only widens for the swap.
  const a = items as unknown as unknown[];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  }
  return items;
}

/**
 * A dropout mask: each of `length` values is `1 / (1 − rate)` with probability `1 − rate`, else
 * 0, drawn from {@linkcode createRng}'s generator with this seed. Multiplying activations by it is
 * dropout with tfjs's and PyTorch's scaling; the same seed gives the same mask on every backend.
 * One tight loop instead of tfjs's `randomUniform` plus three tensor ops (`tf.dropout`).
 *
 * @param length Values in the mask.
 * @param rate Probability of dropping a value, in [0, 1).
 * @param seed Any number.
 * @returns The mask.
 * @example
 * ```ts
 * import { dropoutMask } from "./random.ts";
 * const mask = dropoutMask(1000, 0.25, 3);
 * if (mask.some((v) => v !== 0 && v !== Math.fround(1 / 0.75))) throw new Error("bad value");
 * if (mask.join() !== dropoutMask(1000, 0.25, 3).join()) throw new Error("not deterministic");
 * ```
 */
export function dropoutMask(length: number, rate: number, seed: number): Float32Array {
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`Cannot make a dropout mask: expected a rate in [0, 1), found ${rate}`);
  }
  const mask = new Float32Array(length);
  const keep = 1 - rate;
  const scale = 1 / keep;
  // Kept when createRng's draw u = uint32 / 2³² satisfies u ≥ rate (probability 1 − rate). The
  // generator is inlined and kept in int32 (the unsigned compare becomes a signed one with the
  // sign bit flipped), so that no value leaves V8's 32-bit integers.
  const threshold = rate * 4294967296 - 2147483648;
  let state = ((seed >>> 0) || 0x9e3779b9) | 0;
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= (t + Math.imul(t ^ (t >>> 7), t | 61)) | 0;
    mask[i] = (t ^ (t >>> 14) ^ 0x80000000) >= threshold ? scale : 0;
  }
  return mask;
}
