/* SPDX-License-Identifier: MIT
 *
 * The signing key set (see keyset.h): which key signs, which keys verify,
 * when they retire, and the document they are stored in. No I/O, no clock.
 * Private material passes through stack buffers that are wiped before every
 * return; OpenSSL failures map to CF_ECRYPTO and a failed decryption (wrong
 * KEK, tampering) is a clean error, never a crash or a half-built set.
 */
#include "core/keyset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/error.h"

#define KEYSET_FORMAT 1
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16

struct cf_keyset {
    /* [0] is the active key; then verifying keys, newest deactivation first. */
    cf_keyset_entry_t e[CF_KEYSET_MAX];
    const cf_jws_key_t *vk[CF_KEYSET_MAX]; /* e[i].key, for cf_jws_verify() */
    size_t n;
    uint64_t version;
};

/* ------------------------------------------------------------ the set */

static void reindex(cf_keyset_t *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        ks->vk[i] = ks->e[i].key;
}

int cf_keyset_new(cf_jws_key_t *first, cf_time_t now, cf_keyset_t **out)
{
    cf_keyset_t *ks;

    *out = NULL;
    if (first == NULL || !cf_jws_key_has_private(first))
        return CF_EINVAL;
    ks = calloc(1, sizeof *ks);
    if (ks == NULL)
        return CF_ENOMEM;
    ks->e[0] = (cf_keyset_entry_t){first, now, now, 0};
    ks->n = 1;
    ks->version = 1;
    reindex(ks);
    *out = ks;
    return 0;
}

void cf_keyset_free(cf_keyset_t *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->n; i++)
        cf_jws_key_free(ks->e[i].key);
    OPENSSL_cleanse(ks, sizeof *ks);
    free(ks);
}

static int key_copy(const cf_jws_key_t *k, cf_jws_key_t **out)
{
    uint8_t d[CF_JWS_KEY_LEN];
    int rc = cf_jws_key_raw_private(k, d);

    *out = NULL;
    if (rc == 0)
        rc = cf_jws_key_from_raw(d, NULL, cf_jws_key_kid(k), out);
    OPENSSL_cleanse(d, sizeof d);
    return rc;
}

int cf_keyset_dup(const cf_keyset_t *ks, cf_keyset_t **out)
{
    cf_keyset_t *c;
    int rc;

    *out = NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return CF_ENOMEM;
    c->version = ks->version;
    for (size_t i = 0; i < ks->n; i++) {
        c->e[i] = ks->e[i];
        c->e[i].key = NULL;
        rc = key_copy(ks->e[i].key, &c->e[i].key);
        if (rc < 0) {
            cf_keyset_free(c);
            return rc;
        }
        c->n = i + 1;
    }
    reindex(c);
    *out = c;
    return 0;
}

const cf_jws_key_t *cf_keyset_active(const cf_keyset_t *ks)
{
    return ks->e[0].key;
}

const cf_jws_key_t *cf_keyset_find(const cf_keyset_t *ks, const char *kid)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(cf_jws_key_kid(ks->e[i].key), kid) == 0)
            return ks->e[i].key;
    return NULL;
}

const cf_jws_key_t *const *cf_keyset_verify_keys(const cf_keyset_t *ks, size_t *n)
{
    *n = ks->n;
    return ks->vk;
}

size_t cf_keyset_count(const cf_keyset_t *ks)
{
    return ks->n;
}

const cf_keyset_entry_t *cf_keyset_entry(const cf_keyset_t *ks, size_t i)
{
    return i < ks->n ? &ks->e[i] : NULL;
}

uint64_t cf_keyset_version(const cf_keyset_t *ks)
{
    return ks->version;
}

int cf_keyset_rotate(cf_keyset_t *ks, cf_jws_key_t *key, cf_time_t now)
{
    if (key == NULL || !cf_jws_key_has_private(key) ||
        cf_keyset_find(ks, cf_jws_key_kid(key)) != NULL || now < ks->e[0].activated_at)
        return CF_EINVAL;
    if (ks->n == CF_KEYSET_MAX)
        return CF_ETOOBIG;
    /* The new key goes in front; the old active key, now the newest
     * deactivated one, is next; the order of the rest is unchanged. */
    memmove(&ks->e[1], &ks->e[0], ks->n * sizeof ks->e[0]);
    ks->e[1].deactivated_at = now;
    ks->e[0] = (cf_keyset_entry_t){key, now, now, 0};
    ks->n++;
    ks->version++;
    reindex(ks);
    return 0;
}

