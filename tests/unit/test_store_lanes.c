/* store_lanes: batches written through two lanes (two connections, rows split by
 * user), two batches in flight, leave Redis byte for byte (DUMP of every key) as the
 * same batches written one by one through one store, with the same counts and the
 * same refused rows: returning users, users without an id, resends, second copies, a
 * dead letter, rows refused for a key in the way. A lane whose connection dies fails
 * its batch and every batch behind it, even when the other lane wrote its part; the
 * retry completes them. A global key of the wrong type blocks both lanes, named. */
#include "check.h"
#include "redis_fixture.h"
#include "store_fixture.h"
#include "store_lanes.h"
#include "util.h"

#include <poll.h>

enum { BATCHES = 6, ROWS = 70 };

/* Batch k: fresh tweets of 23 recurring users (their names change), tweets without a
 * user, long texts, a second copy of a tweet, from batch 1 on resends of the batch
 * before; batch 3 carries a dead letter, batch 4 rows whose keys are in the way. */
static size_t s_batch(rtp_msg_t **out, int k)
{
    static char ids[BATCHES][ROWS][24], uids[BATCHES][ROWS][16], names[BATCHES][ROWS][16];
    size_t n = 0;
    for (int i = 0; i < ROWS - 1; i++, n++) {
        rec_t r = {0};
        int row = k * ROWS + i;
        snprintf(ids[k][n], 24, "%d", 40000 + row);
        if (k > 0 && i % 10 == 3)
            snprintf(ids[k][n], 24, "%d", 40000 + row - ROWS - 7); /* stored by the batch before */
        if (i == ROWS - 2)
            snprintf(ids[k][n], 24, "%d", 40000 + k * ROWS + 5); /* a second copy in this batch */
        int id = atoi(ids[k][n]);                                /* a tweet carries its user */
        snprintf(uids[k][n], 16, "l%d", (id * 7) % 23);
        snprintf(names[k][n], 16, "Name %d", row % 3);
        r.id = ids[k][n];
        r.user_id = id % 9 == 4 ? "" : uids[k][n];
        r.name = names[k][n];
        r.screen_name = "screen";
        r.text = r.censored = i % 5 ? "short"
                                    : "a tweet long enough to leave the compact encoding of a hash at "
                                      "Redis's default limit of 64 bytes a value";
        r.created_at = "Wed Mar 09 06:22:38 +0000 2016";
        r.lang = "en";
        r.hashtags = "";
        r.retweet_of = "";
        r.followers = row % 5;
        r.engagement = i % 4 == 0 ? 0 : 1.0 / (row + 3);
        r.sentiment = (double) row / 7 - 3;
        r.time_ms = 1457504558000 + row;
        r.received_us = 1457504559000000 + row;
        if (k == 4 && i % 20 == 1)
            r.user_id = i % 40 == 1 ? "in_way_a" : "in_way_b"; /* user hashes that are strings */
        out[n] = s_joined(&r);
        out[n]->seq = (uint64_t) row;
    }
    if (k == 3)
        out[n++] = s_dead("not a tweet", "{\"x\":1}", 7, 9000, 1457504563000000);
    return n;
}

typedef struct {
    rtp_store_counts_t counts;
    size_t refused[ROWS];
} result_t;

static void s_same_result(const result_t *a, const result_t *b)
{
    CHECK_INT(a->counts.stored, b->counts.stored);
    CHECK_INT(a->counts.duplicates, b->counts.duplicates);
    CHECK_INT(a->counts.deadletters, b->counts.deadletters);
    CHECK_INT(a->counts.deadletter_duplicates, b->counts.deadletter_duplicates);
    CHECK_INT(a->counts.refused, b->counts.refused);
    for (size_t k = 0; k < a->counts.refused && k < b->counts.refused; k++)
        CHECK_INT(a->refused[k], b->refused[k]);
}

static void s_poison(redisContext *c)
{
    freeReplyObject(redisCommand(c, "SET user:in_way_a string"));
    freeReplyObject(redisCommand(c, "SET user:in_way_b string"));
}

