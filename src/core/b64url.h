/* SPDX-License-Identifier: MIT
 *
 * base64url without padding (RFC 7515 section 2, RFC 4648 section 5), the
 * encoding of every JWS segment and refresh token. The decoder is strict on
 * purpose: it accepts exactly one spelling of each byte string (no '=', no
 * '+' or '/', no whitespace, no non-zero bits after the last byte), so a token
 * cannot be altered in transit without the change being visible. It must
 * never accept a second spelling of the same bytes, and never write past the
 * caller's buffer.
 */
#ifndef CF_CORE_B64URL_H
#define CF_CORE_B64URL_H

#include <stddef.h>
#include <stdint.h>

/**
 * Number of characters cf_b64url_encode() writes for @n input bytes,
 * excluding the terminating NUL. The output buffer needs one more byte.
 */
size_t cf_b64url_encoded_len(size_t n);

/**
 * Encode @n bytes of @in into @out, which must hold at least
 * cf_b64url_encoded_len(@n) + 1 bytes. Writes a terminating NUL and returns
 * the number of characters written (without the NUL). Cannot fail.
 * @in may be NULL when @n is 0.
 */
size_t cf_b64url_encode(const uint8_t *in, size_t n, char *out);

/**
 * Upper bound on the bytes cf_b64url_decode() produces from @n characters;
 * exact for every @n that is a valid encoded length.
 */
size_t cf_b64url_decoded_maxlen(size_t n);

/**
 * Strictly decode @n characters of @in (not necessarily NUL-terminated) into
 * @out, which holds @cap bytes, and store the decoded length in *@outlen.
 *
 * Returns 0 on success; CF_EPARSE for any character outside [A-Za-z0-9_-]
 * (including '=', '+', '/', whitespace and NUL), for @n % 4 == 1, or for
 * non-zero unused bits in the last character; CF_ETOOBIG when the result
 * would not fit in @cap. On error *@outlen is 0 and @out may hold garbage.
 * Runs in time linear in @n; not constant time.
 */
int cf_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/**
 * Decode standard base64 with padding (RFC 4648 §4, as HTTP Basic uses).
 * Returns 0, CF_EPARSE on a bad character, length or padding, or CF_ETOOBIG
 * when more than @cap bytes would be written. Does not NUL-terminate.
 */
int cf_b64std_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

#endif
