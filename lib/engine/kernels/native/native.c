/*
 * Native companions of the "blas" backend's JS kernels (in lib/engine/kernels/blas/): the same
 * loops, compiled with the machine's C compiler and run on every core through OpenMP. Each
 * element-wise, pooling, im2col and Adam function computes exactly what its JS twin computes —
 * same operations, same order, same rounding — so results are bit for bit those of the JS path
 * (tests/engine/kernels/native/native_kernels_test.ts compares them). That is why the build uses
 * -ffp-contract=off (no fused multiply-add) and never -ffast-math; -fno-trapping-math only lets
 * loops that compare floats vectorise, with the same results. The convolutions (direct, and
 * Winograd for the 3×3 "same" ones) and batch-sized products at the end replace OpenBLAS calls,
 * not JS loops: they sum in their own order, with fused multiply-add.
 *
 * Built by lib/engine/kernels/native/build.ts and loaded by native_kernels.ts there; every entry
 * point is called through Deno's FFI.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many values a loop runs on one thread: waking a second costs more than it saves. */
#define PARALLEL_MIN 32768

/* Version of this interface; the TS side refuses a library that reports another one. */
int32_t cifar_native_version(void) { return 4; }

/* Threads an OpenMP region uses (1 without OpenMP). */
int32_t cifar_native_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void cifar_native_set_threads(int32_t threads) {
#ifdef _OPENMP
  if (threads >= 1) omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

/*
 * Convolution geometry, as one int32 array: in height, in width, in channels, out height,
 * out width, stride h, stride w, pad top, pad left, filter h, filter w.
 */
enum { G_H, G_W, G_C, G_OH, G_OW, G_SH, G_SW, G_TOP, G_LEFT, G_KH, G_KW };

/* im2col of images [n0, n1) of NHWC x: one row per output pixel, columns (kh, kw, c). */
void cifar_im2col(const float *x, const int32_t *g, int32_t n0, int32_t n1, float *col) {
  const int64_t H = g[G_H], W = g[G_W], C = g[G_C], OH = g[G_OH], OW = g[G_OW];
  const int64_t SH = g[G_SH], SW = g[G_SW], TOP = g[G_TOP], LEFT = g[G_LEFT];
  const int64_t KH = g[G_KH], KW = g[G_KW];
  const int64_t K = KH * KW * C, rows = (int64_t)(n1 - n0) * OH;
#pragma omp parallel for schedule(static) if (rows * OW * K >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = n0 + r / OH, oh = r % OH;
    const float *image = x + n * H * W * C;
    float *o = col + r * OW * K;
    const int64_t ih0 = oh * SH - TOP;
    for (int64_t ow = 0; ow < OW; ow++) {
      const int64_t iw0 = ow * SW - LEFT;
      for (int64_t kh = 0; kh < KH; kh++, o += KW * C) {
        const int64_t ih = ih0 + kh;
        if (ih < 0 || ih >= H) {
          memset(o, 0, sizeof(float) * KW * C);
          continue;
        }
        const float *rowp = image + ih * W * C;
        if (iw0 >= 0 && iw0 + KW <= W) {
          memcpy(o, rowp + iw0 * C, sizeof(float) * KW * C);
          continue;
        }
        for (int64_t kw = 0; kw < KW; kw++) {
          const int64_t iw = iw0 + kw;
          if (iw < 0 || iw >= W) memset(o + kw * C, 0, sizeof(float) * C);
          else memcpy(o + kw * C, rowp + iw * C, sizeof(float) * C);
        }
      }
    }
  }
}

/*
 * The adjoint of im2col for images [n0, n1): writes (not adds) each pixel of those images of dx
 * as the sum of its entries in col. Each pixel gathers its terms in the order the JS scatter
 * (col2im in lib/engine/kernels/blas/im2col.ts) adds them — output row, then output column, ascending — starting
 * from +0, in float32, so the sums are identical.
 */
void cifar_col2im(const float *col, const int32_t *g, int32_t n0, int32_t n1, float *dx) {
  const int64_t H = g[G_H], W = g[G_W], C = g[G_C], OH = g[G_OH], OW = g[G_OW];
  const int64_t SH = g[G_SH], SW = g[G_SW], TOP = g[G_TOP], LEFT = g[G_LEFT];
  const int64_t KH = g[G_KH], KW = g[G_KW];
  const int64_t K = KH * KW * C, rows = (int64_t)(n1 - n0) * H;
#pragma omp parallel for schedule(static) if (rows * W * C * KH * KW >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t local = r / H, ih = r % H;
    float *d = dx + ((n0 + local) * H + ih) * W * C;
    /* Output rows whose window covers ih: kh = ih + TOP − oh·SH in [0, KH). */
    int64_t ohFirst = ih + TOP - KH + 1;
    ohFirst = ohFirst <= 0 ? 0 : (ohFirst + SH - 1) / SH;
    int64_t ohLast = (ih + TOP) < 0 ? -1 : (ih + TOP) / SH;
    if (ohLast > OH - 1) ohLast = OH - 1;
    for (int64_t iw = 0; iw < W; iw++, d += C) {
      for (int64_t c = 0; c < C; c++) d[c] = 0.0f;
      int64_t owFirst = iw + LEFT - KW + 1;
      owFirst = owFirst <= 0 ? 0 : (owFirst + SW - 1) / SW;
      int64_t owLast = (iw + LEFT) < 0 ? -1 : (iw + LEFT) / SW;
      if (owLast > OW - 1) owLast = OW - 1;
      for (int64_t oh = ohFirst; oh <= ohLast; oh++) {
        const int64_t kh = ih + TOP - oh * SH;
        const float *rowp = col + ((local * OH + oh) * OW) * K + kh * KW * C;
        for (int64_t ow = owFirst; ow <= owLast; ow++) {
          const int64_t kw = iw + LEFT - ow * SW;
          const float *s = rowp + ow * K + kw * C;
          for (int64_t c = 0; c < C; c++) d[c] += s[c];
        }
      }
    }
  }
}

/* max(0, v): +0 for −0 and −∞, NaN stays NaN (the JS (v + |v|)/2). */
static inline float relu1(float v) { return v > 0.0f ? v : (v == v ? 0.0f : v); }

void cifar_relu(const float *x, float *out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) out[i] = relu1(x[i]);
}

/* v > 0 ? 1 : alpha, NaN stays NaN. */
void cifar_step(const float *x, float *out, int64_t n, float alpha) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    out[i] = v > 0.0f ? 1.0f : (v == v ? alpha : v);
  }
}

/* ReLU's input gradient dy · step(x): dy · 1, dy · 0 (±0, or NaN for an infinite dy) or NaN. */
void cifar_relu_backprop(const float *dy, const float *x, float *out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    out[i] = dy[i] * (v > 0.0f ? 1.0f : (v == v ? 0.0f : v));
  }
}

void cifar_floor(const float *x, float *out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) out[i] = floorf(x[i]);
}

static inline float apply(int32_t op, float a, float b) {
  switch (op) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  default: return a / b;
  }
}

/*
 * out[i] = a[i % na] op b[i % nb] where na and nb divide n (same shape, a scalar, or one operand
 * repeating along leading dimensions). op: 0 add, 1 sub, 2 mul, 3 div. A float32 operation of
 * float32 operands rounds once, exactly as JS's float64 operation rounded to float32 does.
 */
void cifar_binary(int32_t op, const float *a, int64_t na, const float *b, int64_t nb, float *out,
                  int64_t n) {
  if (n == 0) return;
  /* Each case gets its own loop, so that the inner loops stay trivial and vectorise. */
#define EACH(EXPR) \
  _Pragma("omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)") \
  for (int64_t i = 0; i < n; i++) out[i] = EXPR;
#define EACH_OP(A, B) \
  switch (op) { \
  case 0: EACH((A) + (B)) break; \
  case 1: EACH((A) - (B)) break; \
  case 2: EACH((A) * (B)) break; \
  default: EACH((A) / (B)) break; \
  } \
  return;
  if (na == n && nb == n) { EACH_OP(a[i], b[i]) }
  if (nb == 1) { const float y = b[0]; EACH_OP(a[i], y) }
  if (na == 1) { const float x = a[0]; EACH_OP(x, b[i]) }
#undef EACH_OP
#undef EACH
  /* One operand repeats every `period` values. */
  const int64_t period = na == n ? nb : na, blocks = n / period;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t blk = 0; blk < blocks; blk++) {
    const int64_t base = blk * period;
    const float *pa = na == n ? a + base : a, *pb = nb == n ? b + base : b;
    float *po = out + base;
    for (int64_t j = 0; j < period; j++) po[j] = apply(op, pa[j], pb[j]);
  }
}

/*
 * Sum over the leading `rows` of a [rows, inner] array into out[inner], each column accumulated
 * in float64 with rows ascending (the cpu kernel's order), then rounded once.
 */
void cifar_sum_rows(const float *x, int64_t rows, int64_t inner, float *out, double *acc) {
  for (int64_t j = 0; j < inner; j++) acc[j] = 0.0;
  for (int64_t r = 0; r < rows; r++) {
    const float *p = x + r * inner;
    for (int64_t j = 0; j < inner; j++) acc[j] += (double)p[j];
  }
  for (int64_t j = 0; j < inner; j++) out[j] = (float)acc[j];
}