/* The reference: one store, one batch after the other. */
static void s_write_one_by_one(int port, int db, result_t *out)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/%d", port, db);
    rtp_err_t err = {{0}};
    rtp_redis_link_t *link = rtp_redis_link_new(url, 1000, 5000, &err);
    rtp_store_t *store = rtp_store_new(link);
    for (int k = 0; k < BATCHES; k++) {
        rtp_msg_t *msgs[ROWS];
        size_t n = s_batch(msgs, k);
        CHECK_INT(rtp_store_write(store, msgs, n, &out[k].counts, &err), 0);
        if (out[k].counts.refused)
            memcpy(out[k].refused, rtp_store_refused(store), out[k].counts.refused * sizeof(size_t));
        s_free_all(msgs, n);
    }
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);
}

/* Waits until one of the lanes' sockets has a reply. */
static void s_wait_readable(rtp_store_lanes_t *lanes)
{
    int fds[RTP_STORE_LANES_MAX];
    struct pollfd p[RTP_STORE_LANES_MAX];
    size_t n = rtp_store_lanes_fds(lanes, fds, RTP_STORE_LANES_MAX);
    CHECK(n >= 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pollfd){fds[i], POLLIN, 0};
    CHECK(poll(p, (nfds_t) n, 10000) >= 1);
}

typedef struct {
    rtp_redis_link_t *links[2];
    rtp_store_lanes_t *lanes;
} two_lanes_t;

static two_lanes_t s_two_lanes(int port, int db)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/%d", port, db);
    rtp_err_t err = {{0}};
    two_lanes_t t;
    for (int k = 0; k < 2; k++)
        t.links[k] = rtp_redis_link_new(url, 1000, 5000, &err);
    t.lanes = rtp_store_lanes_new(t.links, 2);
    CHECK(t.lanes != NULL);
    return t;
}

static void s_close_lanes(two_lanes_t *t)
{
    rtp_store_lanes_destroy(&t->lanes);
    for (int k = 0; k < 2; k++)
        rtp_redis_link_destroy(&t->links[k]);
}

/* Every key but the deadletter list, as Redis's DUMP bytes (raw) or in the canonical
 * text form (the order of a big hash's fields in DUMP moves as Redis reads it: after
 * a retry, compare text); then the list's entries sorted (lanes append their refused
 * rows' entries each in its own order). Caller frees. */
static char *s_state(redisContext *c, int raw)
{
    char *all = s_dump_as(c, raw), *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    for (char *line = all; line && *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t) (end - line) + 1 : strlen(line);
        if (strncmp(line, "deadletter ", 11) != 0)
            fwrite(line, 1, len, f);
        line += len;
    }
    redisReply *list = redisCommand(c, "LRANGE deadletter 0 -1");
    fprintf(f, "deadletter, sorted:");
    s_dump_reply(f, list, 0, 1);
    freeReplyObject(list);
    fclose(f);
    free(all);
    return out;
}

