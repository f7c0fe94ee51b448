/* SPDX-License-Identifier: MIT
 *
 * URL parsers shared by the config loader, the Redis store and the alert
 * webhook (see url.h). Each refuses rather than guesses: a URL that parses
 * here is one the server can connect to as written.
 */
#include "util/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int cf_url_parse_redis(const char *url, cf_redis_url_t *out, char *err, size_t errlen)
{
    const char *p, *at, *slash, *colon, *host_end;
    size_t n;

    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "must start with redis://");
        return CF_EPARSE;
    }
    p = url + 8;
    slash = strchr(p, '/');
    at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
    if (at != NULL) {
        const char *pw = memchr(p, ':', (size_t)(at - p));
        if (pw == NULL || (size_t)(at - pw - 1) >= sizeof out->password) {
            snprintf(err, errlen, "credentials must be ':PASSWORD@' (at most 255 bytes)");
            return CF_EPARSE;
        }
        memcpy(out->password, pw + 1, (size_t)(at - pw - 1));
        p = at + 1;
    }
    host_end = slash ? slash : p + strlen(p);
    colon = memchr(p, ':', (size_t)(host_end - p));
    n = (size_t)((colon ? colon : host_end) - p);
    if (n == 0 || n >= sizeof out->host) {
        snprintf(err, errlen, "missing or overlong host");
        return CF_EPARSE;
    }
    memcpy(out->host, p, n);
    if (colon != NULL) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end != host_end || v < 1 || v > 65535) {
            snprintf(err, errlen, "port must be 1-65535");
            return CF_EPARSE;
        }
        out->port = (int)v;
    }
    if (slash != NULL && slash[1] != '\0') {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end != '\0' || v < 0 || v > 15) {
            snprintf(err, errlen, "db must be 0-15");
            return CF_EPARSE;
        }
        out->db = (int)v;
    }
    return 0;
}

const char *cf_url_parse_http(const char *url, cf_http_url_t *out)
{
    char *host = out->host, *port = out->port, *path = out->path;
    const size_t hcap = sizeof out->host, pcap = sizeof out->path;
    const char *p, *hs, *he, *slash;
    size_t hl;

    out->tls = strncmp(url, "https://", 8) == 0;
    if (!out->tls && strncmp(url, "http://", 7) != 0)
        return "must start with http:// or https://";
    hs = url + (out->tls ? 8 : 7);
    slash = strchr(hs, '/');
    he = slash != NULL ? slash : hs + strlen(hs);
    if (memchr(hs, '@', (size_t)(he - hs)) != NULL)
        return "must not hold user information";
    p = memchr(hs, ':', (size_t)(he - hs));
    hl = (size_t)((p != NULL ? p : he) - hs);
    if (hl == 0 || hl >= hcap)
        return "needs a host";
    for (size_t i = 0; i < hl; i++)
        if (hs[i] <= 0x20 || hs[i] >= 0x7f || hs[i] == '[' || hs[i] == ']')
            return "has a bad host (use a name or an IPv4 address)";
    memcpy(host, hs, hl);
    host[hl] = '\0';
    strcpy(port, out->tls ? "443" : "80");
    if (p != NULL) {
        size_t pl = (size_t)(he - p - 1);
        long v;
        if (pl == 0 || pl > 5)
            return "has a bad port";
        for (size_t i = 0; i < pl; i++)
            if (p[1 + i] < '0' || p[1 + i] > '9')
                return "has a bad port";
        memcpy(port, p + 1, pl);
        port[pl] = '\0';
        v = strtol(port, NULL, 10);
        if (v < 1 || v > 65535)
            return "has a bad port";
    }
    if (slash == NULL)
        slash = "/";
    if (strlen(slash) >= pcap)
        return "has a path that is too long";
    for (const char *c = slash; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f)
            return "has a path with spaces or control bytes";
    strcpy(path, slash);
    return NULL;
}
