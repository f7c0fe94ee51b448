/* SPDX-License-Identifier: MIT
 *
 * The proxy's upstream side: a pool of keep-alive connections per upstream,
 * the request head and body sent on, the response read with http-parser and
 * streamed back to the client without buffering it whole (each side stops
 * reading while the other's send queue is full), and the switch to a raw
 * tunnel on 101 Switching Protocols. An upstream that cannot be reached
 * answers 502 upstream_unavailable, one that is too slow 504
 * upstream_timeout; one that breaks off mid-answer cuts the client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "proxy/proxy_int.h"
#include "util/log.h"

static uconn_t *u_of(http_parser *p)
{
    return (uconn_t *)((char *)p - offsetof(uconn_t, parser));
}

static void on_u_close(uv_handle_t *h)
{
    uconn_t *u = h->data;

    if (--u->handles == 0) {
        cf_proxy_t *px = u->px;
        px->nupconns--;
        px_head_fini(&u->head);
        free(u);
        px_maybe_free(px);
    }
}

/* Take @u out of its pool, if it is there. */
static void unpool(uconn_t *u)
{
    for (uconn_t **pp = &u->up->idle; *pp != NULL; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            u->up->nidle--;
            return;
        }
}

void px_upstream_close(uconn_t *u)
{
    if (u->closing)
        return;
    u->closing = 1;
    if (u->pc == NULL)
        unpool(u);
    else
        u->pc->u = NULL;
    u->pc = NULL;
    uv_close((uv_handle_t *)&u->tcp, on_u_close);
    uv_close((uv_handle_t *)&u->timer, on_u_close);
}

static void on_u_write(uv_write_t *w, int status)
{
    uconn_t *u = w->handle->data;
    pconn_t *pc = u->pc;

    free(w);
    if (u->closing || pc == NULL)
        return;
    if (status < 0) {
        if (!pc->resp_started)
            pc->px->ops->refuse(pc, CF_REASON_UPSTREAM_UNAVAILABLE);
        else
            pc->px->ops->close(pc);
        return;
    }
    if (pc->bp && uv_stream_get_write_queue_size((uv_stream_t *)&u->tcp) < PX_LOW) {
        pc->bp = 0;
        pc->px->ops->read_update(pc);
    }
}

/* Write to the upstream; stop reading the client while the upstream lags. */
static void u_send(uconn_t *u, const char *d, size_t n)
{
    pconn_t *pc = u->pc;

    if (u->closing || n == 0)
        return;
    if (px_write((uv_stream_t *)&u->tcp, d, n, on_u_write) < 0) {
        if (pc != NULL)
            pc->px->ops->close(pc);
        return;
    }
    if (pc != NULL && uv_stream_get_write_queue_size((uv_stream_t *)&u->tcp) > PX_HIGH) {
        pc->bp = 1;
        pc->px->ops->read_update(pc);
    }
}

/* After a write to the client: stop reading the upstream while the client lags. */
static void c_sent(uconn_t *u, pconn_t *pc, int rc)
{
    if (rc < 0) {
        pc->px->ops->close(pc);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&pc->tcp) > PX_HIGH) {
        u->bp = 1;
        px_upstream_read_update(u);
    }
}

/* Send what was gathered for the client, then @d (@n), in one write; gathering ends. */
static void gather_end(uconn_t *u, const char *d, size_t n)
{
    cf_proxy_t *px = u->px;
    pconn_t *pc = px->out_pc;
    uv_buf_t b[2] = {uv_buf_init(px->out, (unsigned)px->out_len), uv_buf_init((char *)d, (unsigned)n)};

    px->out_pc = NULL;
    px->out_len = 0;
    if (pc == NULL || pc->closing || b[0].len + n == 0)
        return;
    c_sent(u, pc, px_writev((uv_stream_t *)&pc->tcp, b[0].len > 0 ? b : b + 1,
                            b[0].len > 0 && n > 0 ? 2 : 1, pc->px->ops->on_write));
}

/*
 * Write to the client. Within one upstream read (on_u_read) small pieces
 * are gathered and leave together: a response's head, body and last chunk
 * in one system call. Nothing else writes to that client meanwhile (a
 * refusal ends the gathering first), so the order on the wire is kept.
 */
