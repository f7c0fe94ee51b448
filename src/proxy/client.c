/* SPDX-License-Identifier: MIT
 *
 * The proxy's client side: accept within the limits, read a request head
 * with http-parser, refuse what could be read two ways (smuggling), match a
 * proxy route on the normalized path, and ask /v1/check's handler whether
 * the request may pass, with the client's own forwarding headers removed so
 * that only the real host and path are decided. An allowed request is
 * streamed to the upstream (upstream.c); a refused one gets the check's
 * answer, byte for byte.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/path.h"
#include "http/rx.h"
#include "proxy/proxy_int.h"
#include "util/log.h"

/* ======================================================================
 * Connections
 * ====================================================================== */

static void pc_free(pconn_t *pc)
{
    cf_proxy_t *px = pc->px;

    if (pc->prev != NULL)
        pc->prev->next = pc->next;
    else
        px->conns = pc->next;
    if (pc->next != NULL)
        pc->next->prev = pc->prev;
    px->nconns--;
    if (pc->ipc != NULL && --pc->ipc->n == 0) {
        (void)cf_map_del(&px->by_ip, pc->ipc->ip, strlen(pc->ipc->ip));
        free(pc->ipc);
    }
    px_head_fini(&pc->head);
    free(pc->in);
    free(pc->checkpath);
    free(pc->target);
    free(pc->ident);
    free(pc->sub);
    free(pc);
    px_maybe_free(px);
}

static void on_pc_close(uv_handle_t *h)
{
    pconn_t *pc = h->data;

    if (--pc->handles == 0 && !pc->deciding)
        pc_free(pc);
}

void px_client_close(pconn_t *pc)
{
    if (pc->closing)
        return;
    pc->closing = 1;
    pc->px->ops->unreg(pc);
    if (pc->u != NULL) {
        uconn_t *u = pc->u;
        pc->u = NULL;
        u->pc = NULL;
        px_upstream_close(u);
    }
    uv_close((uv_handle_t *)&pc->tcp, on_pc_close);
    uv_close((uv_handle_t *)&pc->timer, on_pc_close);
}

