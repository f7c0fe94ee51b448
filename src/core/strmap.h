/* SPDX-License-Identifier: MIT
 *
 * A string-keyed intrusive hash table (chained, FNV-1a, grows by doubling)
 * for the core's streaming measures: the caller embeds a cf_strmap_node_t in
 * its own record and owns both the record and the key, so the map allocates
 * only its bucket array. Pure: no I/O, no clock.
 */
#ifndef CF_CORE_STRMAP_H
#define CF_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct cf_strmap_node {
    struct cf_strmap_node *next;
    uint64_t hash;
    const char *key; /* borrowed from the record; must outlive its membership */
} cf_strmap_node_t;

typedef struct {
    cf_strmap_node_t **b;
    size_t nb, n;
} cf_strmap_t;

#define CF_STRMAP_INIT {NULL, 0, 0}

/** Insert @node (node->key set; the key must not be in the map). 0 or CF_ENOMEM. */
int cf_strmap_put(cf_strmap_t *m, cf_strmap_node_t *node);

/** The node whose key is @key, or NULL. */
cf_strmap_node_t *cf_strmap_get(const cf_strmap_t *m, const char *key);

/** Remove @node, which must be in @m. */
void cf_strmap_del(cf_strmap_t *m, cf_strmap_node_t *node);

/** Free the bucket array (not the nodes); @m is empty and reusable. */
void cf_strmap_fini(cf_strmap_t *m);

#endif
