/**
 * Internal: the bias and activation pass of the "blas" backend's fused kernels (`FusedConv2D`,
 * `_FusedMatMul`), in JS or, with the native loops, in lib/engine/kernels/native/native.c (same
 * bits).
 * @module
 */
import type { NativeKernels } from "../native/native_kernels.ts";

/** Activations applied in the fused kernels' own pass; others go through the `cpu` kernels. */
export type FusableActivation = "linear" | "relu" | "relu6";

/**
 * Whether the fused kernels apply this activation themselves (none counts as linear).
 *
 * @param activation The kernel's `activation` attribute.
 * @returns True for none, linear, relu and relu6.
 */
export function isFusable(activation: unknown): activation is FusableActivation | undefined {
  return activation === undefined || activation === null || activation === "linear" ||
    activation === "relu" || activation === "relu6";
}

/**
 * Adds a per-channel bias (length `channels`, or 1 for a scalar) and applies a fusable activation
 * in place over `out`, whose last dimension has `channels` values: the JS loop.
 *
 * @param out Values to update, `channels` per row.
 * @param channels Values per row.
 * @param bias Per-channel or scalar bias, or null.
 * @param activation The activation (none: linear).
 * @example
 * ```ts
 * import { biasActivationInPlace } from "./bias_activation.ts";
 * const out = Float32Array.from([-1, 2, 3, -4]);
 * biasActivationInPlace(out, 2, Float32Array.from([0.5, -2.5]), "relu");
 * if (out.join() !== "0,0,3.5,0") throw new Error(out.join());
 * ```
 */
export function biasActivationInPlace(
  out: Float32Array,
  channels: number,
  bias: Float32Array | null,
  activation: FusableActivation | undefined,
) {
  const relu = activation === "relu", relu6 = activation === "relu6";
  if (bias === null && !relu && !relu6) return;
  const scalarBias = bias !== null && bias.length === 1 ? bias[0]! : 0;
  for (let i = 0; i < out.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      let v = out[i + c]! + (bias === null ? 0 : bias.length === 1 ? scalarBias : bias[c]!);
      // Branch-free max(0, v) (a data-dependent branch mispredicts half the time); NaN stays NaN.
      if (relu) v = v === -Infinity ? 0 : (v + Math.abs(v)) * 0.5;
      else if (relu6) v = v < 0 ? 0 : v > 6 ? 6 : v;
      out[i + c] = v;
    }
  }
}

/**
 * {@linkcode biasActivationInPlace}, in the native loop when there is one.
 *
 * @param native The native loops, or null for the JS one.
 * @param out Values to update, `channels` per row.
 * @param channels Values per row.
 * @param bias Per-channel or scalar bias, or null.
 * @param activation The activation (none: linear).
 */
export function applyBiasActivation(
  native: NativeKernels | null,
  out: Float32Array,
  channels: number,
  bias: Float32Array | null,
  activation: FusableActivation | undefined,
): void {
  if (native === null) biasActivationInPlace(out, channels, bias, activation);
  else if (bias !== null || activation === "relu" || activation === "relu6") {
    native.biasActivation(out, channels, bias, activation ?? "linear");
  }
}
