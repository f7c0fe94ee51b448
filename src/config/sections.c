/* SPDX-License-Identifier: MIT
 *
 * The one walker, loader, dumper and doc generator of every section level
 * (clients[], roles.NAME, routes[], alerts.rules[]), driven by the field
 * tables of fields.c. Decides the shape of a section (a list of mappings,
 * or a mapping of names), which keys exist at each level, which YAML node
 * each field expects, and the rules between sections (a route's
 * require_roles must name a defined role). It must never leave a section
 * half-applied (the elements are built on the side and installed only when
 * all of them are valid), never keep a pointer into the YAML document past
 * the load, and never know a field by name: that is the tables' business.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/sections.h"
#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* The walker                                                                */
/* ------------------------------------------------------------------------ */

static const cf__field_t *find_field(const cf__level_t *lv, const char *key, size_t n)
{
    for (size_t i = 0; i < lv->nfields; i++)
        if (strlen(lv->fields[i].key) == n && memcmp(lv->fields[i].key, key, n) == 0)
            return &lv->fields[i];
    return NULL;
}

/* Is @key (@n bytes) a block of the level, a strict prefix "key." of some field? */
static int is_block(const cf__level_t *lv, const char *key, size_t n)
{
    for (size_t i = 0; i < lv->nfields; i++)
        if (strncmp(lv->fields[i].key, key, n) == 0 && lv->fields[i].key[n] == '.')
            return 1;
    return 0;
}

/*
 * Fields that share one place in the struct (path, path_prefix, path_glob)
 * exclude each other: the second one given is refused, naming the first.
 */
static int exclusive_ok(loader_t *ld, const cf__level_t *lv, const cf__field_t *f,
                        const cf__item_t *it, const char *w, const yaml_node_t *k)
{
    const cf__field_t *prev = NULL;
    char names[160] = "";
    size_t count = 0, len = 0;

    for (size_t i = 0; i < lv->nfields; i++)
        if (lv->fields[i].off == f->off) {
            count++;
            if (&lv->fields[i] != f && it->seen[i] != NULL)
                prev = &lv->fields[i];
        }
    if (prev == NULL)
        return 0;
    for (size_t i = 0, j = 0; i < lv->nfields && len < sizeof names; i++)
        if (lv->fields[i].off == f->off) {
            j++;
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s",
                                    j == 1 ? "" : j == count ? " and " : ", ", lv->fields[i].key);
        }
    return cf__config_fail_at(ld, k, "%s: only one of %s may be set (%s on line %zu)", w, names,
                              prev->key, cf__config_line_of(it->seen[prev - lv->fields]));
}

/*
 * A list of plain values at @w: every item checked by the type, none twice,
 * then handed to the type's take(), which owns them from then on.
 */
static int apply_list(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *w,
                      const yaml_node_t *k, const yaml_node_t *v)
{
    size_t cap, n = 0;
    char **vec = NULL, shown[64];

    if (v->type != YAML_SEQUENCE_NODE)
        return cf__config_fail_at(ld, k, "%s: expected a list, got %s", w,
                                  cf__config_is_null(v) ? "nothing" : cf__config_node_kind(v));
    cap = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (cap > 0 && (vec = calloc(cap, sizeof *vec)) == NULL)
        return cf__config_oom(ld);
    for (size_t i = 0; i < cap; i++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, v->data.sequence.items.start[i]);
        const char *s, *why;
        size_t len;
        int rc = CF_ECONFIG;

        if (item == NULL || cf__config_scalar(ld, w, item, item, "a plain value", &s, &len) < 0)
            goto fail;
        why = f->type->item_ok(s, len);
        if (why != NULL) {
            rc = cf__config_fail_at(ld, item, "%s: '%s' %s", w,
                                    cf__config_show(s, len, shown, sizeof shown), why);
            goto fail;
        }
        for (size_t j = 0; j < n; j++)
            if (strlen(vec[j]) == len && memcmp(vec[j], s, len) == 0) {
                rc = cf__config_fail_at(ld, item, "%s: '%s' is listed twice", w,
                                        cf__config_show(s, len, shown, sizeof shown));
                goto fail;
            }
        vec[n] = strndup(s, len);
        if (vec[n] == NULL) {
            rc = cf__config_oom(ld);
            goto fail;
        }
        n++;
        continue;
fail:
        cf__config_strv_free(vec, n);
        return rc;
    }
    return f->type->take(ld, f, it, vec, n);
}

