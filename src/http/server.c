/* SPDX-License-Identifier: MIT
 *
 * The HTTP/1.1 server on libuv: the listening socket. Resolve and bind,
 * accept each connection and hand it to conn.c, refuse one over
 * max_connections with a 503, stop. What happens on a connection once it is
 * accepted (reading, dispatch, responses, timers) lives in conn.c; parsing
 * and encoding, which need no socket, in rx.c.
 */
#include "http/conn.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http/rx.h"
#include "util/log.h"

#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_IDLE_TIMEOUT (60 * CF_SEC)
#define DEFAULT_REQUEST_TIMEOUT (10 * CF_SEC)
#define LISTEN_BACKLOG 1024

static void on_reject_close(uv_handle_t *h)
{
    free(h);
}

/* Over max_connections: accept, say 503 if the socket takes it, close. */
static void server_reject(cf_http_server_t *s)
{
    uv_tcp_t *t = malloc(sizeof *t);
    char body[256], resp[640];
    size_t bn, rn;
    uv_buf_t b;
    cf_http_header_t eh[2];

    s->stats.accepted++;
    s->stats.rejected++;
    if (t == NULL || uv_tcp_init(s->loop, t) < 0) {
        free(t);
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=reject");
        return;
    }
    /* A TLS client cannot read a plain 503: it only sees the connection end. */
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t) == 0 && s->tls == NULL) {
        bn = cf__http_json_error(body, sizeof body, 503, "too many open connections; retry");
        rn = cf__http_encode_response(resp, sizeof resp, 503, eh, cf__http_error_headers(eh, 503),
                                      body, bn, cf__http_server_date(s), 0, 0);
        if (rn > 0 && rn <= sizeof resp) {
            b = uv_buf_init(resp, (unsigned)rn);
            (void)uv_try_write((uv_stream_t *)t, &b, 1); /* best effort: we close either way */
        }
    }
    uv_close((uv_handle_t *)t, on_reject_close);
}

static void on_connection(uv_stream_t *ls, int status)
{
    cf_http_server_t *s = ls->data;

    if (status < 0) {
        CF_LOG(CF_LOG_WARN, "event=http_accept_error err=%s", uv_err_name(status));
        return;
    }
    if (s->stats.open_connections >= s->cfg.max_connections) {
        CF_LOG(CF_LOG_WARN, "event=http_reject reason=max_connections open=%" PRIu64,
               s->stats.open_connections);
        server_reject(s);
        return;
    }
    if (cf__http_conn_accept(s) == CF_ENOMEM)
        server_reject(s);
}

static void on_listener_close(uv_handle_t *h)
{
    cf_http_server_t *s = h->data;

    s->listener_closed = 1;
    cf__http_server_maybe_free(s);
}

static int resolve(uv_loop_t *loop, const char *host, int port, struct sockaddr_storage *ss)
{
    struct addrinfo hints;
    uv_getaddrinfo_t gai;
    int rc;

    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = uv_getaddrinfo(loop, &gai, NULL, host, NULL, &hints); /* synchronous: startup only */
    if (rc < 0)
        return rc;
    if (gai.addrinfo == NULL || gai.addrinfo->ai_addrlen > sizeof *ss) {
        uv_freeaddrinfo(gai.addrinfo);
        return UV_EAI_NONAME;
    }
    memcpy(ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
    uv_freeaddrinfo(gai.addrinfo);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    return 0;
}

/* Free a server whose listener was never initialised. */
static void server_discard(cf_http_server_t *s)
{
    SSL_CTX_free(s->tls);
    free(s->tls_in);
    free(s->host);
    free(s);
}

/* HTTPS: a reference to the context and the scratch buffer records are read into. */
static int server_tls_init(cf_http_server_t *s, SSL_CTX *tls)
{
    s->tls_in = malloc(CF__HTTP_TLS_IN);
    if (s->tls_in == NULL || SSL_CTX_up_ref(tls) != 1) {
        free(s->tls_in);
        s->tls_in = NULL;
        return CF_ENOMEM;
    }
    s->tls = tls;
    return 0;
}

int cf_http_server_start(uv_loop_t *loop, const cf_http_config_t *cfg, cf_http_server_t **out)
{
    cf_http_server_t *s = NULL;
    struct sockaddr_storage ss;
    int len, rc;
    const char *host;

    *out = NULL;
    if (cfg->on_request == NULL || cfg->port < 0 || cfg->port > 65535 ||
        cfg->max_header_bytes > LIMIT_MAX || cfg->max_body_bytes > LIMIT_MAX ||
        cfg->idle_timeout < 0 || cfg->request_timeout < 0)
        return CF_EINVAL;
    host = cfg->host != NULL ? cfg->host : "127.0.0.1";
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return CF_ENOMEM;
    s->host = strdup(host);
    if (s->host == NULL) {
        free(s);
        return CF_ENOMEM;
    }
    if (cfg->tls != NULL && server_tls_init(s, cfg->tls) < 0) {
        free(s->host);
        free(s);
        return CF_ENOMEM;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.host = s->host;
    if (s->cfg.max_connections == 0)
        s->cfg.max_connections = DEFAULT_MAX_CONNECTIONS;
    if (s->cfg.idle_timeout == 0)
        s->cfg.idle_timeout = DEFAULT_IDLE_TIMEOUT;
    if (s->cfg.request_timeout == 0)
        s->cfg.request_timeout = DEFAULT_REQUEST_TIMEOUT;
    if (s->cfg.max_header_bytes == 0)
        s->cfg.max_header_bytes = DEFAULT_MAX_HEADER;
    if (s->cfg.max_body_bytes == 0)
        s->cfg.max_body_bytes = DEFAULT_MAX_BODY;

    rc = resolve(loop, host, cfg->port, &ss);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=http_bind_failed addr=%s port=%d err=%s", host, cfg->port,
               uv_strerror(rc));
        server_discard(s);
        return CF_EIO;
    }
    rc = uv_tcp_init(loop, &s->listener);
    if (rc < 0) {
        server_discard(s);
        return CF_EIO;
    }
    s->listener.data = s;
    /* From here the listener must be closed; it frees the server in its callback. */
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=http_bind_failed addr=%s port=%d err=%s", host, cfg->port,
               uv_strerror(rc));
        goto fail;
    }
    len = (int)sizeof ss;
    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=http_bind_failed addr=%s port=%d err=%s", host, cfg->port,
               uv_strerror(rc));
        goto fail;
    }
    s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    CF_LOG(CF_LOG_DEBUG, "event=http_listen addr=%s port=%d", host, s->port);
    *out = s;
    return 0;

fail:
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    return CF_EIO;
}

int cf_http_server_port(const cf_http_server_t *s)
{
    return s->port;
}

int cf_http_server_set_tls(cf_http_server_t *s, SSL_CTX *tls)
{
    if (s == NULL || s->tls == NULL || tls == NULL || SSL_CTX_up_ref(tls) != 1)
        return CF_EINVAL;
    SSL_CTX_free(s->tls); /* open connections hold their own reference through SSL */
    s->tls = tls;
    return 0;
}

void cf_http_server_stats(const cf_http_server_t *s, cf_http_stats_t *out)
{
    *out = s->stats;
}

void cf_http_server_stop(cf_http_server_t *s)
{
    if (s == NULL || s->stopping)
        return;
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    cf__http_conn_close_all(s);
}
