/* SPDX-License-Identifier: MIT
 *
 * curfew reload: make a running server read its configuration again, as
 * SIGHUP does, through POST /v1/config/reload, and say how it went: applied
 * (exit 0), or refused with the server's FILE:LINE error while the running
 * configuration stays (exit 1). Unlike `kill -HUP` it works from another
 * machine and needs no pid.
 */
#include "cli/cli.h"

static void reload_usage(FILE *out)
{
    fputs("usage: curfew reload [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Makes the server read its configuration file again, as SIGHUP does: policies,\n"
          "clients, roles, routes, rate limits and the log level change at once. A file\n"
          "that does not load, or that changes an option only a restart can change, is\n"
          "refused: the error (FILE:LINE: what is wrong) is printed, the running\n"
          "configuration stays and the exit status is 1.\n"
          "\n"
          "      --server URL     the server's admin API (default " CF_CLI_DEFAULT_SERVER ")\n"
          "      --key-file FILE  read the admin key from FILE (default: $CURFEW_ADMIN_KEY)\n"
          "      --json           print the server's JSON instead of text\n"
          "  -h, --help           show this help\n",
          out);
}

int cf_cli_reload(int argc, char **argv)
{
    const char *cmd = "curfew reload";
    cf_cli_opts_t o;
    const char *src;
    json_t *doc;
    int rc = cf_cli_common_opts(argc, argv, cmd, reload_usage, &o);

    if (rc >= 0)
        return rc;
    doc = cf_cli_call(cmd, &o, "POST", "/v1/config/reload", NULL, &rc);
    if (doc == NULL)
        return rc;
    src = json_string_value(json_object_get(doc, "source"));
    if (o.json)
        cf_cli_print_json(doc);
    else
        printf("configuration reloaded from %s (generation %lld)\n", src ? src : "its file",
               (long long)json_integer_value(json_object_get(doc, "generation")));
    json_decref(doc);
    return 0;
}
