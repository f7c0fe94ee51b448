/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the token front door: cf_jws_verify() and the strict
 * base64url decoder it sits on. Any input must produce a verdict or a clean
 * error, never a crash, leak or out-of-bounds access; and no input signed
 * by nobody may ever come back CF_REASON_NONE.
 *
 * Build (not part of meson yet):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_jws.c src/core/{jws,b64url,digest,reason,error}.c \
 *     -lcrypto -ljansson -o fuzz_jws
 *   ./fuzz_jws -max_len=9000 corpus/
 * A useful seed is any token from the unit tests (e.g. RFC 8037 A.4).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64url.h"
#include "core/error.h"
#include "core/jws.h"

static cf_jws_key_t *fuzz_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (cf_jws_key_generate(&fuzz_key) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cf_jws_key_t *keys[1] = {fuzz_key};
    json_t *payload = NULL;
    cf_reason_t why = CF_REASON__COUNT;
    uint8_t out[CF_JWS_MAX_LEN];
    size_t outlen = 0;
    int rc;

    rc = cf_jws_verify((const char *)data, size, keys, 1, &payload, &why);
    if (rc == 0) {
        /* Nobody but this process holds the key: nothing may verify. */
        if (why == CF_REASON_NONE || why >= CF_REASON__COUNT || payload != NULL)
            abort();
    } else if (rc != CF_ENOMEM && rc != CF_ECRYPTO) {
        abort();
    }
    json_decref(payload);

    rc = cf_b64url_decode((const char *)data, size, out, sizeof(out), &outlen);
    if (rc == 0) {
        /* Strictness: what decodes must re-encode to exactly the input. */
        char *enc = malloc(cf_b64url_encoded_len(outlen) + 1);
        if (enc == NULL)
            return 0;
        if (cf_b64url_encode(out, outlen, enc) != size || memcmp(enc, data, size) != 0)
            abort();
        free(enc);
    } else if (rc != CF_EPARSE && rc != CF_ETOOBIG) {
        abort();
    } else if (outlen != 0) {
        abort();
    }
    return 0;
}
