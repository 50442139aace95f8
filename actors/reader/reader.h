/* reader: one rtp-reader process, reading one SSE stream into the broker.
 * main.c fills the configuration from the settings; run.c runs the loop that
 * serves both the HTTP stream (stream.h) and the broker socket (forward.h). */
#ifndef READER_READER_H
#define READER_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *url;
    const char *broker;
    const char *name; /* origin of every EVENT */
    size_t max_event_bytes;
    int64_t read_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
    int64_t stats_interval_ms; /* 0: only at exit */
    int send_hwm;
    int linger_ms;
    size_t window;              /* records sent and not acknowledged at most; 0: no acknowledgement */
    int64_t ack_timeout_ms;     /* resend an unacknowledged record after this long ... */
    int64_t ack_backoff_max_ms; /* ... doubling per resend up to this */
    int64_t drain_ms;           /* at stop, how long to wait for the window's acknowledgements */
    int metrics_port;           /* serve /metrics here (0: a free port); -1: off */
    const char *spool_dir;      /* the durable intake's folder (spool.h); NULL: none */
    uint64_t spool_max_bytes;
    int64_t spool_sync_ms;
} reader_config_t;

/* Reads until SIGINT or SIGTERM (rtp_signals_install must have run), then stops
 * reading, waits up to drain_ms for the acknowledgement of what it sent, and exits. Returns the process exit
 * code: 0, or 1 when it could not start. */
int reader_run(const reader_config_t *config);

#endif
