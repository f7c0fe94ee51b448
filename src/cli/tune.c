/* SPDX-License-Identifier: MIT
 *
 * `curfew tune`: stream an audit log (docs/audit.md) line by line into the
 * replay (core/tune.h) and report what each candidate would have cost and
 * bought. Memory: one line (at most CF_TUNE_LINE_MAX bytes) plus the
 * replay's, which follows the sessions alive at one time, never the length
 * of the log. Lines that are not what the log writes are reported as
 * FILE:LINE: why and skipped; the exit status is then 1 (the report is still
 * printed), except for a last line cut short (a log being written).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/tune.h"
#include "core/auditline.h"
#include "core/duration.h"

#define CF_TUNE_LINE_MAX (64 * 1024)
#define MAX_REPORTED 20 /* bad lines reported one by one; the rest are counted */

typedef struct {
    const char *path;
    cf_time_t since, until;
    const char *client, *role;
    cf_tune_t *t;
    uint64_t line, bad, reported;
    cf_time_t last_ts;
    int start_seen;
    cf_limits_t base; /* the first session's recorded limits (the baseline row shows them) */
    int mixed;        /* sessions were recorded with different limits */
} run_t;

static void bad_line(run_t *r, const char *why, const char *what)
{
    r->bad++;
    if (r->reported++ < MAX_REPORTED)
        fprintf(stderr, "%s:%llu: %s%s%s\n", r->path, (unsigned long long)r->line, why,
                what ? " " : "", what ? what : "");
}

typedef cf_auditline_t line_t;

static const char *keyname(cf_auditline_field_t key)
{
    static const char *const names[CF_AL__COUNT] = {
#define X(name, k) k,
        CF_AUDITLINE_FIELDS(X)
#undef X
    };
    return names[key];
}

/* A string field; NULL (and a reported line) when absent or not a string, if @need. */
static const char *str(run_t *r, const line_t *o, cf_auditline_field_t key, int need)
{
    if (o->v[key].kind == CF_AL_STRING)
        return o->v[key].s;
    if (need)
        bad_line(r, "missing or non-string field", keyname(key));
    return NULL;
}

/* A time field: 0 ok, 1 absent (when optional), -1 bad (reported). */
static int time_field(run_t *r, const line_t *o, cf_auditline_field_t key, int need,
                      cf_time_t *out)
{
    const cf_auditline_value_t *v = &o->v[key];

    if (v->kind == CF_AL_ABSENT && !need)
        return 1;
    if (v->kind != CF_AL_STRING || cf_auditline_time(v->s, out) < 0) {
        bad_line(r, "missing or malformed time (RFC 3339 UTC expected) in", keyname(key));
        return -1;
    }
    return 0;
}

/* A millisecond field: 0 ok, 1 absent, -1 out of range (reported). */
static int ms_field(run_t *r, const line_t *o, cf_auditline_field_t key, cf_time_t *out)
{
    const cf_auditline_value_t *v = &o->v[key];

    if (v->kind == CF_AL_ABSENT)
        return 1;
    if (v->kind != CF_AL_INTEGER || v->i < 0 || v->i > CF_DURATION_MAX) {
        bad_line(r, "not a duration in ms (0 to 100 years):", keyname(key));
        return -1;
    }
    *out = v->i;
    return 0;
}

static int on_created(run_t *r, const line_t *o, const char *sid, const char *sub, cf_time_t ts)
{
    cf_time_t created = ts, idle_at = 0, abs_at = 0;
    cf_limits_t lim = {0, 0, 0};
    const char *client = str(r, o, CF_AL_CLIENT_ID, 0);
    int a, b, c;

    if (sub == NULL)
        return bad_line(r, "missing or non-string field", "sub"), -1;
    if (time_field(r, o, CF_AL_CREATED_AT, 0, &created) < 0)
        return -1;
    if ((r->client && (client == NULL || strcmp(client, r->client) != 0)) ||
        (r->role && !cf_auditline_has(&o->v[CF_AL_ROLES], r->role)))
        return 0; /* filtered out: its later lines count as orphans */
    a = ms_field(r, o, CF_AL_IDLE_TIMEOUT_MS, &lim.idle_timeout);
    b = ms_field(r, o, CF_AL_ABSOLUTE_TIMEOUT_MS, &lim.absolute_timeout);
    c = ms_field(r, o, CF_AL_ACCESS_TTL_MS, &lim.access_ttl);
    if (a < 0 || b < 0 || c < 0)
        return -1;
    if (a == 1 && time_field(r, o, CF_AL_IDLE_EXPIRES_AT, 0, &idle_at) == 0)
        lim.idle_timeout = idle_at - created; /* an older log: what the deadlines say */
    if (b == 1 && time_field(r, o, CF_AL_ABSOLUTE_EXPIRES_AT, 0, &abs_at) == 0)
        lim.absolute_timeout = abs_at - created;
    if (cf_tune_start(r->t, sid, sub, created, &lim) < 0) {
        fprintf(stderr, "curfew tune: out of memory\n");
        exit(CF_CLI_EXIT_FAIL);
    }
    cf_tune_token(r->t, sid, created);
    if (!r->start_seen)
        r->base = lim;
    else if (memcmp(&r->base, &lim, sizeof lim) != 0)
        r->mixed = 1;
    r->start_seen = 1;
    return 0;
}