static void c_send(uconn_t *u, const char *d, size_t n)
{
    pconn_t *pc = u->pc;
    cf_proxy_t *px = u->px;

    if (pc == NULL || pc->closing || n == 0)
        return;
    pc->bytes_down += n;
    if (px->out_pc == pc) {
        if (px->out_len + n <= sizeof px->out) {
            memcpy(px->out + px->out_len, d, n);
            px->out_len += n;
            return;
        }
        gather_end(u, d, n); /* a large piece goes from where it is, after what waits */
        px->out_pc = pc;
        return;
    }
    c_sent(u, pc, px_write((uv_stream_t *)&pc->tcp, d, n, pc->px->ops->on_write));
}

void px_upstream_body(pconn_t *pc, const char *d, size_t n, int last)
{
    uconn_t *u = pc->u;
    char frame[24];

    if (u == NULL)
        return;
    if (!pc->chunked_in) {
        u_send(u, d, n);
        return;
    }
    if (n > 0) {
        int fl = snprintf(frame, sizeof frame, "%zx\r\n", n);
        u_send(u, frame, (size_t)fl);
        u_send(u, d, n);
        u_send(u, "\r\n", 2);
    }
    if (last)
        u_send(u, "0\r\n\r\n", 5);
}

void px_upstream_raw(pconn_t *pc, const char *d, size_t n)
{
    if (pc->u != NULL && !pc->ws_draining)
        u_send(pc->u, d, n);
}

/* ---- the response --------------------------------------------------------- */

static int on_u_field(http_parser *p, const char *at, size_t n)
{
    uconn_t *u = u_of(p);
    return u->head.done ? 0 : px_head_field(&u->head, at, n);
}

static int on_u_value(http_parser *p, const char *at, size_t n)
{
    uconn_t *u = u_of(p);
    return u->head.done ? 0 : px_head_value(&u->head, at, n);
}

static int on_u_begin(http_parser *p)
{
    uconn_t *u = u_of(p);
    const char *chunk = u->head.chunk;

    px_head_reset(&u->head);
    u->head.chunk = chunk;
    return 0;
}

static void put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

/* "HTTP/1.1 NNN Text\r\n", without printf (every response passes here). */
static void status_line(char **p, int status)
{
    const char *text = cf_http_status_text(status);
    char d[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                 (char)('0' + status % 10), ' '};

    put(p, "HTTP/1.1 ", 9);
    put(p, d, 4);
    put(p, text, strlen(text));
    put(p, "\r\n", 2);
}

/* The response head the client gets (in the proxy's head buffer): hop-by-hop fields out, our
 * own framing in. */
static int client_head(uconn_t *u, int status, char **out, size_t *len)
{
    pconn_t *pc = u->pc;
    px_head_t *h = &u->head;
    int has_len = (u->parser.flags & F_CONTENTLENGTH) != 0 && !(u->parser.flags & F_CHUNKED);
    int bodyless = pc->is_head || status == 204 || status == 304 || status < 200;
    char *p;

    /* Every byte at most once (Upgrade's value only once: it is hop-by-hop), plus our own. */
    if (px_hbuf_reserve(u->px, h->len + 4 * h->n + 256) < 0)
        return CF_ENOMEM;
    p = u->px->hbuf;
    status_line(&p, status);
    for (size_t i = 0; i < h->n; i++) {
        if (px_head_hop(h, i))
            continue;
        if (px_head_is(h, i, "Content-Type") &&
            h->h[i].value_len >= 17 && strncasecmp(h->b + h->h[i].value_off, "text/event-stream", 17) == 0)
            pc->sse = 1;
        put(&p, h->b + h->h[i].name_off, h->h[i].name_len);
        put(&p, ": ", 2);
        put(&p, h->b + h->h[i].value_off, h->h[i].value_len);
        put(&p, "\r\n", 2);
    }
    pc->chunk_out = 0;
    if (status == 101) {
        size_t k = 0;
        while (k < h->n && !px_head_is(h, k, "Upgrade"))
            k++;
        put(&p, "Connection: Upgrade\r\n", 21);
        if (k < h->n) {
            put(&p, "Upgrade: ", 9);
            put(&p, h->b + h->h[k].value_off, h->h[k].value_len);
            put(&p, "\r\n", 2);
            pc->ws = px_ieq(h->b + h->h[k].value_off, h->h[k].value_len, "websocket");
        }
    } else {
        if (!bodyless && !has_len) {
            if (pc->parser.http_minor >= 1)
                pc->chunk_out = 1;
            else
                pc->keep = 0; /* an HTTP/1.0 client reads to the close */
        }
        if (pc->upgrade)
            pc->keep = 0; /* an upgrade refused: the connection is not reused */
        if (pc->chunk_out)
            put(&p, "Transfer-Encoding: chunked\r\n", 28);
        if (pc->keep)
            put(&p, "Connection: keep-alive\r\n", 24);
        else
            put(&p, "Connection: close\r\n", 19);
    }
    put(&p, "\r\n", 2);
    *out = u->px->hbuf;
    *len = (size_t)(p - u->px->hbuf);
    return 0;
}

