/* SPDX-License-Identifier: MIT
 *
 * What API keys look like from outside: the admin JSON view of one key and
 * the key gauges for /metrics. Read-only over app/apikeys.c's table.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"

static json_t *csv_array(const char *s, char sep)
{
    json_t *a = json_array();

    while (a != NULL && *s != '\0') {
        size_t n = strcspn(s, sep == ',' ? "," : " ");
        if (n > 0)
            json_array_append_new(a, json_stringn(s, n));
        s += n + (s[n] != '\0');
    }
    return a;
}

static json_t *time_or_null(cf_time_t t)
{
    return t > 0 ? json_integer(cf_time_to_sec(t)) : json_null();
}

json_t *cf_app_apikey_json(cf_app_t *app, const cf_apikey_t *k, cf_time_t now)
{
    cf_apikey_end_t end = cf_apikey_end_at(k, now, NULL);
    json_t *o = json_object(), *nets = json_array();
    char buf[CF_APIKEY_NETS_MAX * 52];

    (void)app;
    if (o == NULL || nets == NULL) {
        json_decref(o);
        json_decref(nets);
        return NULL;
    }
    for (size_t i = 0; i < k->nnets; i++) {
        char ip[CF_IP_STRLEN];
        cf_ip_format(&k->nets[i].net, ip);
        snprintf(buf, sizeof buf, "%s/%d", ip, k->nets[i].bits);
        json_array_append_new(nets, json_string(buf));
    }
    snprintf(buf, sizeof buf, CF_APIKEY_PREFIX "%s_", k->id);
    json_object_set_new(o, "id", json_string(k->id));
    json_object_set_new(o, "prefix", json_string(buf));
    json_object_set_new(o, "sub", json_string(k->sub));
    json_object_set_new(o, "name", json_string(k->name));
    json_object_set_new(o, "client_id", k->client_id[0] ? json_string(k->client_id) : json_null());
    json_object_set_new(o, "roles", csv_array(k->roles, ','));
    json_object_set_new(o, "scope", json_string(k->scope));
    json_object_set_new(o, "networks", nets);
    json_object_set_new(o, "created_at", json_integer(cf_time_to_sec(k->created_at)));
    json_object_set_new(o, "expires_at", time_or_null(k->expires_at));
    json_object_set_new(o, "expires_in", k->expires_at > 0 && end == CF_APIKEY_END_NONE
                                             ? json_integer((k->expires_at - now) / CF_SEC)
                                             : json_null());
    json_object_set_new(o, "idle_expiry", k->idle_expiry > 0 ? json_integer(k->idle_expiry / CF_SEC)
                                                             : json_null());
    json_object_set_new(o, "last_used", time_or_null(k->last_used));
    json_object_set_new(o, "overlap_until", time_or_null(k->overlap_until));
    json_object_set_new(o, "successor", k->successor[0] ? json_string(k->successor) : json_null());
    json_object_set_new(o, "predecessor", k->predecessor[0] ? json_string(k->predecessor) : json_null());
    json_object_set_new(o, "quota_per_day", k->quota_day > 0 ? json_integer(k->quota_day) : json_null());
    json_object_set_new(o, "quota_per_month", k->quota_month > 0 ? json_integer(k->quota_month) : json_null());
    json_object_set_new(o, "used_today", json_integer(k->usage.day_start == cf_apikey_day_start(now)
                                                          ? k->usage.day_used : 0));
    json_object_set_new(o, "state", json_string(end == CF_APIKEY_END_NONE
                                                    ? (k->overlap_until > 0 ? "rotating" : "active")
                                                    : "ended"));
    json_object_set_new(o, "end_reason", end == CF_APIKEY_END_NONE ? json_null()
                                                                   : json_string(cf_apikey_end_name(end)));
    json_object_set_new(o, "ended_at", end != CF_APIKEY_END_NONE ? time_or_null(cf_apikey_ended_at(k, now))
                                                                 : json_null());
    return o;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

#define EXPIRING_SOON (7 * CF_DAY)

void cf_app_apikeys_render(cf_app_t *app, cf_prom_t *p)
{
    static const char *const live[] = {"active", "rotating"};
    uint64_t by[2 + CF_APIKEY_END__COUNT] = {0}, soon = 0;
    cf_time_t now = cf_app_now(app);
    cf_apikey_rec_t *r;
    cf_apikey_t view, *k = &view;
    size_t pos = 0;

    /* O(keys) at scrape time, as the session gauges. */
    while ((r = cf_app_apikey_next(app, &pos)) != NULL) {
        cf_apikey_end_t end;
        cf_app_apikey_view(app, r, k);
        end = cf_apikey_end_at(k, now, NULL);
        if (end != CF_APIKEY_END_NONE) {
            by[2 + end]++;
            continue;
        }
        by[k->overlap_until > 0]++;
        soon += k->expires_at > 0 && k->expires_at - now <= EXPIRING_SOON;
    }
    cf_prom_family(p, "curfew_apikeys", "gauge",
                   "API keys held, by state: active, rotating (in a rotation's overlap), or "
                   "the end reason of an ended key still kept.");
    for (int i = 0; i < 2; i++)
        cf_prom_u64(p, "curfew_apikeys", (const char *const[]){"state", live[i], NULL}, by[i]);
    for (int e = 1; e < CF_APIKEY_END__COUNT; e++)
        cf_prom_u64(p, "curfew_apikeys",
                    (const char *const[]){"state", cf_apikey_end_name((cf_apikey_end_t)e), NULL},
                    by[2 + e]);
    cf_prom_family(p, "curfew_apikeys_expiring_soon", "gauge",
                   "Live API keys that expire within 7 days (rotate them).");
    cf_prom_u64(p, "curfew_apikeys_expiring_soon", NULL, soon);
}
