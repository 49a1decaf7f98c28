/* Tests for generate/sampling.c on hand-made logit vectors; expectations derived by hand. */
#include "test.h"

#include "generate/sampling.h"

static smp_sampler *make(smp_params p, int n)
{
    smp_sampler *s = NULL;
    hearth_error err;
    if (smp_new(&s, &p, n, &err) != HEARTH_OK)
        test_fail(__FILE__, __LINE__, "smp_new: %s", err.msg);
    return s;
}

static int32_t sample(smp_sampler *s, const float *logits, int n)
{
    float tmp[16];
    memcpy(tmp, logits, (size_t)n * sizeof(float));
    return smp_sample(s, tmp);
}

static smp_params greedy(void)
{
    smp_params p = smp_default_params();
    p.temperature = 0;
    return p;
}

TEST(sampling_greedy_and_bias)
{
    const float l[3] = { 1, 3, 2 };
    smp_sampler *s = make(greedy(), 3);
    REQUIRE(s);
    CHECK_EQ(sample(s, l, 3), 1);
    smp_free(s);
    smp_logit_bias ban = { 1, -INFINITY }, boost = { 0, 2.5f }; /* 1 + 2.5 > 2 */
    smp_params p = greedy();
    p.logit_bias = &ban;
    p.n_logit_bias = 1;
    s = make(p, 3);
    CHECK_EQ(sample(s, l, 3), 2);
    smp_free(s);
    p.logit_bias = &boost;
    s = make(p, 3);
    CHECK_EQ(sample(s, l, 3), 0);
    smp_free(s);
}

TEST(sampling_repeat_penalty)
{
    /* history {0, 2}, penalty 2: 2 -> 1 (divided), -1 -> -2 (multiplied); 1.5 wins */
    const float l[3] = { 2, 1.5f, -1 };
    smp_params p = greedy();
    p.repeat_penalty = 2;
    smp_sampler *s = make(p, 3);
    REQUIRE(s);
    CHECK_EQ(sample(s, l, 3), 0);
    smp_accept(s, 0);
    smp_accept(s, 2);
    CHECK_EQ(sample(s, l, 3), 1);
    smp_reset(s);
    CHECK_EQ(sample(s, l, 3), 0);
    smp_free(s);
}

TEST(sampling_frequency_presence_window)
{
    /* token 0 seen once: 3 - 1*1.0 - 0.1 = 1.9 < 2.5, so token 1 wins */
    const float l[2] = { 3, 2.5f };
    smp_params p = greedy();
    p.frequency_penalty = 1.0f;
    p.presence_penalty = 0.1f;
    p.penalty_last_n = 2;
    smp_sampler *s = make(p, 2);
    REQUIRE(s);
    CHECK_EQ(sample(s, l, 2), 0);
    smp_accept(s, 0);
    CHECK_EQ(sample(s, l, 2), 1);
    smp_accept(s, 1);
    smp_accept(s, 1); /* the window of 2 now holds only token 1: token 0 is free again */
    /* token 1: 2.5 - 2*1.0 - 0.1 = 0.4; token 0: 3 */
    CHECK_EQ(sample(s, l, 2), 0);
    smp_free(s);
    /* presence alone counts once however often a token was seen: 3 - 0.6 = 2.4 < 2.5 */
    p.frequency_penalty = 0;
    p.presence_penalty = 0.6f;
    p.penalty_last_n = 8;
    s = make(p, 2);
    for (int i = 0; i < 5; i++)
        smp_accept(s, 0);
    CHECK_EQ(sample(s, l, 2), 1);
    smp_free(s);
}

/* Empirical frequencies of n draws; probabilities below are worked out by hand. */
static void draw(smp_params p, const float *l, int nv, int n, int *hist)
{
    smp_sampler *s = make(p, nv);
    if (!s)
        return;
    memset(hist, 0, (size_t)nv * sizeof(int));
    for (int i = 0; i < n; i++)
        hist[sample(s, l, nv)]++;
    smp_free(s);
}

