/* SPDX-License-Identifier: MIT
 *
 * Rules across options, checked once the whole configuration is known:
 * defaults yielding to given values, order rules (ttl <= max_ttl, idle <=
 * absolute), ranges re-checked through each type, rate limits the limiter
 * can hold, and the files the server opens at start. `curfew config check`
 * and `curfew serve` both run these, so they refuse the same things with the
 * same FILE:LINE message. Reads the file system (stat, the KEK file);
 * never changes a configuration except in cf__config_yield_defaults().
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "config/sections.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/keyset.h"
#include "core/ratelimit.h"

/*
 * Order rules checked by cf_config_validate(): the value at @lo must not
 * exceed the one at @hi. Both are duration options.
 */
static const struct {
    const char *lo, *hi;
} order_rules[] = {
    {"access_token.ttl", "access_token.max_ttl"},
    {"session.idle_timeout", "session.absolute_timeout"},
};

static const option_t *must_find(const char *key)
{
    const option_t *o = cf__config_find(key, strlen(key));

    if (o == NULL || o->kind != OPT_DURATION) {
        fprintf(stderr, "curfew: config rule names unknown duration '%s'\n", key);
        abort(); /* a typo in order_rules[]; any test run catches it */
    }
    return o;
}

static uint32_t line_of_option(const cf_config_t *cfg, const option_t *o)
{
    return cfg->set_line[o - cf__config_options];
}

/*
 * A default yields to an explicit value. `session.absolute_timeout: 3s`
 * alone means what it says; refusing it because the *default* idle timeout
 * (30m) is longer would make the user spell out a second value they never
 * cared about. So when exactly one side of an order rule was given and the
 * other side's default contradicts it, the default moves to the given
 * value, and a note says so (serve logs it). Two given values that
 * contradict each other stay an error, reported by cf_config_validate().
 */
void cf__config_yield_defaults(cf_config_t *cfg)
{
    for (size_t i = 0; i < sizeof(order_rules) / sizeof(order_rules[0]); i++) {
        const option_t *lo = must_find(order_rules[i].lo), *hi = must_find(order_rules[i].hi);
        cf_time_t *a = cf__config_field(cfg, lo->off), *b = cf__config_field(cfg, hi->off);
        int lo_set = line_of_option(cfg, lo) != 0, hi_set = line_of_option(cfg, hi) != 0;
        const option_t *moved, *by;
        char was[32], now[32];

        if (*a <= *b || lo_set == hi_set)
            continue;
        moved = lo_set ? hi : lo;
        by = lo_set ? lo : hi;
        if (cf_duration_format(lo_set ? *b : *a, was, sizeof was) < 0)
            was[0] = '\0';
        if (lo_set)
            *b = *a;
        else
            *a = *b;
        if (cf_duration_format(*a, now, sizeof now) < 0)
            now[0] = '\0';
        if (cfg->nnotes < CF_CONFIG_NOTES_MAX)
            (void)snprintf(cfg->notes[cfg->nnotes++], sizeof cfg->notes[0],
                           "event=config_default_yielded key=%s value=%s default=%s because=%s",
                           moved->key, now, was, by->key);
    }
}

/*
 * "FILE:LINE: " for a message about option @o of @cfg: the file it came
 * from and the line it was set on; "FILE: " for a default, "command line: "
 * for an override, "" when @cfg came from no file.
 */
static const char *where_set(const cf_config_t *cfg, const option_t *o, char *buf, size_t cap)
{
    uint32_t line = o != NULL ? line_of_option(cfg, o) : 0;

    if (line == CF_CONFIG_LINE_CLI)
        (void)snprintf(buf, cap, "command line: ");
    else if (cfg->source[0] == '\0')
        buf[0] = '\0';
    else if (line == 0)
        (void)snprintf(buf, cap, "%s: ", cfg->source);
    else
        (void)snprintf(buf, cap, "%s:%u: ", cfg->source, (unsigned)line);
    return buf;
}

