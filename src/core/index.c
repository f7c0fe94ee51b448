/* SPDX-License-Identifier: MIT
 *
 * The session index: records, tables, interned strings and groups. The
 * deadline heaps and the creation order are in index_time.c, the tables
 * (and their incremental growth) in index_tab.c. See index.h.
 */
#include "core/index_int.h"
#include "core/index_tab.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/policy.h"

/* The risk fields of a record are bit-fields (core/session.h). */
_Static_assert(CF_IPBIND_EXACT < 8 && CF_RISK_REVOKE < 4, "risk values outgrow their bit-fields");
_Static_assert(CF_END__COUNT <= 256, "end reasons outgrow their byte");

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

static void pool_init(ix_pool_t *p, size_t size, size_t per_block)
{
    memset(p, 0, sizeof *p);
    p->size = size;
    p->per_block = per_block;
}

/* A new block of free objects; 0 or CF_ENOMEM. */
static int pool_grow(ix_pool_t *p)
{
    char *b;

    if (p->nblocks == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        void **v = realloc(p->blocks, cap * sizeof *v);
        if (v == NULL)
            return CF_ENOMEM;
        p->blocks = v;
        p->cap = cap;
    }
    /* Places are 32-bit (pool_get_at): no more objects than that. */
    if ((p->nblocks + 1) * p->per_block > UINT32_MAX)
        return CF_ENOMEM;
    b = malloc(p->size * p->per_block);
    if (b == NULL)
        return CF_ENOMEM;
    p->blocks[p->nblocks++] = b;
    /* Thread the new block onto the free list, first object first; a free
     * object holds the next free one and (after it) its own place. */
    for (size_t i = p->per_block; i-- > 0;) {
        char *o = b + i * p->size;
        uint32_t at = (uint32_t)((p->nblocks - 1) * p->per_block + i);
        memcpy(o, &p->free, sizeof p->free); /* objects may be 4-aligned (refresh entries) */
        memcpy(o + sizeof(void *), &at, sizeof at);
        p->free = o;
    }
    return 0;
}

static void *pool_get(ix_pool_t *p)
{
    void *o;

    if (p->free == NULL && pool_grow(p) < 0)
        return NULL;
    o = p->free;
    memcpy(&p->free, o, sizeof p->free);
    p->used++;
    memset(o, 0, p->size);
    return o;
}

static void pool_put(ix_pool_t *p, void *o)
{
    memcpy(o, &p->free, sizeof p->free);
    p->free = o;
    p->used--;
}

/*
 * The same, naming objects by their place (0-based, 32 bits) so that links
 * between them take 4 bytes, not 8. Only for pools whose objects are always
 * given back with pool_put_at (the free object remembers its place).
 */
static void *pool_get_at(ix_pool_t *p, uint32_t *at)
{
    if (p->free == NULL && pool_grow(p) < 0)
        return NULL;
    memcpy(at, (char *)p->free + sizeof(void *), sizeof *at);
    return pool_get(p);
}

static void pool_put_at(ix_pool_t *p, void *o, uint32_t at)
{
    pool_put(p, o);
    memcpy((char *)o + sizeof(void *), &at, sizeof at);
}

static void *pool_at(const ix_pool_t *p, uint32_t at)
{
    return (char *)p->blocks[at / p->per_block] + (size_t)(at % p->per_block) * p->size;
}

