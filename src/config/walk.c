/* SPDX-License-Identifier: MIT
 *
 * The one walker of the config file: the root mapping and every element of
 * clients[], roles.NAME, routes[] and alerts.rules[] are walked by the same
 * functions over the one option table (options.c). A key is a row of the
 * element's level, applied at once, or a block, walked in turn; the YAML
 * node each row's type expects (a plain value, a list of plain values, a
 * section of elements) is checked here, once, before the type's parse().
 *
 * Decides which keys exist and what shape each value has; it must never
 * leave a section half-applied (the elements are built on the side and
 * installed only when all of them are valid), never keep a pointer into the
 * YAML document past the load, and never know a row by name (apart from the
 * `store: URL` shorthand). The root's messages predate the sections' and
 * are worded slightly differently; both are kept byte for byte, so the
 * few places that differ test `root`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/sections.h"
#include "core/error.h"

static int walk(loader_t *ld, level_id_t lvl, cf__item_t *it, const yaml_node_t *at,
                const yaml_node_t *map, const char *where, const char *prefix);

/* "NAME:LINE: W: MSG" at @k for a refused value, or "NAME: out of memory". */
static int refused(loader_t *ld, const yaml_node_t *k, const char *w, const char *msg, int rc)
{
    if (rc == CF_ENOMEM && strcmp(msg, "out of memory") == 0)
        return cf__config_oom(ld);
    (void)cf__config_fail_at(ld, k, "%s: %s", w, msg);
    return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
}

/*
 * Rows that share one place in the struct (path, path_prefix, path_glob:
 * the same ->excl) exclude each other: the second one given is refused,
 * naming the first.
 */
static int exclusive_ok(loader_t *ld, const option_t *o, const cf__item_t *it, const char *w,
                        const yaml_node_t *k)
{
    const option_t *rows = it->rows, *prev = NULL;
    char names[160] = "";
    size_t count = 0, len = 0, n;

    if (o->excl == 0)
        return 0;
    for (n = 0; n < CF__FIELDS_MAX && rows[n].level == o->level; n++)
        if (rows[n].excl == o->excl) {
            count++;
            if (&rows[n] != o && it->seen[n] != NULL)
                prev = &rows[n];
        }
    if (prev == NULL)
        return 0;
    for (size_t i = 0, j = 0; i < n && len < sizeof names; i++)
        if (rows[i].excl == o->excl) {
            j++;
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s",
                                    j == 1 ? "" : j == count ? " and " : ", ", rows[i].key);
        }
    return cf__config_fail_at(ld, k, "%s: only one of %s may be set (%s on line %zu)", w, names,
                              prev->key, cf__config_line_of(it->seen[prev - rows]));
}

/* A plain value for row @o at @w: its node kind, then the type's parse(). */
static int apply_scalar(loader_t *ld, const option_t *o, void *obj, const char *w,
                        const yaml_node_t *k, const yaml_node_t *v)
{
    const type_t *t = cf__config_type(o);
    char msg[384];
    const char *s;
    size_t n;
    int rc;

    if (o->level != LVL_ROOT) {
        if (cf__config_scalar(ld, w, k, v, t->what, &s, &n) < 0)
            return CF_ECONFIG;
    } else if (v->type != YAML_SCALAR_NODE || cf__config_is_null(v)) {
        cf__config_expected(o, msg, sizeof msg);
        return cf__config_fail_at(ld, k, "%s: expected %s, got %s", w, msg,
                                  v->type == YAML_SCALAR_NODE ? "nothing"
                                                              : cf__config_node_kind(v));
    } else {
        s = (const char *)v->data.scalar.value;
        n = v->data.scalar.length;
    }
    rc = t->parse(o, obj, s, n, msg, sizeof msg);
    return rc < 0 ? refused(ld, k, w, msg, rc) : 0;
}

