/* SPDX-License-Identifier: MIT
 *
 * `curfew tune --live URL`: the tune report from a running server's counters
 * and histograms (the "timeouts" object of GET /v1/stats, the same counters as
 * /metrics) instead of an audit log.
 *
 * Aggregates cannot be replayed: what they allow, per client slot with idle
 * timeout I (docs/tuning.md, "From a running server"):
 *  - a candidate T shorter than I cuts every observed idle gap longer than T,
 *    each followed by the person's next request: re-logins(T) = the observed
 *    re-logins after an idle timeout + the gaps > T (curfew_idle_gap_seconds);
 *  - a candidate T longer than I spares every observed re-login whose silence
 *    (I + the delay to the new session) was shorter than T: re-logins(T) =
 *    the re-logins with a delay > T - I (curfew_relogin_delay_seconds);
 *  - exact when the cut falls on a bucket bound (the configured timeouts are
 *    bounds), otherwise the two neighbouring bounds give a range;
 *  - exposure only as its bound T + the access-token TTL.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/tune.h"

typedef struct {
    double idle_s;     /* the candidate, seconds */
    uint64_t lo, hi;   /* forced re-logins after an idle timeout: a range, lo == hi when exact */
    int baseline, recommended;
} live_row_t;

/* Observations in @h above @x seconds: [*lo, *hi], equal when @x is a bound (or beyond them). */
static void above(json_t *h, double x, uint64_t *lo, uint64_t *hi)
{
    json_t *bounds = json_object_get(h, "bounds"), *counts = json_object_get(h, "counts");
    size_t nb = json_array_size(bounds), i = 0;
    uint64_t over = 0;

    while (i < nb && json_number_value(json_array_get(bounds, i)) < x)
        i++;
    /* Bucket i is (b[i-1], b[i]] with b[i] >= x: everything past it is above x. */
    for (size_t k = i + 1; k < json_array_size(counts); k++)
        over += (uint64_t)json_integer_value(json_array_get(counts, k));
    *lo = over;
    *hi = over;
    if (x <= 0)
        *lo = *hi = over + (uint64_t)json_integer_value(json_array_get(counts, 0));
    else if (i < nb && json_number_value(json_array_get(bounds, i)) != x)
        *hi += (uint64_t)json_integer_value(json_array_get(counts, i)); /* x inside bucket i */
}

static uint64_t count_at(json_t *o, const char *a, const char *b)
{
    return (uint64_t)json_integer_value(json_object_get(json_object_get(o, a), b));
}

/* Add slot @s's re-logins under candidate @t seconds to @row. */
static void slot_row(json_t *s, double t, live_row_t *row)
{
    double idle = json_number_value(json_object_get(s, "idle_timeout"));
    uint64_t seen = count_at(s, "relogins", "idle_timeout"), lo, hi;

    if (idle <= 0 || t == idle) {
        lo = hi = seen;
    } else if (t < idle) {
        above(json_object_get(s, "idle_gap_seconds"), t, &lo, &hi);
        lo += seen;
        hi += seen;
    } else {
        above(json_object_get(json_object_get(s, "relogin_delay_seconds"), "idle_timeout"), t - idle,
              &lo, &hi);
    }
    row->lo += lo;
    row->hi += hi;
}

static const char *const CANNOT =
    "absolute-timeout and access-TTL candidates, exposure percentiles and token-hours, the "
    "share of ends, re-logins per 1,000 active user-hours, and the plot need the sessions "
    "themselves: use --audit";

