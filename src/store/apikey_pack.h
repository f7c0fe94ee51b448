/* SPDX-License-Identifier: MIT
 *
 * An API key packed into one Redis hash value (store/redis_scripts.c holds
 * the same codec in Lua; the scripts write, the loader reads). The keys of
 * an owner share one hash, cf:ko:<sub>, field <id>: a top-level Redis key
 * costs 60-100 bytes before its value (dict entries, expiry entry, object
 * header), a hash field about 40, so a key is about 150 bytes instead of the
 * ~320 its own hash took.
 *
 * Format 1: byte 0x01; the 32-byte SHA-256; a varint mask of the fields
 * present (bit i: field i); then each present field in that order. The
 * fields, by their wire names: ca ex ie n c r sc lu ou ea wa qd qm ds du ms
 * mu nt su pr e (what every key has first: a fresh key's mask is one byte).
 * Numbers are unsigned LEB128 varints below 2^53 (exact in Lua's doubles);
 * strings a varint length and the bytes. Zero numbers and empty strings are
 * left out. Neither the id (the field name) nor the owner (the hash's name)
 * is in the value.
 */
#ifndef CF_STORE_APIKEY_PACK_H
#define CF_STORE_APIKEY_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/apikey.h"

/** Format byte of a packed key. */
#define CF_APIKEY_PACK_V1 1
/** Largest number a packed key holds (Lua's exact integers). */
#define CF_APIKEY_PACK_NUM_MAX ((INT64_C(1) << 53) - 1)

/**
 * Pack @k (all but its id and owner) into @out, which has @cap bytes.
 * Returns the length, CF_EINVAL for a negative or too large number, or
 * CF_ETOOBIG when @cap is too small.
 */
int cf_apikey_pack(const cf_apikey_t *k, uint8_t *out, size_t cap);

/**
 * A key read back from the @n bytes of @v, with id @id and owner @sub.
 * NULL when the value is damaged (unknown format, truncated, trailing
 * bytes, a number past the maximum, a string with a NUL) or memory ran
 * out. An unknown end name reads as key_revoked: fail towards expiry.
 */
cf_apikey_t *cf_apikey_unpack(const char *id, const char *sub, const uint8_t *v, size_t n);

#endif
