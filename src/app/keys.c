/* SPDX-License-Identifier: MIT
 *
 * The signing key set in the shell: the key-encryption key, DATA_DIR/keyset.json
 * (load, migrate from signing-key.pem, write durably), rotation (admin API,
 * keys.rotate_every), retirement on a timer, the JWKS and the admin views,
 * and the two hooks the cluster layer uses to share the set. Decisions
 * (which key signs, when one retires) are core/keyset.c's; this file applies
 * them. Runs on the loop thread only.
 *
 * Durability: every change of the set is written to keyset.json (temp file,
 * fsync, rename, fsync of the directory) before it takes effect in memory or
 * is acknowledged, so a restart never loses a key that signed a token. The
 * write is synchronous on the loop thread: a rotation is a rare admin action
 * and the file is a few kilobytes, so one fsync is cheaper than the state
 * machine an asynchronous write would need.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "app/app.h"
#include "app/cluster.h"
#include "store/store.h"
#include "core/error.h"
#include "core/keyset.h"
#include "util/file.h"
#include "util/log.h"

#define KEYSET_FILE "keyset.json"
#define LEGACY_PEM "signing-key.pem"
#define KEK_FILE_MAX 1024
#define TIMER_MAX_MS (60 * 1000) /* re-check at least this often (wall-clock jumps) */

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* Replace DATA_DIR/keyset.json with @data atomically and durably (util/file.c). */
static int write_durable(cf_app_t *app, const char *data, size_t len)
{
    char path[600];
    int rc;

    snprintf(path, sizeof path, "%s/" KEYSET_FILE, app->cfg.data_dir);
    rc = cf_file_replace(app->cfg.data_dir, path, data, len);
    if (rc < 0)
        CF_LOG(CF_LOG_ERROR, "event=keyset_write_error path=%s error=\"%s\"", path,
               rc == CF_EIO ? strerror(errno) : "path too long");
    return rc < 0 ? CF_EIO : 0;
}

/* Serialise @ks (encrypted when a KEK is configured) and write it durably. */
static int persist(cf_app_t *app, const cf_keyset_t *ks)
{
    char *json = NULL;
    size_t len;
    int rc = cf_keyset_to_json(ks, app->has_kek ? app->kek : NULL, &json);

    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=keyset_write_error error=\"%s\"", cf_strerror(rc));
        return rc;
    }
    len = strlen(json);
    rc = write_durable(app, json, len);
    OPENSSL_cleanse(json, len); /* private keys in clear when there is no KEK */
    free(json);
    return rc;
}

/*
 * Write @ks before it is used. On one node DATA_DIR/keyset.json is the store
 * of record: a set it could not write is not used (a token it signed would
 * not survive a restart). In a cluster Redis is, and the file only a copy
 * (a node loads the set from Redis at start): a copy that cannot be written
 * is logged (persist) but must not keep this node on a set the cluster has
 * left, where it would refuse its peers' tokens as unknown_key.
 */
static int persist_before_use(cf_app_t *app, const cf_keyset_t *ks)
{
    int rc = persist(app, ks);

    return rc == CF_EIO && app->cluster != NULL ? 0 : rc;
}

/* A message for the log: double quotes become single ones so the value stays one field. */
static const char *loggable(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '"' || *p == '\n')
            *p = '\'';
    return s;
}

/* ------------------------------------------------------------------ */
/* Start-up: KEK, key set, migration                                   */
/* ------------------------------------------------------------------ */

#define KEK_FORMS "32 bytes written as 64 hex digits, base64url or base64"

static int load_kek(cf_app_t *app)
{
    const char *env = getenv("CURFEW_KEK");
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (env != NULL && env[0] != '\0') {
        if (cf_keyset_kek_parse(env, strlen(env), app->kek) < 0) {
            CF_LOG(CF_LOG_ERROR, "event=startup_error what=kek source=CURFEW_KEK error=\"expected %s\"",
                   KEK_FORMS);
            return CF_ECONFIG;
        }
        app->has_kek = 1;
        if (app->cfg.kek_file[0] != '\0')
            CF_LOG(CF_LOG_INFO, "event=kek source=CURFEW_KEK ignored=%s", app->cfg.kek_file);
        return 0;
    }
    if (app->cfg.kek_file[0] == '\0')
        return 0;
    rc = cf_file_read_all(app->cfg.kek_file, KEK_FILE_MAX, &text, &len);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=kek source=keys.kek_file path=%s error=\"%s\"",
               app->cfg.kek_file, rc == CF_ETOOBIG ? "larger than 1 KiB" : strerror(errno));
        return CF_ECONFIG;
    }
    rc = cf_keyset_kek_parse(text, len, app->kek);
    OPENSSL_cleanse(text, len);
    free(text);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=kek source=keys.kek_file path=%s error=\"expected %s\"",
               app->cfg.kek_file, KEK_FORMS);
        return CF_ECONFIG;
    }
    app->has_kek = 1;
    return 0;
}

