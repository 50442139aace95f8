/* services: the outside services `rtp up` provides when the user gives none: a
 * private redis-server and the stand-in rtp-server (rtp-replay). */
#ifndef RTP_SERVICES_H
#define RTP_SERVICES_H

#include "supervisor.h"

#include <stddef.h>

/* Starts a private redis-server under the supervisor, with its files (an
 * append-only file, so a restart in the same dir finds what was stored) in dir, and
 * waits (up to 10 s) until it answers PING. Writes its URL into url. 0 or -1. */
int services_start_redis(sup_t *sup, const char *dir, char *url, size_t url_cap);

/* Starts rtp-replay (from bin_dir, with extra arguments) on a free port and waits
 * until it prints the address it listens on; writes the base URL into url. 0 or -1. */
int services_start_replay(sup_t *sup, const char *bin_dir, const char *dir, char *const extra_args[], char *url,
                          size_t url_cap);

#endif
