/* SPDX-License-Identifier: MIT
 *
 * The packed API key of the Redis store (format in apikey_pack.h). The
 * field order is a table, the same as the Lua codec's INTS and STRS lists.
 */
#include "store/apikey_pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The numbers, in the order FIELDS indexes them. */
#define PACK_INTS(X)                                                                            \
    X(created_at) X(expires_at) X(idle_expiry) X(last_used) X(overlap_until) X(ended_at)        \
    X(warned_at) X(quota_day) X(quota_month) X(usage.day_start) X(usage.day_used)               \
    X(usage.month_start) X(usage.month_used)
#define NINTS 13
/* The strings n, c, r, sc, nt, su, pr, e. */
enum { S_NAME, S_CLIENT, S_ROLES, S_SCOPE, S_NETS, S_SUCC, S_PRED, S_END, NSTRS };
#define NFIELDS (NINTS + NSTRS)

/*
 * Field i of the mask (the Lua codec's FIELDS): a number (an index into
 * PACK_INTS's order) or a string. What every key has comes first, so a
 * fresh key's mask is one byte: created, expires, idle expiry, name,
 * client, roles, scope.
 */
static const struct {
    uint8_t is_str, idx;
} FIELDS[NFIELDS] = {
    {0, 0}, {0, 1}, {0, 2}, {1, S_NAME}, {1, S_CLIENT}, {1, S_ROLES}, {1, S_SCOPE},
    {0, 3}, {0, 4}, {0, 5}, {0, 6}, {0, 7}, {0, 8}, {0, 9}, {0, 10}, {0, 11}, {0, 12},
    {1, S_NETS}, {1, S_SUCC}, {1, S_PRED}, {1, S_END},
};

typedef struct {
    uint8_t *p;
    size_t len, cap;
} wbuf_t;

static void put(wbuf_t *w, const void *b, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->p + w->len, b, n);
    w->len += n; /* past cap: counted, reported as CF_ETOOBIG */
}

static void put_varint(wbuf_t *w, uint64_t x)
{
    uint8_t b[10];
    size_t n = 0;

    do {
        b[n] = (uint8_t)(x & 0x7f);
        x >>= 7;
        if (x != 0)
            b[n] |= 0x80;
        n++;
    } while (x != 0);
    put(w, b, n);
}

int cf_apikey_pack(const cf_apikey_t *k, uint8_t *out, size_t cap)
{
    const int64_t nums[NINTS] = {
#define X(f) k->f,
        PACK_INTS(X)
#undef X
    };
    char nets[CF_APIKEY_NETS_STRLEN];
    const char *strs[NSTRS] = {k->name, k->client_id, k->roles, k->scope, nets,
                               k->successor, k->predecessor,
                               k->end == CF_APIKEY_END_NONE ? "" : cf_apikey_end_name(k->end)};
    wbuf_t w = {out, 0, cap};
    uint64_t mask = 0;
    const uint8_t v = CF_APIKEY_PACK_V1;

    cf_apikey_nets_format(k, nets, sizeof nets);
    for (int i = 0; i < NFIELDS; i++) {
        int j = FIELDS[i].idx;
        if (FIELDS[i].is_str ? strs[j] != NULL && strs[j][0] != '\0' : nums[j] != 0)
            mask |= UINT64_C(1) << i;
        if (!FIELDS[i].is_str && (nums[j] < 0 || nums[j] > CF_APIKEY_PACK_NUM_MAX))
            return CF_EINVAL;
    }
    put(&w, &v, 1);
    put(&w, k->hash, 32);
    put_varint(&w, mask);
    for (int i = 0; i < NFIELDS; i++) {
        int j = FIELDS[i].idx;
        if (!(mask & (UINT64_C(1) << i)))
            continue;
        if (!FIELDS[i].is_str) {
            put_varint(&w, (uint64_t)nums[j]);
            continue;
        }
        size_t n = strlen(strs[j]);
        put_varint(&w, n);
        put(&w, strs[j], n);
    }
    if (w.len > cap || w.len > INT32_MAX)
        return CF_ETOOBIG;
    return (int)w.len;
}

