/* SPDX-License-Identifier: MIT
 *
 * base64url without padding. Decides whether a string is the one canonical
 * encoding of some bytes, and what those bytes are. Must never accept a
 * non-canonical spelling (see b64url.h) and never write past @cap.
 */
#include "core/b64url.h"

#include "core/error.h"

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1. A switch on ranges instead of a
 * 256-entry table keeps the mapping readable next to the alphabet above. */
static int b64_value_in(unsigned char c, char c62, char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (unsigned char)c62)
        return 62;
    if (c == (unsigned char)c63)
        return 63;
    return -1;
}

static int b64_value(unsigned char c)
{
    return b64_value_in(c, '-', '_');
}

size_t cf_b64url_encoded_len(size_t n)
{
    static const size_t tail[3] = {0, 2, 3};

    return n / 3 * 4 + tail[n % 3];
}

size_t cf_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

size_t cf_b64url_decoded_maxlen(size_t n)
{
    static const size_t tail[4] = {0, 0, 1, 2};

    return n / 4 * 3 + tail[n % 4];
}

int cf_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t full = n / 4 * 4, rem = n % 4, o = 0;
    uint32_t v = 0;

    *outlen = 0;
    if (rem == 1)
        return CF_EPARSE;
    /* Validate every character before checking the size, so that garbage is
     * reported as garbage whatever the buffer size. */
    for (size_t i = 0; i < n; i++)
        if (b64_value((unsigned char)in[i]) < 0)
            return CF_EPARSE;
    if (cf_b64url_decoded_maxlen(n) > cap)
        return CF_ETOOBIG;

    for (size_t i = 0; i < full; i += 4) {
        v = (uint32_t)b64_value((unsigned char)in[i]) << 18 |
            (uint32_t)b64_value((unsigned char)in[i + 1]) << 12 |
            (uint32_t)b64_value((unsigned char)in[i + 2]) << 6 |
            (uint32_t)b64_value((unsigned char)in[i + 3]);
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (rem == 2) {
        v = (uint32_t)b64_value((unsigned char)in[full]) << 18 |
            (uint32_t)b64_value((unsigned char)in[full + 1]) << 12;
        if (v & 0xffff) /* the last 4 bits of the 2nd char must be zero */
            return CF_EPARSE;
        out[o++] = (uint8_t)(v >> 16);
    } else if (rem == 3) {
        v = (uint32_t)b64_value((unsigned char)in[full]) << 18 |
            (uint32_t)b64_value((unsigned char)in[full + 1]) << 12 |
            (uint32_t)b64_value((unsigned char)in[full + 2]) << 6;
        if (v & 0xff) /* the last 2 bits of the 3rd char must be zero */
            return CF_EPARSE;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
    }
    *outlen = o;
    return 0;
}

int cf_b64std_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0, pad = 0;

    if (n % 4 != 0)
        return CF_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int v;
        if (in[i] == '=') {
            /* Padding only at the very end, at most two. */
            if (++pad > 2 || i < n - 2)
                return CF_EPARSE;
            continue;
        }
        if (pad > 0)
            return CF_EPARSE;
        v = b64_value_in((unsigned char)in[i], '+', '/');
        if (v < 0)
            return CF_EPARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return CF_ETOOBIG;
            out[o++] = (uint8_t)((acc >> bits) & 0xff);
        }
    }
    *outlen = o;
    return 0;
}