cf_time_t cf_keyset_retires_at(const cf_keyset_entry_t *e, cf_time_t keep)
{
    if (e->deactivated_at == 0)
        return CF_KEYSET_NEVER;
    if (keep > CF_KEYSET_NEVER - e->deactivated_at)
        return CF_KEYSET_NEVER;
    return e->deactivated_at + keep;
}

size_t cf_keyset_retire(cf_keyset_t *ks, cf_time_t now, cf_time_t keep)
{
    size_t kept = 1, retired = 0;

    for (size_t i = 1; i < ks->n; i++) {
        if (cf_keyset_retires_at(&ks->e[i], keep) <= now) {
            cf_jws_key_free(ks->e[i].key);
            retired++;
        } else {
            ks->e[kept++] = ks->e[i];
        }
    }
    memset(&ks->e[kept], 0, (ks->n - kept) * sizeof ks->e[0]);
    ks->n = kept;
    reindex(ks);
    return retired;
}

cf_time_t cf_keyset_next_change(const cf_keyset_t *ks, cf_time_t keep, cf_time_t rotate_every)
{
    cf_time_t next = CF_KEYSET_NEVER;

    for (size_t i = 1; i < ks->n; i++) {
        cf_time_t t = cf_keyset_retires_at(&ks->e[i], keep);
        if (t < next)
            next = t;
    }
    if (rotate_every > 0 && rotate_every < CF_KEYSET_NEVER - ks->e[0].activated_at &&
        ks->e[0].activated_at + rotate_every < next)
        next = ks->e[0].activated_at + rotate_every;
    return next;
}

int cf_keyset_rotation_due(const cf_keyset_t *ks, cf_time_t now, cf_time_t rotate_every)
{
    return rotate_every > 0 && now - ks->e[0].activated_at >= rotate_every;
}

/* ------------------------------------------------------------- the KEK */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cf_keyset_kek_parse(const char *text, size_t len, uint8_t kek[CF_KEK_LEN])
{
    uint8_t buf[CF_KEK_LEN + 4];
    size_t n = 0;
    int ok = 0;

    if (text == NULL)
        return CF_EINVAL;
    while (len > 0 && is_space(text[len - 1]))
        len--;
    while (len > 0 && is_space(text[0])) {
        text++;
        len--;
    }
    if (len == 2 * CF_KEK_LEN) {
        ok = 1;
        for (size_t i = 0; i < CF_KEK_LEN && ok; i++) {
            int hi = cf_hex_digit(text[2 * i]), lo = cf_hex_digit(text[2 * i + 1]);
            if (hi < 0 || lo < 0)
                ok = 0;
            else
                kek[i] = (uint8_t)(hi << 4 | lo);
        }
    } else if (len == 43) {
        ok = cf_b64url_decode(text, len, buf, sizeof buf, &n) == 0 && n == CF_KEK_LEN;
        if (!ok)
            ok = cf_b64std_decode(text, len, buf, sizeof buf, &n) == 0 && n == CF_KEK_LEN;
        if (ok)
            memcpy(kek, buf, CF_KEK_LEN);
    } else if (len == 44) {
        ok = cf_b64std_decode(text, len, buf, sizeof buf, &n) == 0 && n == CF_KEK_LEN;
        if (ok)
            memcpy(kek, buf, CF_KEK_LEN);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    if (!ok) {
        OPENSSL_cleanse(kek, CF_KEK_LEN);
        return CF_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------ AES-256-GCM */

static int gcm_seal(const uint8_t kek[CF_KEK_LEN], const uint8_t iv[GCM_IV_LEN], const char *aad,
                    const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[GCM_TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, rc = CF_ECRYPTO;

    if (ctx == NULL)
        return CF_ENOMEM;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) == 1 &&
        EVP_EncryptInit_ex(ctx, NULL, NULL, kek, iv) == 1 &&
        EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
        EVP_EncryptUpdate(ctx, ct, &n, pt, (int)len) == 1 && (size_t)n == len &&
        EVP_EncryptFinal_ex(ctx, ct + n, &n) == 1 && n == 0 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) == 1)
        rc = 0;
    EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
    return rc;
}

/* 0 and @pt filled; CF_ECRYPTO when the tag does not verify (wrong key or tampering). */
static int gcm_open(const uint8_t kek[CF_KEK_LEN], const uint8_t iv[GCM_IV_LEN], const char *aad,
                    const uint8_t *ct, size_t len, const uint8_t tag[GCM_TAG_LEN], uint8_t *pt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t tagcopy[GCM_TAG_LEN];
    int n = 0, rc = CF_ECRYPTO;

    if (ctx == NULL)
        return CF_ENOMEM;
    memcpy(tagcopy, tag, sizeof tagcopy); /* the ctrl takes a non-const pointer */
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) == 1 &&
        EVP_DecryptInit_ex(ctx, NULL, NULL, kek, iv) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(ctx, pt, &n, ct, (int)len) == 1 && (size_t)n == len &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tagcopy) == 1 &&
        EVP_DecryptFinal_ex(ctx, pt + n, &n) == 1)
        rc = 0;
    EVP_CIPHER_CTX_free(ctx);
    if (rc < 0) {
        OPENSSL_cleanse(pt, len);
        ERR_clear_error(); /* a wrong KEK is an answer, not a fault to log later */
    }
    return rc;
}

