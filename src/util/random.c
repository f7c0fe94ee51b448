/* SPDX-License-Identifier: MIT */
#include "util/random.h"

#include <openssl/rand.h>
#include <stdlib.h>

#include "core/b64url.h"
#include "util/log.h"

void cf_random_bytes(void *buf, size_t n)
{
    /* Without a working CSPRNG every token we would mint is guessable:
     * refusing to run is the only safe answer. */
    if (RAND_bytes(buf, (int)n) != 1) {
        CF_LOG(CF_LOG_ERROR, "event=fatal what=csprng_failed");
        abort();
    }
}

void cf_random_b64url(size_t nbytes, char *out)
{
    unsigned char raw[64];

    if (nbytes > sizeof raw)
        abort();
    cf_random_bytes(raw, nbytes);
    cf_b64url_encode(raw, nbytes, out);
}
