/* SPDX-License-Identifier: MIT
 *
 * Compact JWS (RFC 7515) signed with Ed25519 ("EdDSA", RFC 8037): signing
 * keys, signing, and the verdict on a presented token. The algorithm is
 * pinned by the key: every key is Ed25519, so the header's "alg" is checked
 * to be "EdDSA" and never used to choose how to verify. This module must
 * never accept "none", an HMAC, or any algorithm named by the token; never
 * accept a token whose "kid" is not one of the caller's keys; and never
 * hand back a payload whose signature it has not verified.
 */
#ifndef CF_CORE_JWS_H
#define CF_CORE_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/reason.h"

/** Longest compact JWS cf_jws_verify() looks at, and cf_jws_sign() produces. */
#define CF_JWS_MAX_LEN 8192

/** Length of an Ed25519 raw key (private seed or public point). */
#define CF_JWS_KEY_LEN 32

/** Length of an Ed25519 signature. */
#define CF_JWS_SIG_LEN 64

/** Longest kid a key may carry (bytes, without NUL). */
#define CF_JWS_KID_MAX 255

/**
 * An Ed25519 key with its key id: a public key, or a key pair. Opaque;
 * immutable once built, so one key may be shared by threads for signing and
 * verifying. Free with cf_jws_key_free().
 */
typedef struct cf_jws_key cf_jws_key_t;

/**
 * Generate a new Ed25519 key pair whose kid is its RFC 7638 JWK thumbprint
 * (base64url of the SHA-256 of {"crv":"Ed25519","kty":"OKP","x":...}).
 * Returns 0 and sets *@out (caller owns it); CF_ENOMEM or CF_ECRYPTO.
 */
int cf_jws_key_generate(cf_jws_key_t **out);

/**
 * Build a key from raw bytes. @priv32 is the 32-byte private seed ("d" in a
 * JWK) or NULL for a verify-only key; @pub32 is the 32-byte public key ("x").
 * When both are given they must match (else CF_EINVAL); @pub32 may be NULL
 * when @priv32 is given, and is then derived. @kid is copied; NULL means the
 * RFC 7638 thumbprint. A kid must be 1 to CF_JWS_KID_MAX visible ASCII
 * characters (0x21-0x7e), else CF_EINVAL. Returns 0 and sets *@out (caller owns it); CF_EINVAL for an
 * invalid key, CF_ENOMEM, CF_ECRYPTO.
 */
int cf_jws_key_from_raw(const uint8_t *priv32, const uint8_t *pub32, const char *kid,
                        cf_jws_key_t **out);

/**
 * Read an Ed25519 key from PEM: a private key (PKCS#8 "PRIVATE KEY") or a
 * public key ("PUBLIC KEY"). @pem need not be NUL-terminated. Encrypted PEM
 * is refused (this never prompts). The kid is the RFC 7638 thumbprint.
 * Returns 0 and sets *@out (caller owns it); CF_EPARSE when no key can be
 * read; CF_EINVAL for a NULL @pem or a key that is not Ed25519; CF_ETOOBIG for @len over
 * 64 KiB; CF_ENOMEM; CF_ECRYPTO.
 */
int cf_jws_key_from_pem(const char *pem, size_t len, cf_jws_key_t **out);

/**
 * Write the private key of @k as PKCS#8 PEM into a new NUL-terminated string
 * *@pem_out. The caller owns it and should OPENSSL_cleanse() it before
 * free(). Returns 0; CF_EINVAL if @k has no private key; CF_ENOMEM;
 * CF_ECRYPTO. Nothing is allocated on error.
 */
int cf_jws_key_to_pem(const cf_jws_key_t *k, char **pem_out);

/**
 * Copy the 32-byte private seed of @k ("d" in a JWK) into @out, which the
 * caller should OPENSSL_cleanse() when done. Returns 0; CF_EINVAL if @k has
 * no private key; CF_ECRYPTO.
 */
int cf_jws_key_raw_private(const cf_jws_key_t *k, uint8_t out[CF_JWS_KEY_LEN]);

/** Copy the 32-byte public key of @k ("x" in a JWK) into @out. Cannot fail. */
void cf_jws_key_raw_public(const cf_jws_key_t *k, uint8_t out[CF_JWS_KEY_LEN]);

/** The kid of @k, owned by @k and valid until cf_jws_key_free(@k). Never NULL. */
const char *cf_jws_key_kid(const cf_jws_key_t *k);

/** 1 if @k can sign, 0 if it is verify-only. */
int cf_jws_key_has_private(const cf_jws_key_t *k);

/**
 * The public half of @k as a JWK for a JWKS document, a new reference the
 * caller owns: {"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA",
 * "use":"sig"}. Never contains "d". Returns 0; CF_ENOMEM; CF_ECRYPTO.
 */
int cf_jws_key_public_jwk(const cf_jws_key_t *k, json_t **out);

/** Free @k and wipe its key material. NULL is a no-op. */
void cf_jws_key_free(cf_jws_key_t *k);

/**
 * Sign @payload_len bytes of @payload_json (the caller vouches that it is a
 * JSON object; it is signed byte for byte) with @k, under the protected
 * header {"alg":"EdDSA","typ":@typ,"kid":<kid>} in exactly that order ("typ"
 * left out when @typ is NULL). Sets *@out to a new NUL-terminated compact JWS
 * the caller frees with free(). Returns 0; CF_EINVAL if @k cannot sign;
 * CF_ETOOBIG if the token would exceed CF_JWS_MAX_LEN (so that this server
 * never issues a token it would itself refuse); CF_ENOMEM; CF_ECRYPTO.
 */
