#define _GNU_SOURCE /* accept4 */
#include "server.h"

#include "http.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_ROUTES 16
#define IN_MAX 8192       /* a request head larger than this gets 431 */
#define IDLE_US 60000000  /* a connection with no request in flight is closed after this */
#define LINGER_US 2000000 /* after our last byte, wait this long for the client to close */
#define ACCEPTS_PER_WAKE 64
#define PUMP_PASSES 8       /* fill-and-write rounds per wake, so one wake stays short */
#define MAX_WAIT_US 1000000 /* poll at least this often (a signal may land just before poll) */

typedef enum { C_READ, C_STATIC, C_STREAM, C_CLOSING, C_LINGER } conn_state_t;

typedef struct {
    const char *path;
    const char *content_type;
    const char *description;
    char *body; /* fixed body, or NULL for a stream */
    size_t len;
    replay_stream_t *stream;
} route_t;

typedef struct {
    replay_event_t ev;
    uint64_t end; /* the byte count (conn->appended) at its end */
} pending_t;

typedef struct {
    int fd;
    conn_state_t state;
    char peer[64];
    char in[IN_MAX];
    size_t in_len;
    int keep_alive; /* after the static response, read the next request */
    /* bytes to send: out[head, head+len), then the borrowed body */
    char *out;
    size_t cap, head, len;
    const char *body;
    size_t body_len;
    route_t *route;             /* the stream served, in C_STREAM / C_CLOSING */
    uint64_t appended, written; /* stream bytes put in out / written to the socket */
    pending_t *pend;            /* events in out not yet written whole, oldest first */
    size_t pend_head, pend_count, pend_cap;
    uint64_t events;
    int64_t deadline_us;  /* idle or linger limit */
    int64_t keepalive_us; /* next ": keep-alive", 0 = stream not over */
} conn_t;

struct replay_server_t {
    replay_server_cfg_t cfg;
    int listen_fd;
    int port;
    char host[64];
    route_t routes[MAX_ROUTES];
    int nroutes;
    char *index_json;
    size_t out_cap; /* REPLAY_CONN_BUFFER + the largest event of any stream */
    conn_t **conns;
    size_t nconns;
    struct pollfd *pfds;
    size_t rr; /* round-robin start, so connections share a stream fairly */
    int64_t wake_us;
};

/* ---- listening ------------------------------------------------------------ */

static int s_listen(replay_server_t *self, rtp_err_t *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", self->cfg.port);
    int rc = getaddrinfo(self->cfg.bind, port, &hints, &res);
    if (rc != 0)
        return rtp_err_set(err, "cannot resolve --bind %s: %s", self->cfg.bind, gai_strerror(rc));
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            last_errno = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return rtp_err_set(err, "cannot listen on %s:%d: %s", self->cfg.bind, self->cfg.port,
                           strerror(last_errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *) &ss, &sl);
    char addr[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
        inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
        snprintf(self->host, sizeof self->host, "[%s]", addr);
        self->port = ntohs(a->sin6_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *) &ss;
        inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
        snprintf(self->host, sizeof self->host, "%s", addr);
        self->port = ntohs(a->sin_port);
    }
    self->listen_fd = fd;
    return 0;
}

replay_server_t *replay_server_new(const replay_server_cfg_t *cfg, rtp_err_t *err)
{
    if (cfg->port < 0 || cfg->port > 65535 || cfg->max_clients < 1 || !(cfg->keepalive_s > 0)) {
        rtp_err_set(err, "bad settings: --port 0..65535, --max-clients >= 1, --keep-alive > 0");
        return NULL;
    }
    replay_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->listen_fd = -1;
    self->out_cap = REPLAY_CONN_BUFFER + 256;
    self->conns = calloc((size_t) cfg->max_clients, sizeof *self->conns);
    self->pfds = calloc((size_t) cfg->max_clients + 1, sizeof *self->pfds);
    if (!self->conns || !self->pfds) {
        rtp_err_set(err, "out of memory");
        replay_server_destroy(&self);
        return NULL;
    }
    if (s_listen(self, err) != 0) {
        replay_server_destroy(&self);
        return NULL;
    }
    return self;
}

int replay_server_port(replay_server_t *self)
{
    return self->port;
}
const char *replay_server_host(replay_server_t *self)
{
    return self->host;
}

/* ---- routes --------------------------------------------------------------- */

