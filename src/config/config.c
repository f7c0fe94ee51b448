/* SPDX-License-Identifier: MIT
 *
 * Configuration: the option table and everything generated from it. Decides
 * what a config file means and whether it is acceptable; never applies half
 * a file (every load works on a copy) and never guesses (unknown keys,
 * duplicate keys, a list where a value belongs are errors, not warnings).
 *
 * Adding an option is adding one row to cf__config_options[] in options.c
 * (and the field to cf_config_t). Defaults are written in the row as the
 * text a user would put in the file, and are read by the same parser, so
 * the docs show exactly what the code does.
 *
 * The module's files, each calling only those listed after it (no cycle):
 * config.c (this file: defaults, copy, command-line set, the YAML walk,
 * the dump and the docs), checks.c (rules across options), types.c (what
 * each kind of value may be), sections.c (clients:, roles:, routes:,
 * alerts.rules and the list-valued types), options.c (the table) and yaml.c
 * (shared helpers). They meet in the private config/sections.h.
 */
#include "config/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/sections.h"
#include "core/duration.h"
#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* Defaults, set, validate                                                   */
/* ------------------------------------------------------------------------ */

/* Fields that follow from others; run after anything that changes options. */
static void derive(cf_config_t *cfg)
{
    cfg->lockout_enabled = cfg->lockout_max_failures > 0;
}

void cf_config_fini(cf_config_t *cfg)
{
    if (cfg == NULL)
        return;
    cf_policy_fini(&cfg->policy);
    for (size_t i = 0; i < cf__config_noptions; i++)
        if (cf__config_is_list(&cf__config_options[i]))
            cf__config_strv_free(*(char ***)cf__config_field(cfg, cf__config_options[i].off),
                                 *(size_t *)cf__config_field(cfg, cf__config_options[i].off2));
    memset(cfg, 0, sizeof *cfg);
}

int cf_config_copy(cf_config_t *dst, const cf_config_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < cf__config_noptions; i++)
        if (cf__config_is_list(&cf__config_options[i])) {
            *(char ***)cf__config_field(dst, cf__config_options[i].off) = NULL;
            *(size_t *)cf__config_field(dst, cf__config_options[i].off2) = 0;
        }
    if (cf_policy_copy(&dst->policy, &src->policy) < 0)
        goto oom;
    for (size_t i = 0; i < cf__config_noptions; i++) {
        const option_t *o = &cf__config_options[i];
        size_t n = cf__config_is_list(o) ? *(const size_t *)cf__config_cfield(src, o->off2) : 0;
        char *const *v;
        char **d;

        if (n == 0)
            continue;
        /* Only list options hold a char ** at off; reading it for others is UB. */
        v = *(char **const *)cf__config_cfield(src, o->off);
        d = calloc(n, sizeof *d);
        if (d == NULL)
            goto oom;
        *(char ***)cf__config_field(dst, o->off) = d;
        for (size_t j = 0; j < n; j++) {
            d[j] = strdup(v[j]);
            if (d[j] == NULL)
                goto oom;
            *(size_t *)cf__config_field(dst, o->off2) = j + 1;
        }
    }
    cf_policy_prepare(&dst->policy);
    return 0;
oom:
    cf_config_fini(dst);
    return CF_ENOMEM;
}

void cf_config_defaults(cf_config_t *cfg)
{
    char msg[128];

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < cf__config_noptions; i++) {
        const option_t *o = &cf__config_options[i];
        if (cf__config_is_node(o))
            continue; /* empty: memset did it */
        /* A default that does not parse is a bug in the table, caught by any test run. */
        if (cf__config_types[o->kind].parse(o, cfg, o->def, strlen(o->def), msg, sizeof msg) < 0) {
            fprintf(stderr, "curfew: bad default for %s: %s\n", o->key, msg);
            abort();
        }
    }
    derive(cfg);
}

