/* SPDX-License-Identifier: MIT
 *
 * curfew cluster: one node's view of its cluster, from GET /v1/cluster:
 * whether it hears the bus (and so may decide), and how fast revocations
 * from other nodes reach it.
 */
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
    const char *cmd = "curfew cluster";
    cf_cli_opts_t o;
    json_t *doc, *p;
    int rc = cf_cli_common_opts(argc, argv, cmd, cluster_usage, &o);

    if (rc >= 0)
        return rc;
    doc = cf_cli_call(cmd, &o, "GET", "/v1/cluster", "this server has no cluster view (an older curfew?)",
                      &rc);
    if (doc == NULL)
        return rc;
    if (o.json) {
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
