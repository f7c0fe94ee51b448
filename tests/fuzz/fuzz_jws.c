/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the token front door: compact JWS parsing
 * (cf_jws_verify_typ), the access-token claim checks behind it
 * (cf_token_check_claims), the strict base64url decoder, and the key-set
 * document (cf_keyset_from_json, read from keys files and from Redis).
 *
 * Why the harness signs: a mutated token never verifies, so a fuzzer that
 * only mutates signed tokens stops at the signature and never reaches the
 * claims. Here the harness holds the signing key (a fixed Ed25519 seed, so a
 * crash replays) and signs whatever header and claims the fuzzer writes; the
 * verifier then sees a valid signature over hostile JSON, which is what an
 * attacker who stole a signing key, or a bug in the issuer, would produce.
 *
 * The first input byte picks the mode (its low two bits), the rest is:
 *   0: a token as presented in "Authorization: Bearer": verified against a
 *      key that never signed anything (nothing may pass) and against the
 *      harness's keys (the seeds are signed: claims reached, until a
 *      mutation breaks the signature); b64url must round-trip;
 *   1: the claims JSON, signed under the issuer's own header;
 *   2: "<protected header JSON>\n<claims JSON>", both signed as given;
 *   3: a key-set document (keys.json), read with and without a KEK.
 * Oracles: a signature the harness made always verifies (the verdict is then
 * about the JSON); claims that pass are re-issued with cf_token_access_payload
 * and must pass again with the same values (issuer and verifier agree).
 *
 * Build: make fuzz-build; run: scripts/fuzz-run.sh jws 600.
 * Seeds (tests/fuzz/corpus/jws): tokens and payloads as curfew issues them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64url.h"
#include "core/error.h"
#include "core/jws.h"
#include "core/keyset.h"
#include "core/token.h"

#define NOW_S INT64_C(1790000000) /* the seeds' tokens are valid at this instant */
#define ISSUER "https://auth.example.com"
#define AUDIENCE "api"
/* One verifier for the first check and the re-issue: a token checked again
 * with a narrower leeway than it passed with is refused for time alone (exp
 * in [now - leeway, now], iat up to leeway ahead), not for what the issuer
 * wrote. */
static const cf_token_expect_t expect = {ISSUER, AUDIENCE, 30 * CF_SEC};

static cf_jws_key_t *signer, *other; /* other: a second verifying key, as after a rotation */
static cf_jws_key_t *nobody;         /* a fresh key nothing was ever signed with */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)         \
    do {                 \
        if (!(x))        \
            abort();     \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t seed[CF_JWS_KEY_LEN];

    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(i + 1);
    CHECK(cf_jws_key_from_raw(seed, NULL, "fuzz-key", &signer) == 0);
    seed[0] ^= 0xff;
    CHECK(cf_jws_key_from_raw(seed, NULL, "old-key", &other) == 0);
    CHECK(cf_jws_key_generate(&nobody) == 0);
    return 0;
}

static void check_signed(const char *tok, size_t len);

static void check_raw_token(const uint8_t *data, size_t size)
{
    const cf_jws_key_t *keys[2] = {nobody, other};
    json_t *payload = NULL;
    cf_reason_t why = CF_REASON__COUNT;
    uint8_t out[CF_JWS_MAX_LEN];
    size_t outlen = 0;
    int rc;

    rc = cf_jws_verify((const char *)data, size, keys, 2, &payload, &why);
    if (rc == 0) {
        /* The key never signed these bytes: nothing may verify. */
        CHECK(why != CF_REASON_NONE && why < CF_REASON__COUNT && payload == NULL);
    } else {
        CHECK(rc == CF_ENOMEM || rc == CF_ECRYPTO);
    }
    json_decref(payload);
    /* The seeds are signed by the harness's key: those reach the claims. */
    check_signed((const char *)data, size);

    rc = cf_b64url_decode((const char *)data, size, out, sizeof(out), &outlen);
    if (rc == 0) {
        /* Strictness: what decodes must re-encode to exactly the input. */
        char *enc = malloc(cf_b64url_encoded_len(outlen) + 1);
        CHECK(enc != NULL);
        CHECK(cf_b64url_encode(out, outlen, enc) == size && memcmp(enc, data, size) == 0);
        free(enc);
    } else {
        CHECK((rc == CF_EPARSE || rc == CF_ETOOBIG) && outlen == 0);
    }
}

/* Split a space-separated roles string into @v (pointers into @buf). */
static size_t split_roles(char *buf, const char **v, size_t cap)
{
    size_t n = 0;

    for (char *save = NULL, *r = strtok_r(buf, " ", &save); r != NULL && n < cap;
         r = strtok_r(NULL, " ", &save))
        v[n++] = r;
    return n;
}