static void s_check_same_as_one_store(int port)
{
    redisContext *c[2] = {s_conn(port, NULL, 1), s_conn(port, NULL, 2)};
    for (int d = 0; d < 2; d++) {
        freeReplyObject(redisCommand(c[d], "FLUSHDB"));
        s_poison(c[d]);
    }
    result_t one[BATCHES], two[BATCHES];
    s_write_one_by_one(port, 1, one);

    two_lanes_t t = s_two_lanes(port, 2);
    rtp_msg_t *msgs[BATCHES][ROWS];
    size_t n[BATCHES], lane_rows[2] = {0};
    rtp_err_t err = {{0}};
    int sent = 0, done = 0;
    while (done < BATCHES) {
        if (sent < BATCHES && rtp_store_lanes_pending(t.lanes) < RTP_STORE_PIPELINE) {
            n[sent] = s_batch(msgs[sent], sent);
            for (size_t i = 0; i < n[sent]; i++)
                if (msgs[sent][i]->type == RTP_MSG_JOINED)
                    lane_rows[rtp_store_lane_of(msgs[sent][i], 2)]++;
            CHECK_INT(rtp_store_lanes_send(t.lanes, msgs[sent], n[sent], &err), 0);
            sent++;
            continue;
        }
        int rc = rtp_store_lanes_recv(t.lanes, 0, &two[done].counts, &err);
        if (rc == 0) {
            s_wait_readable(t.lanes);
            continue;
        }
        CHECK_INT(rc, 1);
        const size_t *refused = rtp_store_lanes_refused(t.lanes);
        if (two[done].counts.refused)
            memcpy(two[done].refused, refused, two[done].counts.refused * sizeof(size_t));
        for (size_t k = 0; k < two[done].counts.refused; k++)
            CHECK(msgs[done][refused[k]]->type == RTP_MSG_DEADLETTER);
        s_free_all(msgs[done], n[done]);
        done++;
    }
    CHECK_INT(rtp_store_lanes_pending(t.lanes), 0);
    int fds[1];
    CHECK_INT(rtp_store_lanes_fds(t.lanes, fds, 1), 0);
    s_close_lanes(&t);
    CHECK(lane_rows[0] > 50 && lane_rows[1] > 50); /* both lanes had work */
    for (int k = 0; k < BATCHES; k++)
        s_same_result(&one[k], &two[k]);
    CHECK(two[0].counts.fast == 1 && two[4].counts.refused == 4 && two[3].counts.deadletters == 1);
    char *a = s_state(c[0], 1), *b = s_state(c[1], 1);
    CHECK_STR(b, a);
    printf("two lanes, %d batches, 2 in flight: %zu + %zu rows by lane, %zu refused, same bytes as one "
           "store (%zu bytes of DUMP)\n",
           BATCHES, lane_rows[0], lane_rows[1], two[4].counts.refused, strlen(a));
    free(a);
    free(b);
    redisFree(c[0]);
    redisFree(c[1]);
}

/* Kills one of the lanes' connections (the first client on db that is not us). */
static void s_kill_a_lane(redisContext *c, int db)
{
    redisReply *me = redisCommand(c, "CLIENT ID");
    redisReply *list = redisCommand(c, "CLIENT LIST");
    char want[16];
    snprintf(want, sizeof want, " db=%d ", db);
    long long victim = -1;
    for (char *line = list->str; line && *line && victim < 0;) {
        char *end = strchr(line, '\n');
        long long id = strtoll(line + 3, NULL, 10);
        if (id != me->integer && strstr(line, want) && (!end || strstr(line, want) < end))
            victim = id;
        line = end ? end + 1 : NULL;
    }
    CHECK(victim >= 0);
    freeReplyObject(redisCommand(c, "CLIENT KILL ID %lld", victim));
    freeReplyObject(me);
    freeReplyObject(list);
}

static void s_check_lane_lost(int port)
{
    redisContext *c[2] = {s_conn(port, NULL, 3), s_conn(port, NULL, 4)};
    for (int d = 0; d < 2; d++) {
        freeReplyObject(redisCommand(c[d], "FLUSHDB"));
        s_poison(c[d]);
    }
    result_t one[BATCHES];
    s_write_one_by_one(port, 3, one);

    two_lanes_t t = s_two_lanes(port, 4);
    rtp_msg_t *msgs[BATCHES][ROWS];
    size_t n[BATCHES];
    rtp_err_t err = {{0}};
    for (int k = 0; k < BATCHES; k++)
        n[k] = s_batch(msgs[k], k);
    rtp_store_counts_t counts;
    CHECK_INT(rtp_store_lanes_write(t.lanes, msgs[0], n[0], &counts, &err), 0); /* both lanes connected */
    CHECK_INT(rtp_store_lanes_send(t.lanes, msgs[1], n[1], &err), 0);
    CHECK_INT(rtp_store_lanes_send(t.lanes, msgs[2], n[2], &err), 0);
    s_kill_a_lane(c[1], 4);
    CHECK_INT(rtp_store_lanes_recv(t.lanes, 1, &counts, &err), -1);
    printf("a lane's connection killed: %s\n", err.msg);
    memset(&err, 0, sizeof err);
    CHECK_INT(rtp_store_lanes_recv(t.lanes, 1, &counts, &err), -1); /* behind it: fails too */
    printf("the batch behind it: %s\n", err.msg);
    for (int k = 1; k < BATCHES; k++) { /* the retry, in order, reconnects */
        CHECK_INT(rtp_store_lanes_write(t.lanes, msgs[k], n[k], &counts, &err), 0);
        if (k == 1 || k == 2)
            CHECK_INT(counts.stored + counts.duplicates, one[k].counts.stored + one[k].counts.duplicates);
    }
    char *a = s_state(c[0], 0), *b = s_state(c[1], 0);
    CHECK_STR(b, a);
    free(a);
    free(b);

    /* a global key of the wrong type blocks both lanes, named */
    freeReplyObject(redisCommand(c[1], "DEL tweets"));
    freeReplyObject(redisCommand(c[1], "SET tweets string"));
    rtp_msg_t *more[ROWS];
    size_t m = s_batch(more, 5);
    CHECK_INT(rtp_store_lanes_write(t.lanes, more, m, &counts, &err), -1);
    CHECK_STR(rtp_store_lanes_blocking_key(t.lanes), "tweets");
    printf("blocked: %s\n", err.msg);
    s_free_all(more, m);
    for (int k = 0; k < BATCHES; k++)
        s_free_all(msgs[k], n[k]);
    s_close_lanes(&t);
    redisFree(c[0]);
    redisFree(c[1]);
}

