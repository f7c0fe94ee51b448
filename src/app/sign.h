/* SPDX-License-Identifier: MIT
 *
 * The signer thread's lifecycle (app/sign.c), for app.c only; handlers use
 * cf_app_issue_access_async() from app/app.h.
 */
#ifndef CF_APP_SIGN_H
#define CF_APP_SIGN_H

#include "app/app.h"

/** Stop the signer: what it holds is signed and answered first (cf_app_stop). */
void cf_app_sign_stop(cf_app_t *app);

/** Free the signer's memory; after cf_app_sign_stop() and the loop's last turn. */
void cf_app_sign_fini(cf_app_t *app);

#endif
