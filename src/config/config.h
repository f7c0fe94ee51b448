/* SPDX-License-Identifier: MIT
 *
 * The server's configuration: one YAML file read into one plain struct.
 * Every option, at the root and in each element of clients, roles, routes
 * and alerts.rules, is a row in a single static table in options.c (level,
 * key path, type, default, place in the level's struct, one sentence of
 * docs), and defaults, file
 * parsing, command-line overrides, the effective-config dump and the
 * markdown reference are all generated from that table, so they cannot drift.
 * This module decides whether a configuration is well-formed and consistent;
 * it must never half-apply a file: on any error the caller's struct is left
 * exactly as it was, and the message names the file, the line and the key.
 */
#ifndef CF_CONFIG_CONFIG_H
#define CF_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/alert.h"
#include "core/clock.h"
#include "core/policy.h"

#define CF_CONFIG_ALERT_RULES_MAX 32

/** Most rows the option table may have (cf_config_t.set_line). */
#define CF_CONFIG_OPTIONS_MAX 112

/** cf_config_t.set_line of an option set on the command line. */
#define CF_CONFIG_LINE_CLI UINT32_MAX

/** Most defaults that can yield to explicit values in one load (cf_config_t.notes). */
#define CF_CONFIG_NOTES_MAX 4

/** Largest config file cf_config_load() reads. */
#define CF_CONFIG_MAX_FILE (1024 * 1024)

/* Keys a rate limit counts by (cf_rate_cfg_t.keys bits). */
#define CF_RLKEY_IP 1u
#define CF_RLKEY_SUB 2u
#define CF_RLKEY_CLIENT_ID 4u
#define CF_RLKEY_SESSION 8u
#define CF_RLKEY_API_KEY 16u

/* proxy.upstreams.NAME: where proxied requests go (config/proxy.c). */
typedef struct {
    char *name;              /* the mapping key */
    char *address;           /* address: HOST:PORT, an IP literal (required) */
    uint32_t pool;           /* pool: idle keep-alive connections kept (1..1000) */
    cf_time_t connect_timeout; /* connect_timeout (0: the default) */
    cf_time_t read_timeout;    /* read_timeout: between bytes of a response (0: the default) */
    int line;
} cf_proxy_upstream_t;

/* What counts as activity on a proxied tunnel (proxy.routes[].activity). */
typedef enum { CF_PROXY_ACT_CLIENT, CF_PROXY_ACT_ANY, CF_PROXY_ACT_NONE } cf_proxy_activity_t;

/* proxy.routes[]: host and path prefix to an upstream, first match wins. */
typedef struct {
    char *host;              /* host: NULL = any */
    char *path_prefix;       /* path_prefix: NULL = "/" (in normal form, core/path.h) */
    cf_path_kind_t path_kind; /* CF_PATH_PREFIX with path_prefix */
    char *upstream;          /* upstream: a name under proxy.upstreams (required) */
    int strip_authorization; /* authorization: forward (0) | strip (1) */
    int cut_on_token_expiry; /* cut_on_token_expiry */
    int activity;            /* activity: cf_proxy_activity_t */
    int line;
} cf_proxy_route_t;

/* proxy.listeners[]: where the enforcing proxy accepts clients. */
typedef struct {
    char *listen; /* listen: HOST:PORT (required) */
    int line;
} cf_proxy_listener_t;

/** One rate-limit class: @count requests per @period, bursts of @burst. */
typedef struct {
    int enabled;      /* 0 = unlimited (rate: off, the default) */
    int64_t count;    /* N of "N/DURATION" */
    cf_time_t period; /* DURATION of "N/DURATION" */
    int64_t burst;    /* >= 1 */
    unsigned keys;    /* CF_RLKEY_* bits */
} cf_rate_cfg_t;

/**
 * Effective configuration. The YAML spelling of each field is in the comment;
 * see docs/configuration.md (made by cf_config_doc()) for defaults and
 * meaning.
 *
 * Ownership: the policy (clients, roles, routes) and the string lists
 * (char ** with a count) are heap memory owned by the struct. A plain struct
 * copy therefore shares them: the copy borrows, and only one of the two may
 * be passed to cf_config_fini(). Use cf_config_copy() for an independent
 * copy.
 */
