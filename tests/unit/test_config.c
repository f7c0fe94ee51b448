/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/config: defaults, loading real files (written under a
 * mkdtemp directory that the group teardown removes), every error message
 * with its exact line, atomicity on error, overrides, validation, and the
 * dump -> load round trip. The message texts are part of the contract:
 * operators grep for them and integration tests match them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/error.h"

/* Group state: the temporary directory, "/tmp/cf-config-XXXXXX". */
typedef struct {
    char dir[64];
} fixture_t;

static int group_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);

    if (fx == NULL)
        return -1;
    memcpy(fx->dir, "/tmp/cf-config-XXXXXX", sizeof "/tmp/cf-config-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    fixture_t *fx = *state;
    int rc = rmdir(fx->dir); /* fails if a test left a file behind */

    free(fx);
    return rc;
}

/*
 * Write @yaml to DIR/x.yaml, load it over @cfg, remove the file. On error the
 * "DIR/" prefix is cut from @err so messages compare as "x.yaml:LINE: ...".
 */
static int load_text(void **state, const char *yaml, cf_config_t *cfg, char *err, size_t errlen)
{
    const fixture_t *fx = *state;
    char path[128];
    FILE *f;
    int rc;
    size_t dlen = strlen(fx->dir);

    snprintf(path, sizeof path, "%s/x.yaml", fx->dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(yaml, 1, strlen(yaml), f), strlen(yaml));
    assert_int_equal(fclose(f), 0);
    rc = cf_config_load(path, cfg, err, errlen);
    assert_int_equal(unlink(path), 0);
    if (rc < 0) {
        assert_memory_equal(err, fx->dir, dlen);
        assert_int_equal(err[dlen], '/');
        memmove(err, err + dlen + 1, strlen(err + dlen + 1) + 1);
    }
    return rc;
}

static void assert_config_equal(const cf_config_t *a, const cf_config_t *b)
{
    assert_string_equal(a->listen_host, b->listen_host);
    assert_int_equal(a->listen_port, b->listen_port);
    assert_string_equal(a->issuer, b->issuer);
    assert_string_equal(a->audience, b->audience);
    assert_string_equal(a->data_dir, b->data_dir);
    assert_int_equal(a->access_ttl, b->access_ttl);
    assert_int_equal(a->access_max_ttl, b->access_max_ttl);
    assert_int_equal(a->idle_timeout, b->idle_timeout);
    assert_int_equal(a->absolute_timeout, b->absolute_timeout);
    assert_int_equal(a->reuse_grace, b->reuse_grace);
    assert_int_equal(a->clock_leeway, b->clock_leeway);
    assert_int_equal(a->max_connections, b->max_connections);
    assert_int_equal(a->client_timeout, b->client_timeout);
    assert_int_equal(a->max_header_bytes, b->max_header_bytes);
    assert_int_equal(a->max_body_bytes, b->max_body_bytes);
    assert_int_equal(a->activity_flush, b->activity_flush);
    assert_int_equal(a->purge_interval, b->purge_interval);
    assert_int_equal(a->purge_after, b->purge_after);
    assert_string_equal(a->log_level, b->log_level);
}

/* Loading @yaml over defaults fails with exactly @msg and leaves the config alone. */
static void load_fails(void **state, const char *yaml, const char *msg)
{
    cf_config_t cfg, before;
    char err[512] = "";

    cf_config_defaults(&cfg);
    before = cfg;
    assert_int_equal(load_text(state, yaml, &cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, msg);
    assert_config_equal(&cfg, &before);
}

/* ------------------------------------------------------------------------ */

static void test_defaults_are_the_documented_values(void **state)
{
    cf_config_t cfg;
    char err[256];

    (void)state;
    cf_config_defaults(&cfg);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 7070);
    assert_string_equal(cfg.issuer, "http://127.0.0.1:7070");
    assert_string_equal(cfg.audience, "curfew");
    assert_string_equal(cfg.data_dir, "./data");
    assert_int_equal(cfg.access_ttl, 10 * CF_MIN);
    assert_int_equal(cfg.access_max_ttl, 15 * CF_MIN);
    assert_int_equal(cfg.idle_timeout, 30 * CF_MIN);
    assert_int_equal(cfg.absolute_timeout, 12 * CF_HOUR);
    assert_int_equal(cfg.reuse_grace, 0);
    assert_int_equal(cfg.clock_leeway, 30 * CF_SEC);
    assert_int_equal(cfg.max_connections, 10000);
    assert_int_equal(cfg.client_timeout, 30 * CF_SEC);
    assert_int_equal(cfg.max_header_bytes, 8192);
    assert_int_equal(cfg.max_body_bytes, 16384);
    assert_int_equal(cfg.activity_flush, 1 * CF_SEC);
    assert_int_equal(cfg.purge_interval, 60 * CF_SEC);
    assert_int_equal(cfg.purge_after, 1 * CF_HOUR);
    assert_string_equal(cfg.log_level, "info");
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), 0);
}

static void test_load_full_file_sets_every_option(void **state)
{
    static const char yaml[] = "# every option\n"
                               "listen: 0.0.0.0:8080\n"
                               "issuer: https://auth.example.com\n"
                               "audience: api\n"
                               "data_dir: /var/lib/curfew\n"
                               "log_level: debug\n"
                               "clock_leeway: 5s\n"
                               "access_token:\n"
                               "  ttl: 5m\n"
                               "  max_ttl: 1h\n"
                               "session:\n"
                               "  idle_timeout: 15m\n"
                               "  absolute_timeout: 30d\n"
                               "refresh_token: { reuse_grace: 500ms }\n"
                               "limits:\n"
                               "  max_connections: 200\n"
                               "  client_timeout: 10s\n"
                               "  max_header_bytes: 4096\n"
                               "  max_body_bytes: \"65536\"\n"
                               "store:\n"
                               "  activity_flush: 2s\n"
                               "  purge_interval: 90\n"
                               "  purge_after: 1d12h\n";
    cf_config_t cfg;
    char err[256] = "";

    cf_config_defaults(&cfg);
    assert_int_equal(load_text(state, yaml, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.issuer, "https://auth.example.com");
    assert_string_equal(cfg.audience, "api");
    assert_string_equal(cfg.data_dir, "/var/lib/curfew");
    assert_string_equal(cfg.log_level, "debug");
    assert_int_equal(cfg.clock_leeway, 5 * CF_SEC);
    assert_int_equal(cfg.access_ttl, 5 * CF_MIN);
    assert_int_equal(cfg.access_max_ttl, 1 * CF_HOUR);
    assert_int_equal(cfg.idle_timeout, 15 * CF_MIN);
    assert_int_equal(cfg.absolute_timeout, 30 * CF_DAY);
    assert_int_equal(cfg.reuse_grace, 500 * CF_MSEC);
    assert_int_equal(cfg.max_connections, 200);
    assert_int_equal(cfg.client_timeout, 10 * CF_SEC);
    assert_int_equal(cfg.max_header_bytes, 4096);
    assert_int_equal(cfg.max_body_bytes, 65536);
    assert_int_equal(cfg.activity_flush, 2 * CF_SEC);
    assert_int_equal(cfg.purge_interval, 90 * CF_SEC);
    assert_int_equal(cfg.purge_after, 36 * CF_HOUR);
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), 0);
}

