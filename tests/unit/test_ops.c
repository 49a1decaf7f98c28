/* Tests for tensor/ops.c against the defining formulas evaluated in double, published
 * constants, and algebraic properties (RoPE: identity at 0, norm preservation, relative
 * position). */
#include "test.h"

#include <stdint.h>
#include <float.h>
#include <math.h>

#include "base/mem.h"

#include "tensor/ops.h"

/* A small deterministic generator, uniform in [-1, 1). */
static float rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) / 16777216.0 * 2.0 - 1.0);
}

static void fill(float *x, int n, uint32_t seed, float amp)
{
    for (int i = 0; i < n; i++)
        x[i] = amp * rnd(&seed);
}

TEST(ops_softmax_formula)
{
    enum { N = 37 };
    float x[N], y[N];
    fill(x, N, 1, 8.0f);
    memcpy(y, x, sizeof x);
    tq_softmax(y, N);
    double max = x[0], sum = 0, total = 0;
    for (int i = 1; i < N; i++)
        max = x[i] > max ? x[i] : max;
    for (int i = 0; i < N; i++)
        sum += exp(x[i] - max);
    for (int i = 0; i < N; i++) {
        CHECK_NEAR(y[i], exp(x[i] - max) / sum, 1e-6);
        total += y[i];
    }
    CHECK_NEAR(total, 1.0, 1e-6);

    /* Large logits must not overflow: only their differences matter. */
    float big[3] = { 1000.0f, 1001.0f, 1002.0f };
    tq_softmax(big, 3);
    double e = exp(1.0), d = 1 + e + e * e;
    CHECK_NEAR(big[0], 1 / d, 1e-6);
    CHECK_NEAR(big[2], e * e / d, 1e-6);
}

