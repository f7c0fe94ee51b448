/* SPDX-License-Identifier: MIT
 *
 * DPoP proof verification and the jti replay cache (core/dpop.h). The order
 * of the checks follows RFC 9449 §4.3; everything a client controls is
 * bounded before it is parsed (the proof's size, each member's type and
 * length), and the key comes only from the header's jwk, whose type pins
 * the algorithm.
 */
#include "core/dpop.h"

#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"

#define MAX_JTI 256

static const char *str(json_t *o, const char *k, size_t *n)
{
    json_t *v = json_object_get(o, k);

    if (!json_is_string(v))
        return NULL;
    *n = json_string_length(v);
    return json_string_value(v);
}

/* A base64url member of exactly @n decoded bytes. */
static int b64_member(json_t *o, const char *k, uint8_t *out, size_t n)
{
    size_t len, got;
    const char *s = str(o, k, &len);

    return s != NULL && cf_b64url_decode(s, len, out, n, &got) == 0 && got == n ? 0 : -1;
}

/* P-256's parameters, built once: OpenSSL would rebuild the group from its name for every key. */
static CRYPTO_ONCE p256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_PKEY *p256_params;

static void p256_init(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &p256_params, EVP_PKEY_KEY_PARAMETERS, params) != 1)
        p256_params = NULL;
    EVP_PKEY_CTX_free(ctx);
}

/*
 * The P-256 public key of the uncompressed point @pt, or NULL when the point
 * is not on the curve (OpenSSL refuses it when setting it, and the quick
 * check again). The full public check would also multiply the point by the
 * group order, which on P-256 (cofactor 1) only confirms what on-the-curve
 * proves, and cost a third of each proof's verification (bench/check.sh
 * MODES=dpop). Duplicating the prebuilt parameters saves another tenth.
 */
static EVP_PKEY *p256_key(const uint8_t pt[65])
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *chk = NULL;

    if (CRYPTO_THREAD_run_once(&p256_once, p256_init) != 1 || p256_params == NULL ||
        (pk = EVP_PKEY_dup(p256_params)) == NULL)
        return NULL;
    if (EVP_PKEY_set1_encoded_public_key(pk, pt, 65) != 1 || (chk = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
        EVP_PKEY_public_check_quick(chk) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(chk);
    return pk;
}

/*
 * The public key of the header's jwk, for @alg only: ES256 needs EC P-256,
 * EdDSA needs OKP Ed25519. A jwk carrying private members ("d" and the RSA
 * ones) is refused: a client that sends its private key has none left to
 * prove possession of.
 */
static EVP_PKEY *jwk_key(json_t *jwk, const char *alg, const char **why)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};
    uint8_t x[32], y[32], pt[65];
    size_t n;
    const char *kty = str(jwk, "kty", &n), *crv = str(jwk, "crv", &n);
    EVP_PKEY *pk = NULL;

    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        if (json_object_get(jwk, priv[i]) != NULL) {
            *why = "the jwk holds a private key";
            return NULL;
        }
    *why = "the jwk is not a P-256 (ES256) or Ed25519 (EdDSA) public key";
    if (kty == NULL || crv == NULL || b64_member(jwk, "x", x, 32) < 0)
        return NULL;
    if (strcmp(alg, "EdDSA") == 0 && strcmp(kty, "OKP") == 0 && strcmp(crv, "Ed25519") == 0)
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    if (strcmp(alg, "ES256") == 0 && strcmp(kty, "EC") == 0 && strcmp(crv, "P-256") == 0 &&
        b64_member(jwk, "y", y, 32) == 0) {
        pt[0] = 0x04;
        memcpy(pt + 1, x, 32);
        memcpy(pt + 33, y, 32);
        pk = p256_key(pt);
    }
    return pk;
}

