/* SPDX-License-Identifier: MIT
 *
 * The HTTP/1.1 server's connections (see conn.h): read, dispatch, respond in
 * order, timers, graceful close. Parsing requests and encoding responses,
 * which need no socket, live in rx.c (http/rx.h); the listening socket lives
 * in server.c.
 *
 * It must never crash or allocate without bound on client input, never log a
 * header value or a body, and never parse a request while the one before it on
 * the same connection is unanswered (responses stay in order by construction).
 */
#include "http/conn.h"

#include <inttypes.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/error.h"
#include "http/rx.h"
#include "util/log.h"

#define OUT_INITIAL 2048
#define OUT_KEEP_MAX (64 * 1024)   /* a larger output buffer is released after use */
#define OUT_HIGH_WATER (256 * 1024) /* stop parsing while this much waits in the kernel queue */
#define LINGER_MS 5000              /* how long to drain a closing client before cutting it off */
#define TLS_IN_MAX (64 * 1024)      /* undecrypted bytes held while a request waits; then stop reading */

/* ======================================================================
 * Connections
 * ====================================================================== */

enum { TM_NONE, TM_IDLE, TM_REQUEST, TM_LINGER };

typedef struct cf__http_conn conn_t;

struct cf__http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    cf_http_server_t *srv;
    conn_t *prev, *next;
    cf__http_rx_t rx;
    cf_http_req_t req;
    char *out; /* responses not yet handed to the kernel */
    size_t out_len, out_cap;
    uint64_t last_active; /* loop time of the last response (lazy idle timer) */
    int handles_open;
    int timer_mode;
    unsigned pending : 1;     /* req dispatched, not yet answered */
    unsigned closing : 1;     /* uv_close called */
    unsigned close_after : 1; /* no more requests; finish once output is queued */
    unsigned lingering : 1;   /* shut down our side, draining input until EOF/timeout */
    unsigned reading : 1;
    unsigned eof : 1;
    unsigned in_process : 1;
    unsigned write_blocked : 1;
    unsigned tls_ready : 1; /* the TLS handshake finished */
    SSL *ssl;               /* NULL: plain HTTP */
    BIO *tls_rbio, *tls_wbio; /* records from the socket / for the socket (owned by ssl) */
    cf_tls_peer_t peer;
};

typedef struct {
    uv_write_t req;
    conn_t *c;
    char data[];
} wreq_t;

static void conn_process(conn_t *c);
static void conn_read_stop(conn_t *c);

/* The last connection of a stopped server frees it (or the listener's close does). */
void cf__http_server_maybe_free(cf_http_server_t *s)
{
    if (s->stopping && s->listener_closed && s->conns == NULL) {
        SSL_CTX_free(s->tls);
        free(s->tls_in);
        free(s->host);
        free(s);
    }
}

static void conn_free(conn_t *c)
{
    cf_http_server_t *s = c->srv;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->stats.open_connections--;
    cf__http_rx_fini(&c->rx);
    SSL_free(c->ssl); /* and its BIOs */
    free(c->out);
    free(c); /* the only place a conn_t is freed */
    cf__http_server_maybe_free(s);
}