/* The same tweet id with two users (not from Twitter) in two batches in flight, the
 * users in different lanes: the second copy follows the first into its lane and is a
 * duplicate, as with one store. */
static void s_check_same_id_two_users(int port)
{
    redisContext *c = s_conn(port, NULL, 5);
    freeReplyObject(redisCommand(c, "FLUSHDB"));
    two_lanes_t t = s_two_lanes(port, 5);
    char uid[2][16];
    rec_t r[2] = {{0}, {0}};
    rtp_msg_t *m[2];
    for (int k = 0; k < 2; k++) {
        for (int i = 0;; i++) { /* a user of lane k */
            snprintf(uid[k], sizeof uid[k], "two%d", i);
            r[k] = (rec_t){.id = "777",
                           .user_id = uid[k],
                           .name = "n",
                           .screen_name = "s",
                           .text = "t",
                           .censored = "t",
                           .created_at = "c",
                           .lang = "en",
                           .hashtags = "",
                           .retweet_of = "",
                           .engagement = 0.5,
                           .time_ms = 1457504558000};
            m[k] = s_joined(&r[k]);
            if (rtp_store_lane_of(m[k], 2) == (size_t) k)
                break;
            rtp_msg_destroy(&m[k]);
        }
    }
    rtp_err_t err = {{0}};
    rtp_store_counts_t counts[2];
    CHECK_INT(rtp_store_lanes_send(t.lanes, &m[0], 1, &err), 0);
    CHECK_INT(rtp_store_lanes_send(t.lanes, &m[1], 1, &err), 0);
    CHECK_INT(rtp_store_lanes_recv(t.lanes, 1, &counts[0], &err), 1);
    CHECK_INT(rtp_store_lanes_recv(t.lanes, 1, &counts[1], &err), 1);
    CHECK_INT(counts[0].stored, 1);
    CHECK_INT(counts[1].stored, 0);
    CHECK_INT(counts[1].duplicates, 1);
    CHECK_STR(s_hget(c, "tweet:777", "user_id"), uid[0]);
    CHECK_INT(s_int(c, "EXISTS user:%s", uid[0]), 1);
    CHECK_INT(s_int(c, "EXISTS user:%s", uid[1]), 0);
    printf("tweet 777 of users %s and %s (lanes 0 and 1), in flight together: stored once\n", uid[0], uid[1]);
    s_free_all(m, 2);
    s_close_lanes(&t);
    redisFree(c);
}

int main(void)
{
    redis_fixture_t redis;
    if (redis_fixture_start(&redis, NULL) != 0)
        return 1;
    CHECK(rtp_store_lanes_new(NULL, 0) == NULL);
    s_check_same_as_one_store(redis.port);
    s_check_lane_lost(redis.port);
    s_check_same_id_two_users(redis.port);
    redis_fixture_stop(&redis);
    return CHECK_DONE();
}
