/* SPDX-License-Identifier: MIT
 *
 * Random bytes from OpenSSL's CSPRNG, drawn in blocks. RAND_bytes is a DRBG
 * whose cost per call (finding the thread's DRBG, locking it, reseed
 * checks) is several times that of generating 48 bytes, and a refresh draws
 * twice (the jti and the refresh token): so each thread keeps a block of
 * POOL bytes from one call and hands them out in order, wiping every byte
 * it hands out, so no byte is ever returned twice or left behind once used.
 * A forked child (curfew never forks; a library caller might) starts with
 * an empty block, so parent and child never share bytes.
 */
#include "util/random.h"

#include <pthread.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/b64url.h"
#include "util/log.h"

#define POOL 512

static _Thread_local struct {
    unsigned char buf[POOL];
    size_t used; /* bytes handed out (and wiped) from the front; POOL: empty */
} pool = {.used = POOL};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_in_child(void)
{
    OPENSSL_cleanse(pool.buf, sizeof pool.buf);
    pool.used = POOL;
}

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, forget_in_child);
}

static void fill(void *buf, size_t n)
{
    /* Without a working CSPRNG every token we would mint is guessable:
     * refusing to run is the only safe answer. */
    if (RAND_bytes(buf, (int)n) != 1) {
        CF_LOG(CF_LOG_ERROR, "event=fatal what=csprng_failed");
        abort();
    }
}

void cf_random_bytes(void *buf, size_t n)
{
    unsigned char *out = buf;

    if (n > POOL / 4) { /* large draws (none on hot paths) go straight through */
        fill(buf, n);
        return;
    }
    if (POOL - pool.used < n) {
        (void)pthread_once(&atfork_once, register_atfork);
        fill(pool.buf, POOL);
        pool.used = 0;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = pool.buf[pool.used + i];
    OPENSSL_cleanse(pool.buf + pool.used, n);
    pool.used += n;
}

void cf_random_b64url(size_t nbytes, char *out)
{
    unsigned char raw[64];

    if (nbytes > sizeof raw)
        abort();
    cf_random_bytes(raw, nbytes);
    cf_b64url_encode(raw, nbytes, out);
    OPENSSL_cleanse(raw, nbytes);
}