typedef struct {
    char listen_host[64];                     /* listen: "127.0.0.1:7070" (host stored unbracketed) */
    int listen_port;
    char tls_cert[512], tls_key[512], tls_client_ca[512]; /* tls.* ("" = plain HTTP) */
    char tls_min_version[8];                  /* tls.min_version: 1.2|1.3 */
    char tls_client_certs[16];                /* tls.client_certs: off|optional|required */
    char mtls_client_ca[512];                 /* mtls.client_ca: forwarded certificates' CAs */
    char issuer[256];                         /* issuer */
    char audience[128];                       /* audience */
    char data_dir[512];                       /* data_dir */
    cf_time_t access_ttl, access_max_ttl;     /* access_token.{ttl,max_ttl} */
    cf_time_t idle_timeout, absolute_timeout; /* session.{idle_timeout,absolute_timeout} */
    cf_time_t reuse_grace;                    /* refresh_token.reuse_grace */
    cf_time_t dpop_window;                    /* dpop.window */
    size_t dpop_replay_cache;                 /* dpop.replay_cache */
    int dpop_nonce;                           /* dpop.nonce */
    int64_t verify_threads;                   /* verify_threads: -1 = auto (the CPUs) */
    cf_time_t clock_leeway;                   /* clock_leeway */
    cf_time_t clock_step_hold;                /* clock_step_hold */
    /* server limits */
    size_t max_connections;                   /* limits.max_connections */
    cf_time_t client_timeout;                 /* limits.client_timeout (idle keep-alive, slow request) */
    size_t max_header_bytes, max_body_bytes;  /* limits.{max_header_bytes,max_body_bytes} */
    /* store */
    char store_url[600];                      /* store.url: "sqlite" or redis://... */
    cf_time_t max_staleness;                  /* cluster.max_staleness */
    cf_time_t check_cache_max_age;            /* check.cache_max_age (0 = off) */
    char on_partition[16];                    /* cluster.on_partition: refuse|revalidate */
    cf_time_t activity_flush;                 /* store.activity_flush */
    cf_time_t purge_interval;                 /* store.purge_interval */
    cf_time_t purge_after;                    /* store.purge_after */
    char log_level[16];                       /* log_level: debug|info|warn|error */

    /* policy: clients:, roles:, routes:, and risk.{ip_binding,on_ip_change,on_device_change} */
    cf_policy_t policy;
    /* risk extras */
    char **trusted_proxies;                   /* risk.trusted_proxies: CIDR strings, validated */
    size_t ntrusted;
    char device_header[64];                   /* risk.device_header ("" = not set) */
    char **device_headers;                    /* risk.device_headers */
    size_t ndevice_headers;
    /* rate_limits.* */
    cf_rate_cfg_t rl_refresh, rl_session_create, rl_check_failures, rl_client_credentials;
    size_t rl_max_keys;                       /* rate_limits.max_keys */
    /* lockout.* */
    int lockout_enabled;                      /* derived: lockout.max_failures > 0 */
    int64_t lockout_max_failures;
    cf_time_t lockout_window, lockout_duration;
    /* cookie.* */
    char access_cookie[64], refresh_cookie[64];
    char **allowed_origins;                   /* cookie.allowed_origins */
    size_t nallowed_origins;
    char csrf_header[64];
    /* cors.* */
    char **cors_origins;                      /* cors.allowed_origins (canonical, origin_why) */
    size_t ncors_origins;
    int cors_credentials;                     /* cors.allow_credentials */
    cf_time_t cors_max_age;                   /* cors.max_age (preflight answers) */
    char metrics_token[128];                  /* metrics.token ("" = /metrics is open) */
    char audit_path[512];                     /* audit.path ("" = off, "-" = stdout) */
    size_t audit_buffer;                      /* audit.buffer (bytes queued in memory) */
    int measure;                              /* tuning.measure (0: no gap, activity_gap, re-login work) */
    cf_time_t activity_gap;                   /* tuning.activity_gap (audit activity_gap lines) */
    cf_time_t relogin_window;                 /* tuning.relogin_window */
    size_t relogin_subjects;                  /* tuning.relogin_subjects (tracker cap) */
    char background_header[64];               /* tuning.background_header */
    char alert_webhook[512];                  /* alerts.webhook ("" = no webhook) */
    char alert_webhook_ca[512];               /* alerts.webhook_ca ("" = the system's CAs) */
    size_t alert_queue;                       /* alerts.queue (bodies waiting to be sent) */
    cf_alert_rule_t alert_rules[CF_CONFIG_ALERT_RULES_MAX]; /* alerts.rules */
    size_t nalert_rules;
    cf_time_t key_rotate_every;               /* keys.rotate_every (0 = off) */
    char kek_file[512];                       /* keys.kek_file ("" = none; CURFEW_KEK wins) */
    /* api_keys.* (API keys of services; not the admin key) */
    char apikey_header[64];                   /* api_keys.header */
    int apikey_require_expiry;                /* api_keys.require_expiry */
    cf_time_t apikey_max_lifetime;            /* api_keys.max_lifetime (0 = none) */
    cf_time_t apikey_default_lifetime;        /* api_keys.default_lifetime (0 = none) */
    cf_time_t apikey_idle_expiry;             /* api_keys.idle_expiry (0 = none) */
    cf_time_t apikey_overlap;                 /* api_keys.rotation_overlap */
    cf_time_t apikey_warn_before;             /* api_keys.warn_before (0 = no warning) */
    cf_rate_cfg_t rl_apikey;                  /* api_keys.rate, api_keys.burst: per key */
    int64_t apikey_quota_day, apikey_quota_month; /* api_keys.quota_per_{day,month} (0 = none) */
    /* proxy.*: the enforcing reverse proxy (docs/proxy.md); off without listeners */
    cf_proxy_listener_t *proxy_listeners;     /* proxy.listeners */
    size_t nproxy_listeners;
    cf_proxy_upstream_t *proxy_upstreams;     /* proxy.upstreams */
    size_t nproxy_upstreams;
    cf_proxy_route_t *proxy_routes;           /* proxy.routes */
    size_t nproxy_routes;
    size_t proxy_max_connections;             /* proxy.max_connections */
    size_t proxy_max_per_address;             /* proxy.max_connections_per_address */
    size_t proxy_max_body_bytes;              /* proxy.max_body_bytes */
    cf_time_t proxy_idle_timeout;             /* proxy.idle_timeout */

    /*
     * Where the values came from, so that rules checked after the load
     * (cf_config_validate()) can still name the file and the line.
     */
    char source[256];                         /* file loaded last ("" = none) */
    uint32_t set_line[CF_CONFIG_OPTIONS_MAX]; /* per option row: 0 = default, else its line */
    /* Defaults that yielded to an explicit value, one key=value log line each. */
    char notes[CF_CONFIG_NOTES_MAX][192];
    size_t nnotes;
} cf_config_t;

