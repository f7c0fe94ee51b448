/* SPDX-License-Identifier: MIT
 *
 * What every part of the proxy shares and that calls no other part: writing
 * to a socket without blocking (an owned copy of what it does not take at
 * once, capped per socket), the Date header, and freeing the proxy once its last handle closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "http/rx.h"
#include "proxy/proxy_int.h"

/* ======================================================================
 * Writing
 * ====================================================================== */

typedef struct {
    uv_write_t w;
    char data[];
} px_wreq_t;

int px_writev(uv_stream_t *s, const uv_buf_t *bufs, unsigned nbufs, uv_write_cb cb)
{
    size_t n = 0, done = 0, off = 0;
    px_wreq_t *w;
    uv_buf_t b;
    int rc;

    for (unsigned i = 0; i < nbufs; i++)
        n += bufs[i].len;
    if (n == 0)
        return 0;
    if (uv_stream_get_write_queue_size(s) + n > PX_QUEUE_MAX)
        return CF_ETOOBIG; /* the peer stopped reading: the caller ends the connection */
    if (uv_stream_get_write_queue_size(s) == 0) {
        rc = uv_try_write(s, bufs, nbufs); /* one writev: a head and its body in one segment */
        if (rc == UV_EAGAIN || rc == UV_ENOSYS)
            rc = 0;
        else if (rc < 0)
            return rc;
        done = (size_t)rc;
    }
    if (done == n)
        return 0;
    w = malloc(sizeof *w + n - done);
    if (w == NULL)
        return CF_ENOMEM;
    for (unsigned i = 0; i < nbufs; i++) { /* the untaken tail, as one owned copy */
        size_t skip = done > bufs[i].len ? bufs[i].len : done;
        done -= skip;
        memcpy(w->data + off, bufs[i].base + skip, bufs[i].len - skip);
        off += bufs[i].len - skip;
    }
    b = uv_buf_init(w->data, (unsigned)off);
    rc = uv_write(&w->w, s, &b, 1, cb);
    if (rc < 0)
        free(w);
    return rc;
}

int px_write(uv_stream_t *s, const char *d, size_t n, uv_write_cb cb)
{
    uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);

    return px_writev(s, &b, 1, cb);
}

/* ======================================================================
 * Lazy deadlines
 * ====================================================================== */

void px_lazy_start(uv_timer_t *t, px_lazy_t *z, uv_timer_cb cb, uint64_t ms)
{
    uint64_t due = uv_now(t->loop) + ms;

    z->due = due;
    if (z->armed != 0 && z->armed <= due && uv_is_active((uv_handle_t *)t))
        return; /* it fires first and re-arms for the rest */
    (void)uv_timer_start(t, cb, ms, 0);
    z->armed = due;
}

int px_lazy_fired(uv_timer_t *t, px_lazy_t *z, uv_timer_cb cb)
{
    uint64_t now = uv_now(t->loop);

    z->armed = 0;
    if (z->due == 0)
        return 0;
    if (now < z->due) {
        (void)uv_timer_start(t, cb, z->due - now, 0);
        z->armed = z->due;
        return 0;
    }
    z->due = 0;
    return 1;
}

/* ======================================================================
 * Buffers
 * ====================================================================== */

int px_grow(char **b, size_t *cap, size_t n)
{
    char *nb;

    if (n <= *cap && *b != NULL)
        return 0;
    if ((nb = realloc(*b, n)) == NULL)
        return CF_ENOMEM;
    *b = nb;
    *cap = n;
    return 0;
}

int px_hbuf_reserve(cf_proxy_t *px, size_t n)
{
    return px_grow(&px->hbuf, &px->hbuf_cap, n);
}

const char *px_date(cf_proxy_t *px)
{
    return cf__http_date(px->date, &px->date_sec);
}

void px_maybe_free(cf_proxy_t *px)
{
    if (!px->stopping || px->ls_open > 0 || px->signals_open > 0 || px->conns != NULL ||
        px->nupconns > 0)
        return;
    cf_map_fini(&px->owners);
    cf_map_fini(&px->by_ip);
    free(px->ls);
    free(px->ports);
    free(px->ups);
    free(px->hbuf);
    free(px);
}

