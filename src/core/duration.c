/* SPDX-License-Identifier: MIT
 *
 * Duration parsing and formatting. Decides what a duration string means in
 * milliseconds; must never accept an ambiguous spelling (see duration.h) and
 * never overflow: every multiplication is checked against CF_DURATION_MAX,
 * which is far below INT64_MAX, before it happens.
 */
#include "core/duration.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const char *name;
    size_t len;
    cf_time_t ms;
} unit_t;

/* Largest first: parse requires this order, format tries units in it. */
static const unit_t units[] = {
    {"d", 1, CF_DAY}, {"h", 1, CF_HOUR}, {"m", 1, CF_MIN}, {"s", 1, CF_SEC}, {"ms", 2, CF_MSEC},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return CF_EINVAL;
}

int cf_duration_parse(const char *s, size_t n, cf_time_t *out, const char **why)
{
    cf_time_t total = 0;
    size_t i = 0, next_unit = 0; /* index into units[] of the smallest unit still allowed */
    int groups = 0;

    if (why != NULL)
        *why = NULL;
    if (s == NULL || n == 0)
        return fail(why, "empty duration");
    if (s[0] == '-')
        return fail(why, "negative durations are not allowed");

    while (i < n) {
        cf_time_t value = 0;
        size_t ulen = 0, u;

        if (!is_digit(s[i])) {
            if (s[i] == '+')
                return fail(why, "a sign is not allowed");
            if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
                return fail(why, "whitespace is not allowed");
            if (is_letter(s[i]))
                return fail(why, "a number is missing before the unit");
            return fail(why, "unexpected character (use e.g. 30s, 15m, 12h, 30d)");
        }
        for (; i < n && is_digit(s[i]); i++) {
            value = value * 10 + (s[i] - '0');
            if (value > CF_DURATION_MAX)
                return fail(why, "duration too long (at most 100 years)");
        }
        if (i == n) {
            if (groups > 0)
                return fail(why, "missing unit after the last number");
            if (value > CF_DURATION_MAX / CF_SEC)
                return fail(why, "duration too long (at most 100 years)");
            *out = value * CF_SEC; /* bare integer: seconds */
            return 0;
        }
        if (s[i] == '.' || s[i] == ',')
            return fail(why, "fractions are not allowed (use a smaller unit, e.g. 90m)");
        while (i + ulen < n && is_letter(s[i + ulen]))
            ulen++;
        if (ulen == 0) {
            if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
                return fail(why, "whitespace is not allowed");
            return fail(why, "unexpected character (use e.g. 30s, 15m, 12h, 30d)");
        }
        for (u = 0; u < NUNITS; u++)
            if (units[u].len == ulen && memcmp(units[u].name, s + i, ulen) == 0)
                break;
        if (u == NUNITS)
            return fail(why, "unknown unit (use ms, s, m, h or d)");
        if (u < next_unit)
            return fail(why, "units must each appear once, largest first (e.g. 1h30m)");
        if (value > CF_DURATION_MAX / units[u].ms)
            return fail(why, "duration too long (at most 100 years)");
        total += value * units[u].ms;
        if (total > CF_DURATION_MAX)
            return fail(why, "duration too long (at most 100 years)");
        next_unit = u + 1;
        groups++;
        i += ulen;
    }
    *out = total;
    return 0;
}

/* Single largest unit that divides @ms exactly: "90m", "1500ms". */
static int format_single(cf_time_t ms, char *buf, size_t cap)
{
    for (size_t u = 0; u < NUNITS; u++)
        if (ms % units[u].ms == 0)
            return snprintf(buf, cap, "%lld%s", (long long)(ms / units[u].ms), units[u].name);
    return -1; /* unreachable: 1 ms divides everything */
}

/* Every non-zero unit, largest first: "1d1s". */
static int format_compound(cf_time_t ms, char *buf, size_t cap)
{
    size_t len = 0;

    for (size_t u = 0; u < NUNITS && ms > 0; u++) {
        cf_time_t q = ms / units[u].ms;
        int w;

        if (q == 0)
            continue;
        ms -= q * units[u].ms;
        w = snprintf(buf + len, cap - len, "%lld%s", (long long)q, units[u].name);
        if (w < 0 || (size_t)w >= cap - len)
            return -1;
        len += (size_t)w;
    }
    return (int)len;
}

int cf_duration_format(cf_time_t ms, char *buf, size_t cap)
{
    char single[32], compound[64];
    int ls, lc;
    const char *best;

    if (cap > 0)
        buf[0] = '\0';
    if (ms < 0)
        return CF_EINVAL;
    if (ms == 0) {
        best = "0s";
    } else {
        ls = format_single(ms, single, sizeof(single));
        lc = format_compound(ms, compound, sizeof(compound));
        if (ls < 0 || (size_t)ls >= sizeof(single) || lc < 0)
            return CF_EINVAL; /* cannot happen for int64 input */
        best = lc < ls ? compound : single;
    }
    if (strlen(best) + 1 > cap)
        return CF_ETOOBIG;
    memcpy(buf, best, strlen(best) + 1);
    return 0;
}
