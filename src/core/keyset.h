/* SPDX-License-Identifier: MIT
 *
 * The signing key set: exactly one active key, which signs new tokens, and
 * older keys kept only to verify tokens they signed until the last of those
 * has expired, then retired (dropped). Decides which key signs, which keys
 * verify, when a key retires and when the next change is due; serialises the
 * set to a JSON document, with the private keys in clear or encrypted under a
 * key-encryption key (KEK).
 *
 * Pure: no I/O and no clock (times are parameters, Unix milliseconds). The
 * only outside input is randomness for fresh nonces (OpenSSL's RAND_bytes),
 * as for key generation in jws.c. Must never hand out a retired key, never
 * serialise private material in clear when a KEK is given, and never crash
 * on a hostile or corrupted document.
 *
 * The document (times in Unix milliseconds):
 *
 *   {"v": 1, "version": 7, "keys": [
 *     {"kid": "...", "x": "<b64url public key>", "created_at": 1790000000000,
 *      "activated_at": 1790000000000, "deactivated_at": 0,
 *      "d": "<b64url private seed>"},                           <- in clear, or
 *     {..., "enc": "A256GCM", "iv": "<b64url 12 bytes>",
 *      "ct": "<b64url 32 bytes>", "tag": "<b64url 16 bytes>"}]}   <- under the KEK
 *
 * "v" is the format; "version" counts rotations (it only grows), so that of
 * two documents the newer one can be told apart (cluster adoption). Each
 * encrypted key has its own random 96-bit nonce and the kid as additional
 * authenticated data, so a ciphertext cannot be moved to another kid.
 */
#ifndef CF_CORE_KEYSET_H
#define CF_CORE_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/jws.h"

/** Length of a key-encryption key (AES-256). */
#define CF_KEK_LEN 32

/** Most keys a set holds (a document with more is refused). */
#define CF_KEYSET_MAX 64

/** Longest document cf_keyset_from_json() reads. */
#define CF_KEYSET_MAX_JSON (256 * 1024)

/** "No change is ever due" for cf_keyset_next_change(). */
#define CF_KEYSET_NEVER INT64_MAX

/** One key of the set. */
typedef struct {
    cf_jws_key_t *key;        /* owned by the set; always has a private key */
    cf_time_t created_at;     /* when the key was made */
    cf_time_t activated_at;   /* when it started signing */
    cf_time_t deactivated_at; /* when it stopped signing; 0 while active */
} cf_keyset_entry_t;

/**
 * A key set. Opaque. Not thread-safe: one owner (the loop thread); the keys
 * it hands out are borrowed and valid until the next call that changes the
 * set (rotate, retire, free).
 */
typedef struct cf_keyset cf_keyset_t;

/**
 * A new set whose only key is @first, active since @now, version 1. Takes
 * ownership of @first on success only. Returns 0 and sets *@out; CF_EINVAL
 * when @first cannot sign; CF_ENOMEM.
 */
int cf_keyset_new(cf_jws_key_t *first, cf_time_t now, cf_keyset_t **out);

/** Free @ks and wipe its keys. NULL is a no-op. */
void cf_keyset_free(cf_keyset_t *ks);

/**
 * A deep copy of @ks (keys re-built from their raw bytes), so a change can be
 * prepared, made durable, and only then swapped in. Returns 0; CF_ENOMEM;
 * CF_ECRYPTO.
 */
int cf_keyset_dup(const cf_keyset_t *ks, cf_keyset_t **out);

/** The key that signs new tokens. Never NULL. */
const cf_jws_key_t *cf_keyset_active(const cf_keyset_t *ks);

/**
 * The key named @kid among the keys not yet retired (the active one
 * included), or NULL.
 */
const cf_jws_key_t *cf_keyset_find(const cf_keyset_t *ks, const char *kid);

/**
 * The keys that verify, active first then newest deactivated first, as an
 * array for cf_jws_verify(); *@n receives their count (>= 1).
 */
const cf_jws_key_t *const *cf_keyset_verify_keys(const cf_keyset_t *ks, size_t *n);

/** Number of keys (active + verifying). */
size_t cf_keyset_count(const cf_keyset_t *ks);

/** Entry @i in the order of cf_keyset_verify_keys() (0 is the active key), or NULL. */
const cf_keyset_entry_t *cf_keyset_entry(const cf_keyset_t *ks, size_t i);

