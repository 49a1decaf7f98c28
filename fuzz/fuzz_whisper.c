/*
 * fuzz_whisper.c — libFuzzer target for the whisper.cpp model loader.
 *
 * Loads the input as a whisper.cpp ggml model image and, when the loader accepts it, reads
 * every byte of every tensor it pointed at, the filter bank and each token's bytes, so the
 * sanitizers catch any offset or length the loader let through unchecked. Seeds: small
 * files from tools/mkwhisper (e.g. --state 32 --heads 1 --enc-layers 1 --dec-layers 1
 * --audio-ctx 4 --text-ctx 8).
 */
#include <stddef.h>
#include <stdint.h>

#include "models/whisper.h"
#include "tensor/types.h"

static volatile uint64_t sink;

static void touch(const wsp_tensor *t)
{
    if (!t->data)
        return;
    size_t bytes = tq_row_size(t->type, t->ne[0]) * (size_t)t->ne[1];
    const unsigned char *p = t->data;
    for (size_t i = 0; i < bytes; i += 64)
        sink += p[i];
    sink += p[bytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsp_model *m;
    hearth_error err;
    if (wsp_load_memory(&m, data, size, "fuzz", &err) != HEARTH_OK)
        return 0;
    for (int i = 0; i < m->hp.n_mels * m->n_fft_bins; i++)
        sink += (uint64_t)m->mel_filters[i];
    for (int id = 0; id < m->hp.n_vocab; id++) {
        size_t len;
        const unsigned char *b = wsp_token_bytes(m, id, &len);
        if (len)
            sink += b[len - 1];
    }
    const wsp_tensor *top[] = { &m->e_pos, &m->conv1_w, &m->conv1_b, &m->conv2_w, &m->conv2_b,
                                &m->e_ln_w, &m->e_ln_b, &m->d_pos, &m->tok_emb, &m->d_ln_w,
                                &m->d_ln_b };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        touch(top[i]);
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? m->hp.n_text_layer : m->hp.n_audio_layer;
        const wsp_layer *ls = pass ? m->d_layers : m->e_layers;
        for (int l = 0; l < n; l++) {
            const wsp_tensor *t = &ls[l].attn_ln_w;
            for (size_t k = 0; k < sizeof(wsp_layer) / sizeof(wsp_tensor); k++)
                touch(&t[k]);
        }
    }
    wsp_free(m);
    return 0;
}
