/* SPDX-License-Identifier: MIT
 *
 * LD_PRELOAD shim: EVP_DigestSign fails while the file named by
 * CURFEW_FAILSIGN_FLAG exists. The file's first word says where: "pool" fails
 * only calls off the main thread (curfew's loop is the main thread, so this
 * fails the signatures handed to the signer thread), "all" fails every call.
 * Used by tests/integration/test_sign_pool.py.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

typedef int (*sign_fn)(EVP_MD_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);

static int should_fail(void)
{
    const char *flag = getenv("CURFEW_FAILSIGN_FLAG");
    char mode[8] = {0};
    FILE *f;

    if (flag == NULL || (f = fopen(flag, "r")) == NULL)
        return 0;
    if (fread(mode, 1, sizeof mode - 1, f) == 0)
        mode[0] = '\0';
    fclose(f);
    if (strncmp(mode, "all", 3) == 0)
        return 1;
    return strncmp(mode, "pool", 4) == 0 && syscall(SYS_gettid) != getpid();
}

int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs,
                   size_t tbslen)
{
    static sign_fn real;

    if (real == NULL)
        real = (sign_fn)dlsym(RTLD_NEXT, "EVP_DigestSign");
    if (should_fail())
        return 0;
    return real(ctx, sig, siglen, tbs, tbslen);
}
