/* SPDX-License-Identifier: MIT
 *
 * Private interface between the files of the config module (config.c,
 * checks.c, types.c, sections.c, options.c, yaml.c; see config.c for who
 * calls whom). It decides nothing itself; it only names what the files
 * share. It must never be included outside src/config/: nothing here is a
 * stable API, and cf_config_t's callers go through config/config.h alone.
 */
#ifndef CF_CONFIG_SECTIONS_H
#define CF_CONFIG_SECTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <yaml.h>

#include "config/config.h"

/* What an option holds; indexes types[] in config.c. */
typedef enum {
    OPT_DURATION,
    OPT_STRING,
    OPT_UINT,
    OPT_BOOL,
    OPT_ADDR,
    OPT_ENUM,
    OPT_I64,      /* int64_t */
    OPT_CHOICE,   /* an int-sized enum: the n-th choice is stored as n + 1 (0 = unset) */
    OPT_RATE,     /* cf_rate_cfg_t: "N/DURATION" or "off" */
    OPT_KEYS,     /* unsigned CF_RLKEY_* bits from a list of key kinds */
    OPT_STRLIST,  /* char ** at off, size_t count at off2 */
    OPT_CIDRLIST, /* as OPT_STRLIST, every item a CIDR */
    OPT_CLIENTS,  /* node-level sections that build cfg->policy */
    OPT_ROLES,
    OPT_ROUTES,
    OPT_URL,         /* a string that is empty or http://HOST[:PORT][/PATH] */
    OPT_ALERT_RULES, /* alerts.rules: a list of rules into cfg->alert_rules */
    OPT_STORE,       /* "sqlite" or redis://[:PASSWORD@]HOST[:PORT][/DB] */
} opt_kind_t;

/* One row of the option table (options[] in config.c). */
typedef struct {
    const char *key;               /* dotted path: "session.idle_timeout" */
    opt_kind_t kind;
    const char *def;               /* default, spelled as in the file */
    size_t off;                    /* field offset; OPT_ADDR: the host buffer */
    size_t size;                   /* field size (buffer size for strings and the host) */
    size_t off2;                   /* OPT_ADDR: offset of the int port; lists: of the count */
    int64_t min, max;              /* DURATION: ms; UINT: value; STRING: min length. max 0 = none */
    const char *const *choices;    /* OPT_ENUM: NULL-terminated */
    const char *doc;               /* one sentence for docs/configuration.md */
} option_t;

/*
 * State of one load: the document being walked, the file name for messages,
 * the config copy being filled and where the first error goes.
 */
typedef struct loader loader_t;

struct loader {
    yaml_document_t *doc;
    const char *name;
    cf_config_t *cfg; /* the copy being filled */
    char *err;
    size_t errlen;
};

/* Longest raw text of any value (data_dir plus slack), and of a dotted key. */
#define TEXT_MAX 600
#define KEY_MAX 128

/* ------------------------------------------------------------------------ */
/* Provided by options.c: the table                                          */
/* ------------------------------------------------------------------------ */

/** Every option, in the order of the docs and the dump; cf__config_noptions rows. */
extern const option_t cf__config_options[];
extern const size_t cf__config_noptions;

/** The row of dotted key @key (@n bytes), or NULL. Pure. */
const option_t *cf__config_find(const char *key, size_t n);

/** 1 when @path (@n bytes) is a section, a strict prefix "path." of some key. Pure. */
int cf__config_is_section(const char *path, size_t n);

/* ------------------------------------------------------------------------ */
/* Provided by types.c: what each kind of option may hold                    */
/* ------------------------------------------------------------------------ */

/*
 * Every scalar type has two functions. parse() reads the raw text (not
 * NUL-terminated) and writes the field only when the whole text is valid,
 * otherwise it leaves @cfg alone and writes a message without the key. text()
 * writes the value as raw text, the inverse of parse(), and fails on a value
 * that cannot be written (a negative duration). Validation is text() followed
 * by parse() into a scratch copy, so the range rules live in one place.
 *
 * List-valued sections (clients:, roles:, routes:) will not fit this shape:
 * they take a YAML node, not text, and own memory. They belong in a kind of
 * their own with a node-level loader called from apply_node() (which
 * currently insists on a scalar), plus a cf_config_fini() to free them.
 */
