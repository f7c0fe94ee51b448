/* SPDX-License-Identifier: MIT
 *
 * The curfew command: parses arguments, loads the config and hands over to
 * the library. It decides nothing itself.
 *
 *   curfew serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--log-level L]
 *   curfew config check FILE
 *   curfew config doc
 *   curfew reasons
 *   curfew hash-secret [--iterations N]
 *   curfew policy explain [--config FILE] --client ID --roles A,B --method M --path P [--host H]
 *   curfew sessions ls|show|revoke ...   (src/cli/: over the admin HTTP API)
 *   curfew revoke --sub S | --client C | --all [--before TIME]
 *   curfew stats
 *   curfew keys ls|rotate
 *   curfew cluster
 *   curfew tune --audit FILE ... | --synthetic N --out FILE
 *   curfew version
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <uv.h>

#include "core/error.h"

#include "api/api.h"
#include "app/app.h"
#include "app/reload.h"
#include "cli/cli.h"
#include "config/config.h"
#include "proxy/proxy.h"
#include "core/policy.h"
#include "core/reason.h"
#include "core/secret.h"
#include "util/random.h"
#include "util/log.h"

#define EXIT_USAGE 2

static void serve_usage(FILE *out)
{
    fputs("usage: curfew serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--log-level LEVEL]\n"
          "\n"
          "Runs the curfew server. Without --config it runs on the built-in defaults:\n"
          "listen 127.0.0.1:7070, data in ./data (SQLite database and signing keys).\n"
          "\n"
          "  -c, --config FILE     YAML configuration file (see docs/configuration.md)\n"
          "  -l, --listen ADDR     listen address, overrides 'listen' (HOST:PORT)\n"
          "  -d, --data-dir DIR    data directory, overrides 'data_dir'\n"
          "      --log-level L     debug, info, warn or error, overrides 'log_level'\n"
          "  -h, --help            show this help\n"
          "\n"
          "Environment: CURFEW_ADMIN_KEY sets the admin API key. Without it, the first\n"
          "start generates one, prints it once on stderr and stores only its hash.\n",
          out);
}

static void config_usage(FILE *out)
{
    fputs("usage: curfew config check FILE\n"
          "       curfew config doc\n"
          "\n"
          "check: validates FILE and prints the effective configuration as YAML.\n"
          "       On error prints 'FILE:LINE: what is wrong' and exits with status 2.\n"
          "doc:   prints the table of every option (key, type, default, meaning) as Markdown.\n",
          out);
}

/* Where the configuration comes from: the file and the command-line overrides. */
typedef struct {
    const char *path, *listen, *data_dir, *log_level;
} config_source_t;

/* The file's identity and last change, to notice it being replaced while read. */
static int file_stamp(const char *path, struct stat *st)
{
    return stat(path, st) == 0 ? 0 : -1;
}

