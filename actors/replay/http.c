#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *replay_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* The end of the line starting at p (the index of its '\n'), or -1. */
static long s_line_end(const char *buf, size_t len, size_t p)
{
    const char *nl = memchr(buf + p, '\n', len - p);
    return nl ? nl - buf : -1;
}

/* Does the comma-separated header value v[0..n) hold the token (any case)? */
static int s_has_token(const char *v, size_t n, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
            return 1;
    }
    return 0;
}

static int s_request_line(const char *line, size_t n, replay_http_req_t *req, int *minor)
{
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line || (size_t) (sp1 - line) >= sizeof req->method)
        return -1;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', n - (size_t) (target - line));
    if (!sp2 || sp2 == target)
        return -1;
    const char *version = sp2 + 1;
    size_t vlen = n - (size_t) (version - line);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) version[7]))
        return -1;
    *minor = version[7] - '0';
    memcpy(req->method, line, (size_t) (sp1 - line));
    req->method[sp1 - line] = 0;
    for (const char *m = req->method; *m; m++)
        if (!isupper((unsigned char) *m))
            return -1;
    size_t tlen = (size_t) (sp2 - target);
    const char *q = memchr(target, '?', tlen);
    if (q)
        tlen = (size_t) (q - target);
    if (tlen == 0 || tlen >= sizeof req->path)
        return -1;
    memcpy(req->path, target, tlen);
    req->path[tlen] = 0;
    return 0;
}

int replay_http_parse(const char *buf, size_t len, replay_http_req_t *req)
{
    memset(req, 0, sizeof *req);
    size_t p = 0;
    long end;
    /* Skip empty lines before the request line (RFC 9112 section 2.2). */
    for (;;) {
        if ((end = s_line_end(buf, len, p)) < 0)
            return 0;
        if ((size_t) end == p || ((size_t) end == p + 1 && buf[p] == '\r'))
            p = (size_t) end + 1;
        else
            break;
    }
    size_t n = (size_t) end - p;
    if (n > 0 && buf[p + n - 1] == '\r')
        n--;
    int minor = 0;
    if (s_request_line(buf + p, n, req, &minor) != 0)
        return -1;
    int conn_close = 0, conn_keep = 0;
    for (p = (size_t) end + 1;; p = (size_t) end + 1) {
        if ((end = s_line_end(buf, len, p)) < 0)
            return 0;
        n = (size_t) end - p;
        if (n > 0 && buf[p + n - 1] == '\r')
            n--;
        if (n == 0)
            break;
        const char *line = buf + p;
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line)
            return -1;
        size_t name_len = (size_t) (colon - line);
        const char *v = colon + 1;
        size_t vlen = n - name_len - 1;
        if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
            conn_close |= s_has_token(v, vlen, "close");
            conn_keep |= s_has_token(v, vlen, "keep-alive");
        } else if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
            while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            if (vlen > 0 && !(vlen == 1 && *v == '0'))
                req->has_body = 1;
        } else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            req->has_body = 1;
        }
    }
    req->keep_alive = minor >= 1 ? !conn_close : conn_keep && !conn_close;
    return (int) end + 1;
}

size_t replay_http_head(char *buf, size_t cap, int status, const char *content_type, long long content_length,
                        int keep_alive, const char *extra)
{
    char length[48] = "";
    if (content_length >= 0)
        snprintf(length, sizeof length, "Content-Length: %lld\r\n", content_length);
    int n = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: rtp-replay\r\n"
                     "Content-Type: %s\r\n"
                     "%s"
                     "Connection: %s\r\n"
                     "%s"
                     "\r\n",
                     status, replay_http_reason(status), content_type, length,
                     keep_alive ? "keep-alive" : "close", extra ? extra : "");
    return n < 0 || (size_t) n >= cap ? 0 : (size_t) n;
}
