/* redis_link: URL parsing (good and bad URLs, the password never shown), then a real
 * redis-server with a password: AUTH (with and without a user name), SELECT of a db,
 * refusals with a reason, an unreachable server, and a reconnect after a restart. */
#include "check.h"
#include "redis_fixture.h"
#include "redis_link.h"
#include "util.h"

typedef struct {
    const char *url;
    const char *host;
    int port;
    const char *user;
    const char *password;
    int db;
    const char *display;
} good_t;

static const good_t s_good[] = {
    {"redis://127.0.0.1:6379", "127.0.0.1", 6379, "", "", 0, "redis://127.0.0.1:6379/0"},
    {"redis://localhost", "localhost", 6379, "", "", 0, "redis://localhost:6379/0"},
    {"redis://redis:6380/", "redis", 6380, "", "", 0, "redis://redis:6380/0"},
    {"redis://:secret@cache.example.com:7000/3", "cache.example.com", 7000, "", "secret", 3,
     "redis://:***@cache.example.com:7000/3"},
    {"redis://:p%40ss%3Aw%2Frd@10.0.0.1:1/15", "10.0.0.1", 1, "", "p@ss:w/rd", 15,
     "redis://:***@10.0.0.1:1/15"},
    {"redis://alice:pw@h:65535/2", "h", 65535, "alice", "pw", 2, "redis://alice:***@h:65535/2"},
    {"redis://[::1]:6390/1", "::1", 6390, "", "", 1, "redis://[::1]:6390/1"},
    {"redis://:@host_1:99", "host_1", 99, "", "", 0, "redis://host_1:99/0"},
    {"redis://:a@b@host:5/0", "host", 5, "", "a@b", 0, "redis://:***@host:5/0"},
};

typedef struct {
    const char *url;
    const char *reason; /* a part of the expected reason */
} bad_t;

static const bad_t s_bad[] = {
    {"", "empty"},
    {"127.0.0.1:6379", "must start with redis://"},
    {"http://host:1", "must start with redis://"},
    {"rediss://host:1", "TLS"},
    {"redis://", "no host"},
    {"redis://:hunter2@", "no host"},
    {"redis://:hunter2@:6379", "no host"},
    {"redis://host:0", "port"},
    {"redis://host:65536", "port"},
    {"redis://host:", "port"},
    {"redis://host:12ab", "port"},
    {"redis://host:123456", "port"},
    {"redis://host:1/x", "database"},
    {"redis://host:1/-1", "database"},
    {"redis://host:1/2/3", "database"},
    {"redis://host:1/1234567890", "database"},
    {"redis://ho st:1", "bad character"},
    {"redis://hunter2@host:1", "without ':'"},
    {"redis://:hunt%zzer2@host:1", "percent-encoding"},
    {"redis://:hunter2%4@host:1", "percent-encoding"},
    {"redis://:hunter2%00@host:1", "percent-encoding"},
    {"redis://bob:@host:1", "needs a password"},
    {"redis://[::1:1", "without ']'"},
    {"redis://[::1]x:1", "after ']'"},
    {"redis://host:1?db=2", "query"},
};

static void s_check_parse(void)
{
    for (size_t i = 0; i < sizeof s_good / sizeof s_good[0]; i++) {
        const good_t *g = &s_good[i];
        rtp_redis_url_t u;
        rtp_err_t err = {{0}};
        int rc = rtp_redis_url_parse(g->url, &u, &err);
        if (rc != 0)
            fprintf(stderr, "unexpected rejection of %s: %s\n", g->url, err.msg);
        CHECK_INT(rc, 0);
        CHECK_STR(u.host, g->host);
        CHECK_INT(u.port, g->port);
        CHECK_STR(u.user, g->user);
        CHECK_STR(u.password, g->password);
        CHECK_INT(u.has_password, g->password[0] != 0);
        CHECK_INT(u.db, g->db);
        char shown[512];
        CHECK_STR(rtp_redis_url_display(&u, shown, sizeof shown), g->display);
    }
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const bad_t *b = &s_bad[i];
        rtp_redis_url_t u;
        rtp_err_t err = {{0}};
        CHECK_INT(rtp_redis_url_parse(b->url, &u, &err), -1);
        if (!strstr(err.msg, b->reason))
            fprintf(stderr, "reason for %s: \"%s\", expected it to mention \"%s\"\n", b->url, err.msg,
                    b->reason);
        CHECK(strstr(err.msg, b->reason) != NULL);
        CHECK(strstr(err.msg, "hunter2") == NULL && strstr(err.msg, "hunt") == NULL);
    }
    rtp_err_t err;
    CHECK(rtp_redis_link_new("redis://", 0, 0, &err) == NULL);
    printf("parse: %zu good and %zu bad URLs\n", sizeof s_good / sizeof s_good[0],
           sizeof s_bad / sizeof s_bad[0]);
}

