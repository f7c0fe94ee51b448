/* SPDX-License-Identifier: MIT
 *
 * The string map (strmap.h). The load stays at most one node per bucket, so
 * a lookup walks one or two nodes; the stored hash makes growing cheap and
 * most mismatches a single integer compare.
 */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int grow(cf_strmap_t *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    cf_strmap_node_t **b = calloc(nb, sizeof *b);

    if (b == NULL)
        return CF_ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        cf_strmap_node_t *n = m->b[i], *next;
        for (; n != NULL; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

int cf_strmap_put(cf_strmap_t *m, cf_strmap_node_t *node)
{
    size_t i;

    if (m->n >= m->nb && grow(m) < 0)
        return CF_ENOMEM;
    node->hash = hash(node->key);
    i = node->hash & (m->nb - 1);
    node->next = m->b[i];
    m->b[i] = node;
    m->n++;
    return 0;
}

cf_strmap_node_t *cf_strmap_get(const cf_strmap_t *m, const char *key)
{
    uint64_t h;

    if (m->nb == 0)
        return NULL;
    h = hash(key);
    for (cf_strmap_node_t *n = m->b[h & (m->nb - 1)]; n != NULL; n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

void cf_strmap_del(cf_strmap_t *m, cf_strmap_node_t *node)
{
    cf_strmap_node_t **p = &m->b[node->hash & (m->nb - 1)];

    while (*p != NULL && *p != node)
        p = &(*p)->next;
    if (*p == node) {
        *p = node->next;
        m->n--;
    }
}

void cf_strmap_fini(cf_strmap_t *m)
{
    free(m->b);
    m->b = NULL;
    m->nb = m->n = 0;
}