typedef struct {
    const uint8_t *p;
    size_t pos, n;
} rbuf_t;

/* A varint below 2^53 (at most 8 bytes); -1 when truncated or too large. */
static int64_t get_varint(rbuf_t *r)
{
    uint64_t x = 0;

    for (int i = 0; i < 8 && r->pos < r->n; i++) {
        uint8_t b = r->p[r->pos++];
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            return x > (uint64_t)CF_APIKEY_PACK_NUM_MAX ? -1 : (int64_t)x;
    }
    return -1;
}

/*
 * The fields after the mask: numbers into @nums, strings NUL-terminated in
 * @buf (n + NSTRS bytes) and pointed to by @strs; 0, or -1 when damaged.
 */
static int get_fields(rbuf_t *r, uint64_t mask, int64_t nums[NINTS], char *buf,
                      const char *strs[NSTRS])
{
    size_t at = 0;

    for (int i = 0; i < NSTRS; i++)
        strs[i] = "";
    for (int i = 0; i < NFIELDS; i++) {
        int j = FIELDS[i].idx;
        if (!(mask & (UINT64_C(1) << i)))
            continue;
        int64_t x = get_varint(r);
        if (!FIELDS[i].is_str) {
            if ((nums[j] = x) < 0)
                return -1;
            continue;
        }
        if (x <= 0 || (uint64_t)x > r->n - r->pos || memchr(r->p + r->pos, 0, (size_t)x))
            return -1;
        memcpy(buf + at, r->p + r->pos, (size_t)x);
        buf[at + (size_t)x] = '\0';
        strs[j] = buf + at;
        at += (size_t)x + 1;
        r->pos += (size_t)x;
    }
    return 0;
}

static int set_links(cf_apikey_t *k, const char *strs[NSTRS])
{
    if ((strs[S_SUCC][0] && strlen(strs[S_SUCC]) != CF_APIKEY_ID_LEN) ||
        (strs[S_PRED][0] && strlen(strs[S_PRED]) != CF_APIKEY_ID_LEN))
        return -1;
    memcpy(k->successor, strs[S_SUCC], strlen(strs[S_SUCC]) + 1);
    memcpy(k->predecessor, strs[S_PRED], strlen(strs[S_PRED]) + 1);
    k->end = strs[S_END][0] ? cf_apikey_end_from_name(strs[S_END]) : CF_APIKEY_END_NONE;
    if (k->end == CF_APIKEY_END__COUNT)
        k->end = CF_APIKEY_END_REVOKED; /* unknown: fail towards expiry */
    return cf_apikey_nets_parse(k, strs[S_NETS]) < 0 ? -1 : 0;
}

cf_apikey_t *cf_apikey_unpack(const char *id, const char *sub, const uint8_t *v, size_t n)
{
    rbuf_t r = {v, 33, n};
    int64_t nums[NINTS] = {0}, mask;
    const char *strs[NSTRS];
    cf_apikey_t *k = NULL;
    char *buf;

    if (n < 34 || v[0] != CF_APIKEY_PACK_V1 || strlen(id) != CF_APIKEY_ID_LEN || sub[0] == '\0')
        return NULL;
    mask = get_varint(&r);
    if (mask < 0 || mask >= (INT64_C(1) << NFIELDS))
        return NULL;
    buf = malloc(n + NSTRS);
    if (buf == NULL)
        return NULL;
    if (get_fields(&r, (uint64_t)mask, nums, buf, strs) == 0 && r.pos == n)
        k = cf_apikey_new(id, v + 1, sub, strs[S_NAME], strs[S_CLIENT], strs[S_ROLES],
                          strs[S_SCOPE]);
    if (k != NULL) {
        int i = 0;
#define X(f) k->f = nums[i++];
        PACK_INTS(X)
#undef X
        if (set_links(k, strs) < 0) {
            cf_apikey_free(k);
            k = NULL;
        }
    }
    free(buf);
    return k;
}
