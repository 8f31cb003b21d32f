/**
 * Internal: the shapes of convolution and pooling geometry the kernels read, one definition each.
 *
 * Two families, because two different producers fill them:
 * - {@linkcode ConvGeometry}: our own flat record, built by {@linkcode convGeometry} from a
 *   kernel's attributes; the JS loops of the cpu and wasm kernels (js/, wasm/) read it.
 * - {@linkcode Im2colGeometry}, {@linkcode DirectConvGeometry} and {@linkcode PoolGeometry}: the
 *   fields of tfjs's `backend_util.Conv2DInfo` that the "blas" kernels and the native loops
 *   (blas/, native/) read, so a `computeConv2DInfo` or `computePool2DInfo` result passes as is.
 * @module
 */
import { backend_util } from "@tensorflow/tfjs-core";

/** A 4-D shape. */
export type Shape4 = [number, number, number, number];

/** Everything a 2-D convolution loop of js/ needs, in NHWC terms (built by `convGeometry`). */
export interface ConvGeometry {
  /** Images in the batch. */
  batch: number;
  /** Input rows. */
  inHeight: number;
  /** Input columns. */
  inWidth: number;
  /** Input channels. */
  inChannels: number;
  /** Output rows. */
  outHeight: number;
  /** Output columns. */
  outWidth: number;
  /** Output channels. */
  outChannels: number;
  /** Filter rows. */
  filterHeight: number;
  /** Filter columns. */
  filterWidth: number;
  /** Vertical stride. */
  strideHeight: number;
  /** Horizontal stride. */
  strideWidth: number;
  /** Implicit zero rows above the input. */
  padTop: number;
  /** Implicit zero rows below the input (as tfjs computes them). */
  padBottom: number;
  /** Implicit zero columns left of the input. */
  padLeft: number;
  /** Implicit zero columns right of the input (as tfjs computes them). */
  padRight: number;
  /** Whether the tensors are NHWC (tfjs's default); NCHW is left to the original kernels. */
  channelsLast: boolean;
}

/** The attributes the two convolution-gradient kernels share. */
export interface ConvGradAttrs {
  /** Strides of the forward convolution. */
  strides: number | [number, number];
  /** Padding of the forward convolution. */
  pad: "same" | "valid" | number | backend_util.ExplicitPadding;
  /** "NHWC" or "NCHW". */
  dataFormat: "NHWC" | "NCHW";
  /** Rounding of the output size for numeric padding. */
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/**
 * Computes the geometry of a forward 2-D convolution (dilation 1) the way tfjs does.
 *
 * @param xShape Input shape.
 * @param filterShape Filter shape `[fh, fw, in, out]`.
 * @param attrs Strides, padding, data format, rounding.
 * @returns The geometry.
 * @example
 * ```ts
 * import { convGeometry } from "./geometry.ts";
 * const g = convGeometry([30, 32, 32, 3], [3, 3, 3, 16], { strides: 1, pad: "same", dataFormat: "NHWC" });
 * if (g.outHeight !== 32 || g.padTop !== 1 || g.padBottom !== 1) throw new Error("bad geometry");
 * ```
 */
export function convGeometry(
  xShape: Shape4,
  filterShape: Shape4,
  attrs: ConvGradAttrs,
): ConvGeometry {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padBottom: info.padInfo.bottom,
    padLeft: info.padInfo.left,
    padRight: info.padInfo.right,
    channelsLast: info.dataFormat === "channelsLast",
  };
}

/**
 * The fields of tfjs's `Conv2DInfo` that im2col and col2im read (the JS ones in blas/im2col.ts
 * and the native ones): one image's input and output sizes, the window and the top/left padding.
 */
export interface Im2colGeometry {
  /** Input rows. */
  inHeight: number;
  /** Input columns. */
  inWidth: number;
  /** Input channels. */
  inChannels: number;
  /** Output rows. */
  outHeight: number;
  /** Output columns. */
  outWidth: number;
  /** Vertical stride. */
  strideHeight: number;
  /** Horizontal stride. */
  strideWidth: number;
  /** Implicit zero rows above and columns left of the input. */
  padInfo: { top: number; left: number };
  /** Filter rows. */
  filterHeight: number;
  /** Filter columns. */
  filterWidth: number;
}

/**
 * The fields of tfjs's `Conv2DInfo` that the native direct convolutions read:
 * {@linkcode Im2colGeometry} plus the batch, the output channels and all four paddings.
 */
export interface DirectConvGeometry extends Im2colGeometry {
  /** Images in the batch. */
  batchSize: number;
  /** Output channels. */
  outChannels: number;
  /** Implicit zero rows and columns on each side of the input. */
  padInfo: { top: number; left: number; bottom: number; right: number };
}

/** The fields of tfjs's pooling `Conv2DInfo` that the native 2×2, stride-2 pooling loops read. */
export interface PoolGeometry {
  /** Images in the batch. */
  batchSize: number;
  /** Input rows. */
  inHeight: number;
  /** Input columns. */
  inWidth: number;
  /** Channels. */
  inChannels: number;
  /** Output rows. */
  outHeight: number;
  /** Output columns. */
  outWidth: number;
}
