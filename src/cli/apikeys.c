/* SPDX-License-Identifier: MIT
 *
 * curfew apikeys create|ls|show|rotate|revoke: the admin API's API key
 * endpoints (/v1/apikeys) from a terminal. The server checks everything; the
 * CLI only builds the JSON body from options, so its refusals are the API's
 * (status and description). The secret is printed once, by create and
 * rotate, on stdout only.
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

enum {
    OPT_SERVER = 256, OPT_KEY_FILE, OPT_JSON, OPT_SUB, OPT_NAME, OPT_CLIENT, OPT_ROLE, OPT_SCOPE,
    OPT_EXPIRES, OPT_IDLE, OPT_NETWORK, OPT_QDAY, OPT_QMONTH, OPT_OVERLAP,
};

/* What each option puts in the request body: a string, a list entry, or seconds/duration. */
typedef enum { F_STR, F_LIST, F_SECONDS, F_INT } ftype_t;

typedef struct {
    const char *opt, *field;
    int id;
    ftype_t type;
} field_t;

static const field_t fields[] = {
    {"sub", "sub", OPT_SUB, F_STR},
    {"name", "name", OPT_NAME, F_STR},
    {"client", "client_id", OPT_CLIENT, F_STR},
    {"role", "roles", OPT_ROLE, F_LIST},
    {"scope", "scope", OPT_SCOPE, F_STR},
    {"expires-in", "expires_in", OPT_EXPIRES, F_SECONDS},
    {"idle-expiry", "idle_expiry", OPT_IDLE, F_SECONDS},
    {"network", "networks", OPT_NETWORK, F_LIST},
    {"quota-day", "quota_per_day", OPT_QDAY, F_INT},
    {"quota-month", "quota_per_month", OPT_QMONTH, F_INT},
    {"overlap", "overlap", OPT_OVERLAP, F_SECONDS},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static void apikeys_usage(FILE *out)
{
    fputs("usage: curfew apikeys create --sub S --name N [options]\n"
          "       curfew apikeys ls [--sub S] [--client C]\n"
          "       curfew apikeys show ID\n"
          "       curfew apikeys rotate ID [--overlap DUR] [--expires-in DUR]\n"
          "       curfew apikeys revoke ID | --sub S | --client C\n"
          "\n"
          "Creates, lists, rotates and revokes API keys on a running server through its\n"
          "admin API. The key itself is printed once, by create and rotate.\n"
          "Run 'curfew apikeys <command> --help' for details.\n",
          out);
}

static void cmd_usage(FILE *out, const char *sub)
{
    if (strcmp(sub, "create") == 0)
        fputs("usage: curfew apikeys create --sub S --name N [--client C] [--role R]...\n"
              "         [--scope \"a b\"] [--expires-in DUR] [--idle-expiry DUR] [--network CIDR]...\n"
              "         [--quota-day N] [--quota-month N] [--server URL] [--key-file FILE] [--json]\n"
              "\n"
              "Creates a key for owner S. DUR is seconds or a duration (90d, 12h); 0 for\n"
              "--expires-in asks for no expiry (refused when api_keys.require_expiry).\n"
              "Prints the key once: store it now, the server keeps only its hash.\n\n" COMMON_HELP,
              out);
    else if (strcmp(sub, "ls") == 0)
        fputs("usage: curfew apikeys ls [--sub S] [--client C] [--server URL] [--key-file FILE] [--json]\n"
              "\n"
              "Lists keys (never their secrets): id, owner, state, time left, last use.\n\n" COMMON_HELP,
              out);
    else if (strcmp(sub, "show") == 0)
        fputs("usage: curfew apikeys show ID [--server URL] [--key-file FILE] [--json]\n\n" COMMON_HELP,
              out);
    else if (strcmp(sub, "rotate") == 0)
        fputs("usage: curfew apikeys rotate ID [--overlap DUR] [--expires-in DUR] [--server URL]\n"
              "         [--key-file FILE] [--json]\n"
              "\n"
              "Issues a successor and prints it once; the old key keeps working for the\n"
              "overlap (api_keys.overlap, or shorter with --overlap), then ends key_rotated.\n\n" COMMON_HELP,
              out);
    else
        fputs("usage: curfew apikeys revoke ID | --sub S | --client C [--server URL]\n"
              "         [--key-file FILE] [--json]\n"
              "\n"
              "Revokes one key (and its predecessor still in its overlap), or every key of\n"
              "an owner or a client, at once and everywhere (reason key_revoked).\n\n" COMMON_HELP,
              out);
}

/* Request, check for 2xx, parse. NULL after printing why; *rc holds the exit status. */
static json_t *call(const cf_cli_conn_t *c, const char *method, const char *path, json_t *body,
                    int *rc)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    cf_cli_resp_t r;
    json_t *doc = NULL;

    *rc = CF_CLI_EXIT_FAIL;
    if (cf_cli_http(c, method, path, text, 1, &r) < 0) {
        free(text);
        return NULL;
    }
    free(text);
    if (r.status < 200 || r.status > 299)
        cf_cli_fail_status(c, &r, "no such API key");
    else if ((doc = cf_cli_json(c, &r)) != NULL)
        *rc = 0;
    free(r.body);
    return doc;
}