static void test_load_applies_on_top_of_what_is_there(void **state)
{
    cf_config_t cfg, expect;
    char err[256] = "";

    cf_config_defaults(&cfg);
    cfg.max_connections = 7;
    expect = cfg;
    expect.idle_timeout = 5 * CF_MIN;
    assert_int_equal(load_text(state, "session:\n  idle_timeout: 5m\n", &cfg, err, sizeof err), 0);
    assert_config_equal(&cfg, &expect);
}

static void test_load_empty_or_comment_only_file_keeps_defaults(void **state)
{
    static const char *const files[] = {"", "\n\n", "# nothing here\n", "---\n", "---\n...\n"};
    cf_config_t cfg, defaults;
    char err[256] = "";

    cf_config_defaults(&defaults);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        cf_config_defaults(&cfg);
        assert_int_equal(load_text(state, files[i], &cfg, err, sizeof err), 0);
        assert_config_equal(&cfg, &defaults);
    }
}

static void test_load_ipv6_listen_address(void **state)
{
    cf_config_t cfg;
    char err[256] = "";

    cf_config_defaults(&cfg);
    assert_int_equal(load_text(state, "listen: \"[::1]:7443\"\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 7443);
}

static void test_load_missing_file_says_cannot_open(void **state)
{
    const fixture_t *fx = *state;
    cf_config_t cfg;
    char path[128], err[256] = "", expect[300];

    snprintf(path, sizeof path, "%s/does-not-exist.yaml", fx->dir);
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    cf_config_defaults(&cfg);
    assert_int_equal(cf_config_load(path, &cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, expect);
}

static void test_load_errors_name_file_line_and_key(void **state)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"listen: 127.0.0.1:7070\nissuer: x\n\nsession:\n  idel_timeout: 5m\n",
         "x.yaml:5: unknown key 'session.idel_timeout'"},
        {"# a\n# b\n# c\nfoo: 1\n", "x.yaml:4: unknown key 'foo'"},
        {"session.idle_timeout: 5m\n", "x.yaml:1: unknown key 'session.idle_timeout'"},
        {"issuer: a\n@x: 1\n", "x.yaml:2: found character that cannot start any token "
                               "(while scanning for the next token)"},
        {"issuer: a\naudience: b\nx\x01" "y: 1\n", "x.yaml:3: control characters are not allowed"},
        {"\n\n\n\n\n\nsession:\n  idle_timeout: 5q\n",
         "x.yaml:8: session.idle_timeout: unknown unit 'q' (use ms, s, m, h or d)"},
        {"session:\n  idle_timeout: 1.5h\n",
         "x.yaml:2: session.idle_timeout: fractions are not allowed (use a smaller unit, e.g. 90m)"},
        {"session:\n  idle_timeout: 0s\n", "x.yaml:2: session.idle_timeout: must be greater than 0"},
        /* Token times are whole seconds: a shorter lifetime would give exp == iat. */
        {"session:\n  idle_timeout: 999ms\n", "x.yaml:2: session.idle_timeout: must be at least 1s"},
        {"access_token:\n  ttl: 1ms\n", "x.yaml:2: access_token.ttl: must be at least 1s"},
        {"session:\n  idle_timeout:\n", "x.yaml:2: session.idle_timeout: expected a duration, got nothing"},
        {"# listen\nlisten: localhost\n", "x.yaml:2: listen: expected HOST:PORT"},
        {"listen: \":7070\"\n", "x.yaml:1: listen: expected HOST:PORT"},
        {"listen: \"[::1]7070\"\n", "x.yaml:1: listen: expected HOST:PORT"},
        {"listen: ::1:7070\n", "x.yaml:1: listen: expected HOST:PORT"},
        {"listen: h:70000\n", "x.yaml:1: listen: port must be between 1 and 65535"},
        {"listen: h:0\n", "x.yaml:1: listen: port must be between 1 and 65535"},
        {"limits:\n  client_timeout: 1s\n  max_connections: lots\n",
         "x.yaml:3: limits.max_connections: expected a positive integer, got 'lots'"},
        {"limits:\n  max_connections: 0\n",
         "x.yaml:2: limits.max_connections: expected a positive integer, got '0'"},
        {"limits:\n  max_connections: -5\n",
         "x.yaml:2: limits.max_connections: expected a positive integer, got '-5'"},
        {"limits:\n  max_connections: 1000001\n",
         "x.yaml:2: limits.max_connections: must be at most 1000000, got '1000001'"},
        {"issuer: a\naudience: b\ndata_dir: c\n\naccess_token: 10m\n",
         "x.yaml:5: access_token: expected a mapping"},
        {"session:\n", "x.yaml:1: session: expected a mapping"},
        {"log_level: loud\n",
         "x.yaml:1: log_level: expected one of debug, info, warn, error, got 'loud'"},
        {"issuer: \"\"\n", "x.yaml:1: issuer: must not be empty"},
        {"audience: \"a\\0b\"\n", "x.yaml:1: audience: must not contain NUL bytes"},
        {"- listen\n", "x.yaml:1: expected a mapping of options at the top level, got a list"},
        {"listen: a:1\n---\nlisten: b:2\n", "x.yaml:3: only one YAML document is allowed"},
        {"? [a, b]\n: 1\n", "x.yaml:1: keys must be plain names, not a list"},
        {"issuer: \"new\"\nsession:\n  idle_timeout: 1m\n  absolute_timeout: \xff\n",
         "x.yaml:4: invalid leading UTF-8 octet"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_fails(state, cases[i].yaml, cases[i].msg);
}

static void test_load_refuses_duplicate_keys(void **state)
{
    load_fails(state, "listen: a:1\nissuer: x\nlisten: b:2\n",
               "x.yaml:3: duplicate key 'listen' (first on line 1)");
    load_fails(state, "session:\n  idle_timeout: 1m\n  idle_timeout: 2m\n",
               "x.yaml:3: duplicate key 'session.idle_timeout' (first on line 2)");
    load_fails(state, "session:\n  idle_timeout: 1m\nstore: {}\nsession:\n  absolute_timeout: 1d\n",
               "x.yaml:4: duplicate key 'session' (first on line 1)");
    load_fails(state, "audience: a\n\"audience\": b\n",
               "x.yaml:2: duplicate key 'audience' (first on line 1)");
}

static void test_load_refuses_list_or_mapping_where_value_expected(void **state)
{
    load_fails(state, "session:\n  idle_timeout:\n    - 5m\n    - 6m\n",
               "x.yaml:2: session.idle_timeout: expected a duration, got a list");
    load_fails(state, "issuer: [a, b]\n", "x.yaml:1: issuer: expected a string, got a list");
    load_fails(state, "listen: {host: a}\n", "x.yaml:1: listen: expected HOST:PORT, got a mapping");
    load_fails(state, "limits: {max_body_bytes: [1]}\n",
               "x.yaml:1: limits.max_body_bytes: expected a positive integer, got a list");
}

static void test_load_reports_yaml_syntax_errors_with_line(void **state)
{
    load_fails(state, "issuer: x\nlisten: a:1\n  audience: y\n",
               "x.yaml:3: mapping values are not allowed in this context");
    load_fails(state, "session: {idle_timeout: 1m\nstore: {}\n",
               "x.yaml:2: did not find expected ',' or '}' (while parsing a flow mapping)");
    load_fails(state, "issuer: \"open\n", "x.yaml:2: found unexpected end of stream "
                                         "(while scanning a quoted scalar)");
    load_fails(state, "issuer: *nowhere\n", "x.yaml:1: found undefined alias");
}

static void test_load_error_changes_nothing_even_after_valid_keys(void **state)
{
    /* Four options are valid and would be applied before the fifth fails. */
    load_fails(state,
               "listen: 10.0.0.1:1\nissuer: new\naudience: new\nsession:\n  idle_timeout: 1m\n"
               "  absolute_timeout: 2q\n",
               "x.yaml:6: session.absolute_timeout: unknown unit 'q' (use ms, s, m, h or d)");
}

static void test_load_buffer_refuses_oversized_input(void **state)
{
    cf_config_t cfg;
    char err[256] = "";
    char *big = calloc(1, CF_CONFIG_MAX_FILE + 1);

    (void)state;
    assert_non_null(big);
    cf_config_defaults(&cfg);
    assert_int_equal(cf_config_load_buffer(big, CF_CONFIG_MAX_FILE + 1, "big.yaml", &cfg, err,
                                           sizeof err),
                     CF_ECONFIG);
    assert_string_equal(err, "big.yaml: file too large (at most 1048576 bytes)");
    free(big);
}

static void test_error_message_is_truncated_to_errlen(void **state)
{
    cf_config_t cfg;
    char err[12];

    (void)state;
    cf_config_defaults(&cfg);
    memset(err, 'z', sizeof err);
    assert_int_equal(cf_config_load_buffer("foo: 1\n", 7, "x.yaml", &cfg, err, 8), CF_ECONFIG);
    assert_string_equal(err, "x.yaml:");
    assert_int_equal(err[8], 'z');
    /* No buffer at all is allowed too. */
    assert_int_equal(cf_config_load_buffer("foo: 1\n", 7, "x.yaml", &cfg, NULL, 0), CF_ECONFIG);
}

/* verify_threads: auto (stored -1, the default) or 0..256; anything else names the option. */
static void test_verify_threads_is_auto_or_a_bounded_count(void **state)
{
    static const char *const bad[] = {"-1", "257", "two", "1.5", "", "AUTO", "auto ", "0x2",
                                      "99999999999999999999"};
    cf_config_t cfg;
    char err[256] = "";

    (void)state;
    cf_config_defaults(&cfg);
    assert_int_equal(cfg.verify_threads, -1);
    assert_int_equal(cf_config_set(&cfg, "verify_threads", "0", err, sizeof err), 0);
    assert_int_equal(cfg.verify_threads, 0);
    assert_int_equal(cf_config_set(&cfg, "verify_threads", "256", err, sizeof err), 0);
    assert_int_equal(cfg.verify_threads, 256);
    assert_int_equal(cf_config_set(&cfg, "verify_threads", "auto", err, sizeof err), 0);
    assert_int_equal(cfg.verify_threads, -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(cf_config_set(&cfg, "verify_threads", bad[i], err, sizeof err), CF_ECONFIG);
        assert_non_null(strstr(err, "verify_threads"));
        assert_int_equal(cfg.verify_threads, -1); /* unchanged */
    }
    cf_config_fini(&cfg);
}

static void test_set_overrides_one_option_by_dotted_key(void **state)
{
    cf_config_t cfg, before;
    char err[256] = "";

    (void)state;
    cf_config_defaults(&cfg);
    assert_int_equal(cf_config_set(&cfg, "listen", "[2001:db8::1]:9000", err, sizeof err), 0);
    assert_string_equal(cfg.listen_host, "2001:db8::1");
    assert_int_equal(cfg.listen_port, 9000);
    assert_int_equal(cf_config_set(&cfg, "data_dir", "/srv/curfew", err, sizeof err), 0);
    assert_string_equal(cfg.data_dir, "/srv/curfew");
    assert_int_equal(cf_config_set(&cfg, "session.idle_timeout", "1h30m", err, sizeof err), 0);
    assert_int_equal(cfg.idle_timeout, 90 * CF_MIN);
    assert_int_equal(cf_config_set(&cfg, "log_level", "warn", err, sizeof err), 0);
    assert_string_equal(cfg.log_level, "warn");

    before = cfg;
    assert_int_equal(cf_config_set(&cfg, "listen", "nowhere", err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "listen: expected HOST:PORT");
    assert_int_equal(cf_config_set(&cfg, "session.idle_timeout", "soon", err, sizeof err),
                     CF_ECONFIG);
    assert_string_equal(err, "session.idle_timeout: a number is missing before the unit");
    assert_int_equal(cf_config_set(&cfg, "log_level", "trace", err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "log_level: expected one of debug, info, warn, error, got 'trace'");
    assert_int_equal(cf_config_set(&cfg, "session", "1m", err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "unknown key 'session'");
    assert_int_equal(cf_config_set(&cfg, "nope", "1", err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "unknown key 'nope'");
    assert_config_equal(&cfg, &before);
}

static void test_dump_then_load_round_trips(void **state)
{
    const fixture_t *fx = *state;
    cf_config_t orig, back;
    char path[128], err[256] = "";
    FILE *f;

    cf_config_defaults(&orig);
    assert_int_equal(cf_config_set(&orig, "listen", "[::1]:1", err, sizeof err), 0);
    /* Quotes, backslash, a colon-space, a hash, NEL, a control byte, U+2028, non-ASCII. */
    assert_int_equal(cf_config_set(&orig, "issuer", "https://x/\"q\"\\: #\xc2\x85\x01\xe2\x80\xa8 é",
                                   err, sizeof err),
                     0);
    assert_int_equal(cf_config_set(&orig, "audience", "yes", err, sizeof err), 0);
    assert_int_equal(cf_config_set(&orig, "data_dir", "- [not a list]", err, sizeof err), 0);
    orig.access_ttl = 1500 * CF_MSEC;
    orig.access_max_ttl = 1 * CF_DAY + 1 * CF_SEC;
    orig.idle_timeout = 90 * CF_MIN;
    orig.absolute_timeout = 365 * CF_DAY;
    orig.reuse_grace = 0;
    orig.clock_leeway = 1;
    orig.max_connections = 1;
    orig.client_timeout = 59 * CF_SEC;
    orig.max_header_bytes = 1024 * 1024;
    orig.max_body_bytes = 3;
    orig.activity_flush = 250;
    orig.purge_interval = 7 * CF_HOUR;
    orig.purge_after = 0;
    assert_int_equal(cf_config_set(&orig, "log_level", "error", err, sizeof err), 0);

    snprintf(path, sizeof path, "%s/dump.yaml", fx->dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    cf_config_dump(&orig, f);
    assert_int_equal(ferror(f), 0);
    assert_int_equal(fclose(f), 0);

    /* Load over defaults: every value must come from the dump. */
    cf_config_defaults(&back);
    assert_int_equal(cf_config_load(path, &back, err, sizeof err), 0);
    assert_int_equal(unlink(path), 0);
    assert_config_equal(&back, &orig);
}

static void test_dump_writes_sections_once(void **state)
{
    cf_config_t cfg;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    cf_config_defaults(&cfg);
    cf_config_dump(&cfg, f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "\nsession:\n  idle_timeout: 30m\n  absolute_timeout: 12h\n"));
    assert_non_null(strstr(text, "\nlisten: \"127.0.0.1:7070\"\n"));
    assert_null(strstr(strstr(text, "\nsession:") + 1, "\nsession:"));
    free(text);
}

static void test_validate_accepts_defaults_and_zero_grace(void **state)
{
    cf_config_t cfg;
    char err[256] = "";

    (void)state;
    cf_config_defaults(&cfg);
    cfg.reuse_grace = 0;
    cfg.purge_after = 0;
    cfg.access_ttl = cfg.access_max_ttl; /* equal is fine */
    cfg.idle_timeout = cfg.absolute_timeout;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), 0);
}

static void test_validate_names_the_keys_it_refuses(void **state)
{
    cf_config_t cfg;
    char err[256] = "";

    (void)state;
    cf_config_defaults(&cfg);
    cfg.access_ttl = 20 * CF_MIN;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "access_token.ttl (20m) must not exceed access_token.max_ttl (15m)");

    cf_config_defaults(&cfg);
    cfg.idle_timeout = 13 * CF_HOUR;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err,
                        "session.idle_timeout (13h) must not exceed session.absolute_timeout (12h)");

    cf_config_defaults(&cfg);
    cfg.client_timeout = 0;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "limits.client_timeout: must be greater than 0");

    cf_config_defaults(&cfg);
    cfg.reuse_grace = -1;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "refresh_token.reuse_grace: must not be negative");

    cf_config_defaults(&cfg);
    cfg.issuer[0] = '\0';
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "issuer: must not be empty");

    cf_config_defaults(&cfg);
    cfg.max_body_bytes = 0;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "limits.max_body_bytes: expected a positive integer, got '0'");

    cf_config_defaults(&cfg);
    cfg.listen_port = 0;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "listen: port must be between 1 and 65535");
}