/* Verify @sig over @msg with @pk; ES256 signatures are r||s (64 bytes), made DER here. */
static int sig_ok(EVP_PKEY *pk, const char *alg, const uint8_t *sig, size_t slen, const char *msg,
                  size_t mlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    int ok = 0, dlen;

    if (md == NULL)
        return 0;
    if (strcmp(alg, "EdDSA") == 0) {
        ok = slen == 64 && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(md, sig, slen, (const unsigned char *)msg, mlen) == 1;
    } else if (slen == 64) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);

        if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
            r = s = NULL; /* owned by es */
            dlen = i2d_ECDSA_SIG(es, &der);
            ok = dlen > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
                 EVP_DigestVerify(md, der, (size_t)dlen, (const unsigned char *)msg, mlen) == 1;
        }
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        OPENSSL_free(der);
    }
    EVP_MD_CTX_free(md);
    return ok;
}

int cf_dpop_jwk_thumbprint(const char *jwk_json, size_t len, char out[CF_DPOP_JKT_LEN + 1])
{
    json_t *j = json_loadb(jwk_json, len, JSON_REJECT_DUPLICATES, NULL);
    char buf[256];
    uint8_t h[CF_SHA256_LEN];
    size_t n, kn, cn, xn, yn = 0;
    const char *kty, *crv, *x, *y = NULL;
    int w = -1;

    if (j == NULL)
        return CF_EINVAL;
    kty = str(j, "kty", &kn);
    crv = str(j, "crv", &cn);
    x = str(j, "x", &xn);
    if (kty != NULL && strcmp(kty, "EC") == 0)
        y = str(j, "y", &yn);
    /* RFC 7638 §3.2: the required members only, in lexicographic order, no spaces. */
    if (kty != NULL && crv != NULL && x != NULL && xn < 64 && cn < 16 && yn < 64) {
        if (strcmp(kty, "EC") == 0 && y != NULL)
            w = snprintf(buf, sizeof buf, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                         crv, x, y);
        else if (strcmp(kty, "OKP") == 0)
            w = snprintf(buf, sizeof buf, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}", crv, x);
    }
    json_decref(j);
    if (w <= 0 || (size_t)w >= sizeof buf)
        return CF_EINVAL;
    cf_sha256(buf, (size_t)w, h);
    n = cf_b64url_encode(h, sizeof h, out);
    out[n] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ htu */

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* RFC 3986 §5.2.4 on @p (NUL-terminated, starting with '/'), in place. */
static void remove_dots(char *p)
{
    char *in = p, *out = p;

    while (*in != '\0') {
        if (strncmp(in, "/./", 3) == 0) {
            in += 2;
        } else if (strcmp(in, "/.") == 0) {
            in += 1;
            *in = '/';
        } else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            in += in[3] == '/' ? 3 : 2;
            *in = '/';
            while (out > p && *--out != '/') /* drop the last output segment */
                ;
        } else {
            do
                *out++ = *in++;
            while (*in != '\0' && *in != '/');
        }
    }
    *out = '\0';
    if (p[0] == '\0')
        strcpy(p, "/");
}

/* HOST[:PORT] from @url at *@i into @out at *@o: host lower-cased, the default port dropped. */
static int authority(const char *url, size_t len, size_t *i, int https, char *out, size_t cap,
                     size_t *o)
{
    size_t hstart = *i, k = *i, plen;
    const char *port;
    long pv;

    if (k < len && url[k] == '[') {
        /* An IPv6 literal: hex digits, ':' and '.' only (no zone id, no
         * IPvFuture), and the authority ends at its ']' (the fuzzer found
         * NULs inside and "[::1]v1/x" read as "[::1]/v1/x"). */
        for (k++; k < len && url[k] != ']'; k++)
            if (!isxdigit((unsigned char)url[k]) && url[k] != ':' && url[k] != '.')
                return CF_EINVAL;
        if (k == len || k == hstart + 1)
            return CF_EINVAL;
        k++;
        if (k < len && url[k] != ':' && url[k] != '/' && url[k] != '?' && url[k] != '#')
            return CF_EINVAL;
    } else {
        for (; k < len && url[k] != ':' && url[k] != '/' && url[k] != '?' && url[k] != '#'; k++)
            if (url[k] == '@' || (unsigned char)url[k] <= 0x20 || (unsigned char)url[k] >= 0x7f ||
                url[k] == '%' || url[k] == '\\' || url[k] == '[' || url[k] == ']')
                return CF_EINVAL; /* userinfo, spaces and encoded hosts are not ours to guess */
    }
    if (k == hstart || *o + (k - hstart) + 8 >= cap)
        return CF_EINVAL;
    for (size_t j = hstart; j < k; j++)
        out[(*o)++] = lower(url[j]);
    if (k < len && url[k] == ':') {
        port = url + ++k;
        while (k < len && url[k] >= '0' && url[k] <= '9')
            k++;
        plen = (size_t)(url + k - port);
        if (plen > 5 || (k < len && url[k] != '/' && url[k] != '?' && url[k] != '#'))
            return CF_EINVAL;
        while (plen > 1 && port[0] == '0')
            port++, plen--;
        /* By hand within @len: strtol read on past a port that ends the URL (found by fuzz_dpop). */
        pv = 0;
        for (size_t j = 0; j < plen; j++)
            pv = pv * 10 + (port[j] - '0');
        if (plen > 0 && (pv == 0 || pv > 65535))
            return CF_EINVAL;
        if (plen > 0 && pv != (https ? 443 : 80)) {
            out[(*o)++] = ':';
            memcpy(out + *o, port, plen);
            *o += plen;
        }
    }
    *i = k;
    return 0;
}

