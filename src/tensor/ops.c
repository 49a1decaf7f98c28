/*
 * ops.c — element-wise and row-wise transformer operations (see ops.h).
 *
 * Plain C loops over contiguous floats, simple enough for the compiler to vectorize.
 * Reductions whose rounding matters (the sums in the norms and the softmax) accumulate in
 * double: rows are a few thousand values long, so this costs little next to the matrix
 * products and keeps results close to the exact formula (ggml sums in double too).
 *
 * RoPE follows ggml's recipe for the angle so results match llama.cpp closely: the angle of
 * pair i starts at pos and is multiplied by base^(-2/n_rot) once per pair in float, then
 * divided by the pair's frequency factor and scaled by freq_scale.
 */
#include "tensor/ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void tq_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    const float scale = (float)(1.0 / sqrt(ss / n + eps));
    if (w) {
        for (int i = 0; i < n; i++)
            out[i] = x[i] * scale * w[i];
    } else {
        tq_scale(out, x, scale, n);
    }
}

void tq_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    const float mean = (float)(sum / n);
    double var = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        var += d * d;
    }
    const float scale = (float)(1.0 / sqrt(var / n + eps));
    for (int i = 0; i < n; i++) {
        float v = (x[i] - mean) * scale;
        if (w)
            v *= w[i];
        if (b)
            v += b[i];
        out[i] = v;
    }
}

/* A row that is entirely -INFINITY (a fully masked attention row) has no defined softmax;
 * it becomes all zeros so it contributes nothing downstream instead of NaNs. */
void tq_softmax(float *x, int n)
{
    if (n <= 0)
        return;
    float max = x[0];
    for (int i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) {
        for (int i = 0; i < n; i++)
            x[i] = 0.0f;
        return;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    tq_scale(x, x, (float)(1.0 / sum), n);
}

void tq_rope(float *x, int head_dim, int n_rot, int pos, float base, float freq_scale,
             const float *freq_factors, int neox)
{
    if (n_rot > head_dim)
        n_rot = head_dim;
    const int half = n_rot / 2;
    const float step = powf(base, -2.0f / (float)n_rot);
    const int stride = neox ? half : 1;   /* distance between the two values of a pair */
    float theta = (float)pos;
    for (int i = 0; i < half; i++) {
        float t = theta;
        if (freq_factors)
            t /= freq_factors[i];
        t *= freq_scale;
        const float c = cosf(t), s = sinf(t);
        float *p = neox ? x + i : x + 2 * i;
        const float a = p[0], b = p[stride];
        p[0] = a * c - b * s;
        p[stride] = a * s + b * c;
        theta *= step;
    }
}

void tq_rope_cache(float *cs, int n_rot, int pos, float base, float freq_scale,
                   const float *freq_factors)
{
    const float step = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float t = theta;
        if (freq_factors)
            t /= freq_factors[i];
        t *= freq_scale;
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= step;
    }
}

void tq_rope_apply(float *x, int n_rot, const float *cs, int neox)
{
    const int half = n_rot / 2, stride = neox ? half : 1;
    for (int i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        float *p = neox ? x + i : x + 2 * i;
        const float a = p[0], b = p[stride];
        p[0] = a * c - b * s;
        p[stride] = a * s + b * c;
    }
}

/* e^x for the SiLU, in plain arithmetic the vectorizer turns into SIMD code (a call to
 * libm's expf keeps the loop scalar: it was 4 % of a 512-token prompt). x = n ln2 + r with
 * |r| <= ln2/2 (ln2 split in two parts so n ln2 is exact), e^r by its Taylor series to r^6
 * (truncation below 1.3e-7 relative), and 2^n built in the exponent bits. Inputs are clamped
 * to [-87, 88], where 2^n stays a normal float; silu() gives 0 below x = -88, where the
 * clamped e^-x would otherwise leave x / 1.6e38 (not small for a huge x). */
static inline float silu_exp(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504f + shift;
    float n = t - shift;
    float r = x - n * 0.693145752f;  /* ln2, high part: n * it is exact */
    r = r - n * 1.42860677e-06f;     /* ln2, low part */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
                                     r * (1.0f / 120 + r * (1.0f / 720))))));
    uint32_t ti, bits; /* unsigned: a NaN's bits must wrap, not overflow */
    memcpy(&ti, &t, sizeof ti);
    bits = (ti - 0x4b400000u + 127u) << 23; /* t's low mantissa bits hold n + 2^22 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float silu(float x)
{
    return x < -88.0f ? 0.0f : x / (1.0f + silu_exp(-x));
}

void tq_silu(float *out, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = silu(x[i]);
}

void tq_gelu(float *out, const float *x, int n)
{
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int i = 0; i < n; i++) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void tq_gelu_erf(float *out, const float *x, int n)
{
    const float r = 0.7071067811865476f; /* 1 / sqrt(2) */
    for (int i = 0; i < n; i++)
        out[i] = 0.5f * x[i] * (1.0f + erff(x[i] * r));
}

void tq_add(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void tq_mul(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

void tq_scale(float *out, const float *x, float s, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = x[i] * s;
}

void tq_swiglu(float *out, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = silu(gate[i]) * up[i];
}

/* Sixteen independent partial sums: they break the add-latency chain and map onto vector
 * registers, which float addition order would otherwise forbid the compiler to do. */
float tq_dot_f32(const float *a, const float *b, int n)
{
    enum { LANES = 16 };
    float acc[LANES] = { 0 };
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[i + l] * b[i + l];
    float sum = 0;
    for (int l = 0; l < LANES; l++)
        sum += acc[l];
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

void tq_axpy(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}
