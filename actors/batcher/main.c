/* rtp-batcher: takes complete records from rtp-aggregator as fast as Redis takes
 * them, and writes them in batches (see batcher.h). */
#include "batcher.h"
#include "settings.h"
#include "util.h"

#include <stdio.h>

static const rtp_setting_def_t s_settings[] = {
    {"broker", RTP_SET_STR, NULL,
     "the broker's readers endpoint: after each batch is in Redis, ACKs go there for the readers (unset: "
     "none)",
     NULL},
    {"aggregator", RTP_SET_STR, "tcp://127.0.0.1:5558", "the aggregator's batchers endpoint to connect to",
     NULL},
    {"redis-url", RTP_SET_STR, "redis://127.0.0.1:6379", "where to store: redis://[:password@]host:port[/db]",
     "REDIS_URL"},
    {"redis-connections", RTP_SET_INT, "2",
     "connections to Redis, a batch's rows split among them by user so that Redis works on one while the "
     "batcher prepares another (1 to 8)",
     NULL},
    {"batch-size", RTP_SET_INT, "100", "records per batch (the credit window is four times this)", NULL},
    {"batch-ms", RTP_SET_INT, "50",
     "a record is in Redis at the latest this long after its reader received it: its batch is written in time, "
     "less the time it spent on the way and a Redis write's recent time (each at most a quarter of this)",
     NULL},
    {"retry-min-ms", RTP_SET_INT, "100", "first retry delay after a failed write", NULL},
    {"retry-max-ms", RTP_SET_INT, "5000", "retry delay cap (delays double up to it, with jitter)", NULL},
    {"redis-connect-timeout-ms", RTP_SET_INT, "1000", "bound on connecting to Redis", NULL},
    {"redis-timeout-ms", RTP_SET_INT, "5000", "bound on one batch's round trip", NULL},
    {"drain-ms", RTP_SET_INT, "2000", "on SIGTERM, how long to keep taking records from the aggregator",
     NULL},
    {"quiet-ms", RTP_SET_INT, "300",
     "on SIGTERM, stop taking records earlier once the aggregator is quiet this long", NULL},
    {"finish-timeout-ms", RTP_SET_INT, "5000", "on SIGTERM, how long to retry writing the last records",
     NULL},
    {"stats-ms", RTP_SET_INT, "5000", "interval of the stats log line", NULL},
    {"print-per-second", RTP_SET_DOUBLE, "2",
     "batch summary lines on stdout at most this many a second, each summing the batches since the last "
     "(every batch still at --log-level debug); 0 = one line per batch",
     "RTP_BATCHER_PRINT_PER_SECOND"},
    {"journal-dir", RTP_SET_STR, NULL,
     "folder of the on-disk journal that takes records while Redis is away (unset: "
     "$TMPDIR/rtp-batcher-journal-HOST-PORT-DB, one per Redis target; rtp up passes STATE-DIR/journal)",
     "RTP_BATCHER_JOURNAL_DIR"},
    {"journal-max-bytes", RTP_SET_INT, "268435456",
     "bound on the journal's files; when full, no credit is granted; 0 turns the journal off", NULL},
    {"write-delay-ms", RTP_SET_INT, "0",
     "TEST HOOK: sleep this long before each Redis write, to simulate a slow Redis; 0 in production", NULL},
    {"latency-log", RTP_SET_STR, NULL,
     "DEBUG: append \"RECEIVED_US STORED_US\" (wall clock) for every stored record to this file, for "
     "tests/bench; unset: off",
     NULL},
    RTP_SETTINGS_END,
};

static int s_int(rtp_settings_t *s, const char *name, int64_t lo, int64_t hi)
{
    int64_t v = rtp_settings_int(s, name);
    return (int) (v < lo ? lo : v > hi ? hi : v);
}

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *s =
        rtp_settings_new("rtp-batcher",
                         "Writes the aggregator's complete records to Redis in batches, pulling "
                         "them with credit.",
                         s_settings, argc, argv, &code);
    if (!s)
        return code;
    rtp_signals_install();
    batcher_config_t cfg = {
        .aggregator = rtp_settings_str(s, "aggregator"),
        .broker = rtp_settings_str(s, "broker"),
        .redis_url = rtp_settings_str(s, "redis-url"),
        .redis_lanes = s_int(s, "redis-connections", 1, 8),
        .batch_size = s_int(s, "batch-size", 1, 1000000),
        .batch_ms = s_int(s, "batch-ms", 0, 3600000),
        .retry_min_ms = s_int(s, "retry-min-ms", 1, 3600000),
        .retry_max_ms = s_int(s, "retry-max-ms", 1, 3600000),
        .connect_timeout_ms = s_int(s, "redis-connect-timeout-ms", 1, 600000),
        .command_timeout_ms = s_int(s, "redis-timeout-ms", 1, 600000),
        .drain_ms = s_int(s, "drain-ms", 0, 3600000),
        .quiet_ms = s_int(s, "quiet-ms", 0, 3600000),
        .finish_timeout_ms = s_int(s, "finish-timeout-ms", 0, 3600000),
        .stats_ms = s_int(s, "stats-ms", 10, 3600000),
        .write_delay_ms = s_int(s, "write-delay-ms", 0, 600000),
        .latency_log = rtp_settings_str(s, "latency-log"),
        .journal_dir = rtp_settings_str(s, "journal-dir"),
        .journal_max_bytes = rtp_settings_int(s, "journal-max-bytes"),
        .print_per_second = rtp_settings_double(s, "print-per-second"),
        .metrics_port = rtp_settings_metrics_port(s),
    };
    if (cfg.print_per_second < 0 || cfg.print_per_second > 1000000) {
        fprintf(stderr, "rtp-batcher: --print-per-second must be 0..1000000 (see --help)\n");
        rtp_settings_destroy(&s);
        return 2;
    }
    if (cfg.journal_max_bytes < 0)
        cfg.journal_max_bytes = 0;
    if (cfg.retry_max_ms < cfg.retry_min_ms)
        cfg.retry_max_ms = cfg.retry_min_ms;
    code = batcher_run(&cfg);
    rtp_settings_destroy(&s);
    return code;
}
