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
    assert_int_equal(rows, 18);
    assert_non_null(strstr(text, "| `session.idle_timeout` | duration, > 0 | `30m` | "));
    assert_non_null(strstr(text, "| `log_level` | one of debug, info, warn, error | `info` | "));
    free(text);
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
        cmocka_unit_test(test_doc_has_a_row_per_option),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