int cf_dpop_htu_normalize(const char *url, size_t len, char *out, size_t cap)
{
    size_t i, o, pstart;
    int https;

    if (cap < 16 || len == 0)
        return CF_EINVAL;
    if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
        https = 1, i = 8;
    else if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
        https = 0, i = 7;
    else
        return CF_EINVAL;
    o = (size_t)snprintf(out, cap, "%s://", https ? "https" : "http");
    if (authority(url, len, &i, https, out, cap, &o) < 0)
        return CF_EINVAL;
    pstart = o;
    if (i >= len || url[i] != '/')
        out[o++] = '/';
    for (; i < len && url[i] != '?' && url[i] != '#'; i++) {
        unsigned char c = (unsigned char)url[i];
        int hi, lo;

        if (o + 4 >= cap || c <= 0x20 || c >= 0x7f)
            return CF_EINVAL;
        if (c != '%') {
            out[o++] = (char)c;
            continue;
        }
        hi = i + 2 < len ? cf_hex_digit(url[i + 1]) : -1;
        lo = i + 2 < len ? cf_hex_digit(url[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return CF_EINVAL;
        i += 2;
        if (unreserved(hi << 4 | lo))
            out[o++] = (char)(hi << 4 | lo);
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", hi << 4 | lo);
    }
    out[o] = '\0';
    remove_dots(out + pstart);
    return 0;
}

/* -------------------------------------------------------------- the proof */

typedef struct {
    json_t *hdr, *claims;
    const char *alg;
    uint8_t sig[64];
    size_t slen;
    size_t signed_len; /* header.payload */
} parts_t;

static cf_reason_t parse(const cf_dpop_input_t *in, parts_t *p, const char **why)
{
    const char *d1, *d2, *tok = in->proof;
    size_t n = in->proof_len, hl, pl, got, tl;
    uint8_t buf[CF_DPOP_MAX_PROOF];

    *why = "the DPoP proof is not a compact JWS";
    if (n == 0 || n > CF_DPOP_MAX_PROOF) {
        *why = n == 0 ? "the DPoP header is empty" : "the DPoP proof is too large";
        return CF_REASON_DPOP_INVALID;
    }
    d1 = memchr(tok, '.', n);
    d2 = d1 != NULL ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)) != NULL)
        return CF_REASON_DPOP_INVALID;
    hl = (size_t)(d1 - tok);
    pl = (size_t)(d2 - d1 - 1);
    p->signed_len = (size_t)(d2 - tok);
    if (cf_b64url_decode(tok, hl, buf, sizeof buf, &got) < 0 ||
        (p->hdr = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
        !json_is_object(p->hdr))
        return CF_REASON_DPOP_INVALID;
    if (cf_b64url_decode(d1 + 1, pl, buf, sizeof buf, &got) < 0 ||
        (p->claims = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
        !json_is_object(p->claims))
        return CF_REASON_DPOP_INVALID;
    if (cf_b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - tok), p->sig, sizeof p->sig, &p->slen) < 0)
        return CF_REASON_DPOP_INVALID;
    p->alg = str(p->hdr, "alg", &tl);
    {
        const char *typ = str(p->hdr, "typ", &tl);

        *why = "the DPoP proof's typ is not dpop+jwt";
        if (typ == NULL || strcasecmp(typ, "dpop+jwt") != 0)
            return CF_REASON_DPOP_INVALID;
    }
    *why = "the DPoP proof's alg is not ES256 or EdDSA";
    if (p->alg == NULL || (strcmp(p->alg, "ES256") != 0 && strcmp(p->alg, "EdDSA") != 0))
        return CF_REASON_DPOP_INVALID;
    *why = "the DPoP proof's header has no jwk object";
    if (!json_is_object(json_object_get(p->hdr, "jwk")))
        return CF_REASON_DPOP_INVALID;
    return CF_REASON_NONE;
}