/**
 * Fill @cfg with the built-in default of every option (empty policy and
 * lists). Overwrites @cfg without freeing: call cf_config_fini() first on a
 * struct that holds a loaded configuration. Cannot fail.
 */
void cf_config_defaults(cf_config_t *cfg);

/** Free what @cfg owns (policy, lists) and leave it zeroed. NULL is a no-op. */
void cf_config_fini(cf_config_t *cfg);

/**
 * Make @dst an independent deep copy of @src (@dst is overwritten, not
 * freed). Returns 0, or CF_ENOMEM with @dst zeroed.
 */
int cf_config_copy(cf_config_t *dst, const cf_config_t *src);

/**
 * Apply the YAML file at @path on top of what @cfg already holds (call
 * cf_config_defaults() first). An empty file changes nothing.
 *
 * Returns 0; or CF_ECONFIG (CF_ENOMEM if libyaml runs out of memory) with
 * @cfg untouched and a NUL-terminated message in @err (@errlen bytes,
 * truncated if needed) of the form "PATH:LINE: what is wrong", LINE being
 * 1-based, e.g. "curfew.yaml:4: unknown key 'session.idel_timeout'". When
 * the file cannot be read at all: "PATH: cannot open: <strerror>". Unknown
 * keys, duplicate keys, wrong node kinds and more than one YAML document are
 * errors. A section or list the file gives (clients:, roles:, routes:,
 * risk.trusted_proxies, ...) replaces the one in @cfg, whose memory is then
 * freed; one it does not give is kept. Sections are checked as they are read:
 * "x.yaml:4: clients[2]: duplicate client id 'web' (first on line 2)",
 * "x.yaml:9: routes[0].methods: 'FETCH' is not a method (...)", bad CIDRs,
 * rates and key kinds, secret hashes not in pbkdf2-sha256$ form. On success
 * the policy is prepared (cf_policy_prepare()) and ready to match.
 *
 * A default yields to an explicit value: when only one side of an order
 * rule (access_token.ttl <= max_ttl, session.idle_timeout <=
 * absolute_timeout) is given and the other's default contradicts it, the
 * default is moved to the given value and a key=value line saying so is
 * added to @cfg->notes. Rules inside the file that need all of it (a route
 * requiring a role no roles: entry defines) are checked at the end of the
 * load. Other cross-field rules: see cf_config_validate().
 * Reads the file synchronously; call it before the loop starts.
 */
