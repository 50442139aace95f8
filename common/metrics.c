#define _GNU_SOURCE /* accept4 */
#include "metrics.h"

#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 5000
#define CLOSE_GRACE_MS 1000 /* after the answer: how long to wait for the client to close */
#define MAX_ACCEPTS_PER_CALL 64

typedef enum { SRC_OWN = 0, SRC_U64, SRC_FN } source_t;

typedef struct {
    char *name;
    char *help;
    rtp_metric_kind_t kind;
} family_t;

struct rtp_metric_t {
    int family;
    char *labels; /* escaped, inside the braces: a="x",b="y"; "" for none */
    source_t source;
    double value;
    const uint64_t *u64;
    rtp_metric_fn fn;
    void *arg;
    double *bounds;   /* histogram: n_bounds finite upper bounds */
    uint64_t *counts; /* histogram: per bucket (not cumulative), n_bounds + 1 with +Inf */
    int n_bounds;
    double sum;
    uint64_t count;
};

typedef enum { CLIENT_READING = 0, CLIENT_WRITING, CLIENT_CLOSING } client_state_t;

typedef struct {
    int fd; /* -1: free slot */
    client_state_t state;
    int64_t accepted_ms;
    int64_t deadline_ms;
    char in[RTP_METRICS_MAX_REQUEST];
    size_t in_len;
    char *out;
    size_t out_len, out_pos;
} client_t;

struct rtp_metrics_t {
    family_t *families;
    int n_families, cap_families;
    rtp_metric_t **series;
    int n_series, cap_series;
    int listen_fd;
    int port;
    int timeout_ms;
    client_t clients[RTP_METRICS_MAX_CLIENTS];
    uint64_t dropped;
    int64_t accept_paused_until_ms; /* out of descriptors: stop polling the listener a while */
};

/* ---------- a growing text buffer ---------- */

typedef struct {
    char *data;
    size_t len, cap;
} text_t;

static void s_reserve(text_t *t, size_t more)
{
    if (t->len + more + 1 <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown)
        abort();
    t->data = grown;
    t->data[t->len] = 0;
    t->cap = cap;
}

static void s_put(text_t *t, const char *s, size_t n)
{
    s_reserve(t, n);
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = 0;
}

static void s_puts(text_t *t, const char *s)
{
    s_put(t, s, strlen(s));
}

static void s_printf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_printf(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    s_reserve(t, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t) n;
}

/* Escapes for the text format: backslash and newline always, the double quote in
 * label values (not in help text). */
static void s_put_escaped(text_t *t, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            s_puts(t, "\\\\");
        else if (*s == '\n')
            s_puts(t, "\\n");
        else if (*s == '"' && quote)
            s_puts(t, "\\\"");
        else
            s_put(t, s, 1);
    }
}

/* A sample value: shortest round-trip digits, and the format's words for the
 * non-finite ones. */
static void s_put_value(text_t *t, double v)
{
    char buf[40];
    if (isnan(v))
        s_puts(t, "NaN");
    else if (isinf(v))
        s_puts(t, v > 0 ? "+Inf" : "-Inf");
    else
        s_puts(t, rtp_fmt_double(buf, sizeof buf, v));
}

/* ---------- the registry ---------- */

rtp_metrics_t *rtp_metrics_new(void)
{
    rtp_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->listen_fd = -1;
    self->port = -1;
    self->timeout_ms = DEFAULT_TIMEOUT_MS;
    for (int i = 0; i < RTP_METRICS_MAX_CLIENTS; i++)
        self->clients[i].fd = -1;
    return self;
}

static void s_client_close(client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->out_len = c->out_pos = c->in_len = 0;
    c->state = CLIENT_READING;
}

void rtp_metrics_destroy(rtp_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_metrics_t *self = *self_p;
    for (int i = 0; i < RTP_METRICS_MAX_CLIENTS; i++)
        s_client_close(&self->clients[i]);
    if (self->listen_fd >= 0)
        close(self->listen_fd);
    for (int i = 0; i < self->n_series; i++) {
        rtp_metric_t *m = self->series[i];
        free(m->labels);
        free(m->bounds);
        free(m->counts);
        free(m);
    }
    for (int i = 0; i < self->n_families; i++) {
        free(self->families[i].name);
        free(self->families[i].help);
    }
    free(self->series);
    free(self->families);
    free(self);
    *self_p = NULL;
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]*,
 * not starting with "__" (reserved). */
