/* SPDX-License-Identifier: MIT
 *
 * The diagnostic log: one key=value line per event on stderr, level-checked
 * before any formatting. Never pass a token, key or whole session id here; log
 * cf_log_fingerprint() of it instead. The level is the only process-wide
 * state, set once at startup.
 */
#ifndef CF_UTIL_LOG_H
#define CF_UTIL_LOG_H

#include <stddef.h>

typedef enum { CF_LOG_DEBUG = 0, CF_LOG_INFO, CF_LOG_WARN, CF_LOG_ERROR, CF_LOG_OFF } cf_log_level_t;

extern cf_log_level_t cf_log_level;

/** Parse "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int cf_log_level_parse(const char *s);

void cf_log_write(cf_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CF_LOG(level, ...)                  \
    do {                                    \
        if ((level) >= cf_log_level)        \
            cf_log_write((level), __VA_ARGS__); \
    } while (0)

/**
 * Write a short, non-reversible fingerprint of a secret (first 12 hex chars of
 * its SHA-256) into @out (at least 13 bytes). Safe to log.
 */
void cf_log_fingerprint(const char *secret, size_t len, char out[13]);

#endif
