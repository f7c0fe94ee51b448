/* SPDX-License-Identifier: MIT
 *
 * Private interface between the files of the config module (config.c,
 * walk.c, dump.c, checks.c, types.c, lists.c, ftypes.c, options.c, yaml.c;
 * see config.c for who calls whom). It decides nothing itself; it only names what the files
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

/*
 * The levels of the one option table: the root of the file, and the
 * elements of the sections clients[], roles.NAME, routes[] and
 * alerts.rules[], each with a struct of its own (cf_config_t, cf_client_t,
 * cf_role_t, cf_route_t, cf_alert_rule_t) that a row's offsets point into.
 */
typedef enum {
    LVL_ROOT,
    LVL_CLIENT,
    LVL_ROLE,
    LVL_ROUTE,
    LVL_ALERT,
    LVL_PLISTEN,  /* proxy.listeners[] (config/proxy.c) */
    LVL_UPSTREAM, /* proxy.upstreams.NAME */
    LVL_PROUTE,   /* proxy.routes[] */
    LVL__COUNT
} level_id_t;

/* What an option holds; indexes cf__config_types[] (types.c). */
typedef enum {
    OPT_DURATION,
    OPT_STRING,
    OPT_UINT,
    OPT_BOOL,
    OPT_ADDR,
    OPT_ENUM,
    OPT_I64,      /* int64_t */
    OPT_AUTO,     /* int64_t: "auto" (stored as -1) or an integer min..max */
    OPT_CHOICE,   /* an int-sized enum: the n-th choice is stored as n + 1 (0 = unset) */
    OPT_RATE,     /* cf_rate_cfg_t: "N/DURATION" or "off" */
    OPT_KEYS,     /* unsigned CF_RLKEY_* bits from a list of key kinds */
    OPT_STRLIST,  /* char ** at off, size_t count at off2 */
    OPT_CIDRLIST, /* as OPT_STRLIST, every item a CIDR */
    OPT_SECTION,  /* a section of elements of level ->sub (clients, roles, routes, rules) */
    OPT_URL,      /* a string that is empty or http[s]://HOST[:PORT][/PATH] */
    OPT_STORE,    /* "sqlite" or redis://[:PASSWORD@]HOST[:PORT][/DB] */
    /* Types of section elements (ftypes.c): strings are heap char *, unset = NULL. */
    OPT_NAME,         /* a client id */
    OPT_SECRET,       /* pbkdf2-sha256$... */
    OPT_SCOPE,        /* space-separated scopes */
    OPT_HOST,         /* a host name without port */
    OPT_SCHOICE,      /* as OPT_CHOICE, 0 = unset (inherit) */
    OPT_SENUM,        /* an int enum stored as the choice's index */
    OPT_SBOOL,        /* an int, 0 or 1 */
    OPT_SDURATION,    /* cf_time_t > 0; 0 = unset */
    OPT_LIFETIME,     /* cf_time_t >= 1s; 0 = unset */
    OPT_PATH,         /* a path of kind ->tag (off2: the cf_path_kind_t) */
    OPT_NAMES,        /* char ** at off, size_t count at off2, every item a name */
    OPT_ORIGINS,      /* as OPT_NAMES, every item an origin (https://HOST[:PORT]) */
    OPT_GRANTS,       /* unsigned CF_GRANT_* bits */
    OPT_METHODS,      /* unsigned method bits */
    OPT_ALERT_KIND,
    OPT_THRESHOLD,    /* uint32_t 1..CF_ALERT_THRESHOLD_MAX */
    OPT_ALERT_ACTION,
    OPT_SADDR,        /* heap char *: HOST:PORT, an IP literal */
    OPT_SHOST,        /* heap char *: HOST:PORT, an IP literal or a DNS name (resolved by its user) */
    OPT__COUNT
} opt_kind_t;

/*
 * One row of the option table (cf__config_options[] in options.c), for
 * every level alike, in the manner of nginx's command table: the level it
 * belongs to, its key within the level, its type and the offset of its
 * field in the level's struct.
 */
