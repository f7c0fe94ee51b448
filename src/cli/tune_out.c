/* SPDX-License-Identifier: MIT
 *
 * `curfew tune`'s output: the ranking (Pareto front, recommendation), the
 * table, JSON and CSV, and the SVG plot of re-logins against exposure.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/tune.h"
#include "core/duration.h"

/* Lower is better on both axes: re-logins and mean exposure. */
static int dominates(const cf_tune_row_t *a, const cf_tune_row_t *b)
{
    return a->relogins_per_kh <= b->relogins_per_kh && a->exposure_mean_s <= b->exposure_mean_s &&
           (a->relogins_per_kh < b->relogins_per_kh || a->exposure_mean_s < b->exposure_mean_s);
}

void cf_tune_rank(cf_tune_report_t *r)
{
    const cf_tune_row_t *base = &r->rows[0];
    cf_tune_row_t *best = NULL;

    for (size_t i = 0; i < r->n; i++) {
        r->rows[i].pareto = 1;
        for (size_t j = 0; j < r->n; j++)
            if (j != i && dominates(&r->rows[j], &r->rows[i]))
                r->rows[i].pareto = 0;
    }
    for (size_t i = 1; i < r->n; i++) {
        cf_tune_row_t *row = &r->rows[i];
        if (row->relogins_per_kh > base->relogins_per_kh + r->budget + 1e-9)
            continue;
        if (best == NULL || row->exposure_mean_s < best->exposure_mean_s ||
            (row->exposure_mean_s == best->exposure_mean_s && row->relogins_per_kh < best->relogins_per_kh))
            best = row;
    }
    if (best != NULL)
        best->recommended = 1;
}

static const char *dur(cf_time_t ms, char *buf, size_t cap)
{
    if (ms <= 0)
        return "none";
    cf_duration_format(ms, buf, cap);
    return buf;
}

static const char *marks(const cf_tune_row_t *row, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", row->baseline ? "baseline " : "", row->pareto ? "pareto " : "",
             row->recommended ? "RECOMMENDED" : "");
    return buf;
}

static void print_table(const cf_tune_report_t *r, FILE *out)
{
    char a[32], b[32], c[32], m[64];

    fprintf(out, "sessions %llu (continued after a timeout %llu, open %llu), active user-hours %.1f, "
                 "lines %llu, bad %llu, orphan facts %llu\n\n",
            (unsigned long long)r->tot->sessions, (unsigned long long)r->tot->chained,
            (unsigned long long)r->tot->open, r->tot->active_ms / CF_HOUR,
            (unsigned long long)r->lines, (unsigned long long)r->bad_lines,
            (unsigned long long)r->tot->orphans);
    fprintf(out, "%-8s %-8s %-8s %10s %12s %10s %10s %10s %12s %6s %6s %6s  %s\n", "idle",
            "absolute", "ttl", "relogins", "per_1000h", "exp_p50", "exp_p95", "exp_max",
            "exposed_h", "%idle", "%abs", "%out", "marks");
    for (size_t i = 0; i < r->n; i++) {
        const cf_tune_row_t *row = &r->rows[i];
        fprintf(out, "%-8s %-8s %-8s %10llu %12.2f %9.0fs %9.0fs %9.0fs %12.1f %6.1f %6.1f %6.1f  %s\n",
                dur(row->shown.idle, a, sizeof a), dur(row->shown.absolute, b, sizeof b),
                dur(row->shown.access_ttl, c, sizeof c), (unsigned long long)row->relogins,
                row->relogins_per_kh, row->exposure_p50_s, row->exposure_p95_s,
                row->exposure_max_s, row->exposed_hours, 100 * row->share[CF_TUNE_END_IDLE],
                100 * row->share[CF_TUNE_END_ABSOLUTE], 100 * row->share[CF_TUNE_END_LOGOUT],
                marks(row, m, sizeof m));
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->rows[i].recommended) {
            const cf_tune_row_t *row = &r->rows[i];
            fprintf(out, "\nrecommendation: idle %s, absolute %s, access ttl %s: mean exposure %.0fs "
                         "(baseline %.0fs) for %+.2f re-logins per 1,000 user-hours (budget %.2f)\n",
                    dur(row->shown.idle, a, sizeof a), dur(row->shown.absolute, b, sizeof b),
                    dur(row->shown.access_ttl, c, sizeof c), row->exposure_mean_s,
                    r->rows[0].exposure_mean_s, row->relogins_per_kh - r->rows[0].relogins_per_kh,
                    r->budget);
            return;
        }
    fprintf(out, "\nrecommendation: none of the candidates stays within the budget of %.2f "
                 "re-logins per 1,000 user-hours over the baseline\n", r->budget);
}

