/* SPDX-License-Identifier: MIT
 *
 * `curfew tune`: replay an audit log under candidate lifetimes (core/tune.h)
 * and report, plot or generate a synthetic log. Internal to the CLI.
 */
#ifndef CF_CLI_TUNE_H
#define CF_CLI_TUNE_H

#include <stdio.h>

#include "core/tune.h"

/** One row of the report: a candidate and what the replay measured. */
typedef struct {
    cf_tune_candidate_t c; /* all 0: the baseline (recorded limits) */
    cf_tune_candidate_t shown; /* the values the row stands for (the baseline's recorded ones) */
    double relogins_per_kh; /* forced re-logins per 1,000 active user-hours */
    uint64_t relogins;
    double exposure_mean_s, exposure_p50_s, exposure_p95_s, exposure_max_s;
    double exposed_hours;   /* token-hours exposed in total */
    double share[CF_TUNE_END__COUNT];
    uint64_t relogins_by[2];              /* [0] after an idle end, [1] an absolute end */
    uint64_t ends[CF_TUNE_END__COUNT];    /* virtual sessions ended, by what */
    int baseline, pareto, recommended;
} cf_tune_row_t;

typedef struct {
    const cf_tune_totals_t *tot;
    cf_tune_row_t *rows;
    size_t n;
    double budget;
    uint64_t lines, bad_lines;
} cf_tune_report_t;

/** Mark the Pareto front and the recommendation in @r. */
void cf_tune_rank(cf_tune_report_t *r);

/** Write @r as "table", "json" or "csv". */
void cf_tune_print(const cf_tune_report_t *r, const char *format, FILE *out);

/** Write the SVG plot of @r. 0, or -1 with errno. */
int cf_tune_plot(const cf_tune_report_t *r, FILE *out);

/** Write a synthetic audit log of about @n lines to @out (seeded by @seed). */
int cf_tune_synthetic(unsigned long long n, unsigned long long seed, FILE *out);

/**
 * `curfew tune --live URL`: the report from the server's counters (GET /v1/stats with the
 * admin key from @key_file or $CURFEW_ADMIN_KEY) for the idle candidates @idle, as "table",
 * "json" or "csv" on stdout. Returns the exit status.
 */
int cf_tune_live(const char *url, const char *key_file, const char *client, const cf_time_t *idle,
                 int nidle, double budget, const char *format);

#endif
