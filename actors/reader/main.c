/* rtp-reader: reads one Server-Sent Events stream of tweets and forwards every
 * event, decoded once, to the broker. One process per stream URL. */
#include "reader.h"

#include "settings.h"
#include "util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static const rtp_setting_def_t s_settings[] = {
    {"url", RTP_SET_STR, "http://localhost:4000/tweets/1", "the SSE stream to read", "RTP_READER_URL"},
    {"broker", RTP_SET_STR, "tcp://127.0.0.1:5555",
     "ZeroMQ endpoint of the broker (tcp://host:port or ipc://path)", "RTP_READER_BROKER"},
    {"name", RTP_SET_STR, NULL,
     "origin name put in every event; unset: from the URL path (/tweets/1 -> tweets-1)", "RTP_READER_NAME"},
    {"max-event-bytes", RTP_SET_INT, "1048576",
     "largest SSE event accepted; larger ones are forwarded as malformed", "RTP_READER_MAX_EVENT_BYTES"},
    {"read-timeout-ms", RTP_SET_INT, "10000", "reconnect when a connected stream sends no byte for this long",
     "RTP_READER_READ_TIMEOUT_MS"},
    {"connect-timeout-ms", RTP_SET_INT, "5000", "give up a connection attempt after this long",
     "RTP_READER_CONNECT_TIMEOUT_MS"},
    {"backoff-min-ms", RTP_SET_INT, "100", "first reconnect delay cap (full jitter: uniform in [0, cap])",
     "RTP_READER_BACKOFF_MIN_MS"},
    {"backoff-max-ms", RTP_SET_INT, "5000", "the cap doubles per failed attempt up to this",
     "RTP_READER_BACKOFF_MAX_MS"},
    {"stats-interval-ms", RTP_SET_INT, "10000", "log the counters this often (0: only at exit)",
     "RTP_READER_STATS_INTERVAL_MS"},
    {"send-hwm", RTP_SET_INT, "1000", "events ZeroMQ queues for the broker before the stream pauses",
     "RTP_READER_SEND_HWM"},
    {"linger-ms", RTP_SET_INT, "2000", "at exit, how long queued events may take to reach the broker",
     "RTP_READER_LINGER_MS"},
    {"window", RTP_SET_INT, "20000",
     "records sent and not yet acknowledged as persisted at most; when full the stream pauses (0: no "
     "acknowledgement, nothing is resent)",
     "RTP_READER_WINDOW"},
    {"ack-timeout-ms", RTP_SET_INT, "15000",
     "a record not acknowledged this long after it was sent is sent again, same seq",
     "RTP_READER_ACK_TIMEOUT_MS"},
    {"ack-backoff-max-ms", RTP_SET_INT, "60000",
     "each resend of a record doubles its wait for the acknowledgement, up to this",
     "RTP_READER_ACK_BACKOFF_MAX_MS"},
    {"drain-ms", RTP_SET_INT, "10000",
     "on SIGTERM, how long to wait for the acknowledgement of what was sent before exiting",
     "RTP_READER_DRAIN_MS"},
    {"spool-dir", RTP_SET_STR, NULL,
     "keep the records not yet acknowledged in a file here (NAME.spool) and send them again at the next "
     "start; unset: in memory only (a stop or crash loses them)",
     "RTP_READER_SPOOL_DIR"},
    {"spool-max-bytes", RTP_SET_INT, "268435456", "the spool file's bound; when full the stream waits",
     "RTP_READER_SPOOL_MAX_BYTES"},
    {"spool-sync-ms", RTP_SET_INT, "1000",
     "fdatasync the spool this often (what an OS crash can lose); 0: never. Every write reaches the page "
     "cache before the records are sent, so a killed reader loses nothing it sent",
     "RTP_READER_SPOOL_SYNC_MS"},
    RTP_SETTINGS_END,
};

/* The origin name from the URL path: "/tweets/1" -> "tweets-1"; the host when the
 * path is empty. Returns -1 if the URL cannot be parsed. */
static int s_name_from_url(const char *url, char *name, size_t cap)
{
    CURLU *u = curl_url();
    char *path = NULL, *host = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        const char *p = path + strspn(path, "/");
        size_t len = strlen(p);
        while (len > 0 && p[len - 1] == '/')
            len--;
        if (len == 0) {
            p = host;
            len = strlen(host);
        }
        size_t n = 0;
        for (size_t i = 0; i < len && n + 1 < cap; i++) {
            char c = p[i];
            int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
            name[n++] = keep ? c : '-';
        }
        name[n] = 0;
        rc = 0;
    }
    curl_free(path);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int s_usage(const char *what)
{
    fprintf(stderr, "rtp-reader: %s (see --help)\n", what);
    return -1;
}