/* ------------------------------------------------------ serialisation */

static json_t *b64_string(const uint8_t *b, size_t n)
{
    char s[128];

    cf_b64url_encode(b, n, s); /* n <= 32: 43 characters */
    return json_string(s);
}

static int entry_json(const cf_keyset_entry_t *e, const uint8_t *kek, json_t **out)
{
    uint8_t d[CF_JWS_KEY_LEN], x[CF_JWS_KEY_LEN], iv[GCM_IV_LEN], ct[CF_JWS_KEY_LEN],
        tag[GCM_TAG_LEN];
    char d64[48];
    const char *kid = cf_jws_key_kid(e->key);
    json_t *o;
    int rc;

    *out = NULL;
    rc = cf_jws_key_raw_private(e->key, d);
    if (rc < 0)
        return rc;
    cf_jws_key_raw_public(e->key, x);
    o = json_pack("{s:s, s:o, s:I, s:I, s:I}", "kid", kid, "x", b64_string(x, sizeof x),
                  "created_at", (json_int_t)e->created_at, "activated_at",
                  (json_int_t)e->activated_at, "deactivated_at", (json_int_t)e->deactivated_at);
    if (o == NULL) {
        rc = CF_ENOMEM;
        goto done;
    }
    if (kek == NULL) {
        /* json_string copies into jansson's heap, which is not wiped on free:
         * that is why a KEK should be configured wherever the file matters. */
        cf_b64url_encode(d, sizeof d, d64);
        rc = json_object_set_new(o, "d", json_string(d64)) == 0 ? 0 : CF_ENOMEM;
        goto done;
    }
    if (RAND_bytes(iv, sizeof iv) != 1) {
        rc = CF_ECRYPTO;
        goto done;
    }
    rc = gcm_seal(kek, iv, kid, d, sizeof d, ct, tag);
    if (rc < 0)
        goto done;
    if (json_object_set_new(o, "enc", json_string("A256GCM")) < 0 ||
        json_object_set_new(o, "iv", b64_string(iv, sizeof iv)) < 0 ||
        json_object_set_new(o, "ct", b64_string(ct, sizeof ct)) < 0 ||
        json_object_set_new(o, "tag", b64_string(tag, sizeof tag)) < 0)
        rc = CF_ENOMEM;
done:
    OPENSSL_cleanse(d, sizeof d);
    OPENSSL_cleanse(d64, sizeof d64);
    if (rc < 0)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int cf_keyset_to_json(const cf_keyset_t *ks, const uint8_t *kek, char **out)
{
    json_t *doc = NULL, *keys = json_array(), *o;
    int rc = 0;

    *out = NULL;
    if (keys == NULL)
        return CF_ENOMEM;
    for (size_t i = 0; i < ks->n; i++) {
        rc = entry_json(&ks->e[i], kek, &o);
        if (rc < 0) {
            json_decref(keys);
            return rc;
        }
        json_array_append_new(keys, o);
    }
    doc = json_pack("{s:i, s:I, s:o}", "v", KEYSET_FORMAT, "version", (json_int_t)ks->version,
                    "keys", keys);
    if (doc == NULL)
        return CF_ENOMEM;
    *out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return *out != NULL ? 0 : CF_ENOMEM;
}

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap); /* a cut message is still a message */
        va_end(ap);
    }
    return rc;
}

