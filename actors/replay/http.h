/* http: the HTTP/1.1 pieces of the replay server, with no I/O: a request-head
 * parser that takes the bytes received so far (a request may arrive in pieces),
 * and a response-head writer. */
#ifndef REPLAY_HTTP_H
#define REPLAY_HTTP_H

#include <stddef.h>

#define REPLAY_HTTP_PATH_MAX 256

typedef struct {
    char method[16];
    char path[REPLAY_HTTP_PATH_MAX]; /* the target without its query */
    int keep_alive;                  /* HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive */
    int has_body;                    /* Content-Length > 0 or Transfer-Encoding: the server closes after */
} replay_http_req_t;

/* Parses the request head at the start of buf[0..len). Returns the length of the
 * head (blank line included) when it is complete, 0 when more bytes are needed,
 * -1 when the bytes are not an HTTP/1.x request (or the target is too long).
 * Lines may end with CRLF or LF; empty lines before the request line are skipped. */
int replay_http_parse(const char *buf, size_t len, replay_http_req_t *req);

/* Writes a response head into buf (cap bytes) and returns its length (0 if it did
 * not fit). content_length < 0 leaves Content-Length out (a body that ends when
 * the connection closes). extra: more header lines, each ending in CRLF, or NULL. */
size_t replay_http_head(char *buf, size_t cap, int status, const char *content_type, long long content_length,
                        int keep_alive, const char *extra);

/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *replay_http_reason(int status);

#endif
