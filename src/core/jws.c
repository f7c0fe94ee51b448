/* SPDX-License-Identifier: MIT
 *
 * Compact JWS with Ed25519. Decides whether a token was signed by one of our
 * keys, and signs tokens. Must never let the token choose the algorithm or
 * the key material (only a kid naming one of the caller's keys), never parse
 * the payload before the signature has verified, and never read or write
 * outside the bounds it was given. OpenSSL failures map to CF_ECRYPTO; the
 * OpenSSL error queue is left for the shell to log, except after expected
 * failures (a bad signature, a PEM that is not of the kind tried first),
 * which are cleared so that they are not mistaken for faults.
 */
#include "core/jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/jsonw.h"

#define PEM_MAX_LEN (64 * 1024)

struct cf_jws_key {
    EVP_PKEY *pkey;
    int has_private;
    uint8_t pub[CF_JWS_KEY_LEN];
    char kid[CF_JWS_KID_MAX + 1];
};

/* ------------------------------------------------------------------ keys */

/* A kid goes into JSON headers and JWKS documents and is compared byte for
 * byte, so it is limited to visible ASCII: no escaping questions, no
 * Unicode normalisation questions. */
static int kid_valid(const char *kid)
{
    size_t n = strlen(kid);

    if (n == 0 || n > CF_JWS_KID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)kid[i] < 0x21 || (unsigned char)kid[i] > 0x7e)
            return 0;
    return 1;
}

/* RFC 7638: SHA-256 over the required members in lexicographic order, no
 * whitespace. For OKP keys those are crv, kty and x (RFC 8037 section 2). */
static void thumbprint(const uint8_t pub[CF_JWS_KEY_LEN], char out[44])
{
    char x[44], json[96];
    uint8_t digest[CF_SHA256_LEN];
    int n;

    cf_b64url_encode(pub, CF_JWS_KEY_LEN, x);
    n = snprintf(json, sizeof(json), "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    cf_sha256(json, (size_t)n, digest);
    cf_b64url_encode(digest, sizeof(digest), out);
}

/* Wrap @pkey (ownership taken, freed on error) into a new key. */
static int key_wrap(EVP_PKEY *pkey, int has_private, const char *kid, cf_jws_key_t **out)
{
    cf_jws_key_t *k;
    size_t publen = CF_JWS_KEY_LEN;

    *out = NULL;
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        EVP_PKEY_free(pkey);
        return CF_EINVAL;
    }
    if (kid != NULL && !kid_valid(kid)) {
        EVP_PKEY_free(pkey);
        return CF_EINVAL;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return CF_ENOMEM;
    }
    k->pkey = pkey;
    k->has_private = has_private;
    if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 || publen != CF_JWS_KEY_LEN) {
        cf_jws_key_free(k);
        return CF_ECRYPTO;
    }
    if (kid != NULL)
        memcpy(k->kid, kid, strlen(kid) + 1);
    else
        thumbprint(k->pub, k->kid);
    *out = k;
    return 0;
}

int cf_jws_key_generate(cf_jws_key_t **out)
{
    EVP_PKEY *pkey;

    *out = NULL;
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL)
        return CF_ECRYPTO;
    return key_wrap(pkey, 1, NULL, out);
}

int cf_jws_key_from_raw(const uint8_t *priv32, const uint8_t *pub32, const char *kid,
                        cf_jws_key_t **out)
{
    EVP_PKEY *pkey;
    cf_jws_key_t *k = NULL;
    int rc;

    *out = NULL;
    if (priv32 == NULL && pub32 == NULL)
        return CF_EINVAL;
    if (priv32 != NULL)
        pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, priv32, CF_JWS_KEY_LEN);
    else
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub32, CF_JWS_KEY_LEN);
    if (pkey == NULL)
        return CF_EINVAL; /* OpenSSL refuses only malformed raw keys here */
    rc = key_wrap(pkey, priv32 != NULL, kid, &k);
    if (rc < 0)
        return rc;
    if (priv32 != NULL && pub32 != NULL && !cf_ct_equal(k->pub, pub32, CF_JWS_KEY_LEN)) {
        cf_jws_key_free(k);
        return CF_EINVAL; /* x does not belong to d */
    }
    *out = k;
    return 0;
}

