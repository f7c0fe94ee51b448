/* SPDX-License-Identifier: MIT
 *
 * The server's configuration: one YAML file read into one plain struct.
 * Every option is a row in a single static table in config.c (key path, type,
 * default, place in the struct, one sentence of docs), and defaults, file
 * parsing, command-line overrides, the effective-config dump and the
 * markdown reference are all generated from that table, so they cannot drift.
 * This module decides whether a configuration is well-formed and consistent;
 * it must never half-apply a file: on any error the caller's struct is left
 * exactly as it was, and the message names the file, the line and the key.
 */
#ifndef CF_CONFIG_CONFIG_H
#define CF_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/clock.h"

/** Largest config file cf_config_load() reads. */
#define CF_CONFIG_MAX_FILE (1024 * 1024)

/**
 * Effective configuration. Plain data, no pointers: copy it freely. The YAML
 * spelling of each field is in the comment; see docs/configuration.md (made
 * by cf_config_doc()) for defaults and meaning.
 */
typedef struct {
    char listen_host[64];                     /* listen: "127.0.0.1:7070" (host stored unbracketed) */
    int listen_port;
    char issuer[256];                         /* issuer */
    char audience[128];                       /* audience */
    char data_dir[512];                       /* data_dir */
    cf_time_t access_ttl, access_max_ttl;     /* access_token.{ttl,max_ttl} */
    cf_time_t idle_timeout, absolute_timeout; /* session.{idle_timeout,absolute_timeout} */
    cf_time_t reuse_grace;                    /* refresh_token.reuse_grace */
    cf_time_t clock_leeway;                   /* clock_leeway */
    /* server limits */
    size_t max_connections;                   /* limits.max_connections */
    cf_time_t client_timeout;                 /* limits.client_timeout (idle keep-alive, slow request) */
    size_t max_header_bytes, max_body_bytes;  /* limits.{max_header_bytes,max_body_bytes} */
    /* store */
    cf_time_t activity_flush;                 /* store.activity_flush */
    cf_time_t purge_interval;                 /* store.purge_interval */
    cf_time_t purge_after;                    /* store.purge_after */
    char log_level[16];                       /* log_level: debug|info|warn|error */
} cf_config_t;

/** Fill @cfg with the built-in default of every option. Cannot fail. */
void cf_config_defaults(cf_config_t *cfg);

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
 * errors. Cross-field rules are not checked here: see cf_config_validate().
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
 * non-empty where required), access_token.ttl <= access_token.max_ttl and
 * session.idle_timeout <= session.absolute_timeout.
 *
 * Returns 0; or CF_ECONFIG with a message naming the keys in @err, e.g.
 * "access_token.ttl (20m) must not exceed access_token.max_ttl (15m)".
 */
int cf_config_validate(const cf_config_t *cfg, char *err, size_t errlen);

/**
 * Set the option with dotted key @key (e.g. "listen", "session.idle_timeout")
 * from its textual form @value, exactly as the same text would be read from
 * a file. For command-line overrides.
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

#endif
