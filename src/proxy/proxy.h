/* SPDX-License-Identifier: MIT
 *
 * The enforcing reverse proxy (docs/proxy.md): a mode of the same server in
 * which curfew forwards HTTP/1.1, WebSocket and server-sent-event traffic to
 * upstreams itself, so that it can end a live connection when its session
 * ends. Sessions own connections: every proxied request and tunnel is filed
 * under the session it was allowed for, and when that session ends (for any
 * reason, on this node or on another one of the cluster) or reaches a
 * deadline, the connection is cut at once.
 *
 * It decides nothing itself. Each request is put to /v1/check's own handler
 * (which calls cf_access_decide), through @hooks, so a proxied request is
 * allowed or refused exactly as a check would be, with the same bytes.
 * Everything runs on the app's loop thread.
 */
#ifndef CF_PROXY_PROXY_H
#define CF_PROXY_PROXY_H

#include "app/app.h"
#include "core/reason.h"
#include "http/server.h"

/**
 * What the proxy asks of the API layer; main.c wires it (the proxy sits
 * beside src/api, not above it). Both answer through cf_http_respond on
 * @req, whose capture the proxy has set, possibly later (a cluster fetch).
 */
typedef struct {
    /** Decide @req as GET /v1/check would (cf_api_check). */
    void (*decide)(void *ctx, cf_http_req_t *req);
    /** Answer @req with the bearer refusal for @why (cf_reply_refusal). */
    void (*refuse)(void *ctx, cf_http_req_t *req, cf_reason_t why);
    void *ctx;
} cf_proxy_hooks_t;

typedef struct cf_proxy cf_proxy_t;

/**
 * Start the listeners of @app->cfg.proxy_listeners (none: *out = NULL and
 * 0). The proxy becomes a sink of @app's event stream (app->tap) and stops
 * on SIGTERM/SIGINT with the app. Returns 0, CF_ENOMEM or CF_EIO (logged).
 */
int cf_proxy_start(cf_app_t *app, const cf_proxy_hooks_t *hooks, cf_proxy_t **out);

/** Close the listeners and every connection; frees itself once they closed. NULL is a no-op. */
void cf_proxy_stop(cf_proxy_t *p);

/** The port listener @i is bound to (useful with port 0). */
int cf_proxy_port(const cf_proxy_t *p, size_t i);

#endif
