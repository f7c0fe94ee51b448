/* SPDX-License-Identifier: MIT
 *
 * The request head as the upstream gets it: the method and the path that
 * was decided (normal form, query as sent), the client's fields minus the
 * hop-by-hop ones (RFC 9110 §7.6.1), minus any X-Curfew-* the client sent
 * and its own forwarding fields, plus X-Forwarded-For/-Proto/-Host, the
 * identity the decision gave, and our framing.
 */
#include <stdio.h>
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

int px_client_upstream_head(pconn_t *pc, char **out, size_t *len)
{
    const px_head_t *h = &pc->head;
    size_t hlen = 0, xlen = 0, cnt;
    const char *host = px_head_get(h, "Host", &hlen, &cnt);
    /* Every byte of the head at most once, but Host's value twice (X-Forwarded-Host), and the
     * address we saw (up to 45 bytes). */
    size_t cap = h->len + hlen + 8 * h->n + strlen(pc->target) +
                 (pc->ident ? strlen(pc->ident) : 0) + strlen(pc->peer) + 512;
    char *b = malloc(cap), *p = b;
    int n;

    if (b == NULL)
        return CF_ENOMEM;
    n = snprintf(p, cap, "%s %s HTTP/1.1\r\n", http_method_str((enum http_method)pc->parser.method),
                 pc->target);
    p += n;
    for (size_t i = 0; i < h->n; i++) {
        if (not_forwarded(pc, i))
            continue;
        memcpy(p, h->b + h->h[i].name_off, h->h[i].name_len);
        p += h->h[i].name_len;
        memcpy(p, ": ", 2);
        memcpy(p + 2, h->b + h->h[i].value_off, h->h[i].value_len);
        p += 2 + h->h[i].value_len;
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    /* X-Forwarded-For: the client's list (every line, in order), then the address we saw. */
    memcpy(p, "X-Forwarded-For: ", 17);
    p += 17;
    for (size_t i = 0; i < h->n; i++)
        if (px_head_is(h, i, "X-Forwarded-For") && h->h[i].value_len > 0) {
            memcpy(p, h->b + h->h[i].value_off, h->h[i].value_len);
            p += h->h[i].value_len;
            memcpy(p, ", ", 2);
            p += 2;
            xlen++;
        }
    p += sprintf(p, "%s\r\nX-Forwarded-Proto: http\r\n", pc->peer);
    if (host != NULL) {
        memcpy(p, "X-Forwarded-Host: ", 18);
        memcpy(p + 18, host, hlen);
        p += 18 + hlen;
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    if (pc->ident != NULL)
        p += sprintf(p, "%s", pc->ident);
    if (pc->chunked_in)
        p += sprintf(p, "Transfer-Encoding: chunked\r\n");
    else if (pc->parser.flags & F_CONTENTLENGTH)
        p += sprintf(p, "Content-Length: %llu\r\n", (unsigned long long)pc->parser.content_length);
    if (pc->upgrade) {
        size_t ulen = 0;
        const char *up = px_head_get(h, "Upgrade", &ulen, &cnt);
        p += sprintf(p, "Connection: Upgrade\r\n");
        if (up != NULL) {
            memcpy(p, "Upgrade: ", 9);
            memcpy(p + 9, up, ulen);
            p += 9 + ulen;
            memcpy(p, "\r\n", 2);
            p += 2;
        }
    } else {
        p += sprintf(p, "Connection: keep-alive\r\n");
    }
    memcpy(p, "\r\n", 2);
    p += 2;
    (void)xlen;
    *out = b;
    *len = (size_t)(p - b);
    return 0;
}
