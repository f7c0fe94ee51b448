/* SPDX-License-Identifier: MIT
 *
 * Metrics: plain counters and fixed-bucket histograms, and a writer for the
 * Prometheus text exposition format 0.0.4.
 *
 * There is no registry of names at run time: the shell keeps its counters in
 * plain structs (arrays indexed by a fixed enum such as cf_reason_t, so a
 * label never allocates) and renders them at scrape time with cf_prom_*.
 * Counters are plain uint64_t, not atomics: every counter is written on the
 * one loop thread that also renders them. The store's writer thread keeps its
 * own counters under its mutex and hands a copy over via cf_store_stats().
 */
#ifndef CF_OBS_METRICS_H
#define CF_OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define CF_HISTOGRAM_MAX_BUCKETS 24

/**
 * A histogram with fixed upper bounds (ascending, +Inf implied). counts[i]
 * holds the observations in (bounds[i-1], bounds[i]], counts[nbounds] those
 * above the last bound: non-cumulative, so an observation touches one slot.
 */
typedef struct {
    const double *bounds; /* borrowed, static */
    size_t nbounds;       /* <= CF_HISTOGRAM_MAX_BUCKETS */
    uint64_t counts[CF_HISTOGRAM_MAX_BUCKETS + 1];
    double sum;
    uint64_t count;
} cf_histogram_t;

/** Zero @h over @bounds (@n ascending finite bounds, at most CF_HISTOGRAM_MAX_BUCKETS). */
void cf_histogram_init(cf_histogram_t *h, const double *bounds, size_t n);

/** Record one observation of @v. */
void cf_histogram_observe(cf_histogram_t *h, double v);

/**
 * The exposition being written: a growing, NUL-terminated buffer. The first
 * allocation failure sets @oom and every later call does nothing, so callers
 * check once at the end.
 */
typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} cf_prom_t;

#define CF_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void cf_prom_init(cf_prom_t *p);

/** Free the buffer; @p is reusable after cf_prom_init(). */
void cf_prom_fini(cf_prom_t *p);

/**
 * "# HELP name help" (backslash and newline escaped) and "# TYPE name type";
 * @type is "counter", "gauge" or "histogram". Once per metric family, before
 * its samples.
 */
void cf_prom_family(cf_prom_t *p, const char *name, const char *type, const char *help);

/*
 * Labels are a NULL-terminated array of alternating names and values:
 * {"reason", "idle_timeout", NULL}. Values are escaped (\\, \" and \n);
 * names must be valid label names (they are written as given). NULL for none.
 */

/** One sample with an integer value. */
void cf_prom_u64(cf_prom_t *p, const char *name, const char *const *labels, uint64_t v);

/** One sample with a floating-point value. */
void cf_prom_double(cf_prom_t *p, const char *name, const char *const *labels, double v);

/**
 * A histogram's samples: name_bucket{...,le="b"} (cumulative) for each bound
 * and le="+Inf", then name_sum and name_count.
 */
void cf_prom_histogram(cf_prom_t *p, const char *name, const char *const *labels,
                       const cf_histogram_t *h);

/**
 * Format @v the way Prometheus reads it: "+Inf", "-Inf", "NaN", integers
 * without a fraction, else the shortest of up to 17 significant digits that
 * round-trips. @out must hold 32 bytes. Returns @out.
 */
const char *cf_prom_format_double(double v, char out[32]);

#endif
