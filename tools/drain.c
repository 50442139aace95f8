#include "drain.h"

#include "log.h"
#include "util.h"

#include <signal.h>
#include <string.h>

#define READERS "rtp-reader"
#define PROGRESS_MS 1000
/* a reader ends its own wait at the bound; this much later it is killed */
#define KILL_GRACE_MS 5000

static int s_is_reader(const sup_child_t *c)
{
    return strncmp(c->name, READERS, strlen(READERS)) == 0;
}

/* Readers still running; with sig, sends it to each. */
static int s_readers(sup_t *sup, int sig)
{
    int n = 0;
    for (int i = 0; i < sup_count(sup); i++) {
        sup_child_t *c = sup_child(sup, i);
        if (c->pid && s_is_reader(c)) {
            n++;
            if (sig)
                kill(c->pid, sig);
        }
    }
    return n;
}

int up_drain(sup_t *sup, supervise_link_t *link, up_status_t *status, int64_t bound_ms)
{
    int64_t start = rtp_mono_ms(), next_line = start + PROGRESS_MS;
    for (int i = 0; i < sup_count(sup); i++) {
        sup_child_t *c = sup_child(sup, i);
        if (s_is_reader(c)) {
            sup_stop_async(sup, c);
            c->kill_at_ms = start + bound_ms + KILL_GRACE_MS;
        }
    }
    rtp_info(
        "draining: the readers took their last events; waiting up to %lld ms (--drain-ms) for what is in "
        "flight to be stored. A second Ctrl-C stops at once (the readers' spools keep the rest)",
        (long long) bound_ms);
    up_status_drain_line(status, s_readers(sup, 0));
    int second = 0;
    while (s_readers(sup, 0) > 0) {
        if (rtp_stop_signals() >= 2 && !second) {
            second = 1;
            rtp_warn(
                "second signal: stopping at once; what is not stored stays in the readers' spools for the "
                "next start");
            s_readers(sup, SIGTERM);
        }
        sup_poll(sup);
        supervise_link_poll(link, 100);
        if (rtp_mono_ms() >= next_line && !second) {
            up_status_drain_line(status, s_readers(sup, 0));
            next_line = rtp_mono_ms() + PROGRESS_MS;
        }
    }
    int64_t took = rtp_mono_ms() - start;
    if (second || took > bound_ms) {
        rtp_warn(
            "drain ended after %lld ms with records not yet stored: the readers' spools keep them, and the "
            "next start sends them again",
            (long long) took);
        return second ? 2 : 1;
    }
    rtp_info("drained in %lld ms: every event the readers took is stored", (long long) took);
    return 0;
}
