/* SPDX-License-Identifier: MIT
 *
 * A request's client certificate and what it proves (mtls.h).
 */
#include "api/mtls.h"

#include <string.h>

#include "core/digest.h"
#include "core/netaddr.h"
#include "util/tls.h"
#include "util/x509.h"

/*
 * The certificate a trusted proxy forwards, or NULL: only a peer in
 * risk.trusted_proxies may speak for the client's TLS handshake, and only
 * with exactly one header (two could be the client's and the proxy's).
 */
static const char *forwarded_pem(cf_app_t *app, const cf_http_req_t *req, size_t *len)
{
    const char *pem = cf_http_req_header(req, "X-SSL-Client-Cert", len);
    cf_ip_t peer;

    if (pem == NULL || *len == 0 || cf_http_req_header_count(req, "X-SSL-Client-Cert") != 1 ||
        cf_ip_parse(req->peer_ip, strlen(req->peer_ip), &peer) < 0)
        return NULL;
    for (size_t i = 0; i < app->ntrusted; i++)
        if (cf_cidr_contains(&app->trusted[i], &peer))
            return pem;
    return NULL;
}

const char *cf_api_client_cert(cf_app_t *app, const cf_http_req_t *req, char buf[44])
{
    size_t len = 0;
    const char *pem;

    if (req->tls_peer != NULL && req->tls_peer->x5t[0] != '\0')
        return req->tls_peer->x5t;
    pem = forwarded_pem(app, req, &len);
    if (pem == NULL || cf_tls_pem_x5t(pem, len, buf) < 0)
        return NULL;
    return buf;
}

/* Does @x carry the name @cl is registered with (exactly one is set, config/checks.c)? */
static int registered_name(const cf_client_t *cl, X509 *x)
{
    if (cl->tls_dn != NULL)
        return cf_x509_dn_match(x, cl->tls_dn);
    if (cl->tls_san_dns != NULL)
        return cf_x509_san_match(x, CF_X509_SAN_DNS, cl->tls_san_dns);
    if (cl->tls_san_uri != NULL)
        return cf_x509_san_match(x, CF_X509_SAN_URI, cl->tls_san_uri);
    if (cl->tls_san_ip != NULL)
        return cf_x509_san_match(x, CF_X509_SAN_IP, cl->tls_san_ip);
    return cl->tls_san_email != NULL && cf_x509_san_match(x, CF_X509_SAN_EMAIL, cl->tls_san_email);
}

cf_reason_t cf_api_cert_auth(cf_app_t *app, const cf_http_req_t *req, const cf_client_t *cl)
{
    int64_t now = cf_time_to_sec(cf_app_now(app));
    const cf_tls_peer_t *tp = req->tls_peer;
    X509 *x = tp != NULL ? tp->cert : NULL, *owned = NULL;
    cf_reason_t why = CF_REASON_NONE;
    char x5t[44];
    int chain_ok = tp != NULL && tp->chain_ok;

    if (x == NULL) {
        size_t len = 0;
        const char *pem = forwarded_pem(app, req, &len);

        x = owned = pem != NULL ? cf_x509_from_pem(pem, len) : NULL;
        if (x == NULL)
            return CF_REASON_CLIENT_CERT_REQUIRED;
        if (cl->auth_method == CF_CLIENT_AUTH_TLS) /* the proxy did not check it: we do */
            chain_ok = cf_x509_verify(cf_app_client_ca(app), x, now);
    }
    if (!cf_x509_valid_at(x, now) || (cl->auth_method == CF_CLIENT_AUTH_TLS && !chain_ok)) {
        why = CF_REASON_CLIENT_CERT_INVALID;
    } else if (cl->auth_method == CF_CLIENT_AUTH_TLS) {
        if (!registered_name(cl, x))
            why = CF_REASON_CLIENT_CERT_MISMATCH;
    } else {
        cf_x509_x5t(x, x5t);
        if (cl->tls_x5t == NULL || strlen(x5t) != strlen(cl->tls_x5t) ||
            !cf_ct_equal(x5t, cl->tls_x5t, strlen(x5t)))
            why = CF_REASON_CLIENT_CERT_MISMATCH;
    }
    X509_free(owned);
    return why;
}