static void pool_fini(ix_pool_t *p)
{
    for (size_t i = 0; i < p->nblocks; i++)
        free(p->blocks[i]);
    free(p->blocks);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------ */
/* Interned strings and groups                                          */
/* ------------------------------------------------------------------ */

/*
 * Interned strings of up to 48 bytes (header included: every IPv4 and IPv6
 * address, most device fingerprints and names) come from two pools, not
 * malloc: a million unique addresses were a million small chunks, and
 * purging them left the allocator's bins so fragmented that a later malloc
 * (building a listing's JSON) spent microseconds sorting them.
 */
#define STR_SMALL 24
#define STR_LARGE 48

static ix_pool_t *str_pool(cf_index_t *ix, size_t bytes)
{
    return bytes <= STR_SMALL ? &ix->str_small : bytes <= STR_LARGE ? &ix->str_large : NULL;
}

static void *str_alloc(cf_index_t *ix, size_t bytes)
{
    ix_pool_t *p = str_pool(ix, bytes);

    return p != NULL ? pool_get(p) : malloc(bytes);
}

static void str_release(cf_index_t *ix, void *e, size_t bytes)
{
    ix_pool_t *p = str_pool(ix, bytes);

    if (p != NULL)
        pool_put(p, e);
    else
        free(e);
}

static char *str_ref(cf_index_t *ix, const char *s)
{
    uint64_t h;
    size_t len = strlen(s), i = cf__ix_tab_slot(ix, &ix->strings, K_STRING, s, len, &h);
    ix_str_t *e;

    if (i == SIZE_MAX)
        return NULL;
    e = cf__ix_untag(ix->strings.slot[i]);
    if (e == NULL) {
        e = str_alloc(ix, sizeof *e + len + 1);
        if (e == NULL)
            return NULL;
        e->refs = 0;
        e->hash = (uint32_t)h;
        memcpy(e->s, s, len + 1);
        cf__ix_tab_set(&ix->strings, i, e, h);
        ix->string_bytes += sizeof *e + len + 1;
    }
    e->refs++;
    return e->s;
}

static void str_unref(cf_index_t *ix, char *s)
{
    ix_str_t *e;

    if (s == NULL)
        return;
    e = (ix_str_t *)(void *)(s - offsetof(ix_str_t, s));
    if (--e->refs > 0)
        return;
    ix->string_bytes -= sizeof *e + strlen(s) + 1;
    cf__ix_tab_del(ix, &ix->strings, K_STRING, s, strlen(s));
    str_release(ix, e, sizeof *e + strlen(s) + 1);
}

/*
 * Addresses are nearly all different (a million sessions, a million
 * addresses), so interning them bought nothing and cost each session a
 * string header, a table slot and a probe at load. One of up to 15
 * characters (every IPv4 address) lives in the record itself
 * (cf_session_ip_t); longer ones (IPv6) are interned as before.
 */
static int ip_ref(cf_index_t *ix, cf_session_t *s, const char *ip)
{
    size_t len = strlen(ip);

    memset(&s->ip, 0, sizeof s->ip);
    if (len < CF_IP_INLINE) {
        memcpy(s->ip.in, ip, len);
        return 0;
    }
    if ((s->ip.x.p = str_ref(ix, ip)) == NULL)
        return CF_ENOMEM;
    s->ip.x.far = 1;
    return 0;
}

/* A group and its name: the name starts inside sizeof's tail padding (a
 * 10-character subject then fits a 48-byte chunk, not a 64-byte one). */
#define GROUP_SIZE(len) (offsetof(cf_group_t, name) + (len) + 1)

static cf_group_t *group_ref(cf_index_t *ix, ix_tab_t *t, const char *name)
{
    uint64_t h;
    size_t len = strlen(name), i = cf__ix_tab_slot(ix, t, K_GROUP, name, len, &h);
    cf_group_t *g;

    if (i == SIZE_MAX)
        return NULL;
    if ((g = cf__ix_untag(t->slot[i])) != NULL)
        return g;
    g = calloc(1, GROUP_SIZE(len));
    if (g == NULL)
        return NULL;
    g->hash = (uint32_t)h;
    memcpy(g->name, name, len + 1);
    cf__ix_tab_set(t, i, g, h);
    ix->string_bytes += GROUP_SIZE(len);
    return g;
}

/* Drop @g when nothing keeps it: no session, no epoch. */
static void group_maybe_free(cf_index_t *ix, ix_tab_t *t, cf_group_t *g)
{
    if (g->count > 0 || g->not_before > 0)
        return;
    ix->string_bytes -= GROUP_SIZE(strlen(g->name));
    cf__ix_tab_del(ix, t, K_GROUP, g->name, strlen(g->name));
    free(g);
}

static cf_group_t *group_of(const char *name)
{
    return (cf_group_t *)(void *)(name - offsetof(cf_group_t, name));
}

/*
 * Profiles: (client, scope, roles, limits) interned, one per distinct value.
 * A profile borrows its client's group name (every session naming it is in
 * that group, so the group outlives it) and holds scope and roles in its
 * own block.
 */
static const cf_profile_t *profile_ref(cf_index_t *ix, const char *client, const cf_session_t *src)
{
    cf_profile_t probe = {.limits = *cf_session_limits(src),
                          .client_id = client,
                          .scope = cf_session_scope(src),
                          .roles = cf_session_roles(src)};
    size_t ls = strlen(probe.scope), lr = strlen(probe.roles);
    uint64_t h;
    size_t i = cf__ix_tab_slot(ix, &ix->profiles, K_PROFILE, &probe, 0, &h);
    cf_profile_t *p;
    char *str;

    if (i == SIZE_MAX)
        return NULL;
    p = cf__ix_untag(ix->profiles.slot[i]);
    if (p == NULL) {
        p = malloc(sizeof *p + ls + 1 + lr + 1);
        if (p == NULL)
            return NULL;
        str = (char *)(p + 1);
        memcpy(str, probe.scope, ls + 1);
        memcpy(str + ls + 1, probe.roles, lr + 1);
        *p = (cf_profile_t){.limits = probe.limits,
                            .client_id = client,
                            .scope = str,
                            .roles = str + ls + 1,
                            .hash = (uint32_t)h};
        cf__ix_tab_set(&ix->profiles, i, p, h);
        ix->string_bytes += sizeof *p + ls + lr + 2;
    }
    p->refs++;
    return p;
}

static void profile_unref(cf_index_t *ix, const cf_profile_t *cp)
{
    cf_profile_t *p = (cf_profile_t *)(uintptr_t)cp;

    if (p == NULL || --p->refs > 0)
        return;
    ix->string_bytes -= sizeof *p + strlen(p->scope) + strlen(p->roles) + 2;
    cf__ix_tab_del(ix, &ix->profiles, K_PROFILE, p, 0);
    free(p);
}

cf_subject_t *cf_index_subject(const cf_index_t *ix, const char *sub)
{
    return cf__ix_tab_get(ix, &ix->subjects, K_GROUP, sub, strlen(sub));
}

cf_group_t *cf_index_client(const cf_index_t *ix, const char *client_id)
{
    return cf__ix_tab_get(ix, &ix->clients, K_GROUP, client_id, strlen(client_id));
}

cf_group_t *cf_index_next_client(const cf_index_t *ix, size_t *pos)
{
    return cf__ix_tab_next(&ix->clients, pos);
}

int cf_index_set_not_before(cf_index_t *ix, const char *sub, cf_time_t at)
{
    cf_group_t *g = group_ref(ix, &ix->subjects, sub);

    if (g == NULL)
        return CF_ENOMEM;
    if (at > g->not_before)
        g->not_before = at;
    group_maybe_free(ix, &ix->subjects, g); /* an epoch of 0 on a subject without sessions */
    return 0;
}

cf_time_t cf_index_not_before(const cf_index_t *ix, const char *sub)
{
    const cf_group_t *g = cf_index_subject(ix, sub);

    return g != NULL ? g->not_before : 0;
}

/* ------------------------------------------------------------------ */
/* Sessions                                                             */
/* ------------------------------------------------------------------ */

cf_index_t *cf_index_new(uint64_t seed)
{
    cf_index_t *ix = calloc(1, sizeof *ix);

    if (ix == NULL)
        return NULL;
    ix->seed = seed;
    ix->rehash_moves = CF__IX_REHASH_MOVES;
    pool_init(&ix->records, sizeof(cf_session_t), CF__IX_REC_BLOCK);
    pool_init(&ix->entries, sizeof(cf_refresh_entry_t), 4096);
    ix->live.recs = ix->dead.recs = &ix->records;
    pool_init(&ix->str_small, STR_SMALL, 8192);
    pool_init(&ix->str_large, STR_LARGE, 4096);
    return ix;
}

static void tab_free_all(ix_tab_t *t)
{
    size_t pos = 0;
    void *e;

    while ((e = cf__ix_tab_next(t, &pos)) != NULL)
        free(e);
    cf__ix_tab_fini(t);
}

void cf_index_free(cf_index_t *ix)
{
    size_t pos = 0;
    ix_str_t *e;

    if (ix == NULL)
        return;
    for (cf_session_t *s; (s = cf__ix_tab_next(&ix->sessions, &pos)) != NULL;)
        free(s->ext); /* interned strings go with their table below */
    pos = 0;
    tab_free_all(&ix->profiles);
    tab_free_all(&ix->subjects);
    tab_free_all(&ix->clients);
    while ((e = cf__ix_tab_next(&ix->strings, &pos)) != NULL) /* pooled ones go with their pools */
        if (str_pool(ix, sizeof *e + strlen(e->s) + 1) == NULL)
            free(e);
    cf__ix_tab_fini(&ix->strings);
    cf__ix_tab_fini(&ix->sessions);
    cf__ix_tab_fini(&ix->refresh);
    pool_fini(&ix->records);
    pool_fini(&ix->entries);
    pool_fini(&ix->str_small);
    pool_fini(&ix->str_large);
    free(ix->live.v);
    free(ix->dead.v);
    free(ix->order);
    free(ix->lapsed);
    free(ix);
}

size_t cf_index_count(const cf_index_t *ix)
{
    return ix->sessions.count;
}

size_t cf_index_refresh_count(const cf_index_t *ix)
{
    return ix->refresh.count;
}

cf_session_t *cf_index_get(const cf_index_t *ix, const char *sid, size_t len)
{
    return cf__ix_tab_get(ix, &ix->sessions, K_SESSION, sid, len);
}

/* Release what a record references (strings, groups) and give it back to the pool. */
static void record_free(cf_index_t *ix, cf_session_t *s)
{
    cf_group_t *sub = s->sub != NULL ? group_of(s->sub) : NULL;
    cf_group_t *cli = s->prof != NULL ? group_of(s->prof->client_id) : NULL;

    profile_unref(ix, s->prof);
    if (s->ip.x.far)
        str_unref(ix, s->ip.x.p);
    if (s->ext != NULL) {
        str_unref(ix, s->ext->device);
        str_unref(ix, s->ext->cnf);
        free(s->ext);
    }
    if (sub != NULL)
        group_maybe_free(ix, &ix->subjects, sub);
    if (cli != NULL)
        group_maybe_free(ix, &ix->clients, cli);
    pool_put_at(&ix->records, s, s->self);
}

/* Records link to each other by 1 + their place in the pool (4 bytes, not 8). */
static cf_session_t *rec_at(const cf_index_t *ix, uint32_t link)
{
    return cf__ix_rec(&ix->records, link);
}

static uint32_t link_of(const cf_session_t *s)
{
    return s != NULL ? s->self + 1 : 0;
}

cf_session_t *cf_index_sub_next(const cf_index_t *ix, const cf_session_t *s)
{
    return rec_at(ix, s->sub_next);
}

cf_session_t *cf_index_cli_next(const cf_index_t *ix, const cf_session_t *s)
{
    return rec_at(ix, s->cli_next);
}

static void link_groups(cf_session_t *s)
{
    cf_group_t *sub = group_of(s->sub), *cli = group_of(s->prof->client_id);

    s->sub_prev = 0;
    s->sub_next = link_of(sub->head);
    if (sub->head != NULL)
        sub->head->sub_prev = link_of(s);
    sub->head = s;
    sub->count++;
    s->cli_prev = 0;
    s->cli_next = link_of(cli->head);
    if (cli->head != NULL)
        cli->head->cli_prev = link_of(s);
    cli->head = s;
    cli->count++;
}

static void unlink_groups(cf_index_t *ix, cf_session_t *s)
{
    cf_group_t *sub = group_of(s->sub), *cli = group_of(s->prof->client_id);
    cf_session_t *prev = rec_at(ix, s->sub_prev), *next = rec_at(ix, s->sub_next);

    if (prev != NULL)
        prev->sub_next = s->sub_next;
    else
        sub->head = next;
    if (next != NULL)
        next->sub_prev = s->sub_prev;
    sub->count--;
    prev = rec_at(ix, s->cli_prev);
    next = rec_at(ix, s->cli_next);
    if (prev != NULL)
        prev->cli_next = s->cli_next;
    else
        cli->head = next;
    if (next != NULL)
        next->cli_prev = s->cli_prev;
    cli->count--;
    s->sub_prev = s->sub_next = s->cli_prev = s->cli_next = 0;
}

/* Copy @src's values into the fresh record @s, interning its strings. */
static int record_fill(cf_index_t *ix, cf_session_t *s, const cf_session_t *src)
{
    const char *device = cf_session_device(src), *cnf = cf_session_cnf_text(src);
    cf_group_t *sub, *cli;

    memcpy(s->id, src->id, sizeof s->id);
    s->ip_binding = src->ip_binding;
    s->on_ip_change = src->on_ip_change;
    s->on_device_change = src->on_device_change;
    s->pooled = 1;
    s->end = src->end;
    s->refresh_gen = src->refresh_gen;
    s->created_at = src->created_at; /* first: the other times are offsets from it */
    for (int k = 0; k < CF_T__COUNT; k++)
        s->off[k] = CF_SESSION_OFF_ZERO;
    for (int k = 0; k < CF_T__COUNT; k++)
        cf_session_set_time(s, k,
                            k == CF_T_IDLE ? cf_time_min(cf_session_idle_deadline(src),
                                                         cf_session_absolute_deadline(src))
                                           : cf_session_time(src, k));
    if (device[0] != '\0' || cnf[0] != '\0') {
        if (cf_session_waiters(s) == NULL)
            return CF_ENOMEM;
        s->ext->device = device[0] != '\0' ? str_ref(ix, device) : NULL;
        s->ext->cnf = cnf[0] != '\0' ? str_ref(ix, cnf) : NULL;
        if ((device[0] != '\0' && s->ext->device == NULL) ||
            (cnf[0] != '\0' && s->ext->cnf == NULL))
            return CF_ENOMEM;
    }
    sub = group_ref(ix, &ix->subjects, src->sub);
    if (sub != NULL)
        s->sub = sub->name;
    cli = group_ref(ix, &ix->clients, cf_session_client_id(src));
    if (cli != NULL && (s->prof = profile_ref(ix, cli->name, src)) == NULL)
        group_maybe_free(ix, &ix->clients, cli); /* record_free finds it through the profile */
    if (ip_ref(ix, s, cf_session_ip(src)) < 0 || s->sub == NULL || s->prof == NULL)
        return CF_ENOMEM;
    return 0;
}

int cf_index_set_cnf(cf_index_t *ix, cf_session_t *s, const char *cnf)
{
    char *v;

    if (cnf == NULL || cnf[0] == '\0' || cf_session_cnf_text(s)[0] != '\0')
        return 0; /* nothing to bind, or bound once already: a binding never changes */
    if (cf_session_waiters(s) == NULL)
        return CF_ENOMEM;
    v = str_ref(ix, cnf);
    if (v == NULL)
        return CF_ENOMEM;
    s->ext->cnf = v;
    return 0;
}

cf_session_t *cf_index_add(cf_index_t *ix, const cf_session_t *src, cf_time_t now)
{
    uint64_t h;
    size_t slot = cf__ix_tab_slot(ix, &ix->sessions, K_SESSION, src->id, CF_SID_LEN, &h);
    cf_session_t *s;
    uint32_t at;

    if (slot == SIZE_MAX || ix->sessions.slot[slot] != NULL)
        return NULL; /* out of memory, or already indexed */
    s = pool_get_at(&ix->records, &at);
    if (s == NULL)
        return NULL;
    s->self = at;
    if (record_fill(ix, s, src) < 0)
        goto fail;
    /* Only other tables changed since: the slot is still the one. */
    cf__ix_tab_set(&ix->sessions, slot, s, h);
    if (cf__ix_order_add(ix, s) < 0) {
        cf__ix_tab_del(ix, &ix->sessions, K_SESSION, s->id, CF_SID_LEN);
        goto fail;
    }
    if (cf__ix_file(ix, s, now) < 0) {
        cf__ix_order_del(ix, s);
        cf__ix_tab_del(ix, &ix->sessions, K_SESSION, s->id, CF_SID_LEN);
        goto fail;
    }
    link_groups(s);
    return s;
fail:
    record_free(ix, s);
    return NULL;
}

void cf_index_remove(cf_index_t *ix, cf_session_t *s)
{
    for (uint32_t at = s->refresh; at != 0;) {
        cf_refresh_entry_t *e = pool_at(&ix->entries, at - 1);
        uint32_t next = e->next;
        cf__ix_tab_del(ix, &ix->refresh, K_REFRESH, e->hash, CF_INDEX_REFRESH_KEY);
        pool_put_at(&ix->entries, e, at - 1);
        at = next;
    }
    s->refresh = 0;
    cf__ix_count(ix, s, 0);
    cf__ix_heap_del(ix, s);
    cf__ix_order_del(ix, s);
    cf__ix_tab_del(ix, &ix->sessions, K_SESSION, s->id, CF_SID_LEN);
    unlink_groups(ix, s);
    record_free(ix, s);
}

int cf_index_add_refresh(cf_index_t *ix, cf_session_t *s, const uint8_t hash[32], uint32_t gen)
{
    uint64_t h;
    size_t slot = cf__ix_tab_slot(ix, &ix->refresh, K_REFRESH, hash, CF_INDEX_REFRESH_KEY, &h);
    cf_refresh_entry_t *e;
    uint32_t at;

    if (slot == SIZE_MAX)
        return CF_ENOMEM;
    if (ix->refresh.slot[slot] != NULL)
        return CF_EEXIST;
    e = pool_get_at(&ix->entries, &at);
    if (e == NULL)
        return CF_ENOMEM;
    memcpy(e->hash, hash, CF_INDEX_REFRESH_KEY);
    e->gen = gen;
    e->owner = s->self + 1;
    cf__ix_tab_set(&ix->refresh, slot, e, h);
    e->next = s->refresh;
    s->refresh = at + 1;
    return 0;
}

cf_session_t *cf_index_refresh_owner(const cf_index_t *ix, const cf_refresh_entry_t *e)
{
    return rec_at(ix, e->owner);
}

cf_refresh_entry_t *cf_index_refresh(const cf_index_t *ix, const uint8_t hash[32])
{
    return cf__ix_tab_get(ix, &ix->refresh, K_REFRESH, hash, CF_INDEX_REFRESH_KEY);
}

int cf_index_next_lapsed(cf_index_t *ix, char sid[CF_SID_LEN + 1])
{
    while (ix->nlapsed > 0) {
        const cf_session_t *s;

        memcpy(sid, ix->lapsed[ix->lapsed_head], CF_SID_LEN + 1);
        ix->lapsed_head++;
        if (--ix->nlapsed == 0)
            ix->lapsed_head = 0;
        s = cf_index_get(ix, sid, CF_SID_LEN);
        if (s != NULL && s->lapsed && s->end == CF_END_NONE)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Prefetching for loads                                                */
/* ------------------------------------------------------------------ */

void cf_index_prefetch_add(const cf_index_t *ix, const cf_session_t *src, int stage)
{
    const char *ip = cf_session_ip(src); /* interned when long (ip_ref) */
    cf_group_t *g;

    if (strlen(ip) < CF_IP_INLINE)
        ip = "";

    switch (stage) {
    case 0:
        cf__ix_tab_prefetch(ix, &ix->sessions, K_SESSION, src->id, CF_SID_LEN, 0);
        cf__ix_tab_prefetch(ix, &ix->subjects, K_GROUP, src->sub, strlen(src->sub), 0);
        cf__ix_tab_prefetch(ix, &ix->strings, K_STRING, ip, strlen(ip), 0);
        break;
    case 1:
        cf__ix_tab_prefetch(ix, &ix->subjects, K_GROUP, src->sub, strlen(src->sub), 1);
        cf__ix_tab_prefetch(ix, &ix->strings, K_STRING, ip, strlen(ip), 1);
        break;
    default: /* linking the record writes into the subject's newest session */
        g = cf__ix_tab_prefetch(ix, &ix->subjects, K_GROUP, src->sub, strlen(src->sub), 1);
        if (g != NULL && g->head != NULL)
            __builtin_prefetch(g->head, 1);
        break;
    }
}

void cf_index_prefetch_refresh(const cf_index_t *ix, const char *sid, const uint8_t hash[32],
                               int stage)
{
    if (stage == 0) {
        cf__ix_tab_prefetch(ix, &ix->sessions, K_SESSION, sid, CF_SID_LEN, 0);
        cf__ix_tab_prefetch(ix, &ix->refresh, K_REFRESH, hash, CF_INDEX_REFRESH_KEY, 0);
    } else {
        cf__ix_tab_prefetch(ix, &ix->sessions, K_SESSION, sid, CF_SID_LEN, 1);
    }
}

/* A step of every growing table. */
static void tabs_step(cf_index_t *ix, size_t slots, size_t moves)
{
    cf__ix_tab_step(ix, &ix->sessions, K_SESSION, slots, moves);
    cf__ix_tab_step(ix, &ix->refresh, K_REFRESH, slots, moves);
    cf__ix_tab_step(ix, &ix->subjects, K_GROUP, slots, moves);
    cf__ix_tab_step(ix, &ix->clients, K_GROUP, slots, moves);
    cf__ix_tab_step(ix, &ix->strings, K_STRING, slots, moves);
    cf__ix_tab_step(ix, &ix->profiles, K_PROFILE, slots, moves);
}

size_t cf_index_expire(cf_index_t *ix, cf_time_t now, size_t max, cf_index_purge_fn fn, void *arg)
{
    /* The periodic sweep also drains a table that inserts stopped feeding
     * mid-growth: its old array is memory. 256 moves a table, ~25 us. */
    tabs_step(ix, 1024, 256);
    return cf__ix_expire(ix, now, max, fn, arg);
}

int cf_index_reserve(cf_index_t *ix, size_t sessions)
{
    if (sessions > CF_INDEX_RESERVE_MAX)
        sessions = CF_INDEX_RESERVE_MAX;
    if (cf__ix_tab_reserve(&ix->sessions, sessions) < 0 ||
        cf__ix_tab_reserve(&ix->refresh, sessions) < 0)
        return CF_ENOMEM;
    return 0;
}

size_t cf_index_bytes(const cf_index_t *ix)
{
    return ix->records.nblocks * ix->records.per_block * ix->records.size +
           ix->entries.nblocks * ix->entries.per_block * ix->entries.size +
           (ix->sessions.cap + ix->refresh.cap + ix->subjects.cap + ix->clients.cap +
            ix->strings.cap + ix->sessions.old_cap + ix->refresh.old_cap + ix->subjects.old_cap +
            ix->clients.old_cap + ix->strings.old_cap + ix->profiles.cap + ix->profiles.old_cap) *
               sizeof(void *) +
           (ix->live.cap + ix->dead.cap) * sizeof(ix_heap_ent_t) +
           ix->order_cap * sizeof *ix->order + ix->string_bytes;
}
