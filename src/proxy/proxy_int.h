/* SPDX-License-Identifier: MIT
 *
 * Private to src/proxy: the proxy object, a client connection (pconn) and
 * an upstream connection (uconn). proxy.c owns the listeners, the session
 * registry, deadlines and cuts; client.c reads and decides client
 * requests; upstream.c talks to upstreams and streams answers back.
 */
#ifndef CF_PROXY_INT_H
#define CF_PROXY_INT_H

#include <http_parser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "proxy/proxy.h"
#include "util/map.h"

#define PX_HIGH (256 * 1024) /* stop reading the other side while this much waits */
#define PX_LOW (64 * 1024)   /* and resume below this */
/* A hard cap on what one socket may have queued: backpressure keeps it under
 * PX_HIGH plus one read, so only a peer that stops reading while we must still
 * write (a close frame, an error) meets it, and its connection ends instead. */
#define PX_QUEUE_MAX (1024 * 1024)
#define PX_FINISH_GRACE_MS 2000 /* a peer that does not take our last bytes in this long is reset */
#define PX_IN_SLACK (64 * 1024)
#define PX_RESP_HEAD_MAX (64 * 1024)
#define PX_GATHER (16 * 1024) /* larger pieces are written from where they are */
/* A WebSocket cut while the upstream is inside a frame: the frame is finished
 * (so that the close frame lands between frames) when that takes at most this
 * many more bytes and this long; otherwise the TCP connection is closed. */
#define PX_WS_DRAIN_MAX (64 * 1024)
#define PX_WS_DRAIN_MS 100

typedef struct px_up px_up_t;

/* A deadline on a uv timer, re-armed lazily (nginx, h2o): moving it later,
 * as every request and every upstream read does, is a store, not a timer
 * heap operation; the timer re-arms itself when it fires early. Loop ms, 0 = none. */
typedef struct {
    uint64_t due, armed;
} px_lazy_t;
typedef struct pconn pconn_t;
typedef struct uconn uconn_t;

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
} px_span_t;

/* A parsed head, copied piece by piece into b (spans point into it). */
typedef struct {
    char *b;
    size_t len, cap, max;
    size_t url_off, url_len;
    px_span_t h[CF_HTTP_MAX_HEADERS];
    size_t n;
    int last;             /* 0 none, 1 url, 2 field, 3 value */
    const char *last_end; /* end of the previous piece in the caller's buffer */
    const char *chunk;    /* start of the buffer being parsed */
    const char *err;      /* why the head is refused (400) */
    int err_status;
    size_t nconn;        /* Connection fields (counted by px_head_check) */
    unsigned done : 1, checked : 1;
} px_head_t;

struct px_up {
    const cf_proxy_upstream_t *cfg;
    struct sockaddr_storage addr;
    uconn_t *idle; /* pooled keep-alive connections */
    size_t nidle;
};

/* Connections from one address (proxy.max_connections_per_address). */
typedef struct {
    char ip[46];
    size_t n;
} px_ipcount_t;

/* Sessions own connections: the tunnels of one session. */
typedef struct {
    char sid[CF_SID_LEN + 1];
    pconn_t *first;
} px_owner_t;

/* Calls from client.c and upstream.c up to the registry and the client side (proxy.c sets it). */
typedef struct {
    void (*reg)(pconn_t *pc, const char *sid, const char *sub, size_t sublen);
    void (*unreg)(pconn_t *pc);
    void (*arm)(pconn_t *pc);
    void (*touch)(pconn_t *pc, int from_client);
    void (*cut)(pconn_t *pc, cf_reason_t why);
    void (*refuse)(pconn_t *pc, cf_reason_t why);
    void (*close)(pconn_t *pc);
    void (*read_update)(pconn_t *pc);
    uv_write_cb on_write;
    int (*upstream_head)(pconn_t *pc, char **out, size_t *len);
    void (*process)(pconn_t *pc);
    void (*response_done)(pconn_t *pc);
    void (*ws_drained)(pconn_t *pc, int clean);
} px_ops_t;

struct cf_proxy {
    const px_ops_t *ops;
    cf_app_t *app;
    uv_loop_t *loop;
    cf_proxy_hooks_t hooks;
    uv_tcp_t *ls;
    int *ports;
    size_t nls, ls_open;
    uv_signal_t sigterm, sigint;
    int signals_open;
    px_up_t *ups;
    size_t nups;
    cf_map_t owners; /* sid -> px_owner_t */
    cf_map_t by_ip;  /* ip -> px_ipcount_t */
    pconn_t *conns;
    size_t nconns;
    size_t nupconns; /* upstream connections open */
    char rbuf[64 * 1024];
    /* What one upstream read sends its client, gathered (upstream.c): a
     * response's head, body and last chunk leave in one write, not three. */
    char out[PX_GATHER];
    size_t out_len;
    pconn_t *out_pc; /* the client being gathered for, or NULL */
    char *hbuf;      /* heads built for a peer (forward.c, upstream.c), reused */
    size_t hbuf_cap;
    time_t date_sec;
    char date[32];
    int stopping;
};

