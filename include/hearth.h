/*
 * hearth.h — the public C API of libhearth.
 *
 * hearth runs open-weight models (chat, embeddings, speech, images) on your own machine,
 * offline. This header is the whole public surface; anything not declared here is internal
 * and may change.
 *
 * Conventions
 *   - Every function that can fail returns a hearth_status and, where it takes one, fills a
 *     caller-provided hearth_error with a one-line message naming what is wrong and where.
 *   - Objects are opaque handles with create/free pairs; free(NULL) is a no-op.
 *   - No global state: two handles never share mutable state, so different handles may be
 *     used from different threads at once; one handle must not be used by two threads at once.
 *
 * Usage: chat with a model
 *   static bool print(void *user, const char *text, size_t len) {
 *       fwrite(text, 1, len, stdout);
 *       return true;                      // false stops the answer
 *   }
 *   ...
 *   hearth_error err;
 *   hearth_model *m;
 *   hearth_session *s;
 *   if (hearth_model_load(&m, "qwen3-0.6b-q8_0.gguf", hearth_model_default_params(), &err) ||
 *       hearth_session_new(&s, m, hearth_session_default_params(), &err)) {
 *       fprintf(stderr, "%s\n", err.msg);
 *       return 1;
 *   }
 *   hearth_message msgs[] = { { "user", "Why is the sky blue?" } };
 *   hearth_generate_params gp = hearth_generate_default_params();
 *   hearth_chat(s, msgs, 1, &gp, print, NULL, &err);
 *   hearth_session_free(s);
 *   hearth_model_free(m);
 */
#ifndef HEARTH_H
#define HEARTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_VERSION "0.1.0"

typedef enum hearth_status {
    HEARTH_OK = 0,
    HEARTH_ERR_INVALID,      /* a bad argument or request */
    HEARTH_ERR_IO,           /* a file could not be opened, read or written */
    HEARTH_ERR_NOMEM,        /* an allocation failed */
    HEARTH_ERR_FORMAT,       /* a file is malformed */
    HEARTH_ERR_UNSUPPORTED,  /* well-formed, but uses something hearth does not implement */
    HEARTH_ERR_RANGE,        /* a value is outside what is allowed (context full, too large) */
} hearth_status;

/* A status plus a one-line, human-readable message (never ends in a newline). */
typedef struct hearth_error {
    hearth_status status;
    char msg[512];
} hearth_error;

/* The library version, e.g. "0.1.0". */
const char *hearth_version(void);

/* A short name for a status, e.g. "format error". Never NULL. */
const char *hearth_status_str(hearth_status status);

/* ---- GGUF files ------------------------------------------------------------------------
 * A read-only view of a GGUF model file. The file is memory-mapped; tensor data is used in
 * place. Every length, count and offset is validated before use: a malformed file gives
 * HEARTH_ERR_FORMAT with a message naming the file and the problem.
 */
typedef struct gguf_file hearth_gguf;

hearth_status hearth_gguf_open(hearth_gguf **out, const char *path, hearth_error *err);
void hearth_gguf_free(hearth_gguf *f);

/* ---- Language models --------------------------------------------------------------------
 * A hearth_model is a loaded GGUF decoder (llama, qwen2, qwen3) with its tokenizer and chat
 * template; it is immutable and may be shared by sessions in different threads. A
 * hearth_session is one conversation's state (its KV cache and threads); it remembers what
 * it has already evaluated, so continuing a conversation only processes the new part.
 */
typedef struct hearth_model hearth_model;
typedef struct hearth_session hearth_session;

typedef struct hearth_model_params {
    int reserved; /* no options yet; keeps the struct extensible */
} hearth_model_params;

typedef struct hearth_session_params {
    int n_ctx;     /* context in tokens; 0: the model's, at most 4096 */
    int n_threads; /* 0: one per CPU */
} hearth_session_params;

typedef struct hearth_generate_params {
    int n_predict;          /* most tokens to generate; -1: until the model stops */
    float temperature;      /* 0: greedy */
    int top_k;              /* 0: off */
    float top_p;            /* 1: off */
    float min_p;            /* 0: off */
    float repeat_penalty;   /* 1: off */
    uint64_t seed;
    const char *const *stop; /* stop strings, not included in the output */
    int n_stop;
} hearth_generate_params;

typedef struct hearth_message {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} hearth_message;

/* Receives generated text as it appears, in whole UTF-8 characters; return false to stop. */
typedef bool (*hearth_text_fn)(void *user, const char *text, size_t len);

hearth_model_params hearth_model_default_params(void);
hearth_session_params hearth_session_default_params(void);
hearth_generate_params hearth_generate_default_params(void);

hearth_status hearth_model_load(hearth_model **out, const char *path, hearth_model_params p,
                                hearth_error *err);
void hearth_model_free(hearth_model *m);

hearth_status hearth_session_new(hearth_session **out, const hearth_model *m,
                                 hearth_session_params p, hearth_error *err);
void hearth_session_free(hearth_session *s);

/* Continue raw text (no chat template; BOS added as the model asks). */
hearth_status hearth_generate(hearth_session *s, const char *prompt,
                              const hearth_generate_params *p, hearth_text_fn on_text,
                              void *user, hearth_error *err);
/* Answer the last message of a conversation, rendered with the model's chat template
 * (ChatML when the model has none or it cannot be rendered). */
hearth_status hearth_chat(hearth_session *s, const hearth_message *msgs, int n_msgs,
                          const hearth_generate_params *p, hearth_text_fn on_text, void *user,
                          hearth_error *err);

#ifdef __cplusplus
}
#endif
#endif
