/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for request bodies and the request parts handlers read:
 * the input is one raw HTTP request, read by the server's own request reader
 * (cf__http_rx), and then handed to what the handlers parse it with:
 *  - the form bodies of /oauth/token, /oauth/revoke and /oauth/introspect:
 *    cf_form_get for every field they read, at the handlers' caps (RFC 6749:
 *    a field given twice is refused), and cf_form_decode on every pair;
 *  - HTTP Basic client credentials (base64, then form-decoding inside);
 *  - the refresh cookie; the Content-Type check;
 *  - the admin API's JSON bodies: cf_req_json_object (the one parser of
 *    /v1/sessions, /v1/revocations and /v1/apikeys bodies; duplicates refused,
 *    errors answered through the real reply path, captured here), then the
 *    value parsers its fields go through (durations, IP addresses, cnf).
 * Oracles: every answer is a 4xx with a JSON body naming a reason; a field
 * read twice reads the same; decoded text has no NUL and fits its cap.
 * The handlers' own field tables (api/admin.c create_parse and friends) need
 * a running cf_app_t and are exercised by the integration tests instead.
 *
 * Build: make fuzz-build; run: scripts/fuzz-run.sh body 600.
 * Seeds (tests/fuzz/corpus/body): token, revoke and session requests as the
 * integration tests and docs/api.md send them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/netaddr.h"
#include "http/rx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)         \
    do {                 \
        if (!(x))        \
            abort();     \
    } while (0)

/* The fields the OAuth endpoints read from a form, with their handlers' caps. */
static const struct {
    const char *key;
    size_t cap;
} form_fields[] = {
    {"grant_type", 64},      {"refresh_token", 8192}, {"token", 8192},
    {"token_type_hint", 64}, {"scope", 512},          {"client_id", 128},
    {"client_secret", 256},  {"access_token", 8192},  {"sub", 256},
    {"limit", 32},           {"cursor", 64},
};

static int answered, answer_status;

static void capture(cf_http_req_t *req, int status, const cf_http_header_t *headers,
                    size_t nheaders, const char *body, size_t body_len)
{
    json_t *doc;

    (void)req;
    (void)headers;
    (void)nheaders;
    answered++;
    answer_status = status;
    CHECK(status == 400 || status == 413 || status == 415);
    doc = json_loadb(body, body_len, 0, NULL);
    CHECK(json_is_object(doc));
    CHECK(json_is_string(json_object_get(doc, "reason")));
    json_decref(doc);
}

static void check_form(const char *s, size_t n)
{
    static char out[8192], again[8192];

    for (size_t i = 0; i < sizeof form_fields / sizeof form_fields[0]; i++) {
        int a = cf_form_get(s, n, form_fields[i].key, out, form_fields[i].cap);
        int b;

        CHECK(a >= -1 || a == CF_EPARSE || a == CF_ETOOBIG);
        if (a < 0)
            continue;
        CHECK((size_t)a < form_fields[i].cap && strlen(out) == (size_t)a);
        b = cf_form_get(s, n, form_fields[i].key, again, form_fields[i].cap);
        CHECK(b == a && memcmp(out, again, (size_t)a) == 0);
    }
    /* Every pair, as a handler that walks the whole form would see it. */
    for (size_t i = 0; i < n;) {
        size_t end = i;
        int r;

        while (end < n && s[end] != '&')
            end++;
        r = cf_form_decode(s + i, end - i, out, 256);
        CHECK(r == CF_EPARSE || r == CF_ETOOBIG || (r >= 0 && strlen(out) == (size_t)r));
        i = end + 1;
    }
}

static void check_value(const char *key, json_t *v)
{
    const char *s = json_string_value(v), *why = NULL;
    size_t n = json_string_length(v);
    cf_time_t t;
    cf_ip_t ip;
    cf_cnf_t cnf;

    if (s == NULL)
        return;
    if (strcmp(key, "ip") == 0 && cf_ip_parse(s, n, &ip) == 0) {
        char txt[46];
        cf_ip_t back;

        cf_ip_format(&ip, txt);
        CHECK(cf_ip_parse(txt, strlen(txt), &back) == 0); /* the stored form reads back */
    } else if (strcmp(key, "dpop_jkt") == 0) {
        if (cf_cnf_set(&cnf, CF_CNF_JKT, s, n) == 0)
            CHECK(strlen(cnf.v) == CF_CNF_LEN);
    } else if (cf_duration_parse(s, n, &t, &why) == 0) {
        CHECK(t >= 0);
    }
}

static void check_json(cf_http_req_t *req)
{
    json_t *doc, *v;
    const char *key;

    answered = 0;
    doc = cf_req_json_object(req);
    CHECK((doc == NULL) == (answered == 1));
    if (doc == NULL)
        return;
    CHECK(json_is_object(doc));
    json_object_foreach(doc, key, v) {
        size_t i;
        json_t *r;

        check_value(key, v);
        json_array_foreach(v, i, r)
            check_value(key, r);
    }
    json_decref(doc);
}

static void check_request(cf_http_req_t *req)
{
    char id[128], secret[256];
    size_t clen = 0;
    const char *cookie;
    int rc;

    req->cf__capture = capture;
    memcpy(req->peer_ip, "127.0.0.1", 10);
    rc = cf_req_basic_auth(req, id, sizeof id, secret, sizeof secret);
    CHECK(rc == 0 || rc == 1 || rc == CF_EPARSE || rc == CF_ETOOBIG);
    if (rc == 1)
        CHECK(strlen(id) < sizeof id && strlen(secret) < sizeof secret);
    cookie = cf_req_cookie(req, "curfew_refresh", &clen);
    if (cookie != NULL)
        CHECK(clen <= 8192);
    check_form(req->body, req->body_len);
    check_form(req->query, req->query_len);
    check_json(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cf__http_rx_t *rx = NULL;
    cf_http_req_t req;
    size_t off = 0;
    int rc = CF__HTTP_RX_AGAIN;

    CHECK(cf__http_rx_new(8192, 16384, &rx) == 0);
    while (off < size) {
        char *p;
        size_t n;

        cf__http_rx_space(rx, 1, &p, &n);
        if (n == 0)
            break;
        if (n > size - off)
            n = size - off;
        memcpy(p, data + off, n);
        cf__http_rx_commit(rx, n);
        off += n;
        for (;;) {
            rc = cf__http_rx_next(rx, &req);
            if (rc == CF__HTTP_RX_CONTINUE)
                continue;
            if (rc != CF__HTTP_RX_REQUEST)
                break;
            check_request(&req);
            cf__http_rx_done(rx);
        }
        if (rc == CF__HTTP_RX_ERROR)
            break;
    }
    cf__http_rx_free(rx);
    return 0;
}
