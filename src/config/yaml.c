/* SPDX-License-Identifier: MIT
 *
 * Small helpers every file of the config module shares: messages (say,
 * show), field access by offset, digits, units and choices, YAML node
 * facts (line, kind, null) and YAML quoting for the dump. Pure and
 * leaf-level: it calls nothing else in config/, so the module has no call
 * cycle between files.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config/sections.h"
#include "core/duration.h"
#include "core/error.h"

void cf__config_say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap); /* truncation is acceptable for a message */
    va_end(ap);
}

/*
 * Copy user text for a message: at most 40 bytes, control bytes shown as '?',
 * "..." when cut, so a hostile file cannot put escapes or pages into a log.
 */
const char *cf__config_show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t i, o = 0, lim = n > 40 ? 40 : n;

    for (i = 0; i < lim && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (i < n && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

void *cf__config_field(void *cfg, size_t off)
{
    return (char *)cfg + off;
}

const void *cf__config_cfield(const void *cfg, size_t off)
{
    return (const char *)cfg + off;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits only, no sign, no blanks; 0 and *out, or -1 (also on overflow past UINT64_MAX / 10). */
int cf__config_parse_digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Names the unit cf_duration_parse() refused: the first letter run that is not a unit. */
int cf__config_find_bad_unit(const char *s, size_t n, size_t *at, size_t *len)
{
    static const char *const units[] = {"ms", "s", "m", "h", "d"};
    size_t i = 0;

    while (i < n) {
        size_t j = i, u;
        while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')))
            j++;
        if (j == i) {
            i++;
            continue;
        }
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
            if (strlen(units[u]) == j - i && memcmp(units[u], s + i, j - i) == 0)
                break;
        if (u == sizeof(units) / sizeof(units[0])) {
            *at = i;
            *len = j - i;
            return 1;
        }
        i = j;
    }
    return 0;
}

int cf__config_duration(const char *s, size_t n, cf_time_t *t, char *msg, size_t cap)
{
    const char *why = NULL;
    char shown[64];
    size_t at, len;

    if (cf_duration_parse(s, n, t, &why) == 0)
        return 0;
    if (why != NULL && strncmp(why, "unknown unit", 12) == 0 &&
        cf__config_find_bad_unit(s, n, &at, &len))
        cf__config_say(msg, cap, "unknown unit '%s' (use ms, s, m, h or d)",
                       cf__config_show(s + at, len, shown, sizeof shown));
    else
        cf__config_say(msg, cap, "%s", why != NULL ? why : "invalid duration");
    return CF_ECONFIG;
}

int cf__config_host_char_ok(char c, int bracketed)
{
    if (bracketed)
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
               c == '.';
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '_';
}

/* Index + 1 of the @n bytes at @s among @choices; 0 when not there. */
int cf__config_choice_index(const char *const *choices, const char *s, size_t n)
{
    for (int i = 0; choices[i] != NULL; i++)
        if (strlen(choices[i]) == n && memcmp(choices[i], s, n) == 0)
            return i + 1;
    return 0;
}

void cf__config_join_choices(const char *const *choices, char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; choices[i] != NULL; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? ", " : "", choices[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
}

size_t cf__config_line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

const char *cf__config_node_kind(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE ? "a list" : n->type == YAML_MAPPING_NODE ? "a mapping"
                                                                                 : "a scalar";
}

/* A plain empty, "~" or "null" scalar: YAML's null, i.e. nothing was written. */
int cf__config_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return len == 0 || (len == 1 && v[0] == '~') ||
           (len == 4 && (memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 ||
                         memcmp(v, "NULL", 4) == 0));
}

/* Decode one UTF-8 sequence at @s (of @n bytes); its length, or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    *cp = c;
    return len;
}

/* Characters libyaml accepts raw inside a double-quoted scalar without folding them. */
static int yaml_printable(uint32_t c)
{
    return (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff && c != 0x2028 && c != 0x2029) ||
           (c >= 0xe000 && c <= 0xfffd && c != 0xfeff) || (c >= 0x10000 && c <= 0x10ffff);
}

/*
 * Write @s as a YAML double-quoted scalar that reads back to the same bytes:
 * quotes and backslashes escaped, anything libyaml would refuse or fold
 * (controls, NEL, line and paragraph separators, BOM) as a \x, \u or \U escape.
 * Bytes that are not UTF-8 cannot be represented and are written raw.
 */
void cf__config_put_quoted(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    fputc('"', out);
    while (n > 0) {
        uint32_t cp;
        size_t len = utf8_decode(p, n, &cp);

        if (len == 0) {
            fputc(*p, out);
            len = 1;
        } else if (cp == '"' || cp == '\\') {
            fprintf(out, "\\%c", (int)cp);
        } else if (yaml_printable(cp)) {
            fwrite(p, 1, len, out);
        } else if (cp <= 0xff) {
            fprintf(out, "\\x%02X", (unsigned)cp);
        } else if (cp <= 0xffff) {
            fprintf(out, "\\u%04X", (unsigned)cp);
        } else {
            fprintf(out, "\\U%08X", (unsigned)cp);
        }
        p += len;
        n -= len;
    }
    fputc('"', out);
}

int cf__config_fail_at(loader_t *ld, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cf__config_say(ld->err, ld->errlen, "%s:%zu: %s", ld->name, cf__config_line_of(n), msg);
    return CF_ECONFIG;
}

int cf__config_oom(loader_t *ld)
{
    cf__config_say(ld->err, ld->errlen, "%s: out of memory", ld->name);
    return CF_ENOMEM;
}

int cf__config_scalar(loader_t *ld, const char *where, const yaml_node_t *k, const yaml_node_t *v,
                      const char *what, const char **s, size_t *n)
{
    *s = ""; /* defined on every path, so callers never read garbage */
    *n = 0;
    if (v->type != YAML_SCALAR_NODE || cf__config_is_null(v))
        return cf__config_fail_at(ld, k, "%s: expected %s, got %s", where, what,
                                  v->type == YAML_SCALAR_NODE ? "nothing"
                                                              : cf__config_node_kind(v));
    *s = (const char *)v->data.scalar.value;
    *n = v->data.scalar.length;
    if (memchr(*s, '\0', *n) != NULL)
        return cf__config_fail_at(ld, k, "%s: must not contain NUL bytes", where);
    return 0;
}

/* "[a, b]" with each item double-quoted. */
void cf__config_put_strv(FILE *out, char *const *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", out);
        cf__config_put_quoted(out, v[i]);
    }
    fputc(']', out);
}
