#include "http_get.h"

#include "util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the body, bounded ---------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap, max;
    int too_big;
} body_t;

/* Appends n bytes, keeping the data NUL-terminated; 0, or -1 when the body would
 * pass its bound (too_big set) or memory runs out. */
static int s_append(body_t *b, const char *src, size_t n)
{
    if (n > b->max - b->len) {
        b->too_big = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

static int s_body_error(const body_t *b, const char *url, rtp_err_t *err)
{
    if (b->too_big)
        return rtp_err_set(err, "%s: body larger than %zu bytes", url, b->max);
    return rtp_err_set(err, "%s: out of memory", url);
}

/* ---- http:// on a socket ------------------------------------------------------- */

typedef struct {
    const char *url;
    int fd;
    int64_t deadline_ms;
    long timeout_ms;
    size_t start, end;   /* unread bytes are buf[start..end) */
    char buf[8192];      /* also the longest status or header line */
} conn_t;

static int s_timed_out(const conn_t *c, rtp_err_t *err)
{
    return rtp_err_set(err, "%s: no whole answer within %ld ms", c->url, c->timeout_ms);
}

/* Waits until fd is ready for events: 1, 0 past the deadline, -1 on a poll error. */
static int s_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - rtp_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int) left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Splits an http:// URL into host, port and the request target (path and query,
 * "/" when empty); authority gets host[:port] as written, for the Host header. */
static int s_parse_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap, char *authority,
                       size_t authority_cap, const char **target, rtp_err_t *err)
{
    const char *a = url + strlen("http://");
    size_t alen = strcspn(a, "/?#");
    if (alen == 0 || alen >= authority_cap || memchr(a, '@', alen))
        return rtp_err_set(err, "%s: malformed or unsupported URL (expected http://host[:port]/path)", url);
    memcpy(authority, a, alen);
    authority[alen] = 0;
    const char *h = authority, *colon;
    size_t hlen;
    if (*h == '[') {   /* an IPv6 literal */
        const char *close = strchr(h, ']');
        if (!close || (close[1] && close[1] != ':'))
            return rtp_err_set(err, "%s: malformed IPv6 address", url);
        h++;
        hlen = (size_t) (close - h);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(h, ':');
        hlen = colon ? (size_t) (colon - h) : strlen(h);
    }
    if (hlen == 0 || hlen >= host_cap)
        return rtp_err_set(err, "%s: malformed host", url);
    memcpy(host, h, hlen);
    host[hlen] = 0;
    const char *p = colon ? colon + 1 : "80";
    size_t plen = strlen(p);
    long number = 0;
    for (size_t i = 0; i < plen && number <= 65535; i++)
        number = isdigit((unsigned char) p[i]) ? number * 10 + (p[i] - '0') : 100000;
    if (plen == 0 || plen >= port_cap || number < 1 || number > 65535)
        return rtp_err_set(err, "%s: malformed port", url);
    memcpy(port, p, plen + 1);
    *target = a + alen;
    return 0;
}

/* A connected, non-blocking socket to host:port (each address in turn), or -1. */
static int s_connect(conn_t *c, const char *host, const char *port, rtp_err_t *err)
{
    struct addrinfo hints = {0}, *list = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0)
        return rtp_err_set(err, "%s: cannot resolve %s: %s", c->url, host, gai_strerror(rc));
    int fd = -1, last_errno = 0, timed_out = 0;
    for (struct addrinfo *ai = list; ai && fd < 0 && !timed_out; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        int e = errno;
        if (e == EINPROGRESS) {
            int ready = s_wait(fd, POLLOUT, c->deadline_ms);
            socklen_t len = sizeof e;
            if (ready == 0)
                timed_out = 1;
            else if (ready < 0)
                e = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
                e = errno;
            if (ready > 0 && e == 0)
                break;
        }
        last_errno = e;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0 && timed_out)
        return s_timed_out(c, err);
    if (fd < 0)
        return rtp_err_set(err, "%s: cannot connect: %s", c->url, strerror(last_errno ? last_errno : ECONNREFUSED));
    return fd;
}

static int s_send_all(conn_t *c, const char *data, size_t len, rtp_err_t *err)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t) n;
        } else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = s_wait(c->fd, POLLOUT, c->deadline_ms);
            if (ready == 0)
                return s_timed_out(c, err);
            if (ready < 0)
                return rtp_err_set(err, "%s: poll failed: %s", c->url, strerror(errno));
        } else
            return rtp_err_set(err, "%s: cannot send the request: %s", c->url, strerror(errno));
    }
    return 0;
}

/* Reads more into buf: 1, 0 at the end of the stream, -1 on an error or timeout. */
static int s_fill(conn_t *c, rtp_err_t *err)
{
    if (c->start == c->end)
        c->start = c->end = 0;
    else if (c->end == sizeof c->buf) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
        if (n > 0) {
            c->end += (size_t) n;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return rtp_err_set(err, "%s: receive failed: %s", c->url, strerror(errno));
        int ready = s_wait(c->fd, POLLIN, c->deadline_ms);
        if (ready == 0)
            return s_timed_out(c, err);
        if (ready < 0)
            return rtp_err_set(err, "%s: poll failed: %s", c->url, strerror(errno));
    }
}

