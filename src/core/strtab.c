/* SPDX-License-Identifier: MIT
 *
 * Interned strings (strtab.h) on the intrusive string map: an entry is the
 * map node, a count, its id and the bytes, in one allocation; an array maps
 * ids back to entries.
 */
#include "core/strtab.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct cf_strtab_entry {
    cf_strmap_node_t node; /* first: a node is its entry; node.key points at s */
    uint32_t refs;
    uint32_t id;
    char s[];
};

/* A free id for a new entry, growing the id array when none is spare. */
static int take_id(cf_strtab_t *t, uint32_t *id)
{
    if (t->nspare > 0) {
        *id = t->spare[--t->nspare];
        return 0;
    }
    if (t->used + 1 >= t->cap) {
        uint32_t cap = t->cap ? 2 * t->cap : 64;
        struct cf_strtab_entry **v;
        if (cap <= t->cap || (v = realloc(t->v, cap * sizeof *v)) == NULL)
            return CF_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    *id = ++t->used; /* id 0 stays "" */
    return 0;
}

/* Remember @id as free. The stack never outgrows the ids handed out, so
 * reserving room for all of them up front keeps unref from failing. */
static int reserve_spare(cf_strtab_t *t)
{
    if (t->capspare < t->cap) {
        uint32_t *s = realloc(t->spare, t->cap * sizeof *s);
        if (s == NULL)
            return CF_ENOMEM;
        t->spare = s;
        t->capspare = t->cap;
    }
    return 0;
}

int cf_strtab_ref(cf_strtab_t *t, const char *s, uint32_t *id)
{
    cf_strmap_node_t *n;
    struct cf_strtab_entry *e;
    size_t len;

    *id = CF_STRTAB_EMPTY;
    if (s == NULL || s[0] == '\0')
        return 0;
    if ((n = cf_strmap_get(&t->map, s)) != NULL) {
        e = (struct cf_strtab_entry *)(void *)n;
        e->refs++;
        *id = e->id;
        return 0;
    }
    len = strlen(s) + 1;
    if ((e = malloc(sizeof *e + len)) == NULL)
        return CF_ENOMEM;
    memcpy(e->s, s, len);
    e->refs = 1;
    e->id = CF_STRTAB_EMPTY;
    e->node.key = e->s;
    if (take_id(t, &e->id) < 0 || reserve_spare(t) < 0 || cf_strmap_put(&t->map, &e->node) < 0) {
        if (e->id != CF_STRTAB_EMPTY) {
            t->v[e->id] = NULL;
            if (t->capspare > t->nspare) /* else the id is lost, never reused */
                t->spare[t->nspare++] = e->id;
        }
        free(e);
        return CF_ENOMEM;
    }
    t->v[e->id] = e;
    *id = e->id;
    return 0;
}

void cf_strtab_unref(cf_strtab_t *t, uint32_t id)
{
    struct cf_strtab_entry *e;

    if (id == CF_STRTAB_EMPTY || id > t->used || (e = t->v[id]) == NULL)
        return;
    if (--e->refs == 0) {
        cf_strmap_del(&t->map, &e->node);
        t->v[id] = NULL;
        t->spare[t->nspare++] = id; /* room reserved when the id was taken */
        free(e);
    }
}

const char *cf_strtab_str(const cf_strtab_t *t, uint32_t id)
{
    return id != CF_STRTAB_EMPTY && id <= t->used && t->v[id] != NULL ? t->v[id]->s : "";
}

size_t cf_strtab_count(const cf_strtab_t *t)
{
    return t->map.n;
}

void cf_strtab_fini(cf_strtab_t *t)
{
    cf_strmap_fini(&t->map);
    free(t->v);
    free(t->spare);
    *t = (cf_strtab_t)CF_STRTAB_INIT;
}