static void on_conn_close(uv_handle_t *h)
{
    conn_t *c = h->data;

    if (--c->handles_open == 0 && !c->pending)
        conn_free(c);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

/* Make room for @need more output bytes; CF_ENOMEM leaves the buffer as it was. */
static int conn_out_reserve(conn_t *c, size_t need)
{
    size_t ncap;
    char *nout;

    if (c->out_cap - c->out_len >= need)
        return 0;
    ncap = c->out_cap ? c->out_cap : OUT_INITIAL;
    while (ncap - c->out_len < need)
        ncap *= 2;
    nout = realloc(c->out, ncap);
    if (nout == NULL)
        return CF_ENOMEM;
    c->out = nout;
    c->out_cap = ncap;
    return 0;
}

/* Append an encoded response; 0, CF_EINVAL (bad header) or CF_ENOMEM. */
static int conn_append(conn_t *c, int status, const cf_http_header_t *h, size_t nh, const char *body,
                       size_t body_len, int keep_alive, int head_only)
{
    const char *date = cf__http_server_date(c->srv);
    size_t n;

    if (c->out == NULL && conn_out_reserve(c, OUT_INITIAL) < 0)
        return CF_ENOMEM;
    n = cf__http_encode_response(c->out + c->out_len, c->out_cap - c->out_len, status, h, nh,
                                        body, body_len, date, keep_alive, head_only);

    if (n == 0)
        return CF_EINVAL;
    if (n <= c->out_cap - c->out_len) {
        c->out_len += n;
        return 0;
    }
    if (conn_out_reserve(c, n) < 0)
        return CF_ENOMEM;
    n = cf__http_encode_response(c->out + c->out_len, c->out_cap - c->out_len, status, h, nh, body,
                                 body_len, date, keep_alive, head_only);
    c->out_len += n;
    return 0;
}

/* A response generated by the server itself; the connection closes after it. */
static void conn_error(conn_t *c, int status, const char *code, const char *desc)
{
    char body[320];
    size_t n = cf__http_json_error(body, sizeof body, status, desc);
    cf_http_header_t h[2];

    c->srv->stats.client_errors++;
    c->close_after = 1;
    CF_LOG(CF_LOG_DEBUG, "event=http_error status=%d error=%s peer=%s", status, code, c->req.peer_ip);
    if (conn_append(c, status, h, cf__http_error_headers(h, status), body, n, 0, 0) < 0)
        conn_close(c);
}

static void on_write(uv_write_t *w, int status)
{
    wreq_t *wr = (wreq_t *)w;
    conn_t *c = wr->c;

    free(wr);
    if (c->closing)
        return;
    if (status < 0) {
        CF_LOG(CF_LOG_DEBUG, "event=http_write_error err=%s peer=%s", uv_err_name(status),
               c->req.peer_ip);
        conn_close(c);
        return;
    }
    c->last_active = uv_now(c->srv->loop); /* progress keeps a slow reader alive */
    if (c->write_blocked &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < OUT_HIGH_WATER / 2) {
        c->write_blocked = 0;
        conn_process(c);
    }
}

/* Hand @len bytes at @p to the kernel: try_write first, then an owned copy. 0, or -1 closed. */
static int conn_send(conn_t *c, const char *p, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    size_t done = 0, rest;
    wreq_t *wr;
    int n;

    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n >= 0) {
        done = (size_t)n;
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
        CF_LOG(CF_LOG_DEBUG, "event=http_write_error err=%s peer=%s", uv_err_name(n), c->req.peer_ip);
        conn_close(c);
        return -1;
    }
    rest = len - done;
    if (rest == 0)
        return 0;
    wr = malloc(sizeof *wr + rest);
    if (wr == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=write bytes=%zu", rest);
        conn_close(c);
        return -1;
    }
    wr->c = c;
    memcpy(wr->data, p + done, rest);
    b = uv_buf_init(wr->data, (unsigned)rest);
    n = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (n < 0) {
        free(wr);
        conn_close(c);
        return -1;
    }
    return 0;
}

/* TLS: send the records OpenSSL wrote (handshake, alerts, data). 0, or -1 closed. */
static int tls_send(conn_t *c)
{
    char *p = NULL;
    long n = BIO_get_mem_data(c->tls_wbio, &p);
    int rc = 0;

    if (n > 0 && !c->closing)
        rc = conn_send(c, p, (size_t)n);
    (void)BIO_reset(c->tls_wbio); /* empties it (and wipes what was sent) */
    return rc;
}