static void test_rotate_every_must_exceed_max_ttl_plus_leeway(void **state)
{
    cf_config_t cfg;
    char err[256] = "";

    (void)state;
    cf_config_defaults(&cfg);
    assert_int_equal(cfg.key_rotate_every, 0); /* off by default */
    cfg.key_rotate_every = 15 * CF_MIN + 30 * CF_SEC; /* exactly max_ttl + leeway */
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "keys.rotate_every (930s) must exceed access_token.max_ttl (15m) + "
                             "clock_leeway (30s), the time a rotated-out key keeps verifying; 0s = off");
    cfg.key_rotate_every += 1;
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), 0);
}

static void test_doc_has_a_row_per_option(void **state)
{
    char *text = NULL;
    size_t len = 0, rows = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    cf_config_doc(f);
    assert_int_equal(fclose(f), 0);
    for (const char *p = text; (p = strstr(p, "\n| `")) != NULL; p++)
        rows++;
    assert_int_equal(rows, 153); /* 93 + verify_threads + api_keys.* (11) + api_key_max_lifetime of clients and roles
                                  * + tuning.* (5) + routes[].activity + proxy.* (18)
                                  * + check.cache_max_age + tls.* (5) + dpop.* (3) + cors.* (3)
                                  * + clients[].allowed_origins
                                  * + mtls.client_ca + alerts.webhook_ca + clients[] mTLS (7) */
    assert_non_null(strstr(text, "| `proxy.routes[].activity` | one of client, any, none | `client` | "));
    assert_non_null(strstr(text, "| `keys.rotate_every` | duration | `0s` | "));
    assert_non_null(strstr(text, "| `clients[].allowed_origins` | list of origins | `[]` | "));
    assert_non_null(strstr(text, "| `session.idle_timeout` | duration, >= 1s | `30m` | "));
    assert_non_null(strstr(text, "| `log_level` | one of debug, info, warn, error | `info` | "));
    assert_non_null(strstr(text, "| `clients[].secret_hash` | string | `(none)` | "));
    assert_non_null(strstr(text, "| `roles.NAME.access_ttl` | duration, >= 1s | `(global)` | "));
    assert_non_null(strstr(text, "| `routes[].path_glob` | string | `(none)` | "));
    assert_non_null(strstr(text, "| `risk.trusted_proxies` | list of CIDRs | `[]` | "));
    assert_non_null(strstr(text, "| `rate_limits.refresh.key` | list of ip, sub, client_id, "
                                 "session, api_key | `[ip]` | "));
    assert_non_null(strstr(text, "| `cookie.refresh_cookie` | string | `__Host-curfew_rt` | "));
    free(text);
}

