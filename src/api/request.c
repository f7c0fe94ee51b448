/* SPDX-License-Identifier: MIT
 *
 * What a request says about its sender: HTTP Basic client credentials,
 * cookies, the client address (through trusted proxies only) and the device
 * fingerprint. Parsing only; the decisions are made elsewhere.
 */
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/netaddr.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
static int url_decode(const char *s, size_t n, char *out, size_t cap)
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
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return CF_EPARSE;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return CF_ETOOBIG;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

static int b64std_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding (RFC 4648 §4), as Basic credentials use. */
static int b64std_decode(const char *in, size_t n, char *out, size_t cap, size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0, pad = 0;

    if (n % 4 != 0)
        return CF_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int v;
        if (in[i] == '=') {
            pad++;
            if (pad > 2 || i < n - 2)
                return CF_EPARSE;
            continue;
        }
        if (pad > 0)
            return CF_EPARSE;
        v = b64std_value(in[i]);
        if (v < 0)
            return CF_EPARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return CF_ETOOBIG;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return 0;
}

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
    if (b64std_decode(v, len, raw, sizeof raw, &rawlen) < 0)
        return CF_EPARSE;
    colon = memchr(raw, ':', rawlen);
    if (colon == NULL)
        return CF_EPARSE;
    n = url_decode(raw, (size_t)(colon - raw), id, idcap);
    if (n <= 0)
        return CF_EPARSE;
    n = url_decode(colon + 1, rawlen - (size_t)(colon + 1 - raw), secret, secretcap);
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

void cf_req_client_ip(cf_app_t *app, const cf_http_req_t *req, char out[46])
{
    cf_ip_t peer, client;
    size_t xlen = 0, rlen = 0;
    const char *xff, *xreal;

    if (cf_ip_parse(req->peer_ip, strlen(req->peer_ip), &peer) < 0) {
        snprintf(out, 46, "%s", req->peer_ip);
        return;
    }
    if (app->ntrusted == 0) {
        cf_ip_format(&peer, out);
        return;
    }
    xff = cf_http_req_header(req, "X-Forwarded-For", &xlen);
    xreal = cf_http_req_header(req, "X-Real-IP", &rlen);
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