int cf_config_set(cf_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const option_t *o = cf__config_find(key, strlen(key));
    cf_config_t tmp;
    char msg[256], shown[64];
    int rc;

    if (o == NULL) {
        cf__config_say(err, errlen, "unknown key '%s'",
                       cf__config_show(key, strlen(key), shown, sizeof shown));
        return CF_ECONFIG;
    }
    if (value == NULL) {
        cf__config_expected(o, msg, sizeof msg);
        cf__config_say(err, errlen, "%s: expected %s, got nothing", o->key, msg);
        return CF_ECONFIG;
    }
    /* Shallow is enough: a list's parse() frees the old list only once it succeeded. */
    tmp = *cfg;
    rc = cf__config_types[o->kind].parse(o, &tmp, value, strlen(value), msg, sizeof msg);
    if (rc < 0) {
        cf__config_say(err, errlen, "%s: %s", o->key, msg);
        return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
    }
    derive(&tmp);
    tmp.set_line[o - cf__config_options] = CF_CONFIG_LINE_CLI;
    *cfg = tmp;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading YAML                                                              */
/* ------------------------------------------------------------------------ */

/*
 * A list option from a YAML sequence: each item is checked where it stands
 * (so the message has its line), then the items go to parse() joined by ','.
 */
static int apply_list(loader_t *ld, const option_t *o, size_t line, const yaml_node_t *v)
{
    const type_t *t = &cf__config_types[o->kind];
    char msg[256], *joined = NULL;
    size_t total = 1, len = 0;
    int rc;

    if (v->type != YAML_SEQUENCE_NODE) {
        cf__config_expected(o, msg, sizeof msg);
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: expected %s, got %s", ld->name, line,
                       o->key, msg, cf__config_is_null(v) ? "nothing" : cf__config_node_kind(v));
        return CF_ECONFIG;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        const char *s;
        size_t n;

        if (item == NULL)
            return CF_ECONFIG;
        if (item->type != YAML_SCALAR_NODE || cf__config_is_null(item)) {
            cf__config_say(ld->err, ld->errlen,
                           "%s:%zu: %s: list items must be plain values, not %s", ld->name,
                           cf__config_line_of(item), o->key,
                           item->type == YAML_SCALAR_NODE ? "nothing" : cf__config_node_kind(item));
            return CF_ECONFIG;
        }
        s = (const char *)item->data.scalar.value;
        n = item->data.scalar.length;
        if (memchr(s, ',', n) != NULL || memchr(s, '\0', n) != NULL || n == 0) {
            cf__config_say(ld->err, ld->errlen,
                           "%s:%zu: %s: list items must not be empty or contain ','", ld->name,
                           cf__config_line_of(item), o->key);
            return CF_ECONFIG;
        }
        if (t->item(o, s, n, msg, sizeof msg) < 0) {
            cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name,
                           cf__config_line_of(item), o->key, msg);
            return CF_ECONFIG;
        }
        total += n + 1;
    }
    joined = malloc(total);
    if (joined == NULL) {
        cf__config_say(ld->err, ld->errlen, "%s: out of memory", ld->name);
        return CF_ENOMEM;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        if (len > 0)
            joined[len++] = ',';
        memcpy(joined + len, item->data.scalar.value, item->data.scalar.length);
        len += item->data.scalar.length;
    }
    joined[len] = '\0';
    rc = t->parse(o, ld->cfg, joined, len, msg, sizeof msg);
    free(joined);
    if (rc < 0) {
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line, o->key, msg);
        return rc == CF_ENOMEM ? CF_ENOMEM : CF_ECONFIG;
    }
    return 0;
}

