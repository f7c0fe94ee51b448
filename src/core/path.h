/* SPDX-License-Identifier: MIT
 *
 * The path of a request target, put in the one form route rules are matched
 * against. Rules match strings; a backend resolves paths. Unless both see the
 * same path, `/public/../admin` is "public" to the rule and "admin" to the
 * backend. So a path is normalized as RFC 3986 §6.2.2 says (and as nginx,
 * Go and Python's servers do before they look a file up), and a path whose
 * meaning differs between servers (an encoded `/` or `\`, a NUL, a dot
 * segment that climbs above the root) is refused instead of guessed at.
 * Pure: no I/O, no allocation.
 */
#ifndef CF_CORE_PATH_H
#define CF_CORE_PATH_H

#include <stddef.h>

/**
 * Normalize the request target @in (@n bytes, not NUL-terminated) for route
 * matching:
 *  - the query (`?`) and fragment (`#`) are cut off; an absolute-form target
 *    (`http://host/p`) is reduced to its path; an empty path is `/`;
 *  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded,
 *    every other escape is kept with upper-case hex digits (`%2561` stays
 *    `%2561`: decoded once, never twice);
 *  - empty segments are merged (`//` -> `/`), then `.` and `..` segments are
 *    removed (RFC 3986 §5.2.4), a trailing slash is kept;
 *  - `;parameters` are cut from every segment (`/admin;x/users` is
 *    `/admin/users`, as Java servlet containers read it).
 * Case is kept: paths are case-sensitive (RFC 3986 §6.2.2.1).
 *
 * Refused (returns CF_EINVAL): an escape of `/` (%2F), `\` (%5C) or NUL
 * (%00); a raw `\`, control character or space; a broken escape (`%4`,
 * `%zz`); a `..` with no segment left to remove; a dot segment carrying
 * parameters (`..;x`, which servlet containers treat as `..`); a target
 * that is not a path (`*`, `admin`).
 *
 * @out must have room for @n + 2 bytes (the result is never longer than the
 * input, except that an empty input becomes "/", plus the NUL); it is
 * NUL-terminated and its length stored in *@outlen. Returns 0 or CF_EINVAL.
 */
int cf_path_normalize(const char *in, size_t n, char *out, size_t *outlen);

#endif