static void print_rows(const cf_tune_report_t *r, FILE *out, int json)
{
    if (json)
        fprintf(out, "{\"sessions\":%llu,\"chained\":%llu,\"open\":%llu,\"orphans\":%llu,"
                     "\"dropped\":%llu,\"active_user_hours\":%.3f,\"lines\":%llu,\"bad_lines\":%llu,"
                     "\"budget\":%g,\"rows\":[",
                (unsigned long long)r->tot->sessions, (unsigned long long)r->tot->chained,
                (unsigned long long)r->tot->open, (unsigned long long)r->tot->orphans,
                (unsigned long long)r->tot->dropped, r->tot->active_ms / CF_HOUR,
                (unsigned long long)r->lines, (unsigned long long)r->bad_lines, r->budget);
    else
        fputs("idle_s,absolute_s,access_ttl_s,relogins,relogins_per_1000h,exposure_mean_s,"
              "exposure_p50_s,exposure_p95_s,exposure_max_s,exposed_token_hours,share_idle,"
              "share_absolute,share_logout,share_other,baseline,pareto,recommended\n", out);
    for (size_t i = 0; i < r->n; i++) {
        const cf_tune_row_t *w = &r->rows[i];
        const char *fmt = json ? "%s{\"idle_s\":%.3f,\"absolute_s\":%.3f,\"access_ttl_s\":%.3f,"
                                 "\"relogins\":%llu,\"relogins_per_1000h\":%.4f,\"exposure_mean_s\":%.3f,"
                                 "\"exposure_p50_s\":%.3f,\"exposure_p95_s\":%.3f,\"exposure_max_s\":%.3f,"
                                 "\"exposed_token_hours\":%.4f,\"share_idle\":%.4f,\"share_absolute\":%.4f,"
                                 "\"share_logout\":%.4f,\"share_other\":%.4f,\"baseline\":%s,"
                                 "\"pareto\":%s,\"recommended\":%s,\"relogins_idle\":%llu,\"relogins_absolute\":%llu,"
                                 "\"ends\":{\"idle\":%llu,\"absolute\":%llu,\"logout\":%llu,\"other\":%llu}}"
                               : "%s%.3f,%.3f,%.3f,%llu,%.4f,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4f,"
                                 "%.4f,%.4f,%s,%s,%s\n";
        fprintf(out, fmt, json && i ? "," : "", (double)w->shown.idle / CF_SEC,
                (double)w->shown.absolute / CF_SEC, (double)w->shown.access_ttl / CF_SEC,
                (unsigned long long)w->relogins, w->relogins_per_kh, w->exposure_mean_s,
                w->exposure_p50_s, w->exposure_p95_s, w->exposure_max_s, w->exposed_hours,
                w->share[0], w->share[1], w->share[2], w->share[3], w->baseline ? "true" : "false",
                w->pareto ? "true" : "false", w->recommended ? "true" : "false",
                (unsigned long long)w->relogins_by[0], (unsigned long long)w->relogins_by[1],
                (unsigned long long)w->ends[0], (unsigned long long)w->ends[1],
                (unsigned long long)w->ends[2], (unsigned long long)w->ends[3]);
    }
    if (json)
        fputs("]}\n", out);
}

void cf_tune_print(const cf_tune_report_t *r, const char *format, FILE *out)
{
    if (strcmp(format, "table") == 0)
        print_table(r, out);
    else
        print_rows(r, out, strcmp(format, "json") == 0);
}

/* ------------------------------------------------------------------ */
/* The plot                                                            */
/* ------------------------------------------------------------------ */

#define W 900
#define H 600
#define L 90  /* left margin */
#define B 70  /* bottom margin */
#define TOP 60
#define R 260 /* right margin: the labels of the marked points */

static double nice_max(double v)
{
    double p = v > 0 ? pow(10, floor(log10(v))) : 1;
    double m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The Pareto front as a dashed line, by exposure. */
static void front(const cf_tune_report_t *r, FILE *out, int pw, int ph, double xmax, double ymax)
{
    fputs("<polyline fill=\"none\" stroke=\"#2a7\" stroke-width=\"2\" stroke-dasharray=\"6 4\" points=\"", out);
    for (int pass = 0; pass < 1; pass++) {
        size_t order[CF_TUNE_MAX_CANDIDATES], m = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->rows[i].pareto)
                order[m++] = i;
        for (size_t i = 1; i < m; i++) /* by exposure */
            for (size_t j = i; j > 0 && r->rows[order[j]].exposure_mean_s < r->rows[order[j - 1]].exposure_mean_s; j--) {
                size_t t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
            }
        for (size_t i = 0; i < m; i++)
            fprintf(out, "%.1f,%.1f ", L + pw * r->rows[order[i]].exposure_mean_s / 60 / xmax,
                    TOP + ph - ph * r->rows[order[i]].relogins_per_kh / ymax);
    }
    fputs("\"/>\n", out);
}