static int s_valid_name(const char *s, int label)
{
    if (!s || !*s || isdigit((unsigned char) *s) || (label && s[0] == '_' && s[1] == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char) *s) || *s == '_' || (!label && *s == ':')))
            return 0;
    return 1;
}

static const char *s_kind_name(rtp_metric_kind_t kind)
{
    return kind == RTP_METRIC_COUNTER ? "counter" : kind == RTP_METRIC_GAUGE ? "gauge" : "histogram";
}

static char *s_strdup(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        abort();
    return copy;
}

static rtp_metric_t *s_register(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name,
                                const char *help, const char *const *labels)
{
    if (!self)
        return NULL;
    if (!s_valid_name(name, 0)) {
        rtp_error("metrics: invalid metric name '%s'", name ? name : "(null)");
        return NULL;
    }
    text_t lt = {NULL, 0, 0};
    s_reserve(&lt, 0);
    for (int i = 0; labels && labels[i]; i += 2) {
        if (!s_valid_name(labels[i], 1) || !strcmp(labels[i], "le") || !labels[i + 1]) {
            rtp_error("metrics: %s: invalid label '%s'", name, labels[i]);
            free(lt.data);
            return NULL;
        }
        s_printf(&lt, "%s%s=\"", i ? "," : "", labels[i]);
        s_put_escaped(&lt, labels[i + 1], 1);
        s_puts(&lt, "\"");
    }
    int family = -1;
    for (int i = 0; i < self->n_families; i++)
        if (!strcmp(self->families[i].name, name))
            family = i;
    if (family >= 0) {
        const family_t *f = &self->families[family];
        const char *why = f->kind != kind                     ? "another kind"
                          : strcmp(f->help, help ? help : "") ? "another help"
                                                              : NULL;
        for (int i = 0; !why && i < self->n_series; i++)
            if (self->series[i]->family == family && !strcmp(self->series[i]->labels, lt.data))
                why = "the same labels";
        if (why) {
            rtp_error("metrics: %s{%s} registered again with %s", name, lt.data, why);
            free(lt.data);
            return NULL;
        }
    } else {
        if (self->n_families == self->cap_families) {
            self->cap_families = self->cap_families ? self->cap_families * 2 : 16;
            self->families = realloc(self->families, (size_t) self->cap_families * sizeof *self->families);
            if (!self->families)
                abort();
        }
        family = self->n_families++;
        self->families[family] = (family_t){s_strdup(name), s_strdup(help), kind};
    }
    if (self->n_series == self->cap_series) {
        self->cap_series = self->cap_series ? self->cap_series * 2 : 32;
        self->series = realloc(self->series, (size_t) self->cap_series * sizeof *self->series);
        if (!self->series)
            abort();
    }
    rtp_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->family = family;
    m->labels = lt.data;
    self->series[self->n_series++] = m;
    return m;
}

rtp_metric_t *rtp_metrics_add(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name, const char *help,
                              const char *const *labels)
{
    if (kind == RTP_METRIC_HISTOGRAM) {
        rtp_error("metrics: %s: a histogram needs its buckets (rtp_metrics_add_histogram)", name);
        return NULL;
    }
    return s_register(self, kind, name, help, labels);
}

rtp_metric_t *rtp_metrics_add_u64(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name,
                                  const char *help, const char *const *labels, const uint64_t *value)
{
    rtp_metric_t *m = value ? rtp_metrics_add(self, kind, name, help, labels) : NULL;
    if (m) {
        m->source = SRC_U64;
        m->u64 = value;
    }
    return m;
}

rtp_metric_t *rtp_metrics_add_fn(rtp_metrics_t *self, rtp_metric_kind_t kind, const char *name,
                                 const char *help, const char *const *labels, rtp_metric_fn fn, void *arg)
{
    rtp_metric_t *m = fn ? rtp_metrics_add(self, kind, name, help, labels) : NULL;
    if (m) {
        m->source = SRC_FN;
        m->fn = fn;
        m->arg = arg;
    }
    return m;
}