/* A base64url member of exactly @want bytes. */
static int get_b64(json_t *o, const char *name, size_t idx, uint8_t *out, size_t want, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, name);
    uint8_t buf[64];
    size_t n = 0;
    int rc;

    if (v == NULL)
        return say(err, errlen, CF_EPARSE, "keys[%zu].%s: missing", idx, name);
    rc = json_is_string(v) ? cf_b64url_decode(json_string_value(v), json_string_length(v), buf,
                                              sizeof buf, &n)
                           : CF_EPARSE;
    if (rc < 0 || n != want) {
        OPENSSL_cleanse(buf, sizeof buf);
        return say(err, errlen, CF_EPARSE, "keys[%zu].%s: expected the base64url of %zu bytes", idx,
                   name, want);
    }
    memcpy(out, buf, want);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

static int get_time(json_t *o, const char *name, size_t idx, cf_time_t *out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return say(err, errlen, CF_EPARSE,
                   "keys[%zu].%s: expected a non-negative integer (Unix milliseconds)", idx, name);
    *out = (cf_time_t)json_integer_value(v);
    return 0;
}

static const char *const known_members[] = {"kid", "x", "created_at", "activated_at",
                                            "deactivated_at", "d", "enc", "iv", "ct", "tag", NULL};

/* Read keys[@idx] into @e (key owned by @e on success). */
/* The members of entry @idx are all known and its kid is usable: *@kid borrowed from @o. */
static int entry_kid(json_t *o, size_t idx, const char **kid, char *err, size_t errlen)
{
    json_t *k, *v;
    const char *name;

    if (!json_is_object(o))
        return say(err, errlen, CF_EPARSE, "keys[%zu]: expected an object", idx);
    json_object_foreach(o, name, v) {
        size_t m = 0;
        while (known_members[m] != NULL && strcmp(known_members[m], name) != 0)
            m++;
        if (known_members[m] == NULL)
            return say(err, errlen, CF_EPARSE, "keys[%zu]: unknown member '%.40s'", idx, name);
    }
    k = json_object_get(o, "kid");
    if (!json_is_string(k) || json_string_length(k) == 0 || json_string_length(k) > CF_JWS_KID_MAX ||
        strlen(json_string_value(k)) != json_string_length(k))
        return say(err, errlen, CF_EPARSE, "keys[%zu].kid: expected a string of 1 to %d characters",
                   idx, CF_JWS_KID_MAX);
    *kid = json_string_value(k);
    return 0;
}

/* The public half and the three instants of entry @idx. */
static int entry_public(json_t *o, size_t idx, uint8_t x[CF_JWS_KEY_LEN], cf_keyset_entry_t *e,
                        char *err, size_t errlen)
{
    int rc = get_b64(o, "x", idx, x, CF_JWS_KEY_LEN, err, errlen);

    if (rc == 0)
        rc = get_time(o, "created_at", idx, &e->created_at, err, errlen);
    if (rc == 0)
        rc = get_time(o, "activated_at", idx, &e->activated_at, err, errlen);
    if (rc == 0)
        rc = get_time(o, "deactivated_at", idx, &e->deactivated_at, err, errlen);
    if (rc < 0)
        return rc;
    if (e->deactivated_at != 0 && e->deactivated_at < e->activated_at)
        return say(err, errlen, CF_EPARSE, "keys[%zu].deactivated_at: before activated_at", idx);
    return 0;
}