static const char *str_or(json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : dflt;
}

/* An option's value into @body as its field wants it; -1 (printed) when it cannot be. */
static int add_field(const char *cmd, const field_t *f, const char *v, json_t *body)
{
    char *end = NULL;
    long long n;
    json_t *list;

    switch (f->type) {
    case F_STR:
        return json_object_set_new(body, f->field, json_string(v));
    case F_LIST:
        list = json_object_get(body, f->field);
        if (list == NULL) {
            list = json_array();
            json_object_set_new(body, f->field, list);
        }
        return json_array_append_new(list, json_string(v));
    case F_SECONDS:
    case F_INT:
        n = strtoll(v, &end, 10);
        if (v[0] != '\0' && *end == '\0')
            return json_object_set_new(body, f->field, json_integer(n));
        if (f->type == F_SECONDS) /* "90d": the server parses durations */
            return json_object_set_new(body, f->field, json_string(v));
        fprintf(stderr, "%s: --%s expects a whole number, not '%s'\n", cmd, f->opt, v);
        return -1;
    }
    return -1;
}

/* "2026-11-23T10:00:00Z", or "-" when @v is not a time. */
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

static void print_key(json_t *o)
{
    char t[40], left[32];
    json_t *exp_in = json_object_get(o, "expires_in");

    printf("%-14s%s\n", "id:", str_or(o, "id", "-"));
    printf("%-14s%s\n", "prefix:", str_or(o, "prefix", "-"));
    printf("%-14s%s\n", "owner:", str_or(o, "sub", "-"));
    printf("%-14s%s\n", "name:", str_or(o, "name", "-"));
    printf("%-14s%s\n", "client:", str_or(o, "client_id", "-"));
    printf("%-14s%s", "state:", str_or(o, "state", "-"));
    if (json_is_string(json_object_get(o, "end_reason")))
        printf(" (%s)", str_or(o, "end_reason", ""));
    printf("\n");
    fmt_time(json_object_get(o, "expires_at"), t, sizeof t);
    if (json_is_integer(exp_in))
        cf_cli_format_left((long long)json_integer_value(exp_in), left, sizeof left);
    else
        snprintf(left, sizeof left, "-");
    printf("%-14s%s (in %s)\n", "expires:", t, left);
    fmt_time(json_object_get(o, "last_used"), t, sizeof t);
    printf("%-14s%s\n", "last used:", t);
    if (json_is_string(json_object_get(o, "successor")))
        printf("%-14s%s\n", "successor:", str_or(o, "successor", "-"));
}

#define NCOLS 6