static int on_ended(run_t *r, const line_t *o, const char *sid, cf_time_t ts)
{
    const char *why = str(r, o, CF_AL_END_REASON, 1);
    cf_time_t at = ts, last;
    cf_end_t end;
    int rc;

    if (why == NULL)
        return -1;
    end = cf_end_from_name(why);
    if (end == CF_END__COUNT || end == CF_END_NONE)
        return bad_line(r, "unknown end_reason", why), -1;
    if (time_field(r, o, CF_AL_ENDED_AT, 0, &at) < 0)
        return -1;
    last = at;
    rc = time_field(r, o, CF_AL_LAST_ACTIVITY_AT, 0, &last);
    if (rc < 0)
        return -1;
    if (cf_tune_end(r->t, sid, end, at, last) < 0) {
        fprintf(stderr, "curfew tune: out of memory\n");
        exit(CF_CLI_EXIT_FAIL);
    }
    return 0;
}

/* One line: 0 used or ignored, -1 bad (reported). */
static int on_line(run_t *r, char *buf, size_t len)
{
    line_t o;
    char why[160];
    const char *ev, *sid;
    cf_time_t ts, idle = 0;
    int rc = 0;

    if (cf_auditline_read(&o, buf, len, why) < 0) {
        bad_line(r, "not a JSON object:", why);
        cf_auditline_fini(&o);
        return -1;
    }
    ev = str(r, &o, CF_AL_EVENT, 1);
    if (ev == NULL || time_field(r, &o, CF_AL_TS, 1, &ts) < 0) {
        cf_auditline_fini(&o);
        return -1;
    }
    if (ts > r->last_ts)
        r->last_ts = ts;
    sid = str(r, &o, CF_AL_SID, 0);
    if ((r->since && ts < r->since) || (r->until && ts >= r->until) || sid == NULL) {
        cf_auditline_fini(&o);
        return 0; /* outside the window, or not about a session */
    }
    if (strcmp(ev, "session_created") == 0) {
        rc = on_created(r, &o, sid, str(r, &o, CF_AL_SUB, 0), ts);
    } else if (strcmp(ev, "session_ended") == 0) {
        rc = on_ended(r, &o, sid, ts);
    } else if (strcmp(ev, "token_refreshed") == 0 || strcmp(ev, "activity_gap") == 0) {
        rc = ms_field(r, &o, CF_AL_IDLE_MS, &idle) < 0 ? -1 : 0;
        if (rc == 0 && idle > 0)
            cf_tune_gap(r->t, sid, ts - idle, ts);
        if (rc == 0 && ev[0] == 't')
            cf_tune_token(r->t, sid, ts);
    }
    cf_auditline_fini(&o);
    return rc;
}

/* Stream @f through the replay. */
static void read_log(run_t *r, FILE *f)
{
    static char buf[CF_TUNE_LINE_MAX + 2];

    while (fgets(buf, sizeof buf, f) != NULL) {
        size_t len = strlen(buf);
        r->line++;
        if (len > 0 && buf[len - 1] != '\n') {
            if (len > CF_TUNE_LINE_MAX) {
                int ch;
                while ((ch = fgetc(f)) != EOF && ch != '\n')
                    ;
                bad_line(r, "line longer than 65536 bytes", NULL);
                continue;
            }
            if (feof(f)) { /* a last line cut short: the log is being written */
                fprintf(stderr, "%s:%llu: warning: last line is incomplete, ignored\n", r->path,
                        (unsigned long long)r->line);
                break;
            }
        }
        if (len <= 1)
            continue;
        (void)on_line(r, buf, len);
    }
}

/* ------------------------------------------------------------------ */
/* Arguments and the report                                            */
/* ------------------------------------------------------------------ */

#define MAX_VALUES 16

