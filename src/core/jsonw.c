/* SPDX-License-Identifier: MIT
 *
 * The JSON appender (jsonw.h). Must never write past @cap, and must agree
 * with jansson on every byte it writes and every string it refuses.
 */
#include "core/jsonw.h"

#include <string.h>

#include "core/error.h"

void cf_jsonw_init(cf_jsonw_t *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->len = 0;
    w->cap = cap;
    w->err = cap > 0 ? 0 : CF_ETOOBIG;
    if (cap > 0)
        buf[0] = '\0';
}

void cf_jsonw_raw(cf_jsonw_t *w, const char *s, size_t n)
{
    if (w->err != 0)
        return;
    if (n >= w->cap - w->len) { /* keep room for the NUL */
        w->err = CF_ETOOBIG;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

/* Length of the UTF-8 sequence starting at @s (at most @n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4) /* a continuation byte, an overlong lead, or past U+10FFFF */
        return 0;
    len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (len > n)
        return 0;
    cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int cf_jsonw_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* The escape of @c ("" when it needs none), as jansson writes it. */
static size_t escape(unsigned char c, char out[6])
{
    static const char hex[] = "0123456789ABCDEF";
    static const char named[32] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
                                   ['\t'] = 't'};

    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c >= 0x20)
        return 0;
    out[0] = '\\';
    if (named[c]) {
        out[1] = named[c];
        return 2;
    }
    memcpy(out + 1, "u00", 3);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 15];
    return 6;
}

void cf_jsonw_str(cf_jsonw_t *w, const char *s)
{
    cf_jsonw_strn(w, s, strlen(s));
}

void cf_jsonw_strn(cf_jsonw_t *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, at = w->len;
    char esc[6];

    if (w->err != 0)
        return;
    cf_jsonw_raw(w, "\"", 1);
    /* One pass: plain runs are copied whole, multi-byte sequences checked and kept. */
    for (size_t i = 0; i < n;) {
        size_t k;
        if (p[i] >= 0x80) {
            k = utf8_seq(p + i, n - i);
            if (k == 0) {
                w->err = CF_EINVAL;
                break;
            }
            i += k;
            continue;
        }
        k = escape(p[i], esc);
        if (k > 0) {
            cf_jsonw_raw(w, s + start, i - start); /* the plain run before it */
            cf_jsonw_raw(w, esc, k);
            start = i + 1;
        }
        i++;
    }
    cf_jsonw_raw(w, s + start, n - start);
    cf_jsonw_raw(w, "\"", 1);
    if (w->err == CF_EINVAL) { /* take back the part written (at < cap: it was written) */
        w->len = at;
        w->buf[at] = '\0';
    }
}

void cf_jsonw_int(cf_jsonw_t *w, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    /* Through unsigned arithmetic so INT64_MIN does not overflow. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        tmp[--i] = '-';
    cf_jsonw_raw(w, tmp + i, sizeof tmp - i);
}