rtp_metric_t *rtp_metrics_add_histogram(rtp_metrics_t *self, const char *name, const char *help,
                                        const char *const *labels, const double *bounds, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1])) {
            rtp_error("metrics: %s: bucket bounds must be finite and increasing", name);
            return NULL;
        }
    if (n < 0 || (n > 0 && !bounds))
        return NULL;
    rtp_metric_t *m = s_register(self, RTP_METRIC_HISTOGRAM, name, help, labels);
    if (!m)
        return NULL;
    m->n_bounds = n;
    m->bounds = malloc(((size_t) n + 1) * sizeof *m->bounds);
    m->counts = calloc((size_t) n + 1, sizeof *m->counts);
    if (!m->bounds || !m->counts)
        abort();
    if (n)
        memcpy(m->bounds, bounds, (size_t) n * sizeof *bounds);
    return m;
}

void rtp_metric_set(rtp_metric_t *metric, double value)
{
    if (metric && metric->source == SRC_OWN && !metric->counts)
        metric->value = value;
}

void rtp_metric_add(rtp_metric_t *metric, double delta)
{
    if (metric && metric->source == SRC_OWN && !metric->counts)
        metric->value += delta;
}

void rtp_metric_observe(rtp_metric_t *metric, double value)
{
    if (!metric || !metric->counts)
        return;
    int b = 0;
    while (b < metric->n_bounds && value > metric->bounds[b])
        b++;
    metric->counts[b]++; /* NaN lands in +Inf: counted, as Prometheus clients do */
    metric->sum += value;
    metric->count++;
}

static double s_read(const rtp_metric_t *m)
{
    return m->source == SRC_U64 ? (double) *m->u64 : m->source == SRC_FN ? m->fn(m->arg) : m->value;
}

/* name{labels[,extra]} value\n */
static void s_put_sample(text_t *t, const char *name, const char *suffix, const char *labels,
                         const char *extra, double value)
{
    s_puts(t, name);
    s_puts(t, suffix);
    if (*labels || extra) {
        s_puts(t, "{");
        s_puts(t, labels);
        if (extra) {
            if (*labels)
                s_puts(t, ",");
            s_puts(t, extra);
        }
        s_puts(t, "}");
    }
    s_puts(t, " ");
    s_put_value(t, value);
    s_puts(t, "\n");
}

char *rtp_metrics_render(rtp_metrics_t *self, size_t *len_p)
{
    text_t t = {NULL, 0, 0};
    s_reserve(&t, 0);
    for (int f = 0; self && f < self->n_families; f++) {
        const family_t *fam = &self->families[f];
        s_printf(&t, "# HELP %s ", fam->name);
        s_put_escaped(&t, fam->help, 0);
        s_printf(&t, "\n# TYPE %s %s\n", fam->name, s_kind_name(fam->kind));
        for (int i = 0; i < self->n_series; i++) {
            const rtp_metric_t *m = self->series[i];
            if (m->family != f)
                continue;
            if (fam->kind != RTP_METRIC_HISTOGRAM) {
                s_put_sample(&t, fam->name, "", m->labels, NULL, s_read(m));
                continue;
            }
            uint64_t cumulative = 0;
            char le[64], num[40];
            for (int b = 0; b <= m->n_bounds; b++) {
                cumulative += m->counts[b];
                snprintf(le, sizeof le, "le=\"%s\"",
                         b < m->n_bounds ? rtp_fmt_double(num, sizeof num, m->bounds[b]) : "+Inf");
                s_put_sample(&t, fam->name, "_bucket", m->labels, le, (double) cumulative);
            }
            s_put_sample(&t, fam->name, "_sum", m->labels, NULL, m->sum);
            s_put_sample(&t, fam->name, "_count", m->labels, NULL, (double) m->count);
        }
    }
    if (len_p)
        *len_p = t.len;
    return t.data;
}

/* ---------- the HTTP listener ---------- */

int rtp_metrics_listen(rtp_metrics_t *self, const char *host, int port, rtp_err_t *err)
{
    if (self->listen_fd >= 0)
        return rtp_err_set(err, "already listening on port %d", self->port);
    if (port < 0 || port > 65535)
        return rtp_err_set(err, "bad port %d", port);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (host && *host && inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return rtp_err_set(err, "not an IPv4 address: %s", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return rtp_err_set(err, "socket: %s", strerror(errno));
    /* a restarted actor gets its port back while old connections sit in TIME_WAIT */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *) &addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        return rtp_err_set(err, "cannot listen on %s:%d: %s", host && *host ? host : "0.0.0.0", port,
                           strerror(e));
    }
    socklen_t alen = sizeof addr;
    getsockname(fd, (struct sockaddr *) &addr, &alen);
    self->listen_fd = fd;
    self->port = ntohs(addr.sin_port);
    return 0;
}