/* The private half of entry @idx sealed under @kek ("enc": "A256GCM"), opened into @d. */
static int entry_sealed(json_t *o, size_t idx, const uint8_t *kek, const char *kid,
                        uint8_t d[CF_JWS_KEY_LEN], char *err, size_t errlen)
{
    uint8_t iv[GCM_IV_LEN], ct[CF_JWS_KEY_LEN], tag[GCM_TAG_LEN];
    json_t *enc = json_object_get(o, "enc");
    int rc;

    if (!json_is_string(enc) || strcmp(json_string_value(enc), "A256GCM") != 0)
        return say(err, errlen, CF_EPARSE, "keys[%zu].enc: expected \"A256GCM\"", idx);
    rc = get_b64(o, "iv", idx, iv, sizeof iv, err, errlen);
    if (rc == 0)
        rc = get_b64(o, "ct", idx, ct, sizeof ct, err, errlen);
    if (rc == 0)
        rc = get_b64(o, "tag", idx, tag, sizeof tag, err, errlen);
    if (rc < 0)
        return rc;
    if (kek == NULL)
        return say(err, errlen, CF_ECONFIG,
                   "keys[%zu] (kid %.60s) is encrypted but no key-encryption key is "
                   "configured (CURFEW_KEK or keys.kek_file)",
                   idx, kid);
    rc = gcm_open(kek, iv, kid, ct, sizeof ct, tag, d);
    if (rc < 0)
        return say(err, errlen, rc == CF_ENOMEM ? CF_ENOMEM : CF_ECRYPTO,
                   "keys[%zu] (kid %.60s) does not decrypt: wrong key-encryption key, or "
                   "the file was altered",
                   idx, kid);
    return 0;
}

/* The private half of entry @idx into @d, in clear ("d") or sealed; *@clear says which. */
static int entry_private(json_t *o, size_t idx, const uint8_t *kek, const char *kid,
                         uint8_t d[CF_JWS_KEY_LEN], int *clear, char *err, size_t errlen)
{
    int rc;

    if (json_object_get(o, "d") != NULL && json_object_get(o, "enc") != NULL)
        return say(err, errlen, CF_EPARSE, "keys[%zu]: both \"d\" and \"enc\" (in clear or encrypted, not both)", idx);
    if (json_object_get(o, "enc") != NULL) {
        *clear = 0;
        return entry_sealed(o, idx, kek, kid, d, err, errlen);
    }
    if (json_object_get(o, "iv") || json_object_get(o, "ct") || json_object_get(o, "tag"))
        return say(err, errlen, CF_EPARSE, "keys[%zu]: \"iv\", \"ct\" or \"tag\" without \"enc\"", idx);
    rc = get_b64(o, "d", idx, d, CF_JWS_KEY_LEN, err, errlen);
    if (rc < 0)
        return rc;
    *clear = 1;
    return 0;
}

static int parse_entry(json_t *o, size_t idx, const uint8_t *kek, cf_keyset_entry_t *e,
                       int *clear, char *err, size_t errlen)
{
    uint8_t x[CF_JWS_KEY_LEN], d[CF_JWS_KEY_LEN];
    const char *kid = NULL;
    int rc;

    memset(e, 0, sizeof *e);
    rc = entry_kid(o, idx, &kid, err, errlen);
    if (rc == 0)
        rc = entry_public(o, idx, x, e, err, errlen);
    if (rc == 0)
        rc = entry_private(o, idx, kek, kid, d, clear, err, errlen);
    if (rc < 0) {
        OPENSSL_cleanse(d, sizeof d); /* a half-opened key is still a secret */
        return rc;
    }
    rc = cf_jws_key_from_raw(d, x, kid, &e->key);
    OPENSSL_cleanse(d, sizeof d);
    if (rc == CF_EINVAL)
        return say(err, errlen, CF_EPARSE,
                   "keys[%zu]: not a valid Ed25519 key pair with a valid kid (\"d\" must match "
                   "\"x\"; a kid is visible ASCII)",
                   idx);
    if (rc < 0)
        return say(err, errlen, rc, "keys[%zu]: %s", idx, cf_strerror(rc));
    return 0;
}

/* Order: active first, then by deactivated_at, newest first (insertion sort; n <= 64). */
static void sort_entries(cf_keyset_t *ks)
{
    for (size_t i = 1; i < ks->n; i++) {
        cf_keyset_entry_t t = ks->e[i];
        size_t j = i;
        while (j > 0 && ks->e[j - 1].deactivated_at != 0 &&
               (t.deactivated_at == 0 || ks->e[j - 1].deactivated_at < t.deactivated_at)) {
            ks->e[j] = ks->e[j - 1];
            j--;
        }
        ks->e[j] = t;
    }
    reindex(ks);
}