/* The next line (LF or CRLF ended, without its end), NUL-terminated in place; NULL
 * on an error, the end of the stream, or a line longer than buf. */
static char *s_line(conn_t *c, rtp_err_t *err)
{
    for (;;) {
        char *from = c->buf + c->start, *nl = memchr(from, '\n', c->end - c->start);
        if (nl) {
            *nl = 0;
            if (nl > from && nl[-1] == '\r')
                nl[-1] = 0;
            c->start = (size_t) (nl + 1 - c->buf);
            return from;
        }
        if (c->start == 0 && c->end == sizeof c->buf) {
            rtp_err_set(err, "%s: malformed response (a line longer than %zu bytes)", c->url, sizeof c->buf);
            return NULL;
        }
        int rc = s_fill(c, err);
        if (rc == 0)
            rtp_err_set(err, "%s: malformed response (the connection closed in the headers)", c->url);
        if (rc <= 0)
            return NULL;
    }
}

/* Moves exactly n body bytes (or, with n == SIZE_MAX, all until the connection
 * closes) into b. */
static int s_copy(conn_t *c, body_t *b, size_t n, rtp_err_t *err)
{
    while (n) {
        if (c->start == c->end) {
            int rc = s_fill(c, err);
            if (rc < 0)
                return -1;
            if (rc == 0 && n == SIZE_MAX)
                return 0;
            if (rc == 0)
                return rtp_err_set(err, "%s: the connection closed %zu bytes before the end of the body", c->url, n);
        }
        size_t k = c->end - c->start < n ? c->end - c->start : n;
        if (s_append(b, c->buf + c->start, k) != 0)
            return s_body_error(b, c->url, err);
        c->start += k;
        if (n != SIZE_MAX)
            n -= k;
    }
    return 0;
}

static int s_chunked(conn_t *c, body_t *b, rtp_err_t *err)
{
    for (;;) {
        char *line = s_line(c, err), *end;
        if (!line)
            return -1;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        if (!isxdigit((unsigned char) line[0]) || errno || (*end && *end != ';' && *end != ' ' && *end != '\t'))
            return rtp_err_set(err, "%s: malformed response (chunk size \"%.40s\")", c->url, line);
        if (size == 0)
            break;
        if (size > b->max - b->len) {
            b->too_big = 1;
            return s_body_error(b, c->url, err);
        }
        if (s_copy(c, b, (size_t) size, err) != 0)
            return -1;
        if (!(line = s_line(c, err)))
            return -1;
        if (*line)
            return rtp_err_set(err, "%s: malformed response (no line end after a chunk)", c->url);
    }
    for (;;) {   /* trailers, up to the empty line */
        char *line = s_line(c, err);
        if (!line)
            return -1;
        if (!*line)
            return 0;
    }
}

/* Reads the status line and the headers of the final (non-1xx) response. */
static int s_head(conn_t *c, int *chunked, long long *length, rtp_err_t *err)
{
    for (int informational = 0; informational < 8; informational++) {
        char *line = s_line(c, err);
        if (!line)
            return -1;
        int status = 0;
        if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) line[7]) || line[8] != ' ' ||
            !isdigit((unsigned char) line[9]) || !isdigit((unsigned char) line[10]) ||
            !isdigit((unsigned char) line[11]) || (line[12] && line[12] != ' '))
            return rtp_err_set(err, "%s: malformed response (status line \"%.60s\")", c->url, line);
        status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        *chunked = 0;
        *length = -1;
        while ((line = s_line(c, err)) && *line) {
            char *colon = strchr(line, ':');
            if (!colon)
                return rtp_err_set(err, "%s: malformed response (header \"%.60s\")", c->url, line);
            *colon = 0;
            char *value = colon + 1;
            value += strspn(value, " \t");
            if (strcasecmp(line, "Transfer-Encoding") == 0) {
                size_t vlen = strlen(value);
                while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
                    vlen--;
                if (vlen >= 7 && strncasecmp(value + vlen - 7, "chunked", 7) == 0)
                    *chunked = 1;   /* chunked is the last coding, or the body is unframed */
                else if (strcasecmp(value, "identity") != 0)
                    return rtp_err_set(err, "%s: unsupported Transfer-Encoding %.40s", c->url, value);
            } else if (strcasecmp(line, "Content-Length") == 0) {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(value, &end, 10);
                end += strspn(end, " \t");
                if (!isdigit((unsigned char) *value) || errno || *end || n > LLONG_MAX ||
                    (*length >= 0 && (unsigned long long) *length != n))
                    return rtp_err_set(err, "%s: malformed response (Content-Length \"%.40s\")", c->url, value);
                *length = (long long) n;
            }
        }
        if (!line)
            return -1;
        if (status >= 200)
            return status;
    }
    return rtp_err_set(err, "%s: malformed response (too many informational responses)", c->url);
}

