/* SPDX-License-Identifier: MIT
 *
 * The enforcing proxy's owner of connections: the listeners, the registry
 * that files every proxied request and tunnel under its session, the
 * per-tunnel deadline timers, and the cut. It listens to the app's event
 * stream (it is one more sink): a SESSION_ENDED event, local or applied from
 * the cluster bus, cuts that session's connections at once; a NOT_BEFORE
 * event those of the sessions it covers. Deadlines need no event: each
 * registered connection's timer is armed at its session's next deadline
 * (idle or absolute, and the token's expiry with cut_on_token_expiry), and
 * re-armed there when activity moved it, so a tunnel ends at the instant
 * its session does, not at the next purge sweep.
 *
 * How a connection is ended depends on what it carries: a WebSocket gets a
 * close frame 1008 whose reason is the reason code, then the close; an SSE
 * stream a last `event: curfew` whose data is the refusal body a request
 * would get now; anything else is cut. Each cut is a CONNECTION_CUT event.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "proxy/proxy_int.h"
#include "util/log.h"

/* ======================================================================
 * Sessions own connections
 * ====================================================================== */

void px_register(pconn_t *pc, const char *sid, const char *sub, size_t sublen)
{
    cf_proxy_t *px = pc->px;
    px_owner_t *o = cf_map_get(&px->owners, sid, CF_SID_LEN);
    cf_session_t *s = cf_app_session(px->app, sid, CF_SID_LEN);

    if (pc->registered)
        px_unregister(pc);
    if (o == NULL) {
        o = calloc(1, sizeof *o);
        if (o == NULL)
            return;
        memcpy(o->sid, sid, CF_SID_LEN);
        if (cf_map_put(&px->owners, o->sid, CF_SID_LEN, o, NULL) < 0) {
            free(o);
            return;
        }
    }
    if (pc->sub == NULL || strlen(pc->sub) != sublen || memcmp(pc->sub, sub, sublen) != 0) {
        free(pc->sub); /* a keep-alive connection's next request mostly has the same subject */
        pc->sub = strndup(sub, sublen);
    }
    pc->created_at = s != NULL ? s->created_at : 0;
    pc->owner = o;
    pc->sprev = NULL;
    pc->snext = o->first;
    if (o->first != NULL)
        o->first->sprev = pc;
    o->first = pc;
    pc->registered = 1;
    pc->last_touch = cf_app_now(px->app);
    px_arm(pc);
}

void px_unregister(pconn_t *pc)
{
    px_owner_t *o = pc->owner;

    if (!pc->registered)
        return;
    pc->registered = 0;
    if (pc->sprev != NULL)
        pc->sprev->snext = pc->snext;
    else
        o->first = pc->snext;
    if (pc->snext != NULL)
        pc->snext->sprev = pc->sprev;
    pc->owner = NULL;
    pc->sprev = pc->snext = NULL;
    if (o->first == NULL) {
        (void)cf_map_del(&pc->px->owners, o->sid, CF_SID_LEN);
        free(o);
    }
    if (!pc->closing)
        px_arm(pc);
}

/* Is @pc's session over at @now? CF_REASON_NONE while it lives, with its next deadline. */
static cf_reason_t session_state(pconn_t *pc, cf_time_t now, cf_time_t *next)
{
    cf_session_t *s = cf_app_session(pc->px->app, pc->owner->sid, CF_SID_LEN);
    cf_end_t end;

    if (s == NULL)
        return CF_REASON_SESSION_NOT_FOUND;
    end = cf_session_end_at(s, now, NULL);
    if (end != CF_END_NONE)
        return cf_end_refusal(end);
    *next = cf_session_idle_deadline(s) < cf_session_absolute_deadline(s)
                ? cf_session_idle_deadline(s)
                : cf_session_absolute_deadline(s);
    if (pc->route != NULL && pc->route->cut_on_token_expiry) {
        if (now >= pc->token_exp)
            return CF_REASON_TOKEN_EXPIRED;
        if (pc->token_exp < *next)
            *next = pc->token_exp;
    }
    return CF_REASON_NONE;
}