/* The document's envelope: an object of format v 1, a positive version and a keys array. */
static int check_envelope(json_t *doc, json_t **version, json_t **keys, char *err, size_t errlen)
{
    json_t *v;

    if (!json_is_object(doc))
        return say(err, errlen, CF_EPARSE, "expected a JSON object");
    v = json_object_get(doc, "v");
    if (!json_is_integer(v))
        return say(err, errlen, CF_EPARSE, "v: missing or not an integer (the format version, 1)");
    if (json_integer_value(v) != KEYSET_FORMAT)
        return say(err, errlen, CF_EPARSE, "v: unsupported format %lld (this curfew reads %d)",
                   (long long)json_integer_value(v), KEYSET_FORMAT);
    *version = json_object_get(doc, "version");
    if (!json_is_integer(*version) || json_integer_value(*version) < 1)
        return say(err, errlen, CF_EPARSE, "version: expected a positive integer");
    *keys = json_object_get(doc, "keys");
    if (!json_is_array(*keys) || json_array_size(*keys) == 0)
        return say(err, errlen, CF_EPARSE, "keys: expected a non-empty array");
    if (json_array_size(*keys) > CF_KEYSET_MAX)
        return say(err, errlen, CF_ETOOBIG, "keys: more than %d keys", CF_KEYSET_MAX);
    return 0;
}

/*
 * Every entry of @keys into @ks, in order: no kid twice, exactly one active
 * key. *@clear counts the entries whose private key was in clear.
 */
static int add_entries(cf_keyset_t *ks, json_t *keys, const uint8_t *kek, size_t *clear,
                       char *err, size_t errlen)
{
    size_t active = SIZE_MAX;
    int rc;

    for (size_t i = 0; i < json_array_size(keys); i++) {
        int is_clear = 0;
        rc = parse_entry(json_array_get(keys, i), i, kek, &ks->e[i], &is_clear, err, errlen);
        if (rc < 0)
            return rc;
        ks->n = i + 1;
        *clear += (size_t)is_clear;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cf_jws_key_kid(ks->e[j].key), cf_jws_key_kid(ks->e[i].key)) == 0)
                return say(err, errlen, CF_EPARSE, "keys[%zu].kid: same kid as keys[%zu]", i, j);
        if (ks->e[i].deactivated_at == 0) {
            if (active != SIZE_MAX)
                return say(err, errlen, CF_EPARSE,
                           "more than one active key (keys[%zu] and keys[%zu])", active, i);
            active = i;
        }
    }
    if (active == SIZE_MAX)
        return say(err, errlen, CF_EPARSE, "no active key (every key has a deactivated_at)");
    return 0;
}

int cf_keyset_from_json(const char *json, size_t len, const uint8_t *kek, cf_keyset_t **out,
                        size_t *nclear, char *err, size_t errlen)
{
    cf_keyset_t *ks = NULL;
    json_t *doc = NULL, *version = NULL, *keys = NULL;
    json_error_t jerr;
    size_t clear = 0;
    int rc;

    *out = NULL;
    if (nclear != NULL)
        *nclear = 0;
    if (json == NULL)
        return say(err, errlen, CF_EPARSE, "no document");
    if (len > CF_KEYSET_MAX_JSON)
        return say(err, errlen, CF_ETOOBIG, "larger than %d bytes", CF_KEYSET_MAX_JSON);
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return say(err, errlen, CF_EPARSE, "line %d column %d: %s", jerr.line, jerr.column,
                   jerr.text);
    rc = check_envelope(doc, &version, &keys, err, errlen);
    if (rc < 0)
        goto done;
    ks = calloc(1, sizeof *ks);
    if (ks == NULL) {
        rc = say(err, errlen, CF_ENOMEM, "out of memory");
        goto done;
    }
    ks->version = (uint64_t)json_integer_value(version);
    rc = add_entries(ks, keys, kek, &clear, err, errlen);
    if (rc < 0)
        goto done;
    sort_entries(ks);
    if (nclear != NULL)
        *nclear = clear;
    *out = ks;
    ks = NULL;
done:
    cf_keyset_free(ks);
    json_decref(doc);
    return rc;
}
