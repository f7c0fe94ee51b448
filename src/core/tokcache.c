/* SPDX-License-Identifier: MIT
 *
 * The verified-token cache (tokcache.h): a direct-mapped table keyed by a
 * seeded hash of the whole token, compared in full on every probe.
 */
#include "core/tokcache.h"

#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/error.h"

int cf_tokcache_init(cf_tokcache_t *c, size_t size, uint64_t seed)
{
    if (size == 0)
        size = CF_TOKEN_CACHE_SIZE;
    if ((size & (size - 1)) != 0)
        return CF_EINVAL;
    c->v = calloc(size, sizeof *c->v);
    if (c->v == NULL)
        return CF_ENOMEM;
    c->size = size;
    c->seed = seed;
    return 0;
}

void cf_tokcache_clear(cf_tokcache_t *c)
{
    for (size_t i = 0; c->v != NULL && i < c->size; i++) {
        free(c->v[i].token);
        c->v[i].token = NULL;
        c->v[i].len = 0;
    }
}

void cf_tokcache_fini(cf_tokcache_t *c)
{
    cf_tokcache_clear(c);
    free(c->v);
    c->v = NULL;
    c->size = 0;
}

static cf_tokcache_entry_t *slot(const cf_tokcache_t *c, const char *tok, size_t len)
{
    return &c->v[cf_hash64(tok, len, c->seed) & (c->size - 1)];
}

const cf_tokcache_entry_t *cf_tokcache_get(const cf_tokcache_t *c, const char *tok, size_t len)
{
    const cf_tokcache_entry_t *e;

    if (c->v == NULL)
        return NULL;
    e = slot(c, tok, len);
    if (e->token == NULL || e->len != len || memcmp(e->token, tok, len) != 0)
        return NULL;
    return e;
}

int cf_tokcache_put(cf_tokcache_t *c, const char *tok, size_t len, const char *sid, int64_t exp,
                    int64_t iat, int64_t nbf, const cf_cnf_t *cnf)
{
    cf_tokcache_entry_t *e;
    char *copy;

    if (c->v == NULL)
        return CF_EINVAL;
    copy = malloc(len + 1);
    if (copy == NULL)
        return CF_ENOMEM;
    memcpy(copy, tok, len);
    copy[len] = '\0';
    e = slot(c, tok, len);
    free(e->token);
    e->token = copy;
    e->len = len;
    memcpy(e->sid, sid, CF_SID_LEN);
    e->sid[CF_SID_LEN] = '\0';
    e->exp = exp;
    e->iat = iat;
    e->nbf = nbf;
    if (cnf != NULL)
        e->cnf = *cnf;
    else
        memset(&e->cnf, 0, sizeof e->cnf);
    return 0;
}
