/* rtp-broker: schedules tweets over the worker pools (see broker.h). */
#include "broker.h"
#include "proto.h"
#include "settings.h"
#include "util.h"
#include "welcome.h"

#include <stdio.h>

static const rtp_setting_def_t s_settings[] = {
    {"readers", RTP_SET_STR, "tcp://127.0.0.1:5555", "endpoint to bind for readers (ROUTER)", NULL},
    {"workers", RTP_SET_STR, "tcp://127.0.0.1:5556", "endpoint to bind for workers (ROUTER)", NULL},
    {"results", RTP_SET_STR, "tcp://127.0.0.1:5557", "endpoint to bind for the aggregator (PUSH)", NULL},
    {"hashtags", RTP_SET_STR, "tcp://127.0.0.1:5558", "endpoint to bind for rtp-hashtags (PUB)", NULL},
    {"control", RTP_SET_STR, "tcp://127.0.0.1:5559", "endpoint to bind for supervisors (ROUTER)", NULL},
    {"scale-censor", RTP_SET_STR, NULL, "MIN:MAX (or N) workers the pool manager keeps in the censor pool; unset: not managed", NULL},
    {"scale-sentiment", RTP_SET_STR, NULL, "the same for the sentiment pool", NULL},
    {"scale-engagement", RTP_SET_STR, NULL, "the same for the engagement pool", NULL},
    {"scale-tick-ms", RTP_SET_INT, "1000", "how often the pool managers measure and decide", NULL},
    {"heartbeat-ms", RTP_SET_INT, "500", "heartbeat interval to workers", NULL},
    {"liveness", RTP_SET_INT, "4", "heartbeats a worker may miss before it is declared dead", NULL},
    {"max-events", RTP_SET_INT, "4000", "events in flight at most; at the limit readers are not read", NULL},
    {"max-crashes", RTP_SET_INT, "3", "K: a task in flight on K lost workers is poison (dead letter)", NULL},
    {"speculative-censor", RTP_SET_INT, "3", "copies of each task sent to distinct idle censor workers (1 = off, up to 3)", NULL},
    {"speculative-sentiment", RTP_SET_INT, "1", "the same for the sentiment pool", NULL},
    {"speculative-engagement", RTP_SET_INT, "1", "the same for the engagement pool", NULL},
    {"drain-ms", RTP_SET_INT, "10000", "on SIGTERM, how long to finish the events in flight", NULL},
    {"stats-ms", RTP_SET_INT, "5000", "interval of the stats log line", NULL},
    {"welcome-worker-args", RTP_SET_STR, NULL,
     "settings for the workers of a supervisor that joins: POOL:--flag=value words, space-separated", NULL},
    {"welcome-emotion-url", RTP_SET_STR, NULL,
     "fetch the sentiment word list here at start and hand it to every supervisor that joins; unset: none",
     NULL},
    {"print-per-second", RTP_SET_INT, "15",
     "censored tweets the censor pool prints a second in all, however many workers; the rest are counted (0 = all)",
     NULL},
    RTP_SETTINGS_END,
};

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *s = rtp_settings_new("rtp-broker", "The scheduler: readers in, worker pools, results out.",
                                         s_settings, argc, argv, &code);
    if (!s)
        return code;
    rtp_signals_install();
    broker_config_t cfg = {
        .readers_endpoint = rtp_settings_str(s, "readers"),
        .workers_endpoint = rtp_settings_str(s, "workers"),
        .results_endpoint = rtp_settings_str(s, "results"),
        .hashtags_endpoint = rtp_settings_str(s, "hashtags"),
        .control_endpoint = rtp_settings_str(s, "control"),
        .scale_tick_ms = (int) rtp_settings_int(s, "scale-tick-ms"),
        .heartbeat_ms = (int) rtp_settings_int(s, "heartbeat-ms"),
        .liveness = (int) rtp_settings_int(s, "liveness"),
        .max_events = (int) rtp_settings_int(s, "max-events"),
        .max_crashes = (int) rtp_settings_int(s, "max-crashes"),
        .speculative = {(int) rtp_settings_int(s, "speculative-censor"), (int) rtp_settings_int(s, "speculative-sentiment"),
                        (int) rtp_settings_int(s, "speculative-engagement")},
        .drain_ms = (int) rtp_settings_int(s, "drain-ms"),
        .stats_ms = (int) rtp_settings_int(s, "stats-ms"),
        .print_per_second = rtp_settings_int(s, "print-per-second"),
        .metrics_port = rtp_settings_metrics_port(s),
    };
    if (cfg.print_per_second < 0) {
        fprintf(stderr, "rtp-broker: --print-per-second must be 0 or more (see --help)\n");
        rtp_settings_destroy(&s);
        return 2;
    }
    static const char *scale_names[RTP_POOL_COUNT] = {"scale-censor", "scale-sentiment", "scale-engagement"};
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        const char *bounds = rtp_settings_str(s, scale_names[p]);
        cfg.scale[p] = scale_policy_default(0, 0);
        if (bounds && *bounds) {
            if (scale_parse_bounds(bounds, &cfg.scale[p]) != 0) {
                fprintf(stderr, "rtp-broker: --%s takes MIN:MAX or N, not %s\n", scale_names[p], bounds);
                rtp_settings_destroy(&s);
                return 2;
            }
            cfg.managed[p] = 1;
        }
    }
    rtp_msg_t *welcome = welcome_new(cfg.workers_endpoint, rtp_settings_str(s, "welcome-worker-args"),
                                     rtp_settings_str(s, "welcome-emotion-url"));
    cfg.welcome = welcome;
    code = broker_run(&cfg);
    rtp_msg_destroy(&welcome);
    rtp_settings_destroy(&s);
    return code;
}