/*
 * One item of a list: a plain value the type's item() accepts. The root
 * also refuses what cannot be joined with ','; a section refuses an item
 * given twice (@prev: the items before it).
 */
static int list_item(loader_t *ld, const option_t *o, const char *w, const yaml_node_t *item,
                     const yaml_node_t *seq, size_t i)
{
    char msg[256], shown[64];
    const char *s;
    size_t n;

    if (o->level != LVL_ROOT) {
        if (cf__config_scalar(ld, w, item, item, "a plain value", &s, &n) < 0)
            return CF_ECONFIG;
    } else {
        if (item->type != YAML_SCALAR_NODE || cf__config_is_null(item))
            return cf__config_fail_at(
                ld, item, "%s: list items must be plain values, not %s", w,
                item->type == YAML_SCALAR_NODE ? "nothing" : cf__config_node_kind(item));
        s = (const char *)item->data.scalar.value;
        n = item->data.scalar.length;
        if (memchr(s, ',', n) != NULL || memchr(s, '\0', n) != NULL || n == 0)
            return cf__config_fail_at(ld, item,
                                      "%s: list items must not be empty or contain ','", w);
    }
    if (cf__config_type(o)->item(o, s, n, msg, sizeof msg) < 0)
        return cf__config_fail_at(ld, item, "%s: %s", w, msg);
    for (size_t j = 0; o->level != LVL_ROOT && j < i; j++) {
        const yaml_node_t *p = yaml_document_get_node(ld->doc, seq->data.sequence.items.start[j]);
        if (p != NULL && p->data.scalar.length == n && memcmp(p->data.scalar.value, s, n) == 0)
            return cf__config_fail_at(ld, item, "%s: '%s' is listed twice", w,
                                      cf__config_show(s, n, shown, sizeof shown));
    }
    return 0;
}

/*
 * A list of plain values for row @o: each item is checked where it stands
 * (so the message has its line), then the items go to parse() joined by
 * ',', as the command line gives them.
 */
static int apply_list(loader_t *ld, const option_t *o, void *obj, const char *w,
                      const yaml_node_t *k, const yaml_node_t *v)
{
    char msg[256], *joined;
    size_t total = 1, len = 0, count;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE) {
        if (o->level == LVL_ROOT)
            cf__config_expected(o, msg, sizeof msg);
        else
            cf__config_say(msg, sizeof msg, "%s", cf__config_type(o)->what);
        return cf__config_fail_at(ld, k, "%s: expected %s, got %s", w, msg,
                                  cf__config_is_null(v) ? "nothing" : cf__config_node_kind(v));
    }
    count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
        if (item == NULL)
            return CF_ECONFIG;
        rc = list_item(ld, o, w, item, v, i);
        if (rc < 0)
            return rc;
        total += item->data.scalar.length + 1;
    }
    joined = malloc(total);
    if (joined == NULL)
        return cf__config_oom(ld);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
        if (len > 0)
            joined[len++] = ',';
        memcpy(joined + len, item->data.scalar.value, item->data.scalar.length);
        len += item->data.scalar.length;
    }
    joined[len] = '\0';
    rc = cf__config_type(o)->parse(o, obj, joined, len, msg, sizeof msg);
    free(joined);
    return rc < 0 ? refused(ld, k, w, msg, rc) : 0;
}

/* ------------------------------------------------------------------------ */
/* Sections: lists or mappings of elements of a level below                  */
/* ------------------------------------------------------------------------ */

static void *element(const cf__level_t *lv, void *items, size_t i)
{
    return (char *)items + i * lv->size;
}

/* Walk element @i (already placed at @it->obj) and apply its level's rules. */
static int load_element(loader_t *ld, const cf__level_t *lv, cf__item_t *it, const yaml_node_t *v,
                        void *items, size_t i)
{
    size_t n;
    int rc;

    it->rows = cf__config_rows(lv->id, &n);
    if (lv->init != NULL)
        lv->init(it->obj);
    rc = walk(ld, lv->id, it, it->at, v, it->where, "");
    if (rc == 0 && lv->check != NULL)
        rc = lv->check(ld, it, items, i);
    return rc;
}