static int on_u_headers(http_parser *p)
{
    uconn_t *u = u_of(p);
    pconn_t *pc = u->pc;
    int status = (int)p->status_code;
    char *head;
    size_t len;

    u->head.done = 1;
    if (pc == NULL)
        return -1;
    if (status >= 100 && status < 200 && status != 101) {
        u->head.done = 0; /* an interim answer: the real one follows */
        px_head_reset(&u->head);
        return 0;
    }
    if (px_head_check(&u->head) != NULL || client_head(u, status, &head, &len) < 0) {
        gather_end(u, NULL, 0); /* the refusal is written directly */
        pc->px->ops->refuse(pc, CF_REASON_UPSTREAM_UNAVAILABLE);
        return -1;
    }
    u->got_head = 1;
    pc->resp_started = 1;
    c_send(u, head, len);
    if (status == 101)
        return 2; /* http-parser: no body, an upgrade follows */
    return pc->is_head ? 1 : 0;
}

static int on_u_body(http_parser *p, const char *at, size_t n)
{
    uconn_t *u = u_of(p);
    pconn_t *pc = u->pc;
    char frame[24];

    if (pc == NULL)
        return -1;
    if (pc->sse && n > 0) {
        pc->sse_tail[0] = n >= 2 ? at[n - 2] : pc->sse_tail[1];
        pc->sse_tail[1] = at[n - 1];
    }
    if (pc->registered)
        pc->px->ops->touch(pc, 0);
    if (pc->chunk_out) {
        int fl = snprintf(frame, sizeof frame, "%zx\r\n", n);
        c_send(u, frame, (size_t)fl);
        c_send(u, at, n);
        c_send(u, "\r\n", 2);
    } else {
        c_send(u, at, n);
    }
    return 0;
}