static void print_table(json_t *arr)
{
    static const char *const head[NCOLS] = {"ID", "OWNER", "NAME", "STATE", "EXPIRES IN", "LAST USED"};
    size_t w[NCOLS], i, n = json_array_size(arr);
    char (*cells)[NCOLS][128] = calloc(n + 1, sizeof *cells);
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
        json_t *exp_in = json_object_get(o, "expires_in");
        snprintf(cells[i + 1][0], 128, "%s", str_or(o, "id", "?"));
        snprintf(cells[i + 1][1], 128, "%s", str_or(o, "sub", "?"));
        snprintf(cells[i + 1][2], 128, "%s", str_or(o, "name", "?"));
        snprintf(cells[i + 1][3], 128, "%s", json_is_string(json_object_get(o, "end_reason"))
                                                 ? str_or(o, "end_reason", "?")
                                                 : str_or(o, "state", "?"));
        if (json_is_integer(exp_in))
            cf_cli_format_left((long long)json_integer_value(exp_in), cells[i + 1][4], 128);
        else
            snprintf(cells[i + 1][4], 128, "-");
        fmt_time(json_object_get(o, "last_used"), cells[i + 1][5], 128);
        for (int c = 0; c < NCOLS; c++)
            if (strlen(cells[i + 1][c]) > w[c])
                w[c] = strlen(cells[i + 1][c]);
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

/* What a subcommand accepts besides the common options. */
typedef struct {
    const char *name;
    int takes_id;           /* 1: exactly one ID argument; 2: optional (revoke) */
    const int *opts;        /* OPT_* it accepts, 0-terminated */
} sub_t;

static const int create_opts[] = {OPT_SUB, OPT_NAME, OPT_CLIENT, OPT_ROLE, OPT_SCOPE, OPT_EXPIRES,
                                  OPT_IDLE, OPT_NETWORK, OPT_QDAY, OPT_QMONTH, 0};
static const int ls_opts[] = {OPT_SUB, OPT_CLIENT, 0};
static const int none[] = {0};
static const int rotate_opts[] = {OPT_OVERLAP, OPT_EXPIRES, 0};
static const int revoke_opts[] = {OPT_SUB, OPT_CLIENT, 0};

static const sub_t subs[] = {
    {"create", 0, create_opts}, {"ls", 0, ls_opts},          {"show", 1, none},
    {"rotate", 1, rotate_opts}, {"revoke", 2, revoke_opts},
};

static int accepts(const sub_t *s, int id)
{
    for (const int *p = s->opts; *p != 0; p++)
        if (*p == id)
            return 1;
    return 0;
}

/* The request @s means with @body (the options) and @id; builds method and path. */
static int request_for(const char *cmd, const sub_t *s, const char *id, json_t *body,
                       const char **method, char *path, size_t cap, int *send_body)
{
    json_t *sub = json_object_get(body, "sub"), *client = json_object_get(body, "client_id");

    *send_body = 0;
    snprintf(path, cap, "/v1/apikeys");
    if (strcmp(s->name, "create") == 0) {
        *method = "POST";
        *send_body = 1;
        return 0;
    }
    if (strcmp(s->name, "ls") == 0) {
        *method = "GET";
        if (sub != NULL && (strlen(path) + 5 >= cap ||
                            (strcat(path, "?sub="), cf_cli_urlencode(json_string_value(sub), path, cap)) < 0))
            goto too_long;
        if (client != NULL && (strlen(path) + 12 >= cap ||
                               (strcat(path, sub != NULL ? "&client_id=" : "?client_id="),
                                cf_cli_urlencode(json_string_value(client), path, cap)) < 0))
            goto too_long;
        return 0;
    }
    if (strcmp(s->name, "revoke") == 0 && id == NULL) {
        if ((sub != NULL) == (client != NULL)) {
            fprintf(stderr, "%s: expected exactly one of ID, --sub S or --client C\n", cmd);
            return CF_CLI_EXIT_USAGE;
        }
        *method = "POST";
        *send_body = 1;
        snprintf(path, cap, "/v1/apikeys/revocations");
        return 0;
    }
    if (strcmp(s->name, "revoke") == 0 && (sub != NULL || client != NULL)) {
        fprintf(stderr, "%s: expected exactly one of ID, --sub S or --client C\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    strcat(path, "/");
    if (id[0] == '\0' || cf_cli_urlencode(id, path, cap) < 0 || strlen(path) + 8 >= cap) {
        fprintf(stderr, "%s: '%s' is not a key id\n", cmd, id);
        return CF_CLI_EXIT_USAGE;
    }
    *method = strcmp(s->name, "show") == 0 ? "GET" : strcmp(s->name, "revoke") == 0 ? "DELETE" : "POST";
    if (strcmp(s->name, "rotate") == 0) {
        strcat(path, "/rotate");
        *send_body = 1;
    }
    return 0;
too_long:
    fprintf(stderr, "%s: --sub or --client too long\n", cmd);
    return CF_CLI_EXIT_USAGE;
}

static void print_result(const sub_t *s, json_t *doc)
{
    if (strcmp(s->name, "create") == 0 || strcmp(s->name, "rotate") == 0) {
        printf("key: %s\n", str_or(doc, "key", "?"));
        printf("(shown once: the server keeps only its hash)\n");
        print_key(doc);
        if (json_is_object(json_object_get(doc, "previous")))
            printf("previous key %s works until its overlap ends\n",
                   str_or(json_object_get(doc, "previous"), "id", "?"));
    } else if (strcmp(s->name, "ls") == 0) {
        print_table(json_object_get(doc, "keys"));
    } else if (json_is_integer(json_object_get(doc, "keys_revoked"))) {
        printf("%lld key(s) revoked\n", (long long)json_integer_value(json_object_get(doc, "keys_revoked")));
    } else {
        print_key(doc);
    }
}

static int run(const sub_t *s, int argc, char **argv)
{
    struct option opts[NFIELDS + 5];
    const char *server = NULL, *key_file = NULL, *id = NULL, *method = NULL;
    char cmd[64], path[1024];
    json_t *body = json_object(), *doc = NULL;
    cf_cli_conn_t conn;
    int c, rc = CF_CLI_EXIT_USAGE, json = 0, send_body;
    size_t n = 0;

    snprintf(cmd, sizeof cmd, "curfew apikeys %s", s->name);
    for (size_t i = 0; i < NFIELDS; i++)
        if (accepts(s, fields[i].id))
            opts[n++] = (struct option){fields[i].opt, required_argument, NULL, fields[i].id};
    opts[n++] = (struct option){"server", required_argument, NULL, OPT_SERVER};
    opts[n++] = (struct option){"key-file", required_argument, NULL, OPT_KEY_FILE};
    opts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const field_t *f = NULL;
        for (size_t i = 0; i < NFIELDS; i++)
            if (fields[i].id == c)
                f = &fields[i];
        if (c == OPT_SERVER) {
            server = optarg;
        } else if (c == OPT_KEY_FILE) {
            key_file = optarg;
        } else if (c == OPT_JSON) {
            json = 1;
        } else if (c == 'h') {
            cmd_usage(stdout, s->name);
            rc = 0;
            goto done;
        } else if (f == NULL) {
            cmd_usage(stderr, s->name);
            goto done;
        } else if (add_field(cmd, f, optarg, body) < 0) {
            goto done;
        }
    }
    if (optind < argc)
        id = argv[optind++];
    if (optind < argc || (s->takes_id == 0 && id != NULL)) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind < argc ? optind : optind - 1]);
        goto done;
    }
    if (s->takes_id == 1 && id == NULL) {
        fprintf(stderr, "%s: missing the key ID\n", cmd);
        goto done;
    }
    rc = request_for(cmd, s, id, body, &method, path, sizeof path, &send_body);
    if (rc != 0)
        goto done;
    rc = cf_cli_conn_init(&conn, cmd, server, key_file);
    if (rc != 0)
        goto done;
    doc = call(&conn, method, path, send_body ? body : NULL, &rc);
    if (doc == NULL)
        goto done;
    if (json)
        cf_cli_print_json(doc);
    else
        print_result(s, doc);
done:
    json_decref(doc);
    json_decref(body);
    return rc;
}

int cf_cli_apikeys(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (sub == NULL) {
        apikeys_usage(stderr);
        return CF_CLI_EXIT_USAGE;
    }
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        apikeys_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "list") == 0)
        sub = "ls";
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(sub, subs[i].name) == 0)
            return run(&subs[i], argc - 1, argv + 1);
    fprintf(stderr, "curfew apikeys: unknown subcommand '%s' (create, ls, show, rotate or revoke)\n", sub);
    return CF_CLI_EXIT_USAGE;
}