/* PC_DRAIN: a refused request's body is read and dropped, so the connection stays usable. */
enum { PC_HEAD, PC_DECIDE, PC_CONNECT, PC_FORWARD, PC_TUNNEL, PC_DRAIN };
enum { CAP_DECIDE, CAP_REFUSE, CAP_SSE };

struct pconn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle (no request) or the owner session's next deadline */
    px_lazy_t tz;     /* its deadline (proxy.c); zero while the finish grace runs */
    uv_shutdown_t shut;
    cf_proxy_t *px;
    pconn_t *prev, *next;   /* every connection */
    pconn_t *sprev, *snext; /* the owner session's connections */
    px_owner_t *owner;
    px_ipcount_t *ipc;
    char peer[46];
    http_parser parser;
    px_head_t head;
    char *in; /* client bytes not yet parsed */
    size_t in_len, in_cap;
    cf_http_req_t req; /* what /v1/check's handler is asked */
    char *checkpath; /* kept from request to request, as target and ident */
    size_t checkpath_cap, target_cap, ident_cap;
    char *target; /* normalized path [+ '?' query]: what the upstream gets */
    size_t target_len;
    const cf_proxy_route_t *route;
    px_up_t *up;
    uconn_t *u;
    char *ident; /* the X-Curfew-* header lines the decision gave */
    size_t ident_len;
    char *sub;   /* the owner session's subject (not-before cuts) */
    cf_time_t created_at, token_exp;
    int state, cap_mode;
    cf_reason_t cut_why;
    uint64_t body_bytes, bytes_up, bytes_down, opened;
    cf_time_t last_touch;
    int handles;
    uint64_t ws_left; /* bytes left in the upstream's current WebSocket frame */
    uint64_t ws_budget; /* while ws_draining: bytes the frame in flight may still take */
    uint8_t ws_hdr[14], ws_hlen;
    char sse_tail[2];
    unsigned closing : 1, deciding : 1, reading : 1, bp : 1, req_done : 1, resp_started : 1,
        chunk_out : 1, sse : 1, ws : 1, keep : 1, is_head : 1, upgrade : 1, chunked_in : 1,
        expect : 1, finishing : 1, registered : 1, processing : 1,
        ws_draining : 1; /* cut inside an upstream frame: finishing it, then the close frame */
};

struct uconn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect, then read timeout */
    px_lazy_t tz;
    uv_connect_t creq;
    cf_proxy_t *px;
    px_up_t *up;
    pconn_t *pc; /* NULL while pooled */
    uconn_t *next;
    http_parser parser;
    px_head_t head;
    int handles;
    unsigned closing : 1, connected : 1, reading : 1, bp : 1, got_head : 1, done : 1;
};

/* ---- proxy.c (px_write, px_date, px_maybe_free: io.c) ---------------------- */

/** Write @n bytes to @s: at once if the socket takes them, else an owned copy. 0 or <0. */
int px_write(uv_stream_t *s, const char *d, size_t n, uv_write_cb cb);

/** px_write of @nbufs buffers in one system call (writev) when the socket takes them. */
int px_writev(uv_stream_t *s, const uv_buf_t *bufs, unsigned nbufs, uv_write_cb cb);

/** Have @t call @cb @ms from now; a deadline later than the armed one is only recorded. */
void px_lazy_start(uv_timer_t *t, px_lazy_t *z, uv_timer_cb cb, uint64_t ms);

/** Nothing is due any more (a timer that still fires finds nothing: px_lazy_fired is 0). */
static inline void px_lazy_stop(px_lazy_t *z)
{
    z->due = 0;
}

/** First thing in @cb: 1 when the deadline has come (it is cleared), 0 when there is none or
 * it moved later (the timer is re-armed for it). */
int px_lazy_fired(uv_timer_t *t, px_lazy_t *z, uv_timer_cb cb);

/** Room for @n bytes in *@b (capacity *@cap), kept from one request to the next. 0 or CF_ENOMEM. */
int px_grow(char **b, size_t *cap, size_t n);

/** Room for @n bytes in the proxy's head buffer (px->hbuf). 0 or CF_ENOMEM. */
int px_hbuf_reserve(cf_proxy_t *px, size_t n);

/** The Date header value for now. */
const char *px_date(cf_proxy_t *px);

/** File @pc under session @sid (subject @sub, @sublen bytes), arm its deadline timer. */
void px_register(pconn_t *pc, const char *sid, const char *sub, size_t sublen);

/** Take @pc off its session's list. */
void px_unregister(pconn_t *pc);