static int on_u_complete(http_parser *p)
{
    uconn_t *u = u_of(p);

    if (!u->got_head)
        return 0; /* an interim 1xx ended */
    u->done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings up_settings = {
    .on_message_begin = on_u_begin,
    .on_header_field = on_u_field,
    .on_header_value = on_u_value,
    .on_headers_complete = on_u_headers,
    .on_body = on_u_body,
    .on_message_complete = on_u_complete,
};

/* The answer is complete: pool the connection when both sides allow it, then the client goes on. */
static void response_done(uconn_t *u)
{
    pconn_t *pc = u->pc;
    int reuse = http_should_keep_alive(&u->parser) && !u->bp && u->up->nidle < u->up->cfg->pool &&
                pc != NULL && pc->req_done && !pc->px->stopping;

    if (pc != NULL && pc->chunk_out)
        c_send(u, "0\r\n\r\n", 5);
    gather_end(u, NULL, 0); /* the whole answer in one write, before the next request */
    px_lazy_stop(&u->tz);
    if (pc != NULL)
        pc->u = NULL;
    u->pc = NULL;
    u->bp = 0;
    if (reuse) {
        u->next = u->up->idle;
        u->up->idle = u;
        u->up->nidle++;
        http_parser_init(&u->parser, HTTP_RESPONSE);
        px_head_reset(&u->head);
        u->got_head = u->done = 0;
        px_upstream_read_update(u); /* notice when it closes while idle */
    } else {
        px_upstream_close(u);
    }
    if (pc != NULL)
        pc->px->ops->response_done(pc);
}

/* Broke off: 502 before the head, a cut after it. */
static void u_failed(uconn_t *u, cf_reason_t why)
{
    pconn_t *pc = u->pc;

    px_upstream_close(u);
    if (pc == NULL)
        return;
    if (!pc->resp_started)
        pc->px->ops->refuse(pc, why);
    else
        pc->px->ops->close(pc);
}

static void on_timeout(uv_timer_t *t)
{
    uconn_t *u = t->data;

    if (!px_lazy_fired(t, &u->tz, on_timeout))
        return;
    CF_LOG(CF_LOG_INFO, "event=proxy_upstream_timeout upstream=%s", u->up->cfg->name);
    u_failed(u, u->connected ? CF_REASON_UPSTREAM_TIMEOUT : CF_REASON_UPSTREAM_UNAVAILABLE);
}

/*
 * WebSocket frames from the upstream (RFC 6455 §5.2): follow their
 * boundaries, so that a close frame is only ever put between two frames.
 */
static void ws_track(pconn_t *pc, const uint8_t *d, size_t n)
{
    while (n > 0) {
        size_t need;

        if (pc->ws_left > 0) {
            size_t k = n < pc->ws_left ? n : (size_t)pc->ws_left;
            pc->ws_left -= k;
            d += k;
            n -= k;
            continue;
        }
        pc->ws_hdr[pc->ws_hlen++] = *d++;
        n--;
        if (pc->ws_hlen < 2)
            continue;
        need = 2 + ((pc->ws_hdr[1] & 0x7f) == 126 ? 2 : (pc->ws_hdr[1] & 0x7f) == 127 ? 8 : 0) +
               ((pc->ws_hdr[1] & 0x80) ? 4 : 0);
        if (pc->ws_hlen < need)
            continue;
        if ((pc->ws_hdr[1] & 0x7f) < 126) {
            pc->ws_left = pc->ws_hdr[1] & 0x7f;
        } else {
            size_t k = (pc->ws_hdr[1] & 0x7f) == 126 ? 2 : 8;
            pc->ws_left = 0;
            for (size_t i = 0; i < k; i++)
                pc->ws_left = (pc->ws_left << 8) | pc->ws_hdr[2 + i];
        }
        pc->ws_hlen = 0;
    }
}

/*
 * Cut inside a frame: forward up to the end of that frame and not a byte
 * more (the close frame goes right after it), within the byte budget.
 */
static void ws_drain(pconn_t *pc, const uint8_t *d, size_t n)
{
    size_t used = 0;
    int done = 0;

    while (used < n && !done) {
        size_t k = pc->ws_left > 0 ? (n - used < pc->ws_left ? n - used : (size_t)pc->ws_left) : 1;
        ws_track(pc, d + used, k);
        used += k;
        done = pc->ws_left == 0 && pc->ws_hlen == 0;
    }
    if (used > pc->ws_budget || (!done && pc->ws_hlen == 0 && pc->ws_left > pc->ws_budget - used)) {
        pc->px->ops->ws_drained(pc, 0); /* a frame larger than the bound: close without waiting */
        return;
    }
    pc->ws_budget -= used;
    if (pc->u != NULL)
        c_send(pc->u, (const char *)d, used);
    if (done && pc->ws_draining)
        pc->px->ops->ws_drained(pc, 1);
}

void px_upstream_down_raw(pconn_t *pc, const char *d, size_t n)
{
    if (pc->ws_draining) {
        ws_drain(pc, (const uint8_t *)d, n);
        return;
    }
    if (pc->ws)
        ws_track(pc, (const uint8_t *)d, n);
    if (pc->u != NULL) {
        c_send(pc->u, d, n);
    } else {
        pc->bytes_down += n;
        (void)px_write((uv_stream_t *)&pc->tcp, d, n, pc->px->ops->on_write);
    }
}

/* Into tunnel mode: bytes flow both ways as they are, until a side closes or the session ends. */
static void tunnel(uconn_t *u, const char *rest, size_t n)
{
    pconn_t *pc = u->pc;

    px_lazy_stop(&u->tz);
    pc->state = PC_TUNNEL;
    pc->keep = 0;
    if (!pc->registered)
        pc->px->ops->arm(pc);
    if (pc->in_len > 0) { /* what the client sent after its upgrade request */
        pc->bytes_up += pc->in_len;
        u_send(u, pc->in, pc->in_len);
        pc->in_len = 0;
    }
    if (n > 0)
        px_upstream_down_raw(pc, rest, n);
    pc->px->ops->read_update(pc);
}

static void on_u_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    uconn_t *u = h->data;

    (void)hint;
    *b = uv_buf_init(u->px->rbuf, sizeof u->px->rbuf);
}

