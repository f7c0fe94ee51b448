/* SPDX-License-Identifier: MIT
 *
 * curfew sessions ls|show|revoke and curfew revoke: the admin API's session
 * endpoints (GET/DELETE /v1/sessions, POST /v1/revocations) from a terminal.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define COMMON_HELP                                                                         \
    "      --server URL     the server's admin API (default " CF_CLI_DEFAULT_SERVER ")\n" \
    "      --key-file FILE  read the admin key from FILE (default: $CURFEW_ADMIN_KEY)\n"   \
    "      --json           print the server's JSON instead of a table\n"                 \
    "  -h, --help           show this help\n"

enum { OPT_SERVER = 256, OPT_KEY_FILE, OPT_JSON, OPT_SUB, OPT_CLIENT, OPT_ALL, OPT_BEFORE, OPT_LIMIT };

#define COMMON_OPTS                                                                              \
    {"server", required_argument, NULL, OPT_SERVER}, {"key-file", required_argument, NULL, OPT_KEY_FILE}, \
    {"json", no_argument, NULL, OPT_JSON}, {"help", no_argument, NULL, 'h'}

typedef struct {
    const char *server, *key_file;
    int json;
} common_t;

/* Handle an option every command shares; 1 when it was one of them. */
static int common_opt(common_t *o, int c)
{
    switch (c) {
    case OPT_SERVER: o->server = optarg; return 1;
    case OPT_KEY_FILE: o->key_file = optarg; return 1;
    case OPT_JSON: o->json = 1; return 1;
    default: return 0;
    }
}

static void sessions_usage(FILE *out)
{
    fputs("usage: curfew sessions ls [--sub S] [--client C] [--limit N] [--json]\n"
          "       curfew sessions show ID [--json]\n"
          "       curfew sessions revoke ID [--json]\n"
          "\n"
          "Lists, shows and revokes sessions through a running server's admin API.\n"
          "Run 'curfew sessions <ls|show|revoke> --help' for details.\n",
          out);
}

static void ls_usage(FILE *out)
{
    fputs("usage: curfew sessions ls [--sub S] [--client C] [--limit N] [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Lists sessions, newest first (active and recently ended ones).\n"
          "\n"
          "      --sub S          only sessions of subject S\n"
          "      --client C       only sessions of client C\n"
          "      --limit N        at most N sessions (1 to 10000; the server's default is 100)\n" COMMON_HELP,
          out);
}

static void show_usage(FILE *out)
{
    fputs("usage: curfew sessions show ID [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Shows one session: subject, client, roles, deadlines, state and end reason.\n"
          "\n" COMMON_HELP,
          out);
}

static void srevoke_usage(FILE *out)
{
    fputs("usage: curfew sessions revoke ID [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Ends one session (end reason 'revoked'); its tokens are refused from now on.\n"
          "Revoking an already ended session keeps its original end reason.\n"
          "\n" COMMON_HELP,
          out);
}

static void revoke_usage(FILE *out)
{
    fputs("usage: curfew revoke --sub S | --client C | --all [--before TIME] [--server URL] [--key-file FILE] [--json]\n"
          "\n"
          "Ends every live session of a subject, of a client, or of everyone (end\n"
          "reason 'revoked'). For --sub and --all the server also refuses every access\n"
          "token issued before the revocation (reason 'revoked_before').\n"
          "\n"
          "      --sub S          revoke subject S\n"
          "      --client C       revoke client C (sessions end; no not-before time)\n"
          "      --all            revoke everyone\n"
          "      --before TIME    only sessions created before TIME, and the not-before time\n"
          "                       is TIME instead of now; Unix seconds or RFC 3339\n"
          "                       (2026-11-23T10:00:00Z), not in the future\n" COMMON_HELP,
          out);
}

/* ---------------------------------------------------------------- tables */

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && s[0] != '\0' ? s : dflt;
}

/* The "left" columns: seconds until a deadline, "-" once ended. */
static void left(json_t *o, const char *key, long long now, char *out, size_t cap)
{
    json_t *v = json_object_get(o, key);

    if (strcmp(str_or(o, "state", ""), "active") != 0 || !json_is_integer(v)) {
        snprintf(out, cap, "-");
        return;
    }
    cf_cli_format_left(json_integer_value(v) > now ? json_integer_value(v) - now : 0, out, cap);
}

#define NCOLS 7