/*
 * Pool geometry, one int32 array: batch, in height, in width, channels, out height, out width.
 * 2×2 windows, stride 2, no padding.
 */
enum { P_N, P_H, P_W, P_C, P_OH, P_OW };

/* Strictly greater wins, from −∞, in window order: NaN never wins (the cpu kernel's rule). */
void cifar_max_pool_2x2(const float *x, const int32_t *g, float *out) {
  const int64_t H = g[P_H], W = g[P_W], C = g[P_C], OH = g[P_OH], OW = g[P_OW];
  const int64_t rows = (int64_t)g[P_N] * OH, rowStride = W * C;
#pragma omp parallel for schedule(static) if (rows * OW * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / OH, oh = r % OH;
    const float *p = x + (n * H + 2 * oh) * rowStride;
    float *o = out + r * OW * C;
    for (int64_t ow = 0; ow < OW; ow++, p += 2 * C, o += C) {
      for (int64_t c = 0; c < C; c++) {
        float best = -INFINITY;
        const float a = p[c], b = p[C + c], d = p[rowStride + c], e = p[rowStride + C + c];
        best = a > best ? a : best;
        best = b > best ? b : best;
        best = d > best ? d : best;
        best = e > best ? e : best;
        o[c] = best;
      }
    }
  }
}

/*
 * Routes each window's gradient to its first maximum and writes 0 to the window's other three
 * values (and all four when nothing beats −∞: all NaN), so every value the windows cover is
 * written; rows or columns no window covers (odd sizes) keep what dx held. Branch-free: which
 * value wins is data, and a branch on it would mispredict half the time.
 */
void cifar_max_pool_grad_2x2(const float *x, const float *dy, const int32_t *g, float *dx) {
  const int64_t H = g[P_H], W = g[P_W], C = g[P_C], OH = g[P_OH], OW = g[P_OW];
  const int64_t rows = (int64_t)g[P_N] * OH, rowStride = W * C;
#pragma omp parallel for schedule(static) if (rows * OW * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / OH, oh = r % OH;
    const int64_t base = (n * H + 2 * oh) * rowStride;
    const float *d = dy + r * OW * C;
    for (int64_t ow = 0; ow < OW; ow++, d += C) {
      const float *p0 = x + base + 2 * ow * C, *p2 = p0 + rowStride;
      float *q0 = dx + base + 2 * ow * C, *q2 = q0 + rowStride;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        const float a = p0[c], b = p0[C + c], e = p2[c], f = p2[C + c];
        float best = -INFINITY;
        int at = -1;
        at = a > best ? 0 : at;
        best = a > best ? a : best;
        at = b > best ? 1 : at;
        best = b > best ? b : best;
        at = e > best ? 2 : at;
        best = e > best ? e : best;
        at = f > best ? 3 : at;
        const float v = d[c];
        q0[c] = at == 0 ? v : 0.0f;
        q0[C + c] = at == 1 ? v : 0.0f;
        q2[c] = at == 2 ? v : 0.0f;
        q2[C + c] = at == 3 ? v : 0.0f;
      }
    }
  }
}

/*
 * Adds a per-channel bias (nbias = channels, or 1) and applies an activation (0 none, 1 relu,
 * 2 relu6) in place over n values whose last dimension has `channels` values.
 */
void cifar_bias_activation(float *out, int64_t n, int64_t channels, const float *bias,
                           int64_t nbias, int32_t activation) {
  const int64_t rows = n / channels;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    float *o = out + r * channels;
    for (int64_t c = 0; c < channels; c++) {
      float v = o[c];
      /* Without a bias JS still adds 0, which turns −0 into +0. */
      v = v + (nbias == 0 ? 0.0f : nbias == 1 ? bias[0] : bias[c]);
      if (activation == 1) v = relu1(v);
      else if (activation == 2) v = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
      o[c] = v;
    }
  }
}

/*
 * One Adam step over n values, in float64 like the JS loop (FusedAdamOptimizer): m and v are
 * rounded to float32 when stored, but the update uses their unrounded float64 values.
 */
void cifar_adam(float *values, const float *grad, float *m, float *v, int64_t n, double beta1,
                double beta2, double oneMinusB1, double oneMinusB2, double lr, double correction1,
                double correction2, double eps) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const double g = grad[i];
    const double mi = (double)m[i] * beta1 + g * oneMinusB1;
    const double vi = (double)v[i] * beta2 + g * g * oneMinusB2;
    m[i] = (float)mi;
    v[i] = (float)vi;
    values[i] = (float)((double)values[i] - lr * (mi * correction1) / (sqrt(vi * correction2) + eps));
  }
}

/*
 * A dropout mask of n values, the JS dropoutMask's (lib/core/random.ts) bit for bit: value i is
 * the mulberry32 output of state seed + (i + 1)·0x6d2b79f5 (so the loop splits across threads),
 * kept (as `scale`, 1 / (1 − rate) rounded to float32) when that output is ≥ rate·2³², else 0.
 */
void cifar_dropout_mask(float *mask, int64_t n, double rate, uint32_t seed, float scale) {
  const uint32_t start = seed ? seed : 0x9e3779b9u;
  const double threshold = rate * 4294967296.0;
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    uint32_t t = start + (uint32_t)(i + 1) * 0x6d2b79f5u;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    mask[i] = (double)(t ^ (t >> 14)) >= threshold ? scale : 0.0f;
  }
}

/*
 * Direct convolutions, stride 1 and dilation 1, NHWC input and HWIO filter. These are not bit for
 * bit the JS loops (the JS path hands convolutions to OpenBLAS, whose sums run in their own
 * order); they are checked against the cpu kernels within float32 tolerance instead, and they
 * use fused multiply-add, as OpenBLAS does.
 *
 * All three passes are one register-tiled loop over a zero-padded copy of the input: a tile is R
 * output pixels × NV vectors of output channels, accumulated in registers over the whole filter
 * window. Reading the padded copy, each pixel's window row (KW·C values) is contiguous in memory,
 * as is the matching block of filter rows, so the inner loop is one broadcast per pixel and one
 * vector load per NV. The input gradient is the forward convolution of the padded output gradient
 * with the filter flipped and its channel axes swapped; the filter gradient tiles (window offset ×
 * output channel) instead of (pixel × output channel) and sums over pixels.
 */
#ifdef __clang__
/* clang ignores GCC's optimize pragma; this is its way to allow fused multiply-add from here on. */
#pragma clang fp contract(fast)
#else
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

/*
 * Tiles sized to the ISA's vector registers (build.ts builds one library per ISA). A tile of R
 * rows × NV vectors holds R·NV accumulators, NV vectors of the other operand and one broadcast
 * value in registers, and loads R + NV values per R·NV fused multiply-adds:
 *   AVX-512 (32 registers of 16 lanes): 6 × 4 vectors, 24 + 4 + 1 = 29 registers, 0.42 loads/FMA;
 *   AVX2 and SSE (16 registers of 8 or 4 lanes): 6 × 2 vectors, 12 + 2 + 1 = 15 registers, 0.67
 *   loads/FMA. The AVX-512 shape on 16 registers (3 × 4: 12 + 4 + 1 = 17) spills one register
 *   in its inner loop; 6 × 2 does not.
 *   NEON (AArch64: 32 registers of 4 lanes, FMA): AVX-512's shape, 6 × 4 vectors in 29 registers.
 *   CIFAR_GENERIC_TILES (the `portable` build on AArch64) asks for the small tiles instead.
 * CV_NV_MAX may be set with -D to compare shapes (bench:blas --products).
 */
#if defined(__AVX512F__)
#define CV_LANES 16
#define CV_ACC 24 /* accumulator vectors of a tile (of 32 registers) */
#ifndef CV_NV_MAX
#define CV_NV_MAX 4
#endif
#elif defined(__aarch64__) && !defined(CIFAR_GENERIC_TILES)
#define CV_LANES 4
#define CV_ACC 24 /* of 32 registers */
#ifndef CV_NV_MAX
#define CV_NV_MAX 4
#endif
#elif defined(__AVX__)
#define CV_LANES 8
#define CV_ACC 12 /* of 16 registers */
#else
#define CV_LANES 4
#define CV_ACC 12
#endif
#ifndef CV_NV_MAX
#define CV_NV_MAX 2
#endif

/* Which tile shapes this build uses, for the TS side to report: lanes, accumulators, vectors. */
int32_t cifar_native_tile(int32_t what) {
  return what == 0 ? CV_LANES : what == 1 ? CV_ACC : CV_NV_MAX;
}
/* aligned(4): loads and stores of this type may be unaligned. */
typedef float cvec __attribute__((vector_size(CV_LANES * sizeof(float)), aligned(4), may_alias));

/* Lanes of the vectors the direct convolutions use; output channels must be a multiple. */
int32_t cifar_conv_lanes(void) { return CV_LANES; }

/* Vectors of output channels per tile: 4, 2 or 1 (at most CV_NV_MAX), whichever divides the
 * channel vectors. */
static int64_t tile_vectors(int64_t channels) {
  const int64_t vectors = channels / CV_LANES;
  return CV_NV_MAX >= 4 && vectors % 4 == 0 ? 4 : vectors % 2 == 0 ? 2 : 1;
}

