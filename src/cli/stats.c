/* SPDX-License-Identifier: MIT
 *
 * curfew stats: counts of sessions by state and end reason, from
 * GET /v1/sessions, and the server's counters from GET /metrics when the
 * server has that endpoint (a missing or refused /metrics is not an error).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define STATS_LIMIT "10000" /* the most GET /v1/sessions returns */

static void stats_usage(FILE *out)
{
    fputs("usage: curfew stats [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Prints how many sessions the server knows: active, ended by end reason, and\n"
          "in all (ended sessions stay visible until they are purged). When the server\n"
          "exposes /metrics, its counters are summed by name and printed too.\n"
          "\n"
          "      --server URL     the server's admin API (default " CF_CLI_DEFAULT_SERVER ")\n"
          "      --key-file FILE  read the admin key from FILE (default: $CURFEW_ADMIN_KEY)\n"
          "      --json           print a JSON object instead of text\n"
          "  -h, --help           show this help\n",
          out);
}

/*
 * Sum every sample of the Prometheus text exposition by metric name, leaving
 * out histogram buckets. Enough for an overview; a dashboard has the rest.
 */
static json_t *sum_metrics(const char *text)
{
    json_t *out = json_object();
    const char *line = text;

    while (out != NULL && line != NULL && *line != '\0') {
        const char *eol = strchr(line, '\n'), *end = eol ? eol : line + strlen(line);
        size_t nlen = strcspn(line, "{ \n");
        if (line[0] != '#' && nlen > 0 && nlen < 200 && line + nlen < end) {
            char name[200];
            const char *v = line + nlen;
            memcpy(name, line, nlen);
            name[nlen] = '\0';
            if (*v == '{')
                v = memchr(v, '}', (size_t)(end - v));
            if (v != NULL && (nlen < 7 || strcmp(name + nlen - 7, "_bucket") != 0)) {
                char *stop;
                double x = strtod(v + 1, &stop);
                if (stop != v + 1) {
                    json_t *old = json_object_get(out, name);
                    json_object_set_new(out, name, json_real(x + (old ? json_real_value(old) : 0)));
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return out;
}

int cf_cli_stats(int argc, char **argv)
{
    const char *cmd = "curfew stats", *name;
    json_t *doc = NULL, *by_reason = NULL, *metrics = NULL, *s, *v;
    json_int_t active = 0, ended = 0;
    cf_cli_opts_t o;
    cf_cli_conn_t conn;
    cf_cli_resp_t r;
    size_t i;
    int rc = cf_cli_common_opts(argc, argv, cmd, stats_usage, &o);

    if (rc >= 0)
        return rc;
    doc = cf_cli_call(cmd, &o, "GET", "/v1/sessions?limit=" STATS_LIMIT, NULL, &rc);
    if (doc == NULL)
        return rc;
    by_reason = json_object();
    json_array_foreach(json_object_get(doc, "sessions"), i, s) {
        const char *state = json_string_value(json_object_get(s, "state"));
        const char *why = json_string_value(json_object_get(s, "end_reason"));
        if (state != NULL && strcmp(state, "active") == 0) {
            active++;
        } else {
            ended++;
            why = why ? why : "unknown";
            v = json_object_get(by_reason, why);
            json_object_set_new(by_reason, why, json_integer(json_integer_value(v) + 1));
        }
    }
    /* /metrics is optional: present on newer servers, maybe behind a token. */
    if (cf_cli_conn_init(&conn, cmd, o.server, o.key_file) == 0 &&
        cf_cli_http(&conn, "GET", "/metrics", NULL, 1, &r) == 0) {
        if (r.status == 200 && r.body != NULL)
            metrics = sum_metrics(r.body);
        free(r.body);
    }
    if (o.json) {
        json_t *out = json_pack("{s:I, s:I, s:O, s:I, s:I}", "active", active, "ended", ended,
                                "ended_by_reason", by_reason, "total",
                                json_integer_value(json_object_get(doc, "total")), "listed",
                                (json_int_t)json_array_size(json_object_get(doc, "sessions")));
        if (out != NULL && metrics != NULL)
            json_object_set(out, "metrics", metrics);
        if (out != NULL)
            cf_cli_print_json(out);
        json_decref(out);
    } else {
        json_int_t total = json_integer_value(json_object_get(doc, "total"));
        printf("sessions active:  %lld\n", (long long)active);
        printf("sessions ended:   %lld\n", (long long)ended);
        json_object_foreach(by_reason, name, v)
            printf("  %-16s %lld\n", name, (long long)json_integer_value(v));
        printf("sessions total:   %lld\n", (long long)total);
        if ((size_t)total > json_array_size(json_object_get(doc, "sessions")))
            printf("(counts cover the newest %s sessions)\n", STATS_LIMIT);
        if (metrics != NULL && json_object_size(metrics) > 0) {
            printf("metrics (/metrics, summed over labels):\n");
            json_object_foreach(metrics, name, v)
                printf("  %s %.17g\n", name, json_real_value(v));
        }
    }
    json_decref(metrics);
    json_decref(by_reason);
    json_decref(doc);
    return 0;
}