/* htm, htu, iat, ath and nonce against the request. */
static cf_reason_t claims(const cf_dpop_input_t *in, json_t *c, cf_dpop_proof_t *out, const char **why)
{
    char want[CF_DPOP_MAX_URL], got[CF_DPOP_MAX_URL], ath[CF_DPOP_JKT_LEN + 1];
    uint8_t h[CF_SHA256_LEN];
    size_t n;
    const char *s;
    json_t *iat = json_object_get(c, "iat");

    s = str(c, "jti", &n);
    *why = "the DPoP proof has no jti (or one over 256 bytes)";
    if (s == NULL || n == 0 || n > MAX_JTI)
        return CF_REASON_DPOP_INVALID;
    cf_sha256(s, n, h);
    memcpy(out->jti_hash, h, sizeof out->jti_hash);
    s = str(c, "htm", &n);
    *why = "the DPoP proof's htm is not this request's method";
    if (s == NULL || n != in->htm_len || memcmp(s, in->htm, n) != 0)
        return CF_REASON_DPOP_INVALID;
    s = str(c, "htu", &n);
    *why = "the DPoP proof's htu is not this request's URL";
    if (s == NULL || cf_dpop_htu_normalize(s, n, got, sizeof got) < 0 ||
        cf_dpop_htu_normalize(in->htu, in->htu_len, want, sizeof want) < 0 || strcmp(got, want) != 0)
        return CF_REASON_DPOP_INVALID;
    *why = "the DPoP proof's iat is not an integer within the accepted window";
    if (!json_is_integer(iat) || json_integer_value(iat) < in->now - in->window ||
        json_integer_value(iat) > in->now + in->leeway)
        return CF_REASON_DPOP_INVALID;
    out->iat = json_integer_value(iat);
    if (in->access_token != NULL) {
        s = str(c, "ath", &n);
        cf_sha256(in->access_token, in->at_len, h);
        ath[cf_b64url_encode(h, sizeof h, ath)] = '\0';
        *why = "the DPoP proof's ath is not the hash of this access token";
        if (s == NULL || n != CF_DPOP_JKT_LEN || !cf_ct_equal(s, ath, n))
            return CF_REASON_DPOP_INVALID;
    }
    if (in->nonce != NULL) {
        s = str(c, "nonce", &n);
        *why = "the DPoP proof must carry the server's nonce (DPoP-Nonce)";
        if (s == NULL || n != in->nonce_len || !cf_ct_equal(s, in->nonce, n))
            return CF_REASON_USE_DPOP_NONCE;
    }
    return CF_REASON_NONE;
}

