/* SPDX-License-Identifier: MIT
 *
 * The diagnostic log: one key=value line per event on stderr, level-checked
 * before any formatting. Never pass a token, key or whole session id here; log
 * cf_log_fingerprint() of it instead. The level is the only process-wide
 * state: set at start-up and again by a reload (SIGHUP, on the loop thread)
 * while the store writer, the audit writer, the signer, the verifier pool and
 * the webhook worker log, so it is atomic (a plain int here was a data race
 * that ThreadSanitizer reported; relaxed loads cost what plain ones do).
 */
#ifndef CF_UTIL_LOG_H
#define CF_UTIL_LOG_H

#include <stdatomic.h>
#include <stddef.h>

typedef enum { CF_LOG_DEBUG = 0, CF_LOG_INFO, CF_LOG_WARN, CF_LOG_ERROR, CF_LOG_OFF } cf_log_level_t;

/** Read and written through cf_log_level_get() / cf_log_level_set(). */
extern _Atomic cf_log_level_t cf_log_level;

/** The current level; any thread. */
static inline cf_log_level_t cf_log_level_get(void)
{
    return atomic_load_explicit(&cf_log_level, memory_order_relaxed);
}

/** Set the level; any thread (start-up and reloads). */
static inline void cf_log_level_set(cf_log_level_t level)
{
    atomic_store_explicit(&cf_log_level, level, memory_order_relaxed);
}

/** Parse "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int cf_log_level_parse(const char *s);

void cf_log_write(cf_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CF_LOG(level, ...)                  \
    do {                                    \
        if ((level) >= cf_log_level_get())  \
            cf_log_write((level), __VA_ARGS__); \
    } while (0)

/**
 * Write a short, non-reversible fingerprint of a secret (first 12 hex chars of
 * its SHA-256) into @out (at least 13 bytes). Safe to log.
 */
void cf_log_fingerprint(const char *secret, size_t len, char out[13]);

#endif
