/* SPDX-License-Identifier: MIT
 *
 * Interned, reference-counted strings: one copy of each distinct string,
 * shared by every record that holds it. API keys repeat the same few owners,
 * clients, role lists and scopes across hundreds of thousands of records, so
 * each record keeps a pointer, not a copy. Pure data structure.
 */
#ifndef CF_CORE_STRTAB_H
#define CF_CORE_STRTAB_H

#include <stddef.h>

#include "core/strmap.h"

typedef struct {
    cf_strmap_t map; /* string -> its entry */
} cf_strtab_t;

#define CF_STRTAB_INIT {CF_STRMAP_INIT}

/**
 * The shared copy of @s (NULL taken as ""), with one more reference: pass it
 * to cf_strtab_unref() once. "" is a static string that costs nothing.
 * NULL when out of memory.
 */
const char *cf_strtab_ref(cf_strtab_t *t, const char *s);

/** Drop a reference taken by cf_strtab_ref(); the last one frees the copy. */
void cf_strtab_unref(cf_strtab_t *t, const char *s);

/** Distinct strings held. */
size_t cf_strtab_count(const cf_strtab_t *t);

/** Free the table; every string must have been unreferenced. */
void cf_strtab_fini(cf_strtab_t *t);

#endif