static int s_get_plain(const char *url, body_t *b, long timeout_ms, rtp_err_t *err)
{
    conn_t *c = calloc(1, sizeof *c);
    char host[256], port[8], authority[300];
    const char *target = "";
    if (!c)
        return rtp_err_set(err, "%s: out of memory", url);
    c->url = url;
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->deadline_ms = rtp_mono_ms() + timeout_ms;
    char *request = NULL;
    int ok = 0;
    if (s_parse_url(url, host, sizeof host, port, sizeof port, authority, sizeof authority, &target, err) != 0)
        goto done;
    size_t target_len = strcspn(target, "#");
    size_t cap = target_len + strlen(authority) + 128;
    request = malloc(cap);
    if (!request) {
        rtp_err_set(err, "%s: out of memory", url);
        goto done;
    }
    int n = snprintf(request, cap,
                     "GET %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: rtp\r\nAccept-Encoding: identity\r\n"
                     "Connection: close\r\n\r\n",
                     *target == '/' ? "" : "/", (int) target_len, target, authority);
    if ((c->fd = s_connect(c, host, port, err)) < 0 || s_send_all(c, request, (size_t) n, err) != 0)
        goto done;
    int chunked = 0;
    long long length = -1;
    int status = s_head(c, &chunked, &length, err);
    if (status < 0)
        goto done;
    if (status != 200) {
        rtp_err_set(err, "%s: HTTP status %d", url, status);
        goto done;
    }
    if (chunked)
        ok = s_chunked(c, b, err) == 0;
    else if (length >= 0 && (unsigned long long) length > b->max) {
        b->too_big = 1;
        s_body_error(b, url, err);
    } else
        ok = s_copy(c, b, length >= 0 ? (size_t) length : SIZE_MAX, err) == 0;
done:
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    free(request);
    return ok ? 0 : -1;
}

/* ---- https:// through libcurl, loaded for the one call ------------------------------ */

static size_t s_curl_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;
    return s_append(arg, ptr, n) == 0 ? n : 0;   /* 0 makes curl stop with CURLE_WRITE_ERROR */
}

typedef struct {
    CURL *(*init)(void);
    CURLcode (*setopt)(CURL *, CURLoption, ...);
    CURLcode (*perform)(CURL *);
    CURLcode (*getinfo)(CURL *, CURLINFO, ...);
    void (*cleanup)(CURL *);
    const char *(*strerror)(CURLcode);
    void (*global_cleanup)(void);
} curl_api_t;

static int s_get_curl(const char *url, body_t *b, long timeout_ms, rtp_err_t *err)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return rtp_err_set(err, "%s: https needs libcurl: %s", url, dlerror());
    curl_api_t api;
    void *syms[] = {dlsym(lib, "curl_easy_init"),    dlsym(lib, "curl_easy_setopt"),
                    dlsym(lib, "curl_easy_perform"), dlsym(lib, "curl_easy_getinfo"),
                    dlsym(lib, "curl_easy_cleanup"), dlsym(lib, "curl_easy_strerror"),
                    dlsym(lib, "curl_global_cleanup")};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        if (!syms[i]) {
            rtp_err_set(err, "%s: libcurl lacks a function: %s", url, dlerror());
            dlclose(lib);
            return -1;
        }
    _Static_assert(sizeof api == sizeof syms, "one symbol per member");
    memcpy(&api, syms, sizeof api);   /* same order, all pointers */
    CURL *curl = api.init();
    if (!curl) {
        api.global_cleanup();
        dlclose(lib);
        return rtp_err_set(err, "%s: curl_easy_init failed", url);
    }
    api.setopt(curl, CURLOPT_URL, url);
    api.setopt(curl, CURLOPT_WRITEFUNCTION, s_curl_write);
    api.setopt(curl, CURLOPT_WRITEDATA, b);
    api.setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    api.setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = api.perform(curl);
    long status = 0;
    api.getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (b->too_big)
        s_body_error(b, url, err);
    else if (rc != CURLE_OK)
        rtp_err_set(err, "%s: %s", url, api.strerror(rc));
    else if (status != 200)
        rtp_err_set(err, "%s: HTTP status %ld", url, status);
    api.cleanup(curl);
    api.global_cleanup();
    dlclose(lib);
    return b->too_big || rc != CURLE_OK || status != 200 ? -1 : 0;
}

char *rtp_http_get(const char *url, size_t max_bytes, long timeout_ms, size_t *len_p, rtp_err_t *err)
{
    body_t body = {NULL, 0, 0, max_bytes, 0};
    int rc;
    if (strncasecmp(url, "http://", 7) == 0)
        rc = s_get_plain(url, &body, timeout_ms, err);
    else if (strncasecmp(url, "https://", 8) == 0)
        rc = s_get_curl(url, &body, timeout_ms, err);
    else
        rc = rtp_err_set(err, "%s: unsupported URL scheme (http:// or https://)", url);
    if (rc == 0 && !body.data && !(body.data = calloc(1, 1)))   /* an empty 200 body */
        rc = rtp_err_set(err, "%s: out of memory", url);
    if (rc != 0) {
        free(body.data);
        return NULL;
    }
    if (len_p)
        *len_p = body.len;
    return body.data;
}
