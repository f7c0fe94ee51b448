/* SPDX-License-Identifier: MIT
 *
 * The audit line scanner (core/auditline.h) against jansson, the reference:
 * on every line of a synthetic log and on the server's own lines the scanner
 * must recognise the line and read exactly what jansson reads; on a corpus of
 * tricky lines it must either read what jansson reads or decline (leaving the
 * line untouched for jansson). Times against sscanf + timegm, the reference
 * the fast path replaced.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "cli/tune.h"
#include "core/auditline.h"
#include "core/session.h"
#include "obs/audit.h"

#define LINE_MAX_TEST 4096

/* The elements of an array value that are strings, joined by '\1'. */
static void elements(const cf_auditline_value_t *v, char *out, size_t cap)
{
    size_t n = 0, i;
    json_t *e;

    out[0] = '\0';
    if (v->json != NULL) {
        json_array_foreach((json_t *)v->json, i, e) {
            if (json_is_string(e))
                n += (size_t)snprintf(out + n, cap - n, "%s\1", json_string_value(e));
        }
        return;
    }
    for (const char *p = v->s, *end = v->s + v->len; p < end;) {
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        assert_non_null(q);
        n += (size_t)snprintf(out + n, cap - n, "%.*s\1", (int)(q - p - 1), p + 1);
        p = q + 2;
    }
}

static void same_fields(const cf_auditline_t *a, const cf_auditline_t *b, const char *line)
{
    char ea[LINE_MAX_TEST], eb[LINE_MAX_TEST];

    for (int i = 0; i < CF_AL__COUNT; i++) {
        const cf_auditline_value_t *x = &a->v[i], *y = &b->v[i];
        if (x->kind != y->kind)
            fail_msg("field %d: kind %d vs %d in %s", i, x->kind, y->kind, line);
        if (x->kind == CF_AL_STRING)
            assert_string_equal(x->s, y->s);
        if (x->kind == CF_AL_INTEGER)
            assert_true(x->i == y->i);
        if (x->kind == CF_AL_ARRAY) {
            elements(x, ea, sizeof ea);
            elements(y, eb, sizeof eb);
            assert_string_equal(ea, eb);
            assert_int_equal(cf_auditline_has(x, "admin"), cf_auditline_has(y, "admin"));
            assert_int_equal(cf_auditline_has(x, "user"), cf_auditline_has(y, "user"));
            assert_int_equal(cf_auditline_has(x, ""), cf_auditline_has(y, ""));
        }
    }
}

/* Scanner and jansson on @line: where the scanner reads it, they agree; where it
 * declines, the line is untouched; cf_auditline_read answers as jansson does.
 * Returns 1 if the scanner recognised the line. */
static int agree(const char *line)
{
    size_t n = strlen(line);
    char *a = strdup(line), *b = strdup(line), *c = strdup(line);
    char why_j[160], why_r[160];
    cf_auditline_t s, j, r;
    int rs, rj, rr;

    assert_non_null(a);
    rs = cf_auditline_scan(&s, a, n);
    rj = cf_auditline_json(&j, b, n, why_j);
    rr = cf_auditline_read(&r, c, n, why_r);
    assert_int_equal(rr, rj);
    if (rj < 0)
        assert_string_equal(why_r, why_j); /* jansson's words, unchanged */
    if (rs == 0) {
        if (rj != 0)
            fail_msg("scanner accepted what jansson refuses (%s): %s", why_j, line);
        assert_int_equal(s.scanned, 1);
        same_fields(&s, &j, line);
    } else {
        assert_memory_equal(a, line, n); /* declined: nothing written */
    }
    if (rr == 0)
        same_fields(&r, &j, line);
    cf_auditline_fini(&s);
    cf_auditline_fini(&j);
    cf_auditline_fini(&r);
    free(a);
    free(b);
    free(c);
    return rs == 0;
}

static void test_scanner_reads_every_synthetic_line_as_jansson_does(void **state)
{
    char *text = NULL, *p, *nl;
    size_t size = 0, lines = 0;
    FILE *f = open_memstream(&text, &size);

    (void)state;
    assert_non_null(f);
    assert_int_equal(cf_tune_synthetic(60000, 7, f), 0);
    assert_int_equal(fclose(f), 0);
    for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        char line[LINE_MAX_TEST];
        size_t n = (size_t)(nl - p) + 1;
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        if (!agree(line))
            fail_msg("synthetic line not recognised: %s", line);
        lines++;
    }
    assert_int_equal(lines, 60000);
    free(text);
}

