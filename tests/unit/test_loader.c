/* Tests for models/loader.c, through the two loaders built on it (llama.c, bert.c): what a
 * hostile file's counts may make them do before they find it malformed. */
#include "test.h"

#include <stdio.h>

#include "formats/gguf.h"
#include "models/bert.h"
#include "models/llama.h"
#include "tensor/types.h"

/* A file with the metadata of an arch model of 8-wide embeddings and `blocks` blocks, and
 * no tensor but the embedding table (4 tokens). */
static void write_model(const char *path, const char *arch, uint32_t blocks)
{
    gguf_writer *w = gguf_writer_new();
    REQUIRE(w);
    char key[64];
    static const char *const sizes[] = { "embedding_length", "feed_forward_length" };
    REQUIRE(gguf_set_str(w, "general.architecture", arch) == HEARTH_OK);
    snprintf(key, sizeof key, "%s.block_count", arch);
    REQUIRE(gguf_set_u32(w, key, blocks) == HEARTH_OK);
    for (int i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, sizes[i]);
        REQUIRE(gguf_set_u32(w, key, 8) == HEARTH_OK);
    }
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    REQUIRE(gguf_set_u32(w, key, 1) == HEARTH_OK);
    float emb[8 * 4] = { 0 };
    const int64_t ne[2] = { 8, 4 };
    REQUIRE(gguf_add_tensor(w, "token_embd.weight", TQ_F32, 2, ne, emb, sizeof emb) ==
            HEARTH_OK);
    hearth_error err;
    REQUIRE(gguf_writer_write(w, path, &err) == HEARTH_OK);
    gguf_writer_free(w);
}

static hearth_status load(const char *arch, const char *path, hearth_error *err)
{
    gguf_file *g;
    hearth_status st = gguf_open(&g, path, err);
    if (st)
        return st;
    if (arch[0] == 'l') {
        llm_model *m = NULL;
        st = llm_model_load(&m, g, llm_model_default_params(), err);
        llm_model_free(m);
    } else {
        bert_model *m = NULL;
        st = bert_model_load(&m, g, err);
        bert_model_free(m);
    }
    gguf_close(g);
    return st;
}

/* A block_count of 2^24 in a file of one tensor is refused by that count, before the layers
 * (hundreds of bytes each) are allocated; one block goes on to the first missing tensor. */
TEST(loader_refuses_a_block_count_past_the_tensors)
{
    static const char *const archs[] = { "llama", "bert" };
    char path[512];
    hearth_error err;
    for (int a = 0; a < 2; a++) {
        snprintf(path, sizeof path, "%s/blocks-%s.gguf", test_tmpdir(), archs[a]);
        write_model(path, archs[a], 1u << 24);
        CHECK_EQ(load(archs[a], path, &err), HEARTH_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, "block_count = 16777216, but the file holds only 1 tensors");
        write_model(path, archs[a], 1);
        CHECK_EQ(load(archs[a], path, &err), HEARTH_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, "missing tensor");
    }
}
