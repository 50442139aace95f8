/* redis_link: where Redis is (the URL of SPEC section 4) and one connection to it.
 *
 * URL form: redis://[[user]:password@]host[:port][/db]
 *   - host is a name, an IPv4 address or a bracketed IPv6 address ([::1]);
 *   - port defaults to 6379, db to 0;
 *   - user and password may be percent-encoded (%40 for '@'); a user name is sent
 *     with AUTH (Redis 6 ACL), otherwise AUTH gets the password alone.
 * The password never appears in what this module prints or returns as text: every
 * display form masks it ("redis://:***@host:port/db").
 *
 * A link connects lazily: rtp_redis_link_context() connects (with AUTH and SELECT
 * when the URL asks for them) when there is no connection, and returns the live one
 * otherwise. After an I/O error or a timeout the caller calls rtp_redis_link_reset(),
 * and the next call connects afresh: this is how a writer rides out a Redis restart.
 */
#ifndef RTP_REDIS_LINK_H
#define RTP_REDIS_LINK_H

#include "rtp_err.h"

#include <hiredis/hiredis.h>

typedef struct {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int has_password; /* the URL carried a non-empty password */
    int db;
} rtp_redis_url_t;

/* Parses a redis:// URL into out. 0, or -1 with the reason in err (the reason never
 * contains the password). */
int rtp_redis_url_parse(const char *url, rtp_redis_url_t *out, rtp_err_t *err);

/* Writes the URL with its password masked into buf; returns buf. */
char *rtp_redis_url_display(const rtp_redis_url_t *url, char *buf, size_t cap);

typedef struct rtp_redis_link_t rtp_redis_link_t;

/* A link to the Redis at url (parsed now; nothing is connected yet). NULL with the
 * reason in err when the URL is not valid. connect_ms bounds a connection attempt,
 * command_ms every command's round trip (0: 1000 and 5000). */
rtp_redis_link_t *rtp_redis_link_new(const char *url, int connect_ms, int command_ms, rtp_err_t *err);
void rtp_redis_link_destroy(rtp_redis_link_t **self_p);

/* The connection, connected now if there was none (AUTH and SELECT done). NULL with
 * the reason in err when Redis cannot be reached or refuses us. The context is
 * borrowed: it stays valid until the next rtp_redis_link_reset or destroy. */
redisContext *rtp_redis_link_context(rtp_redis_link_t *self, rtp_err_t *err);

/* Drops the connection (after an I/O error, a timeout or an unparsable reply, when
 * the connection's state is unknown). Safe when not connected. */
void rtp_redis_link_reset(rtp_redis_link_t *self);

/* 1 when a connection is open (it may still have died without our knowing). */
int rtp_redis_link_connected(const rtp_redis_link_t *self);

/* The URL with the password masked, for logs. */
const char *rtp_redis_link_display(const rtp_redis_link_t *self);

/* The parsed URL. */
const rtp_redis_url_t *rtp_redis_link_url(const rtp_redis_link_t *self);

#endif
