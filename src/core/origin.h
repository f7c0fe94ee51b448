/* SPDX-License-Identifier: MIT
 *
 * Web origins (RFC 6454) as browsers send them in the Origin header, put in
 * one canonical form so that an allow-list compares scheme, host and port
 * exactly and nothing else. Pure: no I/O. It never guesses: anything a
 * browser would not serialise as an origin (null, a path, user info, an
 * empty host, a port with leading zeros) is refused, not repaired.
 */
#ifndef CF_CORE_ORIGIN_H
#define CF_CORE_ORIGIN_H

#include <stddef.h>

/** Longest canonical origin kept (scheme, host and port), NUL included. */
#define CF_ORIGIN_MAX 256

/**
 * Canonical form of the origin @s (@n bytes, not NUL-terminated) in @out
 * (@cap bytes): scheme and host lower-cased, the scheme's default port (80
 * for http, 443 for https) dropped. Returns 0, or CF_EINVAL when @s is not a
 * serialised http or https origin or does not fit @cap; @out is then "".
 */
int cf_origin_canon(const char *s, size_t n, char *out, size_t cap);

#endif