int rtp_metrics_port(const rtp_metrics_t *self)
{
    return self && self->listen_fd >= 0 ? self->port : -1;
}
int rtp_metrics_fd(const rtp_metrics_t *self)
{
    return self ? self->listen_fd : -1;
}

void rtp_metrics_set_timeout_ms(rtp_metrics_t *self, int timeout_ms)
{
    if (self && timeout_ms > 0)
        self->timeout_ms = timeout_ms;
}

int rtp_metrics_clients(const rtp_metrics_t *self)
{
    int n = 0;
    for (int i = 0; self && i < RTP_METRICS_MAX_CLIENTS; i++)
        n += self->clients[i].fd >= 0;
    return n;
}

uint64_t rtp_metrics_dropped(const rtp_metrics_t *self)
{
    return self ? self->dropped : 0;
}

int rtp_metrics_poll_items(const rtp_metrics_t *self, zmq_pollitem_t *items, int cap)
{
    if (!self || self->listen_fd < 0 || cap < 1)
        return 0;
    int n = 0;
    if (rtp_mono_ms() >= self->accept_paused_until_ms)
        items[n++] = (zmq_pollitem_t){NULL, self->listen_fd, ZMQ_POLLIN, 0};
    for (int i = 0; i < RTP_METRICS_MAX_CLIENTS && n < cap; i++) {
        const client_t *c = &self->clients[i];
        if (c->fd >= 0)
            items[n++] =
                (zmq_pollitem_t){NULL, c->fd, c->state == CLIENT_WRITING ? ZMQ_POLLOUT : ZMQ_POLLIN, 0};
    }
    return n;
}

static void s_respond(rtp_metrics_t *self, client_t *c, int status, const char *reason, int head_only)
{
    size_t body_len = 0;
    char *body = NULL;
    const char *type = "text/plain; charset=utf-8";
    if (status == 200) {
        body = rtp_metrics_render(self, &body_len);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        text_t t = {NULL, 0, 0};
        s_printf(&t, "%d %s\n", status, reason);
        body = t.data;
        body_len = t.len;
    }
    text_t out = {NULL, 0, 0};
    s_printf(&out,
             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n"
             "Cache-Control: no-store\r\n\r\n",
             status, reason, type, body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head_only)
        s_put(&out, body, body_len);
    free(body);
    c->out = out.data;
    c->out_len = out.len;
    c->out_pos = 0;
    c->state = CLIENT_WRITING;
}

/* A complete request head is in c->in: decide the answer. Only the request line
 * matters; headers and any body are ignored. */
