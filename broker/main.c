/* rtp-broker: schedules tweets over the worker pools (see broker.h). */
#include "broker.h"
#include "settings.h"
#include "util.h"

static const rtp_setting_def_t s_settings[] = {
    {"readers", RTP_SET_STR, "tcp://127.0.0.1:5555", "endpoint to bind for readers (ROUTER)", NULL},
    {"workers", RTP_SET_STR, "tcp://127.0.0.1:5556", "endpoint to bind for workers (ROUTER)", NULL},
    {"results", RTP_SET_STR, "tcp://127.0.0.1:5557", "endpoint to bind for the aggregator (PUSH)", NULL},
    {"hashtags", RTP_SET_STR, "tcp://127.0.0.1:5558", "endpoint to bind for rtp-hashtags (PUB)", NULL},
    {"heartbeat-ms", RTP_SET_INT, "500", "heartbeat interval to workers", NULL},
    {"liveness", RTP_SET_INT, "4", "heartbeats a worker may miss before it is declared dead", NULL},
    {"max-events", RTP_SET_INT, "20000", "events in flight at most; at the limit readers are not read", NULL},
    {"max-crashes", RTP_SET_INT, "3", "K: a task in flight on K lost workers is poison (dead letter)", NULL},
    {"speculative-censor", RTP_SET_INT, "3", "copies of each task sent to distinct idle censor workers (1 = off, up to 3)", NULL},
    {"speculative-sentiment", RTP_SET_INT, "1", "the same for the sentiment pool", NULL},
    {"speculative-engagement", RTP_SET_INT, "1", "the same for the engagement pool", NULL},
    {"drain-ms", RTP_SET_INT, "10000", "on SIGTERM, how long to finish the events in flight", NULL},
    {"stats-ms", RTP_SET_INT, "5000", "interval of the stats log line", NULL},
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
        .heartbeat_ms = (int) rtp_settings_int(s, "heartbeat-ms"),
        .liveness = (int) rtp_settings_int(s, "liveness"),
        .max_events = (int) rtp_settings_int(s, "max-events"),
        .max_crashes = (int) rtp_settings_int(s, "max-crashes"),
        .speculative = {(int) rtp_settings_int(s, "speculative-censor"), (int) rtp_settings_int(s, "speculative-sentiment"),
                        (int) rtp_settings_int(s, "speculative-engagement")},
        .drain_ms = (int) rtp_settings_int(s, "drain-ms"),
        .stats_ms = (int) rtp_settings_int(s, "stats-ms"),
    };
    code = broker_run(&cfg);
    rtp_settings_destroy(&s);
    return code;
}