/* Read DATA_DIR/signing-key.pem (the single key of earlier versions). */
static int load_legacy_pem(const char *path, cf_jws_key_t **out, cf_time_t *mtime)
{
    char *pem = NULL;
    size_t len = 0;
    struct stat st;
    int rc = cf_file_read_all(path, 64 * 1024, &pem, &len);

    *out = NULL;
    if (rc < 0)
        return rc;
    rc = cf_jws_key_from_pem(pem, len, out);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (rc < 0 || !cf_jws_key_has_private(*out)) {
        cf_jws_key_free(*out);
        *out = NULL;
        return CF_ECRYPTO;
    }
    *mtime = stat(path, &st) == 0 ? (cf_time_t)st.st_mtime * CF_SEC : 0;
    return 0;
}

/* Remove the legacy PEM once keyset.json (durable) holds its key: no stray private key in clear. */
static void remove_legacy_pem(cf_app_t *app, const char *pem_path)
{
    if (unlink(pem_path) < 0 || cf_file_fsync_dir(app->cfg.data_dir) < 0)
        CF_LOG(CF_LOG_WARN, "event=signing_key_pem_not_removed path=%s error=\"%s\"", pem_path,
               strerror(errno));
}

cf_time_t cf_app_keys_keep_for(const cf_app_t *app)
{
    return app->cfg.access_max_ttl + app->cfg.clock_leeway;
}

static int load_existing(cf_app_t *app, const char *path, const char *pem_path, const char *json,
                         size_t len)
{
    char err[300];
    size_t nclear = 0;
    cf_jws_key_t *legacy = NULL;
    cf_time_t mtime;
    int rc = cf_keyset_from_json(json, len, app->has_kek ? app->kek : NULL, &app->keys, &nclear,
                                 err, sizeof err);

    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=keyset path=%s error=\"%s\"", path,
               loggable(err));
        return rc;
    }
    if (app->has_kek && nclear > 0) {
        /* Configuring a KEK on an existing data dir: encrypt what is on disk now. */
        rc = persist(app, app->keys);
        if (rc < 0)
            return rc;
        CF_LOG(CF_LOG_INFO, "event=keyset_encrypted keys=%zu", nclear);
    }
    /* A crash between writing keyset.json and removing the PEM leaves both. */
    if (load_legacy_pem(pem_path, &legacy, &mtime) == 0) {
        if (cf_keyset_find(app->keys, cf_jws_key_kid(legacy)) != NULL)
            remove_legacy_pem(app, pem_path);
        else
            CF_LOG(CF_LOG_WARN, "event=signing_key_pem_ignored path=%s why=\"keyset.json is used\"",
                   pem_path);
        cf_jws_key_free(legacy);
    }
    return 0;
}

