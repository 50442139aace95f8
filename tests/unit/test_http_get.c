/* http_get: real sockets against a one-connection server thread per case (port 0):
 * bodies framed by Content-Length, chunked, or the connection's close, in one write
 * or in small pieces; a body over the limit, a server that does not answer in time,
 * statuses other than 200, malformed responses, refused connections, bad URLs; and
 * https through libcurl, which is loaded for the call and unloaded after it. */
#include "http_get.h"
#include "util.h"

#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int listen_fd, port;
    const char *reply;
    size_t reply_len;
    size_t piece;     /* write the reply this many bytes at a time, 1 ms apart (0: at once) */
    int hold_ms;      /* then keep the connection open this long, or until the client closes */
    char request[4096];
    pthread_t thread;
} server_t;

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *s_serve(void *arg)
{
    server_t *s = arg;
    struct pollfd p = {s->listen_fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1)
        return NULL;   /* the client never came (a case that fails before connecting) */
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t got = 0;
    while (got < sizeof s->request - 1 && !strstr(s->request, "\r\n\r\n")) {
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, 5000) != 1)
            break;
        ssize_t n = recv(fd, s->request + got, sizeof s->request - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t) n;
        s->request[got] = 0;
    }
    for (size_t off = 0; off < s->reply_len;) {
        size_t n = s->piece && s->reply_len - off > s->piece ? s->piece : s->reply_len - off;
        ssize_t sent = send(fd, s->reply + off, n, MSG_NOSIGNAL);
        if (sent <= 0)
            break;   /* the client hung up (a body over its limit) */
        off += (size_t) sent;
        if (s->piece)
            s_sleep_ms(1);
    }
    if (s->hold_ms) {
        struct pollfd q = {fd, POLLIN, 0};
        poll(&q, 1, s->hold_ms);   /* returns early when the client closes */
    }
    close(fd);
    return NULL;
}

static void s_start(server_t *s, const char *reply, size_t reply_len, size_t piece, int hold_ms)
{
    memset(s, 0, sizeof *s);
    s->reply = reply;
    s->reply_len = reply_len;
    s->piece = piece;
    s->hold_ms = hold_ms;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *) &a, sizeof a) != 0 || listen(s->listen_fd, 4) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *) &a, &len) != 0) {
        perror("test server");
        exit(2);
    }
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, s_serve, s);
}

static void s_join(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

/* GETs the server's /emotion_values?x=1 with the given limits; the body or NULL. */
static char *s_get(server_t *s, size_t max, long timeout_ms, size_t *len, rtp_err_t *err, int64_t *took_ms)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/emotion_values?x=1#frag", s->port);
    int64_t t0 = rtp_mono_ms();
    char *body = rtp_http_get(url, max, timeout_ms, len, err);
    if (took_ms)
        *took_ms = rtp_mono_ms() - t0;
    return body;
}

/* Serves reply (in pieces when piece > 0) and expects the body `want` of want_len bytes.
 * A server that holds the connection open (hold_ms 4000) outlasts the 3 s timeout: a
 * framed body that waited for the server to close would fail. */
#define EXPECT_BODY(name, reply, piece, hold_ms, want) \
    s_expect_body(name, reply, sizeof reply - 1, piece, hold_ms, want, sizeof want - 1)
static void s_expect_body(const char *name, const char *reply, size_t reply_len, size_t piece, int hold_ms,
                          const char *want, size_t want_len)
{
    server_t s;
    s_start(&s, reply, reply_len, piece, hold_ms);
    rtp_err_t err = {{0}};
    size_t len = 12345;
    char *body = s_get(&s, 1000, 3000, &len, &err, NULL);
    s_join(&s);
    if (!body)
        fprintf(stderr, "%s: failed: %s\n", name, err.msg);
    CHECK(body != NULL);
    CHECK_INT(len, want_len);
    CHECK(body && memcmp(body, want, want_len) == 0 && body[want_len] == 0);
    free(body);
    printf("  %s: %zu bytes\n", name, want_len);
}

