#include "redis_link.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct rtp_redis_link_t {
    rtp_redis_url_t url;
    char display[512];
    int connect_ms, command_ms;
    redisContext *ctx;
};

static int s_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes src[0..len) into out (cap bytes with the NUL). 0, or -1 when the
 * encoding is bad or the result does not fit. */
static int s_decode(const char *src, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char) src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int a = s_hex((unsigned char) src[i + 1]), b = s_hex((unsigned char) src[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            c = a * 16 + b;
            if (c == 0)
                return -1;
            i += 2;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char) c;
    }
    out[n] = 0;
    return 0;
}

/* Parses a decimal number of at most max_digits digits from s[0..len). */
static int s_number(const char *s, size_t len, size_t max_digits, long *out)
{
    if (len == 0 || len > max_digits)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char) s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int s_host_char(int c, int bracketed)
{
    if (isalnum(c) || c == '.' || c == '-' || c == '_')
        return 1;
    return bracketed && (c == ':' || c == '%');
}

int rtp_redis_url_parse(const char *url, rtp_redis_url_t *out, rtp_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return rtp_err_set(err, "empty Redis URL (expected redis://[:password@]host:port[/db])");
    if (strncmp(url, "rediss://", 9) == 0)
        return rtp_err_set(err, "TLS (rediss://) is not supported; use redis://");
    if (strncmp(url, "redis://", 8) != 0)
        return rtp_err_set(
            err, "Redis URL must start with redis:// (expected redis://[:password@]host:port[/db])");
    const char *p = url + 8;
    if (strpbrk(p, "?#"))
        return rtp_err_set(err, "Redis URL: query and fragment parts are not supported");
    const char *slash = strchr(p, '/');
    const char *auth_end = slash ? slash : p + strlen(p);

    /* user info: everything before the last '@' of the authority */
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t) (at - p));
        if (!colon)
            return rtp_err_set(err, "Redis URL: user info without ':' (write redis://:password@host:port)");
        if (s_decode(p, (size_t) (colon - p), out->user, sizeof out->user) != 0)
            return rtp_err_set(err, "Redis URL: bad or too long user name");
        if (s_decode(colon + 1, (size_t) (at - colon - 1), out->password, sizeof out->password) != 0) {
            memset(out->password, 0, sizeof out->password);
            return rtp_err_set(err, "Redis URL: bad percent-encoding in the password, or too long");
        }
        out->has_password = out->password[0] != 0;
        if (out->user[0] && !out->has_password)
            return rtp_err_set(err, "Redis URL: a user name needs a password");
        p = at + 1;
    }

    /* host and port */
    const char *host = p, *host_end, *port = NULL;
    int bracketed = *p == '[';
    if (bracketed) {
        host = p + 1;
        host_end = memchr(host, ']', (size_t) (auth_end - host));
        if (!host_end)
            return rtp_err_set(err, "Redis URL: '[' without ']' around the host");
        const char *after = host_end + 1;
        if (after < auth_end) {
            if (*after != ':')
                return rtp_err_set(err, "Redis URL: unexpected characters after ']'");
            port = after + 1;
        }
    } else {
        host_end = memchr(host, ':', (size_t) (auth_end - host));
        if (host_end)
            port = host_end + 1;
        else
            host_end = auth_end;
    }
    size_t host_len = (size_t) (host_end - host);
    if (host_len == 0)
        return rtp_err_set(err, "Redis URL: no host");
    if (host_len >= sizeof out->host)
        return rtp_err_set(err, "Redis URL: host name too long");
    for (size_t i = 0; i < host_len; i++)
        if (!s_host_char((unsigned char) host[i], bracketed))
            return rtp_err_set(err, "Redis URL: bad character in the host name");
    memcpy(out->host, host, host_len);
    out->host[host_len] = 0;

    out->port = 6379;
    if (port) {
        long v;
        if (s_number(port, (size_t) (auth_end - port), 5, &v) != 0 || v < 1 || v > 65535)
            return rtp_err_set(err, "Redis URL: the port must be a number from 1 to 65535");
        out->port = (int) v;
    }

    /* database */
    if (slash && slash[1]) {
        long v;
        if (s_number(slash + 1, strlen(slash + 1), 9, &v) != 0)
            return rtp_err_set(err, "Redis URL: the database must be a number (redis://host:port/N)");
        out->db = (int) v;
    }
    return 0;
}

