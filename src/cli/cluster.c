/* SPDX-License-Identifier: MIT
 *
 * curfew cluster: one node's view of its cluster, from GET /v1/cluster:
 * whether it hears the bus (and so may decide), and how fast revocations
 * from other nodes reach it.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void cluster_usage(FILE *out)
{
    fputs("usage: curfew cluster [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Shows what a node knows of its cluster: its id, whether it hears the bus and\n"
          "may decide (not stale), when it last heard it, how often it resynchronised,\n"
          "and the delay of the revocations that reached it from other nodes.\n"
          "A single node (SQLite) says so.\n"
          "\n"
          "      --server URL     the node's admin API (default " CF_CLI_DEFAULT_SERVER ")\n"
          "      --key-file FILE  read the admin key from FILE (default: $CURFEW_ADMIN_KEY)\n"
          "      --json           print the server's JSON instead of text\n"
          "  -h, --help           show this help\n",
          out);
}

static long long int_of(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static double ms_of(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

int cf_cli_cluster(int argc, char **argv)
{
    enum { OPT_SERVER = 256, OPT_KEY_FILE, OPT_JSON };
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"key-file", required_argument, NULL, OPT_KEY_FILE},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "curfew cluster", *server = NULL, *key_file = NULL;
    int json = 0, c, rc;
    cf_cli_conn_t conn;
    cf_cli_resp_t r;
    json_t *doc, *p;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER: server = optarg; break;
        case OPT_KEY_FILE: key_file = optarg; break;
        case OPT_JSON: json = 1; break;
        case 'h': cluster_usage(stdout); return 0;
        default: cluster_usage(stderr); return CF_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        return CF_CLI_EXIT_USAGE;
    }
    rc = cf_cli_conn_init(&conn, cmd, server, key_file);
    if (rc != 0)
        return rc;
    if (cf_cli_http(&conn, "GET", "/v1/cluster", NULL, 1, &r) < 0)
        return CF_CLI_EXIT_FAIL;
    if (r.status != 200) {
        rc = cf_cli_fail_status(&conn, &r, NULL);
        free(r.body);
        return rc;
    }
    doc = cf_cli_json(&conn, &r);
    free(r.body);
    if (doc == NULL)
        return CF_CLI_EXIT_FAIL;
    if (json) {
        cf_cli_print_json(doc);
    } else if (!json_is_true(json_object_get(doc, "cluster"))) {
        printf("single node (store: %s): no cluster\n",
               json_string_value(json_object_get(doc, "store")) ?: "?");
    } else {
        p = json_object_get(doc, "propagation");
        printf("node:             %s\n", json_string_value(json_object_get(doc, "node")) ?: "?");
        printf("state:            %s\n", json_is_true(json_object_get(doc, "stale"))
                                             ? "STALE (refusing checks: store_unavailable)"
                                             : "serving");
        printf("bus:              %s, last heard %lld ms ago (bound %lld ms)\n",
               json_is_true(json_object_get(doc, "link_up")) ? "subscribed" : "not subscribed",
               int_of(doc, "heard_ms_ago"), int_of(doc, "max_staleness_ms"));
        printf("messages:         %lld heard, %lld events applied, %lld malformed\n",
               int_of(doc, "messages"), int_of(doc, "applied_events"), int_of(doc, "bad_messages"));
        printf("resyncs:          %lld\n", int_of(doc, "resyncs"));
        printf("stale refusals:   %lld\n", int_of(doc, "stale_refusals"));
        if (int_of(p, "window") > 0)
            printf("propagation:      p50 %.3f ms, p99 %.3f ms, max %.3f ms (last %lld of %lld)\n",
                   ms_of(p, "p50_ms"), ms_of(p, "p99_ms"), ms_of(p, "max_ms"), int_of(p, "window"),
                   int_of(p, "count"));
        else
            printf("propagation:      no revocation from another node yet\n");
    }
    json_decref(doc);
    return 0;
}
