/* SPDX-License-Identifier: MIT
 *
 * The one source of randomness: OpenSSL's CSPRNG. Session ids, refresh
 * tokens, jti values and admin keys all come from here.
 */
#ifndef CF_UTIL_RANDOM_H
#define CF_UTIL_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/** Fill @buf with @n cryptographically secure random bytes. Aborts if the CSPRNG fails. */
void cf_random_bytes(void *buf, size_t n);

/** Write @nbytes random bytes as base64url into @out (cf_b64url_encoded_len(nbytes)+1). */
void cf_random_b64url(size_t nbytes, char *out);

#endif
