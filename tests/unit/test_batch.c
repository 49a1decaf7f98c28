/* test_batch.c — the sequence scheduler against gen_run, the single-sequence reference. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "generate/batch.h"
#include "tensor/types.h"
#include "test.h"

#define BMODEL TESTDATA "/models/tiny-qwen2-bpe-q8_0.gguf"

typedef struct collect {
    char text[4096];
    size_t n;
    int n_tok;
    bool done;
    hearth_status st;
    gen_stats stats;
    int cancel_after; /* > 0: return false after this many tokens */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} collect;

static bool on_tok(void *user, const gen_token *t, const char *text, size_t len)
{
    collect *c = user;
    if (c->n + len < sizeof c->text) {
        memcpy(c->text + c->n, text, len);
        c->n += len;
        c->text[c->n] = '\0';
    }
    if (t)
        c->n_tok++;
    return !(c->cancel_after > 0 && c->n_tok >= c->cancel_after);
}

static void on_done(void *user, hearth_status st, const gen_stats *stats, const hearth_error *err)
{
    collect *c = user;
    (void)err;
    pthread_mutex_lock(&c->mu);
    c->st = st;
    c->stats = *stats;
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void wait_done(collect *c)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

static void collect_init(collect *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static bool ref_tok(void *user, const gen_token *t, const char *text, size_t len)
{
    return on_tok(user, t, text, len);
}

static const char *prompts[] = { "Once upon a time", "The capital of France is",
                                 "1, 2, 3, 4,", "Hello there, my friend" };

static void encode(const gen_model *m, const char *text, tok_ids *ids)
{
    hearth_error err;
    ids->n = 0;
    tok_encode(m->vocab, text, strlen(text), true, false, ids, &err);
}

TEST(batch_greedy_matches_gen_run)
{
    gen_model *m;
    hearth_error err;
    REQUIRE(gen_model_open(&m, BMODEL, llm_model_default_params(), &err) == HEARTH_OK);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_threads = 2;
    gen_params gp = gen_default_params();
    gp.sampling.temperature = 0;
    gp.n_predict = 12;
    gp.ignore_eog = true;
    enum { NP = 4 };
    collect ref[NP], got[NP];
    tok_ids ids = { 0 };
    gen_session *gs;
    REQUIRE(gen_session_new(&gs, m->llm, m->vocab, cp, &err) == HEARTH_OK);
    for (int i = 0; i < NP; i++) {
        collect_init(&ref[i]);
        encode(m, prompts[i], &ids);
        gen_session_reset(gs);
        CHECK(gen_run(gs, ids.v, ids.n, &gp, ref_tok, &ref[i], &ref[i].stats, &err) == HEARTH_OK);
    }
    gen_session_free(gs);

    bat_params bp = bat_default_params();
    bp.n_parallel = 3; /* fewer slots than requests: one waits in the queue */
    bp.ctx = cp;
    bat_sched *s;
    REQUIRE(bat_new(&s, m, bp, &err) == HEARTH_OK);
    bat_job *jobs[NP];
    tok_ids pid[NP] = { { 0 } };
    for (int i = 0; i < NP; i++) {
        collect_init(&got[i]);
        encode(m, prompts[i], &pid[i]);
        bat_request r = { .prompt = pid[i].v, .n_prompt = pid[i].n, .params = gp,
                          .on_token = on_tok, .on_done = on_done, .user = &got[i] };
        bool busy;
        CHECK(bat_submit(s, &r, &jobs[i], &busy, &err) == HEARTH_OK);
    }
    for (int i = 0; i < NP; i++) {
        wait_done(&got[i]);
        bat_job_release(jobs[i]);
        CHECK_EQ(got[i].st, HEARTH_OK);
        CHECK_EQ(got[i].stats.n_gen, 12);
        CHECK_EQ(got[i].stats.finish, GEN_FINISH_LENGTH);
        CHECK_STR(got[i].text, ref[i].text);
        tok_ids_free(&pid[i]);
    }
    /* the last prompt again reuses its slot's cache (nothing has replaced it since) */
    collect again;
    collect_init(&again);
    encode(m, prompts[NP - 1], &ids);
    bat_request r = { .prompt = ids.v, .n_prompt = ids.n, .params = gp, .on_token = on_tok,
                      .on_done = on_done, .user = &again };
    bat_job *j;
    bool busy;
    REQUIRE(bat_submit(s, &r, &j, &busy, &err) == HEARTH_OK);
    wait_done(&again);
    bat_job_release(j);
    CHECK(again.stats.n_cached > 0);
    CHECK_STR(again.text, ref[NP - 1].text);
    bat_free(s);
    tok_ids_free(&ids);
    gen_model_free(m);
}

TEST(batch_cancel_busy_and_checks)
{
    gen_model *m;
    hearth_error err;
    REQUIRE(gen_model_open(&m, BMODEL, llm_model_default_params(), &err) == HEARTH_OK);
    bat_params bp = bat_default_params();
    bp.n_parallel = 1;
    bp.n_queue = 1;
    bp.ctx.n_ctx = 64;
    bp.ctx.n_threads = 1;
    bat_sched *s;
    REQUIRE(bat_new(&s, m, bp, &err) == HEARTH_OK);
    tok_ids ids = { 0 };
    encode(m, "Hello there", &ids);
    gen_params gp = gen_default_params();
    gp.ignore_eog = true;
    gp.sampling.temperature = 0;

    /* a prompt longer than the context is refused before queuing */
    tok_id big[64] = { 0 };
    bat_request r = { .prompt = big, .n_prompt = 64, .params = gp };
    CHECK(bat_check(s, &r, &err) == HEARTH_ERR_RANGE);
    CHECK_CONTAINS(err.msg, "context");

    /* the first job holds the slot until cancelled; the second waits; the third is busy */
    collect a, b, c;
    collect_init(&a);
    collect_init(&b);
    collect_init(&c);
    bat_request ra = { .prompt = ids.v, .n_prompt = ids.n, .params = gp, .on_token = on_tok,
                       .on_done = on_done, .user = &a };
    bat_request rb = ra;
    rb.user = &b;
    rb.params.n_predict = 3;
    bat_job *ja, *jb, *jc;
    bool busy;
    REQUIRE(bat_submit(s, &ra, &ja, &busy, &err) == HEARTH_OK);
    for (int spin = 0; spin < 5000 && bat_get_load(s).active == 0; spin++)
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    REQUIRE(bat_get_load(s).active == 1);
    REQUIRE(bat_submit(s, &rb, &jb, &busy, &err) == HEARTH_OK);
    CHECK(bat_submit(s, &rb, &jc, &busy, &err) == HEARTH_ERR_RANGE);
    CHECK(busy);
    CHECK_CONTAINS(err.msg, "busy");
    bat_cancel(ja);
    wait_done(&a);
    CHECK_EQ(a.stats.finish, GEN_FINISH_CANCELLED);
    CHECK(a.n_tok >= 1);
    wait_done(&b);
    CHECK_EQ(b.stats.finish, GEN_FINISH_LENGTH);
    CHECK_EQ(b.stats.n_gen, 3);
    bat_job_release(ja);
    bat_job_release(jb);
    /* a callback returning false stops the job after that token */
    c.cancel_after = 4;
    bat_request rc = ra;
    rc.user = &c;
    REQUIRE(bat_submit(s, &rc, &jc, &busy, &err) == HEARTH_OK);
    wait_done(&c);
    CHECK_EQ(c.stats.finish, GEN_FINISH_CANCELLED);
    CHECK_EQ(c.n_tok, 4);
    bat_job_release(jc);
    /* a job cancelled from outside stops */
    collect d;
    collect_init(&d);
    bat_request rd = ra;
    rd.user = &d;
    bat_job *jd;
    REQUIRE(bat_submit(s, &rd, &jd, &busy, &err) == HEARTH_OK);
    bat_cancel(jd);
    wait_done(&d);
    CHECK_EQ(d.stats.finish, GEN_FINISH_CANCELLED);
    bat_job_release(jd);
    /* bat_free cancels what is still running */
    collect e;
    collect_init(&e);
    rd.user = &e;
    REQUIRE(bat_submit(s, &rd, &jd, &busy, &err) == HEARTH_OK);
    bat_free(s);
    CHECK(e.done);
    CHECK_EQ(e.stats.finish, GEN_FINISH_CANCELLED);
    bat_job_release(jd);
    tok_ids_free(&ids);
    gen_model_free(m);
}

TEST(batch_grammar_matches_gen_run)
{
    gen_model *m;
    hearth_error err;
    REQUIRE(gen_model_open(&m, BMODEL, llm_model_default_params(), &err) == HEARTH_OK);
    static const char gbnf[] = "root ::= (\"yes\" | \"no\") \", \" [a-c]{1,3} \".\"\n";
    grm_grammar *g;
    REQUIRE(grm_parse(&g, gbnf, sizeof gbnf - 1, "test.gbnf", &err) == HEARTH_OK);
    gen_params gp = gen_default_params();
    gp.sampling.temperature = 0;
    gp.n_predict = 20;
    gp.grammar = g;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    tok_ids ids = { 0 };
    encode(m, "Answer:", &ids);
    collect ref, got;
    collect_init(&ref);
    collect_init(&got);
    gen_session *gs;
    REQUIRE(gen_session_new(&gs, m->llm, m->vocab, cp, &err) == HEARTH_OK);
    CHECK(gen_run(gs, ids.v, ids.n, &gp, ref_tok, &ref, &ref.stats, &err) == HEARTH_OK);
    gen_session_free(gs);
    bat_params bp = bat_default_params();
    bp.n_parallel = 2;
    bp.ctx = cp;
    bat_sched *s;
    REQUIRE(bat_new(&s, m, bp, &err) == HEARTH_OK);
    bat_request r = { .prompt = ids.v, .n_prompt = ids.n, .params = gp, .on_token = on_tok,
                      .on_done = on_done, .user = &got };
    bat_job *j;
    bool busy;
    REQUIRE(bat_submit(s, &r, &j, &busy, &err) == HEARTH_OK);
    wait_done(&got);
    bat_job_release(j);
    CHECK_STR(got.text, ref.text);
    CHECK_EQ(got.stats.finish, ref.stats.finish);
    /* the text is a sentence of the grammar, whatever the model preferred */
    CHECK(strncmp(got.text, "yes, ", 5) == 0 || strncmp(got.text, "no, ", 4) == 0);
    CHECK(got.n > 0 && got.text[got.n - 1] == '.');
    bat_free(s);
    grm_free(g);
    tok_ids_free(&ids);
    gen_model_free(m);
}

/* The KV cache a scheduler will hold, against numbers worked out by hand from the fixtures'
 * shapes (models/README.md), as a memory budget needs it before the scheduler is made. */
TEST(batch_kv_bytes_by_hand)
{
    gen_model *m;
    hearth_error err;
    REQUIRE(gen_model_open(&m, BMODEL, llm_model_default_params(), &err) == HEARTH_OK);
    CHECK_EQ(llm_model_hparams(m->llm)->head_dim, 8);
    bat_params p = bat_default_params();
    p.n_parallel = 4;
    p.ctx.n_ctx = 64;
    /* 2 (K and V) * 2 layers * 64 positions * 2 KV heads * 8 dims * 2 bytes, per slot */
    CHECK_EQ(bat_kv_bytes(m, p), 2 * 2 * 64 * 2 * 8 * 2 * 4);
    /* no n_ctx: the training context (256), as bat_new resolves it */
    p.n_parallel = 1;
    p.ctx.n_ctx = 0;
    CHECK_EQ(bat_kv_bytes(m, p), 2 * 2 * 256 * 2 * 8 * 2);
    bat_sched *s;
    REQUIRE(bat_new(&s, m, p, &err) == HEARTH_OK);
    CHECK_EQ(bat_n_ctx(s), 256);
    bat_free(s);
    /* what bat_new refuses counts nothing: no slots, a Q8_0 cache for a head size of 8 */
    p.n_parallel = 0;
    CHECK_EQ(bat_kv_bytes(m, p), 0);
    p.n_parallel = 1;
    p.ctx.kv_type = TQ_Q8_0;
    CHECK_EQ(bat_kv_bytes(m, p), 0);
    gen_model_free(m);
    /* Q8_0 where the head size allows it: 64 values = 2 blocks of 34 bytes */
    REQUIRE(gen_model_open(&m, TESTDATA "/models/small-llama-spm-q4_k_m.gguf",
                           llm_model_default_params(), &err) == HEARTH_OK);
    p.ctx.n_ctx = 256;
    CHECK_EQ(bat_kv_bytes(m, p), 2 * 2 * 256 * 68);
    gen_model_free(m);
}
