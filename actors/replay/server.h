/* server: the replay server's HTTP/1.1 front: one thread, non-blocking sockets,
 * poll(). Serves routes of two kinds: a fixed body (with Content-Length,
 * keep-alive) and an SSE stream fed by a replay_stream_t (no Content-Length, the
 * body runs until the connection closes). GET / describes the routes as JSON;
 * anything else is 404.
 *
 * Each connection buffers at most REPLAY_CONN_BUFFER bytes of events: when a
 * client reads slowly its buffer fills, the server stops taking events for it, and
 * TCP pushes back. Events a connection took but did not write whole when it
 * closes go back to their stream (see stream.h).
 */
#ifndef REPLAY_SERVER_H
#define REPLAY_SERVER_H

#include "rtp_err.h"
#include "stream.h"

#include <stddef.h>

#define REPLAY_CONN_BUFFER (128 * 1024)

typedef struct {
    const char *bind;   /* address to listen on, e.g. "127.0.0.1" or "::" */
    int port;           /* 0 = any free port */
    int max_clients;    /* connections served at once; more wait in the backlog */
    double keepalive_s; /* interval of ": keep-alive" comments once a stream is over */
} replay_server_cfg_t;

typedef struct replay_server_t replay_server_t;

/* Binds and listens. NULL with a reason when the address cannot be used. */
replay_server_t *replay_server_new(const replay_server_cfg_t *cfg, rtp_err_t *err);
void replay_server_destroy(replay_server_t **self_p);

/* The port listened on (the chosen one when cfg->port was 0). */
int replay_server_port(replay_server_t *self);
/* The address listened on, as it goes in a URL ("127.0.0.1", "[::1]"). */
const char *replay_server_host(replay_server_t *self);

/* Serves path as an SSE stream; the server takes ownership of *stream_p and nulls it. */
void replay_server_add_stream(replay_server_t *self, const char *path, replay_stream_t **stream_p,
                              const char *description);
/* Serves path as a fixed body; the server takes ownership of body (malloc'd). */
void replay_server_add_body(replay_server_t *self, const char *path, const char *content_type, char *body,
                            size_t len, const char *description);

/* Serves until rtp_stop_requested(); returns 0, or -1 if polling failed. */
int replay_server_run(replay_server_t *self);

#endif