/** The rotation counter: 1 for a new set, +1 per rotation. */
uint64_t cf_keyset_version(const cf_keyset_t *ks);

/**
 * Make @key (which must be able to sign and whose kid must not already be in
 * the set) the active key from @now; the previous active key keeps verifying
 * with deactivated_at = @now. The version grows by one. Takes ownership of
 * @key on success only. Returns 0; CF_EINVAL (cannot sign, duplicate kid,
 * @now before the active key's activation); CF_ETOOBIG when the set already
 * holds CF_KEYSET_MAX keys; CF_ENOMEM.
 */
int cf_keyset_rotate(cf_keyset_t *ks, cf_jws_key_t *key, cf_time_t now);

/**
 * Retire every verifying key whose deactivated_at + @keep <= @now. @keep must
 * cover the longest access-token lifetime plus the clock leeway: a token
 * signed at t <= deactivated_at expires by deactivated_at + max TTL and is
 * refused from then on + leeway, so no token this key signed is still
 * acceptable when it retires. The active key never retires. Returns how many
 * keys were retired.
 */
size_t cf_keyset_retire(cf_keyset_t *ks, cf_time_t now, cf_time_t keep);

/** When verifying key @e retires under @keep; CF_KEYSET_NEVER for the active key. */
cf_time_t cf_keyset_retires_at(const cf_keyset_entry_t *e, cf_time_t keep);

/**
 * The earliest time something is due: a verifying key retiring under @keep,
 * or, when @rotate_every > 0, the active key's automatic rotation at
 * activated_at + @rotate_every. CF_KEYSET_NEVER when nothing ever is.
 */
cf_time_t cf_keyset_next_change(const cf_keyset_t *ks, cf_time_t keep, cf_time_t rotate_every);

/** 1 when @rotate_every > 0 and the active key has signed for @rotate_every at @now. */
int cf_keyset_rotation_due(const cf_keyset_t *ks, cf_time_t now, cf_time_t rotate_every);

/**
 * Parse a key-encryption key: 32 bytes written as 64 hex digits, base64url
 * (43 characters, no padding) or base64 (44 with padding). Surrounding
 * whitespace (a trailing newline in a file) is ignored. Returns 0 with @kek
 * filled; CF_EINVAL for anything else (@kek is wiped then).
 */
int cf_keyset_kek_parse(const char *text, size_t len, uint8_t kek[CF_KEK_LEN]);

/**
 * Serialise @ks to a new NUL-terminated document in *@out (caller frees; it
 * holds private keys in clear when @kek is NULL, so OPENSSL_cleanse() it
 * first). With @kek (CF_KEK_LEN bytes) every private key is encrypted with
 * AES-256-GCM under a fresh random nonce. Returns 0; CF_ENOMEM; CF_ECRYPTO.
 */
int cf_keyset_to_json(const cf_keyset_t *ks, const uint8_t *kek, char **out);

/**
 * Read a document (@len bytes at @json, need not be NUL-terminated) into a
 * new set in *@out (caller owns it). @kek (CF_KEK_LEN bytes, or NULL)
 * decrypts encrypted keys; keys in clear are accepted either way, and their
 * number is stored in *@nclear when @nclear is not NULL (so a caller holding
 * a KEK knows to rewrite the file encrypted).
 *
 * Returns 0; on failure *@out is NULL and @err (@errlen bytes) says exactly
 * what is wrong, naming the member, e.g. "keys[1].x: expected the base64url
 * of 32 bytes", "line 3 column 5: ...", "more than one active key (keys[0]
 * and keys[2])":
 *  - CF_EPARSE: not JSON, wrong shape, a member missing or of the wrong type,
 *    a bad kid, a key whose "d" does not match its "x", duplicate kids, not
 *    exactly one active key;
 *  - CF_ETOOBIG: over CF_KEYSET_MAX_JSON bytes or CF_KEYSET_MAX keys;
 *  - CF_ECONFIG: a key is encrypted and @kek is NULL;
 *  - CF_ECRYPTO: a key does not decrypt (wrong KEK, or a tampered
 *    ciphertext, nonce, tag or kid; GCM cannot tell these apart);
 *  - CF_ENOMEM.
 */
int cf_keyset_from_json(const char *json, size_t len, const uint8_t *kek, cf_keyset_t **out,
                        size_t *nclear, char *err, size_t errlen);

#endif