/* Never prompt for a passphrase: an encrypted key simply fails to load. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int cf_jws_key_from_pem(const char *pem, size_t len, cf_jws_key_t **out)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int has_private = 1;

    *out = NULL;
    if (pem == NULL)
        return CF_EINVAL;
    if (len > PEM_MAX_LEN)
        return CF_ETOOBIG;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return CF_ENOMEM;
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        ERR_clear_error(); /* expected when the PEM holds a public key */
        has_private = 0;
        bio = BIO_new_mem_buf(pem, (int)len);
        if (bio == NULL)
            return CF_ENOMEM;
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
        BIO_free(bio);
        if (pkey == NULL) {
            ERR_clear_error();
            return CF_EPARSE;
        }
    }
    return key_wrap(pkey, has_private, NULL, out);
}

int cf_jws_key_to_pem(const cf_jws_key_t *k, char **pem_out)
{
    BIO *bio;
    char *data = NULL, *copy;
    long n;

    *pem_out = NULL;
    if (!k->has_private)
        return CF_EINVAL;
    bio = BIO_new(BIO_s_secmem()); /* wiped when freed */
    if (bio == NULL)
        return CF_ENOMEM;
    if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return CF_ECRYPTO;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || data == NULL) {
        BIO_free(bio);
        return CF_ECRYPTO;
    }
    copy = malloc((size_t)n + 1);
    if (copy == NULL) {
        BIO_free(bio);
        return CF_ENOMEM;
    }
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    BIO_free(bio);
    *pem_out = copy;
    return 0;
}

int cf_jws_key_raw_private(const cf_jws_key_t *k, uint8_t out[CF_JWS_KEY_LEN])
{
    size_t n = CF_JWS_KEY_LEN;

    if (!k->has_private)
        return CF_EINVAL;
    if (EVP_PKEY_get_raw_private_key(k->pkey, out, &n) != 1 || n != CF_JWS_KEY_LEN) {
        OPENSSL_cleanse(out, CF_JWS_KEY_LEN);
        return CF_ECRYPTO;
    }
    return 0;
}

void cf_jws_key_raw_public(const cf_jws_key_t *k, uint8_t out[CF_JWS_KEY_LEN])
{
    memcpy(out, k->pub, CF_JWS_KEY_LEN);
}

const char *cf_jws_key_kid(const cf_jws_key_t *k)
{
    return k->kid;
}

int cf_jws_key_has_private(const cf_jws_key_t *k)
{
    return k->has_private;
}

int cf_jws_key_public_jwk(const cf_jws_key_t *k, json_t **out)
{
    char x[44];

    cf_b64url_encode(k->pub, CF_JWS_KEY_LEN, x);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x, "kid",
                     k->kid, "alg", "EdDSA", "use", "sig");
    return *out != NULL ? 0 : CF_ENOMEM;
}

void cf_jws_key_free(cf_jws_key_t *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey); /* OpenSSL wipes the private key it holds */
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

/* --------------------------------------------------------------- signing */

static int is_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* Ed25519 is "pure": no digest is named, the whole input is signed. */
static int ed25519_sign(EVP_PKEY *pkey, const char *tbs, size_t tbslen, uint8_t sig[CF_JWS_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = CF_JWS_SIG_LEN;
    int rc = CF_ECRYPTO;

    if (ctx == NULL)
        return CF_ENOMEM;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)tbs, tbslen) == 1 &&
        siglen == CF_JWS_SIG_LEN)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    return rc;
}

int cf_jws_sign_raw(const cf_jws_key_t *k, const char *protected_b64, size_t plen,
                    const char *payload_b64, size_t len, char **out)
{
    uint8_t sig[CF_JWS_SIG_LEN];
    size_t siglen_b64 = cf_b64url_encoded_len(CF_JWS_SIG_LEN), total;
    char *tok;
    int rc;

    *out = NULL;
    if (!k->has_private || !is_b64url(protected_b64, plen) || !is_b64url(payload_b64, len))
        return CF_EINVAL;
    total = plen + 1 + len + 1 + siglen_b64;
    tok = malloc(total + 1);
    if (tok == NULL)
        return CF_ENOMEM;
    memcpy(tok, protected_b64, plen);
    tok[plen] = '.';
    memcpy(tok + plen + 1, payload_b64, len);
    rc = ed25519_sign(k->pkey, tok, plen + 1 + len, sig);
    if (rc < 0) {
        free(tok);
        return rc;
    }
    tok[plen + 1 + len] = '.';
    cf_b64url_encode(sig, sizeof(sig), tok + plen + 1 + len + 1);
    *out = tok;
    return 0;
}