typedef struct {
    const char *name; /* type column of the docs */
    int (*parse)(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                 size_t cap);
    int (*text)(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap, char *msg,
                size_t msgcap);
    int quote; /* dump writes the value double-quoted (lists: each item) */
    /*
     * Lists: the file gives a YAML sequence, the command line "a,b". item()
     * checks one item (its line is the one reported); parse() gets the items
     * joined with ','.
     */
    int (*item)(const option_t *o, const char *s, size_t n, char *msg, size_t cap);
    /* Sections (clients, roles, routes): a node loader and a dumper instead of text. */
    int (*load)(loader_t *ld, const option_t *o, const yaml_node_t *v);
    void (*dump)(const option_t *o, const cf_config_t *cfg, FILE *out);
} type_t;

/** The behaviour of each opt_kind_t, indexed by kind. */
extern const type_t cf__config_types[];

/** What a value of @o looks like, for "expected ..., got a list", into @buf. Pure. */
void cf__config_expected(const option_t *o, char *buf, size_t cap);

/** The choices of an OPT_ENUM row as "a, b or c" into @buf. Pure. */
void cf__config_list_choices(const option_t *o, char *buf, size_t cap);

/** 1 when @o is a string or CIDR list (a char ** and a count). Pure. */
int cf__config_is_list(const option_t *o);

/** 1 when @o is a whole section with a node loader (clients, roles, ...). Pure. */
int cf__config_is_node(const option_t *o);

/* ------------------------------------------------------------------------ */
/* Provided by checks.c: rules across options                                */
/* ------------------------------------------------------------------------ */

/**
 * Move a default that contradicts a given value (an order rule with only one
 * side set in the file) to that value, and add a key=value note to @cfg. Loader
 * thread only.
 */
void cf__config_yield_defaults(cf_config_t *cfg);

/* ------------------------------------------------------------------------ */
/* Provided by yaml.c: helpers shared by every file                          */
/* ------------------------------------------------------------------------ */

/**
 * Format a message into @err (of @errlen bytes), truncating if needed.
 *
 * Does nothing when @err is NULL or @errlen is 0. Pure; safe from any thread.
 */
void cf__config_say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Copy user text @s (@n bytes) into @buf (of @cap bytes) for a message.
 *
 * At most 40 bytes are kept, control bytes become '?', and "..." marks a
 * cut, so a hostile file cannot put escapes or pages into a log. Returns
 * @buf, always NUL-terminated. Pure; safe from any thread.
 */
const char *cf__config_show(const char *s, size_t n, char *buf, size_t cap);

/**
 * The address @off bytes into config @cfg (an option's field). Pure.
 */
void *cf__config_field(void *cfg, size_t off);

/**
 * The const address @off bytes into config @cfg (an option's field). Pure.
 */
const void *cf__config_cfield(const void *cfg, size_t off);

/**
 * Parse @n decimal digits at @s into *@out: no sign, no blanks.
 *
 * Returns 0, or -1 on an empty text, a non-digit or a value past
 * UINT64_MAX / 10 (*@out is then untouched). Pure; safe from any thread.
 */
int cf__config_parse_digits(const char *s, size_t n, uint64_t *out);

/**
 * Find the unit cf_duration_parse() refused in duration text @s (@n bytes).
 *
 * Returns 1 with *@at and *@len naming the first letter run that is not a
 * known unit, or 0 when there is none. Pure; safe from any thread.
 */
int cf__config_find_bad_unit(const char *s, size_t n, size_t *at, size_t *len);

/**
 * The 1-based index of @s (@n bytes) in the NULL-terminated @choices, or 0
 * when it is not one of them. Pure; safe from any thread.
 */