static void s_build_index(replay_server_t *self)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "server", "rtp-replay");
    cJSON_AddStringToObject(root, "description",
                            "stand-in for the rtp-server lab image (alexburlacu/rtp-server)");
    cJSON *routes = cJSON_AddArrayToObject(root, "routes");
    for (int i = 0; i < self->nroutes; i++) {
        route_t *r = &self->routes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", "GET");
        cJSON_AddStringToObject(o, "path", r->path);
        cJSON_AddStringToObject(o, "content_type", r->content_type);
        cJSON_AddStringToObject(o, "description", r->description);
        cJSON_AddItemToArray(routes, o);
    }
    free(self->index_json);
    self->index_json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!self->index_json)
        abort();
}

static route_t *s_add_route(replay_server_t *self, const char *path, const char *content_type,
                            const char *description)
{
    if (self->nroutes == MAX_ROUTES)
        abort(); /* a programming error: the routes are fixed in main */
    route_t *r = &self->routes[self->nroutes++];
    r->path = path;
    r->content_type = content_type;
    r->description = description;
    return r;
}

void replay_server_add_stream(replay_server_t *self, const char *path, replay_stream_t **stream_p,
                              const char *description)
{
    route_t *r = s_add_route(self, path, "text/event-stream", description);
    r->stream = *stream_p;
    *stream_p = NULL;
    size_t need = REPLAY_CONN_BUFFER + replay_stream_max_event(r->stream) + 64;
    if (need > self->out_cap)
        self->out_cap = need;
    s_build_index(self);
}

void replay_server_add_body(replay_server_t *self, const char *path, const char *content_type, char *body,
                            size_t len, const char *description)
{
    route_t *r = s_add_route(self, path, content_type, description);
    r->body = body;
    r->len = len;
    s_build_index(self);
}

static route_t *s_find_route(replay_server_t *self, const char *path)
{
    for (int i = 0; i < self->nroutes; i++)
        if (strcmp(self->routes[i].path, path) == 0)
            return &self->routes[i];
    return NULL;
}

/* ---- connections ---------------------------------------------------------- */

static void s_pend_push(conn_t *c, const replay_event_t *ev)
{
    if (c->pend_head + c->pend_count == c->pend_cap) {
        if (c->pend_head > 0) {
            memmove(c->pend, c->pend + c->pend_head, c->pend_count * sizeof *c->pend);
            c->pend_head = 0;
        } else {
            size_t cap = c->pend_cap ? 2 * c->pend_cap : 64;
            pending_t *bigger = realloc(c->pend, cap * sizeof *bigger);
            if (!bigger)
                abort();
            c->pend = bigger;
            c->pend_cap = cap;
        }
    }
    c->pend[c->pend_head + c->pend_count++] = (pending_t){*ev, c->appended};
}

/* Forgets the events whose last byte is written. */
static void s_pend_settle(conn_t *c)
{
    while (c->pend_count > 0 && c->pend[c->pend_head].end <= c->written) {
        c->pend_head++;
        c->pend_count--;
    }
    if (c->pend_count == 0)
        c->pend_head = 0;
}

static void s_close(replay_server_t *self, conn_t *c, const char *why)
{
    (void) self;
    if (c->fd < 0)
        return;
    size_t returned = 0;
    if (c->route && c->route->stream) {
        s_pend_settle(c);
        for (size_t i = 0; i < c->pend_count; i++)
            replay_stream_give_back(c->route->stream, &c->pend[c->pend_head + i].ev);
        returned = c->pend_count;
        rtp_info("%s left %s (%s): %" PRIu64 " events taken, %zu given back, %" PRIu64 " bytes", c->peer,
                 c->route->path, why, c->events, returned, c->written);
    } else {
        rtp_info("%s disconnected (%s)", c->peer, why);
    }
    close(c->fd);
    c->fd = -1;
}

static void s_conn_free(conn_t *c)
{
    free(c->pend);
    free(c->out);
    free(c);
}

/* Room for n more bytes at the end of out; 0 on success. */
static int s_reserve(replay_server_t *self, conn_t *c, size_t n)
{
    if (!c->out) {
        c->cap = n > 4096 ? n : 4096;
        if (!(c->out = malloc(c->cap)))
            return -1;
    }
    if (c->head + c->len + n <= c->cap)
        return 0;
    memmove(c->out, c->out + c->head, c->len);
    c->head = 0;
    if (c->len + n <= c->cap)
        return 0;
    size_t cap = c->len + n > self->out_cap ? c->len + n : self->out_cap;
    char *bigger = realloc(c->out, cap);
    if (!bigger)
        return -1;
    c->out = bigger;
    c->cap = cap;
    return 0;
}