/* The protected header, {"alg":"EdDSA","typ":@typ,"kid":<kid>}, into @w. */
static void write_header(cf_jsonw_t *w, const char *typ, const char *kid)
{
    cf_jsonw_raw(w, "{\"alg\":\"EdDSA\",", 15);
    if (typ != NULL) {
        cf_jsonw_raw(w, "\"typ\":", 6);
        cf_jsonw_str(w, typ);
        cf_jsonw_raw(w, ",", 1);
    }
    cf_jsonw_raw(w, "\"kid\":", 6);
    cf_jsonw_str(w, kid);
    cf_jsonw_raw(w, "}", 1);
}

int cf_jws_sign_prepare(const cf_jws_key_t *k, const char *typ, const char *payload_json,
                        size_t payload_len, cf_jws_unsigned_t *out)
{
    char hdr[CF_JWS_MAX_LEN];
    size_t h64, p64, sig64 = cf_b64url_encoded_len(CF_JWS_SIG_LEN), maxpayload;
    cf_jsonw_t w;
    char *tok;

    memset(out, 0, sizeof *out);
    if (!k->has_private)
        return CF_EINVAL;
    /* Checked before encoding so that a huge payload costs no allocation. */
    maxpayload = cf_b64url_decoded_maxlen(CF_JWS_MAX_LEN);
    if (payload_len > maxpayload)
        return CF_ETOOBIG;
    cf_jsonw_init(&w, hdr, sizeof hdr);
    write_header(&w, typ, k->kid);
    if (w.err != 0)
        return w.err; /* CF_EINVAL: typ is not valid UTF-8 (kids are ASCII) */
    h64 = cf_b64url_encoded_len(w.len);
    p64 = cf_b64url_encoded_len(payload_len);
    if (h64 + 1 + p64 + 1 + sig64 > CF_JWS_MAX_LEN)
        return CF_ETOOBIG;
    tok = malloc(h64 + 1 + p64 + 1 + sig64 + 1);
    if (tok == NULL)
        return CF_ENOMEM;
    cf_b64url_encode((const uint8_t *)hdr, w.len, tok);
    tok[h64] = '.';
    cf_b64url_encode((const uint8_t *)payload_json, payload_len, tok + h64 + 1);
    tok[h64 + 1 + p64] = '.';
    tok[h64 + 1 + p64 + 1] = '\0';
    if (EVP_PKEY_up_ref(k->pkey) != 1) {
        free(tok);
        return CF_ECRYPTO;
    }
    out->tok = tok;
    out->tbslen = h64 + 1 + p64;
    out->pkey = k->pkey;
    return 0;
}

int cf_jws_sign_finish(cf_jws_unsigned_t *u, char **out)
{
    uint8_t sig[CF_JWS_SIG_LEN];
    int rc;

    *out = NULL;
    if (u->tok == NULL || u->pkey == NULL)
        return CF_EINVAL;
    rc = ed25519_sign(u->pkey, u->tok, u->tbslen, sig);
    if (rc < 0)
        return rc;
    cf_b64url_encode(sig, sizeof sig, u->tok + u->tbslen + 1); /* NUL-terminates */
    *out = u->tok;
    u->tok = NULL;
    return 0;
}

void cf_jws_unsigned_fini(cf_jws_unsigned_t *u)
{
    if (u == NULL)
        return;
    free(u->tok);
    u->tok = NULL;
    EVP_PKEY_free(u->pkey);
    u->pkey = NULL;
}