static void s_on_request(rtp_metrics_t *self, client_t *c)
{
    char *eol = memchr(c->in, '\n', c->in_len);
    size_t line_len = eol ? (size_t) (eol - c->in) : c->in_len;
    char line[512];
    if (line_len >= sizeof line) {
        s_respond(self, c, 414, "URI Too Long", 0);
        return;
    }
    memcpy(line, c->in, line_len);
    line[line_len] = 0;
    char method[16], target[400], version[16];
    if (sscanf(line, "%15s %399s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        s_respond(self, c, 400, "Bad Request", 0);
        return;
    }
    int head = !strcmp(method, "HEAD");
    if (strcmp(method, "GET") != 0 && !head) {
        s_respond(self, c, 405, "Method Not Allowed", 0);
        return;
    }
    size_t path_len = strcspn(target, "?#");
    if (path_len == 8 && !strncmp(target, "/metrics", 8))
        s_respond(self, c, 200, "OK", head);
    else
        s_respond(self, c, 404, "Not Found", head);
}

/* The end of a request head: an empty line (CRLF CRLF, or bare LF LF). */
static int s_head_complete(const client_t *c)
{
    for (size_t i = 1; i < c->in_len; i++)
        if (c->in[i] == '\n' && (c->in[i - 1] == '\n' || (i >= 3 && !memcmp(c->in + i - 3, "\r\n\r", 3))))
            return 1;
    return 0;
}

static void s_drop(rtp_metrics_t *self, client_t *c, const char *why)
{
    rtp_debug("metrics: dropping a client (%s)", why);
    self->dropped++;
    /* reset rather than close: the kernel would otherwise keep the unsent rest of
     * the answer for a client that does not read */
    struct linger reset = {1, 0};
    if (c->fd >= 0)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    s_client_close(c);
}

/* Moves one client on as far as it goes without blocking; returns 1 when it sent
 * its whole answer in this call. */
static int s_progress(rtp_metrics_t *self, client_t *c, int64_t now)
{
    if (c->state == CLIENT_READING) {
        while (c->in_len < sizeof c->in) {
            ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
            if (n > 0) {
                c->in_len += (size_t) n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            s_client_close(c); /* closed (or reset) before asking: nothing to answer */
            return 0;
        }
        if (s_head_complete(c))
            s_on_request(self, c);
        else if (c->in_len == sizeof c->in)
            s_respond(self, c, 431, "Request Header Fields Too Large", 0);
    }
    int answered = 0;
    if (c->state == CLIENT_WRITING) {
        while (c->out_pos < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
            if (n > 0) {
                c->out_pos += (size_t) n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            s_drop(self, c, "write failed");
            return 0;
        }
        if (c->out_pos == c->out_len) {
            /* Half-close and wait for the client's close: closing at once with its
             * unread bytes in our buffer would reset the connection and could lose
             * the answer in flight. */
            shutdown(c->fd, SHUT_WR);
            free(c->out);
            c->out = NULL;
            c->state = CLIENT_CLOSING;
            if (c->deadline_ms > now + CLOSE_GRACE_MS)
                c->deadline_ms = now + CLOSE_GRACE_MS;
            answered = 1;
        }
    }
    if (c->state == CLIENT_CLOSING) {
        char sink[1024];
        for (;;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                s_client_close(c);
            break;
        }
    }
    return answered;
}

static client_t *s_free_slot(rtp_metrics_t *self)
{
    client_t *oldest = NULL;
    for (int i = 0; i < RTP_METRICS_MAX_CLIENTS; i++) {
        client_t *c = &self->clients[i];
        if (c->fd < 0)
            return c;
        if (!oldest || c->accepted_ms < oldest->accepted_ms)
            oldest = c;
    }
    /* every slot taken (slow or stuck clients): the oldest gives way, so a stuck
     * crowd cannot lock the scrapers out for longer than it takes to connect */
    s_drop(self, oldest, "all slots taken, oldest evicted");
    return oldest;
}

int rtp_metrics_service(rtp_metrics_t *self)
{
    if (!self || self->listen_fd < 0)
        return 0;
    int64_t now = rtp_mono_ms();
    int answered = 0;
    for (int i = 0; i < MAX_ACCEPTS_PER_CALL && now >= self->accept_paused_until_ms; i++) {
        int fd = accept4(self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* EMFILE and the like: the connection stays pending and the listener
                 * readable; polling it now would spin the actor's loop */
                rtp_warn("metrics: accept: %s; not accepting for a second", strerror(errno));
                self->accept_paused_until_ms = now + 1000;
            }
            break;
        }
        client_t *c = s_free_slot(self);
        c->fd = fd;
        c->state = CLIENT_READING;
        c->accepted_ms = now;
        c->deadline_ms = now + self->timeout_ms;
        c->in_len = 0;
    }
    for (int i = 0; i < RTP_METRICS_MAX_CLIENTS; i++) {
        client_t *c = &self->clients[i];
        if (c->fd < 0)
            continue;
        answered += s_progress(self, c, now);
        if (c->fd >= 0 && now >= c->deadline_ms) {
            if (c->state == CLIENT_CLOSING)
                s_client_close(c); /* answered; it just did not close its side */
            else
                s_drop(self, c,
                       c->state == CLIENT_READING ? "no complete request in time" : "not reading its answer");
        }
    }
    return answered;
}

rtp_metrics_t *rtp_metrics_serve(int port)
{
    if (port < 0)
        return NULL;
    rtp_metrics_t *self = rtp_metrics_new();
    rtp_err_t err;
    if (!self || rtp_metrics_listen(self, NULL, port, &err) != 0) {
        rtp_warn("metrics off: %s", self ? err.msg : "out of memory");
        rtp_metrics_destroy(&self);
        return NULL;
    }
    rtp_info("metrics on http://127.0.0.1:%d/metrics (port %d on every interface)", self->port, self->port);
    return self;
}
