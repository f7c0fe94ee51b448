/* SPDX-License-Identifier: MIT */
#include "core/event.h"

#include <stdlib.h>
#include <string.h>

static const char *const event_names[] = {
#define X(name, str, flags) str,
    CF_EVENT_MAP(X)
#undef X
};

static const unsigned event_flags[] = {
#define X(name, str, flags) flags,
    CF_EVENT_MAP(X)
#undef X
};

static const char *const scope_names[] = {
#define X(name, str) str,
    CF_REVOKE_SCOPE_MAP(X)
#undef X
};

static const char *const refresh_names[] = {
#define X(name, str) str,
    CF_REFRESH_RESULT_MAP(X)
#undef X
};

const char *cf_revoke_scope_name(cf_revoke_scope_t s)
{
    return (unsigned)s < CF_REVOKE__COUNT ? scope_names[s] : "unknown";
}

const char *cf_refresh_result_name(cf_refresh_result_t r)
{
    return (unsigned)r < CF_REFRESH_RESULT__COUNT ? refresh_names[r] : "unknown";
}

const char *cf_event_name(cf_event_type_t t)
{
    return (unsigned)t < CF_EV__COUNT ? event_names[t] : "unknown";
}

unsigned cf_event_flags(cf_event_type_t t)
{
    return (unsigned)t < CF_EV__COUNT ? event_flags[t] : 0;
}

/*
 * One allocation for the record and its seven strings (cf_session_copy): a
 * revocation or a purge slice snapshots hundreds of sessions per turn, and
 * seven small mallocs (and frees) each were most of that turn at a million
 * sessions. A snapshot carries no risk policy (the index record's, applied
 * by the shell) and an auth_time of its creation when it had none.
 */
cf_session_t *cf_session_snapshot(const cf_session_t *s)
{
    cf_session_t *c = cf_session_copy(s);

    if (c == NULL)
        return NULL;
    c->ip_binding = c->on_ip_change = c->on_device_change = 0;
    if (cf_session_auth_time(s) <= 0)
        cf_session_set_time(c, CF_T_AUTH, s->created_at);
    return c;
}

cf_event_t *cf_events_add(cf_events_t *ev, cf_event_type_t type, cf_time_t at,
                          const cf_session_t *s)
{
    cf_event_t *e;

    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 4;
        cf_event_t *v = realloc(ev->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        ev->v = v;
        ev->cap = cap;
    }
    e = &ev->v[ev->n];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->at = at;
    if (s != NULL) {
        e->session = cf_session_snapshot(s);
        if (e->session == NULL)
            return NULL;
        memcpy(e->sid, s->id, sizeof e->sid);
    }
    ev->n++;
    return e;
}

cf_event_t *cf_events_add_apikey(cf_events_t *ev, cf_event_type_t type, cf_time_t at,
                                 const cf_apikey_t *k)
{
    cf_apikey_t *snap = cf_apikey_copy(k);
    cf_event_t *e;

    if (snap == NULL)
        return NULL;
    e = cf_events_add(ev, type, at, NULL);
    if (e == NULL) {
        cf_apikey_free(snap);
        return NULL;
    }
    e->apikey = snap;
    return e;
}

void cf_events_fini(cf_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        cf_session_free(ev->v[i].session);
        cf_apikey_free(ev->v[i].apikey);
        free(ev->v[i].sub);
    }
    free(ev->v);
    ev->v = NULL;
    ev->n = ev->cap = 0;
}
