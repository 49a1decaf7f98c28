/*
 * http.c — see http.h.
 *
 * libmicrohttpd calls the access handler several times per request: first with only the
 * headers, then with pieces of the body, then once more with nothing, when the handler
 * runs. A body over the limit gets 413: at once when the client waits for a verdict
 * (Expect: 100-continue), otherwise after reading and dropping up to about twice the
 * limit, so that the client is still listening for the answer; a body larger than that
 * drops the connection.
 * Streams are a mutex-protected byte queue: the producer appends and signals, the
 * connection thread's content-reader callback waits for bytes in 100 ms slices and looks
 * at the socket between slices, so a vanished client is noticed without any write.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "server/http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"

struct http_server {
    struct MHD_Daemon *d;
    http_config c;
    int port;
    atomic_int n_streams; /* stream responses not yet finished */
};

struct http_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t n, off, cap;
    bool closed, gone;
    int refs;
    int fd;
    http_server *server;  /* counts this stream while it is a response */
    void (*on_gone)(void *);
    void *gone_arg;
};

typedef struct conn_state {
    char *body;
    size_t n, cap;
    bool too_big;        /* the body is over the limit: answer 413 */
    bool answered_early; /* 413 queued before the body (the client sent Expect) */
    size_t discarded;    /* bytes of an oversized body read and dropped */
} conn_state;

/* ---- responses ----------------------------------------------------------------------- */

static void add_headers(struct MHD_Response *resp, const http_req *r, const char *content_type,
                        const char *const *headers)
{
    for (int i = 0; r->headers && r->headers[i] && r->headers[i + 1]; i += 2)
        MHD_add_response_header(resp, r->headers[i], r->headers[i + 1]);
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
}

void http_respond(http_req *r, int status, const char *content_type, const char *body,
                  size_t len, const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    r->answered = true;
    r->status = status;
    if (!resp)
        return;
    add_headers(resp, r, content_type, headers);
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

static const char too_large[] =
    "{\"error\":{\"message\":\"the request body is too large\",\"type\":"
    "\"invalid_request_error\",\"code\":413}}";

/* ---- streams ------------------------------------------------------------------------- */

http_stream *http_stream_new(void)
{
    http_stream *st = mem_calloc(1, sizeof *st);
    if (!st)
        return NULL;
    if (pthread_mutex_init(&st->mu, NULL) != 0) {
        mem_free(st);
        return NULL;
    }
    if (pthread_cond_init(&st->cv, NULL) != 0) {
        pthread_mutex_destroy(&st->mu);
        mem_free(st);
        return NULL;
    }
    st->refs = 2;
    st->fd = -1;
    return st;
}

static void stream_unref(http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    mem_free(st->buf);
    mem_free(st);
}

bool http_stream_write(http_stream *st, const char *data, size_t len)
{
    pthread_mutex_lock(&st->mu);
    bool ok = !st->gone;
    if (ok && st->n + len > st->cap) {
        size_t cap = (st->n + len) * 2 + 256;
        char *nb = mem_realloc(st->buf, cap);
        if (nb) {
            st->buf = nb;
            st->cap = cap;
        } else {
            ok = false;
        }
    }
    if (ok) {
        memcpy(st->buf + st->n, data, len);
        st->n += len;
        pthread_cond_signal(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    return ok;
}

void http_stream_on_gone(http_stream *st, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&st->mu);
    st->on_gone = fn;
    st->gone_arg = arg;
    pthread_mutex_unlock(&st->mu);
}

void http_stream_close(http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->closed = true;
    st->on_gone = NULL;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
}

void http_stream_abandon(http_stream *st)
{
    stream_unref(st);
}

static bool fd_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))
        return true;
    char c;
    return (p.revents & POLLIN) && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The client is gone (mu held): tell the producer, once. The hook runs under the lock
 * so that a producer clearing it cannot free what it points at meanwhile. */
