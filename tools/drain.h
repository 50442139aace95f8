/* drain: the first part of `rtp up`'s orderly stop. The readers stop taking events
 * at once and wait for the acknowledgement of everything they took (each exits when
 * its last record is stored); meanwhile the rest of the system runs on as before (the
 * supervisor keeps and restarts workers, the broker's link gets its heartbeats), so
 * the backlog drains, and a line every second says what is left. Bounded by bound_ms;
 * a second SIGINT/SIGTERM ends it at once. Whatever is not stored when it ends stays
 * in the readers' spools for the next start. */
#ifndef RTP_TOOLS_DRAIN_H
#define RTP_TOOLS_DRAIN_H

#include "status.h"
#include "supervise_link.h"
#include "supervisor.h"

#include <stdint.h>

/* Returns 0 when every reader exited on its own (all it took is stored), 1 when the
 * bound ended the drain, 2 when a second signal did (then the rest may stop at once,
 * in no order: the spools keep what is not stored). */
int up_drain(sup_t *sup, supervise_link_t *link, up_status_t *status, int64_t bound_ms);

#endif
