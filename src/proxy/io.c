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

int px_write(uv_stream_t *s, const char *d, size_t n, uv_write_cb cb)
{
    uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);
    px_wreq_t *w;
    int done = 0, rc;

    if (n == 0)
        return 0;
    if (uv_stream_get_write_queue_size(s) + n > PX_QUEUE_MAX)
        return CF_ETOOBIG; /* the peer stopped reading: the caller ends the connection */
    if (uv_stream_get_write_queue_size(s) == 0) {
        done = uv_try_write(s, &b, 1);
        if (done == UV_EAGAIN || done == UV_ENOSYS)
            done = 0;
        else if (done < 0)
            return done;
    }
    if ((size_t)done == n)
        return 0;
    w = malloc(sizeof *w + n - (size_t)done);
    if (w == NULL)
        return CF_ENOMEM;
    memcpy(w->data, d + done, n - (size_t)done);
    b = uv_buf_init(w->data, (unsigned)(n - (size_t)done));
    rc = uv_write(&w->w, s, &b, 1, cb);
    if (rc < 0)
        free(w);
    return rc;
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
    free(px);
}