static void on_timer(uv_timer_t *t)
{
    pconn_t *pc = t->data;

    if (pc->closing || !px_lazy_fired(t, &pc->tz, on_timer))
        return;
    if (!pc->registered) {
        if (pc->state == PC_HEAD || pc->state == PC_TUNNEL || pc->state == PC_DRAIN) {
            CF_LOG(CF_LOG_DEBUG, "event=proxy_idle_close");
            px_client_close(pc);
        }
        return;
    }
    px_arm(pc);
}

void px_arm(pconn_t *pc)
{
    cf_proxy_t *px = pc->px;
    cf_time_t now, next = 0;
    cf_reason_t why;

    if (pc->closing || pc->finishing || pc->ws_draining)
        return; /* its own timer bounds the finish, or the frame's */
    if (!pc->registered) {
        if (pc->state == PC_HEAD || pc->state == PC_TUNNEL || pc->state == PC_DRAIN)
            px_lazy_start(&pc->timer, &pc->tz, on_timer, (uint64_t)px->app->cfg.proxy_idle_timeout);
        else
            px_lazy_stop(&pc->tz);
        return;
    }
    now = cf_app_now(px->app);
    why = session_state(pc, now, &next);
    if (why != CF_REASON_NONE) {
        px_cut(pc, why);
        return;
    }
    /* One millisecond past: the session is over at its deadline, not before. */
    px_lazy_start(&pc->timer, &pc->tz, on_timer, (uint64_t)(next - now) + 1);
}

void px_touch(pconn_t *pc, int from_client)
{
    cf_time_t now;
    cf_session_t *s;
    int act = pc->route != NULL ? pc->route->activity : CF_PROXY_ACT_CLIENT;

    if (!pc->registered || act == CF_PROXY_ACT_NONE || (act == CF_PROXY_ACT_CLIENT && !from_client))
        return;
    now = cf_app_now(pc->px->app);
    if (now - pc->last_touch < CF_SEC)
        return; /* one touch a second is enough for deadlines counted in seconds */
    pc->last_touch = now;
    s = cf_app_session(pc->px->app, pc->owner->sid, CF_SID_LEN);
    if (s != NULL && cf_session_end_at(s, now, NULL) == CF_END_NONE)
        cf_app_touch(pc->px->app, s, now);
}

/* ======================================================================
 * The cut
 * ====================================================================== */

static void emit_cut(pconn_t *pc, cf_reason_t why)
{
    cf_event_t e = {.type = CF_EV_CONNECTION_CUT, .reason = why};

    e.at = cf_app_now(pc->px->app);
    if (pc->owner != NULL)
        memcpy(e.sid, pc->owner->sid, CF_SID_LEN + 1);
    e.bytes_up = pc->bytes_up;
    e.bytes_down = pc->bytes_down;
    e.span = (cf_time_t)(uv_now(pc->px->loop) - pc->opened);
    e.name = pc->ws ? "websocket" : pc->sse ? "sse" : pc->state == PC_TUNNEL ? "tunnel" : "http";
    CF_LOG(CF_LOG_INFO, "event=connection_cut reason=%s kind=%s", cf_reason_name(why), e.name);
    cf_app_emit(pc->px->app, &e);
}

/* A close frame 1008 (policy violation) with the reason code as its reason (RFC 6455 §5.5.1). */
static void ws_close(pconn_t *pc, cf_reason_t why)
{
    const char *name = cf_reason_name(why);
    size_t n = strlen(name);
    char f[2 + 2 + 123];

    if (n > 123)
        n = 123;
    f[0] = (char)0x88;
    f[1] = (char)(2 + n);
    f[2] = (char)(1008 >> 8);
    f[3] = (char)(1008 & 0xff);
    memcpy(f + 4, name, n);
    pc->bytes_down += 4 + n;
    (void)px_write((uv_stream_t *)&pc->tcp, f, 4 + n, px_client_on_write);
}

/* Is the upstream inside a frame whose rest may still be sent (RFC 6455 §5.4: a control frame
 * may come between frames, even between the fragments of a message, never inside one)? */