int cf_app_keys_init(cf_app_t *app)
{
    char path[600], pem_path[600];
    char *json = NULL;
    size_t len = 0;
    cf_jws_key_t *k = NULL;
    cf_time_t now = cf_app_now(app), created = now;
    int rc, migrated = 0;

    rc = load_kek(app);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/" KEYSET_FILE, app->cfg.data_dir);
    snprintf(pem_path, sizeof pem_path, "%s/" LEGACY_PEM, app->cfg.data_dir);
    rc = cf_file_read_all(path, CF_KEYSET_MAX_JSON, &json, &len);
    if (rc == 0) {
        rc = load_existing(app, path, pem_path, json, len);
        OPENSSL_cleanse(json, len);
        free(json);
        if (rc < 0)
            return rc;
    } else if (rc != CF_ENOENT) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=keyset path=%s error=\"%s\"", path,
               rc == CF_ETOOBIG ? "larger than 256 KiB" : "unreadable");
        return rc;
    } else {
        /* No key set yet: migrate the single key of earlier versions, keeping
         * its kid so tokens it signed stay valid, or make a first key. */
        rc = load_legacy_pem(pem_path, &k, &created);
        if (rc == 0) {
            migrated = 1;
            if (created <= 0 || created > now)
                created = now;
        } else if (rc != CF_ENOENT) {
            CF_LOG(CF_LOG_ERROR, "event=startup_error what=signing_key path=%s error=\"%s\"",
                   pem_path, rc == CF_ECRYPTO ? "not an Ed25519 private key" : "unreadable");
            return rc;
        } else {
            rc = cf_jws_key_generate(&k);
            if (rc < 0)
                return rc;
        }
        rc = cf_keyset_new(k, created, &app->keys);
        if (rc < 0) {
            cf_jws_key_free(k);
            return rc;
        }
        rc = persist(app, app->keys);
        if (rc < 0)
            return rc;
        if (migrated) {
            remove_legacy_pem(app, pem_path);
            CF_LOG(CF_LOG_INFO, "event=signing_key_migrated kid=%s from=%s to=%s",
                   cf_jws_key_kid(cf_keyset_active(app->keys)), pem_path, path);
        } else {
            CF_LOG(CF_LOG_INFO, "event=signing_key_created kid=%s",
                   cf_jws_key_kid(cf_keyset_active(app->keys)));
        }
    }
    /* Keys whose time passed while the server was down retire now. */
    if (cf_keyset_retire(app->keys, now, cf_app_keys_keep_for(app)) > 0)
        (void)persist(app, app->keys); /* logged; the file is rewritten on the next change */
    CF_LOG(CF_LOG_INFO, "event=keyset_loaded kid=%s keys=%zu version=%llu encrypted=%s",
           cf_jws_key_kid(cf_keyset_active(app->keys)), cf_keyset_count(app->keys),
           (unsigned long long)cf_keyset_version(app->keys), app->has_kek ? "yes" : "no");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Changes: swap, rotate, retire, adopt                                */
/* ------------------------------------------------------------------ */

/*
 * The verification cache (token -> verdict on its signature) is checked
 * before the key set, so a cached token would keep verifying after its key
 * left the set. By construction that cannot matter: a key retires at
 * deactivated_at + access_token.max_ttl + clock_leeway, when every token it
 * signed is past exp + leeway and refused as token_expired anyway. But the
 * construction rests on the configuration the tokens were issued under (a
 * lowered max_ttl, a set adopted from another node), so whenever a key
 * leaves the set the cache is emptied too: one signature check per live
 * token afterwards, a few times a month.
 */
static void flush_token_cache(cf_app_t *app)
{
    cf_tokcache_clear(&app->token_cache);
}

/* 1 when a key verifying in @old is missing from @new. */
static int set_shrinks(const cf_keyset_t *old, const cf_keyset_t *new)
{
    for (size_t i = 0; i < cf_keyset_count(old); i++)
        if (cf_keyset_find(new, cf_jws_key_kid(cf_keyset_entry(old, i)->key)) == NULL)
            return 1;
    return 0;
}

/* Take ownership of @next (already durable) as the set in use. */
static void swap_in(cf_app_t *app, cf_keyset_t *next)
{
    cf_keyset_t *old = app->keys;

    if (old != NULL && set_shrinks(old, next))
        flush_token_cache(app);
    app->keys = next;
    cf_keyset_free(old);
}

static void arm_timer(cf_app_t *app);
static void on_keys_timer(uv_timer_t *t);

/* The set after a rotation at now (not yet in use); NULL with *rc set on failure. */
static cf_keyset_t *next_keyset(cf_app_t *app, const char *trigger, int *rc)
{
    cf_keyset_t *next = NULL;
    cf_jws_key_t *k = NULL;
    cf_time_t now = cf_app_now(app), since = cf_keyset_entry(app->keys, 0)->activated_at;

    if (now < since)
        now = since; /* the wall clock went back: never deactivate before activation */
    *rc = cf_jws_key_generate(&k);
    if (*rc == 0)
        *rc = cf_keyset_dup(app->keys, &next);
    if (*rc == 0) {
        (void)cf_keyset_retire(next, now, cf_app_keys_keep_for(app)); /* write no key that is already due */
        *rc = cf_keyset_rotate(next, k, now);
        k = NULL;
    }
    if (*rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=signing_key_rotate_error trigger=%s error=\"%s\"", trigger,
               cf_strerror(*rc));
        cf_jws_key_free(k);
        cf_keyset_free(next);
        return NULL;
    }
    return next;
}

