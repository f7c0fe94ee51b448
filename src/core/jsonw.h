/* SPDX-License-Identifier: MIT
 *
 * A JSON appender into a caller-sized buffer, for the few documents curfew
 * writes on hot paths (access-token claims, the token endpoint's answer) in
 * a fixed shape. It writes exactly what jansson's json_dumps(JSON_COMPACT)
 * writes for the same members in the same order: `"` `\` and control
 * characters escaped (\b \f \n \r \t, else \u00XX in upper-case hex),
 * everything else (including '/', DEL and non-ASCII UTF-8) as is; and it
 * refuses, like json_string(), a string that is not valid UTF-8 (overlong
 * forms, surrogates, code points past U+10FFFF, stray continuation bytes).
 * tests/unit/test_jsonw.c holds it to jansson byte for byte.
 *
 * Pure: no allocation, no I/O. A failed append sets the error and leaves
 * the writer failed; check it once at the end.
 */
#ifndef CF_CORE_JSONW_H
#define CF_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int err; /* 0, CF_ETOOBIG (the buffer was short) or CF_EINVAL (invalid UTF-8) */
} cf_jsonw_t;

/** Start writing into @buf (@cap bytes; the text is NUL-terminated when it fits). */
void cf_jsonw_init(cf_jsonw_t *w, char *buf, size_t cap);

/** Append @n bytes of @s verbatim (punctuation and member names the caller knows are plain). */
void cf_jsonw_raw(cf_jsonw_t *w, const char *s, size_t n);

/** Append the NUL-terminated @s as a quoted, escaped JSON string. */
void cf_jsonw_str(cf_jsonw_t *w, const char *s);

/** The same for the @n bytes at @s (no NUL among them), as json_stringn() takes them. */
void cf_jsonw_strn(cf_jsonw_t *w, const char *s, size_t n);

/** Append @v in decimal. */
void cf_jsonw_int(cf_jsonw_t *w, int64_t v);

/** The most bytes cf_jsonw_str() can write for a string of @n bytes (6 per byte, quotes). */
static inline size_t cf_jsonw_str_max(size_t n)
{
    return 6 * n + 2;
}

/** 1 when @s (@n bytes) is valid UTF-8 as jansson judges it, else 0. */
int cf_jsonw_utf8_ok(const char *s, size_t n);

#endif /* CF_CORE_JSONW_H */
