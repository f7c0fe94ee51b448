/* SPDX-License-Identifier: MIT
 *
 * The HTTP/1.1 server on libuv and http-parser. Two layers in one file:
 *
 *   - the request reader (cf__http_rx_*): bytes in, one complete request out,
 *     or an error status. No sockets, no clock, so the fuzzer drives it as is;
 *   - the connection machinery: accept, read, dispatch, respond in order,
 *     timers, graceful close, stop.
 *
 * It must never crash or allocate without bound on client input, never log a
 * header value or a body, and never parse a request while the one before it on
 * the same connection is unanswered (responses stay in order by construction).
 */
#include "http/server.h"

#include <errno.h>
#include <inttypes.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "util/log.h"

#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_IDLE_TIMEOUT (60 * CF_SEC)
#define DEFAULT_REQUEST_TIMEOUT (10 * CF_SEC)
#define DEFAULT_MAX_HEADER 8192
#define DEFAULT_MAX_BODY 16384
#define LIMIT_MAX ((size_t)1 << 28) /* keeps buffer offsets in uint32_t */
#define LISTEN_BACKLOG 1024

#define RX_INITIAL 4096 /* first input buffer; grows to the cap on demand */
#define RX_SLACK 4096   /* room beyond header+body caps: chunk framing, pipelined bytes */
#define RX_GROW_BELOW 512

#define OUT_INITIAL 2048
#define OUT_KEEP_MAX (64 * 1024)   /* a larger output buffer is released after use */
#define OUT_HIGH_WATER (256 * 1024) /* stop parsing while this much waits in the kernel queue */
#define LINGER_MS 5000              /* how long to drain a closing client before cutting it off */

/* ======================================================================
 * Request reader
 * ====================================================================== */

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
} span_hdr_t;

enum { CB_NONE, CB_FIELD, CB_VALUE };

/*
 * Why one contiguous buffer and offsets: http-parser is a streaming parser
 * that reports pieces of the URL, header names and values as pointers into
 * whatever it was fed. Feeding it consecutive slices of one buffer makes the
 * pieces of one item adjacent, so an item is just (offset, length) and the
 * request can point into the buffer without copying. Chunked bodies are
 * compacted in place: each body piece is moved down to follow the previous
 * one, over framing bytes already parsed, and the unparsed tail is moved down
 * after each parse step, so framing never eats into the caps. Offsets rather
 * than pointers survive the buffer growing; it never grows while a request
 * points into it.
 */
struct cf__http_rx {
    http_parser parser;
    char *buf;
    size_t len;     /* bytes held */
    size_t cap;     /* allocated */
    size_t cap_max; /* max_header + max_body + RX_SLACK */
    size_t parsed;  /* bytes consumed by the parser; the request starts at 0 */
    size_t max_header, max_body;

    /* the request being read */
    size_t url_off, url_len;
    span_hdr_t hdr[CF_HTTP_MAX_HEADERS];
    size_t nhdr;
    int last_cb;
    size_t hdr_end; /* offset of the first body byte */
    size_t body_len;
    unsigned begun : 1, headers_done : 1, checked : 1, msg_done : 1;

    /* sticky error */
    int err_status;
    const char *err_code;
    const char *err_desc;
    char err_buf[96];
};

static int rx_fail(cf__http_rx_t *rx, int status, const char *code, const char *desc)
{
    if (rx->err_status == 0) {
        rx->err_status = status;
        rx->err_code = code;
        rx->err_desc = desc;
    }
    return CF__HTTP_RX_ERROR;
}

static int rx_fail_limit(cf__http_rx_t *rx, int status, const char *what, size_t limit)
{
    snprintf(rx->err_buf, sizeof rx->err_buf, "%s exceeds %zu bytes", what, limit);
    return rx_fail(rx, status, "invalid_request", rx->err_buf);
}

static cf__http_rx_t *rx_of(http_parser *p)
{
    return p->data;
}

static int on_message_begin(http_parser *p)
{
    rx_of(p)->begun = 1;
    return 0;
}