/* The value @v of field @f, whose key @k reads @w in messages. */
static int apply_field(loader_t *ld, const cf__level_t *lv, const cf__field_t *f, cf__item_t *it,
                       const char *w, const yaml_node_t *k, const yaml_node_t *v)
{
    const char *s;
    size_t n;
    int rc = exclusive_ok(ld, lv, f, it, w, k);

    if (rc < 0)
        return rc;
    if (f->type->what == NULL) /* the node kind each type expects is checked here, once */
        rc = apply_list(ld, f, it, w, k, v);
    else if (cf__config_scalar(ld, w, k, v, f->type->what, &s, &n) < 0)
        rc = CF_ECONFIG;
    else
        rc = f->type->parse(ld, f, it, w, k, s, n);
    if (rc == 0)
        it->seen[f - lv->fields] = k;
    return rc;
}

/*
 * Walk mapping @map of element @it at @where ("clients[0]",
 * "clients[0].session"), whose keys live under @prefix within the level (""
 * or "session"). A key is a field, applied at once, or a block, walked in
 * turn; anything else is unknown. Keys must be plain scalars, each once. A
 * null @map is an empty mapping; errors about @map's kind point at @at.
 */
static int walk(loader_t *ld, const cf__level_t *lv, cf__item_t *it, const yaml_node_t *at,
                const yaml_node_t *map, const char *where, const char *prefix)
{
    const size_t plen = strlen(prefix);

    if (cf__config_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return cf__config_fail_at(ld, at, "%s: expected a mapping, got %s", where,
                                  cf__config_node_kind(map));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
        char path[KEY_MAX], w[160], shown[64];
        const cf__field_t *f;
        const char *key;
        size_t klen, len;
        int rc, ok;

        if (k == NULL || v == NULL)
            return CF_ECONFIG;
        if (k->type != YAML_SCALAR_NODE)
            return cf__config_fail_at(ld, k, "%s: keys must be plain names, not %s", where,
                                      cf__config_node_kind(k));
        key = (const char *)k->data.scalar.value;
        klen = k->data.scalar.length;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
            const yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
            if (kq != NULL && kq->type == YAML_SCALAR_NODE && kq->data.scalar.length == klen &&
                memcmp(kq->data.scalar.value, key, klen) == 0)
                return cf__config_fail_at(ld, k, "duplicate key '%s.%s' (first on line %zu)",
                                          where, cf__config_show(key, klen, shown, sizeof shown),
                                          cf__config_line_of(kq));
        }
        len = plen + (plen > 0) + klen;
        ok = len < sizeof path && memchr(key, '.', klen) == NULL &&
             memchr(key, '\0', klen) == NULL;
        f = NULL;
        if (ok) {
            (void)snprintf(path, sizeof path, "%s%s%.*s", prefix, plen > 0 ? "." : "", (int)klen,
                           key);
            f = find_field(lv, path, len);
        }
        if ((size_t)snprintf(w, sizeof w, "%s.%.*s", where, (int)klen, key) >= sizeof w)
            w[sizeof w - 1] = '\0'; /* cut: only a message's key gets shorter */
        if (f != NULL)
            rc = apply_field(ld, lv, f, it, w, k, v);
        else if (ok && is_block(lv, path, len))
            rc = walk(ld, lv, it, k, v, w, path);
        else
            return cf__config_fail_at(ld, k, "unknown key '%s.%s'", where,
                                      cf__config_show(key, klen, shown, sizeof shown));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading a section                                                         */
/* ------------------------------------------------------------------------ */

static void *element(const cf__level_t *lv, void *items, size_t i)
{
    return (char *)items + i * lv->size;
}

/* Walk element @i (already placed at @it->obj) and apply its level's rules. */
static int load_element(loader_t *ld, const cf__level_t *lv, cf__item_t *it, const yaml_node_t *v,
                        void *items, size_t i)
{
    int rc;

    if (lv->init != NULL)
        lv->init(it->obj);
    rc = walk(ld, lv, it, it->at, v, it->where, "");
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

/* A mapping of names to mappings: roles. */
static int load_named(loader_t *ld, const cf__level_t *lv, const yaml_node_t *v, void *items,
                      size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const yaml_node_pair_t *pair = &v->data.mapping.pairs.start[i];
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, pair->value);
        cf__item_t it = {.obj = element(lv, items, i), .at = k};
        char **name = (char **)((char *)it.obj + lv->name_off), shown[64];
        const char *s, *why;
        size_t n;
        int rc;

        if (k == NULL || val == NULL)
            return CF_ECONFIG;
        if (cf__config_scalar(ld, lv->name, k, k, lv->name_what, &s, &n) < 0)
            return CF_ECONFIG;
        why = lv->name_ok(s, n);
        if (why != NULL)
            return cf__config_fail_at(ld, k, "%s: '%s' %s", lv->name,
                                      cf__config_show(s, n, shown, sizeof shown), why);
        for (size_t j = 0; j < i; j++) {
            const char *other = *(char **)((char *)element(lv, items, j) + lv->name_off);
            if (strlen(other) == n && memcmp(other, s, n) == 0)
                return cf__config_fail_at(
                    ld, k, "duplicate key '%s.%s' (first on line %d)", lv->name,
                    cf__config_show(s, n, shown, sizeof shown),
                    *(int *)((char *)element(lv, items, j) + lv->line_off));
        }
        *name = strndup(s, n);
        if (*name == NULL)
            return cf__config_oom(ld);
        *(int *)((char *)it.obj + lv->line_off) = (int)cf__config_line_of(k);
        (void)snprintf(it.where, sizeof it.where, "%s.%s", lv->name, *name);
        rc = load_element(ld, lv, &it, val, items, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cf__config_section_load(loader_t *ld, const option_t *o, const yaml_node_t *v)
{
    const cf__level_t *lv = cf__config_level(o->kind);
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
/* Rules across sections                                                     */
/* ------------------------------------------------------------------------ */

static int role_defined(const cf_policy_t *p, const char *name)
{
    for (size_t i = 0; i < p->nroles; i++)
        if (strcmp(p->roles[i].name, name) == 0)
            return 1;
    return 0;
}

int cf__config_check_policy(loader_t *ld)
{
    const cf_policy_t *p = &ld->cfg->policy;

    /*
     * A route requiring a role that no roles: entry defines is almost always
     * a typo ("admins" for "admin"), and it fails closed in silence: every
     * session is refused there. Requiring the role to be declared, even as
     * `name: {}`, turns the typo into a message.
     */
    for (size_t i = 0; i < p->nroutes; i++)
        for (size_t j = 0; j < p->routes[i].nrequire_roles; j++) {
            const char *name = p->routes[i].require_roles[j];
            if (role_defined(p, name))
                continue;
            cf__config_say(ld->err, ld->errlen,
                           "%s:%d: routes[%zu].require_roles: role '%s' is not defined under "
                           "roles: (declare it, e.g. `%s: {}`)",
                           ld->name, p->routes[i].line, i, name, name);
            return CF_ECONFIG;
        }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Dump and docs                                                             */
/* ------------------------------------------------------------------------ */

static int worth_writing(const cf__field_t *f, const void *obj)
{
    return f->always || f->type->put(f, obj, NULL);
}

/* The indent of a key of a list element: the first carries the dash. */
static void lead(FILE *out, const cf__level_t *lv, int *first)
{
    fputs(!lv->named && *first ? "  - " : "    ", out);
    *first = 0;
}

/* One element: its fields in table order, those of a block under one "block:" line. */
static void dump_element(const cf__level_t *lv, const void *obj, FILE *out)
{
    const char *open = NULL; /* the field whose block header was written last */
    size_t openlen = 0;
    int first = 1, any = 0;

    for (size_t i = 0; i < lv->nfields; i++)
        any |= worth_writing(&lv->fields[i], obj);
    if (lv->named) {
        fputs("  ", out);
        cf__config_put_quoted(out, *(char *const *)((const char *)obj + lv->name_off));
        fputs(any ? ":\n" : ": {}\n", out);
    }
    for (size_t i = 0; i < lv->nfields; i++) {
        const cf__field_t *f = &lv->fields[i];
        const char *dot = strrchr(f->key, '.');
        size_t blen = dot != NULL ? (size_t)(dot - f->key) : 0;

        if (!worth_writing(f, obj))
            continue;
        if (blen > 0 && !(open != NULL && openlen == blen && memcmp(open, f->key, blen) == 0)) {
            lead(out, lv, &first);
            fprintf(out, "%.*s:\n", (int)blen, f->key);
            open = f->key;
            openlen = blen;
        }
        if (blen > 0) {
            fputs("      ", out);
        } else {
            lead(out, lv, &first);
            open = NULL;
        }
        fprintf(out, "%s: ", dot != NULL ? dot + 1 : f->key);
        (void)f->type->put(f, obj, out);
        fputc('\n', out);
    }
    if (first && !lv->named)
        fputs("  - {}\n", out); /* e.g. a route without conditions matches everything */
}

void cf__config_section_dump(const option_t *o, const cf_config_t *cfg, FILE *out)
{
    const cf__level_t *lv = cf__config_level(o->kind);
    size_t n = 0;
    const char *items = lv->get(cfg, &n);

    if (n == 0) {
        fprintf(out, "%s\n", lv->empty);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < n; i++)
        dump_element(lv, items + i * lv->size, out);
}

void cf__config_doc_fields(FILE *out, const option_t *o)
{
    const cf__level_t *lv = cf__config_level(o->kind);

    for (size_t i = 0; lv != NULL && i < lv->nfields; i++)
        fprintf(out, "| `%s%s` | %s | `%s` | %s |\n", lv->doc_prefix, lv->fields[i].key,
                lv->fields[i].doctype, lv->fields[i].def, lv->fields[i].doc);
}
