/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader and the model loaders on it.
 *
 * Parses the input as a GGUF image, then reads back everything the parser accepted through
 * the public getters (every key, every array element, every tensor byte), so the sanitizers
 * see any pointer or length the reader let through unchecked, and loads it as a decoder
 * (llama.c) and an encoder (bert.c), which check its metadata and tensors against each
 * other (models/loader.c) before they use them. Then, as the first and second
 * part of a split model, its two halves: where both parse, gguf_attach_parts checks their
 * split keys and joins their tensor lists, which are read back the same way. Build with
 * `make fuzz`; run as shown in the README (a seed corpus of small valid files, a split pair
 * and a loadable one-block llama model among them, helps it reach the tensor infos and the
 * loaders quickly).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "formats/gguf.h"
#include "models/bert.h"
#include "models/llama.h"

static volatile uint64_t sink;

static void touch_value(const gguf_value *v)
{
    if (v->type == GGUF_STRING) {
        sink += v->v.str.len + (unsigned char)v->v.str.s[v->v.str.len];
        return;
    }
    if (v->type != GGUF_ARRAY)
        return;
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        if (v->v.arr.type == GGUF_STRING)
            sink += v->v.arr.strs[i].len + (unsigned char)v->v.arr.strs[i].s[0];
        else if (v->v.arr.type == GGUF_ARRAY)
            touch_value(&v->v.arr.items[i]);
        else
            sink += (uint64_t)gguf_arr_i64(v, i) + (gguf_arr_f64(v, i) != 0);
    }
}

static void touch_kv(const gguf_file *f, const gguf_kv *kv)
{
    touch_value(&kv->val);
    const char *key = kv->key.s;
    if (strlen(key) != kv->key.len)
        return; /* a key with an embedded NUL cannot be looked up by C string */
    if (gguf_find(f, key) != kv)
        __builtin_trap(); /* keys are unique, so the lookup must give this very kv */
    uint64_t u, n;
    int64_t s;
    float x;
    bool b;
    uint32_t u32;
    sink += gguf_get_u64(f, key, &u) + gguf_get_i64(f, key, &s) + gguf_get_f32(f, key, &x) +
            gguf_get_bool(f, key, &b) + gguf_get_u32(f, key, &u32);
    const char *str = gguf_get_str(f, key);
    if (str)
        sink += strlen(str);
    if (kv->val.type == GGUF_ARRAY && gguf_get_arr(f, key, kv->val.v.arr.type, &n) != &kv->val)
        __builtin_trap();
    sink += (uint64_t)gguf_vtype_name(kv->val.type)[0];
}

static void touch_tensors(const gguf_file *f)
{
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (strlen(t->name.s) == t->name.len && gguf_find_tensor(f, t->name.s) != t)
            __builtin_trap();
        const unsigned char *p = t->data;
        for (size_t j = 0; j < t->nbytes; j++)
            sink += p[j];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f, *part;
    hearth_error err;
    if (gguf_parse(&f, data, size, "fuzz.gguf", &err) == HEARTH_OK) {
        for (uint64_t i = 0; i < f->n_kv; i++)
            touch_kv(f, &f->kv[i]);
        touch_tensors(f);
        llm_model *lm = NULL;
        bert_model *bm = NULL;
        if (llm_model_load(&lm, f, llm_model_default_params(), &err) == HEARTH_OK)
            sink += (uint64_t)llm_model_hparams(lm)->n_vocab;
        if (bert_model_load(&bm, f, &err) == HEARTH_OK)
            sink += (uint64_t)bert_model_hparams(bm)->n_vocab;
        llm_model_free(lm);
        bert_model_free(bm);
        gguf_close(f);
    }
    if (gguf_parse(&f, data, size / 2, "fuzz-00001-of-00002.gguf", &err) != HEARTH_OK)
        return 0;
    if (gguf_parse(&part, data + size / 2, size - size / 2, "fuzz-00002-of-00002.gguf",
                   &err) == HEARTH_OK &&
        gguf_attach_parts(f, &part, 1, &err) == HEARTH_OK) /* f owns part either way */
        touch_tensors(f);
    gguf_close(f);
    return 0;
}
