/* SPDX-License-Identifier: MIT
 *
 * Origin canonicalisation (origin.h). A host is a DNS name or an IPv4
 * literal (letters, digits, '-', '.') or a bracketed IPv6 literal; nothing
 * that could hide a second host (user info, '%', '\\', a path) is accepted,
 * so "https://allowed.com.evil.com" and "https://evil.com/allowed.com" stay
 * distinct from "https://allowed.com".
 */
#include <string.h>

#include "core/error.h"
#include "core/origin.h"

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int host_char(int c, int in_brackets)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.')
        return 1;
    return in_brackets ? c == ':' : c == '-';
}

int cf_origin_canon(const char *s, size_t n, char *out, size_t cap)
{
    static const struct { const char *scheme; const char *port; } schemes[] = {
        {"http://", "80"}, {"https://", "443"}};
    const char *defport = NULL;
    size_t i = 0, o = 0, hstart, hend, pstart = 0, plen = 0;
    int bracket;

    if (cap == 0)
        return CF_EINVAL;
    out[0] = '\0';
    for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        size_t sl = strlen(schemes[k].scheme);
        if (n < sl)
            continue;
        size_t j = 0;
        while (j < sl && lower((unsigned char)s[j]) == schemes[k].scheme[j])
            j++;
        if (j == sl) {
            defport = schemes[k].port;
            i = sl;
            break;
        }
    }
    if (defport == NULL)
        return CF_EINVAL;
    hstart = i;
    bracket = i < n && s[i] == '[';
    if (bracket)
        i++;
    while (i < n && host_char(lower((unsigned char)s[i]), bracket))
        i++;
    if (bracket) {
        if (i >= n || s[i] != ']' || i == hstart + 1)
            return CF_EINVAL;
        i++;
    }
    hend = i;
    if (hend == hstart)
        return CF_EINVAL;
    if (i < n && s[i] == ':') {
        pstart = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        plen = i - pstart;
        /* browsers serialise ports as plain decimal 1..65535 */
        if (plen == 0 || plen > 5 || s[pstart] == '0' ||
            (plen == 5 && memcmp(s + pstart, "65535", 5) > 0))
            return CF_EINVAL;
    }
    if (i != n) /* a path, query, fragment, user info or any other byte */
        return CF_EINVAL;
    if (plen == strlen(defport) && memcmp(s + pstart, defport, plen) == 0)
        plen = 0;
    if (hstart + (hend - hstart) + (plen ? plen + 1 : 0) + 1 > cap)
        return CF_EINVAL;
    for (size_t k = 0; k < hend; k++)
        out[o++] = (char)lower((unsigned char)s[k]);
    if (plen) {
        out[o++] = ':';
        memcpy(out + o, s + pstart, plen);
        o += plen;
    }
    out[o] = '\0';
    return 0;
}