static void s_append(replay_server_t *self, conn_t *c, const char *data, size_t n)
{
    if (s_reserve(self, c, n) != 0)
        abort();
    memcpy(c->out + c->head + c->len, data, n);
    c->len += n;
}

/* After our last byte: half-close, then wait for the client to close, so that the
 * kernel does not reset the connection and lose bytes still in flight. */
static void s_linger(conn_t *c, int64_t now)
{
    shutdown(c->fd, SHUT_WR);
    c->state = C_LINGER;
    c->deadline_us = now + LINGER_US;
}

static void s_respond(replay_server_t *self, conn_t *c, int status, const char *type, const char *body,
                      size_t len, int keep_alive, const char *extra)
{
    char head[512];
    size_t n = replay_http_head(head, sizeof head, status, type, (long long) len, keep_alive, extra);
    s_append(self, c, head, n);
    c->body = body;
    c->body_len = len;
    c->keep_alive = keep_alive;
    c->state = C_STATIC;
}

static void s_dispatch(replay_server_t *self, conn_t *c, const replay_http_req_t *req)
{
    int keep = req->keep_alive && !req->has_body;
    if (strcmp(req->method, "GET") != 0) {
        static const char msg[] = "only GET is served\n";
        s_respond(self, c, 405, "text/plain", msg, sizeof msg - 1, keep, "Allow: GET\r\n");
        return;
    }
    if (strcmp(req->path, "/") == 0) {
        s_respond(self, c, 200, "application/json", self->index_json, strlen(self->index_json), keep, NULL);
        return;
    }
    route_t *r = s_find_route(self, req->path);
    if (!r) {
        static const char msg[] = "not found\n";
        rtp_debug("%s: GET %s: 404", c->peer, req->path);
        s_respond(self, c, 404, "text/plain", msg, sizeof msg - 1, keep, NULL);
        return;
    }
    if (r->body) {
        s_respond(self, c, 200, r->content_type, r->body, r->len, keep, NULL);
        return;
    }
    /* An SSE body has no length: it ends when the connection closes. */
    char head[512];
    size_t n =
        replay_http_head(head, sizeof head, 200, r->content_type, -1, 0, "Cache-Control: no-cache\r\n");
    s_append(self, c, head, n);
    c->appended = n;
    c->state = C_STREAM;
    c->route = r;
    rtp_info("%s streams %s", c->peer, r->path);
}

/* Parses and dispatches the next request in c->in, if it is complete. */
static void s_next_request(replay_server_t *self, conn_t *c, int64_t now)
{
    replay_http_req_t req;
    int used = replay_http_parse(c->in, c->in_len, &req);
    if (used == 0 && c->in_len < IN_MAX)
        return;
    if (used <= 0) {
        static const char bad[] = "bad request\n", big[] = "request head too large\n";
        int big_head = used == 0;
        rtp_warn("%s: %s", c->peer, big_head ? "request head too large" : "bad request");
        s_respond(self, c, big_head ? 431 : 400, "text/plain", big_head ? big : bad,
                  big_head ? sizeof big - 1 : sizeof bad - 1, 0, NULL);
        c->in_len = 0;
        return;
    }
    memmove(c->in, c->in + used, c->in_len - (size_t) used);
    c->in_len -= (size_t) used;
    c->deadline_us = now + IDLE_US;
    s_dispatch(self, c, &req);
}

static void s_on_readable(replay_server_t *self, conn_t *c, int64_t now)
{
    for (;;) {
        char scratch[4096];
        char *dst = scratch;
        size_t room = sizeof scratch;
        /* Request bytes are kept (a request may come in pieces, or be pipelined);
         * anything a streaming client sends is read and dropped. */
        if (c->state == C_READ || c->state == C_STATIC) {
            dst = c->in + c->in_len;
            room = IN_MAX - c->in_len;
            if (room == 0)
                break;
        }
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n > 0) {
            if (dst != scratch)
                c->in_len += (size_t) n;
            if (c->state == C_READ)
                s_next_request(self, c, now);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        s_close(self, c, n == 0 ? "closed by client" : strerror(errno));
        return;
    }
}