static void print_live(json_t *t, json_t *slots, live_row_t *rows, size_t n, const char *url,
                       const char *format)
{
    double ttl = json_number_value(json_object_get(t, "access_ttl"));
    uint64_t abs_seen = 0, gone[2] = {0, 0}, gaps = 0;
    size_t i;
    json_t *s;

    json_array_foreach(slots, i, s) {
        abs_seen += count_at(s, "relogins", "absolute_timeout");
        gone[0] += count_at(s, "timeouts_without_return", "idle_timeout");
        gone[1] += count_at(s, "timeouts_without_return", "absolute_timeout");
        gaps += (uint64_t)json_integer_value(json_object_get(json_object_get(s, "idle_gap_seconds"), "count"));
    }
    if (strcmp(format, "json") == 0) {
        json_t *arr = json_array(), *clients = json_array();
        json_array_foreach(slots, i, s)
            json_array_append(clients, json_object_get(s, "client"));
        for (i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:f, s:I, s:I, s:b, s:I, s:f, s:b, s:b}",
                "idle_s", rows[i].idle_s, "relogins_idle_min", (json_int_t)rows[i].lo,
                "relogins_idle_max", (json_int_t)rows[i].hi, "exact", rows[i].lo == rows[i].hi,
                "relogins_absolute", (json_int_t)abs_seen, "exposure_max_s", rows[i].idle_s + ttl,
                "baseline", rows[i].baseline, "recommended", rows[i].recommended));
        json_t *o = json_pack("{s:s, s:s, s:o, s:f, s:f, s:f, s:I, s:I, s:I, s:o, s:s}",
            "source", "live", "url", url, "clients", clients,
            "absolute_s", json_number_value(json_object_get(t, "absolute_timeout")),
            "access_ttl_s", ttl, "relogin_window_s", json_number_value(json_object_get(t, "relogin_window")),
            "without_return_idle", (json_int_t)gone[0], "without_return_absolute", (json_int_t)gone[1],
            "idle_gaps", (json_int_t)gaps, "rows", arr, "cannot", CANNOT);
        cf_cli_print_json(o);
        json_decref(o);
        return;
    }
    int csv = strcmp(format, "csv") == 0;
    if (csv) {
        puts("idle_s,relogins_idle_min,relogins_idle_max,relogins_absolute,exposure_max_s,baseline,recommended");
        for (i = 0; i < n; i++)
            printf("%g,%llu,%llu,%llu,%g,%d,%d\n", rows[i].idle_s, (unsigned long long)rows[i].lo,
                   (unsigned long long)rows[i].hi, (unsigned long long)abs_seen, rows[i].idle_s + ttl,
                   rows[i].baseline, rows[i].recommended);
        return;
    }
    printf("live: %s, the server's counters since it started (not an audit log)\n", url);
    printf("observed: %llu forced re-logins after an idle timeout, %llu after an absolute timeout; "
           "timeouts without return %llu idle, %llu absolute; idle gaps of 1 s or more %llu\n\n",
           (unsigned long long)rows[0].lo, (unsigned long long)abs_seen, (unsigned long long)gone[0],
           (unsigned long long)gone[1], (unsigned long long)gaps);
    printf("%-9s %-17s %-12s %-14s %s\n", "idle", "relogins_idle", "relogins_abs", "exposure_max",
           "marks");
    for (i = 0; i < n; i++) {
        char span[24], ex[24], rl[48];
        if (rows[i].idle_s == floor(rows[i].idle_s))
            cf_cli_format_left((long long)rows[i].idle_s, span, sizeof span);
        else
            snprintf(span, sizeof span, "%gs", rows[i].idle_s);
        snprintf(ex, sizeof ex, "%.0fs", rows[i].idle_s + ttl);
        if (rows[i].lo == rows[i].hi)
            snprintf(rl, sizeof rl, "%llu", (unsigned long long)rows[i].lo);
        else
            snprintf(rl, sizeof rl, "%llu-%llu", (unsigned long long)rows[i].lo,
                     (unsigned long long)rows[i].hi);
        printf("%-9s %-17s %-12llu %-14s %s%s\n", span, rl, (unsigned long long)abs_seen, ex,
               rows[i].baseline ? "baseline " : "", rows[i].recommended ? "RECOMMENDED" : "");
    }
    for (i = 1; i < n && !rows[i].recommended; i++)
        ;
    if (i < n)
        printf("\nrecommendation: idle %gs: at most %llu re-logins after an idle timeout (baseline "
               "%llu), exposure at most %gs\n", rows[i].idle_s, (unsigned long long)rows[i].hi,
               (unsigned long long)rows[0].hi, rows[i].idle_s + ttl);
    printf("\nexposure_max: the idle timeout plus the access-token TTL (%gs), a bound per abandoned "
           "session. A range a-b: the candidate falls between two bucket bounds.\n"
           "Not from counters: %s.\n", ttl, CANNOT);
}

int cf_tune_live(const char *url, const char *key_file, const char *client, const cf_time_t *idle,
                 int nidle, double budget, const char *format)
{
    cf_cli_opts_t o = {.server = url, .key_file = key_file};
    json_t *doc, *t, *all, *slots, *s;
    live_row_t rows[1 + 16] = {{0}};
    size_t n = 1, i;
    double base = -1;
    int rc, mixed = 0;

    doc = cf_cli_call("curfew tune", &o, "GET", "/v1/stats", NULL, &rc);
    if (doc == NULL)
        return rc;
    t = json_object_get(doc, "timeouts");
    all = json_object_get(t, "clients");
    if (!json_is_array(all) || json_array_size(all) == 0) {
        fprintf(stderr, "curfew tune: %s does not report timeout measures (an older server?)\n", url);
        json_decref(doc);
        return CF_CLI_EXIT_FAIL;
    }
    slots = json_array();
    json_array_foreach(all, i, s) {
        if (client == NULL || strcmp(json_string_value(json_object_get(s, "client")), client) == 0)
            json_array_append(slots, s);
    }
    if (json_array_size(slots) == 0) {
        fprintf(stderr, "curfew tune: --client %s: not a configured client of %s (its sessions are "
                        "counted under \"other\")\n", client, url);
        json_decref(slots);
        json_decref(doc);
        return CF_CLI_EXIT_FAIL;
    }
    json_array_foreach(slots, i, s) {
        double v = json_number_value(json_object_get(s, "idle_timeout"));
        mixed |= base >= 0 && v != base;
        base = base < 0 ? v : base;
    }
    if (mixed)
        fprintf(stderr, "curfew tune: note: the clients have different idle timeouts; the baseline "
                        "row shows the first, each client is computed from its own\n");
    rows[0].idle_s = base;
    rows[0].baseline = 1;
    for (int k = 0; k < nidle; k++)
        rows[n++].idle_s = (double)idle[k] / CF_SEC;
    for (i = 0; i < n; i++) {
        size_t j;
        json_array_foreach(slots, j, s)
            slot_row(s, i == 0 ? json_number_value(json_object_get(s, "idle_timeout")) : rows[i].idle_s,
                     &rows[i]);
    }
    /* The least exposure (the shortest idle) whose re-logins, at worst, add at most
     * @budget over the baseline in the period the counters cover. */
    {
        size_t best = 0;
        for (i = 1; i < n; i++)
            if (rows[i].hi <= rows[0].lo + (uint64_t)budget && rows[i].idle_s < rows[best].idle_s)
                best = i;
        if (best > 0)
            rows[best].recommended = 1;
    }
    print_live(t, slots, rows, n, url, format);
    json_decref(slots);
    json_decref(doc);
    return 0;
}
