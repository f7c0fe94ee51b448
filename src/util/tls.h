/* SPDX-License-Identifier: MIT
 *
 * TLS server contexts (OpenSSL 3) built from files: one function that both
 * `curfew config check` (to report FILE:LINE before the server starts) and
 * the server (to serve, and to reload on SIGHUP) call, so they refuse the
 * same files for the same reasons. Also the certificate thumbprint RFC 8705
 * binds tokens to. It knows nothing of sockets: src/http drives the
 * handshake over memory BIOs.
 */
#ifndef CF_UTIL_TLS_H
#define CF_UTIL_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/**
 * What a client certificate chain may be: at most this many certificates
 * (leaf and intermediates as sent) and this many bytes of Certificate
 * message in all; a larger one fails the handshake (docs/security.md).
 */
#define CF_TLS_MAX_CLIENT_CHAIN 10
#define CF_TLS_MAX_CLIENT_CERT_LIST (32 * 1024)

/** Whether a listener asks for client certificates (RFC 8705). */
typedef enum {
    CF_TLS_CLIENT_OFF,      /* never asks */
    CF_TLS_CLIENT_OPTIONAL, /* asks; a client without one is served */
    CF_TLS_CLIENT_REQUIRED, /* asks; the handshake fails without one */
} cf_tls_client_mode_t;

/** The files and choices of one listener; strings borrowed. */
typedef struct {
    const char *cert;      /* PEM chain, leaf first */
    const char *key;       /* PEM private key of the leaf */
    const char *client_ca; /* PEM CAs client certificates are checked against; "" none */
    int min_version;       /* TLS1_2_VERSION or TLS1_3_VERSION */
    cf_tls_client_mode_t client_mode;
} cf_tls_opts_t;

/** Which file of cf_tls_opts_t an error is about (for FILE:LINE messages). */
typedef enum { CF_TLS_FIELD_CERT, CF_TLS_FIELD_KEY, CF_TLS_FIELD_CLIENT_CA } cf_tls_field_t;

/**
 * Build a server SSL_CTX from @o into *@out (free with SSL_CTX_free). TLS 1.2
 * and 1.3 only, AEAD ciphers with forward secrecy only, no compression, no
 * renegotiation, no session tickets across restarts. A client certificate,
 * when asked for, is accepted even when it does not chain to client_ca
 * (self-signed certificates are bound by thumbprint, RFC 8705 §2.2); whether
 * it chained is read later with cf_tls_peer(). Returns 0, or CF_ECONFIG with
 * "what is wrong" in @err and the file it concerns in *@field.
 */
int cf_tls_ctx_new(const cf_tls_opts_t *o, SSL_CTX **out, cf_tls_field_t *field, char *err,
                   size_t errlen);

/** The client certificate of a finished handshake, as tokens and clients see it. */
typedef struct {
    char x5t[44];    /* base64url SHA-256 of the DER certificate, NUL-terminated; "" none */
    char dn[256];    /* subject DN, RFC 4514 ("CN=a,O=b"); "" none */
    int chain_ok;    /* it chains to client_ca and is valid now (tls_client_auth may trust its DN) */
    X509 *cert;      /* the certificate, borrowed from the SSL it came with (lives as long) */
} cf_tls_peer_t;

/** Fill @p from @ssl's peer certificate (all empty when there is none). */
void cf_tls_peer(SSL *ssl, cf_tls_peer_t *p);

/**
 * x5t#S256 of the PEM certificate @pem (@len bytes; a URL-escaped one, as
 * nginx's $ssl_client_escaped_cert, is unescaped first) into @x5t[44].
 * Returns 0 or CF_EINVAL when it holds no certificate.
 */
int cf_tls_pem_x5t(const char *pem, size_t len, char x5t[44]);

#endif
