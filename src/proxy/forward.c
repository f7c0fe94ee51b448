/* SPDX-License-Identifier: MIT
 *
 * The request head as the upstream gets it: the method and the path that
 * was decided (normal form, query as sent), the client's fields minus the
 * hop-by-hop ones (RFC 9110 §7.6.1), minus any X-Curfew-* the client sent
 * and its own forwarding fields, plus X-Forwarded-For/-Proto/-Host, the
 * identity the decision gave, and our framing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "proxy/proxy_int.h"

/* ======================================================================
 * The request as the upstream gets it
 * ====================================================================== */

/* Never forwarded from the client: hop-by-hop fields, the identity and forwarding we set. */
static int not_forwarded(const pconn_t *pc, size_t i)
{
    const px_head_t *h = &pc->head;

    if (px_head_hop(h, i))
        return 1;
    if (h->h[i].name_len >= 9 && strncasecmp(h->b + h->h[i].name_off, "X-Curfew-", 9) == 0)
        return 1; /* forged identity: only the decision's own reaches the upstream */
    if (px_head_is(h, i, "X-Forwarded-For") || px_head_is(h, i, "X-Forwarded-Proto") ||
        px_head_is(h, i, "X-Forwarded-Host") || px_head_is(h, i, "Expect") ||
        px_head_is(h, i, "Content-Length"))
        return 1;
    return pc->route->strip_authorization && px_head_is(h, i, "Authorization");
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* Decimal digits of @v at @p; the end. */
static char *put_u64(char *p, uint64_t v)
{
    char d[20];
    size_t n = 0;

    do
        d[sizeof d - ++n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return put(p, d + sizeof d - n, n);
}

/*
 * Built with copies of known lengths, no printf: this runs on every proxied
 * request. The buffer is the proxy's, reused (the caller copies what the
 * socket does not take at once).
 */
int px_client_upstream_head(pconn_t *pc, char **out, size_t *len)
{
    const px_head_t *h = &pc->head;
    size_t hlen = 0, cnt;
    const char *host = px_head_get(h, "Host", &hlen, &cnt);
    /* Every byte of the head at most once, but Host's value twice (X-Forwarded-Host). */
    size_t cap = h->len + hlen + 8 * h->n + pc->target_len + pc->ident_len + strlen(pc->peer) + 512;
    const char *method = http_method_str((enum http_method)pc->parser.method);
    char *p;

    if (px_hbuf_reserve(pc->px, cap) < 0)
        return CF_ENOMEM;
    p = pc->px->hbuf;
    p = put(p, method, strlen(method));
    p = PUT_LIT(p, " ");
    p = put(p, pc->target, pc->target_len);
    p = PUT_LIT(p, " HTTP/1.1\r\n");
    for (size_t i = 0; i < h->n; i++) {
        if (not_forwarded(pc, i))
            continue;
        p = put(p, h->b + h->h[i].name_off, h->h[i].name_len);
        p = PUT_LIT(p, ": ");
        p = put(p, h->b + h->h[i].value_off, h->h[i].value_len);
        p = PUT_LIT(p, "\r\n");
    }
    /* X-Forwarded-For: the client's list (every line, in order), then the address we saw. */
    p = PUT_LIT(p, "X-Forwarded-For: ");
    for (size_t i = 0; i < h->n; i++)
        if (px_head_is(h, i, "X-Forwarded-For") && h->h[i].value_len > 0) {
            p = put(p, h->b + h->h[i].value_off, h->h[i].value_len);
            p = PUT_LIT(p, ", ");
        }
    p = put(p, pc->peer, strlen(pc->peer));
    p = PUT_LIT(p, "\r\nX-Forwarded-Proto: http\r\n");
    if (host != NULL) {
        p = PUT_LIT(p, "X-Forwarded-Host: ");
        p = put(p, host, hlen);
        p = PUT_LIT(p, "\r\n");
    }
    if (pc->ident != NULL)
        p = put(p, pc->ident, pc->ident_len);
    if (pc->chunked_in) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    } else if (pc->parser.flags & F_CONTENTLENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, pc->parser.content_length);
        p = PUT_LIT(p, "\r\n");
    }
    if (pc->upgrade) {
        size_t ulen = 0;
        const char *up = px_head_get(h, "Upgrade", &ulen, &cnt);
        p = PUT_LIT(p, "Connection: Upgrade\r\n");
        if (up != NULL) {
            p = PUT_LIT(p, "Upgrade: ");
            p = put(p, up, ulen);
            p = PUT_LIT(p, "\r\n");
        }
    } else {
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    *out = pc->px->hbuf;
    *len = (size_t)(p - pc->px->hbuf);
    return 0;
}

int px_take_identity(pconn_t *pc, const cf_http_header_t *h, size_t nh, const char **sid,
                         size_t *sidlen, const char **sub, size_t *sublen)
{
    size_t need = 1;
    char *p;

    for (size_t i = 0; i < nh; i++) {
        for (size_t j = 0; j < h[i].value_len; j++) {
            unsigned char c = (unsigned char)h[i].value[j];
            if ((c < ' ' && c != '\t') || c == 127)
                return CF_EINVAL;
        }
        need += h[i].name_len + h[i].value_len + 4;
    }
    if (px_grow(&pc->ident, &pc->ident_cap, need) < 0)
        return CF_ENOMEM;
    p = pc->ident;
    *sid = *sub = NULL;
    for (size_t i = 0; i < nh; i++) {
        memcpy(p, h[i].name, h[i].name_len);
        p += h[i].name_len;
        memcpy(p, ": ", 2);
        memcpy(p + 2, h[i].value, h[i].value_len);
        p += 2 + h[i].value_len;
        memcpy(p, "\r\n", 2);
        p += 2;
        if (px_ieq(h[i].name, h[i].name_len, "X-Curfew-Session")) {
            *sid = h[i].value;
            *sidlen = h[i].value_len;
        } else if (px_ieq(h[i].name, h[i].name_len, "X-Curfew-Subject")) {
            *sub = h[i].value;
            *sublen = h[i].value_len;
        } else if (px_ieq(h[i].name, h[i].name_len, "X-Curfew-Expires-In")) {
            pc->token_exp = cf_app_now(pc->px->app) + atoll(h[i].value) * CF_SEC;
        }
    }
    *p = '\0';
    pc->ident_len = (size_t)(p - pc->ident);
    return 0;
}