/* Extend the item at (*off, *len) with a piece at @at; 0 if it was not adjacent. */
static int span_extend(size_t *off, size_t *len, size_t at, size_t n)
{
    if (*len == 0) {
        *off = at;
        *len = n;
        return 1;
    }
    if (*off + *len != at)
        return 0;
    *len += n;
    return 1;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    cf__http_rx_t *rx = rx_of(p);

    if (!span_extend(&rx->url_off, &rx->url_len, (size_t)(at - rx->buf), n)) {
        rx_fail(rx, 400, "invalid_request", "malformed request target");
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    cf__http_rx_t *rx = rx_of(p);
    size_t off = (size_t)(at - rx->buf);
    span_hdr_t *h;

    if (rx->headers_done) /* chunked trailer fields are discarded with the framing */
        return 0;
    if (rx->last_cb == CB_FIELD && rx->nhdr > 0) {
        h = &rx->hdr[rx->nhdr - 1];
        if (h->name_off + h->name_len == off) {
            h->name_len += (uint32_t)n;
            return 0;
        }
    }
    if (rx->nhdr == CF_HTTP_MAX_HEADERS) {
        snprintf(rx->err_buf, sizeof rx->err_buf, "more than %d header fields", CF_HTTP_MAX_HEADERS);
        rx_fail(rx, 431, "invalid_request", rx->err_buf);
        return -1;
    }
    h = &rx->hdr[rx->nhdr++];
    h->name_off = (uint32_t)off;
    h->name_len = (uint32_t)n;
    h->value_off = (uint32_t)off;
    h->value_len = 0;
    rx->last_cb = CB_FIELD;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    cf__http_rx_t *rx = rx_of(p);
    size_t off = (size_t)(at - rx->buf);
    span_hdr_t *h;
    size_t voff, vlen;

    if (rx->headers_done)
        return 0;
    if (rx->nhdr == 0) {
        rx_fail(rx, 400, "invalid_request", "header value without a name");
        return -1;
    }
    h = &rx->hdr[rx->nhdr - 1];
    if (rx->last_cb == CB_FIELD) {
        h->value_off = (uint32_t)off;
        h->value_len = (uint32_t)n;
    } else {
        voff = h->value_off;
        vlen = h->value_len;
        if (!span_extend(&voff, &vlen, off, n)) {
            /* RFC 7230 3.2.4: a server may reject obs-fold with 400. */
            rx_fail(rx, 400, "invalid_request", "obsolete header line folding is not supported");
            return -1;
        }
        h->value_off = (uint32_t)voff;
        h->value_len = (uint32_t)vlen;
    }
    rx->last_cb = CB_VALUE;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    cf__http_rx_t *rx = rx_of(p);

    rx->headers_done = 1;
    /* No protocol upgrades: Upgrade and CONNECT are served as plain requests. */
    p->upgrade = 0;
    /* Stop here so that rx_after_headers() checks the limits before any body byte. */
    http_parser_pause(p, 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    cf__http_rx_t *rx = rx_of(p);
    char *dst;

    if (n > rx->max_body - rx->body_len) {
        rx_fail_limit(rx, 413, "request body", rx->max_body);
        return -1;
    }
    dst = rx->buf + rx->hdr_end + rx->body_len;
    if (dst != at)
        memmove(dst, at, n); /* de-chunk in place: dst < at, over parsed framing */
    rx->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    rx_of(p)->msg_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings rx_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static int lower(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

static int ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static void rx_reset_request(cf__http_rx_t *rx)
{
    rx->url_off = rx->url_len = 0;
    rx->nhdr = 0;
    rx->last_cb = CB_NONE;
    rx->hdr_end = rx->body_len = 0;
    rx->begun = rx->headers_done = rx->checked = rx->msg_done = 0;
}

static int rx_init(cf__http_rx_t *rx, size_t max_header, size_t max_body)
{
    memset(rx, 0, sizeof *rx);
    rx->max_header = max_header ? max_header : DEFAULT_MAX_HEADER;
    rx->max_body = max_body ? max_body : DEFAULT_MAX_BODY;
    if (rx->max_header > LIMIT_MAX || rx->max_body > LIMIT_MAX)
        return CF_EINVAL;
    rx->cap_max = rx->max_header + rx->max_body + RX_SLACK;
    rx->cap = rx->cap_max < RX_INITIAL ? rx->cap_max : RX_INITIAL;
    rx->buf = malloc(rx->cap);
    if (rx->buf == NULL)
        return CF_ENOMEM;
    http_parser_init(&rx->parser, HTTP_REQUEST);
    rx->parser.data = rx;
    rx_reset_request(rx);
    return 0;
}

static void rx_fini(cf__http_rx_t *rx)
{
    free(rx->buf);
    rx->buf = NULL;
}

int cf__http_rx_new(size_t max_header_bytes, size_t max_body_bytes, cf__http_rx_t **out)
{
    cf__http_rx_t *rx = malloc(sizeof *rx);
    int rc;

    *out = NULL;
    if (rx == NULL)
        return CF_ENOMEM;
    rc = rx_init(rx, max_header_bytes, max_body_bytes);
    if (rc < 0) {
        free(rx);
        return rc;
    }
    *out = rx;
    return 0;
}

void cf__http_rx_free(cf__http_rx_t *rx)
{
    if (rx == NULL)
        return;
    rx_fini(rx);
    free(rx);
}

void cf__http_rx_space(cf__http_rx_t *rx, int may_grow, char **p, size_t *n)
{
    if (may_grow && rx->cap - rx->len < RX_GROW_BELOW && rx->cap < rx->cap_max) {
        size_t ncap = rx->cap * 2 < rx->cap_max ? rx->cap * 2 : rx->cap_max;
        char *nbuf = realloc(rx->buf, ncap);

        if (nbuf != NULL) { /* on failure keep reading into what is left */
            rx->buf = nbuf;
            rx->cap = ncap;
        }
    }
    *p = rx->buf + rx->len;
    *n = rx->cap - rx->len;
}

void cf__http_rx_commit(cf__http_rx_t *rx, size_t n)
{
    rx->len += n;
}

size_t cf__http_rx_pending_bytes(const cf__http_rx_t *rx)
{
    return rx->len;
}

void cf__http_rx_error(const cf__http_rx_t *rx, int *status, const char **error, const char **desc)
{
    *status = rx->err_status ? rx->err_status : 400;
    *error = rx->err_code ? rx->err_code : "invalid_request";
    *desc = rx->err_desc ? rx->err_desc : "malformed HTTP request";
}

static int rx_fail_parser(cf__http_rx_t *rx, enum http_errno e)
{
    const char *d;

    switch (e) {
    case HPE_HEADER_OVERFLOW:
        return rx_fail_limit(rx, 431, "request header block", rx->max_header);
    case HPE_INVALID_METHOD:
        d = "unknown or malformed HTTP method";
        break;
    case HPE_INVALID_URL:
        d = "malformed request target";
        break;
    case HPE_INVALID_VERSION:
        d = "malformed HTTP version";
        break;
    case HPE_INVALID_HEADER_TOKEN:
        d = "invalid character in a header field";
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        d = "invalid Content-Length";
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        d = "conflicting Content-Length and Transfer-Encoding";
        break;
    case HPE_INVALID_CHUNK_SIZE:
        d = "invalid chunk size";
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        d = "unsupported Transfer-Encoding";
        break;
    case HPE_CLOSED_CONNECTION:
        d = "data after a request that closes the connection";
        break;
    default:
        d = http_errno_description(e); /* static text from http-parser */
        break;
    }
    return rx_fail(rx, 400, "invalid_request", d);
}

/* Checks that need the whole header block, done before any body byte is read. */
static int rx_after_headers(cf__http_rx_t *rx)
{
    http_parser *p = &rx->parser;
    int has_len = (p->flags & F_CONTENTLENGTH) != 0;
    int chunked = (p->flags & F_CHUNKED) != 0;

    rx->checked = 1;
    /* Paused on the final LF, which the parser consumes when resumed. */
    rx->hdr_end = rx->parsed;
    if (rx->hdr_end < rx->len && rx->buf[rx->hdr_end] == '\n')
        rx->hdr_end++;
    if (rx->hdr_end > rx->max_header)
        return rx_fail_limit(rx, 431, "request header block", rx->max_header);
    if (p->http_major != 1)
        return rx_fail(rx, 505, "invalid_request", "only HTTP/1.0 and HTTP/1.1 are supported");

    for (size_t i = 0; i < rx->nhdr; i++) {
        span_hdr_t *h = &rx->hdr[i];

        /* RFC 7230 3.2.4: whitespace before the colon must be refused (smuggling);
         * http-parser 2.9 in non-strict mode lets it into the name. */
        for (size_t j = 0; j < h->name_len; j++) {
            char ch = rx->buf[h->name_off + j];
            if (ch == ' ' || ch == '\t')
                return rx_fail(rx, 400, "invalid_request",
                               "whitespace between a header field name and its colon");
        }
        /* field-value is VCHAR / obs-text / SP / HTAB; http-parser lets some CTLs through */
        for (size_t j = 0; j < h->value_len; j++) {
            unsigned char ch = (unsigned char)rx->buf[h->value_off + j];
            if ((ch < ' ' && ch != '\t') || ch == 127)
                return rx_fail(rx, 400, "invalid_request", "control character in a header value");
        }
        /* trailing OWS of the value; http-parser drops the leading */
        while (h->value_len > 0) {
            char ch = rx->buf[h->value_off + h->value_len - 1];
            if (ch != ' ' && ch != '\t')
                break;
            h->value_len--;
        }
    }

    if (!has_len && !chunked &&
        (p->method == HTTP_POST || p->method == HTTP_PUT || p->method == HTTP_PATCH))
        return rx_fail(rx, 411, "invalid_request",
                       "a request body needs Content-Length or chunked Transfer-Encoding");
    if (has_len && p->content_length > rx->max_body)
        return rx_fail_limit(rx, 413, "request body", rx->max_body);

    if ((chunked || (has_len && p->content_length > 0)) && p->http_minor >= 1 &&
        rx->hdr_end >= rx->len) {
        for (size_t i = 0; i < rx->nhdr; i++) {
            const span_hdr_t *h = &rx->hdr[i];

            if (ieq(rx->buf + h->name_off, h->name_len, "expect", 6) &&
                ieq(rx->buf + h->value_off, h->value_len, "100-continue", 12))
                return CF__HTTP_RX_CONTINUE;
        }
    }
    return 0;
}

static void rx_fill(cf__http_rx_t *rx, cf_http_req_t *req)
{
    http_parser *p = &rx->parser;
    const char *url = rx->buf + rx->url_off;
    size_t ulen = rx->url_len;

    req->method = (int)p->method;
    req->method_name = http_method_str((enum http_method)p->method);
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    req->keep_alive = http_should_keep_alive(p) != 0;

    req->query = url + ulen;
    req->query_len = 0;
    if (ulen > 0 && url[0] != '/' && !(ulen == 1 && url[0] == '*')) {
        /* absolute-form (or authority-form for CONNECT): take its path part */
        struct http_parser_url u;

        http_parser_url_init(&u);
        if (http_parser_parse_url(url, ulen, p->method == HTTP_CONNECT, &u) == 0) {
            if (u.field_set & (1 << UF_QUERY)) {
                req->query = url + u.field_data[UF_QUERY].off;
                req->query_len = u.field_data[UF_QUERY].len;
            }
            if (u.field_set & (1 << UF_PATH)) {
                req->path = url + u.field_data[UF_PATH].off;
                req->path_len = u.field_data[UF_PATH].len;
            } else if (p->method != HTTP_CONNECT) {
                req->path = "/";
                req->path_len = 1;
            } else {
                req->path = url;
                req->path_len = ulen;
            }
            goto headers;
        }
    }
    {
        const char *hash = memchr(url, '#', ulen);
        const char *q;

        if (hash != NULL)
            ulen = (size_t)(hash - url);
        q = memchr(url, '?', ulen);
        req->path = url;
        if (q != NULL) {
            req->path_len = (size_t)(q - url);
            req->query = q + 1;
            req->query_len = ulen - req->path_len - 1;
        } else {
            req->path_len = ulen;
        }
    }

headers:
    req->nheaders = rx->nhdr;
    for (size_t i = 0; i < rx->nhdr; i++) {
        req->headers[i].name = rx->buf + rx->hdr[i].name_off;
        req->headers[i].name_len = rx->hdr[i].name_len;
        req->headers[i].value = rx->buf + rx->hdr[i].value_off;
        req->headers[i].value_len = rx->hdr[i].value_len;
    }
    req->body = rx->buf + rx->hdr_end;
    req->body_len = rx->body_len;
}

int cf__http_rx_next(cf__http_rx_t *rx, cf_http_req_t *req)
{
    for (;;) {
        size_t avail, n, got;
        enum http_errno e;

        if (rx->err_status != 0)
            return CF__HTTP_RX_ERROR;
        if (rx->msg_done) {
            rx_fill(rx, req);
            return CF__HTTP_RX_REQUEST;
        }
        if (rx->headers_done && !rx->checked) {
            int rc = rx_after_headers(rx);
            if (rc != 0)
                return rc;
            continue;
        }
        avail = rx->len - rx->parsed;
        if (avail == 0) {
            if (!rx->begun) /* only CRLFs between requests so far: forget them */
                rx->len = rx->parsed = 0;
            return CF__HTTP_RX_AGAIN;
        }
        n = avail;
        if (!rx->headers_done) {
            /* +2: room for the final CRLF, so exactly max_header bytes pass */
            size_t room = rx->max_header + 2 > rx->parsed ? rx->max_header + 2 - rx->parsed : 0;
            if (room == 0)
                return rx_fail_limit(rx, 431, "request header block", rx->max_header);
            if (n > room)
                n = room;
        }
        got = http_parser_execute(&rx->parser, &rx_settings, rx->buf + rx->parsed, n);
        rx->parsed += got;
        if (rx->err_status != 0)
            return CF__HTTP_RX_ERROR;
        e = HTTP_PARSER_ERRNO(&rx->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&rx->parser, 0);
            continue;
        }
        if (e != HPE_OK)
            return rx_fail_parser(rx, e);
        if (got != n)
            return rx_fail(rx, 400, "invalid_request", "malformed HTTP request");
        if (rx->checked) {
            size_t keep = rx->hdr_end + rx->body_len;
            if (rx->parsed > keep) { /* drop parsed chunk framing */
                memmove(rx->buf + keep, rx->buf + rx->parsed, rx->len - rx->parsed);
                rx->len -= rx->parsed - keep;
                rx->parsed = keep;
            }
        }
    }
}

void cf__http_rx_done(cf__http_rx_t *rx)
{
    size_t rest = rx->len - rx->parsed;

    if (rest > 0)
        memmove(rx->buf, rx->buf + rx->parsed, rest);
    rx->len = rest;
    rx->parsed = 0;
    rx_reset_request(rx);
}

/* ======================================================================
 * Responses
 * ====================================================================== */

const char *cf_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Headers the server writes itself; a second copy from a handler would corrupt framing. */
static int header_reserved(const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t len;
    } reserved[] = {{"content-length", 14}, {"transfer-encoding", 17}, {"connection", 10},
                    {"date", 4}, {"server", 6}};

    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (ieq(name, len, reserved[i].name, reserved[i].len))
            return 1;
    return 0;
}

static int header_ok(const cf_http_header_t *h)
{
    if (h->name == NULL || h->name_len == 0 || (h->value == NULL && h->value_len > 0))
        return 0;
    if (header_reserved(h->name, h->name_len))
        return 0;
    for (size_t i = 0; i < h->name_len; i++) {
        unsigned char ch = (unsigned char)h->name[i];
        if (ch <= ' ' || ch == ':' || ch >= 127)
            return 0;
    }
    for (size_t i = 0; i < h->value_len; i++) {
        unsigned char ch = (unsigned char)h->value[i];
        if ((ch < ' ' && ch != '\t') || ch == 127) /* CR, LF, NUL and other CTLs */
            return 0;
    }
    return 1;
}

/* Cursor that counts everything but copies only what fits. */
typedef struct {
    char *p;
    size_t n, cap;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->n + n <= o->cap && n > 0)
        memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void put_str(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(out_t *o, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(o, tmp + i, sizeof tmp - i);
}

size_t cf__http_encode_response(char *dst, size_t cap, int status, const cf_http_header_t *headers,
                                size_t nheaders, const char *body, size_t body_len, const char *date,
                                int keep_alive, int head_only)
{
    out_t o = {dst, 0, cap};
    int no_body = (status >= 100 && status < 200) || status == 204 || status == 304;

    for (size_t i = 0; i < nheaders; i++)
        if (!header_ok(&headers[i]))
            return 0;
    if (status < 100 || status > 999)
        return 0;
    put(&o, "HTTP/1.1 ", 9);
    put_u64(&o, (uint64_t)status);
    put(&o, " ", 1);
    put_str(&o, cf_http_status_text(status));
    put(&o, "\r\nServer: curfew\r\nDate: ", 24);
    put_str(&o, date);
    if (keep_alive)
        put(&o, "\r\nConnection: keep-alive\r\n", 26);
    else
        put(&o, "\r\nConnection: close\r\n", 21);
    if (!no_body) {
        put(&o, "Content-Length: ", 16);
        put_u64(&o, body_len);
        put(&o, "\r\n", 2);
    }
    for (size_t i = 0; i < nheaders; i++) {
        put(&o, headers[i].name, headers[i].name_len);
        put(&o, ": ", 2);
        put(&o, headers[i].value, headers[i].value_len);
        put(&o, "\r\n", 2);
    }
    put(&o, "\r\n", 2);
    if (!no_body && !head_only)
        put(&o, body, body_len);
    return o.n;
}

/* {"error":"<code>","error_description":"<desc>"} with desc escaped; returns length. */
static size_t json_error(char *dst, size_t cap, const char *code, const char *desc)
{
    out_t o = {dst, 0, cap};

    put_str(&o, "{\"error\":\"");
    put_str(&o, code);
    put_str(&o, "\",\"error_description\":\"");
    for (const char *s = desc; *s != '\0' && o.n + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            put(&o, "\\", 1);
            put(&o, s, 1);
        } else if (ch >= 0x20) {
            put(&o, s, 1);
        }
    }
    put_str(&o, "\"}");
    return o.n <= cap ? o.n : 0;
}

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
};

typedef struct {
    uv_write_t req;
    conn_t *c;
    char data[];
} wreq_t;

struct cf_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    cf_http_config_t cfg;
    char *host;
    int port;
    conn_t *conns;
    cf_http_stats_t stats;
    time_t date_sec;
    char date[32];
    unsigned stopping : 1, listener_closed : 1;
};

