/* SPDX-License-Identifier: MIT
 *
 * API keys by id: open addressing over bare pointers, 8 bytes a slot where
 * cf_map's are 32, since the id lives inside the key. Keys may be hundreds
 * of thousands, so the table is part of every key's memory. Load stays under
 * 3/4; deletion shifts back (no tombstones). Pure data structure.
 */
#ifndef CF_CORE_APIKEYTAB_H
#define CF_CORE_APIKEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/apikeyrec.h"

typedef struct {
    cf_apikey_rec_t **slots;
    size_t cap;   /* a power of two, or 0 */
    size_t count;
    uint64_t seed; /* keys the slot hash: ids cannot be aimed at one run */
} cf_apikey_tab_t;

/** The key with id @id (CF_APIKEY_ID_LEN bytes), or NULL. */
cf_apikey_rec_t *cf_apikey_tab_get(const cf_apikey_tab_t *t, const char *id);
/** Put @k (borrowed: the caller owns keys), returning the key of the same id it replaces in *@old. 0 or CF_ENOMEM. */
int cf_apikey_tab_put(cf_apikey_tab_t *t, cf_apikey_rec_t *k, cf_apikey_rec_t **old);
/** Remove @id; returns its key or NULL. */
cf_apikey_rec_t *cf_apikey_tab_del(cf_apikey_tab_t *t, const char *id);
/** Iterate: *@pos = 0 first; the next key or NULL. Do not put or delete meanwhile. */
cf_apikey_rec_t *cf_apikey_tab_next(const cf_apikey_tab_t *t, size_t *pos);

#endif