char *rtp_redis_url_display(const rtp_redis_url_t *url, char *buf, size_t cap)
{
    const char *open = strchr(url->host, ':') ? "[" : "", *close = *open ? "]" : "";
    snprintf(buf, cap, "redis://%s%s%s%s%s:%d/%d", url->user, url->has_password ? ":***@" : "", open,
             url->host, close, url->port, url->db);
    return buf;
}

rtp_redis_link_t *rtp_redis_link_new(const char *url, int connect_ms, int command_ms, rtp_err_t *err)
{
    rtp_redis_link_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    if (rtp_redis_url_parse(url, &self->url, err) != 0) {
        free(self);
        return NULL;
    }
    rtp_redis_url_display(&self->url, self->display, sizeof self->display);
    self->connect_ms = connect_ms > 0 ? connect_ms : 1000;
    self->command_ms = command_ms > 0 ? command_ms : 5000;
    return self;
}

void rtp_redis_link_destroy(rtp_redis_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_redis_link_reset(*self_p);
    memset((*self_p)->url.password, 0, sizeof(*self_p)->url.password);
    free(*self_p);
    *self_p = NULL;
}

void rtp_redis_link_reset(rtp_redis_link_t *self)
{
    if (self && self->ctx) {
        redisFree(self->ctx);
        self->ctx = NULL;
    }
}

int rtp_redis_link_connected(const rtp_redis_link_t *self)
{
    return self->ctx != NULL;
}
const char *rtp_redis_link_display(const rtp_redis_link_t *self)
{
    return self->display;
}
const rtp_redis_url_t *rtp_redis_link_url(const rtp_redis_link_t *self)
{
    return &self->url;
}

static struct timeval s_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Runs one setup command on a fresh connection; 0, or -1 with the reason (never
 * the arguments, which may hold the password). */
static int s_setup(rtp_redis_link_t *self, const char *what, int argc, const char **argv, rtp_err_t *err)
{
    redisReply *reply = redisCommandArgv(self->ctx, argc, argv, NULL);
    if (!reply)
        return rtp_err_set(err, "%s on %s: %s", what, self->display, self->ctx->errstr);
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR)
        rc = rtp_err_set(err, "%s refused by %s: %s", what, self->display, reply->str);
    freeReplyObject(reply);
    return rc;
}

redisContext *rtp_redis_link_context(rtp_redis_link_t *self, rtp_err_t *err)
{
    if (self->ctx)
        return self->ctx;
    self->ctx = redisConnectWithTimeout(self->url.host, self->url.port, s_tv(self->connect_ms));
    if (!self->ctx) {
        rtp_err_set(err, "cannot connect to %s: out of memory", self->display);
        return NULL;
    }
    if (self->ctx->err) {
        rtp_err_set(err, "cannot connect to %s: %s", self->display, self->ctx->errstr);
        rtp_redis_link_reset(self);
        return NULL;
    }
    redisSetTimeout(self->ctx, s_tv(self->command_ms));
    redisEnableKeepAlive(self->ctx);
    int rc = 0;
    if (self->url.has_password) {
        const char *argv[3] = {"AUTH", self->url.user, self->url.password};
        if (self->url.user[0])
            rc = s_setup(self, "AUTH", 3, argv, err);
        else {
            argv[1] = self->url.password;
            rc = s_setup(self, "AUTH", 2, argv, err);
        }
    }
    if (rc == 0 && self->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", self->url.db);
        const char *argv[2] = {"SELECT", db};
        rc = s_setup(self, "SELECT", 2, argv, err);
    }
    if (rc != 0) {
        rtp_redis_link_reset(self);
        return NULL;
    }
    return self->ctx;
}