/* This thread's number and its team's size, inside a parallel region (0 and 1 without OpenMP). */
static inline void team_position(int *id, int *team) {
#ifdef _OPENMP
  *id = omp_get_thread_num();
  *team = omp_get_num_threads();
#else
  *id = 0;
  *team = 1;
#endif
}

/* Grow-only scratch arrays; the entry points are only ever called from one (the JS) thread. */
static float *scratch_padded, *scratch_filter, *scratch_grad;
static int64_t scratch_padded_n, scratch_filter_n, scratch_grad_n;

static float *scratch(float **buffer, int64_t *have, int64_t need) {
  if (need < 1) need = 1; /* an empty batch still gets a valid pointer */
  if (need > *have) {
    free(*buffer);
    *buffer = (float *)aligned_alloc(64, (size_t)((need * sizeof(float) + 63) / 64 * 64));
    *have = *buffer == NULL ? 0 : need;
  }
  return *buffer;
}

/*
 * Copies NHWC x [N, H, W, C] into a zeroed [N, HP, WP, C] array at row TOP, column LEFT; rows
 * and columns of the padded array outside x are zero.
 */
static void pad_images(const float *x, int64_t N, int64_t H, int64_t W, int64_t C, int64_t HP,
                       int64_t WP, int64_t TOP, int64_t LEFT, float *xp) {
  const int64_t rows = N * HP;
#pragma omp parallel for schedule(static) if (rows * WP * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / HP, ih = r % HP - TOP;
    float *o = xp + r * WP * C;
    if (ih < 0 || ih >= H) {
      memset(o, 0, sizeof(float) * WP * C);
      continue;
    }
    const int64_t right = WP - LEFT - W;
    memset(o, 0, sizeof(float) * LEFT * C);
    memcpy(o + LEFT * C, x + ((n * H + ih) * W) * C, sizeof(float) * W * C);
    if (right > 0) memset(o + (LEFT + W) * C, 0, sizeof(float) * right * C);
  }
}

/*
 * One forward tile: out[r][block] = Σ_{ky, t} px[r][ky·rowStride + t] · w[ky][t][block] for R
 * pixels, NV vectors of output channels. px[r] is pixel r's window corner in the padded input.
 */
static inline __attribute__((always_inline)) void forward_tile(
    const int R, const int NV, const float *const *px, int64_t KH, int64_t rowStride, int64_t T,
    const float *w, int64_t CO, float *const *po) {
  cvec acc[CV_ACC][4];
#pragma GCC unroll 24
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = (cvec){0};
  for (int64_t ky = 0; ky < KH; ky++) {
    const float *xr[CV_ACC];
#pragma GCC unroll 24
    for (int r = 0; r < R; r++) xr[r] = px[r] + ky * rowStride;
    const float *wk = w + ky * T * CO;
    for (int64_t t = 0; t < T; t++) {
      cvec b[4];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) b[v] = *(const cvec *)(wk + t * CO + v * CV_LANES);
#pragma GCC unroll 24
      for (int r = 0; r < R; r++) {
        const float a = xr[r][t];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] += b[v] * a;
      }
    }
  }
#pragma GCC unroll 24
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) *(cvec *)(po[r] + v * CV_LANES) = acc[r][v];
}

/*
 * out [N, OH, OW, CO] = padded xp [N, OH+KH-1, OW+KW-1, C] ⊛ w [KH, KW, C, CO]; CO is a multiple
 * of CV_LANES. Tiles run over all N·OH·OW pixels in order, so only the very last one is short.
 */
static void conv_padded(const float *xp, const float *w, float *out, int64_t N, int64_t OH,
                        int64_t OW, int64_t C, int64_t KH, int64_t KW, int64_t CO) {
  const int64_t NV = tile_vectors(CO), R = CV_ACC / NV, block = NV * CV_LANES;
  const int64_t HP = OH + KH - 1, WP = OW + KW - 1, T = KW * C, rowStride = WP * C;
  const int64_t pixels = N * OH * OW, tiles = (pixels + R - 1) / R;
#pragma omp parallel for schedule(static) if (pixels * T * KH * CO >= PARALLEL_MIN)
  for (int64_t tile = 0; tile < tiles; tile++) {
    const float *px[CV_ACC];
    float *po[CV_ACC];
    const int64_t p0 = tile * R, count = pixels - p0 < R ? pixels - p0 : R;
    for (int64_t r = 0; r < count; r++) {
      const int64_t p = p0 + r, n = p / (OH * OW), oy = p / OW % OH, ox = p % OW;
      px[r] = xp + ((n * HP + oy) * WP + ox) * C;
      po[r] = out + p * CO;
    }
    for (int64_t c0 = 0; c0 < CO; c0 += block) {
      float *pc[CV_ACC];
      for (int64_t r = 0; r < count; r++) pc[r] = po[r] + c0;
      if (count == R) {
        if (NV == 4) forward_tile(CV_ACC / 4, 4, px, KH, rowStride, T, w + c0, CO, pc);
        else if (NV == 2) forward_tile(CV_ACC / 2, 2, px, KH, rowStride, T, w + c0, CO, pc);
        else forward_tile(CV_ACC, 1, px, KH, rowStride, T, w + c0, CO, pc);
      } else {
        for (int64_t r = 0; r < count; r++) {
          if (NV == 4) forward_tile(1, 4, px + r, KH, rowStride, T, w + c0, CO, pc + r);
          else if (NV == 2) forward_tile(1, 2, px + r, KH, rowStride, T, w + c0, CO, pc + r);
          else forward_tile(1, 1, px + r, KH, rowStride, T, w + c0, CO, pc + r);
        }
      }
    }
  }
}

/* Images padded at a time: bounds the padded copy near 8 MB, whatever the batch. */
static int64_t images_per_chunk(int64_t image_floats) {
  const int64_t chunk = (INT64_C(2) << 20) / (image_floats > 0 ? image_floats : 1);
  return chunk < 1 ? 1 : chunk;
}

/*
 * Winograd F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016) for the stride-1 3×3 "same" convolutions: each 2×2 block of outputs comes from a 4×4
 * patch of input through 16 products per channel pair instead of 36, 2.25× fewer multiply-adds.
 * The three entry points below take it where winograd_tile() says; the products run in the same
 * register tiles as the direct convolutions (forward_tile's layout, through gemm_block), and the
 * transforms, cheap beside them, run per block of tiles in cache. Defined after gemm_block.
 */
static int winograd_largest = 4;

/* The largest Winograd output tile to use: 4 (the default: F(4×4, 3×3) where the size is a
 * multiple of 4, else F(2×2, 3×3)), 2 (F(2×2, 3×3) only) or 0 (off: the direct loops), for
 * tests and the benchmark's before/after. */
void cifar_native_set_winograd(int32_t largest) {
  winograd_largest = largest >= 4 ? 4 : largest >= 2 ? 2 : 0;
}

/* The output tile geometry g (with C input and CO output channels) takes: 4 or 2, or 0 for the
 * direct loops. Winograd needs a 3×3 filter, stride 1, padding 1 on every side (output as large
 * as the input), a height and width that the tile divides, and at least 8 channels on each side
 * (conv1's 3 input channels stay direct: too few to share the transforms' cost). */
static int winograd_tile(const int32_t *g, int64_t C, int64_t CO) {
  const int fits = g[G_KH] == 3 && g[G_KW] == 3 && g[G_SH] == 1 && g[G_SW] == 1 &&
                   g[G_TOP] == 1 && g[G_LEFT] == 1 && g[G_OH] == g[G_H] && g[G_OW] == g[G_W] &&
                   C >= 8 && CO >= 8;
  if (!fits) return 0;
  if (winograd_largest >= 4 && g[G_H] % 4 == 0 && g[G_W] % 4 == 0) return 4;
  if (winograd_largest >= 2 && g[G_H] % 2 == 0 && g[G_W] % 2 == 0) return 2;
  return 0;
}

int32_t cifar_winograd_tile(const int32_t *g, int32_t CO) { return winograd_tile(g, g[G_C], CO); }

static int32_t winograd_forward(const float *x, const float *w, int64_t N, int64_t H, int64_t W,
                                int64_t C, int64_t CO, int m, float *out);
static int32_t winograd_filter_grad(const float *x, const float *dy, int64_t N, int64_t H,
                                    int64_t W, int64_t C, int64_t CO, int m, float *dw);

/*
 * Forward convolution of NHWC x [N, g.H, g.W, g.C] with w [KH, KW, C, CO] into out
 * [N, OH, OW, CO]. Needs stride 1, pads in [0, K − 1] and CO a multiple of cifar_conv_lanes().
 * Like the two gradients below, returns 0, or 1 when its scratch memory cannot be allocated.
 */
int32_t cifar_conv_forward(const float *x, const float *w, const int32_t *g, int32_t N, int32_t CO,
                        float *out) {
  const int64_t H = g[G_H], W = g[G_W], C = g[G_C], OH = g[G_OH], OW = g[G_OW];
  const int64_t KH = g[G_KH], KW = g[G_KW];
  const int tile = winograd_tile(g, C, CO);
  if (tile) return winograd_forward(x, w, N, H, W, C, CO, tile, out);
  const int64_t HP = OH + KH - 1, WP = OW + KW - 1, step = images_per_chunk(HP * WP * C);
  float *xp = scratch(&scratch_padded, &scratch_padded_n, (N < step ? N : step) * HP * WP * C);
  if (xp == NULL) return 1;
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t count = N - n0 < step ? N - n0 : step;
    pad_images(x + n0 * H * W * C, count, H, W, C, HP, WP, g[G_TOP], g[G_LEFT], xp);
    conv_padded(xp, w, out + n0 * OH * OW * CO, count, OH, OW, C, KH, KW, CO);
  }
  return 0;
}

