/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the HTTP request reader (cf__http_rx_*, the code the
 * server runs on every byte from a socket) and the response encoder. The
 * first two input bytes pick the limits and how the rest is sliced into
 * reads; the rest is the byte stream of one connection. Any stream must yield
 * requests, "need more" or one of the documented error statuses, never a
 * crash, leak or out-of-bounds access; every request field must be readable
 * and within the caps; and a response echoing the request's headers must
 * encode to something http-parser reads back as one well-formed response.
 *
 * Build: make fuzz-build; run: scripts/fuzz-run.sh http 600 (dictionary:
 * tests/fuzz/http.dict). Seeds (tests/fuzz/corpus/http): /v1/check as nginx
 * and Caddy forward it, DPoP, token and session requests, chunked bodies with
 * trailers, pipelined pairs, HTTP/1.0; the first two bytes of each pick the
 * caps and the slicing.
 */
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/rx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t header_caps[4] = {64, 512, 8192, 0};
static const size_t body_caps[4] = {0, 16, 16384, 0};
static const size_t slices[8] = {1, 2, 3, 7, 64, 1000, 4096, (size_t)-1};

#define CHECK(x)         \
    do {                 \
        if (!(x))        \
            abort();     \
    } while (0)

/* Touch every byte so ASan sees any pointer that left the buffer. */
static unsigned sum(const char *p, size_t n)
{
    unsigned s = 0;

    for (size_t i = 0; i < n; i++)
        s += (unsigned char)p[i];
    return s;
}

typedef struct {
    size_t nheaders;
    size_t body_len;
    int done;
} parsed_resp_t;

static int resp_on_header_field(http_parser *p, const char *at, size_t n)
{
    (void)at;
    (void)n;
    ((parsed_resp_t *)p->data)->nheaders++; /* names may arrive in pieces only when fed in pieces */
    return 0;
}

static int resp_on_body(http_parser *p, const char *at, size_t n)
{
    (void)at;
    ((parsed_resp_t *)p->data)->body_len += n;
    return 0;
}

static int resp_on_complete(http_parser *p)
{
    ((parsed_resp_t *)p->data)->done = 1;
    return 0;
}

static int is_reserved(const cf_http_header_t *h)
{
    static const char *const names[] = {"content-length", "transfer-encoding", "connection",
                                        "date", "server"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (h->name_len == strlen(names[i]) && strncasecmp(h->name, names[i], h->name_len) == 0)
            return 1;
    return 0;
}

/* Encode a response echoing @req's headers and body, then read it back. */
static void check_response(const cf_http_req_t *req)
{
    static const http_parser_settings settings = {
        .on_header_field = resp_on_header_field,
        .on_body = resp_on_body,
        .on_message_complete = resp_on_complete,
    };
    const char *date = "Thu, 01 Jan 1970 00:00:00 GMT";
    size_t need, again;
    char *out;
    http_parser p;
    parsed_resp_t r = {0, 0, 0};

    int reserved = 0;

    for (size_t i = 0; i < req->nheaders; i++)
        reserved |= is_reserved(&req->headers[i]);
    need = cf__http_encode_response(NULL, 0, 200, req->headers, req->nheaders, req->body,
                                    req->body_len, date, req->keep_alive, 0);
    /* Whatever http-parser accepted in a request is a valid response header,
     * except the framing ones the server writes itself, which must be refused. */
    CHECK((need == 0) == (reserved != 0));
    if (need == 0)
        return;
    out = malloc(need);
    CHECK(out != NULL);
    again = cf__http_encode_response(out, need, 200, req->headers, req->nheaders, req->body,
                                     req->body_len, date, req->keep_alive, 0);
    CHECK(again == need);

    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &r;
    CHECK(http_parser_execute(&p, &settings, out, need) == need);
    CHECK(HTTP_PARSER_ERRNO(&p) == HPE_OK);
    CHECK(r.done);
    CHECK(p.status_code == 200);
    /* Server, Date, Connection, Content-Length plus the echoed ones. */
    CHECK(r.nheaders == req->nheaders + 4);
    CHECK(r.body_len == req->body_len);
    free(out);
}

static void check_request(const cf_http_req_t *req, size_t max_header, size_t max_body)
{
    volatile unsigned s = 0;

    CHECK(req->method_name != NULL);
    CHECK(req->nheaders <= CF_HTTP_MAX_HEADERS);
    CHECK(req->body_len <= max_body);
    CHECK(req->path_len <= max_header && req->query_len <= max_header);
    CHECK(req->http_major == 1);
    s += sum(req->path, req->path_len);
    s += sum(req->query, req->query_len);
    s += sum(req->body, req->body_len);
    for (size_t i = 0; i < req->nheaders; i++) {
        const cf_http_header_t *h = &req->headers[i];
        char name[64];
        size_t vlen = 0;
        const char *v;

        CHECK(h->name_len > 0);
        s += sum(h->name, h->name_len);
        s += sum(h->value, h->value_len);
        if (h->name_len < sizeof name) {
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = '\0';
            v = cf_http_req_header(req, name, &vlen);
            CHECK(v != NULL);
            CHECK(cf_http_req_header_count(req, name) >= 1);
        }
    }
    (void)s;
    check_response(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cf__http_rx_t *rx = NULL;
    cf_http_req_t req;
    size_t max_header, max_body, slice, off = 0;
    int stop = 0;

    if (size < 2)
        return 0;
    max_header = header_caps[data[0] & 3];
    max_body = body_caps[(data[0] >> 2) & 3];
    slice = slices[data[1] & 7];
    data += 2;
    size -= 2;
    if (cf__http_rx_new(max_header, max_body, &rx) < 0)
        abort();
    if (max_header == 0)
        max_header = 8192;
    if (max_body == 0)
        max_body = 16384;

    while (!stop && off < size) {
        char *p;
        size_t n;

        cf__http_rx_space(rx, 1, &p, &n);
        if (n == 0)
            break; /* cannot happen without an outstanding request; stop rather than spin */
        if (n > slice)
            n = slice;
        if (n > size - off)
            n = size - off;
        memcpy(p, data + off, n);
        cf__http_rx_commit(rx, n);
        off += n;

        for (;;) {
            int rc = cf__http_rx_next(rx, &req);

            if (rc == CF__HTTP_RX_AGAIN)
                break;
            if (rc == CF__HTTP_RX_CONTINUE)
                continue;
            if (rc == CF__HTTP_RX_ERROR) {
                int status;
                const char *error, *desc;

                cf__http_rx_error(rx, &status, &error, &desc);
                CHECK(status == 400 || status == 411 || status == 413 || status == 431 ||
                      status == 505);
                CHECK(error != NULL && desc != NULL && desc[0] != '\0');
                CHECK(cf__http_rx_next(rx, &req) == CF__HTTP_RX_ERROR); /* sticky */
                stop = 1;
                break;
            }
            CHECK(rc == CF__HTTP_RX_REQUEST);
            check_request(&req, max_header, max_body);
            if (!req.keep_alive)
                stop = 1; /* the server closes here */
            cf__http_rx_done(rx);
            if (stop)
                break;
        }
    }
    cf__http_rx_free(rx);
    return 0;
}