/* Hand buffered output to the kernel (through TLS on an HTTPS connection). */
static void conn_flush(conn_t *c)
{
    if (c->closing || c->out_len == 0)
        return;
    if (c->ssl != NULL) {
        /* A memory BIO takes everything: SSL_write writes all or fails. */
        if (SSL_write(c->ssl, c->out, (int)c->out_len) <= 0) {
            ERR_clear_error();
            conn_close(c);
            return;
        }
        if (tls_send(c) < 0)
            return;
    } else if (conn_send(c, c->out, c->out_len) < 0) {
        return;
    }
    c->out_len = 0;
    if (c->out_cap > OUT_KEEP_MAX) { /* one big response should not pin memory */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
}

/* A TLS connection that failed (handshake or record): send any alert, close. */
static int tls_fail(conn_t *c, int err)
{
    unsigned long e = ERR_peek_error();

    if (!c->tls_ready)
        c->srv->stats.tls_handshake_failures++;
    CF_LOG(CF_LOG_DEBUG, "event=tls_error stage=%s ssl_error=%d reason=%s peer=%s",
           c->tls_ready ? "record" : "handshake", err,
           e != 0 && ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) : "none",
           c->req.peer_ip);
    ERR_clear_error();
    (void)tls_send(c);
    conn_close(c);
    return -1;
}

/*
 * TLS: run the handshake, then decrypt what has arrived into the request
 * buffer while it has room (a request waiting for its answer leaves the rest
 * in OpenSSL until conn_process() asks again). Returns the bytes added, or -1
 * when the connection was closed.
 */
static int tls_pump(conn_t *c)
{
    int added = 0, r;

    if (!c->tls_ready) {
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);

            if (err != SSL_ERROR_WANT_READ)
                return tls_fail(c, err);
            return tls_send(c) < 0 ? -1 : 0;
        }
        c->tls_ready = 1;
        cf_tls_peer(c->ssl, &c->peer);
        c->req.tls_peer = c->peer.x5t[0] != '\0' ? &c->peer : NULL;
        if (tls_send(c) < 0)
            return -1;
    }
    for (;;) {
        char *p;
        size_t n;

        cf__http_rx_space(&c->rx, !c->pending, &p, &n);
        if (n == 0)
            break;
        r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0) {
            cf__http_rx_commit(&c->rx, (size_t)r);
            added += r;
            continue;
        }
        r = SSL_get_error(c->ssl, r);
        if (r == SSL_ERROR_WANT_READ)
            break;
        if (r == SSL_ERROR_ZERO_RETURN) { /* close_notify: a half-close, as a FIN */
            c->eof = 1;
            conn_read_stop(c);
            break;
        }
        return tls_fail(c, r);
    }
    return tls_send(c) < 0 ? -1 : added;
}

static void on_timer(uv_timer_t *t);

