/* SPDX-License-Identifier: MIT
 *
 * Client certificates as RFC 8705 sees them (OpenSSL 3): the thumbprint a
 * token is bound to, the subject DN and subject alternative names a
 * tls_client_auth client is registered with, and the chain to the CAs it
 * must come from. Names are compared as names (RFC 5280 §7.1: RDN by RDN,
 * case and spaces folded), never as printed strings, so a different RDN
 * order or a comma escaped inside a value cannot pass for the registered
 * DN. No sockets, no files except cf_x509_store_load().
 */
#ifndef CF_UTIL_X509_H
#define CF_UTIL_X509_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

/** The subject alternative names a client may be registered by. */
typedef enum { CF_X509_SAN_DNS, CF_X509_SAN_URI, CF_X509_SAN_IP, CF_X509_SAN_EMAIL } cf_x509_san_t;

/** base64url SHA-256 of the DER of @x (x5t#S256) into @x5t, NUL-terminated; "" on failure. */
void cf_x509_x5t(X509 *x, char x5t[44]);

/**
 * The certificate in PEM @pem (@len bytes; URL-escaped as nginx's
 * $ssl_client_escaped_cert is unescaped first). Free with X509_free; NULL
 * when it holds none.
 */
X509 *cf_x509_from_pem(const char *pem, size_t len);

/**
 * Parse RFC 4514 text ("CN=alice,O=Example": most specific RDN first; `\,`
 * and `\2C` escapes; types by short name or dotted OID) into *@out (free
 * with X509_NAME_free). Multi-valued RDNs (`+`) and `#` hex values are
 * refused. Returns 0, or CF_EINVAL with a static reason in *@why.
 */
int cf_x509_dn_parse(const char *dn, X509_NAME **out, const char **why);

/** 1 when @x's subject is the name @dn (RFC 4514) denotes, else 0 (also when @dn does not parse). */
int cf_x509_dn_match(X509 *x, const char *dn);

/**
 * 1 when @x has a subject alternative name of @kind equal to @want (DNS:
 * case-insensitive; URI, email: exact; IP: the same address, v4 or v6).
 * Wildcards are not expanded and a name with an embedded NUL never matches.
 */
int cf_x509_san_match(X509 *x, cf_x509_san_t kind, const char *want);

/** 1 when @want is a well-formed value for a SAN of @kind (an IP literal for IP). */
int cf_x509_san_ok(cf_x509_san_t kind, const char *want);

/** 1 when @x's validity period contains @now (Unix seconds). */
int cf_x509_valid_at(X509 *x, int64_t now);

/**
 * Load the PEM CA certificates of @path into a new store (free with
 * X509_STORE_free). NULL when the file cannot be read or holds none.
 */
X509_STORE *cf_x509_store_load(const char *path);

/**
 * 1 when @x chains to a CA of @store, is valid at @now and may be used by a
 * TLS client (extended key usage, if any, allows clientAuth); else 0.
 */
int cf_x509_verify(X509_STORE *store, X509 *x, int64_t now);

#endif