/* The server's writer: plain values are recognised, escaped ones may go to jansson. */
static void test_scanner_agrees_on_the_servers_own_lines(void **state)
{
    static const struct {
        const char *sub, *roles;
        int plain;
    } who[] = {
        {"alice", "admin,user", 1},
        {"bob", "", 1},
        {"al\"ice\n", "admin", 0},
        {"Jos\xc3\xa9", "user", 0},
        {"tab\there\x01", "a\\b,user", 0},
    };
    static const cf_event_type_t types[] = {CF_EV_SESSION_CREATED, CF_EV_TOKEN_REFRESHED,
                                            CF_EV_ACTIVITY_GAP, CF_EV_SESSION_ENDED};
    cf_limits_t lim = {30 * 60 * CF_SEC, 12 * 3600 * CF_SEC, 600 * CF_SEC};
    const cf_time_t t0 = 1767323045678;

    (void)state;
    for (size_t w = 0; w < sizeof who / sizeof who[0]; w++) {
        cf_session_t *s = cf_session_new("AAAAAAAAAAAAAAAAAAAAAAAA", who[w].sub, "web", "read",
                                         who[w].roles, t0, &lim, t0);
        assert_non_null(s);
        cf_session_bind(s, "10.0.0.5", NULL);
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
            cf_events_t ev = CF_EVENTS_INIT;
            cf_audit_line_t l = {0};
            cf_event_t *e;

            if (types[k] == CF_EV_SESSION_ENDED)
                cf_session_end(s, CF_END_IDLE_TIMEOUT, t0 + 31 * 60 * CF_SEC);
            e = cf_events_add(&ev, types[k], t0 + 60000, s);
            e->span = 45000;
            e->gap = 45000;
            assert_int_equal(cf_audit_format(e, &l), 1);
            if (agree(l.buf) != who[w].plain)
                fail_msg("plain=%d but scanner said otherwise: %s", who[w].plain, l.buf);
            cf_audit_line_fini(&l);
            cf_events_fini(&ev);
        }
        cf_session_free(s);
    }
}

#define H "{\"v\":1,\"ts\":\"2026-01-05T08:33:09.783Z\",\"event\":\"session_created\""
#define SIDF ",\"sid\":\"S1\",\"sub\":\"u\""

