/* genopts.c — see genopts.h. */
#include "cli/genopts.h"
#include "tensor/types.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char genopts_help[] =
    "  -n, --n-predict N     most tokens to generate (default: until the model stops)\n"
    "  --temp T              temperature, 0 = greedy (default 0.8)\n"
    "  --top-k K             keep the K most likely tokens, 0 = off (default 40)\n"
    "  --top-p P             nucleus sampling, 1 = off (default 0.95)\n"
    "  --min-p P             drop tokens below P x the most likely (default 0.05)\n"
    "  --repeat-penalty R    penalise recent tokens, 1 = off (default 1)\n"
    "  --presence-penalty P  --frequency-penalty F   OpenAI-style penalties (default 0)\n"
    "  --seed S              random seed, for reproducible runs\n"
    "  --stop TEXT           stop when TEXT appears (repeatable)\n"
    "  --ignore-eos          keep generating past end-of-turn tokens\n"
    "  -c, --ctx N           context size in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N       threads (default: one per CPU)\n"
    "  --kv-cache f16|q8_0   KV cache type; q8_0 halves its memory (default f16)\n";

void genopts_init(genopts *o)
{
    memset(o, 0, sizeof *o);
    o->gen = gen_default_params();
    o->ctx = llm_ctx_default_params();
    o->gen.stop = o->stop;
}

bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool parse_float(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || isnan(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool is(const char *a, const char *s1, const char *s2)
{
    return strcmp(a, s1) == 0 || (s2 && strcmp(a, s2) == 0);
}

bool genopts_parse(genopts *o, const char *cmd, int argc, char **argv, int *i, bool *ok)
{
    const char *a = argv[*i];
    *ok = true;
    if (is(a, "--ignore-eos", NULL)) {
        o->gen.ignore_eog = true;
        return true;
    }
    if (is(a, "--kv-cache", NULL)) {
        const char *v = *i + 1 < argc ? argv[++*i] : "";
        int t = tq_type_from_name(v);
        if (t != TQ_F16 && t != TQ_Q8_0) {
            fprintf(stderr, "hearth %s: --kv-cache takes f16 or q8_0, not '%s'\n", cmd, v);
            *ok = false;
        }
        o->ctx.kv_type = t;
        return true;
    }
    static const struct { const char *l, *s; bool is_int; double lo, hi; } opts[] = {
        { "--n-predict", "-n", true, -1, 1 << 24 },
        { "--temp", NULL, false, 0, 100 },
        { "--top-k", NULL, true, 0, 1 << 24 },
        { "--top-p", NULL, false, 0, 1 },
        { "--min-p", NULL, false, 0, 1 },
        { "--repeat-penalty", NULL, false, 0.01, 100 },
        { "--presence-penalty", NULL, false, -2, 2 },
        { "--frequency-penalty", NULL, false, -2, 2 },
        { "--seed", NULL, true, 0, 9e18 }, /* bounds go through (long): stay below 2^63 */
        { "--ctx", "-c", true, 16, 1 << 22 },
        { "--threads", "-t", true, 1, 1024 },
        { "--stop", NULL, false, 0, 0 },
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (!is(a, opts[k].l, opts[k].s))
            continue;
        if (*i + 1 >= argc) {
            fprintf(stderr, "hearth %s: %s needs a value\n", cmd, a);
            *ok = false;
            return true;
        }
        const char *val = argv[++*i];
        if (strcmp(opts[k].l, "--stop") == 0) {
            if (o->gen.n_stop == GENOPTS_MAX_STOP || !*val) {
                fprintf(stderr, "hearth %s: --stop takes a non-empty text, at most %d times\n",
                        cmd, GENOPTS_MAX_STOP);
                *ok = false;
            } else {
                o->stop[o->gen.n_stop++] = val;
            }
            return true;
        }
        long iv = 0;
        double fv = 0;
        bool good = opts[k].is_int ? parse_int(val, (long)opts[k].lo, (long)opts[k].hi, &iv)
                                   : parse_float(val, opts[k].lo, opts[k].hi, &fv);
        if (!good) {
            fprintf(stderr, opts[k].is_int ? "hearth %s: %s '%s' is not a whole number between "
                                             "%.0f and %.0f\n"
                                           : "hearth %s: %s '%s' is not a number between %g and "
                                             "%g\n",
                    cmd, a, val, opts[k].lo, opts[k].hi);
            *ok = false;
            return true;
        }
        smp_params *sp = &o->gen.sampling;
        switch (k) {
        case 0: o->gen.n_predict = (int)iv; break;
        case 1: sp->temperature = (float)fv; break;
        case 2: sp->top_k = (int)iv; break;
        case 3: sp->top_p = (float)fv; break;
        case 4: sp->min_p = (float)fv; break;
        case 5: sp->repeat_penalty = (float)fv; break;
        case 6: sp->presence_penalty = (float)fv; break;
        case 7: sp->frequency_penalty = (float)fv; break;
        case 8: sp->seed = (uint64_t)iv; break;
        case 9: o->ctx.n_ctx = (int)iv; break;
        case 10: o->ctx.n_threads = (int)iv; break;
        }
        return true;
    }
    return false;
}
