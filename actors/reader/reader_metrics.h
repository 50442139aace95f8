/* reader_metrics: the reader's counters (stats.h) as Prometheus series on
 * --metrics-port, each labelled stream="<origin name>", read at scrape time from
 * the stats the stream and the forwarder already keep. */
#ifndef READER_READER_METRICS_H
#define READER_READER_METRICS_H

#include "metrics.h"
#include "stats.h"

#include <curl/curl.h>

/* NULL when port < 0 (metrics off) or when it cannot listen (logged; the reader
 * runs on without metrics). Else a registry serving /metrics on port (0: a free
 * one, logged), reading *stats (borrowed: it must outlive the registry). */
rtp_metrics_t *reader_metrics_new(int port, const char *name, const reader_stats_t *stats);

/* Fills fds (room for cap) with the listener and clients of metrics, as libcurl
 * waits for them; returns how many (0 when metrics is NULL). */
unsigned reader_metrics_waitfds(const rtp_metrics_t *metrics, struct curl_waitfd *fds, unsigned cap);

#endif