/* Tricky lines: 1 the scanner must read (and agree), 0 it must decline. */
static const struct {
    const char *line;
    int scanned;
} tricky[] = {
    {H SIDF ",\"roles\":[\"admin\",\"user\"],\"idle_timeout_ms\":1800000}\n", 1},
    {H SIDF "}", 1},                                              /* no newline */
    {"{}\n", 1},                                                  /* empty: fields missing */
    {H SIDF ",\"roles\":[]}\n", 1},
    {H SIDF ",\"age_seconds\":2160.046,\"ip\":null,\"x\":true,\"y\":false}\n", 1},
    {H SIDF ",\"idle_ms\":-0}\n", 1},
    {H SIDF ",\"idle_ms\":-5}\n", 1},                             /* negative: a bad duration, read alike */
    {H SIDF ",\"idle_ms\":999999999999999999}\n", 1},             /* 18 digits */
    {H SIDF ",\"idle_ms\":9223372036854775807}\n", 0},            /* 19 digits: jansson's */
    {H SIDF ",\"idle_ms\":99999999999999999999999}\n", 0},        /* too big for jansson */
    {H SIDF ",\"idle_ms\":-99999999999999999999999}\n", 0},
    {H SIDF ",\"idle_ms\":1e3}\n", 0},                            /* exponent */
    {H SIDF ",\"idle_ms\":1E400}\n", 0},                          /* real overflow */
    {H SIDF ",\"idle_ms\":1.5}\n", 1},                            /* a real, not an integer */
    {H SIDF ",\"idle_ms\":1.}\n", 0},
    {H SIDF ",\"idle_ms\":.5}\n", 0},
    {H SIDF ",\"idle_ms\":01}\n", 0},
    {H SIDF ",\"idle_ms\":-}\n", 0},
    {H SIDF ",\"idle_ms\":+1}\n", 0},
    {H SIDF ",\"idle_ms\":\"1000\"}\n", 1},                       /* a string, not a number */
    {H SIDF ",\"idle_ms\":nul}\n", 0},
    {H SIDF ",\"idle_ms\":nullx}\n", 0},
    {H ",\"sid\":\"S1\",\"sid\":\"S2\"}\n", 0},                   /* duplicate known key */
    {H SIDF ",\"ip\":null,\"ip\":\"1.2.3.4\"}\n", 0},             /* duplicate other key */
    {H SIDF ",\"s\\u0069d\":\"S2\"}\n", 0},                       /* duplicate through an escape */
    {H ",\"event\":\"session_ended\"" SIDF "}\n", 0},             /* event twice */
    {H SIDF ",\"sub\":\"u\\\"v\"}\n", 0},                          /* escaped quote (and dup) */
    {"{\"event\":\"session_created\",\"sid\":\"a\\\"b\",\"ts\":\"2026-01-05T08:33:09Z\"}\n", 0},
    {"{\"event\":\"session_created\",\"sid\":\"a\\u00e9\\ud83d\\ude00\"}\n", 0}, /* unicode escapes */
    {"{\"event\":\"session_created\",\"sid\":\"a\\ud83d\"}\n", 0},   /* a lone surrogate */
    {"{\"event\":\"session_created\",\"sid\":\"a\\u0000b\"}\n", 0},  /* NUL escape */
    {"{\"event\":\"session_created\",\"sid\":\"\xc3\xa9\"}\n", 0},   /* raw UTF-8 */
    {"{\"event\":\"session_created\",\"sid\":\"\xff\xfe\"}\n", 0},   /* invalid UTF-8 */
    {"{\"event\":\"session_created\",\"sid\":\"a\tb\"}\n", 0},       /* raw control character */
    {"{\"sid\":\"S1\",\"ts\":\"2026-01-05T08:33:09.783Z\",\"event\":\"session_ended\"}\n", 1}, /* reordered */
    {"{ \"event\":\"session_created\",\"sid\":\"S1\"}\n", 0},        /* whitespace */
    {"{\"event\" :\"session_created\",\"sid\":\"S1\"}\n", 0},
    {"{\"event\":\"session_created\", \"sid\":\"S1\"}\n", 0},
    {"{\"event\":\"session_created\",\"sid\":\"S1\"} \n", 0},
    {"{\"event\":\"session_created\",\"sid\":\"S1\"}\r\n", 0},
    {"\t{\"event\":\"session_created\"}\n", 0},
    {H SIDF ",\"roles\":[ \"admin\"]}\n", 0},
    {H SIDF ",\"roles\":[\"admin\",1]}\n", 0},
    {H SIDF ",\"roles\":[\"admin\",]}\n", 0},
    {H SIDF ",\"roles\":[\"a\\\"dmin\"]}\n", 0},
    {H SIDF ",\"roles\":[[\"admin\"]]}\n", 0},
    {H SIDF ",\"roles\":\"admin\"}\n", 1},                         /* not an array: no role */
    {H SIDF ",\"extra\":{\"a\":1}}\n", 0},                         /* nested object */
    {H SIDF ",}\n", 0},                                            /* trailing comma */
    {H SIDF ",,\"a\":1}\n", 0},
    {H SIDF ",\"\":1}\n", 0},                                      /* empty key */
    {H SIDF "\n", 0},                                              /* no closing brace */
    {H SIDF "}}\n", 0},
    {H SIDF "}{}\n", 0},
    {H SIDF ",\"a\"}\n", 0},
    {H SIDF ",\"a\":}\n", 0},
    {H SIDF ",\"a\":\"unterminated}\n", 0},
    {"[1,2,3]\n", 0},
    {"\"just a string\"\n", 0},
    {"{\n", 0},
    {"}\n", 0},
    {"{\"a\":1\n", 0},
};

static void test_scanner_reads_tricky_lines_as_jansson_or_declines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        int got = agree(tricky[i].line);
        if (got != tricky[i].scanned)
            fail_msg("line %zu: scanned %d, expected %d: %s", i, got, tricky[i].scanned,
                     tricky[i].line);
    }
}

/* Many keys the replay skips: past the scanner's table it declines, still agreeing. */
static void test_scanner_many_keys_and_duplicates_far_apart(void **state)
{
    char line[LINE_MAX_TEST];
    size_t n = 0;

    (void)state;
    n += (size_t)snprintf(line + n, sizeof line - n, "{\"event\":\"e\"");
    for (int i = 0; i < 47; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, ",\"k%d\":%d", i, i);
    snprintf(line + n, sizeof line - n, "}\n");
    assert_int_equal(agree(line), 1);
    snprintf(line + n, sizeof line - n, ",\"k47\":1,\"k48\":2}\n"); /* 49 others: declined */
    assert_int_equal(agree(line), 0);
    snprintf(line + n, sizeof line - n, ",\"k0\":1}\n"); /* first and last keys equal */
    assert_int_equal(agree(line), 0);
}

/* Every line of a small synthetic log, mutated at random (bytes replaced, inserted or
 * deleted, drawn from JSON's own punctuation): the scanner agrees or declines. */