/* ------------------------------------------------------------------------ */
/* Policy, risk, rate limits, lockout, cookie                                */
/* ------------------------------------------------------------------------ */

#define HASH "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char policy_yaml[] =
    "clients:\n"                                                      /* 1 */
    "  - id: web\n"                                                   /* 2 */
    "    cookie: true\n"                                              /* 3 */
    "    session: { idle_timeout: 15m, absolute_timeout: 8h }\n"      /* 4 */
    "    access_token: { ttl: 5m }\n"                                 /* 5 */
    "    risk: { ip_binding: exact, on_device_change: step_up }\n"    /* 6 */
    "  - id: backend\n"                                               /* 7 */
    "    type: confidential\n"                                        /* 8 */
    "    secret_hash: \"" HASH "\"\n"                                 /* 9 */
    "    allowed_grants: [client_credentials, refresh_token]\n"       /* 10 */
    "    scope: \"payments:read orders\"\n"                           /* 11 */
    "roles:\n"                                                        /* 12 */
    "  admin:\n"                                                      /* 13 */
    "    idle_timeout: 5m\n"                                          /* 14 */
    "    absolute_timeout: 1h\n"                                      /* 15 */
    "    access_ttl: 2m\n"                                            /* 16 */
    "    risk: { on_ip_change: revoke }\n"                            /* 17 */
    "  viewer:\n"                                                     /* 18 */
    "routes:\n"                                                       /* 19 */
    "  - host: API.example.com\n"                                     /* 20 */
    "    methods: [POST, DELETE]\n"                                   /* 21 */
    "    path: /admin/users\n"                                        /* 22 */
    "    require_roles: [admin]\n"                                    /* 23 */
    "    require_scopes: [payments, write]\n"                         /* 24 */
    "    max_auth_age: 5m\n"                                          /* 25 */
    "    idle_timeout: 2m\n"                                          /* 26 */
    "  - path_prefix: /healthz\n"                                     /* 27 */
    "    anonymous: true\n"                                           /* 28 */
    "  - path_glob: /internal/**\n"                                   /* 29 */
    "    deny: true\n"                                                /* 30 */
    "risk:\n"                                                         /* 31 */
    "  ip_binding: prefix24\n"                                        /* 32 */
    "  on_ip_change: step_up\n"                                       /* 33 */
    "  on_device_change: ignore\n"                                    /* 34 */
    "  trusted_proxies: [127.0.0.1/32, \"::1/128\", 10.0.0.0/8]\n"    /* 35 */
    "  device_header: X-Device-Id\n"                                  /* 36 */
    "  device_headers: [User-Agent, Accept-Language]\n"               /* 37 */
    "rate_limits:\n"                                                  /* 38 */
    "  refresh: { rate: 10/1m, burst: 5, key: [ip] }\n"               /* 39 */
    "  session_create: { rate: 100/1s, burst: 50, key: [api_key] }\n" /* 40 */
    "  check_failures: { rate: 20/1m, burst: 20, key: [ip, sub] }\n"  /* 41 */
    "  max_keys: 5000\n"                                              /* 42 */
    "lockout: { max_failures: 10, window: 1m, duration: 5m }\n"       /* 43 */
    "cookie:\n"                                                       /* 44 */
    "  access_cookie: at\n"                                           /* 45 */
    "  refresh_cookie: __Host-rt\n"                                   /* 46 */
    "  allowed_origins: [https://app.example.com, http://localhost:3000]\n" /* 47 */
    "  csrf_header: X-Requested-With\n";                              /* 48 */

