/* SPDX-License-Identifier: MIT
 *
 * The heads the proxy reads (client requests, upstream responses): pieces
 * from http-parser copied into one capped buffer, obs-fold refused, field
 * names and values checked, hop-by-hop fields recognised (RFC 9110 §7.6.1).
 * Pure bookkeeping: no socket, no decision.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/proxy_int.h"

/* ======================================================================
 * Heads
 * ====================================================================== */

int px_head_init(px_head_t *h, size_t max)
{
    memset(h, 0, sizeof *h);
    h->max = max;
    return 0;
}

void px_head_reset(px_head_t *h)
{
    /* Field by field: the spans past n are never read, and a memset of all
     * of them twice a request showed in the proxy's profile. */
    h->len = 0;
    h->url_off = h->url_len = 0;
    h->n = 0;
    h->nconn = 0;
    h->last = 0;
    h->last_end = h->chunk = NULL;
    h->err = NULL;
    h->err_status = 0;
    h->done = h->checked = 0;
}

void px_head_fini(px_head_t *h)
{
    free(h->b);
    h->b = NULL;
}

static int head_put(px_head_t *h, const char *at, size_t n)
{
    if (h->len + n > h->max) {
        h->err = "request header block too large";
        h->err_status = 431;
        return -1;
    }
    if (h->len + n > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        char *b;
        while (cap < h->len + n)
            cap *= 2;
        if ((b = realloc(h->b, cap)) == NULL) {
            h->err = "out of memory";
            h->err_status = 500;
            return -1;
        }
        h->b = b;
        h->cap = cap;
    }
    memcpy(h->b + h->len, at, n);
    h->len += n;
    return 0;
}

/* A piece continuing the previous one: adjacent in the buffer, or the first of a new read. */
static int continues(const px_head_t *h, const char *at)
{
    return at == h->last_end || at == h->chunk;
}

int px_head_url(px_head_t *h, const char *at, size_t n)
{
    if (h->last == 0)
        h->url_off = h->len;
    h->last = 1;
    h->last_end = at + n;
    if (head_put(h, at, n) < 0)
        return -1;
    h->url_len += n;
    return 0;
}

int px_head_field(px_head_t *h, const char *at, size_t n)
{
    px_span_t *s;

    if (h->last == 2 && continues(h, at)) {
        s = &h->h[h->n - 1];
    } else {
        if (h->n == CF_HTTP_MAX_HEADERS) {
            h->err = "too many header fields";
            h->err_status = 431;
            return -1;
        }
        s = &h->h[h->n++];
        s->name_off = (uint32_t)h->len;
        s->name_len = 0;
        s->value_len = 0;
    }
    h->last = 2;
    h->last_end = at + n;
    if (head_put(h, at, n) < 0)
        return -1;
    s->name_len += (uint32_t)n;
    s->value_off = (uint32_t)h->len;
    return 0;
}

int px_head_value(px_head_t *h, const char *at, size_t n)
{
    px_span_t *s;

    if (h->n == 0)
        return 0;
    s = &h->h[h->n - 1];
    if (h->last == 3 && !continues(h, at)) {
        /* RFC 9112 §5.2: obs-fold may be refused; two readers could unfold it two ways. */
        h->err = "obsolete header line folding is not supported";
        h->err_status = 400;
        return -1;
    }
    if (h->last == 2)
        s->value_off = (uint32_t)h->len;
    h->last = 3;
    h->last_end = at + n;
    if (head_put(h, at, n) < 0)
        return -1;
    s->value_len += (uint32_t)n;
    return 0;
}

/* Is @name (@n bytes) a token of any Connection header of @h? */
static int connection_names(const px_head_t *h, const char *name, size_t n)
{
    for (size_t i = 0; i < h->n; i++) {
        const char *v, *end;
        if (!px_head_is(h, i, "Connection"))
            continue;
        v = h->b + h->h[i].value_off;
        end = v + h->h[i].value_len;
        while (v < end) {
            const char *comma = memchr(v, ',', (size_t)(end - v));
            const char *stop = comma != NULL ? comma : end, *a = v, *b = stop;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            if ((size_t)(b - a) == n && strncasecmp(a, name, n) == 0)
                return 1;
            v = stop + 1;
        }
    }
    return 0;
}

int px_head_hop(const px_head_t *h, size_t i)
{
    static const struct {
        const char *name;
        size_t len;
    } hop[] = {{"Connection", 10}, {"Keep-Alive", 10}, {"Proxy-Connection", 16}, {"TE", 2},
               {"Trailer", 7}, {"Transfer-Encoding", 17}, {"Upgrade", 7},
               {"Proxy-Authorization", 19}, {"Proxy-Authenticate", 18}};
    const char *name = h->b + h->h[i].name_off;
    size_t n = h->h[i].name_len;

    for (size_t k = 0; k < sizeof hop / sizeof hop[0]; k++)
        if (hop[k].len == n && strncasecmp(name, hop[k].name, n) == 0)
            return 1;
    /* px_head_check counted the Connection fields; a head it has not seen is scanned. */
    if (h->checked && h->nconn == 0)
        return 0;
    return connection_names(h, name, n);
}

/* Any space or tab in @p (@n)? Branch-free per byte, so it vectorises. */
static int has_blank(const char *p, size_t n)
{
    unsigned bad = 0;

    for (size_t j = 0; j < n; j++)
        bad |= (unsigned)(p[j] == ' ') | (unsigned)(p[j] == '\t');
    return bad != 0;
}

/* Any control byte but tab (or DEL) in @p (@n)? Same shape: values hold tokens. */
static int has_control(const char *p, size_t n)
{
    unsigned bad = 0;

    for (size_t j = 0; j < n; j++) {
        unsigned char c = (unsigned char)p[j];
        bad |= ((unsigned)(c < ' ') & (unsigned)(c != '\t')) | (unsigned)(c == 127);
    }
    return bad != 0;
}

const char *px_head_check(px_head_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        px_span_t *s = &h->h[i];
        if (has_blank(h->b + s->name_off, s->name_len))
            return "whitespace between a header field name and its colon";
        if (has_control(h->b + s->value_off, s->value_len))
            return "control character in a header value";
        while (s->value_len > 0 && (h->b[s->value_off + s->value_len - 1] == ' ' ||
                                    h->b[s->value_off + s->value_len - 1] == '\t'))
            s->value_len--;
        h->nconn += (size_t)px_head_is(h, i, "Connection");
    }
    h->checked = 1;
    return NULL;
}


const char *px_head_get(const px_head_t *h, const char *name, size_t *len, size_t *count)
{
    const char *v = NULL;

    *count = 0;
    for (size_t i = 0; i < h->n; i++)
        if (px_head_is(h, i, name)) {
            if (v == NULL) {
                v = h->b + h->h[i].value_off;
                *len = h->h[i].value_len;
            }
            (*count)++;
        }
    return v;
}
