/* stats: the reader's counters, shared by the stream and the forwarder, and the
 * one line that reports them (every --stats-interval-ms and at exit). */
#ifndef READER_STATS_H
#define READER_STATS_H

#include <stdint.h>

/* Malformed events are counted per reason class: the decoder's reason up to its
 * first detail ("not JSON", "invalid UTF-8", ...). Classes beyond the table's size
 * are counted as "other". */
#define READER_MALFORMED_CLASSES 10
#define READER_CLASS_MAX 40

typedef struct {
    /* SSE events */
    uint64_t events;      /* events of type "message", each decoded once */
    uint64_t other_types; /* events of any other type: counted and ignored */
    uint64_t oversized;   /* events dropped by the SSE parser for their size */
    uint64_t truncated;   /* events cut off by the end of a connection */
    /* What the "message" events held */
    uint64_t tweets;   /* events that decoded to a tweet ... */
    uint64_t retweets; /* ... of which retweets (two records each) */
    uint64_t panics;
    uint64_t malformed;
    char malformed_class[READER_MALFORMED_CLASSES][READER_CLASS_MAX];
    uint64_t malformed_by[READER_MALFORMED_CLASSES + 1]; /* last slot: "other" */
    /* Forwarding */
    uint64_t records;    /* EVENT messages made */
    uint64_t spooled;    /* records an earlier run left in the spool, taken at start (sent first) */
    uint64_t sent;       /* EVENT messages handed to ZeroMQ for the first time */
    uint64_t pauses;     /* times the transfer paused (ZeroMQ full, or the window full) */
    uint64_t ignored_in; /* messages received on the DEALER that nothing expects */
    /* Acknowledgement (--window) */
    uint64_t acked;              /* records acknowledged as persisted */
    uint64_t resent;             /* records sent again after their acknowledgement was overdue */
    uint64_t window;             /* records sent and not yet acknowledged, now */
    uint64_t window_full_pauses; /* pauses because the window was full */
    uint64_t unknown_acks;       /* acknowledged seqs not in the window (repeats, other processes) */
    /* Connections */
    uint64_t attempts;    /* connection attempts */
    uint64_t connects;    /* connections answered with HTTP 200 */
    uint64_t reconnects;  /* attempts after the first */
    uint64_t eofs;        /* streams the server ended */
    uint64_t errors;      /* transfers that failed (refused, reset, timeout, ...) */
    uint64_t stalls;      /* streams silent for longer than --read-timeout-ms */
    uint64_t http_errors; /* responses with a status other than 200 */
    uint64_t bytes;       /* body bytes of 200 responses taken by the forwarder */
    uint64_t paused;      /* 1 while the transfer is paused (push-back), now */
} reader_stats_t;

/* Counts one malformed event under the class of its reason. */
void reader_stats_malformed(reader_stats_t *self, const char *reason);

/* Logs the counters as one line, "<label> <name>: key=value ...", at info level.
 * pending (records + spooled - sent) is what still waits to go out. */
void reader_stats_log(const reader_stats_t *self, const char *label, const char *name);

#endif