static void mark_gone(http_stream *st)
{
    st->gone = true;
    if (st->on_gone)
        st->on_gone(st->gone_arg);
    st->on_gone = NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    http_stream *st = cls;
    (void)pos;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (st->n > st->off) {
            size_t k = st->n - st->off < max ? st->n - st->off : max;
            memcpy(out, st->buf + st->off, k);
            st->off += k;
            if (st->off == st->n)
                st->off = st->n = 0;
            pthread_mutex_unlock(&st->mu);
            return (ssize_t)k;
        }
        if (st->closed) {
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 100 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->cv, &st->mu, &t);
        if (st->n == st->off && !st->closed && fd_gone(st->fd)) {
            mark_gone(st);
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

/* libmicrohttpd is done with the response (sent, or the connection died). */
static void stream_free(void *cls)
{
    http_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    if (st->server)
        atomic_fetch_sub(&st->server->n_streams, 1);
    if (!st->closed && !st->gone)
        mark_gone(st);
    st->gone = true;
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
}

static int conn_fd(void *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

void http_respond_stream(http_req *r, int status, const char *content_type, http_stream *st,
                         const char *const *headers)
{
    r->answered = true;
    r->status = status;
    pthread_mutex_lock(&st->mu);
    st->fd = conn_fd(r->conn);
    st->server = r->server;
    atomic_fetch_add(&r->server->n_streams, 1);
    pthread_mutex_unlock(&st->mu);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                          stream_free);
    if (!resp) {
        stream_free(st);
        return;
    }
    add_headers(resp, r, content_type, headers);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

/* ---- requests ------------------------------------------------------------------------ */

const char *http_header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool http_client_gone(const http_req *r)
{
    return fd_gone(conn_fd(r->conn));
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    http_server *s = cls;
    conn_state *cs = *con_cls;
    (void)version;
    if (!cs) {
        if (!(cs = mem_calloc(1, sizeof *cs)))
            return MHD_NO;
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
        if (cl && strtoull(cl, NULL, 10) > s->c.max_body) {
            cs->too_big = true;
            if (expect) { /* the client waits for a verdict before sending the body */
                http_req r = { .conn = conn };
                http_respond(&r, 413, "application/json", too_large, sizeof too_large - 1, NULL);
                cs->answered_early = true;
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t k = *upload_data_size;
        *upload_data_size = 0;
        if (cs->answered_early)
            return MHD_YES;
        if (cs->n + k > s->c.max_body)
            cs->too_big = true;
        if (cs->too_big) {
            /* read and drop a moderate excess so the client can read the 413; past that,
             * drop the connection */
            cs->discarded += k;
            return cs->discarded > 2 * s->c.max_body + (1u << 20) ? MHD_NO : MHD_YES;
        }
        if (cs->n + k + 1 > cs->cap) {
            size_t cap = (cs->n + k + 1) * 2;
            if (cap > s->c.max_body + 1)
                cap = s->c.max_body + 1;
            char *nb = mem_realloc(cs->body, cap);
            if (!nb)
                return MHD_NO;
            cs->body = nb;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->n, upload_data, k);
        cs->n += k;
        cs->body[cs->n] = '\0';
        return MHD_YES;
    }
    if (cs->answered_early)
        return MHD_YES;
    if (cs->too_big) {
        http_req r = { .conn = conn };
        http_respond(&r, 413, "application/json", too_large, sizeof too_large - 1, NULL);
        return MHD_YES;
    }
    http_req r = { .conn = conn, .server = s, .method = method, .path = url,
                   .body = cs->body ? cs->body : "", .body_len = cs->n };
    s->c.handler(s->c.user, &r);
    if (!r.answered) {
        static const char msg[] = "{\"error\":{\"message\":\"no answer\",\"type\":\"server_error\"}}";
        http_respond(&r, 500, "application/json", msg, sizeof msg - 1, NULL);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_state *cs = *con_cls;
    if (cs) {
        mem_free(cs->body);
        mem_free(cs);
    }
    *con_cls = NULL;
}

hearth_status http_start(http_server **out, const http_config *c, hearth_error *err)
{
    *out = NULL;
    if (c->port < 0 || c->port > 65535)
        return err_set(err, HEARTH_ERR_INVALID, "port %d is not 0..65535", c->port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *ai;
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    if (getaddrinfo(c->host, port, &hints, &ai) != 0 || !ai)
        return err_set(err, HEARTH_ERR_INVALID, "cannot resolve the address to listen on: %s",
                       c->host);
    http_server *s = mem_calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return err_set(err, HEARTH_ERR_NOMEM, "out of memory");
    }
    s->c = *c;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_access, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_conn,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        mem_free(s);
        return err_set(err, HEARTH_ERR_IO, "cannot listen on %s port %d (in use, or not an "
                       "address of this machine?)", c->host, c->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : c->port;
    *out = s;
    return HEARTH_OK;
}

int http_port(const http_server *s)
{
    return s->port;
}

void http_quiesce(http_server *s)
{
    if (!s || !s->d)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->d); /* the listening socket is now ours to close */
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void http_stop(http_server *s, double drain_s)
{
    if (!s)
        return;
    for (int i = 0; i < drain_s * 100 && atomic_load(&s->n_streams) > 0; i++)
        nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
    MHD_stop_daemon(s->d);
    mem_free(s);
}