int cf__config_choice_index(const char *const *choices, const char *s, size_t n);

/**
 * Write the NULL-terminated @choices as "a, b, c" into @buf (of @cap
 * bytes), truncating if needed. Pure; safe from any thread.
 */
void cf__config_join_choices(const char *const *choices, char *buf, size_t cap);

/**
 * Whether @c may appear in a host name; @bracketed allows the characters of
 * an IPv6 literal inside [...]. Returns 1 or 0. Pure.
 */
int cf__config_host_char_ok(char c, int bracketed);

/*
 * The choices of risk.ip_binding and of the risk.on_*_change actions,
 * NULL-terminated, in the order of cf_ip_binding_t and cf_risk_action_t
 * (stored as index + 1). Shared so that the per-client and per-role risk
 * blocks accept exactly what the global options do.
 */
extern const char *const cf__config_ip_bindings[];
extern const char *const cf__config_risk_actions[];

/**
 * "NAME:LINE: " + the message, LINE being that of node @n, into @ld->err.
 * Always returns CF_ECONFIG. Pure apart from writing the message.
 */
int cf__config_fail_at(loader_t *ld, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** "NAME: out of memory" into @ld->err; returns CF_ENOMEM. */
int cf__config_oom(loader_t *ld);

/**
 * The text of scalar @v for key @where into *@s and *@n, or an error at @k
 * ("WHERE: expected WHAT, got a list", "WHERE: must not contain NUL bytes")
 * when @v is not a plain value. Returns 0 or CF_ECONFIG.
 */
int cf__config_scalar(loader_t *ld, const char *where, const yaml_node_t *k, const yaml_node_t *v,
                      const char *what, const char **s, size_t *n);

/**
 * The 1-based line of YAML node @n, for messages. Pure.
 */
size_t cf__config_line_of(const yaml_node_t *n);

/**
 * What YAML node @n is, for messages: "a list", "a mapping" or "a scalar".
 * Returns a static string. Pure.
 */
const char *cf__config_node_kind(const yaml_node_t *n);

/**
 * Whether @n is YAML's null: a plain empty, "~" or "null" scalar, i.e.
 * nothing was written. Returns 1 or 0. Pure.
 */
int cf__config_is_null(const yaml_node_t *n);

/**
 * Write @s to @out as a YAML double-quoted scalar that reads back to the
 * same bytes (escaping quotes, backslashes and what libyaml would refuse or
 * fold). Bytes that are not UTF-8 are written raw. The caller owns @out.
 */
void cf__config_put_quoted(FILE *out, const char *s);

/* ------------------------------------------------------------------------ */
/* Provided by lists.c: list-valued options (rate_limits, risk, cookie)      */
/* ------------------------------------------------------------------------ */

/*
 * The parse/text/item functions below have the shapes of type_t in
 * config.c: parse() reads raw text (not NUL-terminated) and writes the field
 * of @o in @cfg only when the whole text is valid, otherwise it leaves @cfg
 * alone and writes a message without the key to @msg; it returns 0,
 * CF_ECONFIG or CF_ENOMEM. text() writes the value as raw text into @buf,
 * the inverse of parse(), and returns 0 or CF_ECONFIG. item() checks one
 * list item. All are pure apart from the memory list parse() owns; config
 * loads run on one thread.
 */

/** Parse an OPT_RATE value: "N/DURATION" (N >= 1, DURATION >= 1ms) or "off". */
int cf__config_rate_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                          size_t cap);

/** Write an OPT_RATE value as "N/DURATION" or "off"; CF_ECONFIG if it is out of range. */
int cf__config_rate_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap);

/** Check one OPT_KEYS item: one of @o->choices. Returns 0 or CF_ECONFIG. */
int cf__config_key_kind_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap);

/** Parse an OPT_KEYS value, "a,b": at least one key kind, none twice, into a bit set. */
int cf__config_keys_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n, char *msg,
                          size_t cap);