/*
 * Input gradient: dx [N, H, W, C] of the convolution with geometry g, from dy [N, OH, OW, CO]
 * and w [KH, KW, C, CO]. Needs stride 1, pads in [0, K − 1] and C a multiple of
 * cifar_conv_lanes().
 */
int32_t cifar_conv_input_grad(const float *dy, const float *w, const int32_t *g, int32_t N,
                           int32_t CO, float *dx) {
  const int64_t H = g[G_H], W = g[G_W], C = g[G_C], OH = g[G_OH], OW = g[G_OW];
  const int64_t KH = g[G_KH], KW = g[G_KW];
  /* dx[iy] = Σ_ky dy[iy + TOP − ky]·w[ky] = Σ_ky' dyp[iy + ky']·w'[ky'], w' flipped. */
  const int64_t HP = H + KH - 1, WP = W + KW - 1, step = images_per_chunk(HP * WP * CO);
  float *dyp = scratch(&scratch_padded, &scratch_padded_n, (N < step ? N : step) * HP * WP * CO);
  float *wt = scratch(&scratch_filter, &scratch_filter_n, KH * KW * C * CO);
  if (dyp == NULL || wt == NULL) return 1;
  for (int64_t ky = 0; ky < KH; ky++)
    for (int64_t kx = 0; kx < KW; kx++) {
      const float *src = w + ((KH - 1 - ky) * KW + (KW - 1 - kx)) * C * CO;
      float *dst = wt + (ky * KW + kx) * CO * C;
      for (int64_t c = 0; c < C; c++)
        for (int64_t o = 0; o < CO; o++) dst[o * C + c] = src[c * CO + o];
    }
  /* The same "same" 3×3 convolution of dy, with the flipped, transposed filter. */
  const int tile = winograd_tile(g, C, CO);
  if (tile) return winograd_forward(dy, wt, N, H, W, CO, C, tile, dx);
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t count = N - n0 < step ? N - n0 : step;
    pad_images(dy + n0 * OH * OW * CO, count, OH, OW, CO, HP, WP, KH - 1 - g[G_TOP],
               KW - 1 - g[G_LEFT], dyp);
    conv_padded(dyp, wt, dx + n0 * H * W * C, count, H, W, CO, KH, KW, C);
  }
  return 0;
}

/*
 * The register tile shared by the filter gradient and the batch-sized products below:
 *   acc[r][v] (+)= Σ_o Σ_s a[o·aos + r·ars + s·aps] · b[o·bos + s·bps + v·lanes]
 * R rows × NV vectors of output columns, held in registers over the whole walk (o < outer,
 * s < steps) and written once. Columns left over (a width not a multiple of the lanes) go through
 * the same tile with 4-lane vectors, then single floats.
 */
typedef float cvec4 __attribute__((vector_size(4 * sizeof(float)), aligned(4), may_alias));
typedef float cvec1 __attribute__((vector_size(sizeof(float)), aligned(4), may_alias));

/* How a tile walks its operands (see above). */
typedef struct {
  int64_t ars, aps, bps, steps, outer, aos, bos;
} tile_walk;

#define GEMM_TILE(NAME, VT, LANES) \
  static inline __attribute__((always_inline)) void NAME( \
      const int R, const int NV, const float *a, const float *b, const tile_walk *w, float *c, \
      int64_t ldc, int accumulate) { \
    const int64_t ars = w->ars, aps = w->aps, bps = w->bps, steps = w->steps; \
    VT acc[CV_ACC][4]; \
    _Pragma("GCC unroll 24") for (int r = 0; r < R; r++) \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) \
        acc[r][v] = accumulate ? *(const VT *)(c + r * ldc + v * LANES) : (VT){0}; \
    for (int64_t o = 0; o < w->outer; o++, a += w->aos, b += w->bos) \
      for (int64_t s = 0; s < steps; s++) { \
        VT bv[4]; \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) \
          bv[v] = *(const VT *)(b + s * bps + v * LANES); \
        _Pragma("GCC unroll 24") for (int r = 0; r < R; r++) { \
          const float x = a[r * ars + s * aps]; \
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] += bv[v] * x; \
        } \
      } \
    _Pragma("GCC unroll 24") for (int r = 0; r < R; r++) \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) \
        *(VT *)(c + r * ldc + v * LANES) = acc[r][v]; \
  }
GEMM_TILE(gemm_tile, cvec, CV_LANES)
GEMM_TILE(gemm_tile4, cvec4, 4)
GEMM_TILE(gemm_tile1, cvec1, 1)

#define GEMM_CASE(FN, RR, NVV) \
  case RR: FN(RR, NVV, a, b, w, c, ldc, accumulate); break;
#define GEMM_CASES_6(FN, NVV) \
  GEMM_CASE(FN, 1, NVV) GEMM_CASE(FN, 2, NVV) GEMM_CASE(FN, 3, NVV) \
  GEMM_CASE(FN, 4, NVV) GEMM_CASE(FN, 5, NVV) GEMM_CASE(FN, 6, NVV)
#define GEMM_CASES_12(FN, NVV) GEMM_CASES_6(FN, NVV) \
  GEMM_CASE(FN, 7, NVV) GEMM_CASE(FN, 8, NVV) GEMM_CASE(FN, 9, NVV) \
  GEMM_CASE(FN, 10, NVV) GEMM_CASE(FN, 11, NVV) GEMM_CASE(FN, 12, NVV)
#define GEMM_CASES_24(FN, NVV) GEMM_CASES_12(FN, NVV) \
  GEMM_CASE(FN, 13, NVV) GEMM_CASE(FN, 14, NVV) GEMM_CASE(FN, 15, NVV) \
  GEMM_CASE(FN, 16, NVV) GEMM_CASE(FN, 17, NVV) GEMM_CASE(FN, 18, NVV) \
  GEMM_CASE(FN, 19, NVV) GEMM_CASE(FN, 20, NVV) GEMM_CASE(FN, 21, NVV) \
  GEMM_CASE(FN, 22, NVV) GEMM_CASE(FN, 23, NVV) GEMM_CASE(FN, 24, NVV)

/* Every row of a column strip: full tiles, then one shorter tile (R a constant in each case). */
#define GEMM_ROWS_FN(NAME, FN, NVV, RMAX, CASES) \
  static void NAME(int64_t rows, const float *a, const float *b, const tile_walk *w, float *c, \
                   int64_t ldc, int accumulate) { \
    for (; rows >= RMAX; rows -= RMAX, a += RMAX * w->ars, c += RMAX * ldc) \
      FN(RMAX, NVV, a, b, w, c, ldc, accumulate); \
    switch (rows) { CASES(FN, NVV) default: break; } \
  }
#if CV_ACC == 24
#if CV_NV_MAX >= 4
GEMM_ROWS_FN(gemm_rows4, gemm_tile, 4, 6, GEMM_CASES_6)
#endif
GEMM_ROWS_FN(gemm_rows2, gemm_tile, 2, 12, GEMM_CASES_12)
GEMM_ROWS_FN(gemm_rows1, gemm_tile, 1, 24, GEMM_CASES_24)
GEMM_ROWS_FN(gemm_rows_4lanes, gemm_tile4, 1, 24, GEMM_CASES_24)
#else
#if CV_NV_MAX >= 4
GEMM_ROWS_FN(gemm_rows4, gemm_tile, 4, 3, GEMM_CASES_6)
#endif
GEMM_ROWS_FN(gemm_rows2, gemm_tile, 2, 6, GEMM_CASES_6)
GEMM_ROWS_FN(gemm_rows1, gemm_tile, 1, 12, GEMM_CASES_12)
GEMM_ROWS_FN(gemm_rows_4lanes, gemm_tile4, 1, 12, GEMM_CASES_12)
#endif
GEMM_ROWS_FN(gemm_rows_1lane, gemm_tile1, 1, 12, GEMM_CASES_12)

/*
 * A block of output rows [0, rows) × columns [0, width): vectors in strips of 4, 2, then 1, then
 * 4-lane vectors, then floats. `a`, `b` and `c` point at the block's first row and column.
 */
static void gemm_block(int64_t rows, int64_t width, const float *a, const float *b,
                       const tile_walk *w, float *c, int64_t ldc, int accumulate) {
  int64_t col = 0;
#if CV_NV_MAX >= 4
  for (; col + 4 * CV_LANES <= width; col += 4 * CV_LANES)
    gemm_rows4(rows, a, b + col, w, c + col, ldc, accumulate);
#endif
  for (; col + 2 * CV_LANES <= width; col += 2 * CV_LANES)
    gemm_rows2(rows, a, b + col, w, c + col, ldc, accumulate);
  for (; col + CV_LANES <= width; col += CV_LANES)
    gemm_rows1(rows, a, b + col, w, c + col, ldc, accumulate);
  for (; col + 4 <= width; col += 4)
    gemm_rows_4lanes(rows, a, b + col, w, c + col, ldc, accumulate);
  for (; col < width; col++)
    gemm_rows_1lane(rows, a, b + col, w, c + col, ldc, accumulate);
}

