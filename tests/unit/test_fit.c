/*
 * test_fit.c — memory fit against numbers worked out by hand from the fixtures' shapes
 * (models/README.md: layers, heads, KV heads, widths) and the formulas in fit.h.
 */
#include "test.h"

#include <sys/stat.h>

#include "formats/gguf.h"
#include "hub/fit.h"
#include "tensor/types.h"

static bool load(const char *file, gguf_file **g, fit_model *m)
{
    char path[512];
    hearth_error err;
    snprintf(path, sizeof path, TESTDATA "/models/%s", file);
    if (gguf_open(g, path, &err) != HEARTH_OK)
        return false;
    return fit_model_from_gguf(*g, m, &err) == HEARTH_OK;
}

TEST(fit_shape_of_small_llama)
{
    gguf_file *g;
    fit_model m;
    REQUIRE(load("small-llama-spm-q4_k_m.gguf", &g, &m));
    CHECK_EQ(m.n_layer, 2);
    CHECK_EQ(m.n_embd, 256);
    CHECK_EQ(m.n_head, 4);
    CHECK_EQ(m.n_head_kv, 1);
    CHECK_EQ(m.head_dim, 64);
    CHECK_EQ(m.n_ff, 768);
    CHECK_EQ(m.n_vocab, 32000);
    CHECK_EQ(m.n_ctx_train, 256);
    CHECK_EQ(m.weights_bytes, 12235904); /* 5120 F32 + 5336064 Q4_K + 6894720 Q6_K */
    CHECK_STR(m.weight_type, "Q4_K_M");
    gguf_close(g);
}

TEST(fit_kv_cache_by_hand)
{
    gguf_file *g;
    fit_model m;
    REQUIRE(load("small-llama-spm-q4_k_m.gguf", &g, &m));
    /* 2 (K and V) * 2 layers * 256 positions * 1 KV head * 64 dims * 2 bytes */
    CHECK_EQ(fit_kv_bytes(&m, 256, 1, TQ_F16), 2 * 2 * 256 * 1 * 64 * 2);
    /* Q8_0: 64 values = 2 blocks of 34 bytes */
    CHECK_EQ(fit_kv_bytes(&m, 256, 1, TQ_Q8_0), 2 * 2 * 256 * 68);
    CHECK_EQ(fit_kv_bytes(&m, 1024, 2, TQ_F16), 2 * 2 * 1024 * 64 * 2 * 2);
    gguf_close(g);
    REQUIRE(load("tiny-llama-spm-q8_0.gguf", &g, &m));
    CHECK_EQ(fit_kv_bytes(&m, 256, 1, TQ_F16), 2 * 2 * 256 * 2 * 16 * 2);
    gguf_close(g);
}

TEST(fit_report_totals_and_speed)
{
    gguf_file *g;
    fit_model m;
    REQUIRE(load("small-llama-spm-q4_k_m.gguf", &g, &m));
    fit_params p = fit_default_params();
    p.n_ctx = 256;
    fit_memory mem = { 1ull << 34, 1ull << 33 };
    fit_report r;
    hearth_error err;
    REQUIRE(fit_compute(&m, p, &mem, 10.0, &r, &err) == HEARTH_OK);
    /* Activations for 512 rows: x, xb (256 each), xb2 and q (256 each), k and v (64 each),
     * hb and hb2 (768 each) = 2688 floats a row; attention scores for one thread: 256 +
     * 2*64; logits: 32000. Plus the scratch for quantized activations, which holds at least
     * the widest K-quant matrix's input (768 columns) as Q8_K blocks of 292 bytes, 3 a row,
     * for 512 rows. */
    uint64_t floats = 512ull * 2688 + 256 + 128 + 32000;
    CHECK_EQ(r.buffer_bytes, floats * 4 + m.scratch_bytes);
    CHECK(m.scratch_bytes >= 512ull * 3 * 292);
    CHECK_EQ(r.kv_cache_bytes, 131072);
    CHECK_EQ(r.total_bytes, 12235904 + 131072 + r.buffer_bytes);
    CHECK_STR(fit_verdict_str(r.verdict), "fits");
    /* A token reads every weight but only one row of the (untied) embedding table. */
    const gguf_tensor *e = gguf_find_tensor(g, "token_embd.weight");
    REQUIRE(e);
    uint64_t step = 12235904 - e->nbytes + e->nbytes / 32000 + 131072;
    CHECK_EQ(r.bytes_per_token, step);
    CHECK_NEAR(r.tokens_per_s, 10e9 / (double)step, 1e-6);
    gguf_close(g);
}

