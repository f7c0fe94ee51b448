/* SPDX-License-Identifier: MIT */
#include "util/log.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

_Atomic cf_log_level_t cf_log_level = CF_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int cf_log_level_parse(const char *s)
{
    for (int i = 0; i <= CF_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void cf_log_write(cf_log_level_t level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ level=%s ", ts.tv_nsec / 1000000,
                          level_names[level]);
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    n += (size_t)w;
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    (void)fwrite(line, 1, n, stderr); /* best effort: nothing sensible to do if stderr fails */
}

void cf_log_fingerprint(const char *secret, size_t len, char out[13])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)secret, len, md);
    for (int i = 0; i < 6; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[12] = '\0';
}