/*
 * Filter gradient: dw [KH, KW, C, CO] of the convolution with geometry g, from x [N, H, W, C]
 * and dy [N, OH, OW, CO]. Each thread sums its share of each chunk's images into its own array;
 * the arrays are then added in thread order. Needs stride 1, pads in [0, K − 1] and CO a multiple
 * of cifar_conv_lanes().
 */
int32_t cifar_conv_filter_grad(const float *x, const float *dy, const int32_t *g, int32_t N,
                            int32_t CO, float *dw) {
  const int64_t H = g[G_H], W = g[G_W], C = g[G_C], OH = g[G_OH], OW = g[G_OW];
  const int64_t KH = g[G_KH], KW = g[G_KW];
  const int tile = winograd_tile(g, C, CO);
  if (tile) return winograd_filter_grad(x, dy, N, H, W, C, CO, tile, dw);
  const int64_t HP = OH + KH - 1, WP = OW + KW - 1, T = KW * C, rowStride = WP * C;
  const int64_t size = KH * T * CO, step = images_per_chunk(HP * WP * C);
  int threads = 1;
#ifdef _OPENMP
  if ((int64_t)N * OH * OW * size >= PARALLEL_MIN && N > 1) {
    threads = omp_get_max_threads();
    if (threads > N) threads = N;
    if (threads > step) threads = (int)step;
  }
#endif
  float *xp = scratch(&scratch_padded, &scratch_padded_n, (N < step ? N : step) * HP * WP * C);
  float *partial = scratch(&scratch_grad, &scratch_grad_n, threads * size);
  if (xp == NULL || partial == NULL) return 1;
  float *sums = threads == 1 ? dw : partial;
  memset(sums, 0, sizeof(float) * threads * size);
  for (int64_t c0 = 0; c0 < N; c0 += step) {
    const int64_t count = N - c0 < step ? N - c0 : step;
    pad_images(x + c0 * H * W * C, count, H, W, C, HP, WP, g[G_TOP], g[G_LEFT], xp);
    const float *dyc = dy + c0 * OH * OW * CO;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      int id, team;
      team_position(&id, &team);
      float *mine = sums + id * size;
      /* dw[ky][t][o] += Σ_{oy, ox} xp[oy + ky][ox·C + t] · dy[oy][ox][o], t = kx·C + c. */
      const tile_walk walk = {.ars = 1, .aps = C, .bps = CO, .steps = OW, .outer = OH,
                              .aos = rowStride, .bos = OW * CO};
      for (int64_t n = count * id / team; n < count * (id + 1) / team; n++) {
        const float *image = xp + n * HP * rowStride, *dyn = dyc + n * OH * OW * CO;
        for (int64_t ky = 0; ky < KH; ky++)
          gemm_block(T, CO, image + ky * rowStride, dyn, &walk, mine + ky * T * CO, CO, 1);
      }
    }
  }
  if (threads > 1) {
    for (int64_t i = 0; i < size; i++) {
      float s = partial[i];
      for (int t = 1; t < threads; t++) s += partial[t * size + i];
      dw[i] = s;
    }
  }
  return 0;
}

/* Winograd tiles per block: a block's 16 transformed matrices of inputs (16 × WB × C floats) and
 * of products (16 × WB × CO) stay in L2 (384 KB and 768 KB at C = 64, CO = 128). */
#ifndef WB
#define WB 48
#endif
/* A block's matrices lie wb·width + 16 floats apart. Without the 16 (64 bytes), their rows at one
 * tile are a multiple of 4 KB apart (48 × 64 floats = 12 KB) and all fall into one L1 set, which
 * holds 12 lines: the transforms' 16 streams evicted one another (the input transform of conv4
 * took 0.84 ms, with the 16 0.53 ms, on one thread). */

static float *scratch_wino_u, *scratch_wino_blocks;
static int64_t scratch_wino_u_n, scratch_wino_blocks_n;

/* Threads a Winograd loop over `items` blocks runs on (1 without OpenMP or with one block). */
static int wino_threads(int64_t items) {
#ifdef _OPENMP
  int threads = omp_get_max_threads();
  return items < threads ? (int)(items < 1 ? 1 : items) : threads;
#else
  (void)items;
  return 1;
#endif
}

/* u[ξ][c][o] = (G·w[·][·][c][o]·Gᵀ)[ξ], ξ = 4i + j, for w [3, 3, C, CO]; G = [1 0 0; ½ ½ ½;
 * ½ −½ ½; 0 0 1]. */
static void winograd_filter(const float *w, int64_t C, int64_t CO, float *u) {
  const int64_t plane = C * CO;
#pragma omp parallel for schedule(static) if (9 * plane >= PARALLEL_MIN)
  for (int64_t c = 0; c < C; c++)
    for (int64_t o = 0; o < CO; o++) {
      const int64_t at = c * CO + o;
      float g[3][3], t[4][3];
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) g[a][b] = w[(a * 3 + b) * plane + at];
      for (int b = 0; b < 3; b++) {
        t[0][b] = g[0][b];
        t[1][b] = 0.5f * (g[0][b] + g[1][b] + g[2][b]);
        t[2][b] = 0.5f * (g[0][b] - g[1][b] + g[2][b]);
        t[3][b] = g[2][b];
      }
      for (int i = 0; i < 4; i++) {
        u[(4 * i + 0) * plane + at] = t[i][0];
        u[(4 * i + 1) * plane + at] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[(4 * i + 2) * plane + at] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[(4 * i + 3) * plane + at] = t[i][2];
      }
    }
}

/*
 * The per-tile transforms, on CV_LANES channels at a time (then single channels): VT is cvec or
 * float, and each body is written once for both. GCC does not vectorise the scalar form (its 16
 * loads and stores per channel, through pointers that may alias).
 */
#define LOAD(VT, p) (*(const VT *)(p))
#define STORE(VT, p, value) (*(VT *)(p) = (value))

/* v[ξ·vs + c] = (Bᵀ·d·B)[ξ] of the 4×4 patch d at xp (rows `row` floats apart, C channels);
 * Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]. */
#define WINOGRAD_INPUT_BODY(VT)                                                                  \
  {                                                                                              \
    VT t[4][4];                                                                                  \
    for (int j = 0; j < 4; j++) {                                                                \
      const VT d0 = LOAD(VT, xp + j * C + c), d1 = LOAD(VT, xp + row + j * C + c);               \
      const VT d2 = LOAD(VT, xp + 2 * row + j * C + c), d3 = LOAD(VT, xp + 3 * row + j * C + c); \
      t[0][j] = d0 - d2;                                                                         \
      t[1][j] = d1 + d2;                                                                         \
      t[2][j] = d2 - d1;                                                                         \
      t[3][j] = d1 - d3;                                                                         \
    }                                                                                            \
    for (int i = 0; i < 4; i++) {                                                                \
      STORE(VT, v + (4 * i + 0) * vs + c, t[i][0] - t[i][2]);                                    \
      STORE(VT, v + (4 * i + 1) * vs + c, t[i][1] + t[i][2]);                                    \
      STORE(VT, v + (4 * i + 2) * vs + c, t[i][2] - t[i][1]);                                    \
      STORE(VT, v + (4 * i + 3) * vs + c, t[i][1] - t[i][3]);                                    \
    }                                                                                            \
  }
static inline void winograd_input_tile(const float *xp, int64_t row, int64_t C, float *v,
                                       int64_t vs) {
  int64_t c = 0;
  for (; c + CV_LANES <= C; c += CV_LANES) WINOGRAD_INPUT_BODY(cvec)
  for (; c < C; c++) WINOGRAD_INPUT_BODY(float)
}

/* The 2×2 outputs (Aᵀ·m·A) of one tile from its 16 products m[ξ·ms + o], written to out (rows
 * `row` floats apart); Aᵀ = [1 1 1 0; 0 1 −1 −1]. */
#define WINOGRAD_OUTPUT_BODY(VT)                                                                 \
  {                                                                                              \
    VT s[2][4];                                                                                  \
    for (int j = 0; j < 4; j++) {                                                                \
      const VT m0 = LOAD(VT, m + j * ms + o), m1 = LOAD(VT, m + (4 + j) * ms + o);               \
      const VT m2 = LOAD(VT, m + (8 + j) * ms + o), m3 = LOAD(VT, m + (12 + j) * ms + o);        \
      s[0][j] = m0 + m1 + m2;                                                                    \
      s[1][j] = m1 - m2 - m3;                                                                    \
    }                                                                                            \
    for (int i = 0; i < 2; i++) {                                                                \
      STORE(VT, out + i * row + o, s[i][0] + s[i][1] + s[i][2]);                                 \
      STORE(VT, out + i * row + CO + o, s[i][1] - s[i][2] - s[i][3]);                            \
    }                                                                                            \
  }
static inline void winograd_output_tile(const float *m, int64_t ms, int64_t CO, float *out,
                                        int64_t row) {
  int64_t o = 0;
  for (; o + CV_LANES <= CO; o += CV_LANES) WINOGRAD_OUTPUT_BODY(cvec)
  for (; o < CO; o++) WINOGRAD_OUTPUT_BODY(float)
}

