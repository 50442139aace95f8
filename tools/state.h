/* state: the folder `rtp up` keeps what must outlive a run in (the readers' spools,
 * the batcher's journal, the private Redis's data), so that running the same command
 * again in the same place resumes where the last run stopped. One `rtp up` at a time
 * uses it: a lock file in it is held (flock) by `rtp up` and, inherited, by every
 * process it starts, so it is free only once the last of them has exited. */
#ifndef RTP_TOOLS_STATE_H
#define RTP_TOOLS_STATE_H

#include "rtp_err.h"

#include <limits.h>

typedef struct {
    char dir[PATH_MAX]; /* absolute */
    int lock_fd;
} up_state_t;

/* Creates (with its parents) and locks the folder `given`, made absolute. When
 * another `rtp up` holds it, fails at once while that process lives, and waits up to
 * wait_ms for the lock while only processes of a run that is gone hold it (they are
 * still stopping). 0, or -1 with the reason in err. */
int up_state_open(up_state_t *self, const char *given, int wait_ms, rtp_err_t *err);
/* Releases the lock (this process's hold of it). */
void up_state_close(up_state_t *self);

#endif
