/*
 * whisper.h — Whisper speech recognition models in whisper.cpp's ggml file format.
 *
 * The model (wsp_model) is immutable once loaded: its weights are memory-mapped and shared.
 * All mutable data of one transcription — encoder output, cross-attention keys and values,
 * the decoder's self-attention KV cache for each of several sequences (beams) — lives in a
 * wsp_state. One state must not be used by two threads at once; several states may share
 * one model.
 *
 *   wsp_model *m; wsp_load(&m, "ggml-base.bin", &err);
 *   wsp_state *s = wsp_state_new(m, 4, n_beams, &err);
 *   wsp_encode(s, mel, &err);                       // mel: n_mels x wsp_n_frames(m)
 *   wsp_decode(s, 0, prompt, n_prompt, 0, logits, &err);  // then one token at a time
 *
 * Dimension legend in comments: S = audio/text state, C = audio context (1500), T = text
 * context (448), V = vocabulary, M = mel bands.
 */
#ifndef HEARTH_MODELS_WHISPER_H
#define HEARTH_MODELS_WHISPER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/file.h"

typedef struct wsp_hparams {
    int n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype;
} wsp_hparams;

/* Special token ids, derived from n_vocab the way whisper.cpp does. */
typedef struct wsp_specials {
    int eot, sot, translate, transcribe, solm, prev, nosp, notimestamps, beg;
    int n_languages; /* language tokens are sot + 1 + language index */
    int multilingual;
} wsp_specials;

/* A weight as mapped from the file: ne[0] values per row, rows = ne[1] * ne[2]. */
typedef struct wsp_tensor {
    const void *data;
    int type;
    int64_t ne[3];
} wsp_tensor;

typedef struct wsp_layer {
    wsp_tensor attn_ln_w, attn_ln_b;                    /* [S] */
    wsp_tensor attn_q_w, attn_q_b, attn_k_w;            /* [S, S], [S] (no key bias) */
    wsp_tensor attn_v_w, attn_v_b, attn_o_w, attn_o_b;
    wsp_tensor cross_ln_w, cross_ln_b;                  /* decoder only */
    wsp_tensor cross_q_w, cross_q_b, cross_k_w;
    wsp_tensor cross_v_w, cross_v_b, cross_o_w, cross_o_b;
    wsp_tensor mlp_ln_w, mlp_ln_b;                      /* [S] */
    wsp_tensor mlp0_w, mlp0_b;                          /* [S, 4S], [4S] */
    wsp_tensor mlp2_w, mlp2_b;                          /* [4S, S], [S] */
} wsp_layer;

typedef struct wsp_model {
    char *path;
    file_map map;
    int owns_map;              /* map came from wsp_load (not wsp_load_memory) */
    wsp_hparams hp;
    wsp_specials sp;
    int n_fft_bins;            /* 201: bins of a 400-point FFT */
    const float *mel_filters;  /* [M][n_fft_bins], unaligned-safe copy */
    float *mel_filters_owned;
    /* vocabulary: token i is tok_len[i] bytes at tok_data + tok_off[i] */
    int n_vocab_file;          /* tokens stored in the file; the rest are specials */
    const unsigned char *tok_data;
    uint32_t *tok_off, *tok_len;
    int space_token;           /* id of " ", or -1 */
    int32_t *tok_hash;         /* token bytes -> id (open addressing), for wsp_tokenize */
    uint32_t tok_hash_size;
    size_t tok_max_len;
    /* encoder */
    wsp_tensor e_pos;                      /* [S, C] */
    wsp_tensor conv1_w, conv1_b;           /* [3, M, S], [S] */
    wsp_tensor conv2_w, conv2_b;           /* [3, S, S], [S] */
    wsp_tensor e_ln_w, e_ln_b;             /* [S] */
    wsp_layer *e_layers;
    /* decoder */
    wsp_tensor d_pos;                      /* [S, T] */
    wsp_tensor tok_emb;                    /* [S, V] */
    wsp_tensor d_ln_w, d_ln_b;             /* [S] */
    wsp_layer *d_layers;
    size_t weight_bytes;
    void **owned;              /* aligned copies of tensors the file left misaligned */
    int n_owned;
} wsp_model;

/* Load a whisper.cpp ggml model file (memory-mapped). Every count, length, type and shape
 * is checked against the file; a malformed file gives HEARTH_ERR_FORMAT naming the file
 * and the problem, an unsupported tensor type HEARTH_ERR_UNSUPPORTED. */
hearth_status wsp_load(wsp_model **out, const char *path, hearth_error *err);
/* The same from a memory image (fuzzing; the bytes must outlive the model). */
hearth_status wsp_load_memory(wsp_model **out, const void *data, size_t size, const char *name,
                              hearth_error *err);
void wsp_free(wsp_model *m);

/* Mel frames the encoder takes: 2 * n_audio_ctx (3000 = 30 s for every published model). */
int wsp_n_frames(const wsp_model *m);
/* "tiny", "base", ..., "large-v3", "large-v3-turbo", or "unknown", from the hyper-parameters. */
const char *wsp_size_name(const wsp_model *m);

/* Bytes of token id (not NUL-terminated); specials without text give "" (length 0). */
const unsigned char *wsp_token_bytes(const wsp_model *m, int id, size_t *len);
/* Tokenize text by greedy longest match over the vocabulary's byte strings (as
 * whisper.cpp does within words); writes up to max ids and returns how many the text
 * needs (which may exceed max). */
int wsp_tokenize(const wsp_model *m, const char *text, int *ids, int max);
/* Whisper's language codes in token order ("en", "zh", ...): index <-> code; -1 if unknown. */
int wsp_lang_index(const char *code);
const char *wsp_lang_code(int index);
int wsp_lang_count(void);

typedef struct wsp_state wsp_state;

/* A state for n_seq decoder sequences (1 for greedy, the beam count for beam search),
 * computing on n_threads threads (<= 0: one per CPU). NULL on failure (err filled). */
wsp_state *wsp_state_new(const wsp_model *m, int n_threads, int n_seq, hearth_error *err);
void wsp_state_free(wsp_state *s);

/* Run the encoder on a log-mel spectrogram of M rows x wsp_n_frames(m) columns and
 * compute every decoder layer's cross-attention keys and values. */
hearth_status wsp_encode(wsp_state *s, const float *mel, hearth_error *err);

/* Feed n tokens of sequence seq at positions n_past .. n_past+n-1 (filling its KV cache);
 * logits (may be NULL) receives the V logits after the last token. HEARTH_ERR_RANGE when
 * the text context would overflow. */
hearth_status wsp_decode(wsp_state *s, int seq, const int *tokens, int n, int n_past,
                         float *logits, hearth_error *err);

/* One token for each of n different sequences in one pass (beam search: the weights are
 * read once for all beams): row i is tokens[i] of sequence seqs[i] at position pos[i];
 * logits receives n rows of V. */
hearth_status wsp_decode_batch(wsp_state *s, int n, const int *seqs, const int *tokens,
                               const int *pos, float *logits, hearth_error *err);

/* Copy the first n positions of sequence src's KV cache into sequence dst (beam search). */
void wsp_kv_copy(wsp_state *s, int dst, int src, int n);

/* Milliseconds spent in the encoder and in decoder calls (and decoder tokens) so far. */
typedef struct wsp_timings {
    double encode_ms, decode_ms;
    long n_encode, n_decode_tokens;
} wsp_timings;
wsp_timings wsp_state_timings(const wsp_state *s);

#endif