/** Write an OPT_KEYS bit set as "a,b"; CF_ECONFIG if it is empty. */
int cf__config_keys_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                         char *msg, size_t msgcap);

/** Check one OPT_CIDRLIST item: "ADDR/BITS", IPv4 or IPv6. Returns 0 or CF_ECONFIG. */
int cf__config_cidr_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap);

/**
 * Check one OPT_STRLIST item: visible ASCII without spaces or commas, and an
 * http(s) origin for cookie.allowed_origins. Returns 0 or CF_ECONFIG.
 */
int cf__config_token_ok(const option_t *o, const char *s, size_t n, char *msg, size_t cap);

/**
 * Parse a string list "a,b" into the char ** and count of @o. The old list
 * is freed, and the new one (owned by @cfg) installed, only when every item
 * is valid. Returns 0, CF_ECONFIG or CF_ENOMEM.
 */
int cf__config_strlist_parse(const option_t *o, cf_config_t *cfg, const char *s, size_t n,
                             char *msg, size_t cap);

/** Write a string list as "a,b"; CF_ECONFIG when it does not fit @buf. */
int cf__config_strlist_text(const option_t *o, const cf_config_t *cfg, char *buf, size_t cap,
                            char *msg, size_t msgcap);

/** Free the @n strings of @v and @v itself; @v may be NULL when @n is 0. */
void cf__config_strv_free(char **v, size_t n);

/** Write @v (@n strings) to @out as a flow list "[a, b]", each item double-quoted. */
void cf__config_put_strv(FILE *out, char *const *v, size_t n);

/* ------------------------------------------------------------------------ */
/* Provided by fields.c: the rows of every section level                     */
/* ------------------------------------------------------------------------ */

/*
 * The sections clients[], roles.NAME, routes[] and alerts.rules[] are
 * levels below the root, each with its own struct (cf_client_t, cf_role_t,
 * cf_route_t, cf_alert_rule_t) and its own table of fields, in the manner
 * of nginx's command table: a row names its key within the level, its type
 * and the offset of its field in the level's struct. A type says which YAML
 * node it expects (a plain value or a list of plain values), which the
 * walker in sections.c checks once, and carries its own parse and print
 * functions (Redis's standardConfig). One walker, one dumper and one doc
 * generator serve every level; only rules across fields (a confidential
 * client needs a secret, an anonymous route requires nothing) are written
 * by hand, in the level's check().
 */
typedef struct cf__field cf__field_t;

/* One element being read: its struct, where it is, which fields it gave. */
#define CF__FIELDS_MAX 16
typedef struct {
    void *obj;                                /* the element's struct */
    const yaml_node_t *at;                    /* messages about the whole element point here */
    const yaml_node_t *seen[CF__FIELDS_MAX];  /* per field row: its key node, NULL = not given */
    char where[160];                          /* "clients[1]", "roles.admin" */
} cf__item_t;

typedef struct {
    /* Scalars: what a value looks like ("a duration"); NULL for a list. */
    const char *what;
    /* Scalars: read @n bytes of text at @s (no NUL inside) into the field. */
    int (*parse)(loader_t *ld, const cf__field_t *f, cf__item_t *it, const char *where,
                 const yaml_node_t *k, const char *s, size_t n);
    /* Lists: check one item; NULL or what is wrong with it. */
    const char *(*item_ok)(const char *s, size_t n);
    /* Lists: store the @n checked, distinct items @v; takes ownership of @v. */
    int (*take)(loader_t *ld, const cf__field_t *f, cf__item_t *it, char **v, size_t n);
    /* Write the value after "key: " and return 1, or return 0 when unset; @out NULL: only tell. */
    int (*put)(const cf__field_t *f, const void *obj, FILE *out);
} cf__ftype_t;

