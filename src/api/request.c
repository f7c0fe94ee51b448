/* SPDX-License-Identifier: MIT
 *
 * What a request says about its sender: HTTP Basic client credentials,
 * cookies, the client address (through trusted proxies only) and the device
 * fingerprint. Parsing only; the decisions are made elsewhere.
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/netaddr.h"

int cf_req_basic_auth(const cf_http_req_t *req, char *id, size_t idcap, char *secret,
                      size_t secretcap)
{
    char raw[1024];
    size_t len, rawlen;
    const char *v = cf_http_req_header(req, "Authorization", &len);
    const char *colon;
    int n;

    if (v == NULL || len < 6 || strncasecmp(v, "Basic ", 6) != 0)
        return 0;
    v += 6;
    len -= 6;
    while (len > 0 && *v == ' ') {
        v++;
        len--;
    }
    if (cf_b64std_decode(v, len, (uint8_t *)raw, sizeof raw - 1, &rawlen) < 0)
        return CF_EPARSE;
    colon = memchr(raw, ':', rawlen);
    if (colon == NULL)
        return CF_EPARSE;
    n = cf_form_decode(raw, (size_t)(colon - raw), id, idcap);
    if (n <= 0)
        return CF_EPARSE;
    n = cf_form_decode(colon + 1, rawlen - (size_t)(colon + 1 - raw), secret, secretcap);
    OPENSSL_cleanse(raw, sizeof raw);
    return n < 0 ? n : 1;
}

const char *cf_req_cookie(const cf_http_req_t *req, const char *name, size_t *len)
{
    size_t nlen = strlen(name);

    /* Several Cookie headers are legal over HTTP/1.1 proxies; look in each. */
    for (size_t h = 0; h < req->nheaders; h++) {
        const cf_http_header_t *hd = &req->headers[h];
        const char *p, *end;
        if (hd->name_len != 6 || strncasecmp(hd->name, "Cookie", 6) != 0)
            continue;
        p = hd->value;
        end = hd->value + hd->value_len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            while (p < stop && *p == ' ')
                p++;
            if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
                *len = (size_t)(stop - p) - nlen - 1;
                return p + nlen + 1;
            }
            p = stop + 1;
        }
    }
    return NULL;
}

/*
 * Every X-Forwarded-For field line joined with ',' into @buf, as RFC 9110
 * §5.3 says a list field's lines combine: a proxy that adds its own line
 * (HAProxy does) must not leave the client's own line as the only one read.
 * The list is built from the right, since the walk trusts only the hops
 * nearest to us; if the lines do not fit, the left part is replaced by an
 * empty entry, which stops the walk there as any garbage entry does.
 * Returns the joined value (in @buf) with its length, or NULL if absent.
 */
static const char *forwarded_for(const cf_http_req_t *req, char *buf, size_t cap, size_t *len)
{
    size_t start = cap; /* the joined list is buf[start, cap) */
    int any = 0;

    for (size_t h = req->nheaders; h-- > 0;) {
        const cf_http_header_t *hd = &req->headers[h];
        size_t need;

        if (hd->name_len != 15 || strncasecmp(hd->name, "X-Forwarded-For", 15) != 0)
            continue;
        need = hd->value_len + (any ? 1 : 0);
        if (need + 1 > start) { /* keep one byte for the truncation mark */
            buf[--start] = ',';
            break;
        }
        if (any)
            buf[--start] = ',';
        start -= hd->value_len;
        memcpy(buf + start, hd->value, hd->value_len);
        any = 1;
    }
    if (!any && start == cap)
        return NULL;
    *len = cap - start;
    return buf + start;
}

/*
 * X-Real-IP is a single address, so a request must carry one line: if a
 * proxy appended its own after the client's, the last line is the nearest
 * proxy's word and the only one that may be believed.
 */
static const char *real_ip(const cf_http_req_t *req, size_t *len)
{
    const char *v = NULL;

    for (size_t h = 0; h < req->nheaders; h++) {
        const cf_http_header_t *hd = &req->headers[h];
        if (hd->name_len == 9 && strncasecmp(hd->name, "X-Real-IP", 9) == 0) {
            v = hd->value;
            *len = hd->value_len;
        }
    }
    return v;
}

