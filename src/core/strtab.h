/* SPDX-License-Identifier: MIT
 *
 * Interned, reference-counted strings named by 32-bit ids: one copy of each
 * distinct string, shared by every record that holds it. API keys repeat the
 * same few owners, clients, role lists and scopes across hundreds of
 * thousands of records, so each record keeps a 4-byte id, not a copy or an
 * 8-byte pointer. Pure data structure.
 */
#ifndef CF_CORE_STRTAB_H
#define CF_CORE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/strmap.h"

/** Id 0 is "", held by no entry; any other id names one live entry. */
#define CF_STRTAB_EMPTY 0u

typedef struct {
    cf_strmap_t map;          /* string -> its entry */
    struct cf_strtab_entry **v; /* by id; v[0] unused */
    uint32_t used, cap;       /* ids handed out so far (high-water mark), room in v */
    uint32_t *spare;          /* ids freed, reused first */
    uint32_t nspare, capspare;
} cf_strtab_t;

#define CF_STRTAB_INIT {CF_STRMAP_INIT, NULL, 0, 0, NULL, 0, 0}

/**
 * Take one more reference to @s (NULL taken as ""), storing its id in *@id:
 * pass the id to cf_strtab_unref() once. "" is CF_STRTAB_EMPTY and costs
 * nothing. Returns 0 or CF_ENOMEM.
 */
int cf_strtab_ref(cf_strtab_t *t, const char *s, uint32_t *id);

/** Drop a reference taken by cf_strtab_ref(); the last one frees the copy and the id. */
void cf_strtab_unref(cf_strtab_t *t, uint32_t id);

/** The string with id @id ("" for CF_STRTAB_EMPTY); valid while referenced. */
const char *cf_strtab_str(const cf_strtab_t *t, uint32_t id);

/** Distinct strings held. */
size_t cf_strtab_count(const cf_strtab_t *t);

/** Free the table; every string must have been unreferenced. */
void cf_strtab_fini(cf_strtab_t *t);

#endif
