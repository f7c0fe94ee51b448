/* SPDX-License-Identifier: MIT
 *
 * Request paths in the one form route rules see (see path.h for why).
 * Two passes over the output buffer: percent-encoding first, so that `%2e`
 * is a dot before dot segments are looked at (RFC 3986 §6.2.2.2 before
 * §6.2.2.3), then segments, in place, since a segment pass never writes past
 * what it has read.
 */
#include "core/path.h"

#include <stdint.h>
#include <string.h>

#include "core/error.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 3986 §2.3: decoding these never changes what a URI means. */
static int unreserved(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Where the path starts: 0 for origin-form ("/p"), after the authority for
 * absolute-form ("http://host/p", RFC 9112 §3.2.2), SIZE_MAX for anything
 * else ("*", "admin/users").
 */
static size_t path_start(const char *in, size_t n)
{
    size_t k = 0;

    if (n == 0 || in[0] == '/')
        return 0;
    if (!is_alpha((unsigned char)in[0]))
        return SIZE_MAX;
    while (k < n && (is_alpha((unsigned char)in[k]) || (in[k] >= '0' && in[k] <= '9') ||
                     in[k] == '+' || in[k] == '-' || in[k] == '.'))
        k++;
    if (n - k < 3 || memcmp(in + k, "://", 3) != 0)
        return SIZE_MAX;
    for (k += 3; k < n && in[k] != '/';)
        k++;
    return k;
}

/* Pass 1: decode unreserved escapes, upper-case the others, refuse the ambiguous. */
static int percent_pass(const char *in, size_t n, char *out, size_t *len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        int hi, lo;

        if (c == '%') {
            if (n - i < 3 || (hi = hexval((unsigned char)in[i + 1])) < 0 ||
                (lo = hexval((unsigned char)in[i + 2])) < 0)
                return CF_EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (unreserved(c)) {
                out[w++] = (char)c;
            } else if (c == '/' || c == '\\' || c == '\0') {
                return CF_EINVAL; /* a separator some backends decode and some do not */
            } else {
                out[w++] = '%';
                out[w++] = hex[c >> 4];
                out[w++] = hex[c & 15];
            }
            continue;
        }
        if (c <= ' ' || c == 0x7f || c == '\\')
            return CF_EINVAL; /* Windows servers and some proxies read `\` as `/` */
        out[w++] = (char)c;
    }
    *len = w;
    return 0;
}

/* Pass 2, in place: merge `//`, drop `;params`, remove `.` and `..`. */
static int segment_pass(char *buf, size_t len, size_t *outlen)
{
    size_t r = 0, w = 0;
    int trailing = 0;

    while (r < len) {
        size_t s = ++r; /* buf[r] was '/': pass 1 kept the leading one, %2F is refused */
        while (r < len && buf[r] != '/')
            r++;
        size_t seglen = r - s;
        const char *semi = memchr(buf + s, ';', seglen);
        size_t name = semi != NULL ? (size_t)(semi - (buf + s)) : seglen;
        int dots = 0;

        if (name <= 2 && name > 0 && buf[s] == '.' && (name == 1 || buf[s + 1] == '.'))
            dots = (int)name;

        trailing = 1;
        if (name == 0)
            continue; /* an empty segment: `//` (or `/;x/`) is `/` */
        if (dots > 0) {
            if (semi != NULL)
                return CF_EINVAL; /* `..;x`: `..` to Tomcat and Jetty, a name to others */
            if (dots == 2) {
                if (w == 0)
                    return CF_EINVAL; /* climbs above the root */
                while (buf[--w] != '/')
                    ;
            }
            continue;
        }
        buf[w++] = '/';
        memmove(buf + w, buf + s, name);
        w += name;
        trailing = 0;
    }
    if (w == 0 || trailing)
        buf[w++] = '/';
    buf[w] = '\0';
    *outlen = w;
    return 0;
}

int cf_path_normalize(const char *in, size_t n, char *out, size_t *outlen)
{
    size_t start, len = 0;
    const char *end;
    int rc;

    *outlen = 0;
    out[0] = '\0';
    if (in == NULL)
        n = 0;
    if (n > 0 && (end = memchr(in, '?', n)) != NULL)
        n = (size_t)(end - in);
    if (n > 0 && (end = memchr(in, '#', n)) != NULL)
        n = (size_t)(end - in);
    start = path_start(in, n);
    if (start == SIZE_MAX)
        return CF_EINVAL;
    rc = percent_pass(in + start, n - start, out, &len);
    if (rc < 0)
        return rc;
    if (len == 0)
        out[len++] = '/';
    return segment_pass(out, len, outlen);
}