void px_client_reset(pconn_t *pc)
{
    uv_os_fd_t fd;
    struct linger l = {1, 0}; /* close sends RST and drops what the client has not read */

    if (pc->closing)
        return;
    if (uv_fileno((uv_handle_t *)&pc->tcp, &fd) == 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    px_client_close(pc);
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    pconn_t *pc = r->data;

    /* Our FIN is out. Closing now, with bytes of the client's unread, would send a reset
     * that can destroy what the client has not read yet (a close frame, a refusal): read
     * and drop until the client closes too, within the finish grace. */
    if (status == 0 && pc->reading && !pc->closing)
        return;
    px_client_close(pc);
}

static void on_finish_timer(uv_timer_t *t)
{
    px_client_reset(t->data); /* the client never took our last bytes */
}

void px_client_finish(pconn_t *pc)
{
    if (pc->closing || pc->finishing)
        return;
    pc->finishing = 1;
    pc->tz = (px_lazy_t){0, 0}; /* the timer is the grace's now */
    (void)uv_timer_start(&pc->timer, on_finish_timer, PX_FINISH_GRACE_MS, 0);
    pc->shut.data = pc;
    if (uv_shutdown(&pc->shut, (uv_stream_t *)&pc->tcp, on_shutdown) < 0)
        px_client_close(pc);
}

void px_client_on_write(uv_write_t *w, int status)
{
    pconn_t *pc = w->handle->data;

    free(w);
    if (pc->closing)
        return;
    if (status < 0) {
        px_client_close(pc);
        return;
    }
    if (pc->u != NULL && pc->u->bp &&
        uv_stream_get_write_queue_size((uv_stream_t *)&pc->tcp) < PX_LOW) {
        pc->u->bp = 0;
        px_upstream_read_update(pc->u);
    }
}

/* An error the proxy answers itself (400, 413, 431, 505, 500), then closes. */
static void pc_error(pconn_t *pc, int status, const char *desc)
{
    char body[320], out[1024];
    cf_http_header_t h[2];
    size_t nh = cf__http_error_headers(h, status);
    size_t n = cf__http_json_error(body, sizeof body, status, desc), len;

    len = cf__http_encode_response(out, sizeof out, status, h, nh, body, n, px_date(pc->px), 0, 0);
    if (len > 0 && len <= sizeof out)
        (void)px_write((uv_stream_t *)&pc->tcp, out, len, px_client_on_write);
    pc->state = PC_DECIDE; /* read nothing more */
    px_client_finish(pc);
}

/* ======================================================================
 * Reading requests
 * ====================================================================== */

static pconn_t *pc_of(http_parser *p)
{
    return (pconn_t *)((char *)p - offsetof(pconn_t, parser));
}

static int on_begin(http_parser *p)
{
    pconn_t *pc = pc_of(p);

    px_head_reset(&pc->head);
    pc->head.chunk = pc->in;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    return px_head_url(&pc_of(p)->head, at, n);
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    pconn_t *pc = pc_of(p);
    return pc->head.done ? 0 : px_head_field(&pc->head, at, n); /* trailers dropped */
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    pconn_t *pc = pc_of(p);
    return pc->head.done ? 0 : px_head_value(&pc->head, at, n);
}

static int on_headers_complete(http_parser *p)
{
    pconn_t *pc = pc_of(p);

    pc->head.done = 1;
    /* Decide before any body byte. An upgrade has no body: http-parser ends the
     * message at once (on_complete pauses), past the head's last LF, so what
     * follows in the buffer is already the tunnel's. */
    if (!p->upgrade)
        http_parser_pause(p, 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    pconn_t *pc = pc_of(p);
    size_t max = pc->px->app->cfg.proxy_max_body_bytes;

    pc->body_bytes += n;
    if (pc->state == PC_DRAIN) /* refused: dropped, within limits.max_body_bytes */
        return pc->body_bytes > pc->px->app->cfg.max_body_bytes ? -1 : 0;
    if (max > 0 && pc->body_bytes > max) {
        pc->head.err = "request body too large";
        pc->head.err_status = 413;
        return -1;
    }
    pc->bytes_up += n;
    px_upstream_body(pc, at, n, 0);
    return 0;
}

static int on_complete(http_parser *p)
{
    pconn_t *pc = pc_of(p);

    pc->req_done = 1;
    if (pc->state == PC_FORWARD && !pc->upgrade)
        px_upstream_body(pc, NULL, 0, 1);
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings client_settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static void head_done(pconn_t *pc);

/* Make ready for the connection's next request. */
static void next_request(pconn_t *pc)
{
    pc->state = PC_HEAD;
    pc->req_done = 0;
    pc->resp_started = 0;
    pc->sse = 0;
    pc->chunk_out = 0;
    px_head_reset(&pc->head); /* a loop over the buffer must not see the last head as new */
    pc->px->ops->arm(pc);
    http_parser_init(&pc->parser, HTTP_REQUEST);
}

/* Run the parser over buffered bytes while the state lets it. */
void px_client_process(pconn_t *pc)
{
    if (pc->processing)
        return; /* called from within the loop below (a verdict given at once): it goes on */
    pc->processing = 1;
    while (!pc->closing && !pc->finishing && pc->in_len > 0 &&
           (pc->state == PC_HEAD || pc->state == PC_DRAIN ||
            (pc->state == PC_FORWARD && !pc->req_done && !pc->upgrade))) {
        size_t n;
        enum http_errno e;

        pc->head.chunk = pc->in;
        n = http_parser_execute(&pc->parser, &client_settings, pc->in, pc->in_len);
        e = HTTP_PARSER_ERRNO(&pc->parser);
        memmove(pc->in, pc->in + n, pc->in_len - n);
        pc->in_len -= n;
        pc->head.last_end = NULL; /* the bytes moved: nothing continues across this */
        if (e == HPE_PAUSED) {
            http_parser_pause(&pc->parser, 0);
            if (pc->state == PC_HEAD && pc->head.done) {
                head_done(pc);
                continue;
            }
            if (pc->state == PC_DRAIN && pc->req_done) {
                next_request(pc); /* the refused request is behind us: read the next one */
                continue;
            }
            if (pc->req_done)
                break;
            continue;
        }
        if (e != HPE_OK) {
            if (pc->state == PC_DRAIN) {
                px_client_finish(pc); /* the refusal is queued: send it, then close */
            } else if (pc->resp_started) {
                px_client_close(pc);
            } else {
                const char *d = pc->head.err ? pc->head.err : http_errno_description(e);
                pc_error(pc, pc->head.err ? pc->head.err_status : 400, d);
            }
            pc->processing = 0;
            return;
        }
        if (n == 0)
            break;
    }
    pc->processing = 0;
    px_client_read_update(pc);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    pconn_t *pc = h->data;

    (void)hint;
    if (pc->state == PC_TUNNEL || pc->finishing) { /* finishing: read to drop */
        *b = uv_buf_init(pc->px->rbuf, sizeof pc->px->rbuf);
        return;
    }
    *b = uv_buf_init(pc->in + pc->in_len, (unsigned)(pc->in_cap - pc->in_len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    pconn_t *pc = st->data;

    if (pc->closing || n == 0)
        return;
    if (pc->finishing) {
        if (n < 0)
            px_client_close(pc); /* the client closed too (or failed): done */
        return;
    }
    if (n < 0) {
        if (pc->state == PC_TUNNEL && pc->u != NULL && n == UV_EOF)
            pc->px->ops->cut(pc, CF_REASON_NONE); /* the client left: end the tunnel quietly */
        else
            px_client_close(pc);
        return;
    }
    if (pc->state == PC_TUNNEL) {
        if (pc->ws_draining)
            return; /* cut: nothing more reaches the upstream */
        pc->bytes_up += (uint64_t)n;
        pc->px->ops->touch(pc, 1);
        px_upstream_raw(pc, b->base, (size_t)n);
        return;
    }
    pc->in_len += (size_t)n;
    if (pc->state == PC_HEAD && !pc->registered)
        pc->px->ops->arm(pc); /* a request is arriving: the idle clock restarts */
    px_client_process(pc);
}

void px_client_read_update(pconn_t *pc)
{
    int want;

    if (pc->closing || pc->finishing)
        return;
    want = !pc->bp && (pc->state == PC_TUNNEL || pc->in_len < pc->in_cap);
    if (want && !pc->reading) {
        if (uv_read_start((uv_stream_t *)&pc->tcp, on_alloc, on_read) == 0)
            pc->reading = 1;
    } else if (!want && pc->reading) {
        (void)uv_read_stop((uv_stream_t *)&pc->tcp);
        pc->reading = 0;
    }
}

/* ======================================================================
 * Deciding
 * ====================================================================== */

/* Refuse heads that two readers could frame two ways (RFC 9112 §6.3). */
static const char *framing_problem(pconn_t *pc)
{
    const px_head_t *h = &pc->head;
    size_t len = 0, other = 0, ncl, nte, nhost;
    const char *te = px_head_get(h, "Transfer-Encoding", &len, &nte);

    (void)px_head_get(h, "Content-Length", &other, &ncl);
    (void)px_head_get(h, "Host", &other, &nhost);
    if (ncl > 1)
        return "more than one Content-Length";
    if (nte > 1 || (nte == 1 && !px_ieq(te, len, "chunked")))
        return "unsupported Transfer-Encoding";
    if (nte == 1 && ncl == 1)
        return "conflicting Content-Length and Transfer-Encoding";
    if (nte == 1 && pc->parser.http_minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (pc->parser.http_minor >= 1 && nhost != 1)
        return "an HTTP/1.1 request needs exactly one Host";
    return NULL;
}

/* The first proxy route whose host and path prefix match. */
static const cf_proxy_route_t *match(cf_proxy_t *px, const char *host, size_t hlen,
                                     const char *path, size_t plen, px_up_t **up)
{
    const cf_config_t *cfg = &px->app->cfg;
    const char *colon = memchr(host, ':', hlen);

    if (colon != NULL && host[0] != '[')
        hlen = (size_t)(colon - host);
    for (size_t i = 0; i < cfg->nproxy_routes; i++) {
        const cf_proxy_route_t *r = &cfg->proxy_routes[i];
        size_t n;
        if (r->host != NULL && !px_ieq(host, hlen, r->host))
            continue;
        n = r->path_prefix != NULL ? strlen(r->path_prefix) : 0;
        if (n > plen || memcmp(path, r->path_prefix != NULL ? r->path_prefix : "", n) != 0)
            continue;
        for (size_t j = 0; j < px->nups; j++)
            if (strcmp(px->ups[j].cfg->name, r->upstream) == 0)
                *up = &px->ups[j];
        return r;
    }
    return NULL;
}

/* The forwarding headers a client could use to make the check decide another request. */
static int decided_elsewhere(const px_head_t *h, size_t i)
{
    return px_head_is(h, i, "X-Original-URI") || px_head_is(h, i, "X-Original-Method") ||
           px_head_is(h, i, "X-Forwarded-Uri") || px_head_is(h, i, "X-Forwarded-Method") ||
           px_head_is(h, i, "X-Forwarded-Host");
}

static void on_verdict(cf_http_req_t *req, int status, const cf_http_header_t *h, size_t nh,
                       const char *body, size_t len);

/* Fill pc->req as if the request itself had been sent to /v1/check. */
static int build_check(pconn_t *pc, const char *path, size_t plen)
{
    cf_http_req_t *r = &pc->req;
    const px_head_t *h = &pc->head;

    memset(r, 0, sizeof *r);
    if (px_grow(&pc->checkpath, &pc->checkpath_cap, plen + 10) < 0)
        return CF_ENOMEM;
    memcpy(pc->checkpath, "/v1/check", 9);
    memcpy(pc->checkpath + 9, path, plen);
    r->method = HTTP_GET;
    r->method_name = http_method_str((enum http_method)pc->parser.method);
    r->path = pc->checkpath;
    r->path_len = plen + 9;
    r->query = "";
    for (size_t i = 0; i < h->n && r->nheaders < CF_HTTP_MAX_HEADERS; i++) {
        if (decided_elsewhere(h, i))
            continue;
        r->headers[r->nheaders++] = (cf_http_header_t){h->b + h->h[i].name_off, h->h[i].name_len,
                                                        h->b + h->h[i].value_off,
                                                        h->h[i].value_len};
    }
    memcpy(r->peer_ip, pc->peer, sizeof r->peer_ip);
    r->keep_alive = 1;
    r->http_major = 1;
    r->http_minor = 1;
    r->cf__capture = on_verdict;
    return 0;
}

/* What the parsed head says about this request's framing and the connection's reuse. */
static void take_framing(pconn_t *pc)
{
    size_t elen = 0, ecount;
    const char *e = px_head_get(&pc->head, "Expect", &elen, &ecount);

    pc->state = PC_DECIDE;
    pc->req_done = 0;
    pc->resp_started = 0;
    pc->body_bytes = 0;
    pc->chunked_in = (pc->parser.flags & F_CHUNKED) != 0;
    pc->upgrade = pc->parser.upgrade != 0;
    pc->is_head = pc->parser.method == HTTP_HEAD;
    pc->keep = http_should_keep_alive(&pc->parser) != 0;
    pc->expect = e != NULL && px_ieq(e, elen, "100-continue");
}

/* The request head is complete: check it, route it, and ask for the decision. */
static void head_done(pconn_t *pc)
{
    px_head_t *h = &pc->head;
    const char *why = px_head_check(h), *url = h->b + h->url_off, *q, *host;
    size_t ulen = h->url_len, plen, nlen, hlen = 0, nhost;
    char *norm;
    cf_app_t *app;

    if (why == NULL)
        why = framing_problem(pc);
    if (why == NULL && (ulen == 0 || url[0] != '/'))
        why = "the request target must be a path (origin-form)";
    if (why == NULL && pc->parser.method == HTTP_CONNECT)
        why = "CONNECT is not proxied";
    if (why != NULL) {
        pc_error(pc, 400, why);
        return;
    }
    if (pc->parser.http_major != 1) {
        pc_error(pc, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
        return;
    }
    if (pc->px->app->cfg.proxy_max_body_bytes > 0 && (pc->parser.flags & F_CONTENTLENGTH) &&
        pc->parser.content_length > pc->px->app->cfg.proxy_max_body_bytes) {
        pc_error(pc, 413, "request body too large");
        return;
    }
    q = memchr(url, '?', ulen);
    plen = q != NULL ? (size_t)(q - url) : ulen;
    if (px_grow(&pc->target, &pc->target_cap, ulen + 3) < 0) {
        pc_error(pc, 500, "out of memory");
        return;
    }
    norm = pc->target;
    take_framing(pc);
    host = px_head_get(h, "Host", &hlen, &nhost);
    if (host == NULL) {
        host = "";
        hlen = 0;
    }
    /* The path is decided, and forwarded, in normal form: what was decided is what is served. */
    if (cf_path_normalize(url, plen, norm, &nlen) < 0) {
        px_client_refuse(pc, CF_REASON_INVALID_PATH);
        return;
    }
    pc->up = NULL;
    pc->route = match(pc->px, host, hlen, norm, nlen, &pc->up);
    if (pc->route == NULL || pc->up == NULL) {
        px_client_refuse(pc, CF_REASON_NOT_FOUND);
        return;
    }
    if (build_check(pc, url, plen) < 0) {
        pc_error(pc, 500, "out of memory");
        return;
    }
    if (q != NULL) { /* the query travels as sent */
        norm[nlen] = '\0';
        memmove(norm + nlen, q, ulen - plen);
        nlen += ulen - plen;
    }
    norm[nlen] = '\0';
    pc->target_len = nlen;
    pc->cap_mode = CAP_DECIDE;
    pc->deciding = 1;
    /* The decision, the session's filing and its deadline: one clock read, not four. */
    app = pc->px->app; /* @pc may be gone when decide returns */
    cf_app_clock_hold(app);
    pc->px->hooks.decide(pc->px->hooks.ctx, &pc->req);
    cf_app_clock_release(app);
}

void px_client_sse_end(pconn_t *pc, cf_reason_t why)
{
    memset(&pc->req, 0, sizeof pc->req);
    pc->req.method = HTTP_GET;
    pc->req.method_name = "GET";
    memcpy(pc->req.peer_ip, pc->peer, sizeof pc->req.peer_ip);
    pc->req.cf__capture = on_verdict;
    pc->state = PC_DECIDE;
    pc->cap_mode = CAP_SSE;
    pc->deciding = 1;
    pc->px->hooks.refuse(pc->px->hooks.ctx, &pc->req, why);
}

void px_client_refuse(pconn_t *pc, cf_reason_t why)
{
    memset(&pc->req, 0, sizeof pc->req);
    pc->req.method = pc->is_head ? HTTP_HEAD : HTTP_GET;
    pc->req.method_name = "GET";
    memcpy(pc->req.peer_ip, pc->peer, sizeof pc->req.peer_ip);
    pc->req.cf__capture = on_verdict;
    pc->cap_mode = CAP_REFUSE;
    pc->deciding = 1;
    pc->px->hooks.refuse(pc->px->hooks.ctx, &pc->req, why);
}

/* Allowed: file the request under its session and send it on. */
static void allowed(pconn_t *pc, const cf_http_header_t *h, size_t nh)
{
    const char *sid = NULL, *sub = NULL;
    size_t sidlen = 0, sublen = 0;
    char sidbuf[CF_SID_LEN + 1];
    int rc = px_take_identity(pc, h, nh, &sid, &sidlen, &sub, &sublen);

    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=proxy_bad_identity why=%s", cf_strerror(rc));
        pc_error(pc, 500, "the identity cannot be forwarded");
        return;
    }
    if (sid != NULL && sidlen == CF_SID_LEN && sub != NULL) {
        memcpy(sidbuf, sid, CF_SID_LEN);
        sidbuf[CF_SID_LEN] = '\0';
        pc->px->ops->reg(pc, sidbuf, sub, sublen);
    }
    pc->state = PC_CONNECT;
    px_upstream_start(pc);
}

/* Go on after a refusal, as the API listener would? Not after a cut or an upgrade, nor past a
 * body held back for 100 Continue or larger than limits.max_body_bytes (read and dropped). */
static int can_go_on(const pconn_t *pc)
{
    const http_parser *p = &pc->parser;

    if (!pc->keep || pc->px->stopping || pc->upgrade || pc->cut_why != CF_REASON_NONE ||
        pc->state != PC_DECIDE)
        return 0;
    return (!(p->flags & F_CONTENTLENGTH) && !pc->chunked_in) ||
           (!pc->expect && (pc->chunked_in || p->content_length <= pc->px->app->cfg.max_body_bytes));
}

/* Send an answer the API layer made (a refusal) exactly as the API listener would. */
static void send_answer(pconn_t *pc, int status, const cf_http_header_t *h, size_t nh,
                        const char *body, size_t len)
{
    int keep = can_go_on(pc);
    size_t need = cf__http_encode_response(NULL, 0, status, h, nh, body, len, px_date(pc->px),
                                           keep, pc->is_head);
    char *out = need > 0 ? malloc(need) : NULL;

    if (out != NULL) {
        (void)cf__http_encode_response(out, need, status, h, nh, body, len, px_date(pc->px), keep,
                                       pc->is_head);
        (void)px_write((uv_stream_t *)&pc->tcp, out, need, px_client_on_write);
        pc->bytes_down += need;
        free(out);
    } else {
        keep = 0;
    }
    pc->resp_started = 1;
    if (!keep) {
        pc->state = PC_DECIDE;
        px_client_finish(pc);
        return;
    }
    pc->state = PC_DRAIN; /* the parser resumes at the body (or the end of the head) */
    pc->body_bytes = 0;
    pc->px->ops->arm(pc); /* a body that never comes meets proxy.idle_timeout */
    px_client_process(pc);
}

static void on_verdict(cf_http_req_t *req, int status, const cf_http_header_t *h, size_t nh,
                       const char *body, size_t len)
{
    pconn_t *pc = (pconn_t *)((char *)req - offsetof(pconn_t, req));

    pc->deciding = 0;
    if (pc->closing) {
        if (pc->handles == 0)
            pc_free(pc); /* the client left while the decision was in flight */
        return;
    }
    if (pc->cap_mode == CAP_SSE) {
        char ev[1024];
        int n = snprintf(ev, sizeof ev, "%sevent: curfew\ndata: %.*s\n\n",
                         pc->sse_tail[1] == '\n' ? (pc->sse_tail[0] == '\n' ? "" : "\n") : "\n\n",
                         (int)len, body);
        char frame[1100];
        size_t fl = 0;
        (void)status;
        (void)h;
        (void)nh;
        if (n > 0 && (size_t)n < sizeof ev) {
            if (pc->chunk_out)
                fl = (size_t)snprintf(frame, sizeof frame, "%x\r\n%s\r\n0\r\n\r\n", n, ev);
            else
                fl = (size_t)snprintf(frame, sizeof frame, "%s", ev);
            (void)px_write((uv_stream_t *)&pc->tcp, frame, fl, px_client_on_write);
        }
        px_client_finish(pc);
        return;
    }
    if (pc->cap_mode == CAP_DECIDE && status == 200) {
        allowed(pc, h, nh);
        return;
    }
    send_answer(pc, status, h, nh, body, len);
}

void px_client_response_done(pconn_t *pc)
{
    pc->px->ops->unreg(pc);
    if (!pc->keep || pc->px->stopping) {
        px_client_finish(pc);
        return;
    }
    next_request(pc);
    px_client_process(pc);
}

/* ======================================================================
 * Accepting
 * ====================================================================== */

static void peer_name(uv_tcp_t *tcp, char out[46])
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;

    strcpy(out, "unknown");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET)
        (void)uv_ip4_name((const struct sockaddr_in *)&ss, out, 46);
    else if (ss.ss_family == AF_INET6)
        (void)uv_ip6_name((const struct sockaddr_in6 *)&ss, out, 46);
}

/* Count @pc against its address; 0, or -1 when the address is over its limit. */
static int count_address(pconn_t *pc)
{
    cf_proxy_t *px = pc->px;
    px_ipcount_t *c = cf_map_get(&px->by_ip, pc->peer, strlen(pc->peer));

    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return -1;
        memcpy(c->ip, pc->peer, sizeof c->ip);
        if (cf_map_put(&px->by_ip, c->ip, strlen(c->ip), c, NULL) < 0) {
            free(c);
            return -1;
        }
    }
    if (c->n >= px->app->cfg.proxy_max_per_address) {
        if (c->n == 0) {
            (void)cf_map_del(&px->by_ip, c->ip, strlen(c->ip));
            free(c);
        }
        return -1;
    }
    c->n++;
    pc->ipc = c;
    return 0;
}

void px_client_accept(cf_proxy_t *px, uv_stream_t *ls)
{
    pconn_t *pc = calloc(1, sizeof *pc);
    const cf_config_t *cfg = &px->app->cfg;

    if (pc == NULL || (pc->in = malloc(cfg->max_header_bytes + PX_IN_SLACK)) == NULL) {
        free(pc);
        CF_LOG(CF_LOG_ERROR, "event=proxy_oom what=connection");
        return;
    }
    pc->in_cap = cfg->max_header_bytes + PX_IN_SLACK;
    pc->px = px;
    px_head_init(&pc->head, cfg->max_header_bytes);
    http_parser_init(&pc->parser, HTTP_REQUEST);
    (void)uv_tcp_init(px->loop, &pc->tcp);
    (void)uv_timer_init(px->loop, &pc->timer);
    pc->tcp.data = pc->timer.data = pc;
    pc->handles = 2;
    pc->next = px->conns;
    if (px->conns != NULL)
        px->conns->prev = pc;
    px->conns = pc;
    px->nconns++;
    pc->opened = uv_now(px->loop);
    if (uv_accept(ls, (uv_stream_t *)&pc->tcp) < 0) {
        px_client_close(pc);
        return;
    }
    (void)uv_tcp_nodelay(&pc->tcp, 1);
    peer_name(&pc->tcp, pc->peer);
    if (px->nconns > cfg->proxy_max_connections || count_address(pc) < 0) {
        CF_LOG(CF_LOG_WARN, "event=proxy_reject reason=too_many_connections open=%zu", px->nconns);
        pc_error(pc, 503, "too many open connections; retry");
        return;
    }
    pc->px->ops->arm(pc);
    px_client_read_update(pc);
}
