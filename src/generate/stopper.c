/* stopper.c — see stopper.h. */
#define _GNU_SOURCE /* memmem */
#include "generate/stopper.h"

#include <string.h>

#include "base/mem.h"

void gen_stopper_init(gen_stopper *s, const char *const *stop, int n_stop)
{
    *s = (gen_stopper){ .stop = stop, .n_stop = n_stop };
}

void gen_stopper_free(gen_stopper *s)
{
    tok_str_free(&s->pending);
}

bool gen_stopper_push(gen_stopper *s, const char *text, size_t len, size_t *emit_len,
                      bool *hit)
{
    tok_str *b = &s->pending;
    if (tok_str_append(b, text, len))
        return false;
    size_t hit_at = b->n, keep_from = b->n;
    for (int i = 0; i < s->n_stop; i++) {
        const char *stop = s->stop[i];
        size_t sl = strlen(stop);
        if (sl == 0)
            continue;
        const char *at = memmem(b->s, b->n, stop, sl);
        if (at) {
            if ((size_t)(at - b->s) < hit_at)
                hit_at = (size_t)(at - b->s);
            continue;
        }
        /* the longest suffix of pending that is a prefix of this stop string */
        for (size_t k = sl - 1 < b->n ? sl - 1 : b->n; k > 0; k--)
            if (memcmp(b->s + b->n - k, stop, k) == 0) {
                if (b->n - k < keep_from)
                    keep_from = b->n - k;
                break;
            }
    }
    *hit = hit_at < b->n;
    *emit_len = *hit ? hit_at : keep_from;
    return true;
}

void gen_stopper_consume(gen_stopper *s, size_t n)
{
    memmove(s->pending.s, s->pending.s + n, s->pending.n - n);
    s->pending.n -= n;
}
