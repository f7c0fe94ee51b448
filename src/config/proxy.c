/* SPDX-License-Identifier: MIT
 *
 * The proxy's sections of the one option table: proxy.listeners[],
 * proxy.upstreams.NAME and proxy.routes[] (rows in options.c). Here: the
 * shape of each level, the defaults of one element, the rules across the
 * fields of one element and between the sections (a route names a defined
 * upstream), and who owns what (copy, free). Decides nothing at run time.
 */
#include <stdlib.h>
#include <string.h>

#include "config/sections.h"
#include "core/duration.h"
#include "core/error.h"

/* ---- free and copy ------------------------------------------------------ */

static void listeners_free(cf_proxy_listener_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].listen);
    free(v);
}

static void upstreams_free(cf_proxy_upstream_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].address);
    }
    free(v);
}

static void routes_free(cf_proxy_route_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].host);
        free(v[i].path_prefix);
        free(v[i].upstream);
    }
    free(v);
}

void cf__config_proxy_fini(cf_config_t *cfg)
{
    listeners_free(cfg->proxy_listeners, cfg->nproxy_listeners);
    upstreams_free(cfg->proxy_upstreams, cfg->nproxy_upstreams);
    routes_free(cfg->proxy_routes, cfg->nproxy_routes);
    cfg->proxy_listeners = NULL;
    cfg->proxy_upstreams = NULL;
    cfg->proxy_routes = NULL;
    cfg->nproxy_listeners = cfg->nproxy_upstreams = cfg->nproxy_routes = 0;
}

/* strdup that keeps NULL; sets *oom on failure. */
static char *dup_or_null(const char *s, int *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

int cf__config_proxy_copy(cf_config_t *dst, const cf_config_t *src)
{
    int oom = 0;

    dst->proxy_listeners = NULL;
    dst->proxy_upstreams = NULL;
    dst->proxy_routes = NULL;
    dst->nproxy_listeners = dst->nproxy_upstreams = dst->nproxy_routes = 0;
    if (src->nproxy_listeners > 0) {
        dst->proxy_listeners = calloc(src->nproxy_listeners, sizeof *dst->proxy_listeners);
        if (dst->proxy_listeners == NULL)
            return CF_ENOMEM;
        dst->nproxy_listeners = src->nproxy_listeners;
        for (size_t i = 0; i < src->nproxy_listeners; i++) {
            dst->proxy_listeners[i] = src->proxy_listeners[i];
            dst->proxy_listeners[i].listen = dup_or_null(src->proxy_listeners[i].listen, &oom);
        }
    }
    if (src->nproxy_upstreams > 0) {
        dst->proxy_upstreams = calloc(src->nproxy_upstreams, sizeof *dst->proxy_upstreams);
        if (dst->proxy_upstreams == NULL)
            return CF_ENOMEM;
        dst->nproxy_upstreams = src->nproxy_upstreams;
        for (size_t i = 0; i < src->nproxy_upstreams; i++) {
            dst->proxy_upstreams[i] = src->proxy_upstreams[i];
            dst->proxy_upstreams[i].name = dup_or_null(src->proxy_upstreams[i].name, &oom);
            dst->proxy_upstreams[i].address = dup_or_null(src->proxy_upstreams[i].address, &oom);
        }
    }
    if (src->nproxy_routes > 0) {
        dst->proxy_routes = calloc(src->nproxy_routes, sizeof *dst->proxy_routes);
        if (dst->proxy_routes == NULL)
            return CF_ENOMEM;
        dst->nproxy_routes = src->nproxy_routes;
        for (size_t i = 0; i < src->nproxy_routes; i++) {
            const cf_proxy_route_t *r = &src->proxy_routes[i];
            dst->proxy_routes[i] = *r;
            dst->proxy_routes[i].host = dup_or_null(r->host, &oom);
            dst->proxy_routes[i].path_prefix = dup_or_null(r->path_prefix, &oom);
            dst->proxy_routes[i].upstream = dup_or_null(r->upstream, &oom);
        }
    }
    return oom ? CF_ENOMEM : 0;
}

/* ---- the levels ----------------------------------------------------------- */

static void upstream_init(void *obj)
{
    cf_proxy_upstream_t *u = obj;

    u->pool = 32;
    u->connect_timeout = 5 * CF_SEC;
    u->read_timeout = 60 * CF_SEC;
}

static int listener_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_proxy_listener_t *all = items, *l = it->obj;

    if (l->listen == NULL)
        return cf__config_fail_at(ld, it->at, "%s: listen is required", it->where);
    for (size_t j = 0; j < i; j++)
        if (strcmp(all[j].listen, l->listen) == 0)
            return cf__config_fail_at(ld, it->at, "%s: duplicate listen '%s' (first on line %d)",
                                      it->where, l->listen, all[j].line);
    return 0;
}