/* The key, in words, right of the plot. */
static void legend(const cf_tune_report_t *r, FILE *out)
{
    fprintf(out, "<g font-size=\"13\"><circle cx=\"%d\" cy=\"%d\" r=\"8\" fill=\"#d33\"/>"
                 "<text x=\"%d\" y=\"%d\">baseline (recorded limits)</text>"
                 "<circle cx=\"%d\" cy=\"%d\" r=\"8\" fill=\"#27d\"/><text x=\"%d\" y=\"%d\">recommended "
                 "(budget %g)</text><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"#2a7\"/>"
                 "<text x=\"%d\" y=\"%d\">Pareto-optimal (dashed front)</text>"
                 "<circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"#999\"/><text x=\"%d\" y=\"%d\">dominated</text>"
                 "<text x=\"%d\" y=\"%d\" fill=\"#555\">labels: idle/absolute</text></g>\n",
            W - R + 30, TOP + 10, W - R + 45, TOP + 15, W - R + 30, TOP + 35, W - R + 45, TOP + 40,
            r->budget, W - R + 30, TOP + 60, W - R + 45, TOP + 65, W - R + 30, TOP + 85, W - R + 45,
            TOP + 90, W - R + 30, TOP + 115);
}

int cf_tune_plot(const cf_tune_report_t *r, FILE *out)
{
    double xmax = 0, ymax = 0;
    char a[32], b[32], c[32];
    int pw = W - L - R, ph = H - TOP - B;

    for (size_t i = 0; i < r->n; i++) {
        xmax = fmax(xmax, r->rows[i].exposure_mean_s / 60);
        ymax = fmax(ymax, r->rows[i].relogins_per_kh);
    }
    xmax = nice_max(xmax * 1.05);
    ymax = nice_max(ymax * 1.05);
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                 "<text x=\"%d\" y=\"28\" font-size=\"16\" font-weight=\"bold\">Re-logins against "
                 "exposure: %zu combinations, %llu sessions, %.0f user-hours</text>\n",
            W, H, W, H, L, r->n - 1, (unsigned long long)r->tot->sessions,
            r->tot->active_ms / CF_HOUR);
    /* Axes, ticks and their units. */
    fprintf(out, "<g stroke=\"#333\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                 "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
            L, TOP + ph, L + pw, TOP + ph, L, TOP, L, TOP + ph);
    for (int k = 0; k <= 5; k++) {
        double fx = L + pw * k / 5.0, fy = TOP + ph - ph * k / 5.0;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                fx, TOP, fx, TOP + ph, fx, TOP + ph + 18, xmax * k / 5);
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                L, fy, L + pw, fy, L - 8, fy + 4, ymax * k / 5);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">mean exposure after the user's last "
                 "activity (minutes) \xe2\x86\x92 less is safer</text>\n",
            L + pw / 2, H - 25);
    fprintf(out, "<text transform=\"translate(22 %d) rotate(-90)\" text-anchor=\"middle\">forced "
                 "re-logins per 1,000 active user-hours \xe2\x86\x92 fewer is kinder</text>\n",
            TOP + ph / 2);
    front(r, out, pw, ph, xmax, ymax);
    for (size_t i = 0; i < r->n; i++) {
        const cf_tune_row_t *w = &r->rows[i];
        double x = L + pw * w->exposure_mean_s / 60 / xmax, y = TOP + ph - ph * w->relogins_per_kh / ymax;
        const char *fill = w->baseline ? "#d33" : w->recommended ? "#27d" : w->pareto ? "#2a7" : "#999";
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"><title>idle %s, absolute %s, "
                     "ttl %s: %.2f re-logins/1000h, mean exposure %.1f min</title></circle>\n",
                x, y, w->baseline || w->recommended ? 8 : 5, fill, dur(w->shown.idle, a, sizeof a),
                dur(w->shown.absolute, b, sizeof b), dur(w->shown.access_ttl, c, sizeof c),
                w->relogins_per_kh, w->exposure_mean_s / 60);
        if (!w->baseline && memcmp(&w->shown, &r->rows[0].shown, sizeof w->shown) == 0)
            continue; /* the baseline's own values: its label says it already */
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">%s%s/%s</text>\n",
                x + 9, y - 6, fill, w->baseline ? "baseline " : w->recommended ? "recommended " : "",
                dur(w->shown.idle, a, sizeof a), dur(w->shown.absolute, b, sizeof b));
    }
    legend(r, out);
    fputs("</svg>\n", out);
    return ferror(out) ? -1 : 0;
}