static void print_table(json_t *arr)
{
    static const char *const head[NCOLS] = {"ID", "SUB", "CLIENT", "STATE", "IDLE LEFT", "ABSOLUTE LEFT", "END REASON"};
    long long now = (long long)time(NULL);
    size_t w[NCOLS], i, n = json_array_size(arr);
    char (*cells)[NCOLS][32] = NULL, *(*text)[NCOLS] = NULL;
    json_t *o;

    cells = calloc(n + 1, sizeof *cells);
    text = calloc(n + 1, sizeof *text);
    if (cells == NULL || text == NULL) {
        free(cells);
        free(text);
        fprintf(stderr, "curfew: out of memory\n");
        return;
    }
    for (int c = 0; c < NCOLS; c++) {
        text[0][c] = (char *)head[c];
        w[c] = strlen(head[c]);
    }
    json_array_foreach(arr, i, o) {
        char **row = text[i + 1];
        row[0] = (char *)str_or(o, "session_id", "?");
        row[1] = (char *)str_or(o, "sub", "-");
        row[2] = (char *)str_or(o, "client_id", "-");
        row[3] = (char *)str_or(o, "state", "?");
        left(o, "idle_expires_at", now, cells[i + 1][4], sizeof cells[0][0]);
        left(o, "absolute_expires_at", now, cells[i + 1][5], sizeof cells[0][0]);
        row[4] = cells[i + 1][4];
        row[5] = cells[i + 1][5];
        row[6] = (char *)str_or(o, "end_reason", "-");
        for (int c = 0; c < NCOLS; c++)
            if (strlen(row[c]) > w[c])
                w[c] = strlen(row[c]);
    }
    for (i = 0; i <= n; i++)
        for (int c = 0; c < NCOLS; c++) {
            if (c == NCOLS - 1)
                printf("%s\n", text[i][c]);
            else
                printf("%-*s  ", (int)w[c], text[i][c]);
        }
    free(cells);
    free(text);
}

static void print_session(json_t *o)
{
    long long now = (long long)time(NULL);
    char idle[32], abs_[32], roles[512] = "";
    json_t *r;
    size_t i;

    json_array_foreach(json_object_get(o, "roles"), i, r) {
        size_t n = strlen(roles);
        snprintf(roles + n, sizeof roles - n, "%s%s", n ? "," : "", json_string_value(r) ? json_string_value(r) : "");
    }
    left(o, "idle_expires_at", now, idle, sizeof idle);
    left(o, "absolute_expires_at", now, abs_, sizeof abs_);
    printf("%-18s%s\n", "id:", str_or(o, "session_id", "?"));
    printf("%-18s%s\n", "sub:", str_or(o, "sub", "-"));
    printf("%-18s%s\n", "client:", str_or(o, "client_id", "-"));
    printf("%-18s%s\n", "roles:", roles[0] ? roles : "-");
    printf("%-18s%s\n", "scope:", str_or(o, "scope", "-"));
    printf("%-18s%s\n", "state:", str_or(o, "state", "?"));
    printf("%-18s%s\n", "end reason:", str_or(o, "end_reason", "-"));
    printf("%-18s%s\n", "idle left:", idle);
    printf("%-18s%s\n", "absolute left:", abs_);
    printf("%-18s%lld\n", "created at:", (long long)json_integer_value(json_object_get(o, "created_at")));
    printf("%-18s%lld\n", "last activity:", (long long)json_integer_value(json_object_get(o, "last_activity")));
    printf("%-18s%llds\n", "idle timeout:", (long long)json_integer_value(json_object_get(o, "idle_timeout")));
    printf("%-18s%llds\n", "absolute timeout:", (long long)json_integer_value(json_object_get(o, "absolute_timeout")));
}

/* ----------------------------------------------------------- subcommands */

/* Request, check for 2xx, parse. NULL after printing why; *rc holds the exit status. */
static json_t *call(const cf_cli_conn_t *c, const char *method, const char *path, const char *body,
                    const char *not_found, int *rc)
{
    cf_cli_resp_t r;
    json_t *doc = NULL;

    *rc = CF_CLI_EXIT_FAIL;
    if (cf_cli_http(c, method, path, body, 1, &r) < 0)
        return NULL;
    if (r.status < 200 || r.status > 299)
        cf_cli_fail_status(c, &r, not_found);
    else if ((doc = cf_cli_json(c, &r)) != NULL)
        *rc = 0;
    free(r.body);
    return doc;
}

/* What `sessions ls` was asked: its filters (NULL = none) and the shared options. */
typedef struct {
    common_t o;
    const char *sub, *client, *limit;
} ls_args_t;