struct cf__field {
    const char *key;          /* within the level, dotted: "session.idle_timeout" */
    const cf__ftype_t *type;
    size_t off, off2;         /* the field in the level's struct; off2: a list's count */
    const void *arg;          /* choices, a path kind */
    int always;               /* dumped even when unset (the loaded value is the default) */
    const char *doctype, *def, *doc; /* the docs/configuration.md row */
};

typedef struct {
    opt_kind_t kind;          /* the root option this level hangs from */
    const char *name;         /* "clients": messages about the section itself */
    const char *doc_prefix;   /* "clients[].": doc rows */
    const cf__field_t *fields;
    size_t nfields;
    const char *expect;       /* what the section node is: "a list", "a mapping of role names" */
    int named;                /* 1: a mapping of names to elements (roles), 0: a list */
    const char *name_what;    /* named: what a key is ("a role name") */
    const char *(*name_ok)(const char *s, size_t n); /* named: NULL or what is wrong with a name */
    size_t size;              /* of one element's struct */
    size_t name_off;          /* named: the char * name in the struct */
    size_t line_off;          /* the int line in the struct */
    size_t max;               /* most elements; 0 = no limit */
    const char *empty;        /* the dump of no elements: " []" or " {}" */
    void (*init)(void *obj);  /* defaults of one element (calloc'd before) */
    /* Rules across the fields of element @i of @items (and with the ones before it). */
    int (*check)(loader_t *ld, cf__item_t *it, const void *items, size_t i);
    /* Install @n elements (ownership moves to @cfg) and free the ones they replace. */
    void (*install)(cf_config_t *cfg, void *items, size_t n);
    void (*discard)(void *items, size_t n); /* free the elements of a failed load */
    const void *(*get)(const cf_config_t *cfg, size_t *n); /* the elements, for the dump */
} cf__level_t;

/* The field types, provided by ftypes.c. */
extern const cf__ftype_t cf__ft_name,
    cf__ft_secret, cf__ft_scope, cf__ft_host, cf__ft_choice, cf__ft_enum, cf__ft_bool,
    cf__ft_duration, cf__ft_lifetime, cf__ft_path, cf__ft_names, cf__ft_grants, cf__ft_methods,
    cf__ft_alert_kind, cf__ft_threshold, cf__ft_alert_action;

/** NULL, or what keeps @s (@n bytes) from being a name (role, scope, client id). Pure. */
const char *cf__config_name_ok(const char *s, size_t n);

/** The level of section option kind @kind, or NULL. Pure. */
const cf__level_t *cf__config_level(opt_kind_t kind);

/* ------------------------------------------------------------------------ */
/* Provided by sections.c (loaders) and dump.c (dumpers, doc rows)         */
/* ------------------------------------------------------------------------ */

/**
 * Load section node @v of root option @o (clients, roles, routes,
 * alerts.rules) through its level's field table.
 *
 * The elements are built on the side and installed only when all of them
 * are valid; the old ones are freed then. On error the config is left as it
 * was and the message ("NAME:LINE: clients[1].id: ...") is in @ld->err.
 * Returns 0, CF_ECONFIG or CF_ENOMEM. Loader thread only.
 */
int cf__config_section_load(loader_t *ld, const option_t *o, const yaml_node_t *v);

/**
 * Check the rules between sections once the whole file is read: every role
 * a route requires is defined under roles:. Returns 0, or CF_ECONFIG with
 * "NAME:LINE: routes[I].require_roles: ..." in @ld->err. Loader thread only.
 */
int cf__config_check_policy(loader_t *ld);

/**
 * Write section option @o of @cfg to @out as YAML that loads back to the
 * same elements: the rest of the "clients:" line onwards, final newline
 * included.
 */
void cf__config_section_dump(const option_t *o, const cf_config_t *cfg, FILE *out);

/**
 * Write the Markdown table rows of the fields of section option @o
 * (`clients[].id`, `roles.NAME.idle_timeout`, ...) to @out. Does nothing for
 * an option that is not a section.
 */
void cf__config_doc_fields(FILE *out, const option_t *o);

#endif /* CF_CONFIG_SECTIONS_H */
