/*
 * http.h — a small HTTP/1.1 server on libmicrohttpd: one handler, whole bodies, and
 * streamed responses fed from another thread.
 *
 * libmicrohttpd runs one thread per connection (bounded by max_conn), so a handler may
 * block: it receives the request once its whole body has arrived (bodies over max_body
 * get 413 before they are read) and must answer exactly once, either with http_respond
 * (a complete body) or with http_respond_stream (chunked transfer; the body is whatever
 * a producer, typically the scheduler's worker thread, writes into an http_stream until
 * it closes it). Keep-alive, header-size limits and idle timeouts are libmicrohttpd's.
 *
 * A streaming connection notices at once when its client goes away: the connection
 * thread waits for data in short slices and checks the socket in between; the
 * producer's next http_stream_write returns false and the stream's cancel hook runs.
 */
#ifndef HEARTH_SERVER_HTTP_H
#define HEARTH_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct http_server http_server;
typedef struct http_stream http_stream;

typedef struct http_req {
    void *conn;          /* the libmicrohttpd connection */
    http_server *server;
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* without the query string */
    const char *body;    /* NUL-terminated; "" when there is none */
    size_t body_len;
    const char *const *headers; /* "Name", "Value", ..., NULL added to every answer (CORS) */
    bool answered;
    int status;          /* the status answered (for the access log) */
} http_req;

typedef void (*http_handler)(void *user, http_req *req);

typedef struct http_config {
    const char *host;    /* numeric address or name to bind */
    int port;            /* 0: an ephemeral port (see http_port) */
    size_t max_body;     /* larger request bodies get 413 */
    int max_conn;        /* simultaneous connections */
    int timeout_s;       /* idle / slow-client timeout */
    http_handler handler;
    void *user;
} http_config;

hearth_status http_start(http_server **out, const http_config *c, hearth_error *err);
int http_port(const http_server *s);
/* Stop accepting new connections (the first half of a graceful shutdown). */
void http_quiesce(http_server *s);
/* Close every connection and join their threads. Streams should have been closed first:
 * their clients get up to drain_s seconds to receive what is left. */
void http_stop(http_server *s, double drain_s);

/* A request header (case-insensitive name), or NULL. */
const char *http_header(const http_req *r, const char *name);
/* Has the client closed its connection? (non-blocking look at the socket) */
bool http_client_gone(const http_req *r);

/* Answer with a complete body. headers: NULL or "Name", "Value", ..., NULL. */
void http_respond(http_req *r, int status, const char *content_type, const char *body,
                  size_t len, const char *const *headers);

/* A stream with two references: the producer's (released by http_stream_close) and the
 * response's. NULL on out-of-memory. */
http_stream *http_stream_new(void);
/* Append bytes; false when the client is gone (the producer should stop). */
bool http_stream_write(http_stream *st, const char *data, size_t len);
/* Called (once, from the connection thread) when the client goes away before the stream
 * is closed; set to NULL to remove. */
void http_stream_on_gone(http_stream *st, void (*fn)(void *), void *arg);
/* The body is complete; drops the producer's reference. */
void http_stream_close(http_stream *st);
/* Answer with a stream. Takes the response's reference even on failure. */
void http_respond_stream(http_req *r, int status, const char *content_type, http_stream *st,
                         const char *const *headers);
/* Drop the response's reference without answering (when the request failed before). */
void http_stream_abandon(http_stream *st);

#endif