/* Apply the value node @v of option @o; @line is the key's line (errors point at the key). */
static int apply_node(loader_t *ld, const option_t *o, size_t line, const yaml_node_t *v)
{
    char msg[256];

    /* Before the value is applied: a failed load discards the copy anyway. */
    ld->cfg->set_line[o - cf__config_options] = (uint32_t)line;
    if (cf__config_is_node(o))
        return cf__config_types[o->kind].load(ld, o, v);
    if (cf__config_types[o->kind].item != NULL)
        return apply_list(ld, o, line, v);
    if (v->type != YAML_SCALAR_NODE || cf__config_is_null(v)) {
        cf__config_expected(o, msg, sizeof msg);
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: expected %s, got %s", ld->name, line,
                       o->key, msg,
                       v->type == YAML_SCALAR_NODE ? "nothing" : cf__config_node_kind(v));
        return CF_ECONFIG;
    }
    if (cf__config_types[o->kind].parse(o, ld->cfg, (const char *)v->data.scalar.value, v->data.scalar.length,
                             msg, sizeof msg) < 0) {
        cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: %s", ld->name, line, o->key, msg);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Walk mapping @map whose keys live under @prefix ("" at the top). A key is
 * either an option, applied at once, or a section, walked in turn. Recursion
 * only follows known sections, so its depth is that of the deepest key and
 * an alias cannot make it loop. Duplicates are checked against the earlier
 * keys of the same mapping; those were all valid, so that is at most
 * cf__config_noptions comparisons per key whatever the file holds.
 */
static int walk_mapping(loader_t *ld, const yaml_node_t *map, const char *prefix)
{
    const size_t plen = strlen(prefix);

    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
        char path[KEY_MAX], shown[64];
        const char *key;
        size_t klen, len;
        const option_t *o;
        int rc;

        if (k == NULL || v == NULL)
            return CF_ECONFIG; /* libyaml guarantees both; be safe rather than crash */
        if (k->type != YAML_SCALAR_NODE) {
            cf__config_say(ld->err, ld->errlen, "%s:%zu: %s%skeys must be plain names, not %s",
                           ld->name, cf__config_line_of(k), prefix, plen > 0 ? ": " : "",
                           cf__config_node_kind(k));
            return CF_ECONFIG;
        }
        key = (const char *)k->data.scalar.value;
        klen = k->data.scalar.length;
        len = plen + (plen > 0) + klen;
        if (len >= sizeof path || klen == 0 || memchr(key, '.', klen) != NULL ||
            memchr(key, '\0', klen) != NULL) {
            char pshown[64], kshown[64];
            cf__config_say(ld->err, ld->errlen, "%s:%zu: unknown key '%s%s%s'", ld->name,
                           cf__config_line_of(k),
                           cf__config_show(prefix, plen, pshown, sizeof pshown),
                           plen > 0 ? "." : "", cf__config_show(key, klen, kshown, sizeof kshown));
            return CF_ECONFIG;
        }
        memcpy(path, prefix, plen);
        if (plen > 0)
            path[plen] = '.';
        memcpy(path + plen + (plen > 0), key, klen);
        path[len] = '\0';

        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
            const yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
            if (kq != NULL && kq->type == YAML_SCALAR_NODE && kq->data.scalar.length == klen &&
                memcmp(kq->data.scalar.value, key, klen) == 0) {
                cf__config_say(
                    ld->err, ld->errlen, "%s:%zu: duplicate key '%s' (first on line %zu)", ld->name,
                    cf__config_line_of(k), cf__config_show(path, len, shown, sizeof shown),
                    cf__config_line_of(kq));
                return CF_ECONFIG;
            }
        }

        o = cf__config_find(path, len);
        if (o != NULL) {
            rc = apply_node(ld, o, cf__config_line_of(k), v);
        } else if (cf__config_is_section(path, len) && v->type == YAML_SCALAR_NODE && len == 5 &&
                   memcmp(path, "store", 5) == 0) {
            /* Shorthand: `store: redis://...` (or `store: sqlite`) sets store.url. */
            rc = apply_node(ld, cf__config_find("store.url", 9), cf__config_line_of(k), v);
        } else if (cf__config_is_section(path, len)) {
            if (v->type != YAML_MAPPING_NODE) {
                cf__config_say(ld->err, ld->errlen, "%s:%zu: %s: expected a mapping", ld->name,
                               cf__config_line_of(k), path);
                return CF_ECONFIG;
            }
            rc = walk_mapping(ld, v, path);
        } else {
            cf__config_say(ld->err, ld->errlen, "%s:%zu: unknown key '%s'", ld->name,
                           cf__config_line_of(k), cf__config_show(path, len, shown, sizeof shown));
            return CF_ECONFIG;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *buf, size_t len, const char *name,
                        char *err, size_t errlen)
{
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    size_t line = p->problem_mark.line + 1;

    if (p->error == YAML_MEMORY_ERROR) {
        cf__config_say(err, errlen, "%s: out of memory", name);
        return CF_ENOMEM;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count the lines ourselves. */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += buf[i] == '\n';
    }
    if (p->context != NULL)
        cf__config_say(err, errlen, "%s:%zu: %s (%s)", name, line, problem, p->context);
    else
        cf__config_say(err, errlen, "%s:%zu: %s", name, line, problem);
    return CF_ECONFIG;
}

int cf_config_load_buffer(const char *buf, size_t len, const char *name, cf_config_t *cfg,
                          char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int have_doc = 0, have_extra = 0, rc = 0;
    cf_config_t tmp;
    const yaml_node_t *root, *root2;
    loader_t ld = {&doc, name, &tmp, err, errlen};

    if (len > CF_CONFIG_MAX_FILE) {
        cf__config_say(err, errlen, "%s: file too large (at most %d bytes)", name,
                       CF_CONFIG_MAX_FILE);
        return CF_ECONFIG;
    }
    /* A deep copy: sections and lists replaced by the file free the copy's, not @cfg's. */
    if (cf_config_copy(&tmp, cfg) < 0) {
        cf__config_say(err, errlen, "%s: out of memory", name);
        return CF_ENOMEM;
    }
    if (!yaml_parser_initialize(&parser)) {
        cf__config_say(err, errlen, "%s: out of memory", name);
        cf_config_fini(&tmp);
        return CF_ENOMEM;
    }
    /* libyaml asserts on a NULL input even when it is empty. */
    yaml_parser_set_input_string(&parser, (const unsigned char *)(buf != NULL ? buf : ""), len);

    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&parser, buf, len, name, err, errlen);
        goto done;
    }
    have_doc = 1;
    if (!yaml_parser_load(&parser, &extra)) {
        rc = syntax_error(&parser, buf, len, name, err, errlen);
        goto done;
    }
    have_extra = 1;
    root2 = yaml_document_get_root_node(&extra);
    if (root2 != NULL) {
        cf__config_say(err, errlen, "%s:%zu: only one YAML document is allowed", name,
                       cf__config_line_of(root2));
        rc = CF_ECONFIG;
        goto done;
    }

    root = yaml_document_get_root_node(&doc);
    if (root == NULL || cf__config_is_null(root))
        goto done; /* empty file, or comments only: nothing to change */
    if (root->type != YAML_MAPPING_NODE) {
        cf__config_say(err, errlen,
                       "%s:%zu: expected a mapping of options at the top level, got %s", name,
                       cf__config_line_of(root), cf__config_node_kind(root));
        rc = CF_ECONFIG;
        goto done;
    }
    rc = walk_mapping(&ld, root, "");
    if (rc == 0)
        rc = cf__config_check_policy(&ld);
