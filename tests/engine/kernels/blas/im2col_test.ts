import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { im2col } from "../../../../lib/engine/kernels/blas/im2col.ts";
import { createRng } from "../../../../lib/core/random.ts";

Deno.test("im2col() copies every value bit for bit, NaN payloads included", () => {
  for (
    const [n, h, w, c, k, stride, pad] of [[2, 5, 6, 4, 3, 1, "same"], [
      1,
      7,
      7,
      3,
      3,
      2,
      "valid",
    ]] as const
  ) {
    const info = tf.backend_util.computeConv2DInfo([n, h, w, c], [k, k, c, 1], stride, 1, pad);
    const bits = new Uint32Array(n * h * w * c);
    const rng = createRng(900 + c);
    for (let i = 0; i < bits.length; i++) {
      // Mostly ordinary floats; every fifth a quiet NaN with a payload, shaped so that a pair of
      // channels read as one float64 is a NaN too (exponent and top mantissa bits all set).
      // (Signalling NaNs are quieted by any float32 load in JS, so they are not used.)
      bits[i] = i % 5 === 0
        ? (rng.next() < 0.5 ? 0x7ff00001 : 0xfff00003) + (i % 1000)
        : 0x3f000000 + i;
    }
    const rowSize = k * k * c;
    const col = new Float32Array(info.outHeight * info.outWidth * n * rowSize).fill(7);
    im2col(new Float32Array(bits.buffer), info, 0, n, col);
    const colBits = new Uint32Array(col.buffer);
    let row = 0;
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < info.outHeight; oh++) {
        for (let ow = 0; ow < info.outWidth; ow++, row++) {
          for (let kh = 0; kh < k; kh++) {
            for (let kw = 0; kw < k; kw++) {
              for (let ch = 0; ch < c; ch++) {
                const ih = oh * stride - info.padInfo.top + kh;
                const iw = ow * stride - info.padInfo.left + kw;
                const inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
                const expected = inside ? bits[((b * h + ih) * w + iw) * c + ch]! : 0;
                const at = row * rowSize + (kh * k + kw) * c + ch;
                if (colBits[at] !== expected) {
                  assert.fail(
                    `col[${at}] = ${colBits[at]!.toString(16)}, expected ${expected.toString(16)}`,
                  );
                }
              }
            }
          }
        }
      }
    }
  }
});