/* Writes what c has; moves it on to its next state when all is written. */
static void s_flush(replay_server_t *self, conn_t *c, int64_t now)
{
    while (c->fd >= 0 && (c->len > 0 || c->body_len > 0)) {
        struct iovec iov[2] = {{c->out + c->head, c->len}, {(void *) c->body, c->body_len}};
        ssize_t n = writev(c->fd, c->len > 0 ? iov : iov + 1, c->len > 0 ? 2 : 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                s_close(self, c, strerror(errno));
            return;
        }
        size_t from_out = (size_t) n < c->len ? (size_t) n : c->len;
        c->head += from_out;
        c->len -= from_out;
        if (c->len == 0)
            c->head = 0;
        c->body += (size_t) n - from_out;
        c->body_len -= (size_t) n - from_out;
        if (c->state == C_STREAM || c->state == C_CLOSING) {
            c->written += from_out;
            s_pend_settle(c);
        }
    }
    if (c->fd < 0)
        return;
    if (c->state == C_STATIC) {
        if (!c->keep_alive) {
            s_linger(c, now);
            return;
        }
        c->state = C_READ;
        c->deadline_us = now + IDLE_US;
        s_next_request(self, c, now);
        if (c->state == C_STATIC)
            s_flush(self, c, now); /* a pipelined request: answer it now (bounded by IN_MAX) */
    } else if (c->state == C_CLOSING) {
        s_linger(c, now);
    }
}

/* Takes one event (or a keep-alive comment) for a streaming connection with room.
 * Returns 1 if something was appended. */
static int s_take_one(replay_server_t *self, conn_t *c, int64_t now)
{
    replay_stream_t *st = c->route->stream;
    replay_event_t ev;
    int r = replay_stream_next(st, now, &ev);
    if (r == 0) {
        int64_t due = replay_stream_due_us(st, now);
        if (due < self->wake_us)
            self->wake_us = due;
        return 0;
    }
    if (r < 0) {
        /* The stream is over: say so now and then, so readers stay connected
         * instead of reconnecting and reading it all again. */
        int64_t every = (int64_t) (self->cfg.keepalive_s * 1e6);
        if (c->keepalive_us == 0)
            c->keepalive_us = now + every;
        if (now >= c->keepalive_us) {
            if (c->len > 0)
                return 0; /* the client has not read the last one yet: POLLOUT wakes us */
            static const char ka[] = ": keep-alive\n\n";
            s_append(self, c, ka, sizeof ka - 1);
            c->appended += sizeof ka - 1;
            c->keepalive_us = now + every;
        }
        if (c->keepalive_us < self->wake_us)
            self->wake_us = c->keepalive_us;
        return 0;
    }
    c->keepalive_us = 0;
    size_t size = replay_stream_event_size(st, &ev);
    if (s_reserve(self, c, size) != 0)
        abort();
    size_t n = replay_stream_format(st, &ev, rtp_wall_us(), c->out + c->head + c->len);
    c->events++;
    if (ev.cut) {
        /* --drop-every: part of the event, then close. It goes back to the stream
         * now, to be sent whole on the next connection. */
        n /= 2;
        c->len += n;
        c->appended += n;
        replay_stream_give_back(st, &ev);
        c->state = C_CLOSING;
        rtp_info("%s: cutting %s after %zu bytes of event %" PRIu64 " (--drop-every)", c->peer,
                 c->route->path, n, ev.seq);
        return 1;
    }
    c->len += n;
    c->appended += n;
    s_pend_push(c, &ev);
    return 1;
}

static int s_wants_events(const conn_t *c)
{
    return c->fd >= 0 && c->state == C_STREAM && c->len < REPLAY_CONN_BUFFER;
}

/* Fills the streaming connections' buffers, one event each in turn, and writes
 * them; a few rounds, so a fast reader gets large writes without starving the
 * others or the poll loop. */
static void s_pump(replay_server_t *self, int64_t now)
{
    size_t n = self->nconns;
    if (n == 0)
        return;
    self->rr = (self->rr + 1) % n;
    for (int pass = 0; pass < PUMP_PASSES; pass++) {
        int got, took = 0;
        do {
            got = 0;
            for (size_t k = 0; k < n; k++) {
                conn_t *c = self->conns[(self->rr + k) % n];
                if (s_wants_events(c))
                    got |= s_take_one(self, c, now);
            }
            took |= got;
        } while (got);
        if (!took)
            return; /* all full, paced, or over: poll says when to go on */
        for (size_t k = 0; k < n; k++) {
            conn_t *c = self->conns[k];
            if (c->fd >= 0 && (c->state == C_STREAM || c->state == C_CLOSING) && c->len > 0)
                s_flush(self, c, now);
        }
        now = rtp_mono_us();
    }
    self->wake_us = now; /* more to do: come back right after polling */
}