/* The one of @a and @b that was set in the file (@a when both or neither were). */
static const option_t *set_one(const cf_config_t *cfg, const option_t *a, const option_t *b)
{
    return line_of_option(cfg, a) == 0 && line_of_option(cfg, b) != 0 ? b : a;
}

static int check_ranges(const cf_config_t *cfg, char *err, size_t errlen)
{
    cf_config_t scratch = *cfg;
    char text[TEXT_MAX], msg[256], at[300];

    /*
     * Ranges: what text() writes must parse back, under the same rules as the
     * file. String lists and sections were checked item by item when they
     * were read, and re-parsing them into the shallow scratch copy would free
     * the caller's memory, so they are skipped.
     */
    for (size_t i = 0; i < cf__config_noptions; i++) {
        const option_t *o = &cf__config_options[i];
        const type_t *t = &cf__config_types[o->kind];
        if (cf__config_is_list(o) || cf__config_is_node(o))
            continue;
        if (t->text(o, cfg, text, sizeof text, msg, sizeof msg) < 0 ||
            t->parse(o, &scratch, text, strlen(text), msg, sizeof msg) < 0) {
            cf__config_say(err, errlen, "%s%s: %s", where_set(cfg, o, at, sizeof at), o->key,
                           msg);
            return CF_ECONFIG;
        }
    }
    return 0;
}