static void conn_process(conn_t *c);

static void server_maybe_free(cf_http_server_t *s)
{
    if (s->stopping && s->listener_closed && s->conns == NULL) {
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
    rx_fini(&c->rx);
    free(c->out);
    free(c); /* the only place a conn_t is freed */
    server_maybe_free(s);
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

static const char *server_date(cf_http_server_t *s)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (now == s->date_sec && s->date[0] != '\0')
        return s->date;
    if (gmtime_r(&now, &tm) == NULL)
        return s->date;
    snprintf(s->date, sizeof s->date, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    s->date_sec = now;
    return s->date;
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
    const char *date = server_date(c->srv);
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

static const cf_http_header_t json_type = {"Content-Type", 12, "application/json", 16};

/* A response generated by the server itself; the connection closes after it. */
static void conn_error(conn_t *c, int status, const char *code, const char *desc)
{
    char body[256];
    size_t n = json_error(body, sizeof body, code, desc);

    c->srv->stats.client_errors++;
    c->close_after = 1;
    CF_LOG(CF_LOG_DEBUG, "event=http_error status=%d error=%s peer=%s", status, code, c->req.peer_ip);
    if (conn_append(c, status, &json_type, 1, body, n, 0, 0) < 0)
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

/* Hand buffered output to the kernel: try_write first, then an owned copy. */
static void conn_flush(conn_t *c)
{
    uv_buf_t b;
    size_t done = 0, rest;
    wreq_t *wr;
    int n;

    if (c->closing || c->out_len == 0)
        return;
    b = uv_buf_init(c->out, (unsigned)c->out_len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n >= 0) {
        done = (size_t)n;
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
        CF_LOG(CF_LOG_DEBUG, "event=http_write_error err=%s peer=%s", uv_err_name(n), c->req.peer_ip);
        conn_close(c);
        return;
    }
    rest = c->out_len - done;
    if (rest > 0) {
        wr = malloc(sizeof *wr + rest);
        if (wr == NULL) {
            CF_LOG(CF_LOG_ERROR, "event=http_oom what=write bytes=%zu", rest);
            conn_close(c);
            return;
        }
        wr->c = c;
        memcpy(wr->data, c->out + done, rest);
        b = uv_buf_init(wr->data, (unsigned)rest);
        n = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (n < 0) {
            free(wr);
            conn_close(c);
            return;
        }
    }
    c->out_len = 0;
    if (c->out_cap > OUT_KEEP_MAX) { /* one big response should not pin memory */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
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
    if (cf__http_rx_pending_bytes(&c->rx) > 0) {
        /* Part of a request is here: the whole of it must arrive in time (slowloris). */
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
    int keep, rc;

    if (c == NULL || !c->pending || &c->req != req) {
        CF_LOG(CF_LOG_ERROR, "event=http_respond_misuse status=%d", status);
        return;
    }
    c->pending = 0;
    req->cf__conn = NULL;
    if (c->closing) { /* the client went away meanwhile */
        if (c->handles_open == 0)
            conn_free(c);
        return;
    }
    keep = req->keep_alive && !c->srv->stopping;
    if (status < 200 || status > 599) {
        CF_LOG(CF_LOG_ERROR, "event=http_bad_status status=%d", status);
        rc = CF_EINVAL;
    } else {
        rc = conn_append(c, status, headers, nheaders, body, body_len, keep,
                         req->method == HTTP_HEAD);
    }
    if (rc == CF_EINVAL) {
        char jb[160];
        size_t n = json_error(jb, sizeof jb, "server_error", "the response could not be encoded");

        CF_LOG(CF_LOG_ERROR, "event=http_bad_response status=%d nheaders=%zu", status, nheaders);
        keep = 0;
        rc = conn_append(c, 500, &json_type, 1, jb, n, 0, req->method == HTTP_HEAD);
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

static void on_reject_close(uv_handle_t *h)
{
    free(h);
}

/* Over max_connections: accept, say 503 if the socket takes it, close. */
static void server_reject(cf_http_server_t *s)
{
    uv_tcp_t *t = malloc(sizeof *t);
    char body[160], resp[512];
    size_t bn, rn;
    uv_buf_t b;

    s->stats.accepted++;
    s->stats.rejected++;
    if (t == NULL || uv_tcp_init(s->loop, t) < 0) {
        free(t);
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=reject");
        return;
    }
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t) == 0) {
        bn = json_error(body, sizeof body, "temporarily_unavailable", "too many open connections");
        rn = cf__http_encode_response(resp, sizeof resp, 503, &json_type, 1, body, bn, server_date(s),
                                      0, 0);
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
    conn_t *c;
    int rc;

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
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=connection");
        server_reject(s);
        return;
    }
    if (rx_init(&c->rx, s->cfg.max_header_bytes, s->cfg.max_body_bytes) < 0) {
        free(c);
        CF_LOG(CF_LOG_ERROR, "event=http_oom what=connection");
        server_reject(s);
        return;
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

    rc = uv_accept(ls, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        CF_LOG(CF_LOG_WARN, "event=http_accept_error err=%s", uv_err_name(rc));
        conn_close(c);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1); /* an optimisation; serving works without it */
    peer_name(&c->tcp, c->req.peer_ip);
    conn_settle(c); /* starts reading and the idle timer */
}

/* ======================================================================
 * Server
 * ====================================================================== */

static void on_listener_close(uv_handle_t *h)
{
    cf_http_server_t *s = h->data;

    s->listener_closed = 1;
    server_maybe_free(s);
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
        free(s->host);
        free(s);
        return CF_EIO;
    }
    rc = uv_tcp_init(loop, &s->listener);
    if (rc < 0) {
        free(s->host);
        free(s);
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

void cf_http_server_stats(const cf_http_server_t *s, cf_http_stats_t *out)
{
    *out = s->stats;
}

void cf_http_server_stop(cf_http_server_t *s)
{
    conn_t *c, *next;

    if (s == NULL || s->stopping)
        return;
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}

/* ======================================================================
 * Request accessors
 * ====================================================================== */

const char *cf_http_req_header(const cf_http_req_t *req, const char *name, size_t *len)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < req->nheaders; i++) {
        const cf_http_header_t *h = &req->headers[i];

        if (ieq(h->name, h->name_len, name, n)) {
            if (len != NULL)
                *len = h->value_len;
            return h->value;
        }
    }
    if (len != NULL)
        *len = 0;
    return NULL;
}

size_t cf_http_req_header_count(const cf_http_req_t *req, const char *name)
{
    size_t n = strlen(name), count = 0;

    for (size_t i = 0; i < req->nheaders; i++)
        if (ieq(req->headers[i].name, req->headers[i].name_len, name, n))
            count++;
    return count;
}