static void on_u_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    uconn_t *u = st->data;
    pconn_t *pc = u->pc;
    size_t used;
    enum http_errno e;

    if (u->closing || n == 0)
        return;
    if (pc == NULL) { /* pooled: any byte or the close ends it */
        px_upstream_close(u);
        return;
    }
    if (pc->state == PC_TUNNEL) {
        if (n < 0) {
            pc->px->ops->cut(pc, CF_REASON_NONE);
            return;
        }
        pc->px->ops->touch(pc, 0);
        px_upstream_down_raw(pc, b->base, (size_t)n);
        return;
    }
    if (n < 0 && !u->got_head) {
        u_failed(u, CF_REASON_UPSTREAM_UNAVAILABLE);
        return;
    }
    if (u->connected && pc->route != NULL)
        px_lazy_start(&u->timer, &u->tz, on_timeout, (uint64_t)u->up->cfg->read_timeout);
    u->head.chunk = n > 0 ? b->base : NULL;
    u->px->out_pc = pc; /* gather what this read sends the client */
    used = http_parser_execute(&u->parser, &up_settings, n > 0 ? b->base : NULL,
                               n > 0 ? (size_t)n : 0);
    e = HTTP_PARSER_ERRNO(&u->parser);
    if (u->closing || u->pc == NULL) {
        gather_end(u, NULL, 0);
        return;
    }
    if (u->parser.upgrade && u->got_head && (e == HPE_OK || e == HPE_PAUSED)) {
        gather_end(u, NULL, 0); /* the 101 first, then the tunnel's first bytes */
        tunnel(u, b->base + used, (size_t)n - used);
        return;
    }
    if (e == HPE_PAUSED || u->done) {
        response_done(u);
        return;
    }
    gather_end(u, NULL, 0);
    if (e != HPE_OK || n < 0)
        u_failed(u, CF_REASON_UPSTREAM_UNAVAILABLE);
}

void px_upstream_read_update(uconn_t *u)
{
    int want = !u->closing && !u->bp;

    if (want && !u->reading) {
        if (uv_read_start((uv_stream_t *)&u->tcp, on_u_alloc, on_u_read) == 0)
            u->reading = 1;
    } else if (!want && u->reading) {
        (void)uv_read_stop((uv_stream_t *)&u->tcp);
        u->reading = 0;
    }
}

/* ---- starting a request ------------------------------------------------------ */

static void send_request(uconn_t *u)
{
    pconn_t *pc = u->pc;
    char *head;
    size_t len;

    if (pc->px->ops->upstream_head(pc, &head, &len) < 0) {
        u_failed(u, CF_REASON_SERVER_ERROR);
        return;
    }
    u_send(u, head, len);
    if (u->closing || u->pc == NULL)
        return;
    px_lazy_start(&u->timer, &u->tz, on_timeout, (uint64_t)u->up->cfg->read_timeout);
    pc->state = PC_FORWARD;
    if (pc->expect && !pc->upgrade) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)px_write((uv_stream_t *)&pc->tcp, cont, sizeof cont - 1, pc->px->ops->on_write);
    }
    px_upstream_read_update(u);
    if (!(pc->parser.flags & (F_CHUNKED | F_CONTENTLENGTH)) && !pc->upgrade) {
        pc->req_done = 1; /* no body: the next bytes are the next request */
    } else if (!pc->chunked_in && pc->parser.content_length == 0 && !pc->upgrade) {
        pc->req_done = 1;
    }
    pc->px->ops->process(pc);
}

static void on_connect(uv_connect_t *r, int status)
{
    uconn_t *u = r->data;

    if (u->closing)
        return;
    if (status < 0) {
        CF_LOG(CF_LOG_INFO, "event=proxy_upstream_error upstream=%s err=%s", u->up->cfg->name,
               uv_err_name(status));
        u_failed(u, CF_REASON_UPSTREAM_UNAVAILABLE);
        return;
    }
    u->connected = 1;
    (void)uv_tcp_nodelay(&u->tcp, 1);
    px_lazy_stop(&u->tz);
    if (u->pc == NULL) {
        px_upstream_close(u);
        return;
    }
    send_request(u);
}

void px_upstream_start(pconn_t *pc)
{
    px_up_t *up = pc->up;
    uconn_t *u = up->idle;

    if (u != NULL) {
        up->idle = u->next;
        up->nidle--;
        u->next = NULL;
        u->pc = pc;
        pc->u = u;
        send_request(u);
        return;
    }
    u = calloc(1, sizeof *u);
    if (u == NULL) {
        pc->px->ops->refuse(pc, CF_REASON_SERVER_ERROR);
        return;
    }
    u->px = pc->px;
    u->up = up;
    u->pc = pc;
    pc->u = u;
    px_head_init(&u->head, PX_RESP_HEAD_MAX);
    http_parser_init(&u->parser, HTTP_RESPONSE);
    (void)uv_tcp_init(pc->px->loop, &u->tcp);
    (void)uv_timer_init(pc->px->loop, &u->timer);
    u->tcp.data = u->timer.data = u;
    u->creq.data = u;
    u->handles = 2;
    pc->px->nupconns++;
    px_lazy_start(&u->timer, &u->tz, on_timeout, (uint64_t)up->cfg->connect_timeout);
    if (uv_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&up->addr, on_connect) < 0)
        u_failed(u, CF_REASON_UPSTREAM_UNAVAILABLE);
}