static void usage(FILE *out)
{
    fputs("usage: curfew tune --audit FILE [--since T] [--until T] [--client C] [--role R]\n"
          "                   [--idle 5m,15m,30m,1h] [--absolute 8h,12h,24h] [--access-ttl 10m]\n"
          "                   [--relogin-window 30m] [--budget N] [--format table|json|csv]\n"
          "                   [--plot FILE.svg]\n"
          "       curfew tune --live URL [--key-file FILE] [--client C] [--idle 5m,15m,30m,1h]\n"
          "                   [--budget N] [--format table|json|csv]\n"
          "       curfew tune --synthetic N --out FILE [--seed S]\n"
          "\n"
          "Replays every session of an audit log (FILE, - for stdin) under each combination of\n"
          "the candidate lifetimes and reports forced re-logins per 1,000 active user-hours,\n"
          "how long a token copy stays usable after its user's last activity (exposure), and\n"
          "how sessions end. The baseline is each session's recorded limits; the recommendation\n"
          "is the least exposure adding at most --budget re-logins per 1,000 user-hours\n"
          "(default 1). See docs/tuning.md.\n"
          "\n"
          "--live URL reads a running server's counters and histograms (GET /v1/stats, with the\n"
          "admin key) instead: re-logins under idle candidates from the idle-gap and re-login\n"
          "delay histograms (a range when a candidate falls between bucket bounds), exposure as\n"
          "its bound; it cannot replay sessions, so absolute and TTL candidates need --audit.\n",
          out);
}

/* "5m,15m" into @v (at most MAX_VALUES); the count, or -1 (reported). */
static int durations(const char *opt, const char *s, cf_time_t *v)
{
    int n = 0;

    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *why = NULL;
        if (n == MAX_VALUES || cf_duration_parse(s, len, &v[n], &why) < 0 || v[n] <= 0) {
            fprintf(stderr, "curfew tune: --%s: '%.*s': %s\n", opt, (int)len, s,
                    n == MAX_VALUES ? "at most 16 values" : why ? why : "must be > 0");
            return -1;
        }
        n++;
        s += len + (comma != NULL);
        if (comma != NULL && *s == '\0') {
            fprintf(stderr, "curfew tune: --%s: empty value after ','\n", opt);
            return -1;
        }
    }
    if (n == 0)
        fprintf(stderr, "curfew tune: --%s: no value\n", opt);
    return n > 0 ? n : -1;
}

static int time_arg(const char *opt, const char *s, cf_time_t *out)
{
    long long sec;

    if (cf_cli_parse_time(s, &sec) < 0 || sec < 0 || sec > 253402300799LL) {
        fprintf(stderr, "curfew tune: --%s: '%s' is not a time (Unix seconds or RFC 3339)\n", opt, s);
        return -1;
    }
    *out = (cf_time_t)sec * CF_SEC;
    return 0;
}

static void fill_row(cf_tune_row_t *row, const cf_tune_result_t *res, const cf_tune_totals_t *tot)
{
    uint64_t ends = 0;
    double hours = tot->active_ms / CF_HOUR;

    row->relogins = res->relogins[0] + res->relogins[1];
    row->relogins_by[0] = res->relogins[0];
    row->relogins_by[1] = res->relogins[1];
    memcpy(row->ends, res->ends, sizeof row->ends);
    row->relogins_per_kh = hours > 0 ? (double)row->relogins * 1000.0 / hours : 0;
    row->exposure_mean_s = res->exposed ? res->exposure_ms / (double)res->exposed / CF_SEC : 0;
    row->exposure_p50_s = (double)cf_tune_exposure_quantile(res, 0.50) / CF_SEC;
    row->exposure_p95_s = (double)cf_tune_exposure_quantile(res, 0.95) / CF_SEC;
    row->exposure_max_s = (double)res->exposure_max / CF_SEC;
    row->exposed_hours = res->exposure_ms / CF_HOUR;
    for (int k = 0; k < CF_TUNE_END__COUNT; k++)
        ends += res->ends[k];
    for (int k = 0; k < CF_TUNE_END__COUNT; k++)
        row->share[k] = ends ? (double)res->ends[k] / (double)ends : 0;
}

typedef struct {
    const char *audit, *format, *plot, *out, *synthetic, *live, *key_file;
    int audit_only; /* an option --live cannot honour was given */
    cf_time_t idle[MAX_VALUES], absolute[MAX_VALUES], ttl[MAX_VALUES], window;
    int nidle, nabs, nttl;
    double budget;
    unsigned long long seed;
    run_t run;
} args_t;