static void test_scanner_agrees_on_mutated_lines(void **state)
{
    static const char alphabet[] = "{}[]\":,\\ 0123456789-.eEnulltrufalsx\t\x01\x7f\xc3\xa9";
    char *text = NULL, *p, *nl;
    size_t size = 0, recognised = 0, total = 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    FILE *f = open_memstream(&text, &size);

    (void)state;
    assert_non_null(f);
    assert_int_equal(cf_tune_synthetic(400, 3, f), 0);
    assert_int_equal(fclose(f), 0);
    for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        size_t n0 = (size_t)(nl - p) + 1;
        for (int m = 0; m < 60; m++) {
            char line[LINE_MAX_TEST];
            size_t n = n0;
            memcpy(line, p, n);
            line[n] = '\0';
            for (int k = 0; k < 1 + m % 3; k++) {
                size_t at;
                char c;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                at = (size_t)(x % n);
                c = alphabet[(x >> 20) % (sizeof alphabet - 1)];
                if ((x >> 40) % 3 == 0 && n + 2 < sizeof line) { /* insert */
                    memmove(line + at + 1, line + at, n - at + 1);
                    line[at] = c;
                    n++;
                } else if ((x >> 40) % 3 == 1 && n > 2) { /* delete */
                    memmove(line + at, line + at + 1, n - at);
                    n--;
                } else {
                    line[at] = c;
                }
            }
            recognised += (size_t)agree(line);
            total++;
        }
    }
    /* Both kinds were met: many mutations keep a readable line, many break it. */
    assert_true(recognised > total / 20 && recognised < total - total / 20);
    free(text);
}

/* The reference the fast path replaced: sscanf + timegm. */
static int time_ref(const char *s, cf_time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, n = 0, ms = 0;
    time_t t;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    s += n;
    if (*s == '.') {
        int digits = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*s - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(s, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (cf_time_t)t * CF_SEC + ms;
    return 0;
}

static void same_time(const char *s)
{
    cf_time_t a = -7, b = -7;
    int ra = cf_auditline_time(s, &a), rb = time_ref(s, &b);

    if (ra != rb || (ra == 0 && a != b))
        fail_msg("'%s': fast %d/%lld, reference %d/%lld", s, ra, (long long)a, rb, (long long)b);
}

static void test_times_agree_with_sscanf_and_timegm(void **state)
{
    static const char *const odd[] = {
        "2026-01-05T08:33:09.783Z", "2026-01-05T08:33:09Z", "2026-01-05T08:33:09.7Z",
        "2026-01-05T08:33:09.78Z", "2026-01-05T08:33:09.783999Z", "2026-01-05T08:33:09.Z",
        "2026-01-05T08:33:09.783", "2026-01-05T08:33:09.783Zx", "2026-01-05T08:33:09.783z",
        "2026-02-31T00:00:00Z", "2024-02-29T23:59:60.999Z", "2100-02-29T00:00:00Z",
        "1970-01-01T00:00:00.000Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999Z",
        "0000-01-01T00:00:00Z", "2026-00-05T08:33:09Z", "2026-13-05T08:33:09Z",
        "2026-01-00T08:33:09Z", "2026-01-32T08:33:09Z", "2026-01-05T24:00:00Z",
        "2026-01-05T23:60:00Z", "2026-01-05T23:59:61Z", "+026-01-05T08:33:09Z",
        "2026-+1-05T08:33:09Z", "2026- 1-05T08:33:09Z", "2026-1-05T08:33:09Z",
        " 2026-01-05T08:33:09Z", "2026-01-05 08:33:09Z", "2026-01-05t08:33:09Z",
        "2026-01-05T08:33:9Z", "20260105T083309Z", "", "2026", "2026-01-05T08:33:09",
        "2026-01-05T08:33:09+00:00", "2026-01-05T08:33:-9Z", "-026-01-05T08:33:09Z",
    };
    uint64_t x = 88172645463325252ULL;

    (void)state;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        same_time(odd[i]);
    for (int i = 0; i < 200000; i++) { /* every field over and past its range */
        char s[64];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(s, sizeof s, "%04d-%02d-%02dT%02d:%02d:%02d.%0*dZ", (int)(1960 + x % 8100),
                 (int)((x >> 13) % 14), (int)((x >> 17) % 33), (int)((x >> 23) % 25),
                 (int)((x >> 29) % 61), (int)((x >> 35) % 62), (int)(1 + (x >> 41) % 6),
                 (int)((x >> 44) % 100000));
        same_time(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner_reads_every_synthetic_line_as_jansson_does),
        cmocka_unit_test(test_scanner_agrees_on_the_servers_own_lines),
        cmocka_unit_test(test_scanner_reads_tricky_lines_as_jansson_or_declines),
        cmocka_unit_test(test_scanner_many_keys_and_duplicates_far_apart),
        cmocka_unit_test(test_scanner_agrees_on_mutated_lines),
        cmocka_unit_test(test_times_agree_with_sscanf_and_timegm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
