/* SPDX-License-Identifier: MIT
 *
 * The URLs curfew is configured with, parsed in one place: the Redis store
 * (redis://[:PASSWORD@]HOST[:PORT][/DB]) and the alert webhook
 * (http[s]://HOST[:PORT][/PATH]). The config loader checks them with the very
 * functions the store and the webhook use to connect, so a URL that
 * `curfew config check` accepts is one the server can use. Pure: no I/O, no
 * name resolution, no allocation; safe from any thread.
 */
#ifndef CF_UTIL_URL_H
#define CF_UTIL_URL_H

#include <stddef.h>

/** A parsed redis:// URL. */
typedef struct {
    char host[256];
    int port;
    char password[256]; /* "" = no AUTH */
    int db;
} cf_redis_url_t;

/**
 * Parse "redis://[:PASSWORD@]HOST[:PORT][/DB]" (port 6379, db 0 by default)
 * into @out. Returns 0, or CF_EPARSE with what is wrong in @err (@errlen
 * bytes, truncated if needed).
 */
int cf_url_parse_redis(const char *url, cf_redis_url_t *out, char *err, size_t errlen);

/** A parsed http:// or https:// URL: the parts a POST needs. */
typedef struct {
    char host[256];
    char port[8]; /* decimal, "80" (http) or "443" (https) by default */
    char path[1024]; /* "/" by default */
    int tls;         /* https */
} cf_http_url_t;

/**
 * Parse "http[s]://HOST[:PORT][/PATH]" (no user information, no IPv6
 * literal) into @out. Returns NULL, or a static message saying what is wrong
 * (@out is then unspecified).
 */
const char *cf_url_parse_http(const char *url, cf_http_url_t *out);

#endif /* CF_UTIL_URL_H */
