/* SPDX-License-Identifier: MIT
 *
 * The socket-free half of the HTTP/1.1 server: the request reader
 * (cf__http_rx_*), bytes in, one complete request out, or an error status;
 * the response encoder (cf__http_encode_response) with its status texts and
 * header checks; and the request accessors handlers use. It decides what
 * counts as one well-formed request within the caps and what bytes a response
 * is. No sockets, no clock, no log, so the fuzzer drives it as is.
 *
 * It must never crash or allocate without bound on client input, never log or
 * keep a header value or a body past the request, and never accept a response
 * header that could break framing (CR, LF, or one the server writes itself).
 */
#include "http/rx.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define RX_INITIAL 4096 /* first input buffer; grows to the cap on demand */
#define RX_SLACK 4096   /* room beyond header+body caps: chunk framing, pipelined bytes */
#define RX_GROW_BELOW 512

/* ======================================================================
 * Request reader
 * ====================================================================== */


enum { CB_NONE, CB_FIELD, CB_VALUE };

/*
 * What the server itself answers, by status. The reasons are the wire names
 * of core/reason.h's rows of the same name (kept apart so that http/ does not
 * depend on the API's reason map; tests/integration/test_errors.py checks
 * they agree with docs/api.md). Statuses not listed are answered as a 400.
 */
typedef struct {
    int status;
    const char *error, *reason;
} http_error_t;

static const http_error_t http_errors[] = {
    {400, "invalid_request", "invalid_request"},
    {408, "request_timeout", "request_timeout"},
    {411, "length_required", "length_required"},
    {413, "payload_too_large", "payload_too_large"},
    {431, "request_header_fields_too_large", "headers_too_large"},
    {500, "server_error", "server_error"},
    {503, "temporarily_unavailable", "too_many_connections"},
    {505, "http_version_not_supported", "http_version_not_supported"},
};

static const http_error_t *http_error_of(int status)
{
    for (size_t i = 0; i < sizeof http_errors / sizeof http_errors[0]; i++)
        if (http_errors[i].status == status)
            return &http_errors[i];
    return &http_errors[0];
}


static int rx_fail(cf__http_rx_t *rx, int status, const char *desc)
{
    if (rx->err_status == 0) {
        rx->err_status = status;
        rx->err_desc = desc;
    }
    return CF__HTTP_RX_ERROR;
}

static int rx_fail_limit(cf__http_rx_t *rx, int status, const char *what, size_t limit)
{
    snprintf(rx->err_buf, sizeof rx->err_buf, "%s exceeds %zu bytes", what, limit);
    return rx_fail(rx, status, rx->err_buf);
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
        rx_fail(rx, 400, "malformed request target");
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
        rx_fail(rx, 431, rx->err_buf);
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
        rx_fail(rx, 400, "header value without a name");
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
            rx_fail(rx, 400, "obsolete header line folding is not supported");
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

int cf__http_rx_init(cf__http_rx_t *rx, size_t max_header, size_t max_body)
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

void cf__http_rx_fini(cf__http_rx_t *rx)
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
    rc = cf__http_rx_init(rx, max_header_bytes, max_body_bytes);
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
    cf__http_rx_fini(rx);
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
    *error = http_error_of(*status)->error;
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
    return rx_fail(rx, 400, d);
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
        return rx_fail(rx, 505, "only HTTP/1.0 and HTTP/1.1 are supported");

    for (size_t i = 0; i < rx->nhdr; i++) {
        span_hdr_t *h = &rx->hdr[i];

        /* RFC 7230 3.2.4: whitespace before the colon must be refused (smuggling);
         * http-parser 2.9 in non-strict mode lets it into the name. */
        for (size_t j = 0; j < h->name_len; j++) {
            char ch = rx->buf[h->name_off + j];
            if (ch == ' ' || ch == '\t')
                return rx_fail(rx, 400, "whitespace between a header field name and its colon");
        }
        /* field-value is VCHAR / obs-text / SP / HTAB; http-parser lets some CTLs through */
        for (size_t j = 0; j < h->value_len; j++) {
            unsigned char ch = (unsigned char)rx->buf[h->value_off + j];
            if ((ch < ' ' && ch != '\t') || ch == 127)
                return rx_fail(rx, 400, "control character in a header value");
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
        return rx_fail(rx, 411, "a request body needs Content-Length or chunked Transfer-Encoding");
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
            return rx_fail(rx, 400, "malformed HTTP request");
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

const cf_http_header_t cf__http_json_type = {"Content-Type", 12, "application/json", 16};

size_t cf__http_error_headers(cf_http_header_t h[2], int status)
{
    const char *reason = http_error_of(status)->reason;

    h[0] = cf__http_json_type;
    h[1] = (cf_http_header_t){"X-Curfew-Reason", 15, reason, strlen(reason)};
    return 2;
}

/* {"error":"<error>","error_description":"<desc>","reason":"<reason>"}, desc escaped; returns length. */
size_t cf__http_json_error(char *dst, size_t cap, int status, const char *desc)
{
    const http_error_t *e = http_error_of(status);
    out_t o = {dst, 0, cap};

    put_str(&o, "{\"error\":\"");
    put_str(&o, e->error);
    put_str(&o, "\",\"error_description\":\"");
    for (const char *s = desc; *s != '\0' && o.n + 8 + 64 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            put(&o, "\\", 1);
            put(&o, s, 1);
        } else if (ch >= 0x20) {
            put(&o, s, 1);
        }
    }
    put_str(&o, "\",\"reason\":\"");
    put_str(&o, e->reason);
    put_str(&o, "\"}");
    return o.n <= cap ? o.n : 0;
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
