/* SPDX-License-Identifier: MIT
 *
 * Replies and body parsing shared by the handlers. Every error a client sees
 * goes through cf_reply_refusal (built from the reason map), so the body always has the same shape:
 * {"error", "error_description", "reason"}.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "core/digest.h"
#include "core/error.h"

static const cf_http_header_t json_content_type = {"Content-Type", 12, "application/json", 16};

void cf_reply_json(cf_http_req_t *req, int status, json_t *body, const cf_http_header_t *extra,
                   size_t nextra)
{
    cf_http_header_t hdrs[9];
    size_t n = 0;
    char *text = NULL, reason[48];
    size_t len = 0;
    const char *r;

    if (body != NULL) {
        /* A refusal names its reason in a header too: a proxy in front
         * (nginx auth_request) sees headers only, never the body. */
        r = status >= 400 ? json_string_value(json_object_get(body, "reason")) : NULL;
        if (r != NULL && strlen(r) < sizeof reason) {
            strcpy(reason, r);
            hdrs[n++] = (cf_http_header_t){"X-Curfew-Reason", 15, reason, strlen(reason)};
        }
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            /* Out of memory while serialising: say so rather than send half a body. */
            static const char oom[] = "{\"error\":\"server_error\",\"error_description\":"
                                      "\"out of memory\",\"reason\":\"server_error\"}";
            hdrs[0] = json_content_type;
            cf_http_respond(req, 500, hdrs, 1, oom, sizeof oom - 1);
            return;
        }
        len = strlen(text);
        hdrs[n++] = json_content_type;
    }
    for (size_t i = 0; i < nextra && n < sizeof hdrs / sizeof hdrs[0]; i++)
        hdrs[n++] = extra[i];
    cf_http_respond(req, status, hdrs, n, text, len);
    free(text);
}

void cf_reply_json_text(cf_http_req_t *req, int status, const char *text, size_t len,
                        const cf_http_header_t *extra, size_t nextra)
{
    cf_http_header_t hdrs[8];
    size_t n = 0;

    hdrs[n++] = json_content_type;
    for (size_t i = 0; i < nextra && n < sizeof hdrs / sizeof hdrs[0]; i++)
        hdrs[n++] = extra[i];
    cf_http_respond(req, status, hdrs, n, text, len);
}

/*
 * The one place a reason becomes an answer. The map in core/reason.h says the
 * status and `error` per kind of endpoint; this adds the body and the
 * challenge. The challenge's error_description is always the reason's own
 * (static, quote-free text that docs/api.md prints), so a client or a proxy
 * that only sees the header learns the same as one that reads the body.
 */
void cf_refusal_make(cf_refusal_t *r, cf_endpoint_t kind, cf_reason_t why, const char *desc,
                     int64_t step_up)
{
    const char *fixed, *error;
    int n = 0;

    if ((unsigned)why >= CF_REASON__COUNT || why == CF_REASON_NONE)
        why = CF_REASON_SERVER_ERROR;
    error = cf_reason_error(why, kind);
    r->status = cf_reason_status(why, kind);
    if (step_up >= 0) {
        /* RFC 9470 §3: whatever the reason, the client is asked to authenticate again. */
        error = cf_reason_error(CF_REASON_STEP_UP_REQUIRED, kind);
        r->status = cf_reason_status(CF_REASON_STEP_UP_REQUIRED, kind);
    }
    r->no_store = kind == CF_ENDPOINT_TOKEN;
    r->challenge_len = 0;
    r->body = json_pack("{s:s, s:s, s:s}", "error", error, "error_description",
                        desc != NULL ? desc : cf_reason_describe(why), "reason", cf_reason_name(why));
    if (r->body == NULL && desc != NULL) {
        /* @desc quoted bytes of the request that are not UTF-8 (a JSON parser's
         * "near '...'"): JSON cannot carry them, and without this the answer
         * had no body at all. Say it in ASCII. */
        char ascii[256];
        size_t i;

        for (i = 0; desc[i] != '\0' && i < sizeof ascii - 1; i++)
            ascii[i] = (unsigned char)desc[i] < 0x20 || (unsigned char)desc[i] > 0x7e ? '?' : desc[i];
        ascii[i] = '\0';
        r->body = json_pack("{s:s, s:s, s:s}", "error", error, "error_description", ascii, "reason",
                            cf_reason_name(why));
    }
    fixed = cf_reason_challenge(why);
    if (fixed != NULL)
        n = snprintf(r->challenge, sizeof r->challenge, "%s", fixed);
    else if (kind == CF_ENDPOINT_BEARER && (r->status == 400 || r->status == 401 || r->status == 403))
        n = snprintf(r->challenge, sizeof r->challenge,
                     step_up > 0 ? "Bearer realm=\"curfew\", error=\"%s\", error_description=\"%s\", max_age=%lld"
                                   : "Bearer realm=\"curfew\", error=\"%s\", error_description=\"%s\"",
                     error, cf_reason_describe(why), (long long)step_up);
    if (n > 0)
        r->challenge_len = (size_t)n < sizeof r->challenge ? (size_t)n : sizeof r->challenge - 1;
}