static int parse_args(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {
        {"audit", 1, 0, 'a'},     {"since", 1, 0, 's'},   {"until", 1, 0, 'u'},
        {"client", 1, 0, 'c'},    {"role", 1, 0, 'r'},    {"idle", 1, 0, 'i'},
        {"absolute", 1, 0, 'A'},  {"access-ttl", 1, 0, 't'}, {"format", 1, 0, 'f'},
        {"plot", 1, 0, 'p'},      {"budget", 1, 0, 'b'},  {"relogin-window", 1, 0, 'w'},
        {"synthetic", 1, 0, 'S'}, {"out", 1, 0, 'o'},     {"seed", 1, 0, 'e'},
        {"live", 1, 0, 'L'},      {"key-file", 1, 0, 'K'},
        {"help", 0, 0, 'h'},      {0, 0, 0, 0},
    };
    int c;
    char *end;
    const char *why;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        a->audit_only |= strchr("suArtpw", c) != NULL;
        switch (c) {
        case 'a': a->audit = optarg; break;
        case 'L': a->live = optarg; break;
        case 'K': a->key_file = optarg; break;
        case 's': if (time_arg("since", optarg, &a->run.since) < 0) return CF_CLI_EXIT_USAGE; break;
        case 'u': if (time_arg("until", optarg, &a->run.until) < 0) return CF_CLI_EXIT_USAGE; break;
        case 'c': a->run.client = optarg; break;
        case 'r': a->run.role = optarg; break;
        case 'i': if ((a->nidle = durations("idle", optarg, a->idle)) < 0) return CF_CLI_EXIT_USAGE; break;
        case 'A': if ((a->nabs = durations("absolute", optarg, a->absolute)) < 0) return CF_CLI_EXIT_USAGE; break;
        case 't': if ((a->nttl = durations("access-ttl", optarg, a->ttl)) < 0) return CF_CLI_EXIT_USAGE; break;
        case 'f': a->format = optarg; break;
        case 'p': a->plot = optarg; break;
        case 'o': a->out = optarg; break;
        case 'S': a->synthetic = optarg; break;
        case 'w':
            if (cf_duration_parse(optarg, strlen(optarg), &a->window, &why) < 0) {
                fprintf(stderr, "curfew tune: --relogin-window: '%s': %s\n", optarg, why);
                return CF_CLI_EXIT_USAGE;
            }
            break;
        case 'b':
            errno = 0;
            a->budget = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(a->budget >= 0 && a->budget <= 1e9)) {
                fprintf(stderr, "curfew tune: --budget: '%s' is not a number from 0\n", optarg);
                return CF_CLI_EXIT_USAGE;
            }
            break;
        case 'e':
            errno = 0;
            a->seed = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg) {
                fprintf(stderr, "curfew tune: --seed: '%s' is not a number\n", optarg);
                return CF_CLI_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return CF_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "curfew tune: unexpected argument '%s'\n", argv[optind]);
        return CF_CLI_EXIT_USAGE;
    }
    if (strcmp(a->format, "table") && strcmp(a->format, "json") && strcmp(a->format, "csv")) {
        fprintf(stderr, "curfew tune: --format: '%s' is not one of table, json, csv\n", a->format);
        return CF_CLI_EXIT_USAGE;
    }
    if ((a->synthetic != NULL) + (a->audit != NULL) + (a->live != NULL) != 1 ||
        (a->synthetic && a->out == NULL)) {
        fprintf(stderr, "curfew tune: give --audit FILE, --live URL, or --synthetic N --out FILE\n");
        return CF_CLI_EXIT_USAGE;
    }
    if (a->live != NULL && a->audit_only) {
        fprintf(stderr, "curfew tune: --live reads counters, not sessions: --since, --until, --role, "
                        "--absolute, --access-ttl, --relogin-window and --plot need --audit FILE\n");
        return CF_CLI_EXIT_USAGE;
    }
    return 0;
}

static int synthetic(const args_t *a)
{
    char *end;
    unsigned long long n;
    FILE *f;
    int rc;

    errno = 0;
    n = strtoull(a->synthetic, &end, 10);
    if (errno || *end || end == a->synthetic || n == 0 || n > 10000000000ULL) {
        fprintf(stderr, "curfew tune: --synthetic: '%s' is not a count of lines (1 to 10^10)\n",
                a->synthetic);
        return CF_CLI_EXIT_USAGE;
    }
    f = strcmp(a->out, "-") == 0 ? stdout : fopen(a->out, "w");
    if (f == NULL) {
        fprintf(stderr, "curfew tune: cannot write %s: %s\n", a->out, strerror(errno));
        return CF_CLI_EXIT_FAIL;
    }
    rc = cf_tune_synthetic(n, a->seed, f);
    if ((f != stdout ? fclose(f) : fflush(f)) != 0 || rc < 0) {
        fprintf(stderr, "curfew tune: cannot write %s: %s\n", a->out, strerror(errno));
        return CF_CLI_EXIT_FAIL;
    }
    return 0;
}