TEST(sampling_top_p_min_p_top_k_temperature)
{
    /* p = (0.5, 0.3, 0.2) */
    const float l[3] = { logf(0.5f), logf(0.3f), logf(0.2f) };
    int h[3];
    smp_params p = smp_default_params();
    p.temperature = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 0.7f; /* 0.5 < 0.7 <= 0.8: keeps {0, 1}, renormalised 0.625 / 0.375 */
    draw(p, l, 3, 4000, h);
    CHECK_EQ(h[2], 0);
    CHECK_NEAR(h[0] / 4000.0, 0.625, 0.03);

    p.top_p = 1;
    p.min_p = 0.5f; /* floor 0.25: keeps {0, 1} */
    draw(p, l, 3, 4000, h);
    CHECK_EQ(h[2], 0);
    CHECK_NEAR(h[0] / 4000.0, 0.625, 0.03);

    p.min_p = 0;
    p.top_k = 1; /* only the argmax survives */
    draw(p, l, 3, 500, h);
    CHECK_EQ(h[0], 500);

    p.top_k = 0;
    p.temperature = 2; /* p^(1/2) normalised: 0.7071/(0.7071+0.5477+0.4472) = 0.4154 */
    draw(p, l, 3, 8000, h);
    CHECK_NEAR(h[0] / 8000.0, 0.4154, 0.025);
    CHECK_NEAR(h[2] / 8000.0, 0.2627, 0.025);

    p.temperature = 1; /* plain distribution */
    draw(p, l, 3, 8000, h);
    CHECK_NEAR(h[1] / 8000.0, 0.3, 0.025);
}

TEST(sampling_seed_reproducible)
{
    float l[16];
    for (int i = 0; i < 16; i++)
        l[i] = (float)(i % 5) * 0.3f;
    smp_params p = smp_default_params();
    p.top_k = 0;
    p.seed = 42;
    smp_sampler *a = make(p, 16), *b = make(p, 16);
    p.seed = 43;
    smp_sampler *c = make(p, 16);
    REQUIRE(a && b && c);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 64; i++) {
        int32_t x = sample(a, l, 16), y = sample(b, l, 16), z = sample(c, l, 16);
        same_ab &= x == y;
        same_ac &= x == z;
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    smp_free(a);
    smp_free(b);
    smp_free(c);
}

TEST(sampling_rejects_bad_params)
{
    smp_sampler *s = NULL;
    smp_params p = smp_default_params();
    p.temperature = -1;
    CHECK(smp_new(&s, &p, 10, NULL) == HEARTH_ERR_INVALID);
    p = smp_default_params();
    smp_logit_bias b = { 10, 1 };
    p.logit_bias = &b;
    p.n_logit_bias = 1;
    hearth_error err;
    CHECK(smp_new(&s, &p, 10, &err) == HEARTH_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "token 10");
    p = smp_default_params();
    p.penalty_last_n = -3;
    CHECK(smp_new(&s, &p, 10, NULL) == HEARTH_ERR_INVALID);
    CHECK(s == NULL);
}

TEST(sampling_log_softmax)
{
    const float l[3] = { logf(0.5f), logf(0.3f), logf(0.2f) };
    float out[3];
    smp_log_softmax(l, out, 3);
    CHECK_NEAR(out[0], logf(0.5f), 1e-6);
    CHECK_NEAR(out[2], logf(0.2f), 1e-6);
}

/* Without top-k on a large vocabulary, top-p must still cut exactly where the cumulative
 * probability reaches p, even when that is far beyond the first few hundred candidates.
 * Logits l_i = -i/1000 (i < 5000): p_i is proportional to e^(-i/1000); the cut is the
 * smallest m with sum_{i<m} p_i >= top_p, computed here in double. */
TEST(sampling_top_p_large_vocabulary)
{
    enum { N = 5000 };
    static float l[N], tmp[N];
    double z = 0;
    for (int i = 0; i < N; i++) {
        l[i] = -i / 1000.0f;
        z += exp(-i / 1000.0);
    }
    double cum = 0;
    int cut = 0;
    while (cum < 0.9 * z)
        cum += exp(-cut++ / 1000.0);
    smp_params p = smp_default_params();
    p.temperature = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 0.9f;
    smp_sampler *s = make(p, N);
    REQUIRE(s);
    int beyond = 0, far = 0;
    for (int k = 0; k < 3000; k++) {
        memcpy(tmp, l, sizeof l);
        int id = smp_sample(s, tmp);
        beyond += id >= cut;
        far += id >= 1024; /* needs the sorted prefix to grow past 256 and 1024 */
    }
    CHECK(cut > 1024);
    CHECK_EQ(beyond, 0);
    CHECK(far > 0);
    smp_free(s);
}