int cf_jws_sign(const cf_jws_key_t *k, const char *typ, const char *payload_json, size_t payload_len,
                char **out)
{
    cf_jws_unsigned_t u;
    int rc;

    *out = NULL;
    rc = cf_jws_sign_prepare(k, typ, payload_json, payload_len, &u);
    if (rc == 0)
        rc = cf_jws_sign_finish(&u, out);
    cf_jws_unsigned_fini(&u);
    return rc;
}

/* ----------------------------------------------------------- verification */

/* Split @tok into exactly three segments. Returns 0 or -1. */
static int split3(const char *tok, size_t len, size_t *dot1, size_t *dot2)
{
    const char *a, *b;

    a = memchr(tok, '.', len);
    if (a == NULL)
        return -1;
    b = memchr(a + 1, '.', len - (size_t)(a + 1 - tok));
    if (b == NULL)
        return -1;
    if (memchr(b + 1, '.', len - (size_t)(b + 1 - tok)) != NULL)
        return -1;
    *dot1 = (size_t)(a - tok);
    *dot2 = (size_t)(b - tok);
    return 0;
}

/* 1 valid, 0 not valid, negative CF_E* when the check itself failed. */
static int ed25519_verify(EVP_PKEY *pkey, const char *tbs, size_t tbslen, const uint8_t *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc;

    if (ctx == NULL)
        return CF_ENOMEM;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
        EVP_MD_CTX_free(ctx);
        return CF_ECRYPTO;
    }
    rc = EVP_DigestVerify(ctx, sig, CF_JWS_SIG_LEN, (const unsigned char *)tbs, tbslen);
    EVP_MD_CTX_free(ctx);
    if (rc != 1) {
        ERR_clear_error(); /* a forged signature is a verdict, not a fault */
        return 0;
    }
    return 1;
}

int cf_jws_verify_raw(const cf_jws_key_t *k, const char *tok, size_t len, int *valid)
{
    uint8_t sig[CF_JWS_MAX_LEN];
    size_t dot1, dot2, siglen;
    int rc;

    *valid = 0;
    if (len > CF_JWS_MAX_LEN || split3(tok, len, &dot1, &dot2) < 0)
        return CF_EINVAL;
    if (cf_b64url_decode(tok + dot2 + 1, len - dot2 - 1, sig, sizeof(sig), &siglen) < 0)
        return CF_EINVAL;
    if (siglen != CF_JWS_SIG_LEN)
        return 0;
    rc = ed25519_verify(k->pkey, tok, dot2, sig);
    if (rc < 0)
        return rc;
    *valid = rc;
    return 0;
}

static const cf_jws_key_t *find_key(const cf_jws_key_t *const *keys, size_t nkeys, const char *kid)
{
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i] != NULL && strcmp(keys[i]->kid, kid) == 0)
            return keys[i];
    return NULL;
}

/*
 * RFC 7515 §4.1.9: "typ" is a media type whose "application/" prefix may be
 * left out; media types compare case-insensitively (RFC 9068 §4 names
 * "at+jwt" and "application/at+jwt"). No parameters, no blanks.
 */
static int typ_matches(const json_t *typ, const char *want)
{
    const char *v;

    if (!json_is_string(typ))
        return 0;
    v = json_string_value(typ);
    if (strlen(v) != json_string_length(typ)) /* an embedded NUL */
        return 0;
    if (strncasecmp(v, "application/", 12) == 0)
        v += 12;
    return strcasecmp(v, want) == 0;
}

int cf_jws_verify(const char *tok, size_t len, const cf_jws_key_t *const *keys, size_t nkeys,
                  json_t **payload_out, cf_reason_t *why)
{
    return cf_jws_verify_typ(tok, len, keys, nkeys, NULL, payload_out, why);
}

/* A token's three segments, decoded into one buffer of the caller's. */
typedef struct {
    const uint8_t *hdr, *payload, *sig;
    size_t hlen, plen, siglen;
} segments_t;

/*
 * Decode the segments of @tok (its dots at @dot1 and @dot2) one after the
 * other into @buf (@cap bytes); -1 when one is not clean base64url.
 */