/* Make @next (taken) the set in use: durable first, then swapped in and announced. */
static int install_rotation(cf_app_t *app, cf_keyset_t *next, const char *trigger)
{
    char previous[CF_JWS_KID_MAX + 1];
    char *json = NULL;
    int rc;

    snprintf(previous, sizeof previous, "%s", cf_jws_key_kid(cf_keyset_active(app->keys)));
    /* Durable first: a token signed by the new key must survive a restart. */
    rc = persist_before_use(app, next);
    if (rc < 0) {
        cf_keyset_free(next);
        return rc;
    }
    swap_in(app, next);
    CF_LOG(CF_LOG_INFO, "event=signing_key_rotated trigger=%s kid=%s previous=%s version=%llu keys=%zu",
           trigger, cf_jws_key_kid(cf_keyset_active(app->keys)), previous,
           (unsigned long long)cf_keyset_version(app->keys), cf_keyset_count(app->keys));
    {
        /* Counted and audited from the stream; no secret in it, only key ids. */
        cf_event_t e = {.type = CF_EV_KEY_ROTATED, .at = cf_app_now(app),
                        .name = cf_jws_key_kid(cf_keyset_active(app->keys)), .key = previous,
                        .detail = trigger, .count = cf_keyset_version(app->keys)};
        cf_app_emit(app, &e);
    }
    if (app->keyset_hook != NULL && cf_app_keyset_export(app, &json) == 0) {
        app->keyset_hook(app, json, app->keyset_hook_arg);
        OPENSSL_cleanse(json, strlen(json));
        free(json);
    }
    arm_timer(app);
    return 0;
}

int cf_app_keys_rotate(cf_app_t *app, const char *trigger)
{
    int rc;
    cf_keyset_t *next = next_keyset(app, trigger, &rc);

    return next != NULL ? install_rotation(app, next, trigger) : rc;
}

/* ---- a cluster shares one key set through Redis ---- */

static int adopt(cf_app_t *app, const char *json, size_t len, int force);

typedef struct {
    cf_app_t *app;
    cf_keyset_t *next;
    const char *trigger;
    cf_keys_done_fn done;
    void *arg;
} cluster_rotation_t;

/*
 * A failed fetch (the command link was down when the announcement came over
 * the subscription) is asked again with each heartbeat until one succeeds:
 * a node left on the old set refuses its peers' tokens as unknown_key.
 */
static void on_keyset_fetched(void *arg, int status, const char *val, size_t len)
{
    cf_app_t *app = arg;

    if (app->cluster != NULL)
        app->cluster->keyset_refetch = status < 0;
    if (status == 0 && val != NULL)
        (void)adopt(app, val, len, 0);
}

static void on_rotation_stored(void *arg, int status, int won)
{
    cluster_rotation_t *r = arg;
    int rc = 0;

    if (status < 0) {
        cf_keyset_free(r->next);
        rc = CF_ESTORE;
    } else if (!won) {
        /* Another node rotated first: its set is the cluster's; follow it. */
        CF_LOG(CF_LOG_INFO, "event=signing_key_rotate_lost trigger=%s", r->trigger);
        cf_keyset_free(r->next);
        cf_store_keyset_get(r->app->store, on_keyset_fetched, r->app);
        rc = CF_EEXIST;
    } else {
        rc = install_rotation(r->app, r->next, r->trigger);
    }
    if (r->done != NULL)
        r->done(r->app, rc, r->arg);
    free(r);
}