static int report(args_t *a, cf_tune_row_t *rows, size_t n)
{
    cf_tune_report_t rep = {cf_tune_totals(a->run.t), rows, n, a->budget, a->run.line, a->run.bad};
    FILE *f;

    for (size_t i = 0; i < n; i++)
        fill_row(&rows[i], cf_tune_result(a->run.t, i), rep.tot);
    cf_tune_rank(&rep);
    cf_tune_print(&rep, a->format, stdout);
    if (a->plot != NULL) {
        f = fopen(a->plot, "w");
        if (f == NULL || cf_tune_plot(&rep, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "curfew tune: cannot write %s: %s\n", a->plot, strerror(errno));
            return CF_CLI_EXIT_FAIL;
        }
    }
    return a->run.bad > 0 ? CF_CLI_EXIT_FAIL : 0;
}

int cf_cli_tune(int argc, char **argv)
{
    args_t a = {.format = "table", .window = 30 * CF_MIN, .budget = 1, .seed = 1};
    cf_tune_candidate_t cand[1 + MAX_VALUES * MAX_VALUES * MAX_VALUES];
    cf_tune_row_t *rows;
    size_t n = 1;
    FILE *f;
    int rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (a.synthetic != NULL)
        return synthetic(&a);
    if (a.nidle == 0)
        a.nidle = durations("idle", "5m,15m,30m,1h", a.idle);
    if (a.live != NULL)
        return cf_tune_live(a.live, a.key_file, a.run.client, a.idle, a.nidle, a.budget, a.format);
    if (a.nabs == 0)
        a.nabs = durations("absolute", "8h,12h,24h", a.absolute);
    if (a.nttl == 0)
        a.nttl = durations("access-ttl", "10m", a.ttl);
    memset(&cand[0], 0, sizeof cand[0]); /* the baseline: recorded limits */
    for (int i = 0; i < a.nidle; i++)
        for (int j = 0; j < a.nabs; j++)
            for (int k = 0; k < a.nttl; k++)
                cand[n++] = (cf_tune_candidate_t){a.idle[i], a.absolute[j], a.ttl[k]};
    if (n > CF_TUNE_MAX_CANDIDATES) {
        fprintf(stderr, "curfew tune: %zu combinations; at most %d\n", n - 1, CF_TUNE_MAX_CANDIDATES - 1);
        return CF_CLI_EXIT_USAGE;
    }
    f = strcmp(a.audit, "-") == 0 ? stdin : fopen(a.audit, "r");
    if (f == NULL) {
        fprintf(stderr, "curfew tune: cannot read %s: %s\n", a.audit, strerror(errno));
        return CF_CLI_EXIT_FAIL;
    }
    a.run.path = a.audit;
    a.run.t = cf_tune_new(cand, n, a.window);
    rows = calloc(n, sizeof *rows);
    if (a.run.t == NULL || rows == NULL) {
        fprintf(stderr, "curfew tune: out of memory\n");
        return CF_CLI_EXIT_FAIL;
    }
    read_log(&a.run, f);
    if (ferror(f))
        fprintf(stderr, "curfew tune: error reading %s: %s\n", a.audit, strerror(errno));
    if (f != stdin)
        fclose(f);
    cf_tune_finish(a.run.t);
    if (a.run.reported > MAX_REPORTED)
        fprintf(stderr, "%s: %llu more bad lines not shown\n", a.audit,
                (unsigned long long)(a.run.reported - MAX_REPORTED));
    for (size_t i = 0; i < n; i++) {
        rows[i].c = cand[i];
        rows[i].shown = cand[i];
        rows[i].baseline = i == 0;
    }
    rows[0].shown = (cf_tune_candidate_t){a.run.base.idle_timeout, a.run.base.absolute_timeout,
                                          a.run.base.access_ttl};
    if (a.run.mixed)
        fprintf(stderr, "curfew tune: note: sessions were recorded with different limits; the "
                        "baseline replays each with its own, and shows the first's\n");
    rc = report(&a, rows, n);
    free(rows);
    cf_tune_free(a.run.t);
    return rc;
}
