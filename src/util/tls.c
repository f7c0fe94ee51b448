/* SPDX-License-Identifier: MIT
 *
 * TLS server contexts from files, and certificate thumbprints (util/tls.h).
 */
#include "util/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/error.h"
#include "util/x509.h"

/* TLS 1.2 suites: ECDHE with an AEAD only (TLS 1.3's defaults are all AEAD). */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"   \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* The last OpenSSL error as text, or @dflt when its queue is empty. */
static const char *ssl_reason(const char *dflt)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    return r != NULL ? r : dflt;
}

static int fail(cf_tls_field_t *field, cf_tls_field_t which, char *err, size_t errlen,
                const char *what, const char *path, const char *why)
{
    *field = which;
    (void)snprintf(err, errlen, "%s '%s': %s", what, path, why);
    ERR_clear_error();
    return CF_ECONFIG;
}

/*
 * Accept any client certificate during the handshake: the chain's verdict is
 * read afterwards (SSL_get_verify_result) so that a self-signed certificate
 * can still bind a token by thumbprint. A client that presents none is
 * refused by SSL_VERIFY_FAIL_IF_NO_PEER_CERT when certificates are required.
 * Only a chain of more than CF_TLS_MAX_CLIENT_CHAIN certificates fails the
 * handshake here, before any path is built from it.
 */
static int accept_any(int ok, X509_STORE_CTX *x)
{
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(x);

    (void)ok;
    return sent == NULL || sk_X509_num(sent) <= CF_TLS_MAX_CLIENT_CHAIN;
}

/* Whether @path can be opened for reading; errno text in @why otherwise. */
static int readable(const char *path, const char **why)
{
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        *why = strerror(errno);
        return 0;
    }
    (void)fclose(f);
    return 1;
}

int cf_tls_ctx_new(const cf_tls_opts_t *o, SSL_CTX **out, cf_tls_field_t *field, char *err,
                   size_t errlen)
{
    SSL_CTX *ctx;
    const char *why;
    int rc = CF_ECONFIG;

    *out = NULL;
    ERR_clear_error();
    if (!readable(o->cert, &why))
        return fail(field, CF_TLS_FIELD_CERT, err, errlen, "cannot open", o->cert, why);
    if (!readable(o->key, &why))
        return fail(field, CF_TLS_FIELD_KEY, err, errlen, "cannot open", o->key, why);
    if (o->client_ca[0] != '\0' && !readable(o->client_ca, &why))
        return fail(field, CF_TLS_FIELD_CLIENT_CA, err, errlen, "cannot open", o->client_ca, why);
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return fail(field, CF_TLS_FIELD_CERT, err, errlen, "cannot use", o->cert, "out of memory");
    (void)SSL_CTX_set_min_proto_version(ctx, o->min_version ? o->min_version : TLS1_2_VERSION);
    (void)SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    (void)SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
        rc = fail(field, CF_TLS_FIELD_CERT, err, errlen, "no PEM certificate in", o->cert,
                  ssl_reason("unreadable"));
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            rc = fail(field, CF_TLS_FIELD_KEY, err, errlen, "the key in", o->key,
                      "does not match the certificate in tls.cert");
            goto out;
        }
        rc = fail(field, CF_TLS_FIELD_KEY, err, errlen, "no PEM private key in", o->key,
                  ssl_reason("unreadable"));
        goto out;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        rc = fail(field, CF_TLS_FIELD_KEY, err, errlen, "the key in", o->key,
                  "does not match the certificate in tls.cert");
        goto out;
    }
    if (o->client_ca[0] != '\0') {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);

        if (names == NULL || SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            rc = fail(field, CF_TLS_FIELD_CLIENT_CA, err, errlen, "no PEM CA certificate in",
                      o->client_ca, ssl_reason("unreadable"));
            goto out;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* takes @names */
    }
    /* What a client's Certificate message may cost: OpenSSL refuses a larger
     * one from its length field, before buffering it (its default is 100 KiB). */
    SSL_CTX_set_max_cert_list(ctx, CF_TLS_MAX_CLIENT_CERT_LIST);
    SSL_CTX_set_verify_depth(ctx, CF_TLS_MAX_CLIENT_CHAIN);
    if (o->client_mode != CF_TLS_CLIENT_OFF)
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER | (o->client_mode == CF_TLS_CLIENT_REQUIRED
                                                  ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                  : 0),
                           accept_any);
    *out = ctx;
    return 0;
out:
    SSL_CTX_free(ctx);
    return rc;
}

void cf_tls_peer(SSL *ssl, cf_tls_peer_t *p)
{
    X509 *x = SSL_get0_peer_certificate(ssl);
    BIO *b;
    int n;

    memset(p, 0, sizeof *p);
    if (x == NULL)
        return;
    p->cert = x;
    cf_x509_x5t(x, p->x5t);
    b = BIO_new(BIO_s_mem());
    if (b != NULL &&
        X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_read(b, p->dn, (int)sizeof p->dn - 1);
        p->dn[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    p->chain_ok = SSL_get_verify_result(ssl) == X509_V_OK;
}

int cf_tls_pem_x5t(const char *pem, size_t len, char x5t[44])
{
    X509 *x = cf_x509_from_pem(pem, len);

    x5t[0] = '\0';
    if (x == NULL)
        return CF_EINVAL;
    cf_x509_x5t(x, x5t);
    X509_free(x);
    return x5t[0] != '\0' ? 0 : CF_EINVAL;
}