static int ws_mid_frame(const pconn_t *pc)
{
    return pc->ws_left > 0 || pc->ws_hlen > 0;
}

static void on_drain_timer(uv_timer_t *t)
{
    px_ws_drained(t->data, 0); /* the upstream did not finish its frame in time */
}

void px_ws_drained(pconn_t *pc, int clean)
{
    uconn_t *u = pc->u;

    if (!pc->ws_draining)
        return;
    pc->ws_draining = 0;
    (void)uv_timer_stop(&pc->timer);
    if (u != NULL) {
        pc->u = NULL;
        u->pc = NULL;
        px_upstream_close(u);
    }
    if (pc->closing || pc->finishing)
        return;
    if (clean)
        ws_close(pc, pc->cut_why);
    else
        CF_LOG(CF_LOG_INFO, "event=proxy_ws_cut_mid_frame reason=%s", cf_reason_name(pc->cut_why));
    px_client_finish(pc);
}

void px_cut(pconn_t *pc, cf_reason_t why)
{
    uconn_t *u = pc->u;

    if (pc->closing || pc->finishing)
        return;
    if (pc->ws_draining) {
        px_ws_drained(pc, 0); /* a side left while the frame was being finished */
        return;
    }
    if (why != CF_REASON_NONE)
        emit_cut(pc, why);
    px_unregister(pc);
    (void)uv_timer_stop(&pc->timer);
    pc->tz = (px_lazy_t){0, 0};
    pc->cut_why = why;
    if (why != CF_REASON_NONE && pc->state == PC_TUNNEL && pc->ws && u != NULL &&
        ws_mid_frame(pc) && (pc->ws_hlen > 0 || pc->ws_left <= PX_WS_DRAIN_MAX)) {
        /* Finish the frame in flight (upstream.c forwards up to its end and not a byte
         * more; the client's bytes are read and dropped), then the close frame. */
        pc->ws_draining = 1;
        pc->ws_budget = PX_WS_DRAIN_MAX;
        (void)uv_timer_start(&pc->timer, on_drain_timer, PX_WS_DRAIN_MS, 0);
        return;
    }
    if (u != NULL) {
        pc->u = NULL;
        u->pc = NULL;
        px_upstream_close(u);
    }
    if (why == CF_REASON_NONE) {
        px_client_finish(pc);
    } else if (pc->state == PC_TUNNEL && pc->ws) {
        if (!ws_mid_frame(pc))
            ws_close(pc, why); /* else the frame is too large to finish: only the TCP close */
        px_client_finish(pc);
    } else if (pc->deciding) {
        px_client_close(pc); /* the decision in flight answers nobody */
    } else if (pc->sse && pc->resp_started) {
        px_client_sse_end(pc, why);
    } else if (!pc->resp_started) {
        px_client_refuse(pc, why); /* nothing sent yet: the answer a request gets now */
    } else {
        px_client_reset(pc); /* a graceful close would first deliver what the kernel holds */
    }
}

/* The sink: end the connections of every session the batch ended or revoked. */
static void cut_owner(cf_proxy_t *px, const char *sid, cf_reason_t why)
{
    px_owner_t *o = cf_map_get(&px->owners, sid, CF_SID_LEN);

    while (o != NULL && o->first != NULL) {
        pconn_t *pc = o->first;
        px_owner_t *left;
        px_cut(pc, why); /* unregisters it; frees o with the last one */
        left = cf_map_get(&px->owners, sid, CF_SID_LEN);
        if (left == NULL || (left == o && o->first == pc))
            break;
        o = left;
    }
}

static void cut_not_before(cf_proxy_t *px, const cf_event_t *e)
{
    for (pconn_t *pc = px->conns, *next; pc != NULL; pc = next) {
        next = pc->next;
        if (pc->registered && !pc->closing && pc->created_at < e->not_before &&
            (e->sub == NULL || (pc->sub != NULL && strcmp(pc->sub, e->sub) == 0)))
            px_cut(pc, CF_REASON_REVOKED_BEFORE);
    }
}

