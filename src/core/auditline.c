/* SPDX-License-Identifier: MIT
 *
 * Reading audit lines fast without reading them differently (auditline.h).
 * jansson costs ~20 allocations and a hash table per line, which made a
 * 10-million-line replay take over a minute; the scanner below reads the
 * server's own layout in one pass and hands every line it is not sure of to
 * jansson, so its only job is to be right about what it accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "core/auditline.h"

#define MAX_OTHER_KEYS 48 /* keys the replay skips, kept to catch duplicates */
#define MAX_NUMBER 20     /* longer numbers go to jansson (its overflow errors) */

static const char *const keys[CF_AL__COUNT] = {
#define X(name, key) key,
    CF_AUDITLINE_FIELDS(X)
#undef X
};

/* ------------------------------------------------------------------ */
/* The scanner                                                         */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
    const char *other[MAX_OTHER_KEYS];
    size_t other_len[MAX_OTHER_KEYS];
    int nother;
    unsigned seen; /* bit per cf_auditline_field_t */
} scan_t;

/* A plain string at p (after its opening quote): printable ASCII, no escape.
 * Its length, or -1. */
static long plain_string(scan_t *sc)
{
    const char *start = sc->p;

    for (; sc->p < sc->end; sc->p++) {
        unsigned char c = (unsigned char)*sc->p;
        if (c == '"') {
            sc->p++;
            return (long)(sc->p - 1 - start);
        }
        if (c < 0x20 || c > 0x7e || c == '\\')
            return -1;
    }
    return -1;
}