/* A list of mappings: clients, routes, alert rules. */
static int load_list(loader_t *ld, const cf__level_t *lv, const yaml_node_t *v, void *items,
                     size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
        cf__item_t it = {.obj = element(lv, items, i), .at = item};
        int rc;

        if (item == NULL)
            return CF_ECONFIG;
        if (lv->max > 0 && i == lv->max)
            return cf__config_fail_at(ld, item, "%s: at most %zu rules", lv->name, lv->max);
        (void)snprintf(it.where, sizeof it.where, "%s[%zu]", lv->name, i);
        if (item->type != YAML_MAPPING_NODE)
            return cf__config_fail_at(ld, item, "%s: expected a mapping, got %s", it.where,
                                      cf__config_node_kind(item));
        *(int *)((char *)it.obj + lv->line_off) = (int)cf__config_line_of(item);
        rc = load_element(ld, lv, &it, item, items, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The name of element @i of a named level (a role), checked and unique, into the element. */
static int element_name(loader_t *ld, const cf__level_t *lv, const yaml_node_t *k, void *items,
                        size_t i)
{
    char **name = (char **)((char *)element(lv, items, i) + lv->name_off), shown[64];
    const char *s, *why;
    size_t n;

    if (cf__config_scalar(ld, lv->name, k, k, lv->name_what, &s, &n) < 0)
        return CF_ECONFIG;
    why = lv->name_ok(s, n);
    if (why != NULL)
        return cf__config_fail_at(ld, k, "%s: '%s' %s", lv->name,
                                  cf__config_show(s, n, shown, sizeof shown), why);
    for (size_t j = 0; j < i; j++) {
        const char *other = *(char **)((char *)element(lv, items, j) + lv->name_off);
        if (strlen(other) == n && memcmp(other, s, n) == 0)
            return cf__config_fail_at(ld, k, "duplicate key '%s.%s' (first on line %d)",
                                      lv->name, cf__config_show(s, n, shown, sizeof shown),
                                      *(int *)((char *)element(lv, items, j) + lv->line_off));
    }
    *name = strndup(s, n);
    return *name != NULL ? 0 : cf__config_oom(ld);
}

/* A mapping of names to mappings: roles. */
static int load_named(loader_t *ld, const cf__level_t *lv, const yaml_node_t *v, void *items,
                      size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const yaml_node_pair_t *pair = &v->data.mapping.pairs.start[i];
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, pair->value);
        cf__item_t it = {.obj = element(lv, items, i), .at = k};
        int rc;

        if (k == NULL || val == NULL)
            return CF_ECONFIG;
        rc = element_name(ld, lv, k, items, i);
        if (rc < 0)
            return rc;
        *(int *)((char *)it.obj + lv->line_off) = (int)cf__config_line_of(k);
        (void)snprintf(it.where, sizeof it.where, "%s.%s",
                       lv->name, *(char **)((char *)it.obj + lv->name_off));
        rc = load_element(ld, lv, &it, val, items, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Section row @o (clients, roles, routes, alerts.rules): all its elements, or none. */
static int apply_section(loader_t *ld, const option_t *o, const yaml_node_t *v)
{
    const cf__level_t *lv = cf__config_level((level_id_t)o->tag);
    yaml_node_type_t want = lv->named ? YAML_MAPPING_NODE : YAML_SEQUENCE_NODE;
    size_t count = 0;
    void *items = NULL;
    int rc;

    if (v->type != want && !cf__config_is_null(v))
        return cf__config_fail_at(ld, v, "%s: expected %s, got %s", lv->name, lv->expect,
                                  cf__config_node_kind(v));
    if (!cf__config_is_null(v))
        count = lv->named ? (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start)
                          : (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (count > 0 && (items = calloc(count, lv->size)) == NULL)
        return cf__config_oom(ld);
    rc = lv->named ? load_named(ld, lv, v, items, count) : load_list(ld, lv, v, items, count);
    if (rc < 0) {
        lv->discard(items, count);
        return rc;
    }
    lv->install(ld->cfg, items, count);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                  */
/* ------------------------------------------------------------------------ */

/* The value @v of row @o of element @it, whose key @k reads @w in messages. */
static int apply(loader_t *ld, const option_t *o, cf__item_t *it, const char *w,
                 const yaml_node_t *k, const yaml_node_t *v)
{
    int rc;

    if (o->level == LVL_ROOT) /* before the value: a failed load discards the copy anyway */
        ld->cfg->set_line[o - cf__config_options] = (uint32_t)cf__config_line_of(k);
    else if ((rc = exclusive_ok(ld, o, it, w, k)) < 0)
        return rc;
    switch (cf__config_type(o)->node) {
    case NODE_SECTION:
        rc = apply_section(ld, o, v);
        break;
    case NODE_LIST:
        rc = apply_list(ld, o, it->obj, w, k, v);
        break;
    default:
        rc = apply_scalar(ld, o, it->obj, w, k, v);
        break;
    }
    if (rc == 0 && o->level != LVL_ROOT)
        it->seen[o - it->rows] = k;
    return rc;
}

/* The first key of @map before @pair that equals @k, or NULL. */
static const yaml_node_t *earlier(loader_t *ld, const yaml_node_t *map,
                                  const yaml_node_pair_t *pair, const yaml_node_t *k)
{
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
        const yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
        if (kq != NULL && kq->type == YAML_SCALAR_NODE &&
            kq->data.scalar.length == k->data.scalar.length &&
            memcmp(kq->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0)
            return kq;
    }
    return NULL;
}

/* "unknown key '...'" for key @k of @where. */
static int unknown(loader_t *ld, level_id_t lvl, const yaml_node_t *k, const char *where,
                   const char *path, size_t len, int ok)
{
    const char *key = (const char *)k->data.scalar.value;
    size_t klen = k->data.scalar.length, wlen = strlen(where);
    char pshown[64], kshown[64];

    if (lvl != LVL_ROOT)
        return cf__config_fail_at(ld, k, "unknown key '%s.%s'", where,
                                  cf__config_show(key, klen, kshown, sizeof kshown));
    if (ok)
        return cf__config_fail_at(ld, k, "unknown key '%s'",
                                  cf__config_show(path, len, pshown, sizeof pshown));
    return cf__config_fail_at(ld, k, "unknown key '%s%s%s'",
                              cf__config_show(where, wlen, pshown, sizeof pshown),
                              wlen > 0 ? "." : "", cf__config_show(key, klen, kshown, sizeof kshown));
}

/* "duplicate key '...'" when key @k of @map was given before. */
static int duplicate(loader_t *ld, level_id_t lvl, const yaml_node_t *map,
                     const yaml_node_pair_t *pair, const yaml_node_t *k, const char *where,
                     const char *path, size_t len)
{
    const yaml_node_t *kq = earlier(ld, map, pair, k);
    char shown[64];

    if (kq == NULL)
        return 0;
    if (lvl == LVL_ROOT)
        return cf__config_fail_at(ld, k, "duplicate key '%s' (first on line %zu)",
                                  cf__config_show(path, len, shown, sizeof shown),
                                  cf__config_line_of(kq));
    return cf__config_fail_at(ld, k, "duplicate key '%s.%s' (first on line %zu)", where,
                              cf__config_show((const char *)k->data.scalar.value,
                                              k->data.scalar.length, shown, sizeof shown),
                              cf__config_line_of(kq));
}

/* A block's value: a mapping walked in turn (at the root, a null is not one). */
static int block(loader_t *ld, level_id_t lvl, cf__item_t *it, const yaml_node_t *k,
                 const yaml_node_t *v, const char *w, const char *path)
{
    if (lvl == LVL_ROOT && v->type != YAML_MAPPING_NODE)
        return cf__config_fail_at(ld, k, "%s: expected a mapping", w);
    return walk(ld, lvl, it, k, v, w, path);
}

/* One key @k with value @v of @map at @where (rows under @prefix within the level). */
static int walk_pair(loader_t *ld, level_id_t lvl, cf__item_t *it, const yaml_node_t *map,
                     const yaml_node_pair_t *pair, const char *where, const char *prefix)
{
    const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
    const yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
    const size_t plen = strlen(prefix);
    char path[KEY_MAX] = "", w[160];
    const option_t *o = NULL;
    const char *key;
    size_t klen, len;
    int ok, rc;

    if (k == NULL || v == NULL)
        return CF_ECONFIG; /* libyaml guarantees both; be safe rather than crash */
    if (k->type != YAML_SCALAR_NODE)
        return cf__config_fail_at(ld, k, "%s%skeys must be plain names, not %s", where,
                                  where[0] != '\0' ? ": " : "", cf__config_node_kind(k));
    key = (const char *)k->data.scalar.value;
    klen = k->data.scalar.length;
    len = plen + (plen > 0) + klen;
    ok = len < sizeof path && klen > 0 && memchr(key, '.', klen) == NULL &&
         memchr(key, '\0', klen) == NULL;
    if (ok) {
        (void)snprintf(path, sizeof path, "%s%s%.*s", prefix, plen > 0 ? "." : "", (int)klen,
                       key);
        o = cf__config_find_at(lvl, path, len);
    }
    /* The root reports a key it cannot spell before a duplicate; sections the other way. */
    if (lvl == LVL_ROOT && !ok)
        return unknown(ld, lvl, k, where, NULL, 0, 0);
    if ((rc = duplicate(ld, lvl, map, pair, k, where, path, len)) < 0)
        return rc;
    if ((size_t)snprintf(w, sizeof w, "%s%s%.*s", where, where[0] != '\0' ? "." : "", (int)klen,
                         key) >= sizeof w)
        w[sizeof w - 1] = '\0'; /* cut: only a message's key gets shorter */
    if (o != NULL)
        return apply(ld, o, it, w, k, v);
    if (lvl == LVL_ROOT && cf__config_is_block(lvl, path, len) && v->type == YAML_SCALAR_NODE &&
        strcmp(path, "store") == 0) /* shorthand: `store: redis://...` sets store.url */
        return apply(ld, cf__config_find("store.url", 9), it, "store.url", k, v);
    if (ok && cf__config_is_block(lvl, path, len))
        return block(ld, lvl, it, k, v, w, path);
    return unknown(ld, lvl, k, where, path, len, ok);
}

/*
 * Walk mapping @map of element @it (the whole config at the root) at
 * @where ("", "session", "clients[0]", "clients[0].session"), whose keys
 * live under @prefix within the level. Recursion only follows known
 * blocks, so its depth is that of the deepest key and an alias cannot make
 * it loop. A null @map is an empty mapping; errors about @map's kind point
 * at @at.
 */
static int walk(loader_t *ld, level_id_t lvl, cf__item_t *it, const yaml_node_t *at,
                const yaml_node_t *map, const char *where, const char *prefix)
{
    if (cf__config_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return cf__config_fail_at(ld, at, "%s: expected a mapping, got %s", where,
                                  cf__config_node_kind(map));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        int rc = walk_pair(ld, lvl, it, map, pair, where, prefix);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cf__config_walk(loader_t *ld, const yaml_node_t *root)
{
    size_t n;
    cf__item_t it = {.obj = ld->cfg, .at = root};

    it.rows = cf__config_rows(LVL_ROOT, &n);
    return walk(ld, LVL_ROOT, &it, root, root, "", "");
}