void cf_app_keys_rotate_async(cf_app_t *app, const char *trigger, cf_keys_done_fn done, void *arg)
{
    cluster_rotation_t *r;
    char *json = NULL;
    int rc;

    if (app->cluster == NULL) {
        rc = cf_app_keys_rotate(app, trigger);
        /* The disk refused the new set and the current key stays active:
         * a store failure like any refused commit (503, a retry is safe). */
        if (rc == CF_EIO)
            rc = CF_ESTORE;
        if (done != NULL)
            done(app, rc, arg);
        return;
    }
    /* Redis decides which rotation the cluster keeps before this node signs with it. */
    r = calloc(1, sizeof *r);
    if (r == NULL || (r->next = next_keyset(app, trigger, &rc)) == NULL ||
        (rc = cf_keyset_to_json(r->next, app->kek, &json)) < 0) {
        if (r != NULL)
            cf_keyset_free(r->next);
        free(r);
        if (done != NULL)
            done(app, r == NULL ? CF_ENOMEM : rc, arg);
        return;
    }
    r->app = app;
    r->trigger = trigger;
    r->done = done;
    r->arg = arg;
    cf_store_keyset_put(app->store, json, cf_keyset_version(r->next), on_rotation_stored, r);
    OPENSSL_cleanse(json, strlen(json));
    free(json);
}

void cf_app_keys_changed(cf_app_t *app)
{
    if (app->cluster != NULL)
        cf_store_keyset_get(app->store, on_keyset_fetched, app);
}

int cf_app_keys_cluster_init(cf_app_t *app)
{
    char *json = NULL, *ours = NULL;
    int rc;

    if (!app->has_kek) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=keyset error=\"a cluster shares its signing "
                             "keys through Redis, sealed with a key-encryption key: set CURFEW_KEK "
                             "or keys.kek_file (the same on every node)\"");
        return CF_ECONFIG;
    }
    rc = cf_store_keyset_get_sync(app->store, &json);
    if (rc == 0) {
        /* The first node of a cluster offers its own set; a racing node may win. */
        rc = cf_app_keyset_export(app, &ours);
        if (rc == 0)
            rc = cf_store_keyset_offer_sync(app->store, ours);
        if (ours != NULL)
            OPENSSL_cleanse(ours, strlen(ours));
        free(ours);
        if (rc == 1) {
            CF_LOG(CF_LOG_INFO, "event=keyset_shared kid=%s version=%llu",
                   cf_jws_key_kid(cf_keyset_active(app->keys)),
                   (unsigned long long)cf_keyset_version(app->keys));
            return 0;
        }
        if (rc == 0)
            rc = cf_store_keyset_get_sync(app->store, &json);
    }
    if (rc < 0 || json == NULL) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=keyset error=\"cannot read the cluster's key set from Redis\"");
        free(json);
        return rc < 0 ? rc : CF_ESTORE;
    }
    /* The cluster's set wins over whatever this node had on disk. */
    rc = adopt(app, json, strlen(json), 1);
    OPENSSL_cleanse(json, strlen(json));
    free(json);
    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=keyset error=\"the key set in Redis cannot be "
                             "read with this node's key-encryption key (is CURFEW_KEK the same on "
                             "every node?)\"");
        return rc;
    }
    return 0;
}

static void retire_due(cf_app_t *app, cf_time_t now)
{
    size_t n = cf_keyset_retire(app->keys, now, cf_app_keys_keep_for(app));

    if (n == 0)
        return;
    flush_token_cache(app);
    CF_LOG(CF_LOG_INFO, "event=signing_keys_retired count=%zu keys=%zu", n,
           cf_keyset_count(app->keys));
    /* Retirement follows from the clock alone, so it applies even if the
     * write fails; a restart would retire the same keys again on load. */
    (void)persist(app, app->keys);
}

static void on_scheduled_rotation(cf_app_t *app, int rc, void *arg)
{
    (void)arg;
    if (!app->keys_timer_on)
        return;
    /*
     * Failed (logged): try again in a minute rather than spin on a full disk.
     * Lost to another node (CF_EEXIST): the winner's set is on its way and
     * re-arms the timer when adopted; until then this node's own set still
     * says "due", so re-arming now would only lose again, in a loop.
     */
    if (rc < 0) {
        uv_timer_start(&app->keys_timer, on_keys_timer, TIMER_MAX_MS, 0);
        return;
    }
    arm_timer(app);
}