/* Claims that passed must survive being issued again: same verdict, same values. */
static void check_reissue(const cf_access_claims_t *c)
{
    const cf_jws_key_t *keys[1] = {signer};
    char roles[sizeof c->roles];
    const char *rv[256];
    cf_access_token_spec_t spec = {
        .issuer = ISSUER, .audience = AUDIENCE, .sub = c->sub, .sid = c->sid,
        .client_id = c->client_id[0] != '\0' ? c->client_id : NULL, .jti = c->jti,
        .scope = c->scope[0] != '\0' ? c->scope : NULL, .roles = rv,
        .iat = c->iat, .exp = c->exp, .auth_time = c->auth_time,
        .cnf = c->cnf.kind != CF_CNF_NONE ? &c->cnf : NULL,
    };
    cf_access_claims_t again;
    cf_reason_t why;
    json_t *payload = NULL;
    char *json = NULL, *tok = NULL;

    memcpy(roles, c->roles, sizeof roles);
    spec.nroles = split_roles(roles, rv, sizeof rv / sizeof rv[0]);
    /* exp <= iat passes the verifier (an instant, not a rule on the pair), but
     * the issuer never makes one, nor one with an nbf; those stop here. */
    if (c->exp <= c->iat || c->nbf != 0)
        return;
    if (cf_token_access_payload(&spec, &json) != 0)
        abort(); /* the verifier took these claims: the issuer must be able to write them */
    CHECK(cf_jws_sign(signer, "at+jwt", json, strlen(json), &tok) == 0);
    CHECK(cf_jws_verify_typ(tok, strlen(tok), keys, 1, "at+jwt", &payload, &why) == 0);
    CHECK(why == CF_REASON_NONE);
    CHECK(cf_token_check_claims(payload, &expect, NOW_S * CF_SEC, &again, &why) == 0);
    CHECK(why == CF_REASON_NONE);
    CHECK(strcmp(again.sub, c->sub) == 0 && strcmp(again.sid, c->sid) == 0);
    CHECK(strcmp(again.jti, c->jti) == 0 && strcmp(again.scope, c->scope) == 0);
    CHECK(strcmp(again.client_id, c->client_id) == 0 && strcmp(again.roles, c->roles) == 0);
    CHECK(again.exp == c->exp && again.iat == c->iat && again.auth_time == c->auth_time);
    CHECK(again.cnf.kind == c->cnf.kind && strcmp(again.cnf.v, c->cnf.v) == 0);
    json_decref(payload);
    free(tok);
    free(json);
}

/* Verify a token (signed by the harness's key, or not), then judge its claims. */
static void check_signed(const char *tok, size_t len)
{
    const cf_jws_key_t *keys[2] = {other, signer};
    json_t *payload = NULL;
    cf_access_claims_t claims;
    cf_reason_t why = CF_REASON__COUNT;
    int rc;

    rc = cf_jws_verify_typ(tok, len, keys, 2, "at+jwt", &payload, &why);
    if (rc != 0) {
        CHECK(rc == CF_ENOMEM || rc == CF_ECRYPTO);
        return;
    }
    CHECK(why < CF_REASON__COUNT);
    CHECK((why == CF_REASON_NONE) == (payload != NULL));
    if (payload == NULL)
        return;
    CHECK(json_is_object(payload));
    CHECK(cf_token_check_claims(payload, &expect, NOW_S * CF_SEC, &claims, &why) == 0);
    CHECK(why < CF_REASON__COUNT);
    /* The claims that time alone decides must agree with the one time check. */
    if (why == CF_REASON_NONE) {
        CHECK(cf_token_check_time(claims.exp, claims.iat, claims.nbf, NOW_S * CF_SEC, expect.leeway,
                                  expect.leeway) == CF_REASON_NONE);
        check_reissue(&claims);
    }
    json_decref(payload);
}

static void sign_claims(const char *p, size_t n)
{
    char *tok = NULL;
    int rc = cf_jws_sign(signer, "at+jwt", p, n, &tok);

    if (rc == 0)
        check_signed(tok, strlen(tok));
    else
        CHECK(rc == CF_ETOOBIG);
    free(tok);
}

static void sign_header_and_claims(const char *p, size_t n)
{
    const char *nl = memchr(p, '\n', n);
    size_t hlen, clen;
    char *h64, *c64, *tok = NULL;

    if (nl == NULL)
        return;
    hlen = (size_t)(nl - p);
    clen = n - hlen - 1;
    h64 = malloc(cf_b64url_encoded_len(hlen) + 1);
    c64 = malloc(cf_b64url_encoded_len(clen) + 1);
    CHECK(h64 != NULL && c64 != NULL);
    h64[cf_b64url_encode((const uint8_t *)p, hlen, h64)] = '\0';
    c64[cf_b64url_encode((const uint8_t *)nl + 1, clen, c64)] = '\0';
    if (cf_jws_sign_raw(signer, h64, strlen(h64), c64, strlen(c64), &tok) == 0)
        check_signed(tok, strlen(tok));
    free(tok);
    free(h64);
    free(c64);
}

static void check_keyset(const char *p, size_t n)
{
    uint8_t kek[CF_KEK_LEN];
    cf_keyset_t *ks = NULL, *back = NULL;
    char err[256], *json = NULL;
    size_t nclear = 0;

    memset(kek, 0x42, sizeof kek);
    for (int with_kek = 0; with_kek < 2; with_kek++) {
        int rc = cf_keyset_from_json(p, n, with_kek ? kek : NULL, &ks, &nclear, err, sizeof err);

        if (rc != 0) {
            CHECK(ks == NULL && err[0] != '\0');
            continue;
        }
        CHECK(cf_keyset_count(ks) >= 1 && cf_keyset_count(ks) <= CF_KEYSET_MAX);
        CHECK(cf_jws_key_has_private(cf_keyset_active(ks)));
        /* What reads back must serialise and read again to the same set. */
        CHECK(cf_keyset_to_json(ks, kek, &json) == 0);
        CHECK(cf_keyset_from_json(json, strlen(json), kek, &back, NULL, err, sizeof err) == 0);
        CHECK(cf_keyset_count(back) == cf_keyset_count(ks));
        CHECK(cf_keyset_version(back) == cf_keyset_version(ks));
        CHECK(strcmp(cf_jws_key_kid(cf_keyset_active(back)), cf_jws_key_kid(cf_keyset_active(ks))) == 0);
        free(json);
        json = NULL;
        cf_keyset_free(back);
        cf_keyset_free(ks);
        back = ks = NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0:
        check_raw_token(data + 1, n);
        break;
    case 1:
        sign_claims(p, n);
        break;
    case 2:
        sign_header_and_claims(p, n);
        break;
    default:
        check_keyset(p, n);
        break;
    }
    return 0;
}