static void test_defaults_of_policy_sections(void **state)
{
    cf_config_t cfg;

    (void)state;
    cf_config_defaults(&cfg);
    assert_int_equal(cfg.policy.nclients, 0);
    assert_int_equal(cfg.policy.nroles, 0);
    assert_int_equal(cfg.policy.nroutes, 0);
    assert_int_equal(cfg.policy.risk.ip_binding, CF_IPBIND_OFF);
    assert_int_equal(cfg.policy.risk.on_ip_change, CF_RISK_REVOKE);
    assert_int_equal(cfg.policy.risk.on_device_change, CF_RISK_REVOKE);
    assert_int_equal(cfg.ntrusted, 0);
    assert_null(cfg.trusted_proxies);
    assert_string_equal(cfg.device_header, "");
    assert_int_equal(cfg.ndevice_headers, 0);
    assert_false(cfg.rl_refresh.enabled);
    assert_int_equal(cfg.rl_refresh.burst, 1);
    assert_int_equal(cfg.rl_refresh.keys, CF_RLKEY_IP);
    assert_int_equal(cfg.rl_session_create.keys, CF_RLKEY_API_KEY);
    assert_int_equal(cfg.rl_client_credentials.keys, CF_RLKEY_CLIENT_ID);
    assert_int_equal(cfg.rl_max_keys, 100000);
    assert_false(cfg.lockout_enabled);
    assert_int_equal(cfg.lockout_window, CF_MIN);
    assert_int_equal(cfg.lockout_duration, 5 * CF_MIN);
    assert_string_equal(cfg.access_cookie, "__Host-curfew_at");
    assert_string_equal(cfg.refresh_cookie, "__Host-curfew_rt");
    assert_int_equal(cfg.nallowed_origins, 0);
    assert_string_equal(cfg.csrf_header, "X-CSRF");
    cf_config_fini(&cfg);
}

static void test_load_policy_sections(void **state)
{
    cf_config_t cfg;
    char err[512] = "";
    const cf_client_t *c;
    const cf_route_t *r;

    cf_config_defaults(&cfg);
    assert_int_equal(load_text(state, policy_yaml, &cfg, err, sizeof err), 0);
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), 0);

    assert_int_equal(cfg.policy.nclients, 2);
    c = cf_policy_client(&cfg.policy, "web");
    assert_non_null(c);
    assert_int_equal(c->line, 2);
    assert_int_equal(c->type, CF_CLIENT_PUBLIC);
    assert_null(c->secret_hash);
    assert_int_equal(c->grants, CF_GRANT_REFRESH_TOKEN);
    assert_string_equal(c->scope, "");
    assert_true(c->cookie);
    assert_int_equal(c->limits.idle_timeout, 15 * CF_MIN);
    assert_int_equal(c->limits.absolute_timeout, 8 * CF_HOUR);
    assert_int_equal(c->limits.access_ttl, 5 * CF_MIN);
    assert_int_equal(c->risk.ip_binding, CF_IPBIND_EXACT);
    assert_int_equal(c->risk.on_ip_change, CF_RISK_UNSET);
    assert_int_equal(c->risk.on_device_change, CF_RISK_STEP_UP);
    c = cf_policy_client(&cfg.policy, "backend");
    assert_non_null(c);
    assert_int_equal(c->type, CF_CLIENT_CONFIDENTIAL);
    assert_string_equal(c->secret_hash, HASH);
    assert_int_equal(c->grants, CF_GRANT_REFRESH_TOKEN | CF_GRANT_CLIENT_CREDENTIALS);
    assert_string_equal(c->scope, "payments:read orders");
    assert_int_equal(c->limits.idle_timeout, 0);

    assert_int_equal(cfg.policy.nroles, 2);
    assert_string_equal(cfg.policy.roles[0].name, "admin");
    assert_int_equal(cfg.policy.roles[0].line, 13);
    assert_int_equal(cfg.policy.roles[0].limits.access_ttl, 2 * CF_MIN);
    assert_int_equal(cfg.policy.roles[0].risk.on_ip_change, CF_RISK_REVOKE);
    assert_string_equal(cfg.policy.roles[1].name, "viewer");
    assert_int_equal(cfg.policy.roles[1].limits.idle_timeout, 0);

    assert_int_equal(cfg.policy.nroutes, 3);
    r = &cfg.policy.routes[0];
    assert_int_equal(r->line, 20);
    assert_string_equal(r->host, "API.example.com");
    assert_int_equal(r->methods, CF_METHOD_POST | CF_METHOD_DELETE);
    assert_int_equal(r->path_kind, CF_PATH_EXACT);
    assert_string_equal(r->path, "/admin/users");
    assert_int_equal(r->nrequire_roles, 1);
    assert_string_equal(r->require_roles[0], "admin");
    assert_int_equal(r->nrequire_scopes, 2);
    assert_string_equal(r->require_scopes[1], "write");
    assert_int_equal(r->max_auth_age, 5 * CF_MIN);
    assert_int_equal(r->idle_timeout, 2 * CF_MIN);
    assert_int_equal(cfg.policy.routes[1].path_kind, CF_PATH_PREFIX);
    assert_true(cfg.policy.routes[1].anonymous);
    assert_int_equal(cfg.policy.routes[2].path_kind, CF_PATH_GLOB);
    assert_true(cfg.policy.routes[2].deny);
    /* Loaded policies are prepared: matching works at once. */
    assert_ptr_equal(cf_policy_match(&cfg.policy, "api.example.com:443", 19, "DELETE", 6,
                                     "/admin/users", 12, NULL),
                     &cfg.policy.routes[0]);
    assert_ptr_equal(cf_policy_match(&cfg.policy, NULL, 0, "GET", 3, "/internal/a/b", 13, NULL),
                     &cfg.policy.routes[2]);

    assert_int_equal(cfg.policy.risk.ip_binding, CF_IPBIND_PREFIX24);
    assert_int_equal(cfg.policy.risk.on_ip_change, CF_RISK_STEP_UP);
    assert_int_equal(cfg.policy.risk.on_device_change, CF_RISK_IGNORE);
    assert_int_equal(cfg.ntrusted, 3);
    assert_string_equal(cfg.trusted_proxies[1], "::1/128");
    assert_string_equal(cfg.device_header, "X-Device-Id");
    assert_int_equal(cfg.ndevice_headers, 2);
    assert_string_equal(cfg.device_headers[1], "Accept-Language");

    assert_true(cfg.rl_refresh.enabled);
    assert_int_equal(cfg.rl_refresh.count, 10);
    assert_int_equal(cfg.rl_refresh.period, CF_MIN);
    assert_int_equal(cfg.rl_refresh.burst, 5);
    assert_int_equal(cfg.rl_refresh.keys, CF_RLKEY_IP);
    assert_int_equal(cfg.rl_session_create.count, 100);
    assert_int_equal(cfg.rl_session_create.period, CF_SEC);
    assert_int_equal(cfg.rl_check_failures.keys, CF_RLKEY_IP | CF_RLKEY_SUB);
    assert_false(cfg.rl_client_credentials.enabled);
    assert_int_equal(cfg.rl_max_keys, 5000);

    assert_true(cfg.lockout_enabled);
    assert_int_equal(cfg.lockout_max_failures, 10);
    assert_int_equal(cfg.lockout_window, CF_MIN);
    assert_int_equal(cfg.lockout_duration, 5 * CF_MIN);

    assert_string_equal(cfg.access_cookie, "at");
    assert_string_equal(cfg.refresh_cookie, "__Host-rt");
    assert_int_equal(cfg.nallowed_origins, 2);
    assert_string_equal(cfg.allowed_origins[1], "http://localhost:3000");
    assert_string_equal(cfg.csrf_header, "X-Requested-With");
    cf_config_fini(&cfg);
}