static void on_events(void *arg, const cf_events_t *ev)
{
    cf_proxy_t *px = arg;

    /* Ended sessions first: a revocation by subject carries both, and its
     * sessions end as revoked; the epoch then catches what the batch did not name. */
    for (size_t i = 0; i < ev->n; i++) {
        const cf_event_t *e = &ev->v[i];
        if (e->type == CF_EV_SESSION_ENDED && e->session != NULL &&
            e->session->end != CF_END_NONE)
            cut_owner(px, e->session->id, cf_end_refusal(e->session->end));
    }
    for (size_t i = 0; i < ev->n; i++)
        if (ev->v[i].type == CF_EV_NOT_BEFORE && px->conns != NULL)
            cut_not_before(px, &ev->v[i]);
}

/* ======================================================================
 * Listeners and lifecycle
 * ====================================================================== */

static void on_connection(uv_stream_t *ls, int status)
{
    cf_proxy_t *px = ls->data;

    if (status < 0 || px->stopping)
        return;
    px_client_accept(px, ls);
}

static void on_ls_close(uv_handle_t *h)
{
    cf_proxy_t *px = h->data;

    px->ls_open--;
    px_maybe_free(px);
}

static void on_signal_close(uv_handle_t *h)
{
    cf_proxy_t *px = h->data;

    px->signals_open--;
    px_maybe_free(px);
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)sig;
    cf_proxy_stop(s->data);
}

/* A host name, resolved once (at start): its first IPv4 address, else its first IPv6 one. */
static int resolve(uv_loop_t *loop, const char *host, int port, struct sockaddr_storage *ss)
{
    uv_getaddrinfo_t req;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *pick = NULL;
    char service[8];

    snprintf(service, sizeof service, "%d", port);
    if (uv_getaddrinfo(loop, &req, NULL, host, service, &hints) < 0) /* no callback: now */
        return CF_ENOENT;
    for (struct addrinfo *a = req.addrinfo; a != NULL; a = a->ai_next)
        if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
            (pick == NULL || (a->ai_family == AF_INET && pick->ai_family != AF_INET)))
            pick = a;
    if (pick != NULL && pick->ai_addrlen <= sizeof *ss)
        memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return pick != NULL ? 0 : CF_ENOENT;
}

/* HOST:PORT (validated by the config) into @ss; a name is resolved when @loop is given. */
static int parse_addr(uv_loop_t *loop, const char *text, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    size_t hlen;
    int port;

    if (colon == NULL)
        return CF_EINVAL;
    port = atoi(colon + 1);
    hlen = (size_t)(colon - text);
    if (text[0] == '[' && hlen >= 2) {
        text++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        return CF_EINVAL;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return loop != NULL ? resolve(loop, host, port, ss) : CF_EINVAL;
}

static int listen_all(cf_proxy_t *px)
{
    const cf_config_t *cfg = &px->app->cfg;

    for (size_t i = 0; i < cfg->nproxy_listeners; i++) {
        struct sockaddr_storage ss;
        int len = (int)sizeof ss, rc;
        uv_tcp_t *t = &px->ls[i];

        if (parse_addr(NULL, cfg->proxy_listeners[i].listen, &ss) < 0)
            return CF_EIO;
        (void)uv_tcp_init(px->loop, t);
        t->data = px;
        px->ls_open++;
        px->nls++;
        rc = uv_tcp_bind(t, (const struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)t, 1024, on_connection);
        if (rc == 0)
            rc = uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len);
        if (rc < 0) {
            CF_LOG(CF_LOG_ERROR, "event=proxy_bind_failed addr=%s err=%s",
                   cfg->proxy_listeners[i].listen, uv_strerror(rc));
            return CF_EIO;
        }
        px->ports[i] = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                     : ((struct sockaddr_in6 *)&ss)->sin6_port);
        CF_LOG(CF_LOG_INFO, "event=proxy_listen addr=%s port=%d", cfg->proxy_listeners[i].listen,
               px->ports[i]);
    }
    return 0;
}

