/* listen: `rtp up --listen ADDR`, the broker's endpoints that other hosts reach.
 * Ports, from one base port (--listen-port, default 5559):
 *
 *   BASE      the control endpoint: supervisors join here (rtp supervise --join ADDR:BASE)
 *   BASE + 1  the workers endpoint: the workers of every host connect here
 *
 * Every other endpoint stays ipc:// on this host. An address other than loopback
 * needs CURVE keys (--curve-dir), unless the user says --insecure-listen. */
#ifndef RTP_TOOLS_LISTEN_H
#define RTP_TOOLS_LISTEN_H

#include "rtp_err.h"

#include <stdio.h>

typedef struct {
    char bind_control[300], bind_workers[300];       /* what the broker binds */
    char connect_control[300], connect_workers[300]; /* what this host connects to */
    char join_hint[300];                             /* ADDR[:PORT] for rtp supervise --join */
} listen_t;

/* addr: an IPv4 address, an interface name, localhost, or * (every interface).
 * 0, or -1 with the reason: a bad address or port, or (the keys' how-to is then
 * listen_print_keys_howto's) an address off loopback without keys or insecure. */
int listen_prepare(listen_t *self, const char *addr, int base_port, int have_keys, int insecure,
                   rtp_err_t *err);

/* How to make the keys and which files go to which host. */
void listen_print_keys_howto(FILE *f, const char *addr);

#endif