static void test_load_replaces_sections_and_frees_the_old(void **state)
{
    cf_config_t cfg;
    char err[512] = "";

    cf_config_defaults(&cfg);
    assert_int_equal(load_text(state, policy_yaml, &cfg, err, sizeof err), 0);
    assert_int_equal(load_text(state,
                               "clients: [{ id: other }]\nroutes: []\n"
                               "risk: { trusted_proxies: [192.168.0.0/16] }\n",
                               &cfg, err, sizeof err),
                     0);
    assert_int_equal(cfg.policy.nclients, 1);
    assert_string_equal(cfg.policy.clients[0].id, "other");
    assert_int_equal(cfg.policy.nroles, 2); /* not in the second file: kept */
    assert_int_equal(cfg.policy.nroutes, 0);
    assert_int_equal(cfg.ntrusted, 1);
    assert_int_equal(cfg.ndevice_headers, 2);
    /* A failing file leaves everything, lists included, as it was. */
    assert_int_equal(load_text(state, "clients: [{ id: x }]\nroles: { a: { idle: 1s } }\n", &cfg,
                               err, sizeof err),
                     CF_ECONFIG);
    assert_string_equal(err, "x.yaml:2: unknown key 'roles.a.idle'");
    assert_string_equal(cfg.policy.clients[0].id, "other");
    cf_config_fini(&cfg);
    cf_config_fini(&cfg);
}