static int check_order(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300];

    for (size_t i = 0; i < sizeof(order_rules) / sizeof(order_rules[0]); i++) {
        const option_t *lo = must_find(order_rules[i].lo), *hi = must_find(order_rules[i].hi);
        cf_time_t a = *(const cf_time_t *)cf__config_cfield(cfg, lo->off);
        cf_time_t b = *(const cf_time_t *)cf__config_cfield(cfg, hi->off);
        char sa[32], sb[32];
        if (a > b) {
            if (cf_duration_format(a, sa, sizeof sa) < 0 || cf_duration_format(b, sb, sizeof sb) < 0)
                sa[0] = sb[0] = '\0'; /* unreachable: both passed the range check */
            cf__config_say(err, errlen, "%s%s (%s) must not exceed %s (%s)",
                           where_set(cfg, set_one(cfg, lo, hi), at, sizeof at), lo->key, sa,
                           hi->key, sb);
            return CF_ECONFIG;
        }
    }
    /*
     * A rotated-out key verifies for access_token.max_ttl + clock_leeway. An
     * automatic rotation sooner than that would pile up keys that all still
     * verify (and a JWKS that keeps growing), which is never what was meant.
     */
    if (cfg->key_rotate_every > 0 &&
        cfg->key_rotate_every <= cfg->access_max_ttl + cfg->clock_leeway) {
        char sr[32], st[32], sl[32];
        if (cf_duration_format(cfg->key_rotate_every, sr, sizeof sr) < 0 ||
            cf_duration_format(cfg->access_max_ttl, st, sizeof st) < 0 ||
            cf_duration_format(cfg->clock_leeway, sl, sizeof sl) < 0)
            sr[0] = st[0] = sl[0] = '\0'; /* unreachable: all passed the range check */
        cf__config_say(err, errlen,
                       "%skeys.rotate_every (%s) must exceed access_token.max_ttl (%s) + "
                       "clock_leeway (%s), the time a rotated-out key keeps verifying; 0s = off",
                       where_set(cfg, cf__config_find("keys.rotate_every", 16), at, sizeof at), sr,
                       st, sl);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Every enabled rate limit must be one the limiter can hold: the emission
 * interval (period / count, rounded up) times the burst is its tolerance,
 * and cf_gcra_init() refuses one past the longest duration. The rate row is
 * followed by its burst row in cf__config_options[] (RATE_ROWS).
 */
static int check_rates(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300], d[32];

    for (size_t i = 0; i + 1 < cf__config_noptions; i++) {
        const option_t *o = &cf__config_options[i];
        const cf_rate_cfg_t *r = cf__config_cfield(cfg, o->off);
        cf_gcra_t g;

        if (o->kind != OPT_RATE || !r->enabled ||
            cf_gcra_init(&g, r->count, r->period, r->burst) == 0)
            continue;
        if (cf_duration_format(r->period, d, sizeof d) < 0)
            d[0] = '\0';
        cf__config_say(err, errlen,
                       "%s%s: %lld with rate %lld/%s lets a key wait past the longest duration "
                       "(36500d); lower the burst or raise the rate",
                       where_set(cfg, set_one(cfg, &cf__config_options[i + 1], o), at, sizeof at),
                       cf__config_options[i + 1].key, (long long)r->burst, (long long)r->count, d);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * keys.kek_file as the server reads it at start (api/keys.c): at most 1 KiB
 * holding one key. CURFEW_KEK, when set, wins and the file is not read.
 */
static int check_kek_file(const cf_config_t *cfg, char *err, size_t errlen)
{
    const char *env = getenv("CURFEW_KEK");
    char at[300], text[1025];
    uint8_t kek[CF_KEK_LEN];
    FILE *f;
    size_t n;
    int rc;

    if (cfg->kek_file[0] == '\0' || (env != NULL && env[0] != '\0'))
        return 0;
    f = fopen(cfg->kek_file, "rb");
    if (f == NULL) {
        cf__config_say(err, errlen, "%skeys.kek_file: cannot open '%s': %s",
                       where_set(cfg, cf__config_find("keys.kek_file", 13), at, sizeof at),
                       cfg->kek_file, strerror(errno));
        return CF_ECONFIG;
    }
    n = fread(text, 1, sizeof text, f);
    (void)fclose(f); /* opened for reading: nothing to lose */
    rc = n < sizeof text ? cf_keyset_kek_parse(text, n, kek) : CF_ETOOBIG;
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(kek, sizeof kek);
    if (rc < 0) {
        cf__config_say(err, errlen,
                       "%skeys.kek_file: '%s' does not hold a key (expected 32 bytes written as "
                       "64 hex digits, base64url or base64)",
                       where_set(cfg, cf__config_find("keys.kek_file", 13), at, sizeof at),
                       cfg->kek_file);
        return CF_ECONFIG;
    }
    return 0;
}

/*
 * Files the server opens at start, checked here so that `curfew config
 * check` refuses what `curfew serve` would: the audit log's directory must
 * exist (the log itself is created), and a key-encryption-key file must be
 * readable and hold a key unless CURFEW_KEK, which wins, is set.
 */
static int check_files(const cf_config_t *cfg, char *err, size_t errlen)
{
    char at[300], dir[sizeof cfg->audit_path];
    const char *slash = strrchr(cfg->audit_path, '/');
    struct stat st;

    if (cfg->audit_path[0] != '\0' && strcmp(cfg->audit_path, "-") != 0) {
        size_t n = slash == NULL ? 1 : slash == cfg->audit_path ? 1 : (size_t)(slash - cfg->audit_path);
        memcpy(dir, slash == NULL ? "." : cfg->audit_path, n);
        dir[n] = '\0';
        if (slash != NULL && slash[1] == '\0') {
            cf__config_say(err, errlen, "%saudit.path: '%s' names a directory, not a file",
                           where_set(cfg, cf__config_find("audit.path", 10), at, sizeof at),
                           cfg->audit_path);
            return CF_ECONFIG;
        }
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cf__config_say(err, errlen, "%saudit.path: directory '%s' %s",
                           where_set(cfg, cf__config_find("audit.path", 10), at, sizeof at), dir,
                           stat(dir, &st) < 0 ? strerror(errno) : "is not a directory");
            return CF_ECONFIG;
        }
    }
    return check_kek_file(cfg, err, errlen);
}

int cf_config_validate(const cf_config_t *cfg, char *err, size_t errlen)
{
    int rc = check_ranges(cfg, err, errlen);

    if (rc == 0)
        rc = check_order(cfg, err, errlen);
    if (rc == 0)
        rc = check_rates(cfg, err, errlen);
    if (rc == 0)
        rc = check_files(cfg, err, errlen);
    return rc;
}