/* Fills config from the settings, checking ranges; -1 after printing why not. */
static int s_configure(rtp_settings_t *settings, reader_config_t *config, char *name, size_t cap)
{
    if (rtp_settings_argc(settings) > 0)
        return s_usage("unexpected argument");
    config->url = rtp_settings_str(settings, "url");
    config->broker = rtp_settings_str(settings, "broker");
    if (!config->url || !*config->url || s_name_from_url(config->url, name, cap) != 0)
        return s_usage("--url needs an http:// or https:// URL");
    if (!config->broker || !*config->broker)
        return s_usage("--broker needs a ZeroMQ endpoint");
    const char *given = rtp_settings_str(settings, "name");
    config->name = given && *given ? given : name;
    int64_t max_event = rtp_settings_int(settings, "max-event-bytes");
    config->read_timeout_ms = rtp_settings_int(settings, "read-timeout-ms");
    config->connect_timeout_ms = rtp_settings_int(settings, "connect-timeout-ms");
    config->backoff_min_ms = rtp_settings_int(settings, "backoff-min-ms");
    config->backoff_max_ms = rtp_settings_int(settings, "backoff-max-ms");
    config->stats_interval_ms = rtp_settings_int(settings, "stats-interval-ms");
    int64_t hwm = rtp_settings_int(settings, "send-hwm");
    int64_t linger = rtp_settings_int(settings, "linger-ms");
    int64_t window = rtp_settings_int(settings, "window");
    config->ack_timeout_ms = rtp_settings_int(settings, "ack-timeout-ms");
    config->ack_backoff_max_ms = rtp_settings_int(settings, "ack-backoff-max-ms");
    config->drain_ms = rtp_settings_int(settings, "drain-ms");
    config->metrics_port = rtp_settings_metrics_port(settings);
    config->spool_dir = rtp_settings_str(settings, "spool-dir");
    int64_t spool_max = rtp_settings_int(settings, "spool-max-bytes");
    config->spool_sync_ms = rtp_settings_int(settings, "spool-sync-ms");
    if (spool_max < 65536 || config->spool_sync_ms < 0)
        return s_usage("--spool-max-bytes must be at least 65536 and --spool-sync-ms not negative");
    config->spool_max_bytes = (uint64_t) spool_max;
    if (max_event < 16 || max_event > (1 << 30))
        return s_usage("--max-event-bytes must be between 16 and 1073741824");
    if (config->read_timeout_ms < 1 || config->connect_timeout_ms < 1)
        return s_usage("--read-timeout-ms and --connect-timeout-ms must be positive");
    if (config->backoff_min_ms < 0 || config->backoff_max_ms < config->backoff_min_ms)
        return s_usage("need 0 <= --backoff-min-ms <= --backoff-max-ms");
    if (config->stats_interval_ms < 0)
        return s_usage("--stats-interval-ms must not be negative");
    if (hwm < 1 || hwm > 10000000 || linger < 0 || linger > 3600000)
        return s_usage("--send-hwm must be 1..10000000 and --linger-ms 0..3600000");
    if (window < 0 || window > 10000000)
        return s_usage("--window must be 0..10000000");
    if (config->ack_timeout_ms < 1 || config->ack_backoff_max_ms < config->ack_timeout_ms ||
        config->ack_backoff_max_ms > 86400000)
        return s_usage("need 1 <= --ack-timeout-ms <= --ack-backoff-max-ms <= 86400000");
    if (config->drain_ms < 0 || config->drain_ms > 3600000)
        return s_usage("--drain-ms must be 0..3600000");
    config->window = (size_t) window;
    config->max_event_bytes = (size_t) max_event;
    config->send_hwm = (int) hwm;
    config->linger_ms = (int) linger;
    return 0;
}

int main(int argc, char **argv)
{
    int code = 0;
    rtp_settings_t *settings = rtp_settings_new(
        "rtp-reader", "Reads one Server-Sent Events stream of tweets and forwards each event to the broker.",
        s_settings, argc, argv, &code);
    if (!settings)
        return code;
    reader_config_t config;
    char name[128];
    if (s_configure(settings, &config, name, sizeof name) != 0) {
        rtp_settings_destroy(&settings);
        return 2;
    }
    rtp_signals_install();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    code = reader_run(&config);
    curl_global_cleanup();
    rtp_settings_destroy(&settings);
    return code;
}