int cf_jws_sign(const cf_jws_key_t *k, const char *typ, const char *payload_json, size_t payload_len,
                char **out);

/**
 * A compact JWS prepared by cf_jws_sign_prepare() and not yet signed: the
 * signing input "<header>.<payload>." with room for the signature, and a
 * reference of its own to the key, so that cf_jws_sign_finish() may run on
 * another thread (libuv's pool) while the key set changes or the key is
 * freed on the loop. Zero it, or let cf_jws_sign_prepare() set it.
 */
typedef struct {
    char *tok;                 /* owned; "<header>.<payload>." then the signature */
    size_t tbslen;             /* the bytes signed: up to the second '.' */
    struct evp_pkey_st *pkey;  /* owned reference */
} cf_jws_unsigned_t;

/**
 * The part of cf_jws_sign() that can fail on its inputs: the header and
 * payload encoded into @out->tok, with the same checks and errors (CF_EINVAL,
 * CF_ETOOBIG, CF_ENOMEM). On success free @out with cf_jws_unsigned_fini().
 */
int cf_jws_sign_prepare(const cf_jws_key_t *k, const char *typ, const char *payload_json,
                        size_t payload_len, cf_jws_unsigned_t *out);

/**
 * Compute the signature of @u and move its finished token to *@out (the
 * caller frees it with free()). Touches nothing but @u: safe on any thread.
 * Returns 0; CF_ENOMEM; CF_ECRYPTO (then *@out is NULL and @u keeps its text).
 */
int cf_jws_sign_finish(cf_jws_unsigned_t *u, char **out);

/** Free what @u still holds (its text, its key reference). NULL-safe, idempotent. */
void cf_jws_unsigned_fini(cf_jws_unsigned_t *u);

/**
 * Sign the JWS signing input "<@protected_b64>.<@payload_b64>" as given,
 * without looking at what the segments decode to (for test vectors such as
 * RFC 8037 A.4). Both segments must consist of base64url characters only.
 * Sets *@out to a new compact JWS the caller frees with free(). Returns 0;
 * CF_EINVAL (bad segment, or @k cannot sign); CF_ENOMEM; CF_ECRYPTO.
 */
int cf_jws_sign_raw(const cf_jws_key_t *k, const char *protected_b64, size_t plen,
                    const char *payload_b64, size_t len, char **out);

/**
 * Check only the Ed25519 signature of compact JWS @tok (@len bytes) against
 * @k, ignoring the header and payload entirely (RFC 8037 A.5). Sets *@valid
 * to 1 or 0. Returns 0; CF_EINVAL if @tok is not three segments; CF_ECRYPTO.
 * For test vectors and diagnostics only: it checks no alg, kid or claims,
 * so it must never decide whether a request is authorized.
 */
int cf_jws_verify_raw(const cf_jws_key_t *k, const char *tok, size_t len, int *valid);

/**
 * Decide whether compact JWS @tok (@len bytes, need not be NUL-terminated) is
 * validly signed by one of @nkeys keys in @keys (borrowed; the key is chosen
 * by the header's kid, first match wins).
 *
 * Returns 0 when a verdict was reached and sets *@why; only then, and only
 * when *@why is CF_REASON_NONE, *@payload_out receives a new reference to the
 * payload object that the caller must json_decref(); otherwise it is NULL.
 * Returns CF_EINVAL for NULL arguments, CF_ENOMEM or CF_ECRYPTO for internal
 * failures; *@payload_out is NULL then.
 *
 * Verdicts, in the order they are checked:
 *  - over CF_JWS_MAX_LEN bytes, not exactly three segments, any segment not
 *    strict base64url, header not a JSON object (duplicate member names
 *    included), "crit" present, "alg" absent or not a string, "kid" present
 *    but not a string: CF_REASON_MALFORMED_TOKEN;
 *  - "alg" other than "EdDSA" ("none", "HS256", anything): CF_REASON_BAD_SIGNATURE;
 *  - "kid" absent, or not the kid of any key: CF_REASON_UNKNOWN_KEY;
 *  - signature not 64 bytes, or not verifying: CF_REASON_BAD_SIGNATURE;
 *  - payload not a JSON object (checked only after the signature verified,
 *    so unauthenticated input never reaches the payload parser):
 *    CF_REASON_MALFORMED_TOKEN.
 * Claims (exp, aud, ...) are not looked at; see token.h. Thread-safe.
 */
int cf_jws_verify(const char *tok, size_t len, const cf_jws_key_t *const *keys, size_t nkeys,
                  json_t **payload_out, cf_reason_t *why);

/**
 * cf_jws_verify() that also requires the header's "typ" to be the media type
 * @typ (e.g. "at+jwt"): compared case-insensitively, with or without the
 * "application/" prefix (RFC 7515 §4.1.9), no parameters. A "typ" that is
 * absent, not a string or another type is CF_REASON_MALFORMED_TOKEN, judged
 * with the other header checks (before "alg"). @typ NULL checks nothing.
 */
int cf_jws_verify_typ(const char *tok, size_t len, const cf_jws_key_t *const *keys, size_t nkeys,
                      const char *typ, json_t **payload_out, cf_reason_t *why);

#endif