TEST(ops_softmax_neg_infinity)
{
    float x[5] = { 0.5f, -INFINITY, -1.0f, -INFINITY, 2.0f };
    tq_softmax(x, 5);
    double d = exp(0.5) + exp(-1.0) + exp(2.0);
    CHECK(x[1] == 0.0f && x[3] == 0.0f);
    CHECK_NEAR(x[0], exp(0.5) / d, 1e-6);
    CHECK_NEAR(x[2], exp(-1.0) / d, 1e-6);
    CHECK_NEAR(x[4], exp(2.0) / d, 1e-6);

    /* A fully masked row becomes zeros, not NaNs. */
    float m[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
    tq_softmax(m, 4);
    for (int i = 0; i < 4; i++)
        CHECK(m[i] == 0.0f);

    float one = 3.0f;
    tq_softmax(&one, 1);
    CHECK(one == 1.0f);
}

TEST(ops_rmsnorm_formula)
{
    enum { N = 100 };
    float x[N], w[N], y[N], z[N];
    fill(x, N, 2, 3.0f);
    fill(w, N, 3, 2.0f);
    const float eps = 1e-5f;
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += (double)x[i] * x[i];
    double r = 1 / sqrt(ss / N + eps);
    tq_rmsnorm(y, x, w, N, eps);
    tq_rmsnorm(z, x, NULL, N, eps);
    for (int i = 0; i < N; i++) {
        CHECK_NEAR(y[i], x[i] * r * w[i], 1e-5);
        CHECK_NEAR(z[i], x[i] * r, 1e-5);
    }
    /* In place gives the same result. */
    memcpy(z, x, sizeof x);
    tq_rmsnorm(z, z, w, N, eps);
    for (int i = 0; i < N; i++)
        CHECK(z[i] == y[i]);
    /* eps matters for an all-zero row: the result is 0, not NaN. */
    float zero[4] = { 0 };
    tq_rmsnorm(zero, zero, NULL, 4, 1e-6f);
    CHECK(zero[0] == 0.0f && zero[3] == 0.0f);
}

TEST(ops_layernorm_formula)
{
    enum { N = 77 };
    float x[N], w[N], b[N], y[N], z[N];
    fill(x, N, 4, 5.0f);
    for (int i = 0; i < N; i++)
        x[i] += 10.0f; /* a large mean: centering must be exact enough */
    fill(w, N, 5, 1.5f);
    fill(b, N, 6, 0.5f);
    const float eps = 1e-12f;
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++)
        mean += x[i];
    mean /= N;
    for (int i = 0; i < N; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= N;
    double r = 1 / sqrt(var + eps);
    tq_layernorm(y, x, w, b, N, eps);
    tq_layernorm(z, x, NULL, NULL, N, eps);
    double zm = 0, zv = 0;
    for (int i = 0; i < N; i++) {
        CHECK_NEAR(y[i], (x[i] - mean) * r * w[i] + b[i], 2e-5);
        CHECK_NEAR(z[i], (x[i] - mean) * r, 2e-5);
        zm += z[i];
        zv += (double)z[i] * z[i];
    }
    CHECK_NEAR(zm / N, 0.0, 1e-5);
    CHECK_NEAR(zv / N, 1.0, 1e-5);
}

TEST(ops_activation_known_values)
{
    /* GELU with erf at 1 is Phi(1), the standard normal CDF. */
    float x[5] = { 1.0f, -1.0f, 0.0f, 2.0f, -3.0f }, y[5];
    tq_gelu_erf(y, x, 5);
    CHECK_NEAR(y[0], 0.8413447460685429, 1e-6);
    CHECK_NEAR(y[1], -0.15865525393145707, 1e-6);
    CHECK(y[2] == 0.0f);
    /* The tanh approximation at 1 (a published value), and the formula elsewhere. */
    tq_gelu(y, x, 5);
    CHECK_NEAR(y[0], 0.8411919906082768, 1e-6);
    for (int i = 0; i < 5; i++) {
        double v = x[i];
        double g = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        CHECK_NEAR(y[i], g, 1e-6);
    }
    enum { N = 50 };
    float a[N], s[N], u[N], o[N];
    fill(a, N, 7, 10.0f);
    fill(u, N, 8, 2.0f);
    tq_silu(s, a, N);
    tq_swiglu(o, a, u, N);
    for (int i = 0; i < N; i++) {
        double si = a[i] / (1 + exp(-(double)a[i]));
        CHECK_NEAR(s[i], si, 1e-5 * (1 + fabs(si)));
        CHECK_NEAR(o[i], si * u[i], 1e-5 * (1 + fabs(si * u[i])));
    }
}

TEST(ops_elementwise_and_dot)
{
    enum { N = 45 };
    float a[N], b[N], o[N], y[N];
    fill(a, N, 9, 3.0f);
    fill(b, N, 10, 3.0f);
    tq_add(o, a, b, N);
    for (int i = 0; i < N; i++)
        CHECK(o[i] == a[i] + b[i]);
    tq_mul(o, a, b, N);
    for (int i = 0; i < N; i++)
        CHECK(o[i] == a[i] * b[i]);
    tq_scale(o, a, -0.25f, N);
    for (int i = 0; i < N; i++)
        CHECK(o[i] == a[i] * -0.25f);
    memcpy(y, b, sizeof b);
    tq_axpy(y, 1.5f, a, N);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(y[i], b[i] + 1.5 * a[i], 1e-6);
    /* Every length from 0 to N exercises the blocked body and the tail. */
    for (int n = 0; n <= N; n++) {
        double d = 0;
        for (int i = 0; i < n; i++)
            d += (double)a[i] * b[i];
        CHECK_NEAR(tq_dot_f32(a, b, n), d, 1e-5);
    }
}

/* ---- RoPE ------------------------------------------------------------------------------ */

static double dotd(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

TEST(ops_rope_hand_computed)
{
    /* head_dim 4, base 10000, pos 1: pair 0 turns by 1 rad, pair 1 by 10000^(-1/2) = 0.01. */
    const double c1 = 0.5403023058681398, s1 = 0.8414709848078965;   /* cos 1, sin 1 */
    const double c2 = 0.9999500004166653, s2 = 0.009999833334166664; /* cos .01, sin .01 */
    float v[4] = { 1, 2, 3, 4 };
    tq_rope(v, 4, 4, 1, 10000.0f, 1.0f, NULL, 0); /* pairs (0,1), (2,3) */
    CHECK_NEAR(v[0], 1 * c1 - 2 * s1, 1e-6);
    CHECK_NEAR(v[1], 1 * s1 + 2 * c1, 1e-6);
    CHECK_NEAR(v[2], 3 * c2 - 4 * s2, 1e-6);
    CHECK_NEAR(v[3], 3 * s2 + 4 * c2, 1e-6);

    float w[4] = { 1, 2, 3, 4 };
    tq_rope(w, 4, 4, 1, 10000.0f, 1.0f, NULL, 1); /* NeoX: pairs (0,2), (1,3) */
    CHECK_NEAR(w[0], 1 * c1 - 3 * s1, 1e-6);
    CHECK_NEAR(w[2], 1 * s1 + 3 * c1, 1e-6);
    CHECK_NEAR(w[1], 2 * c2 - 4 * s2, 1e-6);
    CHECK_NEAR(w[3], 2 * s2 + 4 * c2, 1e-6);

    /* Only the first n_rot dims turn. */
    float p[6] = { 1, 2, 3, 4, 5, 6 };
    tq_rope(p, 6, 4, 1, 10000.0f, 1.0f, NULL, 1);
    CHECK_NEAR(p[0], 1 * c1 - 3 * s1, 1e-6);
    CHECK(p[4] == 5.0f && p[5] == 6.0f);
}

TEST(ops_rope_freq_factors_and_scale)
{
    /* pos 2, factors {1, 4}: pair 0 turns by 2 rad, pair 1 by 2 * 0.01 / 4 = 0.005. */
    const float ff[2] = { 1.0f, 4.0f };
    float v[4] = { 1, 2, 3, 4 };
    tq_rope(v, 4, 4, 2, 10000.0f, 1.0f, ff, 0);
    CHECK_NEAR(v[0], 1 * cos(2.0) - 2 * sin(2.0), 1e-6);
    CHECK_NEAR(v[1], 1 * sin(2.0) + 2 * cos(2.0), 1e-6);
    CHECK_NEAR(v[2], 3 * cos(0.005) - 4 * sin(0.005), 1e-6);
    CHECK_NEAR(v[3], 3 * sin(0.005) + 4 * cos(0.005), 1e-6);

    /* freq_scale 0.5 at position 4 is the rotation of position 2. */
    float a[8], b[8];
    fill(a, 8, 11, 1.0f);
    memcpy(b, a, sizeof a);
    tq_rope(a, 8, 8, 4, 10000.0f, 0.5f, NULL, 1);
    tq_rope(b, 8, 8, 2, 10000.0f, 1.0f, NULL, 1);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(a[i], b[i], 1e-6);
}

TEST(ops_rope_identity_and_norm)
{
    enum { D = 128 };
    float x[D], y[D];
    fill(x, D, 12, 1.0f);
    for (int neox = 0; neox <= 1; neox++) {
        memcpy(y, x, sizeof x);
        tq_rope(y, D, D, 0, 10000.0f, 1.0f, NULL, neox);
        CHECK(memcmp(x, y, sizeof x) == 0);
        tq_rope(y, D, D, 1234, 500000.0f, 1.0f, NULL, neox);
        CHECK(memcmp(x, y, sizeof x) != 0);
        CHECK_NEAR(sqrt(dotd(y, y, D)), sqrt(dotd(x, x, D)), 1e-5 * sqrt(dotd(x, x, D)));
    }
}

TEST(ops_rope_relative_position)
{
    /* <R(m) q, R(n) k> = <q, R(n - m) k>: it depends on m - n only. */
    enum { D = 64 };
    float q[D], k[D];
    fill(q, D, 13, 1.0f);
    fill(k, D, 14, 1.0f);
    const double scale = sqrt(dotd(q, q, D) * dotd(k, k, D));
    for (int neox = 0; neox <= 1; neox++) {
        double ref = 0;
        const int ms[] = { 5, 105, 1005 };
        for (int t = 0; t < 3; t++) {
            float a[D], b[D];
            memcpy(a, q, sizeof q);
            memcpy(b, k, sizeof k);
            tq_rope(a, D, D, ms[t], 10000.0f, 1.0f, NULL, neox);
            tq_rope(b, D, D, ms[t] - 3, 10000.0f, 1.0f, NULL, neox);
            double d = dotd(a, b, D);
            if (t == 0)
                ref = d;
            else
                CHECK_NEAR(d, ref, 1e-4 * scale);
        }
        /* A different offset gives a clearly different score, so the check above has teeth. */
        float a[D], b[D];
        memcpy(a, q, sizeof q);
        memcpy(b, k, sizeof k);
        tq_rope(a, D, D, 5, 10000.0f, 1.0f, NULL, neox);
        tq_rope(b, D, D, 1, 10000.0f, 1.0f, NULL, neox);
        CHECK(fabs(dotd(a, b, D) - ref) > 1e-2 * scale);
    }
}

/* The cached form must give tq_rope's bits exactly (same angles, same rounding), for both
 * pair layouts, partial rotation and Llama-3 frequency factors. */
TEST(ops_rope_cache_matches_rope)
{
    float ff[32];
    for (int i = 0; i < 32; i++)
        ff[i] = 1.0f + (float)i / 7.0f;
    for (int neox = 0; neox < 2; neox++)
        for (int pos = 0; pos < 3000; pos += 977) {
            float a[64], b[64], cs[64];
            for (int i = 0; i < 64; i++)
                a[i] = b[i] = sinf((float)(i * 13 + pos));
            tq_rope(a, 64, 48, pos, 500000.0f, 0.5f, ff, neox);
            tq_rope_cache(cs, 48, pos, 500000.0f, 0.5f, ff);
            tq_rope_apply(b, 48, cs, neox);
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
}

TEST(ops_silu_accuracy_over_the_range)
{
    /* The SiLU's exponential is computed in plain arithmetic (ops.c): against the double
     * formula it must stay within a few float roundings everywhere, saturate without
     * overflow or NaN at the extremes (below x = -88 it returns 0, not the true value of
     * at most 6e-37), and keep silu(0) = 0. */
    enum { N = 40001 };
    float *x = mem_alloc(N * sizeof *x), *y = mem_alloc(N * sizeof *y);
    float *u = mem_alloc(N * sizeof *u), *z = mem_alloc(N * sizeof *z);
    REQUIRE(x && y && u && z);
    for (int i = 0; i < N; i++) {
        x[i] = -100.0f + 200.0f * (float)i / (N - 1);
        u[i] = 0.5f + (float)(i % 7);
    }
    x[0] = -1e30f, x[1] = 1e30f, x[2] = -FLT_MIN, x[N / 2] = 0.0f;
    tq_silu(y, x, N);
    tq_swiglu(z, x, u, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double v = x[i], s = v / (1 + exp(-v));
        double err = fabs(y[i] - s) / (fabs(s) + 1e-30);
        if (fabs(s) > 1e-30 && err > worst)
            worst = err;
        CHECK(isfinite(y[i]) && isfinite(z[i]));
        CHECK(fabs(y[i] - s) <= 4e-7 * fabs(s) + 6e-37);
        CHECK(fabs(z[i] - s * u[i]) <= 6e-7 * fabs(s * u[i]) + 4e-36);
    }
    CHECK(y[N / 2] == 0.0f);
    CHECK(worst < 4e-7);
    mem_free(x), mem_free(y), mem_free(u), mem_free(z);
}