done:
    if (rc == 0) {
        (void)snprintf(tmp.source, sizeof tmp.source, "%s", name);
        cf__config_yield_defaults(&tmp);
        derive(&tmp);
        cf_policy_prepare(&tmp.policy);
        cf_config_fini(cfg);
        *cfg = tmp;
    } else {
        cf_config_fini(&tmp);
    }
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int cf_config_load(const char *path, cf_config_t *cfg, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        cf__config_say(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return CF_ECONFIG;
    }
    /* One byte past the cap tells "too large" from "exactly at the cap". */
    buf = malloc(CF_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        cf__config_say(err, errlen, "%s: out of memory", path);
        rc = CF_ENOMEM;
        goto done;
    }
    len = fread(buf, 1, CF_CONFIG_MAX_FILE + 1, f);
    if (ferror(f)) {
        cf__config_say(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = CF_ECONFIG;
        goto done;
    }
    rc = cf_config_load_buffer(buf, len, path, cfg, err, errlen);
done:
    free(buf);
    (void)fclose(f); /* opened for reading: nothing to flush, nothing to lose */
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Dump and docs                                                             */
/* ------------------------------------------------------------------------ */

/* Length of the section part of @key ("session" in "session.idle_timeout"; 0 at the top). */
static size_t section_len(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot != NULL ? (size_t)(dot - key) : 0;
}

void cf_config_dump(const cf_config_t *cfg, FILE *out)
{
    const char *prev = "";
    size_t prev_sec = 0;

    fputs("# curfew effective configuration\n", out);
    for (size_t i = 0; i < cf__config_noptions; i++) {
        const option_t *o = &cf__config_options[i];
        size_t sec = section_len(o->key), common = 0, depth = 0, start;
        char text[TEXT_MAX], msg[128];

        /* Sections already open: whole components shared with the previous key's section. */
        for (size_t j = 0; j < sec && j < prev_sec && o->key[j] == prev[j]; j++)
            if (j + 1 == sec || o->key[j + 1] == '.')
                if (j + 1 == prev_sec || prev[j + 1] == '.')
                    common = j + 1;
        for (size_t j = 0; j < common; j++)
            depth += o->key[j] == '.';
        if (common > 0)
            depth++;
        /* Open the rest, one component per line. */
        start = common > 0 ? common + 1 : 0;
        while (start < sec) {
            const char *dot = memchr(o->key + start, '.', sec - start);
            size_t end = dot != NULL ? (size_t)(dot - o->key) : sec;
            fprintf(out, "%*s%.*s:\n", (int)(2 * depth), "", (int)(end - start), o->key + start);
            depth++;
            start = end + 1;
        }
        fprintf(out, "%*s%s:", (int)(2 * depth), "", o->key + (sec > 0 ? sec + 1 : 0));
        prev = o->key;
        prev_sec = sec;
        if (cf__config_is_node(o)) {
            cf__config_types[o->kind].dump(o, cfg, out); /* writes the rest, newline included */
            continue;
        }
        fputc(' ', out);
        if (cf__config_is_list(o)) {
            cf__config_put_strv(out, *(char **const *)cf__config_cfield(cfg, o->off),
                                *(const size_t *)cf__config_cfield(cfg, o->off2));
            fputc('\n', out);
            continue;
        }
        if (cf__config_types[o->kind].text(o, cfg, text, sizeof text, msg, sizeof msg) < 0)
            fprintf(out, "null  # invalid: %s", msg); /* fails to load back, as it should */
        else if (o->kind == OPT_KEYS)
            fprintf(out, "[%s]", text); /* "ip,sub" -> [ip,sub]: plain names, valid YAML */
        else if (cf__config_types[o->kind].quote)
            cf__config_put_quoted(out, text);
        else
            fputs(text, out);
        fputc('\n', out);
    }
}

void cf_config_doc(FILE *out)
{
    fputs("| Key | Type | Default | Description |\n"
          "|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < cf__config_noptions; i++) {
        const option_t *o = &cf__config_options[i];
        char all[128];

        fprintf(out, "| `%s` | ", o->key);
        if (o->kind == OPT_ENUM) {
            cf__config_list_choices(o, all, sizeof all);
            fprintf(out, "one of %s", all);
        } else if (o->kind == OPT_CHOICE) {
            cf__config_join_choices(o->choices, all, sizeof all);
            fprintf(out, "one of %s", all);
        } else if (o->kind == OPT_KEYS) {
            cf__config_join_choices(o->choices, all, sizeof all);
            fprintf(out, "list of %s", all);
        } else {
            fputs(cf__config_types[o->kind].name, out);
        }
        if ((o->kind == OPT_UINT || o->kind == OPT_I64) && o->max > 0)
            fprintf(out, ", %lld to %lld", (long long)o->min, (long long)o->max);
        else if (o->kind == OPT_DURATION && o->min == 1)
            fputs(", > 0", out);
        else if (o->kind == OPT_DURATION && o->min == CF_SEC)
            fputs(", >= 1s", out);
        if (cf__config_is_list(o) && o->def[0] == '\0')
            fprintf(out, " | `[]` | %s |\n", o->doc);
        else if (o->def[0] == '\0')
            fprintf(out, " | `\"\"` | %s |\n", o->doc);
        else if (o->kind == OPT_KEYS)
            fprintf(out, " | `[%s]` | %s |\n", o->def, o->doc);
        else
            fprintf(out, " | `%s` | %s |\n", o->def, o->doc);
        if (cf__config_is_node(o))
            cf__config_doc_fields(out, o);
    }
}
