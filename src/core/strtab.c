/* SPDX-License-Identifier: MIT
 *
 * Interned strings (strtab.h) on the intrusive string map: an entry is the
 * map node, a count and the bytes, in one allocation.
 */
#include "core/strtab.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cf_strmap_node_t node; /* node.key points at s */
    uint32_t refs;
    char s[];
} entry_t;

static const char empty[1] = "";

static entry_t *entry_of(const char *s)
{
    return (entry_t *)(void *)((char *)(uintptr_t)s - offsetof(entry_t, s));
}

const char *cf_strtab_ref(cf_strtab_t *t, const char *s)
{
    cf_strmap_node_t *n;
    entry_t *e;
    size_t len;

    if (s == NULL || s[0] == '\0')
        return empty;
    if ((n = cf_strmap_get(&t->map, s)) != NULL) {
        e = (entry_t *)(void *)n;
        e->refs++;
        return e->s;
    }
    len = strlen(s) + 1;
    if ((e = malloc(sizeof *e + len)) == NULL)
        return NULL;
    memcpy(e->s, s, len);
    e->refs = 1;
    e->node.key = e->s;
    if (cf_strmap_put(&t->map, &e->node) < 0) {
        free(e);
        return NULL;
    }
    return e->s;
}

void cf_strtab_unref(cf_strtab_t *t, const char *s)
{
    entry_t *e;

    if (s == NULL || s == empty)
        return;
    e = entry_of(s);
    if (--e->refs == 0) {
        cf_strmap_del(&t->map, &e->node);
        free(e);
    }
}

size_t cf_strtab_count(const cf_strtab_t *t)
{
    return t->map.n;
}

void cf_strtab_fini(cf_strtab_t *t)
{
    cf_strmap_fini(&t->map);
}