int cf_config_load(const char *path, cf_config_t *cfg, char *err, size_t errlen);

/**
 * As cf_config_load(), from @len bytes at @buf (need not be NUL-terminated);
 * @name stands for the file name in messages. Does no I/O. Inputs longer
 * than CF_CONFIG_MAX_FILE are refused.
 */
int cf_config_load_buffer(const char *buf, size_t len, const char *name, cf_config_t *cfg,
                          char *err, size_t errlen);

/**
 * Check rules that involve the whole struct: every option within its range
 * (timeouts > 0, refresh_token.reuse_grace >= 0, limits >= 1, strings
 * non-empty where required), access_token.ttl <= access_token.max_ttl,
 * session.idle_timeout <= session.absolute_timeout, every rate limit usable
 * by the limiter with its burst, and the files the server opens at start
 * (the directory of audit.path, keys.kek_file unless CURFEW_KEK is set).
 * `curfew serve` refuses nothing that passes cf_config_load() and this.
 *
 * Returns 0; or CF_ECONFIG with a message naming the keys in @err, e.g.
 * "access_token.ttl (20m) must not exceed access_token.max_ttl (15m)",
 * prefixed with "FILE:LINE: " when @cfg came from a file (@cfg->source) and
 * the key was set there, "FILE: " when it was not. Reads the file system.
 */
int cf_config_validate(const cf_config_t *cfg, char *err, size_t errlen);

/**
 * Set the option with dotted key @key (e.g. "listen", "session.idle_timeout")
 * from its textual form @value, exactly as the same text would be read from
 * a file. For command-line overrides. List options take "a,b,c"; the
 * clients, roles and routes sections can only come from a file.
 *
 * Returns 0; or CF_ECONFIG with @cfg untouched and "KEY: what is wrong" (or
 * "unknown key 'KEY'") in @err.
 */
int cf_config_set(cf_config_t *cfg, const char *key, const char *value, char *err, size_t errlen);

/**
 * Write @cfg to @out as YAML with the same structure as the file, one key
 * per option, durations in their shortest spelling. cf_config_load() reads
 * the output back to an equal struct. Write errors are left to the caller
 * (check ferror(@out)).
 */
void cf_config_dump(const cf_config_t *cfg, FILE *out);

/** Write the option reference as a markdown table (key, type, default, description) to @out. */
void cf_config_doc(FILE *out);

struct ssl_ctx_st;

/**
 * The API listener's TLS context from @cfg's tls.* (tls.cert set), into *@out
 * (SSL_CTX_free it). The server calls it at start and on SIGHUP; `config
 * check` calls it too, so both refuse a file the same way. Returns 0, or
 * CF_ECONFIG with "FILE:LINE: tls.KEY: what is wrong" in @err.
 */
int cf_config_tls_ctx(const cf_config_t *cfg, struct ssl_ctx_st **out, char *err, size_t errlen);

#endif