static void timer_arm(conn_t *c, int mode, uint64_t ms)
{
    c->timer_mode = mode;
    if (uv_timer_start(&c->timer, on_timer, ms, 0) < 0)
        conn_close(c); /* cannot happen for an initialized timer; fail closed */
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    conn_t *c = r->data;

    if (c->closing)
        return;
    if (status < 0 || c->eof)
        conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static void conn_read_start(conn_t *c)
{
    if (c->reading || c->eof || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
    c->reading = 1;
}

static void conn_read_stop(conn_t *c)
{
    if (!c->reading)
        return;
    (void)uv_read_stop((uv_stream_t *)&c->tcp); /* always 0 on an active stream */
    c->reading = 0;
}

/*
 * Graceful end: send FIN after the queued responses, then keep reading and
 * discarding until the client closes or LINGER_MS passes. Closing at once with
 * unread input makes the kernel send RST, which can destroy the very response
 * (a 413, say) the client has not read yet.
 */
static void conn_finish(conn_t *c)
{
    int rc;

    if (c->lingering || c->closing)
        return;
    c->lingering = 1;
    if (c->ssl != NULL && c->tls_ready) {
        (void)SSL_shutdown(c->ssl); /* our close_notify; the client's is not awaited */
        ERR_clear_error();
        if (tls_send(c) < 0)
            return;
    }
    c->shutdown_req.data = c;
    rc = uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    conn_read_start(c);
    if (!c->closing)
        timer_arm(c, TM_LINGER, LINGER_MS);
}

/* After parsing stopped: choose what the connection waits for next. */
static void conn_settle(conn_t *c)
{
    cf_http_server_t *s = c->srv;
    uint64_t now;

    if (c->closing || c->lingering || c->pending)
        return;
    if (c->write_blocked) {
        /* The client is not reading: idle_timeout without write progress ends it. */
        if (!uv_is_active((uv_handle_t *)&c->timer))
            timer_arm(c, TM_IDLE, (uint64_t)s->cfg.idle_timeout);
        return;
    }
    if (c->close_after || c->eof) {
        conn_finish(c);
        return;
    }
    conn_read_start(c);
    if (c->closing)
        return;
    now = uv_now(s->loop);
    if (cf__http_rx_pending_bytes(&c->rx) > 0 ||
        (c->ssl != NULL && (!c->tls_ready || SSL_has_pending(c->ssl)))) {
        /* Part of a request is here: the whole of it must arrive in time (slowloris). So
         * must a handshake, and a TLS record begun: its bytes wait inside OpenSSL, and
         * one a second would otherwise keep the connection "idle" for ever. */
        if (c->timer_mode != TM_REQUEST)
            timer_arm(c, TM_REQUEST, (uint64_t)s->cfg.request_timeout);
    } else {
        /* Idle: the timer is re-armed lazily from last_active when it fires. */
        c->last_active = now;
        if (c->timer_mode != TM_IDLE || !uv_is_active((uv_handle_t *)&c->timer))
            timer_arm(c, TM_IDLE, (uint64_t)s->cfg.idle_timeout);
    }
}

static void on_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    cf_http_server_t *s = c->srv;
    uint64_t now = uv_now(s->loop);

    if (c->closing)
        return;
    switch (c->timer_mode) {
    case TM_LINGER:
        conn_close(c);
        return;
    case TM_IDLE:
        if (c->pending) {
            c->timer_mode = TM_NONE;
            return;
        }
        if (now - c->last_active < (uint64_t)s->cfg.idle_timeout) {
            timer_arm(c, TM_IDLE, (uint64_t)s->cfg.idle_timeout - (now - c->last_active));
            return;
        }
        s->stats.timeouts++;
        CF_LOG(CF_LOG_DEBUG, "event=http_idle_close peer=%s", c->req.peer_ip);
        conn_close(c);
        return;
    case TM_REQUEST:
        c->timer_mode = TM_NONE;
        if (c->pending)
            return;
        if (c->write_blocked) { /* we stopped reading it, not the client: wait for writes */
            timer_arm(c, TM_IDLE, (uint64_t)s->cfg.idle_timeout);
            return;
        }
        s->stats.timeouts++;
        conn_error(c, 408, "request_timeout", "the request was not received completely in time");
        conn_flush(c);
        conn_settle(c);
        return;
    default:
        return;
    }
}

/*
 * Parse and dispatch buffered requests one at a time. Responses given
 * synchronously are gathered in c->out and written with one syscall at the
 * end (pipelined requests get one write for all of them).
 */
static void conn_process(conn_t *c)
{
    cf_http_server_t *s = c->srv;

    if (c->in_process || c->closing)
        return;
    c->in_process = 1;
    while (!c->closing && !c->pending && !c->close_after && !c->lingering) {
        int rc;

        if (c->out_len >= OUT_KEEP_MAX) {
            conn_flush(c); /* many pipelined answers: do not let c->out grow with them */
            if (c->closing)
                break;
        }
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > OUT_HIGH_WATER) {
            c->write_blocked = 1; /* the client is not reading; on_write resumes us */
            break;
        }
        rc = cf__http_rx_next(&c->rx, &c->req);
        if (rc == CF__HTTP_RX_AGAIN && c->ssl != NULL && tls_pump(c) > 0)
            continue; /* OpenSSL held decrypted bytes the buffer had no room for */
        if (rc == CF__HTTP_RX_AGAIN)
            break;
        if (rc == CF__HTTP_RX_CONTINUE) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

            if (conn_out_reserve(c, sizeof cont - 1) < 0) {
                conn_close(c);
                break;
            }
            memcpy(c->out + c->out_len, cont, sizeof cont - 1);
            c->out_len += sizeof cont - 1;
            continue;
        }
        if (rc == CF__HTTP_RX_ERROR) {
            int status;
            const char *code, *desc;

            cf__http_rx_error(&c->rx, &status, &code, &desc);
            conn_error(c, status, code, desc);
            break;
        }
        s->stats.requests++;
        c->pending = 1;
        c->req.user = NULL;
        c->req.nalso = 0;
        c->req.cf__conn = c;
        if (s->stopping)
            c->req.keep_alive = 0;
        s->cfg.on_request(s->cfg.ctx, &c->req);
    }
    c->in_process = 0;
    conn_flush(c);
    conn_settle(c);
}