/* Serves reply and expects a failure whose reason contains `why`. */
static void s_expect_error(const char *name, const char *reply, size_t reply_len, int hold_ms, size_t max,
                           long timeout_ms, const char *why, int64_t *took_ms)
{
    server_t s;
    s_start(&s, reply, reply_len, 0, hold_ms);
    rtp_err_t err = {{0}};
    size_t len = 777;
    char *body = s_get(&s, max, timeout_ms, &len, &err, took_ms);
    s_join(&s);
    CHECK(body == NULL);
    CHECK_INT(len, 777);
    if (!strstr(err.msg, why))
        fprintf(stderr, "%s: expected a reason with \"%s\", got \"%s\"\n", name, why, err.msg);
    CHECK(strstr(err.msg, why) != NULL);
    CHECK(strstr(err.msg, "/emotion_values") != NULL);   /* the reason names the URL */
    free(body);
    printf("  %s: %s\n", name, err.msg);
}

static int s_libcurl_mapped(void)
{
    size_t len = 0;
    char *maps = rtp_read_file("/proc/self/maps", &len);
    int mapped = maps && strstr(maps, "libcurl") != NULL;
    free(maps);
    return mapped;
}

int main(void)
{
    /* the request: GET of the path and query (no fragment), Host with the port */
    {
        server_t s;
        const char *reply = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";
        s_start(&s, reply, strlen(reply), 0, 0);
        rtp_err_t err;
        size_t len = 0;
        char *body = s_get(&s, 100, 3000, &len, &err, NULL);
        s_join(&s);
        char host[64];
        snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
        CHECK(strncmp(s.request, "GET /emotion_values?x=1 HTTP/1.1\r\n", 34) == 0);
        CHECK(strstr(s.request, host) != NULL);
        CHECK(strstr(s.request, "\r\nConnection: close\r\n") != NULL);
        CHECK(body && strcmp(body, "hello world") == 0 && len == 11);
        free(body);
    }

    /* framing */
    EXPECT_BODY("Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 0, 0,
                  "hello world");
    EXPECT_BODY("Content-Length, the server keeps the connection open",
                  "HTTP/1.1 200 OK\r\ncontent-length:  5 \r\n\r\nhello", 0, 4000, "hello");
    EXPECT_BODY("Content-Length, in 3-byte pieces", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 3,
                  0, "hello world");
    EXPECT_BODY("Content-Length with a NUL byte", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\0b", 0, 0, "a\0b");
    EXPECT_BODY("empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, "");
    EXPECT_BODY("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\nworld\tw\r\nd\r\n0\r\nX-Trailer: 1\r\n\r\n",
                  0, 4000, "hello world\tw\r\nd");
    EXPECT_BODY("chunked, in 2-byte pieces", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                  2, 0, "hello world");
    EXPECT_BODY("chunked wins over Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, 0, "hello");
    EXPECT_BODY("until the connection closes", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nno length here", 0, 0,
                  "no length here");
    EXPECT_BODY("LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 0, 0, "ok");
    EXPECT_BODY("100 Continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0,
                  0, "ok");
    static char at_limit[1100];
    int head_len = snprintf(at_limit, sizeof at_limit, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    memset(at_limit + head_len, 'y', 1000);
    s_expect_body("a 1000-byte body at a limit of 1000", at_limit, (size_t) head_len + 1000, 0, 0,
                  at_limit + head_len, 1000);

    /* over the limit: announced, chunked, or unannounced */
    int64_t took = 0;
    const char *announced = "HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n";
    /* refused from the header: reading on would have timed out (3 s, the server
     * holds the connection for 4), with another reason */
    s_expect_error("too big (Content-Length)", announced, strlen(announced), 4000, 1000, 3000,
                   "larger than 1000 bytes", NULL);
    static char big[5000];
    int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++)
        n += snprintf(big + n, sizeof big - (size_t) n, "190\r\n%0400d\r\n", i);   /* 3 x 400 bytes */
    n += snprintf(big + n, sizeof big - (size_t) n, "0\r\n\r\n");
    s_expect_error("too big (chunked)", big, (size_t) n, 0, 1000, 3000, "larger than 1000 bytes", NULL);
    n = snprintf(big, sizeof big, "HTTP/1.0 200 OK\r\n\r\n");
    memset(big + n, 'x', 1001);
    s_expect_error("too big (until close)", big, (size_t) n + 1001, 0, 1000, 3000, "larger than 1000 bytes", NULL);

    /* time: a server that answers nothing, or stops in the body; the timeout, not the
     * server's close after 5 s (the upper bound generous for a busy machine) */
    s_expect_error("timeout, no answer", "", 0, 5000, 1000, 300, "no whole answer within 300 ms", &took);
    CHECK(took >= 250 && took < 4500);
    const char *part = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this";
    s_expect_error("timeout in the body", part, strlen(part), 5000, 1000, 300, "no whole answer within 300 ms", &took);
    CHECK(took >= 250 && took < 4500);

    /* statuses and malformed responses */
    const char *r404 = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
    s_expect_error("404", r404, strlen(r404), 0, 1000, 3000, "HTTP status 404", NULL);
    const char *r500 = "HTTP/1.1 500 Internal Server Error\r\n\r\n";
    s_expect_error("500", r500, strlen(r500), 0, 1000, 3000, "HTTP status 500", NULL);
    const char *r301 = "HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
    s_expect_error("redirect", r301, strlen(r301), 0, 1000, 3000, "HTTP status 301", NULL);
    const char *junk = "SSH-2.0-OpenSSH\r\n\r\n";
    s_expect_error("not HTTP", junk, strlen(junk), 0, 1000, 3000, "malformed response (status line", NULL);
    const char *short_body = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort";
    s_expect_error("closed in the body", short_body, strlen(short_body), 0, 1000, 3000,
                   "closed 15 bytes before the end of the body", NULL);
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Le";
    s_expect_error("closed in the headers", cut, strlen(cut), 0, 1000, 3000, "closed in the headers", NULL);
    const char *bad_len = "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello";
    s_expect_error("negative Content-Length", bad_len, strlen(bad_len), 0, 1000, 3000, "Content-Length", NULL);
    const char *two_len = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
    s_expect_error("two Content-Lengths", two_len, strlen(two_len), 0, 1000, 3000, "Content-Length", NULL);
    const char *bad_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
    s_expect_error("bad chunk size", bad_chunk, strlen(bad_chunk), 0, 1000, 3000, "chunk size", NULL);
    const char *gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx";
    s_expect_error("unsupported encoding", gzip, strlen(gzip), 0, 1000, 3000, "Transfer-Encoding", NULL);

    /* a refused connection, and URLs that are not http(s)://host[:port]/... */
    {
        server_t s;
        s_start(&s, "", 0, 0, 0);
        int port = s.port;
        close(s.listen_fd);   /* nobody listens there now */
        pthread_join(s.thread, NULL);
        char url[96];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/emotion_values", port);
        rtp_err_t err;
        CHECK(rtp_http_get(url, 100, 2000, NULL, &err) == NULL);
        CHECK(strstr(err.msg, "cannot connect") && strstr(err.msg, url));
        printf("  refused: %s\n", err.msg);
        const char *bad[] = {"ftp://127.0.0.1/x", "http://", "http:///path", "http://host:99999/", "http://host:/",
                             "http://host:12ab/", "http://user@host/", "http://[::1/", "emotion_values"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            err.msg[0] = 0;
            CHECK(rtp_http_get(bad[i], 100, 2000, NULL, &err) == NULL);
            CHECK(strstr(err.msg, bad[i]) != NULL);
        }
        printf("  %zu malformed or unsupported URLs refused\n", sizeof bad / sizeof bad[0]);

        /* https: libcurl is loaded for the call (its own reason) and unloaded after */
        CHECK(!s_libcurl_mapped());
        snprintf(url, sizeof url, "https://127.0.0.1:%d/emotion_values", port);
        CHECK(rtp_http_get(url, 100, 2000, NULL, &err) == NULL);
        CHECK(strstr(err.msg, url) && strstr(err.msg, "onnect"));
        CHECK(!s_libcurl_mapped());
        printf("  https, refused: %s; libcurl unloaded after the call\n", err.msg);
    }
    return CHECK_DONE();
}
