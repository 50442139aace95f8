/* handshake_watch: logs the failed security handshakes of one socket, which ZeroMQ
 * otherwise retries in silence: a CURVE peer whose key the server does not list, a
 * peer without keys meeting a CURVE endpoint, or the reverse. It reads the socket's
 * monitor events (over inproc); each kind of failure is logged at once, then at
 * most every 10 s with how many there were since. */
#ifndef RTP_HANDSHAKE_WATCH_H
#define RTP_HANDSHAKE_WATCH_H

#include <czmq.h>

typedef struct handshake_watch_t handshake_watch_t;

/* Watches sock (borrowed; destroy the watch before it). `what` names the socket
 * and the side in the log lines (e.g. "the broker's control endpoint"). NULL when
 * the monitor cannot be set up (logged; the socket works as before). */
handshake_watch_t *handshake_watch_new(zsock_t *sock, const char *what);
void handshake_watch_destroy(handshake_watch_t **self_p);
/* Watches another socket instead (NULL: none), keeping the counts and the pace of
 * the log lines: for a link that makes a new socket at each reconnect. Call before
 * the old socket is destroyed. 0, or -1 (logged; also for a NULL watch). */
int handshake_watch_attach(handshake_watch_t *self, zsock_t *sock);

/* Reads the events waiting (never blocks) and logs the failures; returns how many
 * handshakes failed since the watch began (0 for NULL). */
int handshake_watch_poll(handshake_watch_t *self);

#endif