/*
 * The calls that go up: client.c and upstream.c reach the registry and the
 * client side through this table, so that no two files call each other.
 */
static const px_ops_t ops = {
    .reg = px_register,
    .unreg = px_unregister,
    .arm = px_arm,
    .touch = px_touch,
    .cut = px_cut,
    .refuse = px_client_refuse,
    .close = px_client_close,
    .read_update = px_client_read_update,
    .on_write = px_client_on_write,
    .upstream_head = px_client_upstream_head,
    .process = px_client_process,
    .response_done = px_client_response_done,
    .ws_drained = px_ws_drained,
};

int cf_proxy_start(cf_app_t *app, const cf_proxy_hooks_t *hooks, cf_proxy_t **out)
{
    const cf_config_t *cfg = &app->cfg;
    cf_proxy_t *px;
    int rc;

    *out = NULL;
    if (cfg->nproxy_listeners == 0)
        return 0;
    px = calloc(1, sizeof *px);
    if (px == NULL)
        return CF_ENOMEM;
    px->app = app;
    px->loop = app->loop;
    px->hooks = *hooks;
    px->ops = &ops;
    cf_map_init(&px->owners, app->seed ^ 0x70726f7879ull);
    cf_map_init(&px->by_ip, app->seed ^ 0x6970ull);
    px->ls = calloc(cfg->nproxy_listeners, sizeof *px->ls);
    px->ports = calloc(cfg->nproxy_listeners, sizeof *px->ports);
    px->ups = calloc(cfg->nproxy_upstreams + 1, sizeof *px->ups);
    if (px->ls == NULL || px->ports == NULL || px->ups == NULL) {
        free(px->ls);
        free(px->ports);
        free(px->ups);
        free(px);
        return CF_ENOMEM;
    }
    px->nups = cfg->nproxy_upstreams;
    for (size_t i = 0; i < cfg->nproxy_upstreams; i++)
        px->ups[i].cfg = &cfg->proxy_upstreams[i];
    (void)uv_signal_init(px->loop, &px->sigterm);
    (void)uv_signal_init(px->loop, &px->sigint);
    px->sigterm.data = px->sigint.data = px;
    px->signals_open = 2;
    (void)uv_signal_start(&px->sigterm, on_signal, SIGTERM);
    (void)uv_signal_start(&px->sigint, on_signal, SIGINT);
    uv_unref((uv_handle_t *)&px->sigterm);
    uv_unref((uv_handle_t *)&px->sigint);
    rc = listen_all(px);
    for (size_t i = 0; i < px->nups && rc == 0; i++) {
        if (parse_addr(px->loop, cfg->proxy_upstreams[i].address, &px->ups[i].addr) < 0) {
            CF_LOG(CF_LOG_ERROR, "event=proxy_resolve_failed upstream=%s addr=%s",
                   cfg->proxy_upstreams[i].name, cfg->proxy_upstreams[i].address);
            rc = CF_EIO;
        }
    }
    if (rc < 0) {
        cf_proxy_stop(px);
        return rc;
    }
    app->tap = on_events;
    app->tap_arg = px;
    *out = px;
    return 0;
}

void cf_proxy_stop(cf_proxy_t *px)
{
    if (px == NULL || px->stopping)
        return;
    px->stopping = 1;
    if (px->app->tap_arg == px) {
        px->app->tap = NULL;
        px->app->tap_arg = NULL;
    }
    for (size_t i = 0; i < px->nls; i++)
        uv_close((uv_handle_t *)&px->ls[i], on_ls_close);
    uv_close((uv_handle_t *)&px->sigterm, on_signal_close);
    uv_close((uv_handle_t *)&px->sigint, on_signal_close);
    for (pconn_t *pc = px->conns, *next; pc != NULL; pc = next) {
        next = pc->next;
        px_client_close(pc);
    }
    for (size_t i = 0; i < px->nups; i++)
        while (px->ups[i].idle != NULL)
            px_upstream_close(px->ups[i].idle);
}

int cf_proxy_port(const cf_proxy_t *px, size_t i)
{
    return i < px->nls ? px->ports[i] : 0;
}