/* dm[ξ·ms + o] = (A·dy·Aᵀ)[ξ] of one tile's 2×2 output gradients at dy (rows `row` floats
 * apart): what the tile's 16 products receive, the output transform run backwards. */
#define WINOGRAD_GRAD_BODY(VT)                                                                   \
  {                                                                                              \
    const VT y00 = LOAD(VT, dy + o), y01 = LOAD(VT, dy + CO + o);                                \
    const VT y10 = LOAD(VT, dy + row + o), y11 = LOAD(VT, dy + row + CO + o);                    \
    const VT r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11},              \
                        {-y10, -y11}};                                                           \
    for (int i = 0; i < 4; i++) {                                                                \
      STORE(VT, dm + (4 * i + 0) * ms + o, r[i][0]);                                             \
      STORE(VT, dm + (4 * i + 1) * ms + o, r[i][0] + r[i][1]);                                   \
      STORE(VT, dm + (4 * i + 2) * ms + o, r[i][0] - r[i][1]);                                   \
      STORE(VT, dm + (4 * i + 3) * ms + o, -r[i][1]);                                            \
    }                                                                                            \
  }
static inline void winograd_grad_tile(const float *dy, int64_t row, int64_t CO, float *dm,
                                      int64_t ms) {
  int64_t o = 0;
  for (; o + CV_LANES <= CO; o += CV_LANES) WINOGRAD_GRAD_BODY(cvec)
  for (; o < CO; o++) WINOGRAD_GRAD_BODY(float)
}

/*
 * F(4×4, 3×3): 6×6 patches, 36 products per channel pair for 16 outputs (2.25 per output, against
 * 9 direct and 4 with F(2×2, 3×3)). The matrices (Lavin and Gray's):
 *   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
 *   G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
 *   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
 * Its rounding error is larger than F(2×2)'s (the transforms scale values by up to 5·5 and
 * 8·8), within 1e-4 of the largest value in the tests.
 */
#define BT6(VT, d, t) /* t[0..5] = Bᵀ·d[0..5] */                                               \
  do {                                                                                          \
    t[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];                                                    \
    t[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);                                                  \
    t[2] = d[4] - d[3] + 4.0f * (d[1] - d[2]);                                                  \
    t[3] = d[4] - d[2] + 2.0f * (d[3] - d[1]);                                                  \
    t[4] = d[4] - d[2] + 2.0f * (d[1] - d[3]);                                                  \
    t[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];                                                    \
  } while (0)
#define AT6(VT, m, y) /* y[0..3] = Aᵀ·m[0..5] */                                               \
  do {                                                                                          \
    const VT p12 = m[1] + m[2], d12 = m[1] - m[2], p34 = m[3] + m[4], d34 = m[3] - m[4];        \
    y[0] = m[0] + p12 + p34;                                                                    \
    y[1] = d12 + 2.0f * d34;                                                                    \
    y[2] = p12 + 4.0f * p34;                                                                    \
    y[3] = d12 + 8.0f * d34 + m[5];                                                             \
  } while (0)
#define A6(VT, y, r) /* r[0..5] = A·y[0..3], the output transform's transpose */                \
  do {                                                                                          \
    const VT p02 = y[0] + y[2], p13 = y[1] + y[3];                                              \
    r[0] = y[0];                                                                                \
    r[1] = p02 + p13;                                                                           \
    r[2] = p02 - p13;                                                                           \
    r[3] = y[0] + 2.0f * y[1] + 4.0f * y[2] + 8.0f * y[3];                                      \
    r[4] = y[0] - 2.0f * y[1] + 4.0f * y[2] - 8.0f * y[3];                                      \
    r[5] = y[3];                                                                                \
  } while (0)

/*
 * A separable 2-D transform Y = T·X·Tᵀ of an NI × NI patch into NO × NO: OP(VT, x, y) applies T
 * to one column x[0..NI) giving y[0..NO), first down each column, then along each row.
 * GET(VT, i, j) reads X's element, PUT(VT, i, j, value) writes Y's.
 */
#define SEPARABLE(VT, NI, NO, OP, GET, PUT)                                                     \
  {                                                                                             \
    VT t[NO][NI];                                                                               \
    for (int j = 0; j < NI; j++) {                                                              \
      VT x[NI], y[NO];                                                                          \
      for (int i = 0; i < NI; i++) x[i] = GET(VT, i, j);                                            \
      OP(VT, x, y);                                                                             \
      for (int k = 0; k < NO; k++) t[k][j] = y[k];                                              \
    }                                                                                           \
    for (int k = 0; k < NO; k++) {                                                              \
      VT y[NO];                                                                                 \
      OP(VT, t[k], y);                                                                          \
      for (int l = 0; l < NO; l++) PUT(VT, k, l, y[l]);                                         \
    }                                                                                           \
  }

/* v[ξ·vs + c] = (Bᵀ·d·B)[ξ] of the 6×6 patch at xp (rows `row` floats apart), ξ = 6i + j. */
#define IN4_GET(VT, i, j) LOAD(VT, xp + (i) * row + (j) * C + c)
#define IN4_PUT(VT, i, j, value) STORE(VT, v + (6 * (i) + (j)) * vs + c, value)
static inline void winograd4_input_tile(const float *xp, int64_t row, int64_t C, float *v,
                                        int64_t vs) {
  int64_t c = 0;
  for (; c + CV_LANES <= C; c += CV_LANES) SEPARABLE(cvec, 6, 6, BT6, IN4_GET, IN4_PUT)
  for (; c < C; c++) SEPARABLE(float, 6, 6, BT6, IN4_GET, IN4_PUT)
}

/* The 4×4 outputs (Aᵀ·m·A) of one tile from its 36 products m[ξ·ms + o]. */
#define OUT4_GET(VT, i, j) LOAD(VT, m + (6 * (i) + (j)) * ms + o)
#define OUT4_PUT(VT, i, j, value) STORE(VT, out + (i) * row + (j) * CO + o, value)
static inline void winograd4_output_tile(const float *m, int64_t ms, int64_t CO, float *out,
                                         int64_t row) {
  int64_t o = 0;
  for (; o + CV_LANES <= CO; o += CV_LANES) SEPARABLE(cvec, 6, 4, AT6, OUT4_GET, OUT4_PUT)
  for (; o < CO; o++) SEPARABLE(float, 6, 4, AT6, OUT4_GET, OUT4_PUT)
}

/* dm[ξ·ms + o] = (A·dy·Aᵀ)[ξ] of one tile's 4×4 output gradients: the output transform run
 * backwards. */
#define GRAD4_GET(VT, i, j) LOAD(VT, dy + (i) * row + (j) * CO + o)
#define GRAD4_PUT(VT, i, j, value) STORE(VT, dm + (6 * (i) + (j)) * ms + o, value)
static inline void winograd4_grad_tile(const float *dy, int64_t row, int64_t CO, float *dm,
                                       int64_t ms) {
  int64_t o = 0;
  for (; o + CV_LANES <= CO; o += CV_LANES) SEPARABLE(cvec, 4, 6, A6, GRAD4_GET, GRAD4_PUT)
  for (; o < CO; o++) SEPARABLE(float, 4, 6, A6, GRAD4_GET, GRAD4_PUT)
}

/* u[ξ][c][o] = (G·w·Gᵀ)[ξ] for F(4×4, 3×3), ξ = 6i + j. */
static void winograd4_filter(const float *w, int64_t C, int64_t CO, float *u) {
  const int64_t plane = C * CO;
#pragma omp parallel for schedule(static) if (9 * plane >= PARALLEL_MIN)
  for (int64_t at = 0; at < plane; at++) {
    float g[3][3], t[6][3];
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) g[a][b] = w[(a * 3 + b) * plane + at];
    for (int b = 0; b < 3; b++) {
      t[0][b] = g[0][b] / 4.0f;
      t[1][b] = -(g[0][b] + g[1][b] + g[2][b]) / 6.0f;
      t[2][b] = -(g[0][b] - g[1][b] + g[2][b]) / 6.0f;
      t[3][b] = g[0][b] / 24.0f + g[1][b] / 12.0f + g[2][b] / 6.0f;
      t[4][b] = g[0][b] / 24.0f - g[1][b] / 12.0f + g[2][b] / 6.0f;
      t[5][b] = g[2][b];
    }
    for (int i = 0; i < 6; i++) {
      const float *q = t[i];
      u[(6 * i + 0) * plane + at] = q[0] / 4.0f;
      u[(6 * i + 1) * plane + at] = -(q[0] + q[1] + q[2]) / 6.0f;
      u[(6 * i + 2) * plane + at] = -(q[0] - q[1] + q[2]) / 6.0f;
      u[(6 * i + 3) * plane + at] = q[0] / 24.0f + q[1] / 12.0f + q[2] / 6.0f;
      u[(6 * i + 4) * plane + at] = q[0] / 24.0f - q[1] / 12.0f + q[2] / 6.0f;
      u[(6 * i + 5) * plane + at] = q[2];
    }
  }
}

