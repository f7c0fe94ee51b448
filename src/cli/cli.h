/* SPDX-License-Identifier: MIT
 *
 * The admin CLI: `curfew sessions`, `curfew revoke`, `curfew stats`, `curfew keys`,
 * `curfew cluster`.
 *
 * Like curl's tool over libcurl, these commands use nothing of the server's
 * internals: they speak HTTP to a running server's admin API, exactly as any
 * other client would (docs/api.md). Exit status: 0 success, 1 a server or
 * I/O failure, 2 a usage error; every failure prints one line on stderr.
 */
#ifndef CF_CLI_H
#define CF_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#define CF_CLI_EXIT_FAIL 1
#define CF_CLI_EXIT_USAGE 2

#define CF_CLI_DEFAULT_SERVER "http://127.0.0.1:7070"
#define CF_CLI_MAX_RESPONSE (8u << 20) /* bytes: a cap on what we read back */
#define CF_CLI_TIMEOUT_MS 10000        /* connect, and each wait for data (idle) */
#define CF_CLI_DEADLINE_S 30           /* the whole request, unless $CURFEW_TIMEOUT says */
#define CF_CLI_DEADLINE_MAX_S 86400

/** Where and as whom to connect. Filled by cf_cli_conn_init(); borrows nothing. */
typedef struct {
    char url[300];  /* as given, without a trailing slash, for messages */
    char host[256]; /* without brackets for IPv6 */
    char port[8];
    char key[512];  /* the admin key */
    char cacert[512]; /* CA file for https:// ("" = the system's CAs) */
    int tls;          /* https:// */
    int deadline_s;   /* the whole request: connect to last byte ($CURFEW_TIMEOUT) */
    const char *cmd; /* "curfew sessions ls": prefix for messages */
} cf_cli_conn_t;

/** A response. body is NUL-terminated and owned by the caller (free()). */
typedef struct {
    int status;
    char *body;
    size_t len;
} cf_cli_resp_t;

/**
 * Parse @server ("http://host:port", NULL for the default) and load the admin
 * key from @key_file, else $CURFEW_ADMIN_KEY. On failure prints one line on
 * stderr and returns the exit status (2 for usage, 1 for I/O); 0 on success.
 */
int cf_cli_conn_init(cf_cli_conn_t *c, const char *cmd, const char *server, const char *key_file);

/**
 * Remove `--cacert FILE` (or --cacert=FILE) from @argv, wherever it appears
 * before `--`, and export it as $CURFEW_CACERT for cf_cli_conn_init(): every
 * command that talks to the server accepts it. Returns the new argc.
 */
int cf_cli_take_cacert(int argc, char **argv);

/**
 * One blocking request: @method @path (with query) and an optional JSON
 * @body. Fills @out (caller frees out->body) and returns 0 for any HTTP
 * answer, whatever its status; on a connection or protocol failure prints
 * "curfew: cannot connect to URL: why" (or similar) and returns -1.
 * @with_key: send the admin key as a Bearer token.
 */
int cf_cli_http(const cf_cli_conn_t *c, const char *method, const char *path, const char *body,
                int with_key, cf_cli_resp_t *out);

/**
 * Report a non-2xx answer on stderr as "CMD: description (STATUS)", using
 * the server's error_description, or @not_found for a 404 when not NULL.
 * Returns CF_CLI_EXIT_FAIL.
 */
int cf_cli_fail_status(const cf_cli_conn_t *c, const cf_cli_resp_t *r, const char *not_found);

/** Parse a JSON body; prints "CMD: the server's answer is not JSON" and returns NULL on failure. */
json_t *cf_cli_json(const cf_cli_conn_t *c, const cf_cli_resp_t *r);

/** Print @v indented on stdout, followed by a newline. */
void cf_cli_print_json(json_t *v);

/** Append the percent-encoded @s to @out (capacity @cap). Returns -1 when it does not fit. */
int cf_cli_urlencode(const char *s, char *out, size_t cap);

/**
 * Parse TIME as Unix seconds ("1790000000") or RFC 3339
 * ("2026-11-23T10:00:00Z", "2026-11-23T10:00:00.5+01:00"). 0 or -1.
 */
int cf_cli_parse_time(const char *s, long long *out);

/** Format a number of seconds as "1h02m", "15m30s", "42s", "3d04h"; "-" for negative. */
void cf_cli_format_left(long long secs, char *out, size_t cap);

/** The subcommands; argv[0] is the subcommand's own name. Return the exit status. */
int cf_cli_sessions(int argc, char **argv);
int cf_cli_revoke(int argc, char **argv);
/** The options of the commands that only read or act on the server: --server, --key-file, --json. */
typedef struct {
    const char *server, *key_file;
    int json;
} cf_cli_opts_t;

/**
 * Parse those options (and --help) for @cmd, allowing no other argument.
 * Returns -1 to go on, or the exit status to return now (0 after --help,
 * CF_CLI_EXIT_USAGE after printing @usage to stderr).
 */
int cf_cli_common_opts(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                       cf_cli_opts_t *o);

/**
 * Connect per @o and send @method @path with the admin key; return the parsed
 * JSON of a 200 answer. Otherwise prints one line (using @not_found for a 404
 * when not NULL) and returns NULL with the exit status in *rc.
 */
json_t *cf_cli_call(const char *cmd, const cf_cli_opts_t *o, const char *method, const char *path,
                    const char *not_found, int *rc);

int cf_cli_stats(int argc, char **argv);
int cf_cli_keys(int argc, char **argv);
int cf_cli_cluster(int argc, char **argv);
int cf_cli_apikeys(int argc, char **argv);
/** `curfew reload`: POST /v1/config/reload (cli/reload.c). */
int cf_cli_reload(int argc, char **argv);

/** A row of main.c's command table. */
typedef struct {
    const char *name;    /* the word that selects it */
    const char *shown;   /* the form shown in help ("config check F") */
    const char *summary; /* one line */
    int (*run)(int argc, char **argv); /* argv[0] is the name */
    int server;          /* talks to a server: takes --cacert */
} cf_cli_command_t;

/**
 * Print the curfew(1) man page in roff (man.c) from the command table: each
 * command's summary and its own --help text. Returns the exit status.
 */
int cf_cli_man(FILE *out, const char *version, const cf_cli_command_t *cmds, size_t n);

/** `curfew tune`: replay an audit log under candidate timeouts (cli/tune.c). */
int cf_cli_tune(int argc, char **argv);

#endif
