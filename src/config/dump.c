/* SPDX-License-Identifier: MIT
 *
 * The one dumper and the one doc generator: the effective configuration as
 * YAML and docs/configuration.md's table, both from the one option table,
 * for the root and every section level alike. Each value is written by its
 * type's put(); this file only decides layout (blocks, indentation, list
 * dashes, which unset section fields to leave out). It reads the struct and
 * never changes it.
 */
#include <stdio.h>
#include <string.h>

#include "config/sections.h"

static void dump_section(const option_t *o, const void *cfg, FILE *out, int base);

/* Length of the block part of @key ("session" in "session.idle_timeout"; 0 if none). */
static size_t block_len(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot != NULL ? (size_t)(dot - key) : 0;
}

/* Indent @width columns; the first line of a list element carries its "- ". */
static void lead(FILE *out, int width, int dash, int *first)
{
    if (dash && *first)
        fprintf(out, "%*s- ", width - 2, "");
    else
        fprintf(out, "%*s", width, "");
    *first = 0;
}

/* Blocks shared by @key's block (@sec bytes) and the previous key's (@prev, @prev_sec). */
static size_t common_blocks(const char *key, size_t sec, const char *prev, size_t prev_sec)
{
    size_t common = 0;

    for (size_t j = 0; j < sec && j < prev_sec && key[j] == prev[j]; j++)
        if (j + 1 == sec || key[j + 1] == '.')
            if (j + 1 == prev_sec || prev[j + 1] == '.')
                common = j + 1;
    return common;
}

/*
 * Write the rows of level @lvl of @obj, each block opened on a line of its
 * own when the keys need it. Keys at depth 0 are indented by @indent; with
 * @dash the first line carries a list element's "- ". Root rows are all
 * written; a section's unset fields only when the row says ->always.
 * Returns how many rows were written.
 */
static size_t dump_rows(level_id_t lvl, const void *obj, FILE *out, int indent, int dash)
{
    size_t n, written = 0, prev_sec = 0;
    const option_t *rows = cf__config_rows(lvl, &n);
    const char *prev = "";
    int first = 1;

    for (size_t i = 0; i < n; i++) {
        const option_t *o = &rows[i];
        const type_t *t = cf__config_type(o);
        size_t sec = block_len(o->key), common = common_blocks(o->key, sec, prev, prev_sec);
        size_t depth = common > 0, start = common > 0 ? common + 1 : 0;

        if (lvl != LVL_ROOT && !o->always && !t->put(o, obj, NULL))
            continue;
        for (size_t j = 0; j < common; j++)
            depth += o->key[j] == '.';
        while (start < sec) { /* open the rest, one block per line */
            const char *dot = memchr(o->key + start, '.', sec - start);
            size_t end = dot != NULL ? (size_t)(dot - o->key) : sec;
            lead(out, indent + (int)(2 * depth), dash, &first);
            fprintf(out, "%.*s:\n", (int)(end - start), o->key + start);
            depth++;
            start = end + 1;
        }
        lead(out, indent + (int)(2 * depth), dash, &first);
        fprintf(out, "%s:", o->key + (sec > 0 ? sec + 1 : 0));
        prev = o->key;
        prev_sec = sec;
        written++;
        if (t->node == NODE_SECTION) {
            /* writes the rest, newline included */
            dump_section(o, obj, out, indent + (int)(2 * depth));
            continue;
        }
        fputc(' ', out);
        (void)t->put(o, obj, out);
        fputc('\n', out);
    }
    return written;
}

/* One element of a section: "- " fields, or "NAME:" and its fields for a named level. */
static void dump_element(const cf__level_t *lv, const void *obj, FILE *out, int base)
{
    size_t n, any = 0;
    const option_t *rows = cf__config_rows(lv->id, &n);

    if (lv->named) {
        for (size_t i = 0; i < n; i++)
            any |= rows[i].always || cf__config_type(&rows[i])->put(&rows[i], obj, NULL);
        fprintf(out, "%*s", base + 2, "");
        cf__config_put_quoted(out, *(char *const *)((const char *)obj + lv->name_off));
        fputs(any ? ":\n" : ": {}\n", out);
    }
    if (dump_rows(lv->id, obj, out, lv->named ? base + 4 : 4, !lv->named) == 0 && !lv->named)
        fputs("  - {}\n", out); /* e.g. a route without conditions matches everything */
}

/* The rest of section row @o's line of the config @cfg: " []", or its elements below. */
static void dump_section(const option_t *o, const void *cfg, FILE *out, int base)
{
    const cf__level_t *lv = cf__config_level((level_id_t)o->tag);
    size_t n = 0;
    const char *items = lv->get(cfg, &n);

    if (n == 0) {
        fprintf(out, "%s\n", lv->empty);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < n; i++)
        dump_element(lv, items + i * lv->size, out, base);
}

void cf_config_dump(const cf_config_t *cfg, FILE *out)
{
    fputs("# curfew effective configuration\n", out);
    (void)dump_rows(LVL_ROOT, cfg, out, 0, 0);
}

/* The rows of level @lvl, keys prefixed with @prefix, and those of the sections below. */
static void doc_level(FILE *out, level_id_t lvl, const char *prefix)
{
    size_t n;
    const option_t *rows = cf__config_rows(lvl, &n);

    for (size_t i = 0; i < n; i++) {
        const option_t *o = &rows[i];
        char type[256];

        cf__config_doctype(o, type, sizeof type);
        fprintf(out, "| `%s%s` | %s | ", prefix, o->key, type);
        if (cf__config_is_list(o) && o->def[0] == '\0')
            fprintf(out, "`[]` | %s |\n", o->doc);
        else if (o->def[0] == '\0')
            fprintf(out, "`\"\"` | %s |\n", o->doc);
        else if (o->kind == OPT_KEYS)
            fprintf(out, "`[%s]` | %s |\n", o->def, o->doc);
        else
            fprintf(out, "`%s` | %s |\n", o->def, o->doc);
        if (cf__config_is_node(o))
            doc_level(out, (level_id_t)o->tag, cf__config_level((level_id_t)o->tag)->doc_prefix);
    }
}

void cf_config_doc(FILE *out)
{
    fputs("| Key | Type | Default | Description |\n"
          "|---|---|---|---|\n",
          out);
    doc_level(out, LVL_ROOT, "");
}