static int upstream_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_proxy_upstream_t *u = it->obj;

    (void)items;
    (void)i;
    if (u->address == NULL)
        return cf__config_fail_at(ld, it->at, "%s: address is required", it->where);
    return 0;
}

static int route_check(loader_t *ld, cf__item_t *it, const void *items, size_t i)
{
    const cf_proxy_route_t *r = it->obj;

    (void)items;
    (void)i;
    if (r->upstream == NULL)
        return cf__config_fail_at(ld, it->at, "%s: upstream is required", it->where);
    return 0;
}

#define PART(part, type, field)                                                                \
    static void part##_install(cf_config_t *cfg, void *items, size_t n)                        \
    {                                                                                           \
        part##_free(cfg->field, cfg->n##field);                                                 \
        cfg->field = items;                                                                     \
        cfg->n##field = n;                                                                      \
    }                                                                                           \
    static void part##_discard(void *items, size_t n)                                           \
    {                                                                                           \
        part##_free(items, n);                                                                  \
    }                                                                                           \
    static const void *part##_get(const cf_config_t *cfg, size_t *n)                            \
    {                                                                                           \
        *n = cfg->n##field;                                                                     \
        return cfg->field;                                                                      \
    }

PART(listeners, cf_proxy_listener_t, proxy_listeners)
PART(upstreams, cf_proxy_upstream_t, proxy_upstreams)
PART(routes, cf_proxy_route_t, proxy_routes)

static const char *upstream_name_ok(const char *s, size_t n)
{
    return cf__config_name_ok(s, n);
}

static const cf__level_t levels[] = {
    {.id = LVL_PLISTEN, .name = "proxy.listeners", .doc_prefix = "proxy.listeners[].",
     .expect = "a list", .size = sizeof(cf_proxy_listener_t),
     .line_off = offsetof(cf_proxy_listener_t, line), .max = 16, .empty = " []",
     .check = listener_check, .install = listeners_install, .discard = listeners_discard,
     .get = listeners_get},
    {.id = LVL_UPSTREAM, .name = "proxy.upstreams", .doc_prefix = "proxy.upstreams.NAME.",
     .expect = "a mapping of upstream names", .named = 1, .name_what = "an upstream name",
     .name_ok = upstream_name_ok, .size = sizeof(cf_proxy_upstream_t),
     .name_off = offsetof(cf_proxy_upstream_t, name), .line_off = offsetof(cf_proxy_upstream_t, line),
     .max = 256, .empty = " {}", .init = upstream_init, .check = upstream_check,
     .install = upstreams_install, .discard = upstreams_discard, .get = upstreams_get},
    {.id = LVL_PROUTE, .name = "proxy.routes", .doc_prefix = "proxy.routes[].", .expect = "a list",
     .size = sizeof(cf_proxy_route_t), .line_off = offsetof(cf_proxy_route_t, line), .max = 1024,
     .empty = " []", .check = route_check, .install = routes_install, .discard = routes_discard,
     .get = routes_get},
};

const cf__level_t *cf__config_proxy_level(level_id_t id)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].id == id)
            return &levels[i];
    return NULL;
}

int cf__config_check_proxy(loader_t *ld)
{
    const cf_config_t *c = ld->cfg;

    for (size_t i = 0; i < c->nproxy_routes; i++) {
        const cf_proxy_route_t *r = &c->proxy_routes[i];
        size_t j = 0;

        while (j < c->nproxy_upstreams && strcmp(c->proxy_upstreams[j].name, r->upstream) != 0)
            j++;
        if (j == c->nproxy_upstreams) {
            cf__config_say(ld->err, ld->errlen,
                           "%s:%d: proxy.routes[%zu].upstream: '%s' is not defined under "
                           "proxy.upstreams",
                           ld->name, r->line, i, r->upstream);
            return CF_ECONFIG;
        }
    }
    if (c->nproxy_listeners > 0 && c->nproxy_routes == 0) {
        cf__config_say(ld->err, ld->errlen,
                       "%s:%d: proxy.listeners: the proxy needs at least one proxy.routes entry",
                       ld->name, c->proxy_listeners[0].line);
        return CF_ECONFIG;
    }
    return 0;
}
