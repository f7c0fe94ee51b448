/* SPDX-License-Identifier: MIT
 *
 * Histograms and the Prometheus text exposition writer (format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"

void cf_histogram_init(cf_histogram_t *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->nbounds = n <= CF_HISTOGRAM_MAX_BUCKETS ? n : CF_HISTOGRAM_MAX_BUCKETS;
}

void cf_histogram_observe(cf_histogram_t *h, double v)
{
    size_t i = 0;

    /* A linear scan: a dozen compares, cheaper than anything cleverer at this size. */
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

/* ------------------------------------------------------------------ */
/* The buffer                                                          */
/* ------------------------------------------------------------------ */

void cf_prom_init(cf_prom_t *p)
{
    memset(p, 0, sizeof *p);
}

void cf_prom_fini(cf_prom_t *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

static int reserve(cf_prom_t *p, size_t n)
{
    size_t cap;
    char *b;

    if (p->oom)
        return -1;
    if (p->len + n + 1 <= p->cap)
        return 0;
    cap = p->cap ? p->cap : 4096;
    while (cap < p->len + n + 1)
        cap *= 2;
    b = realloc(p->buf, cap);
    if (b == NULL) {
        p->oom = 1;
        return -1;
    }
    p->buf = b;
    p->cap = cap;
    return 0;
}

static void put(cf_prom_t *p, const char *s, size_t n)
{
    if (reserve(p, n) < 0)
        return;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void puts_(cf_prom_t *p, const char *s)
{
    put(p, s, strlen(s));
}

/* Copy @s escaping backslash, newline and (when @quote) the double quote. */
static void put_escaped(cf_prom_t *p, const char *s, int quote)
{
    for (const char *run = s;; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        else if (*s != '\0')
            continue;
        put(p, run, (size_t)(s - run));
        if (esc == NULL)
            return;
        puts_(p, esc);
        run = s + 1;
    }
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

const char *cf_prom_format_double(double v, char out[32])
{
    if (isnan(v))
        return strcpy(out, "NaN");
    if (isinf(v))
        return strcpy(out, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* 2^53: exact as an integer */
        snprintf(out, 32, "%.0f", v);
        return out;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return out;
}

void cf_prom_family(cf_prom_t *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, 0);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

/* name{a="x",b="y",extra="v"} value\n; @suffix is appended to the name. */
static void sample(cf_prom_t *p, const char *name, const char *suffix, const char *const *labels,
                   const char *extra_name, const char *extra_value, const char *value)
{
    int n = 0;

    puts_(p, name);
    puts_(p, suffix);
    for (const char *const *l = labels; l != NULL && l[0] != NULL; l += 2, n++) {
        puts_(p, n == 0 ? "{" : ",");
        puts_(p, l[0]);
        puts_(p, "=\"");
        put_escaped(p, l[1] != NULL ? l[1] : "", 1);
        puts_(p, "\"");
    }
    if (extra_name != NULL) {
        puts_(p, n++ == 0 ? "{" : ",");
        puts_(p, extra_name);
        puts_(p, "=\"");
        put_escaped(p, extra_value, 1);
        puts_(p, "\"");
    }
    if (n > 0)
        puts_(p, "}");
    puts_(p, " ");
    puts_(p, value);
    puts_(p, "\n");
}

void cf_prom_u64(cf_prom_t *p, const char *name, const char *const *labels, uint64_t v)
{
    char num[24];

    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    sample(p, name, "", labels, NULL, NULL, num);
}

void cf_prom_double(cf_prom_t *p, const char *name, const char *const *labels, double v)
{
    char num[32];

    sample(p, name, "", labels, NULL, NULL, cf_prom_format_double(v, num));
}

void cf_prom_histogram(cf_prom_t *p, const char *name, const char *const *labels,
                       const cf_histogram_t *h)
{
    char le[32], num[32];
    uint64_t cumulative = 0;

    for (size_t i = 0; i <= h->nbounds; i++) {
        cumulative += h->counts[i];
        snprintf(num, sizeof num, "%llu", (unsigned long long)cumulative);
        if (i < h->nbounds)
            cf_prom_format_double(h->bounds[i], le);
        else
            strcpy(le, "+Inf");
        sample(p, name, "_bucket", labels, "le", le, num);
    }
    sample(p, name, "_sum", labels, NULL, NULL, cf_prom_format_double(h->sum, num));
    snprintf(num, sizeof num, "%llu", (unsigned long long)h->count);
    sample(p, name, "_count", labels, NULL, NULL, num);
}