static int key_index(const char *k, size_t n)
{
    for (int i = 0; i < CF_AL__COUNT; i++)
        if (keys[i][0] == k[0] && strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
            return i;
    return -1;
}

/* A key the replay does not read: remember it so that a second one is seen. */
static int other_key(scan_t *sc, const char *k, size_t n)
{
    for (int i = 0; i < sc->nother; i++)
        if (sc->other_len[i] == n && memcmp(sc->other[i], k, n) == 0)
            return -1; /* a duplicate: jansson words the error */
    if (sc->nother == MAX_OTHER_KEYS)
        return -1;
    sc->other[sc->nother] = k;
    sc->other_len[sc->nother++] = n;
    return 0;
}

/* A JSON number of at most MAX_NUMBER bytes without exponent:
 * -?(0|[1-9][0-9]*)(.[0-9]+)? as an integer (kind INTEGER) or a real (OTHER). */
static int number(scan_t *sc, cf_auditline_value_t *v)
{
    const char *s = sc->p;
    unsigned long long x = 0; /* wraps harmlessly on a long number, which is declined */
    int neg = 0, digits = 0, frac = 0;

    if (s < sc->end && *s == '-')
        neg = 1, s++;
    if (s < sc->end && *s == '0') {
        s++, digits = 1;
    } else {
        for (; s < sc->end && *s >= '0' && *s <= '9'; s++, digits++)
            x = x * 10 + (unsigned)(*s - '0');
    }
    if (digits == 0 || digits > 18)
        return -1;
    if (s < sc->end && *s == '.') {
        for (s++; s < sc->end && *s >= '0' && *s <= '9'; s++)
            frac++;
        if (frac == 0)
            return -1;
    }
    if (s - sc->p > MAX_NUMBER || (s < sc->end && (*s == 'e' || *s == 'E')))
        return -1;
    sc->p = s;
    v->kind = frac ? CF_AL_OTHER : CF_AL_INTEGER;
    v->i = neg ? -(long long)x : (long long)x;
    return 0;
}

/* [ "a","b" ] without whitespace; every element a plain string. */
static int array(scan_t *sc, cf_auditline_value_t *v)
{
    const char *start = ++sc->p;

    if (sc->p < sc->end && *sc->p == ']') {
        sc->p++;
    } else {
        for (;;) {
            if (sc->p >= sc->end || *sc->p != '"')
                return -1;
            sc->p++;
            if (plain_string(sc) < 0 || sc->p >= sc->end)
                return -1;
            if (*sc->p == ']') {
                sc->p++;
                break;
            }
            if (*sc->p++ != ',')
                return -1;
        }
    }
    v->kind = CF_AL_ARRAY;
    v->s = start;
    v->len = (size_t)(sc->p - 1 - start);
    return 0;
}

static int literal(scan_t *sc, const char *word, size_t n)
{
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
        return -1;
    sc->p += n;
    return 0;
}

/* One value into @v (NULL: read and dropped). */
static int value(scan_t *sc, cf_auditline_value_t *v)
{
    cf_auditline_value_t skip;
    long n;

    if (v == NULL)
        v = &skip;
    memset(v, 0, sizeof *v);
    if (sc->p >= sc->end)
        return -1;
    switch (*sc->p) {
    case '"':
        sc->p++;
        v->s = sc->p;
        if ((n = plain_string(sc)) < 0)
            return -1;
        v->kind = CF_AL_STRING;
        v->len = (size_t)n;
        return 0;
    case '[': return array(sc, v);
    case 'n': v->kind = CF_AL_OTHER; return literal(sc, "null", 4);
    case 't': v->kind = CF_AL_OTHER; return literal(sc, "true", 4);
    case 'f': v->kind = CF_AL_OTHER; return literal(sc, "false", 5);
    default: return number(sc, v);
    }
}

int cf_auditline_scan(cf_auditline_t *out, char *buf, size_t len)
{
    scan_t sc;
    int idx;

    memset(out, 0, sizeof *out);
    sc.p = buf;
    sc.end = buf + len;
    sc.nother = 0;
    sc.seen = 0;
    if (len > 0 && buf[len - 1] == '\n')
        sc.end--;
    if (sc.end - sc.p < 2 || *sc.p != '{' || sc.end[-1] != '}')
        return -1;
    sc.end--; /* the closing brace */
    sc.p++;
    while (sc.p < sc.end) {
        const char *k;
        long n;

        if (*sc.p++ != '"')
            return -1;
        k = sc.p;
        if ((n = plain_string(&sc)) <= 0 || sc.p >= sc.end || *sc.p++ != ':')
            return -1;
        idx = key_index(k, (size_t)n);
        if (idx >= 0 && (sc.seen & (1u << idx)))
            return -1;
        if (idx < 0 && other_key(&sc, k, (size_t)n) < 0)
            return -1;
        if (idx >= 0)
            sc.seen |= 1u << idx;
        if (value(&sc, idx >= 0 ? &out->v[idx] : NULL) < 0)
            return -1;
        if (sc.p < sc.end && *sc.p++ != ',')
            return -1;
        if (sc.p == sc.end && sc.p[-1] == ',')
            return -1; /* a trailing comma */
    }
    /* Recognised: only now end the strings in place (a refusal left @buf intact). */
    for (int i = 0; i < CF_AL__COUNT; i++)
        if (out->v[i].kind == CF_AL_STRING)
            ((char *)out->v[i].s)[out->v[i].len] = '\0';
    out->scanned = 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* jansson, the reference                                              */
/* ------------------------------------------------------------------ */

int cf_auditline_json(cf_auditline_t *out, const char *buf, size_t len, char *why)
{
    json_error_t err;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);

    memset(out, 0, sizeof *out);
    if (!json_is_object(o)) {
        snprintf(why, 160, "%s", o == NULL ? err.text : "");
        json_decref(o);
        return -1;
    }
    out->root = o;
    for (int i = 0; i < CF_AL__COUNT; i++) {
        json_t *j = json_object_get(o, keys[i]);
        cf_auditline_value_t *v = &out->v[i];

        if (j == NULL) {
            v->kind = CF_AL_ABSENT;
        } else if (json_is_string(j)) {
            v->kind = CF_AL_STRING;
            v->s = json_string_value(j);
            v->len = strlen(v->s);
        } else if (json_is_integer(j)) {
            v->kind = CF_AL_INTEGER;
            v->i = json_integer_value(j);
        } else if (json_is_array(j)) {
            v->kind = CF_AL_ARRAY;
            v->json = j;
        } else {
            v->kind = CF_AL_OTHER;
        }
    }
    return 0;
}

int cf_auditline_read(cf_auditline_t *out, char *buf, size_t len, char *why)
{
    if (cf_auditline_scan(out, buf, len) == 0)
        return 0;
    return cf_auditline_json(out, buf, len, why);
}

void cf_auditline_fini(cf_auditline_t *l)
{
    json_decref((json_t *)l->root);
    memset(l, 0, sizeof *l);
}

int cf_auditline_has(const cf_auditline_value_t *v, const char *want)
{
    size_t n = strlen(want), i;
    json_t *e;

    if (v->kind != CF_AL_ARRAY)
        return 0;
    if (v->json != NULL) {
        json_array_foreach((json_t *)v->json, i, e) {
            if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
                return 1;
        }
        return 0;
    }
    /* Scanned: "a","b" of plain strings, so each element is the bytes between quotes. */
    for (const char *p = v->s, *end = v->s + v->len; p < end;) {
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (q == NULL)
            break;
        if ((size_t)(q - p - 1) == n && memcmp(p + 1, want, n) == 0)
            return 1;
        p = q + 2; /* past the quote and the comma */
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Times                                                               */
/* ------------------------------------------------------------------ */

/* What sscanf + timegm accept: the reference, for anything not in the exact layout. */
static int time_slow(const char *s, cf_time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, n = 0, ms = 0;
    time_t t;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    s += n;
    if (*s == '.') {
        int digits = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*s - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(s, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (cf_time_t)t * CF_SEC + ms;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil).
 * Linear in d, so a day past the month's end rolls over as timegm's does. */
static long long days_from_civil(long long y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int two(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

int cf_auditline_time(const char *s, cf_time_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    int y, mo, d, h, mi, sec, ms = 0, digits = 0;
    const char *p;

    for (int i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return time_slow(s, out); /* a sign, a space, a short field: sscanf's reading */
    }
    y = two(s) * 100 + two(s + 2);
    mo = two(s + 5);
    d = two(s + 8);
    h = two(s + 11);
    mi = two(s + 14);
    sec = two(s + 17);
    p = s + 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (p[0] != 'Z' || p[1] != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || sec > 60)
        return -1;
    *out = ((cf_time_t)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * CF_SEC + ms;
    return 0;
}