void cf_refusal_send(cf_http_req_t *req, cf_refusal_t *r, const cf_http_header_t *extra,
                     size_t nextra)
{
    cf_http_header_t h[8];
    size_t n = 0;

    if (r->challenge_len > 0)
        h[n++] = (cf_http_header_t){"WWW-Authenticate", 16, r->challenge, r->challenge_len};
    if (r->no_store) {
        h[n++] = (cf_http_header_t){"Cache-Control", 13, "no-store", 8};
        h[n++] = (cf_http_header_t){"Pragma", 6, "no-cache", 8};
    }
    for (size_t i = 0; i < nextra && n < sizeof h / sizeof h[0]; i++)
        h[n++] = extra[i];
    cf_reply_json(req, r->status, r->body, h, n);
    r->body = NULL;
}

void cf_reply_refusal(cf_http_req_t *req, cf_endpoint_t kind, cf_reason_t why, const char *desc,
                      const cf_http_header_t *extra, size_t nextra)
{
    cf_refusal_t r;

    cf_refusal_make(&r, kind, why, desc, -1);
    cf_refusal_send(req, &r, extra, nextra);
}

void cf_reply_method_not_allowed(cf_http_req_t *req, const char *allow)
{
    cf_http_header_t h = {"Allow", 5, allow, strlen(allow)};
    char desc[96];

    snprintf(desc, sizeof desc, "method %s is not allowed here; use %s", req->method_name, allow);
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_METHOD_NOT_ALLOWED, desc, &h, 1);
}

void cf_reply_store_failure(cf_http_req_t *req)
{
    static const cf_http_header_t retry = {"Retry-After", 11, "1", 1};

    /* Nothing was acknowledged, so a retry is safe once the store answers again. */
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_STORE_UNAVAILABLE,
                     "the change could not be stored durably; retry", &retry, 1);
}

int cf_req_content_type_is(const cf_http_req_t *req, const char *type)
{
    size_t len, tlen = strlen(type);
    const char *v = cf_http_req_header(req, "Content-Type", &len);

    if (v == NULL || len < tlen || strncasecmp(v, type, tlen) != 0)
        return 0;
    if (len == tlen)
        return 1;
    /* Only parameters (";charset=utf-8") or whitespace may follow. */
    return v[tlen] == ';' || v[tlen] == ' ' || v[tlen] == '\t';
}

int cf_form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return CF_EPARSE;
            hi = cf_hex_digit(s[i + 1]);
            lo = cf_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return CF_EPARSE;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return CF_EPARSE; /* raw or encoded: handlers read C strings */
        if (o + 1 >= cap)
            return CF_ETOOBIG;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