void cf_req_client_ip(cf_app_t *app, const cf_http_req_t *req, char out[46])
{
    cf_ip_t peer, client;
    size_t xlen = 0, rlen = 0;
    const char *xff, *xreal;
    char joined[8192];

    if (cf_ip_parse(req->peer_ip, strlen(req->peer_ip), &peer) < 0) {
        snprintf(out, 46, "%s", req->peer_ip);
        return;
    }
    if (app->ntrusted == 0) {
        cf_ip_format(&peer, out);
        return;
    }
    xff = forwarded_for(req, joined, sizeof joined, &xlen);
    xreal = real_ip(req, &rlen);
    if (cf_ip_client(&peer, xff, xlen, xreal, rlen, app->trusted, app->ntrusted, &client) < 0)
        client = peer;
    cf_ip_format(&client, out);
}

void cf_req_device(cf_app_t *app, const cf_http_req_t *req, char out[44])
{
    const cf_config_t *cfg = &app->cfg;
    uint8_t md[CF_SHA256_LEN];
    size_t len;

    out[0] = '\0';
    if (cfg->device_header[0] != '\0') {
        const char *v = cf_http_req_header(req, cfg->device_header, &len);
        if (v == NULL || len == 0)
            return;
        /* Hash it so an arbitrary client string never lands in the store or a log. */
        cf_sha256(v, len, md);
        cf_b64url_encode(md, 24, out);
        return;
    }
    if (cfg->ndevice_headers > 0) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned mdlen = 0;
        int any = 0;
        if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(ctx);
            return;
        }
        for (size_t i = 0; i < cfg->ndevice_headers; i++) {
            const char *v = cf_http_req_header(req, cfg->device_headers[i], &len);
            /* A separator that cannot occur in a header value keeps fields apart. */
            if (v != NULL) {
                any = 1;
                (void)EVP_DigestUpdate(ctx, v, len);
            }
            (void)EVP_DigestUpdate(ctx, "\n", 1);
        }
        if (any && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1)
            cf_b64url_encode(md, 24, out);
        EVP_MD_CTX_free(ctx);
    }
}

int cf_req_require_admin(cf_app_t *app, cf_http_req_t *req)
{
    uint8_t h[32];
    size_t len;
    const char *v = cf_http_req_header(req, "Authorization", &len);

    /* Hash first so the comparison time does not depend on the key's length. */
    if (v != NULL && len > 7 && strncasecmp(v, "Bearer ", 7) == 0) {
        cf_sha256(v + 7, len - 7, h);
        if (cf_ct_equal(h, app->admin_key_hash, sizeof h))
            return 1;
    }
    cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_ADMIN_UNAUTHORIZED,
                     "a valid admin key is required (Authorization: Bearer <key>)", NULL, 0);
    return 0;
}

int cf_req_csrf_ok(cf_app_t *app, const cf_http_req_t *req)
{
    size_t len;
    const char *origin;

    if (app->cfg.csrf_header[0] != '\0') {
        const char *v = cf_http_req_header(req, app->cfg.csrf_header, &len);
        if (v != NULL && len > 0)
            return 1;
    }
    origin = cf_http_req_header(req, "Origin", &len);
    if (origin == NULL)
        return 0;
    for (size_t i = 0; i < app->cfg.nallowed_origins; i++) {
        const char *o = app->cfg.allowed_origins[i];
        if (strlen(o) == len && memcmp(o, origin, len) == 0)
            return 1;
    }
    return 0;
}

void cf_req_api_key_id(const cf_http_req_t *req, char out[24])
{
    uint8_t md[CF_SHA256_LEN];
    size_t len;
    const char *v = cf_http_req_header(req, "Authorization", &len);

    out[0] = '\0';
    if (v == NULL)
        return;
    /* Never the credential itself: a short digest names it well enough. */
    cf_sha256(v, len, md);
    cf_hex_encode(md, 11, out);
    out[22] = '\0';
}

cf_risk_t cf_req_risk(cf_app_t *app, const cf_http_req_t *req, const cf_session_t *s)
{
    char ip[46] = "", dev[44] = "";

    /* Only what the session binds is computed: the common case costs nothing. */
    if (cf_risk_binds_ip(s))
        cf_req_client_ip(app, req, ip);
    if (cf_risk_binds_device(s))
        cf_req_device(app, req, dev);
    return cf_risk_compare(s, ip, dev);
}
