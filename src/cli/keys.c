/* SPDX-License-Identifier: MIT
 *
 * curfew keys ls|rotate: the signing key set of a running server, through
 * GET /v1/keys and POST /v1/keys/rotate. Shows kids, states and times only;
 * the admin API never returns private key material.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"


#define COMMON_HELP                                                                         \
    "      --server URL     the server's admin API (default " CF_CLI_DEFAULT_SERVER ")\n" \
    "      --key-file FILE  read the admin key from FILE (default: $CURFEW_ADMIN_KEY)\n"   \
    "      --json           print the server's JSON instead of a table\n"                 \
    "  -h, --help           show this help\n"

static void keys_usage(FILE *out)
{
    fputs("usage: curfew keys ls [--json]\n"
          "       curfew keys rotate [--json]\n"
          "\n"
          "Lists and rotates the signing keys of a running server through its admin API.\n"
          "Run 'curfew keys <ls|rotate> --help' for details.\n",
          out);
}

static void ls_usage(FILE *out)
{
    fputs("usage: curfew keys ls [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Lists the signing keys: the active one, which signs new tokens, and the\n"
          "rotated-out ones still verifying until the tokens they signed have expired\n"
          "(RETIRES: then they leave the JWKS). Times are UTC.\n"
          "\n" COMMON_HELP,
          out);
}

static void rotate_usage(FILE *out)
{
    fputs("usage: curfew keys rotate [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Makes a new signing key active. Tokens signed by the previous key stay valid\n"
          "until they expire; that key keeps verifying until then, and is then retired.\n"
          "The server answers once the new key set is durable on disk.\n"
          "\n" COMMON_HELP,
          out);
}

/* "2026-11-23T10:00:00Z", or "-" for null. */
static void fmt_time(json_t *v, char *out, size_t cap)
{
    time_t t;
    struct tm tm;

    if (!json_is_integer(v)) {
        snprintf(out, cap, "-");
        return;
    }
    t = (time_t)json_integer_value(v);
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
}

#define NCOLS 5

static void print_table(json_t *arr)
{
    static const char *const head[NCOLS] = {"KID", "STATE", "ACTIVATED", "DEACTIVATED", "RETIRES"};
    static const char *const field[NCOLS] = {"kid", "state", "activated_at", "deactivated_at",
                                             "retires_at"};
    size_t w[NCOLS], i, n = json_array_size(arr);
    char (*cells)[NCOLS][300] = calloc(n + 1, sizeof *cells);
    json_t *o;

    if (cells == NULL) {
        fprintf(stderr, "curfew: out of memory\n");
        return;
    }
    for (int c = 0; c < NCOLS; c++) {
        snprintf(cells[0][c], sizeof cells[0][c], "%s", head[c]);
        w[c] = strlen(head[c]);
    }
    json_array_foreach(arr, i, o) {
        for (int c = 0; c < NCOLS; c++) {
            json_t *v = json_object_get(o, field[c]);
            if (c < 2)
                snprintf(cells[i + 1][c], sizeof cells[0][c], "%s",
                         json_string_value(v) ? json_string_value(v) : "?");
            else
                fmt_time(v, cells[i + 1][c], sizeof cells[0][c]);
            if (strlen(cells[i + 1][c]) > w[c])
                w[c] = strlen(cells[i + 1][c]);
        }
    }
    for (i = 0; i <= n; i++)
        for (int c = 0; c < NCOLS; c++) {
            if (c == NCOLS - 1)
                printf("%s\n", cells[i][c]);
            else
                printf("%-*s  ", (int)w[c], cells[i][c]);
        }
    free(cells);
}

static int run(int argc, char **argv, int rotate)
{
    const char *cmd = rotate ? "curfew keys rotate" : "curfew keys ls";
    cf_cli_opts_t o;
    json_t *doc, *arr;
    int rc = cf_cli_common_opts(argc, argv, cmd, rotate ? rotate_usage : ls_usage, &o);

    if (rc >= 0)
        return rc;
    doc = cf_cli_call(cmd, &o, rotate ? "POST" : "GET", rotate ? "/v1/keys/rotate" : "/v1/keys",
                      "this server has no key rotation (an older curfew?)", &rc);
    if (doc == NULL)
        return rc;
    arr = json_object_get(doc, "keys");
    if (o.json) {
        cf_cli_print_json(doc);
    } else if (!json_is_array(arr)) {
        fprintf(stderr, "%s: the server's answer has no key list\n", cmd);
        rc = CF_CLI_EXIT_FAIL;
    } else {
        const char *kid = json_string_value(json_object_get(doc, "kid"));
        const char *prev = json_string_value(json_object_get(doc, "previous"));
        if (rotate)
            printf("rotated: %s is active; %s keeps verifying until its tokens have expired\n",
                   kid != NULL ? kid : "?", prev != NULL ? prev : "?");
        print_table(arr);
    }
    json_decref(doc);
    return rc;
}

int cf_cli_keys(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (sub == NULL) {
        keys_usage(stderr);
        return CF_CLI_EXIT_USAGE;
    }
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        keys_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return run(argc - 1, argv + 1, 0);
    if (strcmp(sub, "rotate") == 0)
        return run(argc - 1, argv + 1, 1);
    fprintf(stderr, "curfew keys: unknown subcommand '%s' (ls or rotate)\n", sub);
    return CF_CLI_EXIT_USAGE;
}