TEST(fit_verdicts_and_suggestions)
{
    gguf_file *g;
    fit_model m;
    REQUIRE(load("small-llama-spm-q4_k_m.gguf", &g, &m));
    fit_params p = fit_default_params();
    p.n_ctx = 65536;
    fit_report r;
    hearth_error err;
    /* At 65536 positions: KV = 2*2*65536*64*2 = 33554432; attention scores grow too. */
    fit_memory big = { 1ull << 34, 1ull << 33 };
    REQUIRE(fit_compute(&m, p, &big, 0, &r, &err) == HEARTH_OK);
    CHECK_EQ(r.kv_cache_bytes, 33554432);
    uint64_t need = r.total_bytes;
    CHECK_EQ(r.tokens_per_s, 0);
    fit_memory tight = { need * 2, need };
    REQUIRE(fit_compute(&m, p, &tight, 0, &r, &err) == HEARTH_OK);
    CHECK_STR(fit_verdict_str(r.verdict), "tight");
    /* 42 MB: weights 12.2 MB + buffers ~6.7 MB + KV 512 bytes and attention scores 4
     * bytes a position. 65536 positions need ~52.7 MB; with 10% headroom the largest power
     * of two that fits is 32768 (~35.8 MB * 1.1 = 39.4 MB). */
    fit_memory small = { 45000000, 42000000 };
    REQUIRE(fit_compute(&m, p, &small, 0, &r, &err) == HEARTH_OK);
    CHECK_STR(fit_verdict_str(r.verdict), "does not fit");
    CHECK_EQ(r.suggest_ctx, 32768);
    CHECK(r.suggest_q8_kv); /* KV shrinks to 17.8 MB: ~37 MB * 1.1 = 40.7 MB < 42 MB */
    CHECK_STR(r.suggest_type, ""); /* no smaller preset saves enough below Q4_K_M's size */
    gguf_close(g);
}

TEST(fit_refuses_q8_kv_for_small_heads)
{
    gguf_file *g;
    fit_model m;
    REQUIRE(load("tiny-llama-spm-q8_0.gguf", &g, &m));
    fit_params p = fit_default_params();
    p.kv_type = TQ_Q8_0;
    fit_memory mem = { 1ull << 34, 1ull << 33 };
    fit_report r;
    hearth_error err;
    CHECK(fit_compute(&m, p, &mem, 0, &r, &err) == HEARTH_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "head size");
    gguf_close(g);
}

TEST(fit_reads_meminfo)
{
    char path[512];
    snprintf(path, sizeof path, "%s/meminfo", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("MemTotal:       16318480 kB\nMemFree:         1000000 kB\n"
          "MemAvailable:    9876543 kB\nBuffers:          1 kB\n", f);
    fclose(f);
    fit_memory mem;
    hearth_error err;
    REQUIRE(fit_read_meminfo(path, &mem, &err) == HEARTH_OK);
    CHECK_EQ(mem.total, 16318480ull * 1024);
    CHECK_EQ(mem.available, 9876543ull * 1024);
    CHECK(fit_read_meminfo("/proc/meminfo", &mem, &err) == HEARTH_OK);
    CHECK(mem.total > 0);
}

TEST(fit_cli_json)
{
    char cmd[1000], out[8192];
    snprintf(cmd, sizeof cmd, "%s fit %s --ctx 1024 --parallel 2 --bandwidth 10 --json",
             test_bin(), TESTDATA "/models/small-llama-spm-q4_k_m.gguf");
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "\"weights_bytes\":\t12235904");
    CHECK_CONTAINS(out, "\"kv_cache_bytes\":\t1048576"); /* 2*2*1024*64*2 bytes * 2 sequences */
    CHECK_CONTAINS(out, "\"verdict\":\t\"fits\"");
    CHECK_CONTAINS(out, "\"available_bytes\":");
    CHECK_CONTAINS(out, "\"gpus\":\t["); /* listed, possibly empty: none is needed */
    snprintf(cmd, sizeof cmd, "%s fit %s --kv-type q4_0", test_bin(),
             TESTDATA "/models/small-llama-spm-q4_k_m.gguf");
    CHECK_EQ(test_run(cmd, out, sizeof out), 2);
}