static int same_stamp(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Parse and validate everything the server needs into @cfg (a new one).
 * Returns 0, or a negative CF_E* with the message in @err (@cfg freed).
 */
static int build_config(const config_source_t *src, cf_config_t *cfg, char *err, size_t errlen)
{
    struct stat before, after;
    int rc;

    cf_config_defaults(cfg);
    if (src->path != NULL) {
        int stamped = file_stamp(src->path, &before) == 0;

        rc = cf_config_load(src->path, cfg, err, errlen);
        if (rc < 0)
            return rc;
        /*
         * An editor writing the file in place while we read it could hand us
         * a valid prefix of it; refuse unless the file is the same one, of
         * the same size and age, after the read as before it.
         */
        if (stamped && (file_stamp(src->path, &after) < 0 || !same_stamp(&before, &after))) {
            snprintf(err, errlen, "%s: the file changed while it was read; write it elsewhere "
                     "and rename it into place", src->path);
            cf_config_fini(cfg);
            return CF_ECONFIG;
        }
    }
    if ((src->listen != NULL && cf_config_set(cfg, "listen", src->listen, err, errlen) < 0) ||
        (src->data_dir != NULL && cf_config_set(cfg, "data_dir", src->data_dir, err, errlen) < 0) ||
        (src->log_level != NULL && cf_config_set(cfg, "log_level", src->log_level, err, errlen) < 0)) {
        cf_config_fini(cfg);
        return CF_ECONFIG;
    }
    /* The message names the file and line itself (cf_config_validate()). */
    rc = cf_config_validate(cfg, err, errlen);
    if (rc < 0) {
        cf_config_fini(cfg);
        return rc;
    }
    return 0;
}

/* cf_app_config_fn: SIGHUP reads the same file with the same overrides. */
static int reread_config(void *arg, cf_config_t *out, char *err, size_t errlen)
{
    return build_config(arg, out, err, errlen);
}

/* Parse and validate everything the server needs; exit status on failure, else 0. */
static int load_config(const char *path, const char *listen, const char *data_dir,
                       const char *log_level, cf_config_t *cfg)
{
    config_source_t src = {path, listen, data_dir, log_level};
    char err[512];

    if (build_config(&src, cfg, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* The proxy decides every request with /v1/check's own handler (proxy/proxy.h). */
static void proxy_decide(void *app, cf_http_req_t *req)
{
    cf_api_check(app, req);
}

static void proxy_refuse(void *app, cf_http_req_t *req, cf_reason_t why)
{
    (void)app;
    cf_reply_refusal(req, CF_ENDPOINT_BEARER, why, NULL, NULL, 0);
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'}, {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *listen = NULL, *data_dir = NULL, *log_level = NULL;
    config_source_t src;
    cf_config_t cfg;
    cf_app_t app;
    cf_proxy_t *proxy = NULL;
    const cf_proxy_hooks_t proxy_hooks = {proxy_decide, proxy_refuse, &app};
    uv_loop_t *loop;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:l:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'L':
            log_level = optarg;
            break;
        case 'h':
            serve_usage(stdout);
            return 0;
        default:
            serve_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "curfew serve: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    rc = load_config(path, listen, data_dir, log_level, &cfg);
    if (rc != 0)
        return rc;
    cf_log_level_set((cf_log_level_t)cf_log_level_parse(cfg.log_level));
    for (size_t i = 0; i < cfg.nnotes; i++)
        CF_LOG(CF_LOG_INFO, "%s", cfg.notes[i]);

    /* A peer closing mid-write must be an EPIPE error, not a dead server. */
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    rc = cf_app_init(&app, &cfg, loop);
    src = (config_source_t){path, listen, data_dir, log_level};
    if (rc == 0 && path != NULL)
        rc = cf_app_reload_init(&app, reread_config, &src);
    if (rc == 0)
        rc = cf_app_apikeys_init(&app);
    if (rc == 0)
        rc = cf_app_start(&app, cf_api_route);
    if (rc == 0)
        cf_app_apikeys_start(&app);
    if (rc == 0)
        rc = cf_proxy_start(&app, &proxy_hooks, &proxy);
    if (rc < 0) {
        fprintf(stderr, "curfew: cannot start (see the log above)\n");
        cf_proxy_stop(proxy);
        cf_app_stop(&app);
        uv_run(loop, UV_RUN_DEFAULT);
        cf_app_fini(&app);
        cf_config_fini(&cfg);
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    cf_app_stop(&app);
    uv_run(loop, UV_RUN_DEFAULT); /* let the handles close */
    cf_app_fini(&app);
    cf_config_fini(&cfg); /* the app borrowed its policy lists from here */
    (void)uv_loop_close(loop);
    CF_LOG(CF_LOG_INFO, "event=stopped");
    return 0;
}

static int cmd_config(int argc, char **argv)
{
    cf_config_t cfg;
    int rc;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        config_usage(stdout);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "check") == 0 &&
        (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        config_usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "doc") == 0) {
        cf_config_doc(stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "check") != 0 || argv[2][0] == '-') {
        config_usage(stderr);
        return EXIT_USAGE;
    }
    rc = load_config(argv[2], NULL, NULL, NULL, &cfg);
    if (rc != 0)
        return rc;
    /* What serve would log about defaults that yielded; stdout stays pure YAML. */
    for (size_t i = 0; i < cfg.nnotes; i++)
        fprintf(stderr, "%s\n", cfg.notes[i]);
    cf_config_dump(&cfg, stdout);
    cf_config_fini(&cfg);
    return 0;
}

static void hash_secret_usage(FILE *out)
{
    fprintf(out, "usage: curfew hash-secret [--iterations N]\n"
                 "\n"
                 "Reads a client secret from standard input (one line) and prints its\n"
                 "PBKDF2-SHA256 hash for a confidential client's secret_hash.\n"
                 "  -i, --iterations N   PBKDF2 iterations (default %d; 1000 to 10000000)\n",
            CF_SECRET_DEFAULT_ITERATIONS);
}

static int cmd_hash_secret(int argc, char **argv)
{
    static const struct option opts[] = {{"iterations", required_argument, NULL, 'i'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long iterations = CF_SECRET_DEFAULT_ITERATIONS;
    char secret[1024], out[256];
    uint8_t salt[16];
    size_t len;
    char *end;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            iterations = strtol(optarg, &end, 10);
            if (*end != '\0' || iterations < 1000 || iterations > 10000000) {
                fprintf(stderr, "curfew hash-secret: --iterations: expected 1000 to 10000000, got '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            hash_secret_usage(stdout);
            return 0;
        default:
            hash_secret_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "curfew hash-secret: unexpected argument '%s' (the secret is read from stdin)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    if (fgets(secret, sizeof secret, stdin) == NULL) {
        fprintf(stderr, "curfew hash-secret: no secret on standard input\n");
        return EXIT_USAGE;
    }
    len = strcspn(secret, "\r\n");
    secret[len] = '\0';
    if (len == 0) {
        fprintf(stderr, "curfew hash-secret: the secret is empty\n");
        return EXIT_USAGE;
    }
    cf_random_bytes(salt, sizeof salt);
    if (cf_secret_hash(secret, len, salt, (uint32_t)iterations, out, sizeof out) < 0) {
        fprintf(stderr, "curfew hash-secret: hashing failed\n");
        return 1;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    puts(out);
    return 0;
}

static void explain_usage(FILE *out)
{
    fputs("usage: curfew policy explain [--config FILE] [--client ID] [--roles A,B]\n"
          "                             [--method M] [--path P] [--host H]\n"
          "\n"
          "Prints the lifetimes a session of that client and those roles gets, the\n"
          "rule each one comes from, and the route rule that a request with that\n"
          "method, path and host meets.\n",
          out);
}

static int cmd_policy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"client", required_argument, NULL, 'C'},
        {"roles", required_argument, NULL, 'r'},  {"method", required_argument, NULL, 'm'},
        {"path", required_argument, NULL, 'p'},   {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *client = NULL, *roles = "", *method = "GET", *rpath = "/", *host = "";
    cf_config_t cfg;
    cf_limits_t global;
    char *text = NULL;
    int c, rc;

    if (argc < 2 || strcmp(argv[1], "explain") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            explain_usage(stdout);
            return 0;
        }
        explain_usage(stderr);
        return EXIT_USAGE;
    }
    optind = 1;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'C': client = optarg; break;
        case 'r': roles = optarg; break;
        case 'm': method = optarg; break;
        case 'p': rpath = optarg; break;
        case 'H': host = optarg; break;
        case 'h':
            explain_usage(stdout);
            return 0;
        default:
            explain_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "curfew policy explain: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    rc = load_config(path, NULL, NULL, NULL, &cfg);
    if (rc != 0)
        return rc;
    if (client != NULL && cf_policy_client(&cfg.policy, client) == NULL) {
        fprintf(stderr, "curfew policy explain: client '%s' is not configured\n", client);
        cf_config_fini(&cfg);
        return EXIT_USAGE;
    }
    global = (cf_limits_t){cfg.idle_timeout, cfg.absolute_timeout, cfg.access_ttl};
    rc = cf_policy_explain(&cfg.policy, &global, cfg.access_max_ttl, client, roles, host, method,
                           rpath, &text);
    if (rc < 0) {
        fprintf(stderr, "curfew policy explain: %s\n", cf_strerror(rc));
        cf_config_fini(&cfg);
        return 1;
    }
    fputs(text, stdout);
    printf("background header: %s: 1 (on any request: decided, but does not extend the idle "
           "deadline)\n", cfg.background_header);
    free(text);
    cf_config_fini(&cfg);
    return 0;
}

/*
 * docs/api.md's reason table, printed from the reason map so the two cannot
 * drift (tests/integration/test_docs.py compares them).
 */
static int cmd_reasons(int argc, char **argv)
{
    static const cf_endpoint_t kinds[] = {CF_ENDPOINT_BEARER, CF_ENDPOINT_TOKEN, CF_ENDPOINT_API};

    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fputs("usage: curfew reasons\n\nPrints the reason codes, each endpoint kind's status and "
              "error, and the description, as the Markdown table of docs/api.md.\n",
              help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    puts("| reason | `/v1/check`, `/v1/logout` | `/oauth/*` | other endpoints | description |");
    puts("|---|---|---|---|---|");
    for (int r = 1; r < CF_REASON__COUNT; r++) {
        printf("| `%s` |", cf_reason_name((cf_reason_t)r));
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            printf(" %d `%s` |", cf_reason_status((cf_reason_t)r, kinds[k]),
                   cf_reason_error((cf_reason_t)r, kinds[k]));
        printf(" %s |\n", cf_reason_describe((cf_reason_t)r));
    }
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: curfew version\n\nPrints the version.");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "curfew version: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    printf("curfew %s\n", CF_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

/*
 * The command table: dispatch, `curfew help` and the man page (curfew help
 * --man, docs/curfew.1) all read it, so a new command is one row. Several
 * rows may share a name (one per form); the first one dispatches.
 */
static const cf_cli_command_t commands[] = {
    {"serve", "serve", "run the server (see 'curfew serve --help')", cmd_serve, 0},
    {"config", "config check F", "validate config file F and print the effective configuration",
     cmd_config, 0},
    {"config", "config doc", "print the table of every config option", cmd_config, 0},
    {"reasons", "reasons", "print the table of every reason code and its answers", cmd_reasons, 0},
    {"hash-secret", "hash-secret", "hash a client secret (read from stdin) for the clients: list",
     cmd_hash_secret, 0},
    {"policy", "policy explain", "show the effective lifetimes and the route rule for a request",
     cmd_policy, 0},
    {"sessions", "sessions", "list, show and revoke sessions on a running server", cf_cli_sessions,
     1},
    {"revoke", "revoke", "revoke a subject, a client or everyone on a running server",
     cf_cli_revoke, 1},
    {"stats", "stats", "session counts (and /metrics) of a running server", cf_cli_stats, 1},
    {"keys", "keys", "list and rotate the signing keys of a running server", cf_cli_keys, 1},
    {"apikeys", "apikeys", "create, list, show, rotate and revoke API keys on a running server",
     cf_cli_apikeys, 1},
    {"reload", "reload", "make a running server read its configuration again (as SIGHUP)",
     cf_cli_reload, 1},
    {"cluster", "cluster", "a node's view of its cluster: stale or serving, propagation delays",
     cf_cli_cluster, 1},
    {"tune", "tune", "replay an audit log under candidate timeouts (docs/tuning.md)", cf_cli_tune,
     0},
    {"version", "version", "print the version", cmd_version, 0},
    {"help", "help [--man]", "print this help, or the curfew(1) man page in roff", cmd_help, 0},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: curfew <command> [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-15s %s\n", commands[i].shown, commands[i].summary);
    fputs("\n"
          "Run 'curfew <command> --help' for a command's options. The commands that talk to\n"
          "a server take --server http://HOST:PORT or https://HOST:PORT, and --cacert FILE\n"
          "(or $CURFEW_CACERT) to verify an HTTPS server against another CA. A server that\n"
          "does not answer is given up after 10 s without a byte (or a connection), or 30 s\n"
          "for the whole request ($CURFEW_TIMEOUT seconds): exit 1, 'no answer within N s'.\n",
          out);
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--man") == 0)
        return cf_cli_man(stdout, CF_VERSION, commands, NCOMMANDS);
    if (argc > 1 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "--version") == 0)
        cmd = "version";
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        cmd = "help";
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        if (commands[i].server)
            argc = cf_cli_take_cacert(argc, argv);
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "curfew: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