/* Parse `sessions ls` options into @a; -1 to go on, or the exit status to end with. */
static int ls_args(int argc, char **argv, const char *cmd, ls_args_t *a)
{
    static const struct option opts[] = {{"sub", required_argument, NULL, OPT_SUB},
                                         {"client", required_argument, NULL, OPT_CLIENT},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         COMMON_OPTS,
                                         {NULL, 0, NULL, 0}};
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (common_opt(&a->o, c))
            continue;
        switch (c) {
        case OPT_SUB: a->sub = optarg; break;
        case OPT_CLIENT: a->client = optarg; break;
        case OPT_LIMIT:
            a->limit = optarg;
            if (strspn(a->limit, "0123456789") != strlen(a->limit) || atol(a->limit) < 1 ||
                atol(a->limit) > 10000) {
                fprintf(stderr, "%s: --limit: expected 1 to 10000, got '%s'\n", cmd, a->limit);
                return CF_CLI_EXIT_USAGE;
            }
            break;
        case 'h': ls_usage(stdout); return 0;
        default: ls_usage(stderr); return CF_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        return CF_CLI_EXIT_USAGE;
    }
    return -1;
}

/* Append @s to the NUL-terminated @path of capacity @cap; -1 (unchanged) when it does not fit. */
static int append(char *path, size_t cap, const char *s)
{
    size_t n = strlen(path), m = strlen(s);

    if (n + m >= cap)
        return -1;
    memcpy(path + n, s, m + 1);
    return 0;
}

/* /v1/sessions with the filters of @a as its query; -1 when it does not fit @cap. */
static int ls_path(const ls_args_t *a, char *path, size_t cap)
{
    const struct {
        const char *name, *value;
        int encode; /* a free-form value, percent-encoded; --limit is digits */
    } query[] = {{"sub=", a->sub, 1}, {"client_id=", a->client, 1}, {"limit=", a->limit, 0}};
    const char *sep = "?";

    snprintf(path, cap, "/v1/sessions");
    for (size_t i = 0; i < sizeof query / sizeof query[0]; i++) {
        if (query[i].value == NULL)
            continue;
        if (append(path, cap, sep) < 0 || append(path, cap, query[i].name) < 0)
            return -1;
        if (query[i].encode ? cf_cli_urlencode(query[i].value, path, cap) < 0
                            : append(path, cap, query[i].value) < 0)
            return -1;
        sep = "&";
    }
    return 0;
}

/* The answer to `sessions ls`: its JSON, or a table; the exit status. */
static int ls_print(const char *cmd, const ls_args_t *a, json_t *doc)
{
    json_t *arr = json_object_get(doc, "sessions");

    if (a->o.json) {
        cf_cli_print_json(doc);
        return 0;
    }
    if (!json_is_array(arr)) {
        fprintf(stderr, "%s: the server's answer has no session list\n", cmd);
        return CF_CLI_EXIT_FAIL;
    }
    json_int_t total = json_integer_value(json_object_get(doc, "total"));
    print_table(arr);
    if ((size_t)total > json_array_size(arr))
        printf("(%zu of %lld sessions shown; use --limit)\n", json_array_size(arr), (long long)total);
    return 0;
}