cf_reason_t cf_dpop_verify(const cf_dpop_input_t *in, cf_dpop_proof_t *out, const char **why)
{
    parts_t p = {0};
    EVP_PKEY *pk = NULL;
    char *jwk = NULL;
    cf_reason_t r;

    memset(out, 0, sizeof *out);
    r = parse(in, &p, why);
    if (r != CF_REASON_NONE)
        goto done;
    r = CF_REASON_DPOP_INVALID;
    pk = jwk_key(json_object_get(p.hdr, "jwk"), p.alg, why);
    if (pk == NULL)
        goto done;
    *why = "the DPoP proof's signature does not verify with its jwk";
    if (!sig_ok(pk, p.alg, p.sig, p.slen, in->proof, p.signed_len))
        goto done;
    jwk = json_dumps(json_object_get(p.hdr, "jwk"), JSON_COMPACT);
    *why = "the DPoP proof's jwk has no thumbprint";
    if (jwk == NULL || cf_dpop_jwk_thumbprint(jwk, strlen(jwk), out->jkt) < 0)
        goto done;
    r = claims(in, p.claims, out, why);
    if (r == CF_REASON_NONE)
        *why = "ok";
done:
    free(jwk);
    EVP_PKEY_free(pk);
    json_decref(p.hdr);
    json_decref(p.claims);
    return r;
}

/* ---------------------------------------------------------- replay cache */

struct cf_dpop_cache {
    size_t slots, max, count[2];
    int64_t window, start; /* the current generation began at @start */
    int cur;
    uint8_t (*gen[2])[16]; /* all-zero = empty */
};

cf_dpop_cache_t *cf_dpop_cache_new(size_t max_per_window, int64_t window)
{
    cf_dpop_cache_t *c = calloc(1, sizeof *c);
    size_t slots = 16;

    if (c == NULL || max_per_window == 0 || max_per_window > ((size_t)1 << 26) || window <= 0) {
        free(c);
        return NULL;
    }
    while (slots < max_per_window * 2)
        slots *= 2;
    c->slots = slots;
    c->max = max_per_window;
    c->window = window;
    c->start = INT64_MIN;
    c->gen[0] = calloc(slots, 16);
    c->gen[1] = calloc(slots, 16);
    if (c->gen[0] == NULL || c->gen[1] == NULL) {
        cf_dpop_cache_free(c);
        return NULL;
    }
    return c;
}

void cf_dpop_cache_free(cf_dpop_cache_t *c)
{
    if (c == NULL)
        return;
    free(c->gen[0]);
    free(c->gen[1]);
    free(c);
}

/* The slot holding @h in generation @g, or the empty one where it would go. */
static size_t probe(const cf_dpop_cache_t *c, int g, const uint8_t h[16])
{
    static const uint8_t zero[16];
    size_t i;

    memcpy(&i, h, sizeof i);
    for (i &= c->slots - 1;; i = (i + 1) & (c->slots - 1))
        if (memcmp(c->gen[g][i], h, 16) == 0 || memcmp(c->gen[g][i], zero, 16) == 0)
            return i;
}

cf_reason_t cf_dpop_cache_check(cf_dpop_cache_t *c, const uint8_t jti_hash[16], int64_t now)
{
    uint8_t h[16];
    size_t i;

    memcpy(h, jti_hash, 16);
    h[0] |= 1; /* never all zero: zero marks an empty slot */
    /* A clock stepping back keeps the generations: forgetting would admit replays. */
    if (c->start == INT64_MIN || now - c->start >= 2 * c->window) {
        memset(c->gen[0], 0, c->slots * 16);
        memset(c->gen[1], 0, c->slots * 16);
        c->count[0] = c->count[1] = 0;
        c->start = now;
    } else if (now - c->start >= c->window) {
        c->cur ^= 1; /* the older generation is forgotten */
        memset(c->gen[c->cur], 0, c->slots * 16);
        c->count[c->cur] = 0;
        c->start = now;
    }
    i = probe(c, c->cur ^ 1, h);
    if (memcmp(c->gen[c->cur ^ 1][i], h, 16) == 0)
        return CF_REASON_DPOP_REPLAY;
    i = probe(c, c->cur, h);
    if (memcmp(c->gen[c->cur][i], h, 16) == 0)
        return CF_REASON_DPOP_REPLAY;
    if (c->count[c->cur] >= c->max)
        return CF_REASON_DPOP_INVALID; /* full: fail closed until the window turns */
    memcpy(c->gen[c->cur][i], h, 16);
    c->count[c->cur]++;
    return CF_REASON_NONE;
}
