/*
 * server_int.h — what the server's files share: the server state, the model table
 * (models.c), the generation glue between HTTP and the scheduler (infer.c), and the
 * request-parsing helpers (server.c). Not part of any public API.
 */
#ifndef HEARTH_SERVER_SERVER_INT_H
#define HEARTH_SERVER_SERVER_INT_H

#include <cjson/cJSON.h>
#include <stdatomic.h>

#include "generate/templates.h"
#include "server/http.h"
#include "server/server.h"

/* ---- models.c ------------------------------------------------------------------------ */

typedef struct srv_models srv_models;

typedef struct srv_model {
    char name[128];
    char *path;
    size_t file_size;
    long mtime;
    gen_model *gm;       /* NULL: not loaded */
    bat_sched *sched;
    int users;           /* requests holding it */
    int grow_to;         /* a context requests wait for it to grow to; 0: none */
    double expires;      /* monotonic seconds when an idle model unloads; < 0: never */
} srv_model;

hearth_status models_open(srv_models **out, const srv_config *c, hearth_error *err);
/* Refuse new loads and unload everything (cancelling running jobs); the table stays
 * readable until models_close. */
void models_stop(srv_models *ms);
void models_close(srv_models *ms);
/* Find (name NULL or "": the only model; a trailing ":latest" is ignored), load if needed
 * and hold a model, its context grown to n_ctx tokens first if it is smaller (0: any
 * context; see models.c). *http_status gets 404 (unknown), 503 (over the memory budget, or
 * no memory for a larger context) or 500. */
hearth_status models_acquire(srv_models *ms, const char *name, int n_ctx, srv_model **out,
                             int *http_status, hearth_error *err);
/* Count the file at path (an embedding or speech model about to load) against the memory
 * budget while it is loaded, unloading idle chat models to make room; *bytes gets the size
 * counted (0 on failure), *http_status 503 when it cannot fit. models_unpin gives the bytes
 * back. */
hearth_status models_pin(srv_models *ms, const char *path, size_t *bytes, int *http_status,
                         hearth_error *err);
void models_unpin(srv_models *ms, size_t bytes);
/* Let go; the model unloads keep_alive_s seconds after its last user (< 0: never). */
void models_release(srv_models *ms, srv_model *m, double keep_alive_s);
/* Visit every model under the table's lock (fn must not call back into models_*). */
void models_each(srv_models *ms, void (*fn)(void *user, const srv_model *m, double now),
                 void *user);
double models_now(void);

/* ---- the server ---------------------------------------------------------------------- */

#define SRV_N_ROUTES 18

/* Counters for GET /metrics (Prometheus text format). */
typedef struct srv_metrics {
    atomic_long requests[SRV_N_ROUTES + 1][5]; /* by route (last: none) and 1xx..5xx */
    atomic_long generations, prompt_tokens, gen_tokens;
    atomic_long ttft_us, gen_us;               /* sums, for averages */
} srv_metrics;

struct srv {
    srv_config c;
    http_server *http;
    srv_models *models;
    srv_metrics metrics;
    atomic_long next_id;
    const char *cors[7];   /* headers added to every answer, NULL-ended */
    struct srv_embedders *emb;  /* embeddings.c */
    struct srv_whispers *wsp;   /* audio.c */
};

/* ---- server.c: request helpers ------------------------------------------------------- */

/* A number field: returns 0 when absent or null, 1 with *out set, -1 (msg filled) when it is
 * not a number (or not an integer when integer is set) within [lo, hi]. */
int srv_json_num(const cJSON *o, const char *key, double lo, double hi, bool integer,
                 double *out, hearth_error *err);
/* OpenAI's sampling defaults (temperature 1, top_p 1, no top_k or min_p, a seed from the
 * clock) in *gp, then the fields its chat, completions and responses APIs share: the
 * token limit under max_key, temperature, top_p, and 'model', a string if given. false
 * with err on a bad value. */
bool srv_oai_params(const cJSON *j, const char *max_key, gen_params *gp, hearth_error *err);
/* Stop strings from a string or an array of strings (at most max, non-empty); fills
 * stops[] with pointers into the JSON. Returns -1 with err on a bad value. */
int srv_json_stops(const cJSON *v, const char **stops, int max, hearth_error *err);
/* A grammar for structured output: OpenAI's response_format ({"type": "text" |
 * "json_object" | "json_schema", "json_schema": {"schema": ...}}) or Ollama's format
 * ("json" or a schema object). *out is NULL when the output is free text. Returns false
 * with err on a bad value or an unsupported schema. */
/* Text of a message's content: a string, or an array of parts each with a "text" (and,
 * when type is not NULL, that "type"), concatenated; mem_alloc'd. NULL with err naming
 * `what` on a malformed value. */