/* dw = Gᵀ·du·G for F(4×4, 3×3): du [36][C·CO] into dw [3][3][C·CO]. */
static void winograd4_filter_transpose(const float *du, int64_t plane, float *dw) {
#pragma omp parallel for schedule(static) if (9 * plane >= PARALLEL_MIN)
  for (int64_t at = 0; at < plane; at++) {
    float e[6][3];
    for (int i = 0; i < 6; i++) {
      float d[6];
      for (int j = 0; j < 6; j++) d[j] = du[(6 * i + j) * plane + at];
      e[i][0] = d[0] / 4.0f - (d[1] + d[2]) / 6.0f + (d[3] + d[4]) / 24.0f;
      e[i][1] = (d[2] - d[1]) / 6.0f + (d[3] - d[4]) / 12.0f;
      e[i][2] = (d[3] + d[4] - d[1] - d[2]) / 6.0f + d[5];
    }
    for (int b = 0; b < 3; b++) {
      float d[6];
      for (int i = 0; i < 6; i++) d[i] = e[i][b];
      dw[(0 * 3 + b) * plane + at] = d[0] / 4.0f - (d[1] + d[2]) / 6.0f + (d[3] + d[4]) / 24.0f;
      dw[(1 * 3 + b) * plane + at] = (d[2] - d[1]) / 6.0f + (d[3] - d[4]) / 12.0f;
      dw[(2 * 3 + b) * plane + at] = (d[3] + d[4] - d[1] - d[2]) / 6.0f + d[5];
    }
  }
}

/* dw = Gᵀ·du·G for F(2×2, 3×3): du [16][C·CO] into dw [3][3][C·CO]. */
static void winograd2_filter_transpose(const float *du, int64_t plane, float *dw) {
#pragma omp parallel for schedule(static) if (9 * plane >= PARALLEL_MIN)
  for (int64_t at = 0; at < plane; at++) {
    float e[4][3];
    for (int i = 0; i < 4; i++) {
      const float d0 = du[(4 * i) * plane + at], d1 = du[(4 * i + 1) * plane + at],
                  d2 = du[(4 * i + 2) * plane + at], d3 = du[(4 * i + 3) * plane + at];
      e[i][0] = d0 + 0.5f * (d1 + d2);
      e[i][1] = 0.5f * (d1 - d2);
      e[i][2] = 0.5f * (d1 + d2) + d3;
    }
    for (int b = 0; b < 3; b++) {
      dw[(0 * 3 + b) * plane + at] = e[0][b] + 0.5f * (e[1][b] + e[2][b]);
      dw[(1 * 3 + b) * plane + at] = 0.5f * (e[1][b] - e[2][b]);
      dw[(2 * 3 + b) * plane + at] = 0.5f * (e[1][b] + e[2][b]) + e[3][b];
    }
  }
}

/* Tiles per block, and the block's matrices (16 or 36). */
static inline int64_t winograd_block_tiles(int m) { return m == 4 ? WB / 2 : WB; }

/* Forward 3×3 "same" convolution of x [N, H, W, C] with w [3, 3, C, CO] into out [N, H, W, CO]
 * by F(m×m, 3×3), m = 2 or 4: blocks of tiles, each transformed, multiplied (one product per
 * matrix) and transformed back by one thread. */
static int32_t winograd_forward(const float *x, const float *w, int64_t N, int64_t H, int64_t W,
                                int64_t C, int64_t CO, int m, float *out) {
  const int64_t HP = H + 2, WP = W + 2, TH = H / m, TW = W / m, row = WP * C;
  const int64_t A = (m + 2) * (m + 2), wb = winograd_block_tiles(m);
  const int64_t step = images_per_chunk(HP * WP * C);
  const int64_t vs = wb * C + 16, ms = wb * CO + 16, per = A * (vs + ms);
  float *xp = scratch(&scratch_padded, &scratch_padded_n, (N < step ? N : step) * HP * WP * C);
  float *u = scratch(&scratch_wino_u, &scratch_wino_u_n, A * C * CO);
  const int threads = wino_threads((N * TH * TW + wb - 1) / wb);
  float *blocks = scratch(&scratch_wino_blocks, &scratch_wino_blocks_n, threads * per);
  if (xp == NULL || u == NULL || blocks == NULL) return 1;
  if (m == 4) winograd4_filter(w, C, CO, u);
  else winograd_filter(w, C, CO, u);
  const tile_walk walk = {.ars = C, .aps = 1, .bps = CO, .steps = C, .outer = 1};
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t count = N - n0 < step ? N - n0 : step, tiles = count * TH * TW;
    pad_images(x + n0 * H * W * C, count, H, W, C, HP, WP, 1, 1, xp);
    float *outc = out + n0 * H * W * CO;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      int id, team;
      team_position(&id, &team);
      float *v = blocks + id * per, *mm = v + A * vs;
#pragma omp for schedule(static)
      for (int64_t t0 = 0; t0 < tiles; t0 += wb) {
        const int64_t nb = tiles - t0 < wb ? tiles - t0 : wb;
        for (int64_t r = 0; r < nb; r++) {
          const int64_t t = t0 + r, n = t / (TH * TW), ty = t / TW % TH, tx = t % TW;
          const float *patch = xp + (n * HP + m * ty) * row + m * tx * C;
          if (m == 4) winograd4_input_tile(patch, row, C, v + r * C, vs);
          else winograd_input_tile(patch, row, C, v + r * C, vs);
        }
        for (int64_t xi = 0; xi < A; xi++)
          gemm_block(nb, CO, v + xi * vs, u + xi * C * CO, &walk, mm + xi * ms, CO, 0);
        for (int64_t r = 0; r < nb; r++) {
          const int64_t t = t0 + r, n = t / (TH * TW), ty = t / TW % TH, tx = t % TW;
          float *o = outc + ((n * H + m * ty) * W + m * tx) * CO;
          if (m == 4) winograd4_output_tile(mm + r * CO, ms, CO, o, W * CO);
          else winograd_output_tile(mm + r * CO, ms, CO, o, W * CO);
        }
      }
    }
  }
  return 0;
}

/* Filter gradient dw [3, 3, C, CO] of the 3×3 "same" convolution, from x [N, H, W, C] and dy
 * [N, H, W, CO], by F(m×m, 3×3) run backwards: per block of tiles, the transformed inputs and
 * the transformed output gradients are multiplied into each thread's own A × C × CO sums;
 * the threads' sums are added in thread order, and dw = Gᵀ·du·G. */
static int32_t winograd_filter_grad(const float *x, const float *dy, int64_t N, int64_t H,
                                    int64_t W, int64_t C, int64_t CO, int m, float *dw) {
  const int64_t HP = H + 2, WP = W + 2, TH = H / m, TW = W / m, row = WP * C;
  const int64_t A = (m + 2) * (m + 2), wb = winograd_block_tiles(m);
  const int64_t step = images_per_chunk(HP * WP * C), size = A * C * CO;
  const int64_t vs = wb * C + 16, ms = wb * CO + 16, per = A * (vs + ms) + size;
  float *xp = scratch(&scratch_padded, &scratch_padded_n, (N < step ? N : step) * HP * WP * C);
  const int threads = wino_threads((N * TH * TW + wb - 1) / wb);
  float *blocks = scratch(&scratch_wino_blocks, &scratch_wino_blocks_n, threads * per);
  if (xp == NULL || blocks == NULL) return 1;
  for (int t = 0; t < threads; t++) memset(blocks + t * per, 0, sizeof(float) * size);
  /* du[ξ][c][o] += Σ_r v[ξ][r][c] · dm[ξ][r][o]: rows c, steps r. */
  const tile_walk walk = {.ars = 1, .aps = C, .bps = CO, .outer = 1};
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t count = N - n0 < step ? N - n0 : step, tiles = count * TH * TW;
    pad_images(x + n0 * H * W * C, count, H, W, C, HP, WP, 1, 1, xp);
    const float *dyc = dy + n0 * H * W * CO;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      int id, team;
      team_position(&id, &team);
      float *du = blocks + id * per, *v = du + size, *dm = v + A * vs;
#pragma omp for schedule(static)
      for (int64_t t0 = 0; t0 < tiles; t0 += wb) {
        const int64_t nb = tiles - t0 < wb ? tiles - t0 : wb;
        for (int64_t r = 0; r < nb; r++) {
          const int64_t t = t0 + r, n = t / (TH * TW), ty = t / TW % TH, tx = t % TW;
          const float *patch = xp + (n * HP + m * ty) * row + m * tx * C;
          const float *grad = dyc + ((n * H + m * ty) * W + m * tx) * CO;
          if (m == 4) {
            winograd4_input_tile(patch, row, C, v + r * C, vs);
            winograd4_grad_tile(grad, W * CO, CO, dm + r * CO, ms);
          } else {
            winograd_input_tile(patch, row, C, v + r * C, vs);
            winograd_grad_tile(grad, W * CO, CO, dm + r * CO, ms);
          }
        }
        tile_walk block = walk;
        block.steps = nb;
        for (int64_t xi = 0; xi < A; xi++)
          gemm_block(C, CO, v + xi * vs, dm + xi * ms, &block, du + xi * C * CO, CO, 1);
      }
    }
  }
  for (int64_t i = 0; i < size; i++) {
    float sum = blocks[i];
    for (int t = 1; t < threads; t++) sum += blocks[t * per + i];
    blocks[i] = sum;
  }
  if (m == 4) winograd4_filter_transpose(blocks, C * CO, dw);
  else winograd2_filter_transpose(blocks, C * CO, dw);
  return 0;
}