void cf_http_respond(cf_http_req_t *req, int status, const cf_http_header_t *headers, size_t nheaders,
                     const char *body, size_t body_len)
{
    conn_t *c = req->cf__conn;
    cf_http_header_t all[48];
    int keep, rc;

    if (req->cf__capture != NULL) {
        req->cf__capture(req, status, headers, nheaders, body, body_len);
        return;
    }
    if (c == NULL || !c->pending || &c->req != req) {
        CF_LOG(CF_LOG_ERROR, "event=http_respond_misuse status=%d", status);
        return;
    }
    c->pending = 0;
    req->cf__conn = NULL;
    c->srv->stats.answered++;
    if (c->closing) { /* the client went away meanwhile */
        if (c->handles_open == 0)
            conn_free(c);
        return;
    }
    keep = req->keep_alive && !c->srv->stopping;
    if (req->nalso > 0 && req->nalso <= CF_HTTP_ALSO_MAX && nheaders + req->nalso <= 48) {
        if (nheaders > 0)
            memcpy(all, headers, nheaders * sizeof *all);
        memcpy(all + nheaders, req->also, req->nalso * sizeof *all);
        headers = all;
        nheaders += req->nalso;
    } else if (req->nalso > 0) {
        status = 0; /* fail closed below rather than drop a header */
    }
    if (status < 200 || status > 599) {
        CF_LOG(CF_LOG_ERROR, "event=http_bad_status status=%d", status);
        rc = CF_EINVAL;
    } else {
        rc = conn_append(c, status, headers, nheaders, body, body_len, keep,
                         req->method == HTTP_HEAD);
    }
    if (rc == CF_EINVAL) {
        char jb[256];
        size_t n =
            cf__http_json_error(jb, sizeof jb, 500, "the response could not be encoded");
        cf_http_header_t eh[2];

        CF_LOG(CF_LOG_ERROR, "event=http_bad_response status=%d nheaders=%zu", status, nheaders);
        keep = 0;
        rc = conn_append(c, 500, eh, cf__http_error_headers(eh, 500), jb, n, 0,
                         req->method == HTTP_HEAD);
    }
    cf__http_rx_done(&c->rx);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=response status=%d", status);
        conn_close(c);
        return;
    }
    if (!keep)
        c->close_after = 1;
    if (!c->in_process)
        conn_process(c); /* flushes, then serves pipelined requests */
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    conn_t *c = h->data;
    char *p;
    size_t n;

    (void)hint;
    if (c->lingering) { /* input is only drained now */
        b->base = c->rx.buf;
        b->len = c->rx.cap;
        return;
    }
    if (c->ssl != NULL) {
        /* Records go to OpenSSL first; a client that keeps sending while its
         * request waits is stopped (ENOBUFS) once TLS_IN_MAX bytes are held. */
        b->base = c->srv->tls_in;
        b->len = BIO_ctrl_pending(c->tls_rbio) < TLS_IN_MAX ? CF__HTTP_TLS_IN : 0;
        return;
    }
    /* Growing moves the buffer: not while a dispatched request points into it. */
    cf__http_rx_space(&c->rx, !c->pending, &p, &n);
    b->base = p;
    b->len = n;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    conn_t *c = st->data;

    (void)b;
    if (c->closing || nread == 0)
        return;
    if (nread > 0) {
        if (c->lingering)
            return;
        if (c->ssl != NULL) {
            if (BIO_write(c->tls_rbio, b->base, (int)nread) != (int)nread) {
                conn_close(c);
                return;
            }
            if (tls_pump(c) < 0)
                return;
            if (!c->pending)
                conn_process(c);
            return;
        }
        cf__http_rx_commit(&c->rx, (size_t)nread);
        if (!c->pending)
            conn_process(c);
        return;
    }
    if (nread == UV_ENOBUFS) { /* buffer full while a request is outstanding */
        conn_read_stop(c);
        return;
    }
    if (nread == UV_EOF && !c->lingering) {
        /* Half-close: answer what was received, then finish. */
        c->eof = 1;
        conn_read_stop(c);
        if (!c->pending)
            conn_process(c);
        return;
    }
    conn_close(c);
}

