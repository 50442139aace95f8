/* http_get: fetch a small document over HTTP in one call (the AFINN list from the
 * server's /emotion_values). */
#ifndef RTP_HTTP_GET_H
#define RTP_HTTP_GET_H

#include "rtp_err.h"

#include <stddef.h>

/* GETs url and returns the body, NUL-terminated (caller frees), with its length in
 * *len_p. Fails with a reason on a connection error, a status other than 200, a body
 * over max_bytes, or no answer within timeout_ms. */
char *rtp_http_get(const char *url, size_t max_bytes, long timeout_ms, size_t *len_p, rtp_err_t *err);

#endif
