import assert from "node:assert/strict";
import { createRng, deriveSeed, dropoutMask, shuffleInPlace } from "../../lib/core/random.ts";

Deno.test("createRng() repeats its sequence for the same seed and differs across seeds", () => {
  const seq = (seed: number) => Array.from({ length: 5 }, createRng(seed).next);
  const a = createRng(3), b = createRng(3), c = createRng(4);
  const xs = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 100 }, () => c.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.equal(seq(0).length, 5);
});

Deno.test("createRng() draws roughly uniform and normal values", () => {
  const rng = createRng(11);
  const n = 20000;
  let sum = 0, sumSq = 0, low = 0;
  for (let i = 0; i < n; i++) {
    const z = rng.normal();
    sum += z;
    sumSq += z * z;
    if (rng.next() < 0.25) low++;
  }
  assert.ok(Math.abs(sum / n) < 0.05, `normal mean ${sum / n}`);
  assert.ok(Math.abs(sumSq / n - 1) < 0.05, `normal variance ${sumSq / n}`);
  assert.ok(Math.abs(low / n - 0.25) < 0.02, `uniform quartile ${low / n}`);
  for (let i = 0; i < 1000; i++) {
    const k = rng.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
  }
});

Deno.test("deriveSeed() separates streams by label and seed", () => {
  assert.equal(deriveSeed(42, "shuffle", 1), deriveSeed(42, "shuffle", 1));
  assert.notEqual(deriveSeed(42, "shuffle", 1), deriveSeed(42, "shuffle", 2));
  assert.notEqual(deriveSeed(42, "shuffle", 1), deriveSeed(42, "augment", 1));
  assert.notEqual(deriveSeed(42, "shuffle", 1), deriveSeed(43, "shuffle", 1));
  assert.ok(Number.isInteger(deriveSeed(1, "x")) && deriveSeed(1, "x") >= 0);
});

Deno.test("shuffleInPlace() permutes without losing items, reproducibly", () => {
  const make = () => Int32Array.from({ length: 50 }, (_, i) => i);
  const a = shuffleInPlace(make(), createRng(5));
  const b = shuffleInPlace(make(), createRng(5));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, make());
  assert.deepEqual([...a].sort((x, y) => x - y), [...make()]);
});

Deno.test("dropoutMask() keeps each value with probability 1 − rate, scaled by 1 / (1 − rate)", () => {
  for (const [rate, seed] of [[0.25, 1], [0.5, 2], [0.1, 3]] as const) {
    const n = 100_000;
    const mask = dropoutMask(n, rate, seed);
    const scale = Math.fround(1 / (1 - rate));
    // Exactly createRng's draws: kept when u ≥ rate.
    const rng = createRng(seed);
    for (let i = 0; i < n; i++) {
      const expected = rng.next() >= rate ? scale : 0;
      if (mask[i] !== expected) assert.fail(`rate ${rate}, value ${i}: ${mask[i]} vs ${expected}`);
    }
    const kept = mask.reduce((count, v) => count + (v === 0 ? 0 : 1), 0) / n;
    assert.ok(Math.abs(kept - (1 - rate)) < 0.01, `rate ${rate}: kept ${kept}`);
    // The expected value of x · mask is x.
    const mean = mask.reduce((sum, v) => sum + v, 0) / n;
    assert.ok(Math.abs(mean - 1) < 0.02, `rate ${rate}: mean ${mean}`);
  }
  assert.notDeepEqual(dropoutMask(64, 0.5, 1), dropoutMask(64, 0.5, 2));
  assert.deepEqual(dropoutMask(64, 0.5, 1), dropoutMask(64, 0.5, 1));
  assert.ok(dropoutMask(64, 0, 1).every((v) => v === 1), "rate 0 keeps everything");
  for (const rate of [1, -0.1, NaN]) {
    assert.throws(() => dropoutMask(4, rate, 1), {
      name: "RangeError",
      message: `Cannot make a dropout mask: expected a rate in [0, 1), found ${rate}`,
    });
  }
});
