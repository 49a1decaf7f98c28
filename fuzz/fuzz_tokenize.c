/*
 * fuzz_tokenize.c — libFuzzer target for the tokenizers and the streaming detokenizer.
 *
 * Input text (any bytes, including invalid UTF-8 and special-token text) is encoded with
 * each fixture vocabulary family (SentencePiece, byte-level BPE, WordPiece), with special
 * tokens parsed, then streamed back token by token. Run from the repository root so the
 * vocabularies in ../shared/testdata/vocab are found.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "formats/gguf.h"
#include "tokenize/tokenizer.h"

static const char *const vocab_paths[] = {
    "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf",
    "../shared/testdata/vocab/ggml-vocab-qwen2.gguf",
    "../shared/testdata/vocab/ggml-vocab-bert-bge.gguf",
};
#define N_VOCABS (sizeof vocab_paths / sizeof vocab_paths[0])
static tok_vocab *vocabs[N_VOCABS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < N_VOCABS; i++) {
        gguf_file *g;
        hearth_error err;
        if (gguf_open(&g, vocab_paths[i], &err) || tok_load(&vocabs[i], g, &err)) {
            fprintf(stderr, "fuzz_tokenize: %s (run from the repository root)\n", err.msg);
            exit(1);
        }
        gguf_close(g);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < N_VOCABS; i++) {
        tok_ids ids = { 0 };
        tok_str out = { 0 };
        if (tok_encode(vocabs[i], (const char *)data, size, true, true, &ids, NULL) == HEARTH_OK) {
            tok_stream s;
            tok_stream_init(&s, vocabs[i], TOK_DECODE_SPECIAL);
            for (size_t k = 0; k < ids.n; k++)
                tok_stream_push(&s, ids.v[k], &out, NULL);
            tok_stream_flush(&s, &out, NULL);
        }
        tok_ids_free(&ids);
        tok_str_free(&out);
    }
    return 0;
}
