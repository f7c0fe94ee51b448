/* SPDX-License-Identifier: MIT
 *
 * The Date header of every response (RFC 9110 section 6.6.1), formatted at
 * most once a second per cache: a busy server writes thousands of answers a
 * second with the same date. The API server and the proxy each keep a cache.
 */
#include <stdio.h>
#include <time.h>

#include "http/conn.h"
#include "http/rx.h"

const char *cf__http_date(char date[32], time_t *date_sec)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (now == *date_sec && date[0] != '\0')
        return date;
    if (gmtime_r(&now, &tm) == NULL)
        return date;
    /* Every field cut to its width (a no-op for any real date), so the
     * compiler can prove the line fits the 32 bytes. */
    snprintf(date, 32, "%s, %02u %s %04u %02u:%02u:%02u GMT", days[(unsigned)tm.tm_wday % 7],
             (unsigned)tm.tm_mday % 100, months[(unsigned)tm.tm_mon % 12],
             (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)tm.tm_hour % 100,
             (unsigned)tm.tm_min % 100, (unsigned)tm.tm_sec % 100);
    *date_sec = now;
    return date;
}

const char *cf__http_server_date(cf_http_server_t *s)
{
    return cf__http_date(s->date, &s->date_sec);
}