static int decode_segments(const char *tok, size_t len, size_t dot1, size_t dot2, uint8_t *buf,
                           size_t cap, segments_t *seg)
{
    size_t used;

    if (cf_b64url_decode(tok, dot1, buf, cap, &seg->hlen) < 0)
        return -1;
    seg->hdr = buf;
    used = seg->hlen;
    if (cf_b64url_decode(tok + dot1 + 1, dot2 - dot1 - 1, buf + used, cap - used, &seg->plen) < 0)
        return -1;
    seg->payload = buf + used;
    used += seg->plen;
    if (cf_b64url_decode(tok + dot2 + 1, len - dot2 - 1, buf + used, cap - used, &seg->siglen) < 0)
        return -1;
    seg->sig = buf + used;
    return 0;
}

/*
 * The verdict of the protected header alone: CF_REASON_NONE with *@key the
 * key among @keys it names, or why the token is refused. The header is
 * parsed before the signature is checked because it names the key; it is
 * small, bounded, and only four members are looked at.
 */
static cf_reason_t judge_header(const segments_t *seg, const char *typ,
                                const cf_jws_key_t *const *keys, size_t nkeys,
                                const cf_jws_key_t **key)
{
    json_t *h = json_loadb((const char *)seg->hdr, seg->hlen, JSON_REJECT_DUPLICATES, NULL);
    json_t *alg, *kid;
    cf_reason_t why = CF_REASON_MALFORMED_TOKEN;

    *key = NULL;
    if (!json_is_object(h))
        goto done;
    if (json_object_get(h, "crit") != NULL) /* we understand no extension */
        goto done;
    alg = json_object_get(h, "alg");
    if (!json_is_string(alg))
        goto done;
    kid = json_object_get(h, "kid");
    if (kid != NULL && !json_is_string(kid))
        goto done;
    /* Another kind of JWT signed with the same key (an ID token, a logout
     * token) must not pass for this one: explicit typing, RFC 8725 §3.11. */
    if (typ != NULL && !typ_matches(json_object_get(h, "typ"), typ))
        goto done;

    /* The key fixes the algorithm. Anything else the header claims, "none"
     * and HMAC included, is a signature we cannot accept. */
    why = CF_REASON_BAD_SIGNATURE;
    if (strcmp(json_string_value(alg), "EdDSA") != 0)
        goto done;
    why = CF_REASON_UNKNOWN_KEY;
    if (kid == NULL)
        goto done;
    *key = find_key(keys, nkeys, json_string_value(kid));
    if (*key != NULL)
        why = CF_REASON_NONE;
done:
    json_decref(h);
    return why;
}

int cf_jws_verify_typ(const char *tok, size_t len, const cf_jws_key_t *const *keys, size_t nkeys,
                      const char *typ, json_t **payload_out, cf_reason_t *why)
{
    /* Every segment decodes into this one buffer: a token of at most
     * CF_JWS_MAX_LEN characters decodes to at most 3/4 of that in total. */
    uint8_t buf[CF_JWS_MAX_LEN / 4 * 3 + 4];
    segments_t seg;
    size_t dot1, dot2;
    const cf_jws_key_t *key;
    json_t *p;
    int rc;

    if (payload_out == NULL || why == NULL)
        return CF_EINVAL;
    *payload_out = NULL;
    if ((tok == NULL && len > 0) || (keys == NULL && nkeys > 0))
        return CF_EINVAL;
    *why = CF_REASON_MALFORMED_TOKEN;
    if (tok == NULL || len > CF_JWS_MAX_LEN || split3(tok, len, &dot1, &dot2) < 0 ||
        decode_segments(tok, len, dot1, dot2, buf, sizeof buf, &seg) < 0)
        return 0;
    *why = judge_header(&seg, typ, keys, nkeys, &key);
    if (*why != CF_REASON_NONE)
        return 0;
    *why = CF_REASON_BAD_SIGNATURE;
    if (seg.siglen != CF_JWS_SIG_LEN)
        return 0;
    rc = ed25519_verify(key->pkey, tok, dot2, seg.sig);
    if (rc < 0) {
        *why = CF_REASON__COUNT;
        return rc;
    }
    if (rc == 0)
        return 0;

    *why = CF_REASON_MALFORMED_TOKEN;
    p = json_loadb((const char *)seg.payload, seg.plen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return 0;
    }
    *why = CF_REASON_NONE;
    *payload_out = p;
    return 0;
}