static void test_policy_errors_name_file_line_and_key(void **state)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"clients:\n  - id: web\n    idd: x\n", "x.yaml:3: unknown key 'clients[0].idd'"},
        /* proxy: (config/proxy.c) */
        {"proxy:\n  upstreams:\n    a: {address: \"10.0.0.1:80\"}\n  routes:\n    - upstream: b\n",
         "x.yaml:5: proxy.routes[0].upstream: 'b' is not defined under proxy.upstreams"},
        {"proxy:\n  upstreams:\n    a:\n      address: \"10.0.0.1:0\"\n",
         "x.yaml:4: proxy.upstreams.a.address: port must be between 1 and 65535"},
        {"proxy:\n  upstreams:\n    a:\n      address: \"app_local:80\"\n",
         "x.yaml:4: proxy.upstreams.a.address: expected HOST:PORT, HOST an IP address or a host "
         "name, PORT 1-65535"},
        {"proxy:\n  upstreams:\n    a: {pool: 3}\n", "x.yaml:3: proxy.upstreams.a: address is required"},
        {"proxy:\n  routes:\n    - upstream: a\n      path_prefix: /public/../admin\n",
         "x.yaml:4: proxy.routes[0].path_prefix: '/public/../admin' is not in normal form "
         "(requests are matched as '/admin'), so it would never match; write '/admin'"},
        {"proxy:\n  routes:\n    - upstream: a\n      activity: often\n",
         "x.yaml:4: proxy.routes[0].activity: expected one of client, any, none, got 'often'"},
        {"proxy:\n  listeners:\n    - listen: \"127.0.0.1:8080\"\n",
         "x.yaml:3: proxy.listeners: the proxy needs at least one proxy.routes entry"},
        {"proxy:\n  listeners:\n    - {}\n", "x.yaml:3: proxy.listeners[0]: listen is required"},

        {"clients:\n  - type: public\n", "x.yaml:2: clients[0]: id is required"},
        {"clients:\n  - id: a b\n", "x.yaml:2: clients[0].id: 'a b' must be visible ASCII "
                                   "without spaces or commas"},
        {"clients:\n  - id: web\n  - id: api\n  - id: web\n",
         "x.yaml:4: clients[2]: duplicate client id 'web' (first on line 2)"},
        {"clients:\n  - id: api\n\n    type: confidential\n",
         "x.yaml:4: clients[0]: a confidential client needs secret_hash"},
        {"clients:\n  - id: api\n    type: confidential\n    secret_hash: sha1$abc\n",
         "x.yaml:4: clients[0].secret_hash: expected pbkdf2-sha256$ITERATIONS$SALT$HASH "
         "(run curfew hash-secret)"},
        {"clients:\n  - id: api\n    type: confidential\n"
         "    secret_hash: \"pbkdf2-sha256$0$c2FsdHNhbHRzYWx0$AAAA\"\n",
         "x.yaml:4: clients[0].secret_hash: expected pbkdf2-sha256$ITERATIONS$SALT$HASH "
         "(run curfew hash-secret)"},
        {"clients:\n  - id: web\n    secret_hash: \"" HASH "\"\n",
         "x.yaml:3: clients[0]: secret_hash is only for confidential clients (add type: "
         "confidential)"},
        {"clients:\n  - id: web\n    type: secret\n",
         "x.yaml:3: clients[0].type: expected one of public, confidential, got 'secret'"},
        {"clients:\n  - id: web\n    allowed_grants: [refresh_token,\n      implicit]\n",
         "x.yaml:4: clients[0].allowed_grants: 'implicit' is not a grant (use refresh_token or "
         "client_credentials)"},
        {"clients:\n  - id: web\n    allowed_grants: [client_credentials]\n",
         "x.yaml:3: clients[0]: client_credentials needs a confidential client"},
        {"clients:\n  - id: web\n    session: { idle: 5m }\n",
         "x.yaml:3: unknown key 'clients[0].session.idle'"},
        {"clients:\n  - id: web\n    access_token: { ttl: 0s }\n",
         "x.yaml:3: clients[0].access_token.ttl: must be greater than 0"},
        {"clients:\n  - id: web\n    risk: { ip_binding: strict }\n",
         "x.yaml:3: clients[0].risk.ip_binding: expected one of off, prefix16, prefix24, exact, "
         "got 'strict'"},
        {"clients:\n  - id: web\n    cookie: yes\n",
         "x.yaml:3: clients[0].cookie: expected true or false, got 'yes'"},
        {"clients:\n  id: web\n", "x.yaml:2: clients: expected a list, got a mapping"},
        {"clients:\n  - web\n", "x.yaml:2: clients[0]: expected a mapping, got a scalar"},
        {"roles:\n  admin:\n    idle_timeout: 5m\n    idle_timeout: 1m\n",
         "x.yaml:4: duplicate key 'roles.admin.idle_timeout' (first on line 3)"},
        {"roles:\n  admin:\n    risk: { on_ip_change: kill }\n",
         "x.yaml:3: roles.admin.risk.on_ip_change: expected one of ignore, step_up, revoke, got "
         "'kill'"},
        {"roles:\n  a,b: {}\n", "x.yaml:2: roles: 'a,b' must be visible ASCII without spaces or "
                                "commas"},
        {"roles: [admin]\n", "x.yaml:1: roles: expected a mapping of role names, got a list"},
        {"routes:\n  - path: /a\n    path_prefix: /b\n",
         "x.yaml:3: routes[0].path_prefix: only one of path, path_prefix and path_glob may be set "
         "(path on line 2)"},
        {"routes:\n  - path: /a\n  - methods: [GET, FETCH]\n",
         "x.yaml:3: routes[1].methods: 'FETCH' is not a method (use GET, HEAD, POST, PUT, PATCH, "
         "DELETE, OPTIONS, CONNECT or TRACE)"},
        {"routes:\n  - methods: [get]\n",
         "x.yaml:2: routes[0].methods: 'get' is not a method (use GET, HEAD, POST, PUT, PATCH, "
         "DELETE, OPTIONS, CONNECT or TRACE)"},
        {"routes:\n  - path: admin\n", "x.yaml:2: routes[0].path: 'admin' must start with '/'"},
        {"routes:\n  - path: /a?b=1\n",
         "x.yaml:2: routes[0].path: '/a?b=1' must be visible ASCII without spaces, '?' or '#'"},
        {"routes:\n  - host: api.example.com:443\n",
         "x.yaml:2: routes[0].host: 'api.example.com:443' is not a host name (write it without "
         "port)"},
        {"routes:\n  - deny: true\n    anonymous: true\n",
         "x.yaml:2: routes[0]: anonymous and deny cannot both be true"},
        {"routes:\n  - anonymous: true\n    require_roles: [admin]\n",
         "x.yaml:2: routes[0]: an anonymous route looks at no token, so it cannot require roles, "
         "scopes, max_auth_age or idle_timeout"},
        {"routes:\n  - require_scopes: [a, a]\n",
         "x.yaml:2: routes[0].require_scopes: 'a' is listed twice"},
        {"routes:\n  - max_auth_age: 5q\n",
         "x.yaml:2: routes[0].max_auth_age: unknown unit 'q' (use ms, s, m, h or d)"},
        {"routes:\n  - idle_timeout: 1.5h\n",
         "x.yaml:2: routes[0].idle_timeout: fractions are not allowed (use a smaller unit, e.g. "
         "90m)"},
        {"routes:\n  - require_roles: admin\n",
         "x.yaml:2: routes[0].require_roles: expected a list, got a scalar"},
        {"risk:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n",
         "x.yaml:4: risk.trusted_proxies: bad CIDR '10.0.0.0/33' (expected ADDRESS/BITS such as "
         "10.0.0.0/8 or ::1/128)"},
        {"risk:\n  trusted_proxies: [10.0.0.1]\n",
         "x.yaml:2: risk.trusted_proxies: bad CIDR '10.0.0.1' (expected ADDRESS/BITS such as "
         "10.0.0.0/8 or ::1/128)"},
        {"risk:\n  trusted_proxies: [\"fe80::zz/64\"]\n",
         "x.yaml:2: risk.trusted_proxies: bad CIDR 'fe80::zz/64' (expected ADDRESS/BITS such as "
         "10.0.0.0/8 or ::1/128)"},
        {"risk:\n  trusted_proxies: 10.0.0.0/8\n",
         "x.yaml:2: risk.trusted_proxies: expected a list of CIDRs, got a scalar"},
        {"risk:\n  on_device_change: maybe\n",
         "x.yaml:2: risk.on_device_change: expected one of ignore, step_up, revoke, got 'maybe'"},
        {"rate_limits:\n  refresh:\n    rate: x/y\n",
         "x.yaml:3: rate_limits.refresh.rate: expected N/DURATION such as 10/1m, or off, got "
         "'x/y'"},
        {"rate_limits:\n  refresh: { rate: 0/1m }\n",
         "x.yaml:2: rate_limits.refresh.rate: expected N/DURATION such as 10/1m, or off, got "
         "'0/1m'"},
        {"rate_limits:\n  refresh: { burst: 0 }\n",
         "x.yaml:2: rate_limits.refresh.burst: expected a positive integer, got '0'"},
        {"rate_limits:\n  session_create:\n    key: [ip,\n          user]\n",
         "x.yaml:4: rate_limits.session_create.key: unknown key kind 'user' (use ip, sub, "
         "client_id, session, api_key)"},
        {"rate_limits:\n  session_create:\n    key: [ip, ip]\n",
         "x.yaml:3: rate_limits.session_create.key: 'ip' is listed twice"},
        {"rate_limits:\n  refresh: { key: [] }\n",
         "x.yaml:2: rate_limits.refresh.key: expected at least one of ip, sub, client_id, "
         "session, api_key"},
        {"rate_limits:\n  global: { rate: 1/1s }\n", "x.yaml:2: unknown key 'rate_limits.global'"},
        {"lockout:\n  max_failures: -1\n",
         "x.yaml:2: lockout.max_failures: expected a non-negative integer, got '-1'"},
        {"cookie:\n  allowed_origins: [app.example.com]\n",
         "x.yaml:2: cookie.allowed_origins: 'app.example.com' is not an origin (expected "
         "https://HOST[:PORT])"},
        {"cookie:\n  access_cookie: \"\"\n", "x.yaml:2: cookie.access_cookie: must not be empty"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_fails(state, cases[i].yaml, cases[i].msg);
}

static void test_set_lists_and_refuses_sections(void **state)
{
    cf_config_t cfg;
    char err[256] = "";

    (void)state;
    cf_config_defaults(&cfg);
    assert_int_equal(cf_config_set(&cfg, "risk.trusted_proxies", "10.0.0.0/8, ::1/128", err,
                                   sizeof err),
                     0);
    assert_int_equal(cfg.ntrusted, 2);
    assert_string_equal(cfg.trusted_proxies[1], "::1/128");
    assert_int_equal(cf_config_set(&cfg, "risk.trusted_proxies", "10.0.0.0/8,", err, sizeof err),
                     CF_ECONFIG);
    assert_string_equal(err, "risk.trusted_proxies: list items must not be empty");
    assert_int_equal(cfg.ntrusted, 2); /* unchanged */
    assert_int_equal(cf_config_set(&cfg, "risk.trusted_proxies", "", err, sizeof err), 0);
    assert_int_equal(cfg.ntrusted, 0);
    assert_int_equal(cf_config_set(&cfg, "rate_limits.refresh.key", "sub,session", err, sizeof err),
                     0);
    assert_int_equal(cfg.rl_refresh.keys, CF_RLKEY_SUB | CF_RLKEY_SESSION);
    assert_int_equal(cf_config_set(&cfg, "rate_limits.refresh.rate", "5/1h", err, sizeof err), 0);
    assert_true(cfg.rl_refresh.enabled);
    assert_int_equal(cfg.rl_refresh.period, CF_HOUR);
    assert_int_equal(cf_config_set(&cfg, "lockout.max_failures", "3", err, sizeof err), 0);
    assert_true(cfg.lockout_enabled);
    assert_int_equal(cf_config_set(&cfg, "risk.ip_binding", "prefix16", err, sizeof err), 0);
    assert_int_equal(cfg.policy.risk.ip_binding, CF_IPBIND_PREFIX16);
    assert_int_equal(cf_config_set(&cfg, "clients", "web", err, sizeof err), CF_ECONFIG);
    assert_string_equal(err, "clients: can only be set in the config file");
    assert_int_equal(cf_config_validate(&cfg, err, sizeof err), 0);
    cf_config_fini(&cfg);
}

