/*
 * Native companions of the "blas" backend's JS kernels (lib/kernels/_blas_*.ts): the same loops,
 * compiled with the machine's C compiler and run on every core through OpenMP. Each function
 * computes exactly what its JS twin computes — same operations, same order, same rounding — so
 * results are bit for bit those of the JS path (tests/blas_test.ts compares them). That is why
 * the build uses -ffp-contract=off (no fused multiply-add) and never -ffast-math.
 *
 * Built and loaded by lib/kernels/_native_ffi.ts; every entry point is called through Deno's FFI.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many values a loop runs on one thread: waking a second costs more than it saves. */
#define PARALLEL_MIN 32768

/* Version of this interface; the TS side refuses a library that reports another one. */
int32_t cifar_native_version(void) { return 1; }

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
 * (col2im in _blas_kernels.ts) adds them — output row, then output column, ascending — starting
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

/* Routes each window's gradient to its first maximum; dx must arrive zeroed. */
void cifar_max_pool_grad_2x2(const float *x, const float *dy, const int32_t *g, float *dx) {
  const int64_t H = g[P_H], W = g[P_W], C = g[P_C], OH = g[P_OH], OW = g[P_OW];
  const int64_t rows = (int64_t)g[P_N] * OH, rowStride = W * C;
#pragma omp parallel for schedule(static) if (rows * OW * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / OH, oh = r % OH;
    const int64_t base = (n * H + 2 * oh) * rowStride;
    const float *d = dy + r * OW * C;
    for (int64_t ow = 0; ow < OW; ow++, d += C) {
      const int64_t p = base + 2 * ow * C;
      for (int64_t c = 0; c < C; c++) {
        const int64_t i0 = p + c, i1 = i0 + C, i2 = i0 + rowStride, i3 = i2 + C;
        float best = -INFINITY;
        int64_t at = -1;
        if (x[i0] > best) { best = x[i0]; at = i0; }
        if (x[i1] > best) { best = x[i1]; at = i1; }
        if (x[i2] > best) { best = x[i2]; at = i2; }
        if (x[i3] > best) { best = x[i3]; at = i3; }
        if (at >= 0) dx[at] = d[c];
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
