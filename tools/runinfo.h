/* runinfo: how other commands on this host (rtp top) find the system `rtp up` runs.
 *
 * rtp up writes a JSON object (its pid, runtime folder, Redis and rtp-server URLs,
 * endpoints, and the metrics URLs: "broker_metrics", "batcher_metrics",
 * "aggregator_metrics" and "reader_metrics", an object of stream name -> URL) to RUNTIME-DIR/rtp-up.json, and the same
 * to a well-known pointer file: $XDG_RUNTIME_DIR/rtp-current.json, or
 * /tmp/rtp-current-UID.json without it. The last rtp up started wins the pointer;
 * each removes it at exit only if it still names itself. Files are written to a
 * temporary name and renamed, so a reader never sees half a file.
 */
#ifndef RTP_RUNINFO_H
#define RTP_RUNINFO_H

#include "rtp_err.h"

#include <stddef.h>

#define RUNINFO_MAX_ENDPOINTS 8
#define RUNINFO_MAX_READERS 8

typedef struct {
    const char *runtime_dir;
    const char *redis_url;
    const char *rtp_url;
    const char *broker_metrics;  /* http://127.0.0.1:PORT/metrics, or NULL */
    const char *batcher_metrics; /* the same for the batcher, or NULL */
    const char *aggregator_metrics; /* and the aggregator */
    const char *reader_name[RUNINFO_MAX_READERS];    /* stream names ... */
    const char *reader_metrics[RUNINFO_MAX_READERS]; /* ... and their readers' metrics URLs */
    int n_readers;
    const char *endpoint_name[RUNINFO_MAX_ENDPOINTS];
    const char *endpoint[RUNINFO_MAX_ENDPOINTS];
    int n_endpoints;
} runinfo_t;

/* The pointer file's path into buf; returns buf. */
char *runinfo_pointer_path(char *buf, size_t cap);
/* Writes both files (with this process's pid and start time). -1 with a reason
 * when either cannot be written. */
int runinfo_write(const runinfo_t *info, rtp_err_t *err);
/* Removes RUNTIME-DIR/rtp-up.json, and the pointer if it names this process. */
void runinfo_remove(const char *runtime_dir);
/* From the pointer file: the broker's metrics URL of a live rtp up into url. -1
 * with a reason when there is no pointer, it is not ours, its rtp up is gone, or
 * it names no metrics URL. */
int runinfo_find_metrics(char *url, size_t cap, rtp_err_t *err);
/* The same for another top-level URL of the run info, such as "batcher_metrics". */
int runinfo_find_url(const char *key, char *url, size_t cap, rtp_err_t *err);


#endif
