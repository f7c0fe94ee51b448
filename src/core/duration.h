/* SPDX-License-Identifier: MIT
 *
 * Durations as written in configuration and admin requests ("15m", "30d",
 * "1h30m") and back. Decides which spellings are valid and what they mean in
 * milliseconds. Must never guess: a missing or unknown unit, a sign, a
 * fraction or a value past CF_DURATION_MAX is refused with a message that
 * tells the operator how to fix it, rather than read as something else.
 */
#ifndef CF_CORE_DURATION_H
#define CF_CORE_DURATION_H

#include <stddef.h>

#include "core/clock.h"

/** Largest accepted duration: 100 years of 365 days (3,153,600,000,000 ms). */
#define CF_DURATION_MAX (36500 * CF_DAY)

/**
 * Parse @n bytes of @s (not necessarily NUL-terminated) into milliseconds.
 *
 * Accepted: one or more <digits><unit> groups with units ms, s, m, h, d, each
 * unit at most once and from largest to smallest ("1d12h", "1h30m", "500ms"),
 * or bare digits alone meaning seconds ("90"). Leading zeros are fine.
 * Refused: empty input, a sign, whitespace, fractions, unknown or repeated
 * units, units out of order, digits without a unit after a group ("1h30"), and
 * totals above CF_DURATION_MAX.
 *
 * Returns 0 and sets *@out; or CF_EINVAL, leaving *@out untouched and setting
 * *@why (if @why is not NULL) to a short static English message, e.g.
 * "unknown unit (use ms, s, m, h or d)". *@why is set to NULL on success.
 */
int cf_duration_parse(const char *s, size_t n, cf_time_t *out, const char **why);

/**
 * Write the shortest exact spelling of @ms that cf_duration_parse() reads
 * back to the same value, NUL-terminated, into @buf of @cap bytes:
 * 900000 -> "15m", 1500 -> "1500ms", 0 -> "0s", 86401000 -> "1d1s". Among
 * equally short spellings the single-unit one wins (5400000 -> "90m").
 *
 * Returns 0; CF_EINVAL for a negative @ms; CF_ETOOBIG if @cap is too small
 * (24 bytes are always enough), in which case @buf holds "" if @cap > 0.
 */
int cf_duration_format(cf_time_t ms, char *buf, size_t cap);

#endif