static void s_accept(replay_server_t *self, int64_t now)
{
    for (int i = 0; i < ACCEPTS_PER_WAKE && self->nconns < (size_t) self->cfg.max_clients; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(self->listen_fd, (struct sockaddr *) &ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                rtp_warn("accept: %s", strerror(errno));
            return;
        }
        conn_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char addr[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, addr, sizeof addr);
            port = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        } else if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, addr, sizeof addr);
            port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
        }
        snprintf(c->peer, sizeof c->peer, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr, port);
        c->fd = fd;
        c->state = C_READ;
        c->deadline_us = now + IDLE_US;
        self->conns[self->nconns++] = c;
        rtp_info("%s connected", c->peer);
    }
}

/* Drops closed connections and closes those past their deadline. */
static void s_sweep(replay_server_t *self, int64_t now)
{
    size_t j = 0;
    for (size_t i = 0; i < self->nconns; i++) {
        conn_t *c = self->conns[i];
        if (c->fd >= 0 && (c->state == C_READ || c->state == C_LINGER) && now >= c->deadline_us)
            s_close(self, c, c->state == C_READ ? "idle" : "done");
        if (c->fd < 0)
            s_conn_free(c);
        else
            self->conns[j++] = c;
    }
    self->nconns = j;
}

static int s_poll_timeout_ms(replay_server_t *self, int64_t now)
{
    int64_t wake = self->wake_us;
    for (size_t i = 0; i < self->nconns; i++) {
        conn_t *c = self->conns[i];
        if ((c->state == C_READ || c->state == C_LINGER) && c->deadline_us < wake)
            wake = c->deadline_us;
    }
    if (wake <= now)
        return 0;
    return (int) ((wake - now + 999) / 1000); /* round up: never wake before it is due */
}

int replay_server_run(replay_server_t *self)
{
    rtp_info("serving %d routes on http://%s:%d", self->nroutes, self->host, self->port);
    while (!rtp_stop_requested()) {
        int64_t now = rtp_mono_us();
        self->wake_us = now + MAX_WAIT_US;
        s_pump(self, now);
        s_sweep(self, now);
        int listening = self->nconns < (size_t) self->cfg.max_clients;
        self->pfds[0] = (struct pollfd){self->listen_fd, listening ? POLLIN : 0, 0};
        for (size_t i = 0; i < self->nconns; i++) {
            conn_t *c = self->conns[i];
            short ev = 0;
            if (!(c->state == C_STATIC && c->in_len == IN_MAX))
                ev |= POLLIN;
            if (c->len > 0 || c->body_len > 0)
                ev |= POLLOUT;
            self->pfds[i + 1] = (struct pollfd){c->fd, ev, 0};
        }
        size_t npoll = self->nconns;
        int rc = poll(self->pfds, npoll + 1, s_poll_timeout_ms(self, now));
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            rtp_error("poll: %s", strerror(errno));
            return -1;
        }
        now = rtp_mono_us();
        for (size_t i = 0; i < npoll; i++) {
            conn_t *c = self->conns[i];
            short re = self->pfds[i + 1].revents;
            if (re & (POLLIN | POLLHUP | POLLERR))
                s_on_readable(self, c, now);
            if (c->fd >= 0 && (re & POLLOUT))
                s_flush(self, c, now);
        }
        if (self->pfds[0].revents & POLLIN)
            s_accept(self, now);
    }
    rtp_info("stopping: closing %zu connections", self->nconns);
    return 0;
}

void replay_server_destroy(replay_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    replay_server_t *self = *self_p;
    for (size_t i = 0; i < self->nconns; i++) {
        s_close(self, self->conns[i], "server stopping");
        s_conn_free(self->conns[i]);
    }
    if (self->listen_fd >= 0)
        close(self->listen_fd);
    for (int i = 0; i < self->nroutes; i++) {
        replay_stream_destroy(&self->routes[i].stream);
        free(self->routes[i].body);
    }
    free(self->index_json);
    free(self->conns);
    free(self->pfds);
    free(self);
    *self_p = NULL;
}