static void test_dump_then_load_round_trips_policy(void **state)
{
    const fixture_t *fx = *state;
    cf_config_t orig, back;
    char path[128], err[512] = "", *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    FILE *f;

    cf_config_defaults(&orig);
    assert_int_equal(load_text(state, policy_yaml, &orig, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/dump.yaml", fx->dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    cf_config_dump(&orig, f);
    assert_int_equal(fclose(f), 0);
    cf_config_defaults(&back);
    assert_int_equal(cf_config_load(path, &back, err, sizeof err), 0);
    assert_int_equal(unlink(path), 0);

    /* Equal structs dump to equal text; the dump covers every field. */
    f = open_memstream(&a, &alen);
    assert_non_null(f);
    cf_config_dump(&orig, f);
    assert_int_equal(fclose(f), 0);
    f = open_memstream(&b, &blen);
    assert_non_null(f);
    cf_config_dump(&back, f);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "\nclients:\n  - id: \"web\"\n"));
    assert_non_null(strstr(a, "\n  - path_glob: \"/internal/**\"\n    deny: true\n"));
    assert_non_null(strstr(a, "  trusted_proxies: [\"127.0.0.1/32\", \"::1/128\", \"10.0.0.0/8\"]\n"));
    assert_non_null(strstr(a, "    key: [ip,sub]\n"));
    assert_int_equal(back.policy.nroutes, 3);
    assert_int_equal(back.policy.routes[0].methods, CF_METHOD_POST | CF_METHOD_DELETE);
    assert_int_equal(back.policy.clients[1].grants,
                     CF_GRANT_REFRESH_TOKEN | CF_GRANT_CLIENT_CREDENTIALS);
    free(a);
    free(b);
    cf_config_fini(&orig);
    cf_config_fini(&back);
}

static void test_dump_of_empty_sections_loads_back(void **state)
{
    const fixture_t *fx = *state;
    cf_config_t cfg;
    char path[128], err[256] = "";
    FILE *f;

    cf_config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/dump.yaml", fx->dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    cf_config_dump(&cfg, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(cf_config_load(path, &cfg, err, sizeof err), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cfg.policy.nclients, 0);
    cf_config_fini(&cfg);
}

/* Found by tests/fuzz/fuzz_config: every host name's label check indexed
 * p[-label] with an unsigned label, a pointer overflow UBSan reports (and no
 * test loaded a host name that passes). Names are RFC 1123 labels. */
static void test_upstream_host_names(void **state)
{
    static const struct {
        const char *addr;
        int ok;
    } cases[] = {
        {"app.internal:9000", 1}, {"a:1", 1}, {"app-1.example.com:65535", 1},
        {"-app.internal:9000", 0}, {"app-.internal:9000", 0}, {"app..internal:9000", 0},
        {"app.internal.:9000", 0}, {".app:9000", 0}, {"app.internal:0", 0},
        {"app.internal:", 0}, {"app.internal:123456", 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cf_config_t cfg;
        char yaml[256], err[512] = "";
        int rc;

        snprintf(yaml, sizeof yaml, "proxy:\n  upstreams:\n    a: {address: \"%s\"}\n", cases[i].addr);
        cf_config_defaults(&cfg);
        rc = load_text(state, yaml, &cfg, err, sizeof err);
        if ((rc == 0) != cases[i].ok)
            fail_msg("%s: rc %d %s", cases[i].addr, rc, err);
        if (rc == 0) {
            assert_int_equal(cfg.nproxy_upstreams, 1);
            assert_string_equal(cfg.proxy_upstreams[0].address, cases[i].addr);
        }
        cf_config_fini(&cfg);
    }
}

static void test_copy_is_independent(void **state)
{
    cf_config_t a, b;
    char err[512] = "";

    cf_config_defaults(&a);
    assert_int_equal(load_text(state, policy_yaml, &a, err, sizeof err), 0);
    assert_int_equal(cf_config_copy(&b, &a), 0);
    cf_config_fini(&a);
    assert_string_equal(b.policy.clients[1].secret_hash, HASH);
    assert_string_equal(b.allowed_origins[0], "https://app.example.com");
    assert_string_equal(b.device_headers[0], "User-Agent");
    assert_non_null(cf_policy_match(&b.policy, "api.example.com", 15, "POST", 4, "/admin/users",
                                    12, NULL));
    cf_config_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_documented_values),
        cmocka_unit_test(test_load_full_file_sets_every_option),
        cmocka_unit_test(test_load_applies_on_top_of_what_is_there),
        cmocka_unit_test(test_load_empty_or_comment_only_file_keeps_defaults),
        cmocka_unit_test(test_load_ipv6_listen_address),
        cmocka_unit_test(test_load_missing_file_says_cannot_open),
        cmocka_unit_test(test_load_errors_name_file_line_and_key),
        cmocka_unit_test(test_load_refuses_duplicate_keys),
        cmocka_unit_test(test_load_refuses_list_or_mapping_where_value_expected),
        cmocka_unit_test(test_load_reports_yaml_syntax_errors_with_line),
        cmocka_unit_test(test_load_error_changes_nothing_even_after_valid_keys),
        cmocka_unit_test(test_load_buffer_refuses_oversized_input),
        cmocka_unit_test(test_error_message_is_truncated_to_errlen),
        cmocka_unit_test(test_set_overrides_one_option_by_dotted_key),
        cmocka_unit_test(test_dump_then_load_round_trips),
        cmocka_unit_test(test_dump_writes_sections_once),
        cmocka_unit_test(test_validate_accepts_defaults_and_zero_grace),
        cmocka_unit_test(test_validate_names_the_keys_it_refuses),
        cmocka_unit_test(test_rotate_every_must_exceed_max_ttl_plus_leeway),
        cmocka_unit_test(test_doc_has_a_row_per_option),
        cmocka_unit_test(test_verify_threads_is_auto_or_a_bounded_count),
        cmocka_unit_test(test_defaults_of_policy_sections),
        cmocka_unit_test(test_load_policy_sections),
        cmocka_unit_test(test_load_replaces_sections_and_frees_the_old),
        cmocka_unit_test(test_policy_errors_name_file_line_and_key),
        cmocka_unit_test(test_set_lists_and_refuses_sections),
        cmocka_unit_test(test_dump_then_load_round_trips_policy),
        cmocka_unit_test(test_dump_of_empty_sections_loads_back),
        cmocka_unit_test(test_upstream_host_names),
        cmocka_unit_test(test_copy_is_independent),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