TEST(fit_parses_nvidia_smi)
{
    /* The format of `nvidia-smi --query-gpu=name,memory.total,memory.free
     * --format=csv,noheader,nounits`: sizes in MiB. Broken lines are skipped. */
    fit_gpu g[FIT_MAX_GPUS];
    int n = fit_parse_nvidia_smi("NVIDIA H200, 143771, 143252\n"
                                 "NVIDIA GeForce RTX 3060, 12288, 11015\r\n"
                                 "No devices were found\n"
                                 "Broken, 100, 200\n"      /* more free than total */
                                 "Half, 100\n"
                                 "Words, lots, few\n",
                                 g, 0, FIT_MAX_GPUS);
    REQUIRE(n == 2);
    CHECK_STR(g[0].name, "NVIDIA H200");
    CHECK_EQ(g[0].mem.total, 143771ull << 20);
    CHECK_EQ(g[0].mem.available, 143252ull << 20);
    CHECK_STR(g[1].name, "NVIDIA GeForce RTX 3060");
    CHECK_EQ(g[1].mem.available, 11015ull << 20);
    /* 12 GiB of GPU memory holds an 8 GiB need with headroom, not an 11.5 GiB one. */
    CHECK(fit_judge(8ull << 30, &g[1].mem) == FIT_FITS);
    CHECK(fit_judge(11ull << 30 | 512ull << 20, &g[1].mem) == FIT_TIGHT);
    CHECK(fit_judge(13ull << 30, &g[1].mem) == FIT_NO);
    CHECK_EQ(fit_parse_nvidia_smi("A, 1, 1\nB, 2, 2\nC, 3, 3\n", g, 0, 2), 2);
    CHECK_EQ(fit_parse_nvidia_smi("", g, 0, FIT_MAX_GPUS), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

TEST(fit_reads_amd_vram_from_sysfs)
{
    char root[512], dir[1024];
    snprintf(root, sizeof root, "%s/drm", test_tmpdir());
    mkdir(root, 0755);
    /* card0 is an AMD GPU with 16 GiB, 1 GiB used; card1 (no VRAM files, an Intel iGPU)
     * and card0-HDMI-A-1 (a connector) are not GPUs to report. */
    const char *dirs[] = { "card0", "card0/device", "card1", "card1/device", "card0-HDMI-A-1",
                           "card0-HDMI-A-1/device", "card2", "card2/device" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", root, dirs[i]);
        mkdir(dir, 0755);
    }
    snprintf(dir, sizeof dir, "%s/card0/device", root);
    write_text(dir, "mem_info_vram_total", "17163091968\n");
    write_text(dir, "mem_info_vram_used", "1073741824\n");
    snprintf(dir, sizeof dir, "%s/card0-HDMI-A-1/device", root);
    write_text(dir, "mem_info_vram_total", "17163091968\n");
    write_text(dir, "mem_info_vram_used", "0\n");
    /* card2's file holds no size a GPU could have (a broken driver or a hostile tree) */
    snprintf(dir, sizeof dir, "%s/card2/device", root);
    write_text(dir, "mem_info_vram_total", "18446744073709551615\n");
    write_text(dir, "mem_info_vram_used", "0\n");
    fit_gpu g[FIT_MAX_GPUS];
    REQUIRE(fit_read_drm(root, g, 0, FIT_MAX_GPUS) == 1);
    CHECK_STR(g[0].name, "AMD GPU (card0)");
    CHECK_EQ(g[0].mem.total, 17163091968ull);
    CHECK_EQ(g[0].mem.available, 17163091968ull - 1073741824ull);
    CHECK_EQ(fit_read_drm(root, g, 1, 1), 1);  /* full: nothing appended */
    CHECK_EQ(fit_read_drm("/nonexistent/drm", g, 0, FIT_MAX_GPUS), 0);
}
