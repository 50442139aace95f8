/* http_get: fetch a small document over HTTP in one call (the AFINN list from the
 * server's /emotion_values).
 *
 * http:// URLs are fetched on plain POSIX sockets (HTTP/1.1, Connection: close;
 * bodies with Content-Length, chunked, or ended by the close), so that a worker
 * that fetches one list at start-up does not load libcurl and its TLS libraries
 * and keep them resident for the rest of its life (about 7 MiB of RSS each).
 * https:// URLs go through libcurl, loaded with dlopen for that one call and
 * unloaded after it. */
#ifndef RTP_HTTP_GET_H
#define RTP_HTTP_GET_H

#include "rtp_err.h"

#include <stddef.h>

/* GETs url and returns the body, NUL-terminated (caller frees), with its length in
 * *len_p. Fails with a reason on a malformed or unsupported URL, a connection
 * error, a malformed response, a status other than 200 (redirects are not
 * followed), a body over max_bytes, or no whole answer within timeout_ms (which
 * bounds connecting, sending and receiving; name resolution is bounded by the
 * system resolver's own timeouts). */
char *rtp_http_get(const char *url, size_t max_bytes, long timeout_ms, size_t *len_p, rtp_err_t *err);

#endif
