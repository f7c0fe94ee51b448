/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the packed API key of the Redis store
 * (store/apikey_pack.h): the value a node reads back from an owner's hash at
 * start-up (cf_apikey_unpack in the loader). Redis is shared by every node
 * and by whoever can write to it: any value must be read whole or refused
 * (NULL), never crash, leak or read past its end.
 *
 * Oracles: what unpacks packs again; that packs to the same bytes once more
 * (pack . unpack is canonical) and unpacks to the same key.
 *
 * Build: make fuzz-build; run: scripts/fuzz-run.sh apikey_pack 600.
 * Seeds (tests/fuzz/corpus/apikey_pack): values cf_apikey_pack wrote for a
 * fresh key and for one with every field set.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/apikey_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)         \
    do {                 \
        if (!(x))        \
            abort();     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t a[4096], b[4096];
    cf_apikey_t *k = cf_apikey_unpack("AbCdEfGhIjKl", "svc", data, size), *k2;
    int na, nb;

    if (k == NULL)
        return 0;
    na = cf_apikey_pack(k, a, sizeof a);
    CHECK(na > 0);
    k2 = cf_apikey_unpack(k->id, k->sub, a, (size_t)na);
    CHECK(k2 != NULL);
    nb = cf_apikey_pack(k2, b, sizeof b);
    CHECK(nb == na && memcmp(a, b, (size_t)na) == 0);
    CHECK(strcmp(k->name, k2->name) == 0 && strcmp(k->roles, k2->roles) == 0);
    CHECK(k->created_at == k2->created_at && k->usage.month_used == k2->usage.month_used);
    cf_apikey_free(k2);
    cf_apikey_free(k);
    return 0;
}
