/* SPDX-License-Identifier: MIT
 *
 * Mutual TLS (RFC 8705) as requests carry it: the client certificate of a
 * request, from curfew's own TLS handshake or forwarded by a trusted proxy
 * (risk.trusted_proxies, X-SSL-Client-Cert as nginx's
 * $ssl_client_escaped_cert), for certificate-bound tokens (§3) and for
 * client authentication with tls_client_auth and
 * self_signed_tls_client_auth (§2). One place decides whose word about a
 * certificate is taken.
 */
#ifndef CF_API_MTLS_H
#define CF_API_MTLS_H

#include "api/api.h"
#include "core/policy.h"

/**
 * The x5t#S256 of the client certificate @req presented (RFC 8705 §3.1): on
 * curfew's TLS listener the handshake's, else the PEM a trusted proxy
 * forwards in X-SSL-Client-Cert. NULL when none; else @buf or the connection's.
 */
const char *cf_api_client_cert(cf_app_t *app, const cf_http_req_t *req, char buf[44]);

/**
 * Whether @req's client certificate authenticates client @cl (RFC 8705 §2):
 * for tls_client_auth it chains to the configured CAs (the handshake's
 * verdict on curfew's listener; mtls.client_ca or tls.client_ca for a
 * forwarded one), is valid now and carries the registered subject DN or
 * SAN; for self_signed_tls_client_auth it is valid now and its thumbprint
 * is the registered one. Returns CF_REASON_NONE, client_cert_required,
 * client_cert_invalid or client_cert_mismatch.
 */
cf_reason_t cf_api_cert_auth(cf_app_t *app, const cf_http_req_t *req, const cf_client_t *cl);

#endif