/** Arm @pc's timer at its session's next deadline (registered) or the idle timeout. */
void px_arm(pconn_t *pc);

/** Record tunnel traffic as session activity per the route's activity setting. */
void px_touch(pconn_t *pc, int from_client);

/** End @pc for @why: a close frame, a final SSE event or a cut; one CONNECTION_CUT event. */
void px_cut(pconn_t *pc, cf_reason_t why);

/** The WebSocket frame in flight at a cut ended (@clean: send the close frame) or cannot end
 * within bounds (close without one). */
void px_ws_drained(pconn_t *pc, int clean);

/** Free @px once it is stopping and its last handle closed. */
void px_maybe_free(cf_proxy_t *px);

/* ---- client.c ----------------------------------------------------------- */

/** End an SSE answer with `event: curfew` carrying the refusal body for @why, then close. */
void px_client_sse_end(pconn_t *pc, cf_reason_t why);

/** Accept a client on listener @ls. */
void px_client_accept(cf_proxy_t *px, uv_stream_t *ls);

/** Close @pc and its upstream at once. */
void px_client_close(pconn_t *pc);

/** Send FIN after what is queued, then close; reset after PX_FINISH_GRACE_MS if it is not taken. */
void px_client_finish(pconn_t *pc);

/** Close @pc with a TCP reset: the client's unread bytes are dropped, it sees the end now. */
void px_client_reset(pconn_t *pc);

/** Answer @pc with a refusal for @why (the reason map's bytes) and close after it. */
void px_client_refuse(pconn_t *pc, cf_reason_t why);

/** Parse and act on buffered client bytes, as the state allows. */
void px_client_process(pconn_t *pc);

/** Start or stop reading the client as state and backpressure say. */
void px_client_read_update(pconn_t *pc);

/** The request head for the upstream (forward.c), in *out: the proxy's head buffer, valid until
 * the next head is built. 0 or CF_ENOMEM. */
int px_client_upstream_head(pconn_t *pc, char **out, size_t *len);

/** The identity the check allowed (@h, @nh) as header lines in pc->ident; the session id and
 * subject found among them (pointing into @h). CF_EINVAL for a value that could split a
 * header, CF_ENOMEM. (forward.c) */
int px_take_identity(pconn_t *pc, const cf_http_header_t *h, size_t nh, const char **sid,
                     size_t *sidlen, const char **sub, size_t *sublen);

/** The response to the current request is complete: next request, or close. */
void px_client_response_done(pconn_t *pc);

/** Client write callback (backpressure on the upstream's reads). */
void px_client_on_write(uv_write_t *w, int status);

/* ---- upstream.c --------------------------------------------------------- */

/** Connect (or take from the pool) an upstream for @pc's request and send its head. */
void px_upstream_start(pconn_t *pc);

/** Forward @n client body bytes (chunk-framed when the request is chunked). */
void px_upstream_body(pconn_t *pc, const char *d, size_t n, int last);

/** Forward @n raw tunnel bytes from the client. */
void px_upstream_raw(pconn_t *pc, const char *d, size_t n);

/** Forward @n raw tunnel bytes from the upstream to the client (WebSocket frames followed). */
void px_upstream_down_raw(pconn_t *pc, const char *d, size_t n);

/** Close @u (never pooled again). */
void px_upstream_close(uconn_t *u);

/** Start or stop reading @u as backpressure says. */
void px_upstream_read_update(uconn_t *u);

/* ---- heads (head.c) ------------------------------------------------------- */

/** 1 when @a (@n bytes) equals the string @b, ASCII case-insensitive. Inline: with a
 * literal @b the length is a constant, and most names differ in length. */
static inline int px_ieq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/** 1 when header @i of @h is named @name (ASCII case-insensitive). */
static inline int px_head_is(const px_head_t *h, size_t i, const char *name)
{
    return px_ieq(h->b + h->h[i].name_off, h->h[i].name_len, name);
}

int px_head_init(px_head_t *h, size_t max);
void px_head_reset(px_head_t *h);
void px_head_fini(px_head_t *h);
int px_head_url(px_head_t *h, const char *at, size_t n);
int px_head_field(px_head_t *h, const char *at, size_t n);
int px_head_value(px_head_t *h, const char *at, size_t n);
/** The first value of header @name (length in *@len) and how many there are (*@count); NULL if none. */
const char *px_head_get(const px_head_t *h, const char *name, size_t *len, size_t *count);
/** 1 when header @i is hop-by-hop (RFC 9110 §7.6.1), or named by a Connection header. */
int px_head_hop(const px_head_t *h, size_t i);
/** Check names and values (no whitespace before ':', no control bytes), trim values, count
 * Connection fields. NULL or the problem. */
const char *px_head_check(px_head_t *h);

#endif
