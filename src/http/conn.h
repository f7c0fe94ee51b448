/* SPDX-License-Identifier: MIT
 *
 * Private to the HTTP server (server.c, conn.c): the server object, and
 * what the listener asks of the connections. server.c owns the listening
 * socket (start, accept or refuse, stop); conn.c owns each accepted
 * connection (read, parse, dispatch, respond in order, timers, close) and
 * frees the server once it is stopped and its last connection is gone. The
 * calls go one way, server.c to conn.c, so each file reads alone.
 */
#ifndef CF_HTTP_CONN_H
#define CF_HTTP_CONN_H

#include <time.h>
#include <uv.h>

#include "http/server.h"

struct cf__http_conn;

/* Bytes of TLS records taken from a socket per read (a record is at most 16 KiB + overhead). */
#define CF__HTTP_TLS_IN (17 * 1024)

struct cf_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    cf_http_config_t cfg;
    char *host;
    int port;
    struct cf__http_conn *conns; /* every open connection, a list */
    cf_http_stats_t stats;
    SSL_CTX *tls;   /* NULL: plain HTTP */
    char *tls_in;   /* scratch for raw TLS records read from a socket (one loop, one at a time) */
    time_t date_sec;
    char date[32];
    unsigned stopping : 1, listener_closed : 1;
};

/**
 * Accept a pending connection on @s's listener and start serving it.
 * Returns 0 (also when the accept itself failed, which is logged and the
 * connection closed), or CF_ENOMEM before accepting: the caller then refuses
 * the client with a 503 instead.
 */
int cf__http_conn_accept(cf_http_server_t *s);

/** Close every connection of @s (stop); each is freed in its close callback. */
void cf__http_conn_close_all(cf_http_server_t *s);

/** Free @s once it is stopping, its listener closed and no connection left. */
void cf__http_server_maybe_free(cf_http_server_t *s);

/** The Date header's value for now, cached in @s for the second. */
const char *cf__http_server_date(cf_http_server_t *s);

#endif
