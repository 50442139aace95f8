/* rtp-aggregator: joins the record and the three pool results of each event and
 * hands complete records to the batchers as fast as they ask (see aggregator.h). */
#include "aggregator.h"
#include "log.h"
#include "settings.h"
#include "util.h"

static const rtp_setting_def_t s_settings[] = {
    {"results", RTP_SET_STR, "tcp://127.0.0.1:5557",
     "the broker's results endpoint to connect to (PUSH side)", NULL},
    {"bind", RTP_SET_STR, "tcp://127.0.0.1:5558", "where batchers connect (ROUTER)", "RTP_AGGREGATOR_BIND"},
    {"max-pending", RTP_SET_INT, "50000",
     "cap on pending joins + ready records; at the cap the broker is pushed back (the bundle read last "
     "may pass it by up to 64 messages)",
     NULL},
    {"join-timeout-ms", RTP_SET_INT, "30000", "an incomplete join older than this becomes a dead letter",
     NULL},
    {"drain-timeout-ms", RTP_SET_INT, "5000",
     "on SIGTERM, how long to wait for credit to deliver what is ready", NULL},
    {"stats-ms", RTP_SET_INT, "5000", "interval of the stats log line", NULL},
    {"rcvhwm", RTP_SET_INT, "1000", "receive high-water mark of the results socket (messages)", NULL},
    RTP_SETTINGS_END,
};

static int s_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return (int) (v < lo ? lo : v > hi ? hi : v);
}

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *s =
        rtp_settings_new("rtp-aggregator",
                         "Joins the censored text, sentiment and engagement of each tweet and "
                         "hands complete records to rtp-batcher as it grants credit.",
                         s_settings, argc, argv, &code);
    if (!s)
        return code;
    rtp_signals_install();
    aggregator_config_t cfg = {
        .results = rtp_settings_str(s, "results"),
        .bind = rtp_settings_str(s, "bind"),
        .max_pending = (size_t) s_clamp(rtp_settings_int(s, "max-pending"), 1, 100000000),
        .join_timeout_ms = s_clamp(rtp_settings_int(s, "join-timeout-ms"), 1, 86400000),
        .drain_timeout_ms = s_clamp(rtp_settings_int(s, "drain-timeout-ms"), 0, 3600000),
        .stats_ms = s_clamp(rtp_settings_int(s, "stats-ms"), 10, 3600000),
        .rcvhwm = s_clamp(rtp_settings_int(s, "rcvhwm"), 1, 10000000),
        .metrics_port = rtp_settings_metrics_port(s),
    };
    code = aggregator_run(&cfg);
    rtp_settings_destroy(&s);
    return code;
}