/* A direct connection (not through the module under test) to check what it did. */
static redisContext *s_direct(int port, const char *password, int db)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err)
        return c;
    redisReply *r = redisCommand(c, "AUTH %s", password);
    if (r)
        freeReplyObject(r);
    r = redisCommand(c, "SELECT %d", db);
    if (r)
        freeReplyObject(r);
    return c;
}

static void s_check_live(void)
{
    const char *password = "p@ss:w/rd";
    const char *extra[] = {"--requirepass", password, NULL};
    redis_fixture_t redis;
    if (redis_fixture_start(&redis, extra) != 0) {
        CHECK(!"redis-server started");
        return;
    }
    char url[256];
    rtp_err_t err = {{0}};

    /* the password percent-encoded, db 5 */
    snprintf(url, sizeof url, "redis://:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/5", redis.port);
    rtp_redis_link_t *link = rtp_redis_link_new(url, 1000, 2000, &err);
    CHECK(link != NULL);
    CHECK(strstr(rtp_redis_link_display(link), "***") != NULL);
    CHECK(strstr(rtp_redis_link_display(link), "p@ss") == NULL &&
          strstr(rtp_redis_link_display(link), "%40") == NULL);
    CHECK_INT(rtp_redis_link_connected(link), 0);
    redisContext *ctx = rtp_redis_link_context(link, &err);
    CHECK(ctx != NULL);
    CHECK_INT(rtp_redis_link_connected(link), 1);
    CHECK(rtp_redis_link_context(link, &err) == ctx); /* the same connection again */
    redisReply *r = ctx ? redisCommand(ctx, "SET %s %s", "link:probe", "in-db-5") : NULL;
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r)
        freeReplyObject(r);

    redisContext *d5 = s_direct(redis.port, password, 5);
    r = redisCommand(d5, "GET link:probe");
    CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "in-db-5") == 0);
    if (r)
        freeReplyObject(r);
    redisFree(d5);
    redisContext *d0 = s_direct(redis.port, password, 0);
    r = redisCommand(d0, "EXISTS link:probe");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    if (r)
        freeReplyObject(r);
    redisFree(d0);

    /* a user name: AUTH user password (Redis 6 ACL; "default" is requirepass's user) */
    snprintf(url, sizeof url, "redis://default:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/0", redis.port);
    rtp_redis_link_t *with_user = rtp_redis_link_new(url, 1000, 2000, &err);
    CHECK(with_user && rtp_redis_link_context(with_user, &err) != NULL);
    rtp_redis_link_destroy(&with_user);

    /* a wrong password: refused, with a reason that does not show it */
    snprintf(url, sizeof url, "redis://:hunter2@127.0.0.1:%d/0", redis.port);
    rtp_redis_link_t *wrong = rtp_redis_link_new(url, 1000, 2000, &err);
    CHECK(wrong != NULL);
    memset(&err, 0, sizeof err);
    CHECK(rtp_redis_link_context(wrong, &err) == NULL);
    CHECK(strstr(err.msg, "AUTH") != NULL);
    CHECK(strstr(err.msg, "hunter2") == NULL);
    CHECK_INT(rtp_redis_link_connected(wrong), 0);
    printf("wrong password: %s\n", err.msg);
    rtp_redis_link_destroy(&wrong);

    /* no password, db 2: SELECT is refused (NOAUTH) */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", redis.port);
    rtp_redis_link_t *none = rtp_redis_link_new(url, 1000, 2000, &err);
    memset(&err, 0, sizeof err);
    CHECK(none && rtp_redis_link_context(none, &err) == NULL);
    CHECK(strstr(err.msg, "SELECT") != NULL && strstr(err.msg, "NOAUTH") != NULL);
    printf("no password: %s\n", err.msg);
    rtp_redis_link_destroy(&none);

    /* the server goes away: the link reports it quickly, then reconnects after a
     * restart on the same port */
    redis_fixture_halt(&redis);
    rtp_redis_link_reset(link);
    int64_t t0 = rtp_mono_ms();
    memset(&err, 0, sizeof err);
    CHECK(rtp_redis_link_context(link, &err) == NULL);
    CHECK(rtp_mono_ms() - t0 < 2000);
    CHECK(strstr(err.msg, "cannot connect") != NULL);
    CHECK(strstr(err.msg, "p@ss") == NULL);
    printf("server down: %s\n", err.msg);
    CHECK_INT(redis_fixture_start_on(&redis, redis.port), 0);
    ctx = rtp_redis_link_context(link, &err);
    CHECK(ctx != NULL);
    r = ctx ? redisCommand(ctx, "DBSIZE") : NULL;
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0); /* db 5 again, empty after the restart */
    if (r)
        freeReplyObject(r);

    rtp_redis_link_destroy(&link);
    CHECK(link == NULL);
    rtp_redis_link_destroy(&link); /* safe twice */
    redis_fixture_stop(&redis);
    redis_fixture_stop(&redis);
}

int main(void)
{
    s_check_parse();
    s_check_live();
    return CHECK_DONE();
}