static void on_keys_timer(uv_timer_t *t)
{
    cf_app_t *app = t->data;
    cf_time_t now = cf_app_now(app);

    if (cf_keyset_rotation_due(app->keys, now, app->cfg.key_rotate_every)) {
        retire_due(app, now);
        /* In a cluster every node's timer fires at the same due time (it
         * follows from the shared set): Redis keeps one rotation. */
        cf_app_keys_rotate_async(app, "schedule", on_scheduled_rotation, NULL);
        return;
    }
    retire_due(app, now);
    arm_timer(app);
}

static void arm_timer(cf_app_t *app)
{
    cf_time_t next, now, delay;

    if (!app->keys_timer_on)
        return;
    next = cf_keyset_next_change(app->keys, cf_app_keys_keep_for(app), app->cfg.key_rotate_every);
    if (next == CF_KEYSET_NEVER) {
        uv_timer_stop(&app->keys_timer);
        return;
    }
    now = cf_app_now(app);
    delay = next > now ? next - now : 0;
    if (delay > TIMER_MAX_MS)
        delay = TIMER_MAX_MS;
    uv_timer_start(&app->keys_timer, on_keys_timer, (uint64_t)delay, 0);
}

void cf_app_keys_start(cf_app_t *app)
{
    uv_timer_init(app->loop, &app->keys_timer);
    app->keys_timer.data = app;
    app->keys_timer_on = 1;
    arm_timer(app);
}

void cf_app_keys_stop(cf_app_t *app)
{
    if (!app->keys_timer_on)
        return;
    app->keys_timer_on = 0;
    uv_close((uv_handle_t *)&app->keys_timer, NULL);
}

void cf_app_keys_fini(cf_app_t *app)
{
    cf_keyset_free(app->keys);
    app->keys = NULL;
    OPENSSL_cleanse(app->kek, sizeof app->kek);
    app->has_kek = 0;
}

const cf_jws_key_t *cf_app_signing_key(const cf_app_t *app)
{
    return cf_keyset_active(app->keys);
}

/* ------------------------------------------------------------------ */
/* Cluster hooks (app.h)                                               */
/* ------------------------------------------------------------------ */

int cf_app_keyset_export(cf_app_t *app, char **json)
{
    *json = NULL;
    return cf_keyset_to_json(app->keys, app->has_kek ? app->kek : NULL, json);
}

int cf_app_keyset_adopt(cf_app_t *app, const char *json, size_t len)
{
    return adopt(app, json, len, 0);
}

static int adopt(cf_app_t *app, const char *json, size_t len, int force)
{
    cf_keyset_t *next = NULL;
    char err[300];
    uint64_t have = cf_keyset_version(app->keys);
    int rc = cf_keyset_from_json(json, len, app->has_kek ? app->kek : NULL, &next, NULL, err,
                                 sizeof err);

    if (rc < 0) {
        CF_LOG(CF_LOG_ERROR, "event=keyset_adopt_error error=\"%s\"", loggable(err));
        return rc;
    }
    if (!force && cf_keyset_version(next) <= have) {
        if (cf_keyset_version(next) == have &&
            strcmp(cf_jws_key_kid(cf_keyset_active(next)), cf_jws_key_kid(cf_keyset_active(app->keys))) != 0)
            CF_LOG(CF_LOG_WARN, "event=keyset_conflict version=%llu ours=%s theirs=%s",
                   (unsigned long long)have, cf_jws_key_kid(cf_keyset_active(app->keys)),
                   cf_jws_key_kid(cf_keyset_active(next)));
        cf_keyset_free(next);
        return 0;
    }
    (void)cf_keyset_retire(next, cf_app_now(app), cf_app_keys_keep_for(app));
    rc = persist_before_use(app, next);
    if (rc < 0) {
        cf_keyset_free(next);
        return rc;
    }
    swap_in(app, next);
    CF_LOG(CF_LOG_INFO, "event=keyset_adopted kid=%s version=%llu keys=%zu",
           cf_jws_key_kid(cf_keyset_active(app->keys)),
           (unsigned long long)cf_keyset_version(app->keys), cf_keyset_count(app->keys));
    arm_timer(app);
    return 1;
}

void cf_app_keyset_set_hook(cf_app_t *app, cf_app_keyset_hook_fn fn, void *arg)
{
    app->keyset_hook = fn;
    app->keyset_hook_arg = arg;
}