int cf_form_get(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    size_t i = 0;
    int found = -1;

    while (i < len) {
        size_t end = i, eq;
        while (end < len && body[end] != '&')
            end++;
        eq = i;
        while (eq < end && body[eq] != '=')
            eq++;
        /* Keys we look up never need decoding, so compare them raw. */
        if (eq - i == klen && memcmp(body + i, key, klen) == 0) {
            if (found >= 0)
                return CF_EPARSE;
            found = cf_form_decode(body + eq + (eq < end), end - eq - (eq < end), out, cap);
            if (found < 0)
                return found;
        }
        i = end + 1;
    }
    return found;
}

json_t *cf_req_json_object(cf_http_req_t *req)
{
    json_error_t err;
    json_t *doc;
    char desc[256];

    if (!cf_req_content_type_is(req, "application/json")) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_UNSUPPORTED_MEDIA_TYPE,
                         "the body must be application/json", NULL, 0);
        return NULL;
    }
    doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) {
        snprintf(desc, sizeof desc, "the body is not valid JSON: %s at line %d column %d", err.text,
                 err.line, err.column);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_INVALID_JSON, desc, NULL, 0);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_INVALID_JSON, "the body must be a JSON object",
                         NULL, 0);
        return NULL;
    }
    return doc;
}

cf_pending_t *cf_pending_new(cf_http_req_t *req, int status, json_t *body, int no_store)
{
    cf_pending_t *p = calloc(1, sizeof *p);

    if (p == NULL) {
        json_decref(body);
        return NULL;
    }
    p->req = req;
    p->status = status;
    p->body = body;
    p->no_store = no_store;
    return p;
}

static void pending_free(cf_pending_t *p)
{
    for (size_t i = 0; i < 2; i++) {
        if (p->set_cookie[i] != NULL) {
            OPENSSL_cleanse(p->set_cookie[i], strlen(p->set_cookie[i]));
            free(p->set_cookie[i]);
        }
    }
    free(p->www_authenticate);
    if (p->text != NULL) {
        OPENSSL_cleanse(p->text, p->text_len); /* it carries tokens */
        free(p->text);
    }
    free(p);
}

cf_pending_t *cf_pending_refusal(cf_http_req_t *req, cf_endpoint_t kind, cf_reason_t why,
                                 const char *desc)
{
    cf_refusal_t r;
    cf_pending_t *p;

    cf_refusal_make(&r, kind, why, desc, -1);
    if (r.body == NULL)
        return NULL;
    p = cf_pending_new(req, r.status, r.body, r.no_store);
    if (p == NULL)
        return NULL; /* cf_pending_new dropped the body */
    if (r.challenge_len > 0) {
        p->www_authenticate = strndup(r.challenge, r.challenge_len);
        if (p->www_authenticate == NULL) {
            json_decref(p->body);
            pending_free(p);
            return NULL;
        }
    }
    return p;
}

void cf_pending_done(void *arg, int status)
{
    cf_pending_t *p = arg;
    cf_http_header_t h[5];
    size_t n = 0;

    if (status < 0) {
        json_decref(p->body);
        cf_reply_store_failure(p->req);
        pending_free(p);
        return;
    }
    if (p->no_store) {
        h[n++] = (cf_http_header_t){"Cache-Control", 13, "no-store", 8};
        h[n++] = (cf_http_header_t){"Pragma", 6, "no-cache", 8};
    }
    for (size_t i = 0; i < 2; i++)
        if (p->set_cookie[i] != NULL)
            h[n++] = (cf_http_header_t){"Set-Cookie", 10, p->set_cookie[i], strlen(p->set_cookie[i])};
    if (p->www_authenticate != NULL)
        h[n++] = (cf_http_header_t){"WWW-Authenticate", 16, p->www_authenticate,
                                    strlen(p->www_authenticate)};
    if (p->text != NULL)
        cf_reply_json_text(p->req, p->status, p->text, p->text_len, h, n);
    else
        cf_reply_json(p->req, p->status, p->body, h, n);
    pending_free(p);
}