static void peer_name(uv_tcp_t *tcp, char out[46])
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;

    strcpy(out, "unknown");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        (void)uv_ip4_name((const struct sockaddr_in *)&ss, out, 46); /* 46 always fits */
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            const uint8_t *a = s6->sin6_addr.s6_addr + 12;
            snprintf(out, 46, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        } else {
            (void)uv_ip6_name(s6, out, 46);
        }
    }
}

/* Server side of TLS over two memory BIOs: libuv moves the records. */
static int tls_start(conn_t *c)
{
    c->ssl = SSL_new(c->srv->tls);
    c->tls_rbio = BIO_new(BIO_s_mem());
    c->tls_wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->tls_rbio == NULL || c->tls_wbio == NULL) {
        BIO_free(c->tls_rbio);
        BIO_free(c->tls_wbio);
        SSL_free(c->ssl);
        c->ssl = NULL;
        return CF_ENOMEM;
    }
    BIO_set_mem_eof_return(c->tls_rbio, -1); /* empty means "wait for more", not EOF */
    SSL_set_bio(c->ssl, c->tls_rbio, c->tls_wbio);
    SSL_set_accept_state(c->ssl);
    c->req.tls = 1;
    return 0;
}

/*
 * A new connection: allocated before the accept, so that running out of
 * memory still lets the listener refuse the client politely.
 */
int cf__http_conn_accept(cf_http_server_t *s)
{
    conn_t *c;
    int rc;

    c = calloc(1, sizeof *c);
    if (c == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=connection");
        return CF_ENOMEM;
    }
    if (cf__http_rx_init(&c->rx, s->cfg.max_header_bytes, s->cfg.max_body_bytes) < 0) {
        free(c);
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=connection");
        return CF_ENOMEM;
    }
    c->srv = s;
    (void)uv_tcp_init(s->loop, &c->tcp); /* only fails for a bad loop or family */
    (void)uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->stats.open_connections++;
    s->stats.accepted++;

    rc = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        CF_LOG(CF_LOG_WARN, "event=http_accept_error err=%s", uv_err_name(rc));
        conn_close(c);
        return 0;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1); /* an optimisation; serving works without it */
    peer_name(&c->tcp, c->req.peer_ip);
    if (s->tls != NULL && tls_start(c) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=tls");
        conn_close(c);
        return 0;
    }
    conn_settle(c); /* starts reading and the idle timer */
    return 0;
}

void cf__http_conn_close_all(cf_http_server_t *s)
{
    conn_t *c, *next;

    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}
