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
 * config.c (this file: defaults, copy, command-line set, loading a file),
 * walk.c (the one walker, every level), dump.c (the one dumper and doc
 * table), checks.c (rules across fields and options; the shape of each
 * section level), types.c (what each kind of value may be), lists.c and
 * ftypes.c (the list and section-field types), yaml.c (shared helpers);
 * options.c (the one table) is data and calls nothing. They meet in the
 * private config/sections.h.
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
    cf__config_proxy_fini(cfg);
    for (size_t i = 0; i < cf__config_nroot; i++)
        if (cf__config_is_list(&cf__config_options[i]))
            cf__config_strv_free(*(char ***)cf__config_field(cfg, cf__config_options[i].off),
                                 *(size_t *)cf__config_field(cfg, cf__config_options[i].off2));
    memset(cfg, 0, sizeof *cfg);
}

int cf_config_copy(cf_config_t *dst, const cf_config_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < cf__config_nroot; i++)
        if (cf__config_is_list(&cf__config_options[i])) {
            *(char ***)cf__config_field(dst, cf__config_options[i].off) = NULL;
            *(size_t *)cf__config_field(dst, cf__config_options[i].off2) = 0;
        }
    dst->proxy_listeners = NULL; /* src's until copied: a failure must not free them */
    dst->proxy_upstreams = NULL;
    dst->proxy_routes = NULL;
    dst->nproxy_listeners = dst->nproxy_upstreams = dst->nproxy_routes = 0;
    if (cf_policy_copy(&dst->policy, &src->policy) < 0)
        goto oom;
    if (cf__config_proxy_copy(dst, src) < 0)
        goto oom;
    for (size_t i = 0; i < cf__config_nroot; i++) {
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

/*
 * The table's shape, which the walker relies on: the root rows first, each
 * level's rows in one run of at most CF__FIELDS_MAX (a section's seen[]).
 * A bug in the table, caught by any test run.
 */
static void check_table(void)
{
    size_t total = 0, n;

    for (int l = 0; l < LVL__COUNT; l++) {
        (void)cf__config_rows((level_id_t)l, &n);
        if ((l == LVL_ROOT && n != cf__config_nroot) || (l != LVL_ROOT && n > CF__FIELDS_MAX)) {
            fprintf(stderr, "curfew: option table: level %d has %zu rows\n", l, n);
            abort();
        }
        total += n;
    }
    if (total != cf__config_noptions || cf__config_options[0].level != LVL_ROOT) {
        fprintf(stderr, "curfew: option table: a level's rows are not adjacent\n");
        abort();
    }
}

void cf_config_defaults(cf_config_t *cfg)
{
    char msg[128];

    check_table();
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < cf__config_nroot; i++) {
        const option_t *o = &cf__config_options[i];
        if (cf__config_is_node(o))
            continue; /* empty: memset did it */
        /* A default that does not parse is a bug in the table, caught by any test run. */
        if (cf__config_type(o)->parse(o, cfg, o->def, strlen(o->def), msg, sizeof msg) < 0) {
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
    rc = cf__config_type(o)->parse(o, &tmp, value, strlen(value), msg, sizeof msg);
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
    rc = cf__config_walk(&ld, root);
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
