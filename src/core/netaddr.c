/* SPDX-License-Identifier: MIT
 *
 * Address parsing, CIDR matching and the trusted-proxy walk. Decides which
 * address a request is attributed to; must never take a forwarding header
 * from an untrusted peer at its word, nor read an entry it cannot parse as an
 * address. inet_pton/inet_ntop are used for the text forms: they are pure
 * functions of their arguments (no resolver, no locale).
 */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/error.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parse without normalising mapped addresses; *mapped tells whether it was one. */
static int ip_parse_raw(const char *s, size_t n, cf_ip_t *out, int *mapped)
{
    char buf[CF_IP_STRLEN];
    cf_ip_t ip;

    *mapped = 0;
    if (s == NULL)
        return CF_EPARSE;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL)
        return CF_EPARSE;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(&ip, 0, sizeof(ip));
    if (memchr(buf, ':', n) == NULL) {
        if (inet_pton(AF_INET, buf, ip.a) != 1)
            return CF_EPARSE;
        ip.family = 4;
    } else {
        if (inet_pton(AF_INET6, buf, ip.a) != 1)
            return CF_EPARSE;
        ip.family = 6;
        *mapped = memcmp(ip.a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
    }
    *out = ip;
    return 0;
}

static void unmap(cf_ip_t *ip)
{
    memmove(ip->a, ip->a + 12, 4);
    memset(ip->a + 4, 0, 12);
    ip->family = 4;
}

int cf_ip_parse(const char *s, size_t n, cf_ip_t *out)
{
    cf_ip_t ip;
    int mapped;
    int rc = ip_parse_raw(s, n, &ip, &mapped);

    if (rc < 0)
        return rc;
    if (mapped)
        unmap(&ip);
    *out = ip;
    return 0;
}

void cf_ip_format(const cf_ip_t *ip, char out[CF_IP_STRLEN])
{
    const char *r;

    if (ip->family == 4)
        r = inet_ntop(AF_INET, ip->a, out, CF_IP_STRLEN);
    else
        r = inet_ntop(AF_INET6, ip->a, out, CF_IP_STRLEN);
    if (r == NULL) /* only possible for a buffer too small, which CF_IP_STRLEN is not */
        out[0] = '\0';
}

static int family_bits(int family)
{
    return family == 4 ? 32 : 128;
}

/* Clear every bit of @ip after the first @bits. */
static void mask_host(cf_ip_t *ip, int bits)
{
    int i;

    for (i = 0; i < 16; i++) {
        int keep = bits - 8 * i;

        if (keep >= 8)
            continue;
        ip->a[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

int cf_cidr_parse(const char *s, size_t n, cf_cidr_t *out)
{
    const char *slash;
    cf_cidr_t c;
    size_t alen, i;
    int mapped, bits = -1;

    if (s == NULL || n == 0)
        return CF_EPARSE;
    slash = memchr(s, '/', n);
    alen = slash != NULL ? (size_t)(slash - s) : n;
    if (ip_parse_raw(s, alen, &c.net, &mapped) < 0)
        return CF_EPARSE;
    if (slash != NULL) {
        size_t nd = n - alen - 1;

        if (nd < 1 || nd > 3)
            return CF_EPARSE;
        bits = 0;
        for (i = alen + 1; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return CF_EPARSE;
            bits = bits * 10 + (s[i] - '0');
        }
        if (bits > family_bits(c.net.family))
            return CF_EPARSE;
    } else {
        bits = family_bits(c.net.family);
    }
    if (mapped && bits >= 96) {
        unmap(&c.net);
        bits -= 96;
    }
    c.bits = bits;
    mask_host(&c.net, bits);
    *out = c;
    return 0;
}

static int prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rest = bits % 8;

    if (full > 0 && memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int cf_cidr_contains(const cf_cidr_t *c, const cf_ip_t *ip)
{
    if (c->net.family != ip->family)
        return 0;
    return prefix_equal(c->net.a, ip->a, c->bits);
}

static int is_trusted(const cf_ip_t *ip, const cf_cidr_t *trusted, size_t ntrusted)
{
    size_t i;

    for (i = 0; i < ntrusted; i++)
        if (cf_cidr_contains(&trusted[i], ip))
            return 1;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim blanks around [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_blank((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}

int cf_ip_client(const cf_ip_t *peer, const char *xff, size_t xff_len, const char *xreal,
                 size_t xreal_len, const cf_cidr_t *trusted, size_t ntrusted, cf_ip_t *out)
{
    const char *hs = xff;
    size_t hn = xff_len;

    if (peer == NULL || out == NULL)
        return CF_EINVAL;
    *out = *peer;
    if (!is_trusted(peer, trusted, ntrusted))
        return 0;
    if (hs != NULL)
        trim(&hs, &hn);
    if (hs != NULL && hn > 0) {
        size_t end = hn; /* entries are walked right to left: [start, end) */

        for (;;) {
            size_t start = end;
            const char *es;
            size_t en;
            cf_ip_t hop;

            while (start > 0 && hs[start - 1] != ',')
                start--;
            es = hs + start;
            en = end - start;
            trim(&es, &en);
            if (cf_ip_parse(es, en, &hop) < 0)
                return 0; /* garbage: keep the last good hop */
            *out = hop;
            if (!is_trusted(&hop, trusted, ntrusted) || start == 0)
                return 0;
            end = start - 1; /* skip the comma */
        }
    }
    if (xreal != NULL) {
        const char *rs = xreal;
        size_t rn = xreal_len;
        cf_ip_t ip;

        trim(&rs, &rn);
        if (cf_ip_parse(rs, rn, &ip) == 0)
            *out = ip;
    }
    return 0;
}

int cf_ip_same_prefix(const cf_ip_t *a, const cf_ip_t *b, int v4_bits, int v6_bits)
{
    int bits;

    if (a->family != b->family)
        return 0;
    bits = a->family == 4 ? v4_bits : v6_bits;
    if (bits < 0)
        bits = 0;
    if (bits > family_bits(a->family))
        bits = family_bits(a->family);
    return prefix_equal(a->a, b->a, bits);
}
