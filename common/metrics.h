/* metrics: the numbers an actor exposes to Prometheus, and the small HTTP listener
 * that serves them.
 *
 * A registry holds series of three kinds: counters (names end in _total), gauges and
 * histograms, each with a name, a help line and optional label pairs. A series' value
 * is its own (set, add, observe), or read at scrape time from a uint64_t the actor
 * already counts, or from a callback. rtp_metrics_render writes them in the
 * Prometheus text format 0.0.4: one # HELP and # TYPE per name, series of one name
 * together in registration order, histograms as cumulative _bucket{le="..."} lines
 * plus _sum and _count. Values are in base units (seconds, bytes).
 *
 * The listener is non-blocking and has no thread: the actor puts the fds of
 * rtp_metrics_poll_items into its own zmq_poll list and calls rtp_metrics_service
 * when one is ready (or at each loop turn or tick). It answers GET /metrics with 200
 * and the exposition text, any other path with 404, any other method with 405, and
 * closes the connection after each answer. Every client has a bounded request
 * buffer and a deadline (5 s by default) for the whole exchange: a slow or silent
 * client is dropped, never waited for, and when all slots are taken the oldest
 * client makes room for a new one.
 */
#ifndef RTP_METRICS_H
#define RTP_METRICS_H

#include "rtp_err.h"

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define RTP_METRICS_MAX_CLIENTS 16
/* The most poll items rtp_metrics_poll_items fills: the listener and each client. */
#define RTP_METRICS_POLL_MAX (RTP_METRICS_MAX_CLIENTS + 1)
#define RTP_METRICS_MAX_REQUEST 8192

typedef enum { RTP_METRIC_COUNTER = 0, RTP_METRIC_GAUGE, RTP_METRIC_HISTOGRAM } rtp_metric_kind_t;

typedef struct rtp_metrics_t rtp_metrics_t;
/* One series (a name plus one set of label values), owned by its registry. */
typedef struct rtp_metric_t rtp_metric_t;
/* Reads a value at scrape time. */
typedef double (*rtp_metric_fn)(void *arg);

/* An empty registry that does not listen yet. */
rtp_metrics_t *rtp_metrics_new(void);
/* Closes the listener and every client, frees every series. Safe twice. */
void rtp_metrics_destroy(rtp_metrics_t **self_p);

/* Registers a counter or gauge series holding its own value (0 at first). labels is
 * NULL or a NULL-terminated list of name, value, name, value, ... (values are
 * escaped when rendered). Series of one name must share its kind and help. Returns
 * NULL (and logs why) for an invalid name or label name, a kind or help that
 * differs from the name's first series, or a duplicate series: a programming error
 * that costs the series, not the actor. The handle is the registry's. */
rtp_metric_t *rtp_metrics_add(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name, const char *help,
                              const char *const *labels);
/* The same, its value read from *value at each scrape (value must outlive the
 * registry). */
rtp_metric_t *rtp_metrics_add_u64(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name,
                                  const char *help, const char *const *labels, const uint64_t *value);
/* The same, its value fn(arg) at each scrape. */
rtp_metric_t *rtp_metrics_add_fn(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name,
                                 const char *help, const char *const *labels, rtp_metric_fn fn, void *arg);
/* A histogram series with n upper bounds (finite, strictly increasing; +Inf is
 * implied). NULL as rtp_metrics_add, or for bad bounds. */
rtp_metric_t *rtp_metrics_add_histogram(rtp_metrics_t *self, const char *name, const char *help,
                                        const char *const *labels, const double *bounds, int n);

/* Own values. A NULL series is ignored, so a failed registration costs nothing
 * else. set/add apply to counters and gauges of their own value, observe to
 * histograms. */
void rtp_metric_set(rtp_metric_t *metric, double value);
void rtp_metric_add(rtp_metric_t *metric, double delta);
void rtp_metric_observe(rtp_metric_t *metric, double value);

/* The exposition text of every series (caller frees), its length in *len_p. */
char *rtp_metrics_render(rtp_metrics_t *self, size_t *len_p);

/* Listens on host:port (host NULL or "": every IPv4 interface; port 0: a free port,
 * see rtp_metrics_port). Returns 0, or -1 with a reason. */
int rtp_metrics_listen(rtp_metrics_t *self, const char *host, int port, rtp_err_t *err);
/* The port listened on, or -1. */
int rtp_metrics_port(const rtp_metrics_t *self);
/* The listening socket (for a raw-fd zmq_pollitem_t, POLLIN), or -1. */
int rtp_metrics_fd(const rtp_metrics_t *self);
/* Fills items (room for cap) with the listener and every client socket, each with
 * the event it waits for; returns how many (0 when not listening). */
int rtp_metrics_poll_items(const rtp_metrics_t *self, zmq_pollitem_t *items, int cap);
/* Accepts, reads, answers and drops clients as far as it can without blocking.
 * Returns the number of requests answered in this call. */
int rtp_metrics_service(rtp_metrics_t *self);
/* How long a client may take for its whole exchange before it is dropped. */
void rtp_metrics_set_timeout_ms(rtp_metrics_t *self, int timeout_ms);
/* Clients connected now; clients dropped so far (deadline passed, or evicted). */
int rtp_metrics_clients(const rtp_metrics_t *self);
uint64_t rtp_metrics_dropped(const rtp_metrics_t *self);

/* For an actor's main: NULL when port < 0 (metrics off); else a registry listening
 * on every interface on that port (0: a free one), with the URL logged as
 * "metrics on http://HOST:PORT/metrics". Also NULL, with a warning, when it cannot
 * listen: the actor runs on without metrics. */
rtp_metrics_t *rtp_metrics_serve(int port);

#endif
