/* rtp supervise: a supervisor on another host. It connects to the broker's control
 * endpoint, offers this host's capacity, and runs as many workers of each pool as
 * the broker's pool managers ask, restarting any that dies (one-for-one, with
 * backoff and an intensity limit). With --join HOST[:PORT] it learns the workers
 * endpoint, the workers' settings and the word list from the broker (join.h);
 * with --control and --workers the workers take their other settings from the
 * environment (RTP_WORK_MEAN_MS, RTP_EMOTION_URL, ...). */
#include "supervise.h"

#include "join.h"
#include "log.h"
#include "settings.h"
#include "supervise_link.h"
#include "supervisor.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const rtp_setting_def_t s_settings[] = {
    {"join", RTP_SET_STR, NULL,
     "HOST[:PORT] of an `rtp up --listen` (PORT: its --listen-port, default 5559): learn the rest "
     "from its broker; replaces --control and --workers",
     NULL},
    {"control", RTP_SET_STR, "tcp://127.0.0.1:5559", "the broker's control endpoint", NULL},
    {"workers", RTP_SET_STR, "tcp://127.0.0.1:5556", "the broker's workers endpoint, given to every worker", NULL},
    {"name", RTP_SET_STR, NULL, "this supervisor's name (default: the host name)", "RTP_SUPERVISOR_NAME"},
    /* not RTP_CAPACITY: the workers inherit our environment, and to them that is their task capacity */
    {"capacity", RTP_SET_INT, "16", "the most worker processes this host runs", "RTP_HOST_CAPACITY"},
    {"max-restarts", RTP_SET_INT, "50", "restarts of one worker within --restart-period-ms before giving up on it", NULL},
    {"restart-period-ms", RTP_SET_INT, "10000", "the period of the restart intensity limit", NULL},
    RTP_SETTINGS_END,
};

int supervise_main(int argc, char **argv)
{
    int code;
    rtp_settings_t *s = rtp_settings_new("rtp supervise", "Runs workers on this host for a remote broker.",
                                         s_settings, argc, argv, &code);
    if (!s)
        return code;
    rtp_log_init("rtp-supervise");
    rtp_signals_install();
    /* The workers take their settings from the environment: a --curve-dir given as a
     * flag must reach them too, or they could never join a CURVE broker. */
    const char *curve_dir = rtp_settings_str(s, "curve-dir");
    if (curve_dir && *curve_dir)
        setenv("RTP_CURVE_DIR", curve_dir, 1);
    char name[64];
    if (rtp_settings_str(s, "name"))
        snprintf(name, sizeof name, "%s", rtp_settings_str(s, "name"));
    else if (gethostname(name, sizeof name) != 0)
        snprintf(name, sizeof name, "host-%d", (int) getpid());
    name[sizeof name - 1] = 0;

    char bin_dir[PATH_MAX], exe[RTP_POOL_COUNT][PATH_MAX + 32];
    rtp_exe_dir(bin_dir, sizeof bin_dir);
    static const char *names[RTP_POOL_COUNT] = {"rtp-censor", "rtp-sentiment", "rtp-engagement"};
    worker_spec_t spec = {.workers_endpoint = rtp_settings_str(s, "workers")};
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        snprintf(exe[p], sizeof exe[p], "%s/%s", bin_dir, names[p]);
        spec.exe[p] = exe[p];
    }
    const char *control = rtp_settings_str(s, "control");
    join_t *join = NULL;
    char dir[64] = "";
    const char *join_at = rtp_settings_str(s, "join");
    if (join_at && *join_at) {
        rtp_err_t err;
        snprintf(dir, sizeof dir, "/tmp/rtp-supervise-XXXXXX");
        if (!mkdtemp(dir))
            rtp_err_set(&err, "cannot make a folder for the broker's word list (%s): %s", dir, strerror(errno));
        else if (!(join = join_new(join_at, dir, &err)))
            rmdir(dir);
        if (!join) {
            fprintf(stderr, "rtp supervise: %s\n", err.msg);
            rtp_settings_destroy(&s);
            return 2;
        }
        control = join_control(join);
    }
    sup_t *sup = sup_new((int) rtp_settings_int(s, "max-restarts"), (int) rtp_settings_int(s, "restart-period-ms"),
                         100, 5000);
    supervise_link_t *link =
        supervise_link_new(sup, control, name, (int) rtp_settings_int(s, "capacity"), &spec, 500, 4);
    if (join)
        supervise_link_learn(link, join_welcome, join);
    rtp_info("supervisor %s offering %lld worker slots to %s", name, (long long) rtp_settings_int(s, "capacity"),
             control);
    while (!rtp_stop_requested()) {
        sup_poll(sup);
        supervise_link_poll(link, 100);
    }
    /* goodbye first: the broker's pool managers move this host's share to the other
     * hosts at once, while its workers (stopped next) hand their tasks back */
    supervise_link_destroy(&link);
    rtp_info("stopping the workers");
    sup_stop_all(sup, 10000);
    sup_destroy(&sup);
    join_destroy(&join);
    if (*dir)
        rmdir(dir);
    rtp_settings_destroy(&s);
    return 0;
}