/*
 * Matrix products with one small dimension: the dense layers' forward product C = A·B with few
 * rows in A (the batch), its input gradient D·Wᵀ, and its weight gradient G = Aᵀ·D, summed over
 * the batch. OpenBLAS reaches ~90 GFLOP/s on these shapes at batch 30; the register tile above,
 * held over the whole (or a cache-sized block of the) reduction, does better.
 */

/* Reduction steps (rows of B, or of G) per block: 64 rows of B, 128 KB at 500 columns, stay in
 * L2 while every row of A passes over them. */
#define GEMM_STEPS 64

static float *scratch_gemm;
static int64_t scratch_gemm_n;

/*
 * Copies columns [k0, k0 + steps) of A [M×K] into `packed`: transposed ([steps][M]) when
 * `transpose`, else as [M][steps]. A's rows lie K floats apart — 32 KB for the first dense layer,
 * which puts them all in one L1 cache set — so the tiles read a packed copy instead.
 */
static void pack_columns(const float *A, int64_t M, int64_t K, int64_t k0, int64_t steps,
                         int transpose, float *packed) {
  for (int64_t m = 0; m < M; m++) {
    const float *row = A + m * K + k0;
    if (transpose)
      for (int64_t s = 0; s < steps; s++) packed[s * M + m] = row[s];
    else memcpy(packed + m * steps, row, sizeof(float) * steps);
  }
}

/*
 * C [M×N] = A [M×K] · B [K×N], all row-major and dense, for small M (the batch). Each thread
 * takes a contiguous range of K, so that it streams its rows of B from memory once and in order,
 * and sums into its own C; the partial Cs are then added in thread order. Returns 0, or 1 when
 * its scratch memory cannot be allocated.
 */
int32_t cifar_gemm_small_m(const float *A, const float *B, float *C, int64_t M, int64_t N,
                           int64_t K) {
  int threads = 1;
#ifdef _OPENMP
  if (M * N * K >= PARALLEL_MIN * 8 && K >= 2 * GEMM_STEPS) threads = omp_get_max_threads();
#endif
  const int64_t packSize = M * GEMM_STEPS, partialSize = threads > 1 ? M * N : 0;
  float *work = scratch(&scratch_gemm, &scratch_gemm_n, threads * (packSize + partialSize));
  if (work == NULL) return 1;
  if (K == 0) memset(C, 0, sizeof(float) * M * N);
  int used = 1; /* OpenMP may start fewer threads than asked for */
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    int id, team;
    team_position(&id, &team);
    if (id == 0) used = team;
    float *packed = work + id * (packSize + partialSize), *mine = threads > 1 ? packed + packSize : C;
    /* Split K on GEMM_STEPS boundaries. */
    const int64_t chunks = (K + GEMM_STEPS - 1) / GEMM_STEPS;
    const int64_t first = chunks * id / team * GEMM_STEPS;
    const int64_t last = chunks * (id + 1) / team * GEMM_STEPS, end = last < K ? last : K;
    if (first >= end) memset(mine, 0, sizeof(float) * M * N);
    for (int64_t k0 = first; k0 < end; k0 += GEMM_STEPS) {
      const int64_t steps = end - k0 < GEMM_STEPS ? end - k0 : GEMM_STEPS;
      pack_columns(A, M, K, k0, steps, 1, packed);
      const tile_walk walk = {.ars = 1, .aps = M, .bps = N, .steps = steps, .outer = 1};
      gemm_block(M, N, packed, B + k0 * N, &walk, mine, N, k0 > first);
    }
  }
  if (threads > 1) {
    for (int64_t i = 0; i < M * N; i++) {
      float sum = work[packSize + i];
      for (int t = 1; t < used; t++) sum += work[t * (packSize + partialSize) + packSize + i];
      C[i] = sum;
    }
  }
  return 0;
}

/*
 * G [K×N] = Aᵀ · D with A [M×K] and D [M×N] row-major: the weight gradient of a dense layer,
 * summed over a small batch M. Threads take blocks of GEMM_STEPS rows of G; each tile sums all M
 * in registers and writes its outputs once. Returns 0, or 1 when its scratch memory cannot be
 * allocated.
 */
int32_t cifar_gemm_small_k_tn(const float *A, const float *D, float *G, int64_t M, int64_t N,
                              int64_t K) {
  const int64_t blocks = (K + GEMM_STEPS - 1) / GEMM_STEPS, packSize = M * GEMM_STEPS;
  int threads = 1;
#ifdef _OPENMP
  if (M * N * K >= PARALLEL_MIN * 8) threads = omp_get_max_threads();
#endif
  float *work = scratch(&scratch_gemm, &scratch_gemm_n, threads * packSize);
  if (work == NULL) return 1;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t blk = 0; blk < blocks; blk++) {
    int id, team;
    team_position(&id, &team);
    const int64_t k0 = blk * GEMM_STEPS, rows = K - k0 < GEMM_STEPS ? K - k0 : GEMM_STEPS;
    if (M == 0) {
      memset(G + k0 * N, 0, sizeof(float) * rows * N);
      continue;
    }
    float *packed = work + id * packSize;
    pack_columns(A, M, K, k0, rows, 0, packed);
    const tile_walk walk = {.ars = 1, .aps = rows, .bps = N, .steps = M, .outer = 1};
    gemm_block(rows, N, packed, D, &walk, G + k0 * N, N, 0);
  }
  return 0;
}

/*
 * C [M×K] = D [M×N] · Wᵀ with W [K×N] row-major, for small M: a dense layer's input gradient.
 * Computed as Cᵀ = W · Dᵀ, tiled over rows of W with the M columns of Dᵀ (zero-padded to whole
 * vectors) as the vector axis, so that W streams once, row by row; each block of Cᵀ is then
 * written transposed into C. Returns 0, or 1 when its scratch memory cannot be allocated.
 */
int32_t cifar_gemm_small_m_nt(const float *D, const float *W, float *C, int64_t M, int64_t N,
                              int64_t K) {
  const int64_t MP = (M + CV_LANES - 1) / CV_LANES * CV_LANES;
  const int64_t blocks = (K + GEMM_STEPS - 1) / GEMM_STEPS, blockSize = GEMM_STEPS * MP;
  int threads = 1;
#ifdef _OPENMP
  if (M * N * K >= PARALLEL_MIN * 8) threads = omp_get_max_threads();
#endif
  float *work = scratch(&scratch_gemm, &scratch_gemm_n, N * MP + threads * blockSize);
  if (work == NULL) return 1;
  float *dt = work;
  for (int64_t n = 0; n < N; n++) {
    for (int64_t m = 0; m < M; m++) dt[n * MP + m] = D[m * N + n];
    for (int64_t m = M; m < MP; m++) dt[n * MP + m] = 0.0f;
  }
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t blk = 0; blk < blocks; blk++) {
    int id, team;
    team_position(&id, &team);
    const int64_t k0 = blk * GEMM_STEPS, rows = K - k0 < GEMM_STEPS ? K - k0 : GEMM_STEPS;
    float *block = work + N * MP + id * blockSize;
    if (N == 0) memset(block, 0, sizeof(float) * rows * MP);
    else {
      const tile_walk walk = {.ars = N, .aps = 1, .bps = MP, .steps = N, .outer = 1};
      gemm_block(rows, MP, W + k0 * N, dt, &walk, block, MP, 0);
    }
    for (int64_t m = 0; m < M; m++)
      for (int64_t r = 0; r < rows; r++) C[m * K + k0 + r] = block[r * MP + m];
  }
  return 0;
}

/*
 * The machine's fused multiply-add peak at this build's vector width: every OpenMP thread runs
 * `rounds` rounds of CV_ACC independent vector FMAs (acc = acc · a + b). CV_ACC chains (24 of 16
 * lanes on AVX-512, 12 of 8 on AVX2) cover the FMA latency (4 cycles) on two FMA units, so the
 * loop is bound by FMA throughput alone: no loads, no stores. Returns the floating-point
 * operations done (2 per lane per FMA) and writes the threads' sums to sink[0], so the compiler
 * cannot drop the work (nor fold the rounds: without -ffast-math each rounding is kept).
 * a · x + b with a slightly below 1 keeps every value finite and normal.
 */
double cifar_fma_peak(int64_t rounds, float *sink) {
  double total = 0;
  int32_t threads = 1;
  float sum = 0;
#pragma omp parallel reduction(+ : sum)
  {
#ifdef _OPENMP
#pragma omp single
    threads = omp_get_num_threads();
#endif
    cvec acc[CV_ACC];
    const cvec a = (cvec){0} + 0.999999f, b = (cvec){0} + 1e-6f;
    for (int i = 0; i < CV_ACC; i++) acc[i] = (cvec){0} + (float)(i + 1) * 0.01f;
    for (int64_t r = 0; r < rounds; r++) {
#pragma GCC unroll 24
      for (int i = 0; i < CV_ACC; i++) acc[i] = acc[i] * a + b;
    }
    for (int i = 0; i < CV_ACC; i++)
      for (int l = 0; l < CV_LANES; l++) sum += acc[i][l];
  }
  sink[0] = sum;
  total = 2.0 * (double)CV_LANES * CV_ACC * (double)rounds * threads;
  return total;
}

#ifdef __clang__
#pragma clang fp contract(off)
#else
#pragma GCC pop_options
#endif