char *srv_content_text(const cJSON *c, const char *type, const char *what, hearth_error *err);
bool srv_output_grammar(const cJSON *v, bool ollama, grm_grammar **out, hearth_error *err);
/* Render a conversation with the model's template (ChatML if it has none or it fails) and
 * tokenize it. */
hearth_status srv_chat_prompt(const gen_model *gm, const tpl_message *msgs, int n,
                              tok_ids *out, hearth_error *err);
/* Tokenize raw text the way `hearth run` does. */
hearth_status srv_raw_prompt(const gen_model *gm, const char *text, tok_ids *out,
                             hearth_error *err);
/* A token's bytes as valid UTF-8 (bad bytes become U+FFFD), NUL-terminated in out. */
void srv_piece_utf8(const gen_model *gm, tok_id id, char *out, size_t cap);
/* Write o as one Server-Sent Events "data:" line (OpenAI's streams); frees o. False when
 * the client is gone. */
bool srv_sse_data(http_stream *st, cJSON *o);
/* Serialize and send a JSON body; frees o. */
void srv_send_json(http_req *r, int status, cJSON *o, const char *const *headers);

/* Count a finished generation. */
void srv_count_generation(srv *s, const gen_stats *st);

/* ---- infer.c: one generation request ------------------------------------------------- */

typedef struct srv_result {
    tok_str text;
    gen_token *toks;       /* every generated token, when keep_tokens */
    int n_toks, cap_toks;
    gen_stats stats;
    hearth_status st;
    hearth_error err;
} srv_result;

void srv_result_free(srv_result *res);

typedef struct srv_gen_req {
    srv_model *m;          /* held by the caller (models_acquire) */
    const tok_id *prompt;
    size_t n_prompt;
    gen_params params;
    double keep_alive_s;   /* for models_release */
    bool keep_tokens;
} srv_gen_req;

/* Streaming output: piece is called per token (on the scheduler's thread) and should write
 * a chunk into st; done writes the closing chunks; free releases user. */
typedef struct srv_stream_fmt {
    bool (*piece)(void *user, http_stream *st, const gen_token *t, const char *text, size_t len);
    void (*done)(void *user, http_stream *st, hearth_status status, const gen_stats *stats,
                 const hearth_error *err);
    void (*free)(void *user);
} srv_stream_fmt;

/* Run to completion while the client waits. Returns 200, or the HTTP status of a failure
 * (400 bad request, 503 busy, 500) with err filled. The model stays held by the caller. */
int srv_generate(srv *s, http_req *r, const srv_gen_req *g, srv_result *res,
                 hearth_error *err);
/* Answer with a stream. On success (200) the model and user are owned by the stream,
 * which releases both when it ends. On failure returns the status, answers nothing, and
 * the caller keeps both. */
int srv_generate_stream(srv *s, http_req *r, const srv_gen_req *g, const srv_stream_fmt *fmt,
                        void *user, const char *content_type, hearth_error *err);

/* ---- the APIs ------------------------------------------------------------------------ */

void oai_models(srv *s, http_req *r);
void oai_chat(srv *s, http_req *r);
void oai_completions(srv *s, http_req *r);
void oai_error(http_req *r, int status, const char *msg);
void oai_responses(srv *s, http_req *r); /* responses.c */
/* knowledge.c: POST /v1/knowledge/NAME/search and /v1/knowledge/NAME/ask (a prefix route). */
void srv_knowledge(srv *s, http_req *r);

void oll_version(srv *s, http_req *r);
void oll_tags(srv *s, http_req *r);
void oll_ps(srv *s, http_req *r);
void oll_show(srv *s, http_req *r);
void oll_generate(srv *s, http_req *r);
void oll_chat(srv *s, http_req *r);

/* ---- embeddings.c, audio.c: the embedding and speech-to-text endpoints -------------- */

typedef struct srv_embedders srv_embedders;
typedef struct srv_whispers srv_whispers;
/* The tables of loaded embedding / speech models (NULL on out-of-memory); close unloads. */
srv_embedders *semb_open(void);
void semb_close(srv_embedders *t);
srv_whispers *swsp_open(void);
void swsp_close(srv_whispers *t);
/* The file for the model a media request names: file (a --embed / --whisper flag) when
 * name is absent or "", is file's name without ext, or equals alias; otherwise
 * models_dir/NAME+ext when NAME is a plain file name and that file exists. */
bool srv_media_path(const srv *s, const char *name, const char *file, const char *alias,
                    const char *ext, char *out, size_t cap);

void oai_embeddings(srv *s, http_req *r);
void oll_embed(srv *s, http_req *r);
void oll_embeddings(srv *s, http_req *r);
void oai_transcriptions(srv *s, http_req *r);
void oai_translations(srv *s, http_req *r);

extern const char web_index_html[];

#endif