static int cmd_ls(int argc, char **argv)
{
    const char *cmd = "curfew sessions ls";
    ls_args_t a = {{0}, NULL, NULL, NULL};
    cf_cli_conn_t conn;
    char path[1024];
    json_t *doc;
    int rc;

    rc = ls_args(argc, argv, cmd, &a);
    if (rc >= 0)
        return rc;
    rc = cf_cli_conn_init(&conn, cmd, a.o.server, a.o.key_file);
    if (rc != 0)
        return rc;
    if (ls_path(&a, path, sizeof path) < 0) {
        fprintf(stderr, "%s: --sub or --client too long\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    doc = call(&conn, "GET", path, NULL, NULL, &rc);
    if (doc == NULL)
        return rc;
    rc = ls_print(cmd, &a, doc);
    json_decref(doc);
    return rc;
}

/* show and revoke: one session by id. */
static int cmd_one(int argc, char **argv, int revoke)
{
    static const struct option opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    const char *cmd = revoke ? "curfew sessions revoke" : "curfew sessions show";
    void (*usage)(FILE *) = revoke ? srevoke_usage : show_usage;
    common_t o = {0};
    cf_cli_conn_t conn;
    char path[256] = "/v1/sessions/";
    json_t *doc;
    int c, rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (common_opt(&o, c))
            continue;
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return CF_CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "%s: missing the session ID\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind + 1]);
        return CF_CLI_EXIT_USAGE;
    }
    if (argv[optind][0] == '\0' || cf_cli_urlencode(argv[optind], path, sizeof path) < 0) {
        fprintf(stderr, "%s: '%s' is not a session ID\n", cmd, argv[optind]);
        return CF_CLI_EXIT_USAGE;
    }
    rc = cf_cli_conn_init(&conn, cmd, o.server, o.key_file);
    if (rc != 0)
        return rc;
    doc = call(&conn, revoke ? "DELETE" : "GET", path, NULL, "session not found", &rc);
    if (doc == NULL)
        return rc;
    if (o.json)
        cf_cli_print_json(doc);
    else if (!revoke)
        print_session(doc);
    else if (strcmp(str_or(doc, "end_reason", ""), "revoked") == 0)
        printf("session %s revoked (sub %s)\n", str_or(doc, "session_id", argv[optind]), str_or(doc, "sub", "-"));
    else
        printf("session %s had already ended (%s)\n", str_or(doc, "session_id", argv[optind]),
               str_or(doc, "end_reason", "-"));
    json_decref(doc);
    return 0;
}

int cf_cli_sessions(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (sub == NULL) {
        sessions_usage(stderr);
        return CF_CLI_EXIT_USAGE;
    }
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        sessions_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return cmd_ls(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return cmd_one(argc - 1, argv + 1, 0);
    if (strcmp(sub, "revoke") == 0)
        return cmd_one(argc - 1, argv + 1, 1);
    fprintf(stderr, "curfew sessions: unknown subcommand '%s' (ls, show or revoke)\n", sub);
    return CF_CLI_EXIT_USAGE;
}

int cf_cli_revoke(int argc, char **argv)
{
    static const struct option opts[] = {{"sub", required_argument, NULL, OPT_SUB},
                                         {"client", required_argument, NULL, OPT_CLIENT},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {"before", required_argument, NULL, OPT_BEFORE},
                                         COMMON_OPTS,
                                         {NULL, 0, NULL, 0}};
    const char *cmd = "curfew revoke", *sub = NULL, *client = NULL, *what;
    int all = 0, has_before = 0, c, rc;
    long long before = 0;
    common_t o = {0};
    cf_cli_conn_t conn;
    json_t *body, *doc;
    char *text;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (common_opt(&o, c))
            continue;
        switch (c) {
        case OPT_SUB: sub = optarg; break;
        case OPT_CLIENT: client = optarg; break;
        case OPT_ALL: all = 1; break;
        case OPT_BEFORE:
            if (cf_cli_parse_time(optarg, &before) < 0 || before <= 0) {
                fprintf(stderr, "%s: --before: expected Unix seconds or RFC 3339 (2026-11-23T10:00:00Z), got '%s'\n",
                        cmd, optarg);
                return CF_CLI_EXIT_USAGE;
            }
            has_before = 1;
            break;
        case 'h': revoke_usage(stdout); return 0;
        default: revoke_usage(stderr); return CF_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        return CF_CLI_EXIT_USAGE;
    }
    if ((sub != NULL) + (client != NULL) + all != 1) {
        fprintf(stderr, "%s: expected exactly one of --sub S, --client C or --all\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    if ((sub != NULL && sub[0] == '\0') || (client != NULL && client[0] == '\0')) {
        fprintf(stderr, "%s: --sub and --client need a non-empty value\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    rc = cf_cli_conn_init(&conn, cmd, o.server, o.key_file);
    if (rc != 0)
        return rc;
    body = sub ? json_pack("{s:s}", "sub", sub) : client ? json_pack("{s:s}", "client_id", client)
                                                         : json_pack("{s:b}", "all", 1);
    if (body != NULL && has_before)
        json_object_set_new(body, "before", json_integer(before));
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return CF_CLI_EXIT_FAIL;
    }
    doc = call(&conn, "POST", "/v1/revocations", text, NULL, &rc);
    free(text);
    if (doc == NULL)
        return rc;
    if (o.json) {
        cf_cli_print_json(doc);
    } else {
        long long n = (long long)json_integer_value(json_object_get(doc, "sessions_ended"));
        what = sub ? "subject" : client ? "client" : "everyone";
        printf("revoked %s%s%s: %lld session%s ended\n", what, all ? "" : " ", sub ? sub : client ? client : "", n,
               n == 1 ? "" : "s");
    }
    json_decref(doc);
    return 0;
}