typedef struct {
    level_id_t level;
    const char *key;               /* dotted path within the level: "session.idle_timeout" */
    opt_kind_t kind;
    const char *def;               /* default, spelled as in the file (sections: docs only) */
    size_t off;                    /* field offset; OPT_ADDR: the host buffer */
    size_t size;                   /* field size (buffer size for strings and the host) */
    size_t off2;                   /* OPT_ADDR: the int port; lists: the count; OPT_PATH: kind */
    int64_t min, max;              /* DURATION: ms; UINT: value; STRING: min length. max 0 = none */
    const char *const *choices;    /* OPT_ENUM, OPT_CHOICE, OPT_KEYS, ...: NULL-terminated */
    int tag;                       /* OPT_PATH: its cf_path_kind_t; OPT_SECTION: the level_id_t */
    int excl;                      /* rows with the same non-zero excl exclude each other */
    int always;                    /* sections: dumped even when unset */
    const char *doctype;           /* type column of the docs; NULL: from the type */
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

/* The YAML node a type expects; the walker checks it once, before parse(). */
typedef enum {
    NODE_SCALAR,  /* a plain value */
    NODE_LIST,    /* a sequence of plain values */
    NODE_SECTION, /* a list (or mapping) of elements of a level below */
} node_kind_t;

/*
 * The behaviour of a type, in the manner of Redis's standardConfig. parse()
 * reads the raw text (not NUL-terminated) into the field of row @o in the
 * level's struct @obj, only when the whole text is valid; otherwise it
 * leaves @obj alone and writes a message without the key into @msg. It
 * returns 0, CF_ECONFIG or CF_ENOMEM. text() (root types) writes the value
 * as raw text, the inverse of parse(): the validator re-parses it, so range
 * rules live in one place. put() writes the value as YAML for the dump and
 * returns 1, or 0 when the field is unset (a section leaves unset fields
 * out); with @out NULL it writes nothing and only tells.
 */
typedef struct {
    const char *name;  /* type column of the docs (a row's doctype wins) */
    node_kind_t node;
    const char *what;  /* in sections: what a value looks like, "a duration" */
    int (*parse)(const option_t *o, void *obj, const char *s, size_t n, char *msg, size_t cap);
    int (*text)(const option_t *o, const void *obj, char *buf, size_t cap, char *msg,
                size_t msgcap);
    int (*put)(const option_t *o, const void *obj, FILE *out);
    /*
     * Lists: the file gives a YAML sequence, the command line "a,b". item()
     * checks one item (its line is the one reported); parse() gets the items
     * joined with ','.
     */
    int (*item)(const option_t *o, const char *s, size_t n, char *msg, size_t cap);
} type_t;

/* ------------------------------------------------------------------------ */
/* Provided by options.c: the one table                                      */
/* ------------------------------------------------------------------------ */

/*
 * Every row of every level: the root rows first, in the order of the docs
 * and the dump, then the rows of each section level, each level's rows
 * adjacent. cf__config_noptions rows; the first cf__config_nroot are the
 * root's (cf_config_t.set_line is indexed by them).
 */
extern const option_t cf__config_options[];
extern const size_t cf__config_noptions, cf__config_nroot;

/** The row of dotted key @key (@n bytes) at level @lvl, or NULL. Pure. */
const option_t *cf__config_find_at(level_id_t lvl, const char *key, size_t n);

/** The root row of dotted key @key (@n bytes), or NULL. Pure. */
const option_t *cf__config_find(const char *key, size_t n);

/** 1 when @path (@n bytes) is a block of level @lvl, a strict prefix "path." of a key. Pure. */
int cf__config_is_block(level_id_t lvl, const char *path, size_t n);

/** The rows of level @lvl: the first, and their count in *@n. Pure. */
const option_t *cf__config_rows(level_id_t lvl, size_t *n);

/* ------------------------------------------------------------------------ */
/* Provided by types.c: what each kind of option may hold                    */
/* ------------------------------------------------------------------------ */

/** The behaviour of each opt_kind_t, indexed by kind. */
extern const type_t cf__config_types[];

/** The type of row @o. Pure. */
const type_t *cf__config_type(const option_t *o);

/** What a value of root row @o looks like, for "expected ..., got a list", into @buf. Pure. */
void cf__config_expected(const option_t *o, char *buf, size_t cap);

/** The docs' type column of row @o into @buf. Pure. */
void cf__config_doctype(const option_t *o, char *buf, size_t cap);

/** 1 when @o is a root string or CIDR list (a char ** and a count it owns). Pure. */
int cf__config_is_list(const option_t *o);

/** 1 when @o is a whole section of elements (clients, roles, ...). Pure. */
int cf__config_is_node(const option_t *o);

/* ------------------------------------------------------------------------ */
/* Provided by checks.c: rules across options, and the section levels        */
/* ------------------------------------------------------------------------ */

/**
 * Move a default that contradicts a given value (an order rule with only one
 * side set in the file) to that value, and add a key=value note to @cfg. Loader
 * thread only.
 */
void cf__config_yield_defaults(cf_config_t *cfg);

/* One element being read: its struct, where it is, which rows it gave. */
#define CF__FIELDS_MAX 24
typedef struct {
    void *obj;                                /* the element's struct */
    const yaml_node_t *at;                    /* messages about the whole element point here */
    const option_t *rows;                     /* the rows of its level */
    const yaml_node_t *seen[CF__FIELDS_MAX];  /* per row of the level: its key node, or NULL */
    char where[160];                          /* "clients[1]", "roles.admin" */
} cf__item_t;

/*
 * The shape of a section level: how its elements are laid out in the file
 * and in memory, and the rules across the fields of one element (a
 * confidential client needs a secret, an anonymous route requires nothing).
 * The rows themselves are in the one table, under the same level_id_t.
 */
typedef struct {
    level_id_t id;
    const char *name;         /* "clients": messages about the section itself */
    const char *doc_prefix;   /* "clients[].": doc rows */
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

/** The section level @id (not LVL_ROOT). Pure. */
const cf__level_t *cf__config_level(level_id_t id);

/**
 * Check the rules between sections once the whole file is read: every role
 * a route requires is defined under roles:. Returns 0, or CF_ECONFIG with
 * "NAME:LINE: routes[I].require_roles: ..." in @ld->err. Loader thread only.
 */
int cf__config_check_policy(loader_t *ld);

/* ------------------------------------------------------------------------ */
/* Provided by walk.c: the one walker (dump.c: the one dumper and doc table) */
/* ------------------------------------------------------------------------ */

/**
 * Walk the root mapping @root of a document into @ld->cfg, every level
 * through the one table. Returns 0, CF_ECONFIG or CF_ENOMEM with the
 * message in @ld->err. Loader thread only.
 */
int cf__config_walk(loader_t *ld, const yaml_node_t *root);

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
 * Parse a duration; on error write what is wrong (naming an unknown unit) to
 * @msg and return CF_ECONFIG. The one duration reader of every level.
 */
int cf__config_duration(const char *s, size_t n, cf_time_t *t, char *msg, size_t cap);

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
/* Provided by lists.c and ftypes.c: the functions of the types              */
/* ------------------------------------------------------------------------ */

/* The shapes of type_t: parse(), text(), put() and item(). */
#define CF__PARSE(fn) \
    int fn(const option_t *o, void *obj, const char *s, size_t n, char *msg, size_t cap)
#define CF__TEXT(fn) \
    int fn(const option_t *o, const void *obj, char *buf, size_t cap, char *msg, size_t msgcap)
#define CF__PUT(fn) int fn(const option_t *o, const void *obj, FILE *out)
#define CF__ITEM(fn) int fn(const option_t *o, const char *s, size_t n, char *msg, size_t cap)

/** OPT_RATE: "N/DURATION" (N >= 1, DURATION >= 1ms) or "off". */
CF__PARSE(cf__config_rate_parse);
CF__TEXT(cf__config_rate_text);
/** OPT_KEYS: at least one key kind of @o->choices, none twice, into a bit set. */
CF__ITEM(cf__config_key_kind_ok);
CF__PARSE(cf__config_keys_parse);
CF__TEXT(cf__config_keys_text);
/** OPT_CIDRLIST items: "ADDR/BITS", IPv4 or IPv6. */
CF__ITEM(cf__config_cidr_ok);
/** OPT_STRLIST items: visible ASCII without spaces or commas; origins for allowed_origins. */
CF__ITEM(cf__config_token_ok);
/** Origins as browsers send them (https://HOST[:PORT], lower case, no default port). */
CF__ITEM(cf__config_origin_item);
/**
 * A string list "a,b" into the char ** and count of @o, each item checked
 * by the type's item(). The old list is freed, and the new one installed,
 * only when every item is valid.
 */
CF__PARSE(cf__config_strlist_parse);
CF__TEXT(cf__config_strlist_text);

/** Free the @n strings of @v and @v itself; @v may be NULL when @n is 0. */
void cf__config_strv_free(char **v, size_t n);

/** Write @v (@n strings) to @out as a flow list "[a, b]", each item double-quoted. */
void cf__config_put_strv(FILE *out, char *const *v, size_t n);

/** NULL, or what keeps @s (@n bytes) from being a name (role, scope, client id). Pure. */
const char *cf__config_name_ok(const char *s, size_t n);

/* The section element types (ftypes.c), by kind: parse and put. */
CF__PARSE(cf__config_name_parse);
CF__PARSE(cf__config_secret_parse);
CF__PARSE(cf__config_scope_parse);
CF__PARSE(cf__config_host_parse);
CF__PARSE(cf__config_schoice_parse);
CF__PARSE(cf__config_senum_parse);
CF__PARSE(cf__config_sbool_parse);
CF__PARSE(cf__config_sduration_parse);
CF__PARSE(cf__config_lifetime_parse);
CF__PARSE(cf__config_path_parse);
CF__PARSE(cf__config_grants_parse);
CF__PARSE(cf__config_methods_parse);
CF__PARSE(cf__config_alert_kind_parse);
CF__PARSE(cf__config_threshold_parse);
CF__PARSE(cf__config_alert_action_parse);
CF__ITEM(cf__config_name_item);
CF__ITEM(cf__config_grant_item);
CF__ITEM(cf__config_method_item);
CF__PUT(cf__config_put_string);
CF__PUT(cf__config_put_schoice);
CF__PUT(cf__config_put_senum);
CF__PUT(cf__config_put_sbool);
CF__PUT(cf__config_put_sduration);
CF__PUT(cf__config_put_path);
CF__PUT(cf__config_put_names);
CF__PUT(cf__config_put_grants);
CF__PUT(cf__config_put_methods);
CF__PUT(cf__config_put_alert_kind);
CF__PUT(cf__config_put_threshold);
CF__PUT(cf__config_put_alert_action);

/** OPT_SADDR (types.c): HOST:PORT as OPT_ADDR reads it, kept as the text. */
CF__PARSE(cf__config_saddr_parse);
/** OPT_SHOST (types.c): as OPT_SADDR, or a DNS name (letters, digits, '-', '.') and a port. */
CF__PARSE(cf__config_shost_parse);

/* ------------------------------------------------------------------------ */
/* Provided by proxy.c: the proxy's section levels                           */
/* ------------------------------------------------------------------------ */

/** The proxy's section level @id, or NULL when @id is not one. Pure. */
const cf__level_t *cf__config_proxy_level(level_id_t id);

/** Deep-copy the proxy sections of @src into @dst (whose pointers are @src's). 0 or CF_ENOMEM. */
int cf__config_proxy_copy(cf_config_t *dst, const cf_config_t *src);

/** Free the proxy sections of @cfg. */
void cf__config_proxy_fini(cf_config_t *cfg);

/** Rules between the proxy sections (a route's upstream is defined). 0 or CF_ECONFIG. */
int cf__config_check_proxy(loader_t *ld);

#endif /* CF_CONFIG_SECTIONS_H */
