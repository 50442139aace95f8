/* store: batches written into a real redis-server, every key and field of SPEC
 * section 3 checked; the same batch written twice leaves Redis byte-identical; user
 * totals over several batches; users without a user id; retweets; dead letters as
 * JSON; the Lua number form equal to rtp_fmt_double's; rows whose keys are in the way
 * (wrong types, hashes rtp did not write, a total that would overflow) refused one
 * by one as dead letters naming the key while the rest is stored; a global key of
 * the wrong type blocking every row, named; Redis out of memory, busy with a script,
 * read-only, or refusing a user some keys: nothing written; SCRIPT FLUSH and a Redis
 * restart; AUTH and a db number. */
#include "check.h"
#include "redis_fixture.h"
#include "store_fixture.h"
#include "store.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <poll.h>

static int s_write(rtp_store_t *store, rtp_msg_t **msgs, size_t n, rtp_store_counts_t *counts)
{
    rtp_err_t err = {{0}};
    int rc = rtp_store_write(store, msgs, n, counts, &err);
    if (rc != 0)
        fprintf(stderr, "store write failed: %s\n", err.msg);
    return rc;
}

/* Checks that every key is as `before` (a dump, freed here) says, byte for byte. */
static void s_check_unchanged(redisContext *c, char *before)
{
    char *after = s_dump(c);
    CHECK_STR(after, before);
    free(before);
    free(after);
}

/* Writes a batch whose rows Redis holds already: checks that every key is left as it
 * was, and returns the write's result. */
static int s_write_changes_nothing(redisContext *c, rtp_store_t *store, rtp_msg_t **msgs, size_t n,
                                   rtp_store_counts_t *counts)
{
    char *before = s_dump(c);
    int rc = s_write(store, msgs, n, counts);
    s_check_unchanged(c, before);
    return rc;
}

static char *s_fmt(double x)
{
    static char buf[8][32];
    static int next = 0;
    return rtp_fmt_double(buf[next++ % 8], 32, x);
}

/* --- the checks --- */

static const rec_t T1 = {"1001",
                         "u1",
                         "Alice",
                         "alice",
                         "hello world, damn",
                         "hello world, ****",
                         0.5,
                         0.1,
                         "Wed Mar 09 06:22:38 +0000 2016",
                         "en",
                         "rtp Lab",
                         "",
                         10,
                         1457504558000,
                         1457504559000001};
static const rec_t T2 = {"1002",
                         "u1",
                         "Alice B.",
                         "alice_b",
                         "second",
                         "second",
                         -1.0 / 3,
                         0.2,
                         "Wed Mar 09 06:22:39 +0000 2016",
                         "es",
                         "",
                         "",
                         11,
                         1457504559000,
                         1457504560000000};
static const rec_t T3 = {"1003",
                         "u2",
                         "Bob",
                         "bob",
                         "no followers",
                         "no followers",
                         0,
                         0,
                         "Wed Mar 09 06:22:40 +0000 2016",
                         "und",
                         "",
                         "",
                         0,
                         0,
                         1457504561234567};
static const rec_t T4 = {"1004",
                         "",
                         "",
                         "",
                         "RT @alice: hello world, damn",
                         "RT @alice: hello world, ****",
                         0.25,
                         1e-05,
                         "Wed Mar 09 06:22:41 +0000 2016",
                         "en",
                         "rtp",
                         "1001",
                         0,
                         1457504561000,
                         1};
static const rec_t T5 = {"1001", "u1", "Alice", "alice", "a resend, changed", "changed", 9, 9, "x", "x", "x",
                         "",     99,   1,       1};
static const rec_t T6 = {"1005",
                         "u3",
                         "Carol \"C\"\t",
                         "carol",
                         "ratio 100",
                         "ratio 100",
                         2,
                         100,
                         "Wed Mar 09 06:22:42 +0000 2016",
                         "en",
                         "",
                         "",
                         1,
                         1457504562000,
                         1};

static void s_check_tweet_row(redisContext *c, const rec_t *r)
{
    char key[64];
    snprintf(key, sizeof key, "tweet:%s", r->id);
    CHECK_INT(s_int(c, "HLEN %s", key), 10);
    CHECK_STR(s_hget(c, key, "id"), r->id);
    CHECK_STR(s_hget(c, key, "user_id"), r->user_id);
    CHECK_STR(s_hget(c, key, "text"), r->text);
    CHECK_STR(s_hget(c, key, "censored"), r->censored);
    CHECK_STR(s_hget(c, key, "sentiment"), s_fmt(r->sentiment));
    CHECK_STR(s_hget(c, key, "engagement"), s_fmt(r->engagement));
    CHECK_STR(s_hget(c, key, "created_at"), r->created_at);
    CHECK_STR(s_hget(c, key, "lang"), r->lang);
    CHECK_STR(s_hget(c, key, "hashtags"), r->hashtags);
    CHECK_STR(s_hget(c, key, "retweet_of"), r->retweet_of);
    char score[32];
    snprintf(score, sizeof score, "%" PRId64, r->time_ms ? r->time_ms : r->received_us / 1000);
    CHECK_STR(s_zscore(c, "tweets", r->id), score);
    if (r->user_id[0]) {
        char set[64];
        snprintf(set, sizeof set, "user:%s:tweets", r->user_id);
        redisReply *m = redisCommand(c, "SISMEMBER %s %s", set, r->id);
        CHECK(m && m->integer == 1);
        freeReplyObject(m);
    }
}

static void s_check_user(redisContext *c, const char *uid, const char *name, const char *screen,
                         const char *followers, double engagement, int tweets)
{
    char key[64], count[16];
    snprintf(key, sizeof key, "user:%s", uid);
    snprintf(count, sizeof count, "%d", tweets);
    CHECK_INT(s_int(c, "HLEN %s", key), 6);
    CHECK_STR(s_hget(c, key, "id"), uid);
    CHECK_STR(s_hget(c, key, "name"), name);
    CHECK_STR(s_hget(c, key, "screen_name"), screen);
    CHECK_STR(s_hget(c, key, "followers"), followers);
    CHECK_STR(s_hget(c, key, "engagement"), s_fmt(engagement));
    CHECK_STR(s_hget(c, key, "tweets"), count);
    CHECK(strtod(s_zscore(c, "users:engagement", uid), NULL) == engagement);
    snprintf(key, sizeof key, "user:%s:tweets", uid);
    CHECK_INT(s_int(c, "SCARD %s", key), tweets);
}

static void s_check_batches(int port)
{
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    rtp_err_t err;
    rtp_redis_link_t *link = rtp_redis_link_new(url, 1000, 5000, &err);
    rtp_store_t *store = rtp_store_new(link);
    redisContext *c = s_conn(port, NULL, 0);

    /* batch 1: two tweets of u1, a user with no followers, a retweet without a user,
     * a resend of 1001 inside the batch, dead letters, two records that cannot be rows */
    static const char raw1[] = "{\"message\": panic}\n\t\"x\xff\xfe \xc3\xbc\x01";
    rec_t no_id = T3;
    no_id.id = "";
    rec_t not_finite = T3;
    not_finite.id = "1099";
    not_finite.sentiment = NAN;
    rtp_msg_t *b1[] = {
        s_joined(&T1),
        s_joined(&T2),
        s_joined(&T3),
        s_joined(&T4),
        s_joined(&T5),
        s_joined(&T6),
        s_dead("malformed event: not JSON", raw1, sizeof raw1 - 1, 42, 1457504563000999),
        s_dead("panic", "{\"message\": panic}", 18, 43, 0),
        s_joined(&no_id),
        s_joined(&not_finite),
    };
    size_t n1 = sizeof b1 / sizeof b1[0];
    rtp_store_counts_t counts;
    CHECK_INT(s_write(store, b1, n1, &counts), 0);
    CHECK_INT(counts.stored, 5);
    CHECK_INT(counts.duplicates, 1);
    CHECK_INT(counts.deadletters, 4);
    CHECK_INT(counts.deadletter_duplicates, 0);
    CHECK(b1[7]->received_us > 0); /* stamped, so that a retry writes the same entry */
    CHECK_INT(b1[8]->type, RTP_MSG_DEADLETTER);
    CHECK_INT(b1[9]->type, RTP_MSG_DEADLETTER);

    /* exactly these keys: 5 tweets, tweets, 3 users with their sets, users:engagement, deadletter */
    CHECK_INT(s_int(c, "DBSIZE%s", ""), 14);
    s_check_tweet_row(c, &T1);
    s_check_tweet_row(c, &T2);
    s_check_tweet_row(c, &T3);
    s_check_tweet_row(c, &T4);
    s_check_tweet_row(c, &T6);
    CHECK_INT(s_int(c, "ZCARD %s", "tweets"), 5);
    CHECK_INT(s_int(c, "ZCARD %s", "users:engagement"), 3);
    /* user rows: the latest new tweet's name and followers; totals over both tweets */
    s_check_user(c, "u1", "Alice B.", "alice_b", "11", 0.1 + 0.2, 2);
    CHECK_STR(s_hget(c, "user:u1", "engagement"), "0.30000000000000004");
    s_check_user(c, "u2", "Bob", "bob", "0", 0, 1);
    CHECK_STR(s_hget(c, "user:u2", "engagement"), "0");
    s_check_user(c, "u3", "Carol \"C\"\t", "carol", "1", 100, 1);
    CHECK_STR(s_hget(c, "tweet:1002", "sentiment"), "-0.3333333333333333");
    CHECK_STR(s_hget(c, "tweet:1004", "engagement"), "1e-05");
    CHECK_INT(s_int(c, "EXISTS %s", "user:"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "user::tweets"), 0);

    /* dead letters: one JSON object each, in batch order */
    CHECK_INT(s_int(c, "LLEN %s", "deadletter"), 4);
    redisReply *dl = redisCommand(c, "LRANGE deadletter 0 -1");
    CHECK(dl && dl->elements == 4);
    if (dl && dl->elements == 4) {
        CHECK_STR(dl->element[0]->str,
                  "{\"reason\":\"malformed event: not JSON\",\"data\":\"{\\\"message\\\": "
                  "panic}\\n\\t\\\"x\\ufffd\\ufffd "
                  "\xc3\xbc\\u0001\",\"origin\":\"reader-1\",\"seq\":42,\"time_ms\":1457504563000}");
        char expect[256];
        snprintf(
            expect, sizeof expect,
            "{\"reason\":\"panic\",\"data\":\"{\\\"message\\\": panic}\",\"origin\":\"reader-1\",\"seq\":43,"
            "\"time_ms\":%" PRId64 "}",
            b1[7]->received_us / 1000);
        CHECK_STR(dl->element[1]->str, expect);
        CHECK(strstr(dl->element[2]->str, "\"reason\":\"joined record without a tweet id\"") != NULL);
        CHECK(strstr(dl->element[2]->str, "\\\"text\\\":\\\"no followers\\\"") != NULL);
        CHECK(strstr(dl->element[3]->str, "not a finite number") != NULL);
        CHECK(strstr(dl->element[3]->str, "\\\"id\\\":\\\"1099\\\"") != NULL);
        char *json = rtp_store_deadletter_json(b1[6]);
        CHECK_STR(json, dl->element[0]->str);
        free(json);
    }
    freeReplyObject(dl);

    /* the same batch again (a retry after a lost reply): nothing changes, byte for byte */
    CHECK_INT(s_write_changes_nothing(c, store, b1, n1, &counts), 0);
    CHECK_INT(counts.stored, 0);
    CHECK_INT(counts.duplicates, 6);
    CHECK_INT(counts.deadletters, 0);
    CHECK_INT(counts.deadletter_duplicates, 4);
    printf("batch 1 written twice: %lld keys\n", s_int(c, "DBSIZE%s", ""));

    /* batch 2: u1's third tweet adds to the totals; 1001 again changes nothing */
    rec_t t7 = T2;
    t7.id = "1006";
    t7.engagement = 1.0 / 3;
    t7.name = "Alice C.";
    t7.followers = 12;
    rtp_msg_t *b2[] = {s_joined(&t7), s_joined(&T1)};
    CHECK_INT(s_write(store, b2, 2, &counts), 0);
    CHECK_INT(counts.stored, 1);
    CHECK_INT(counts.duplicates, 1);
    s_check_user(c, "u1", "Alice C.", "alice_b", "12", (0.1 + 0.2) + 1.0 / 3, 3);
    s_check_tweet_row(c, &t7);
    CHECK_STR(s_hget(c, "tweet:1001", "text"), T1.text);
    s_free_all(b2, 2);

    /* the user totals are formatted in Lua by rtp_fmt_double's rule: one user per value */
    static const double values[] = {100,
                                    1e16,
                                    1e-05,
                                    123456.789,
                                    1.0 / 3,
                                    2.0 / 3,
                                    0.1 + 0.2,
                                    5e-324,
                                    1.7976931348623157e308,
                                    1e21,
                                    0.000123,
                                    12345678901234567.0,
                                    0.5,
                                    7,
                                    1234567890123456.7,
                                    0.1 * 3,
                                    9007199254740993.0,
                                    4.35,
                                    2.5e-7,
                                    123456789012345.6};
    /* and 500 more: random digits at magnitudes 1e-6..1e19, most of them needing 16 or
     * 17 digits (the Lua side takes a shortcut for those) */
    enum { NF = sizeof values / sizeof values[0], NV = NF + 500 };
    static double vals[NV];
    static rtp_msg_t *b3[NV];
    static char ids[NV][16], uids[NV][16];
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < NV; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double mantissa = (double) (seed >> 11) / 9007199254740992.0;
        vals[i] = i < NF ? values[i] : mantissa * pow(10, (int) (seed % 26) - 6);
        snprintf(ids[i], sizeof ids[i], "%d", 3000 + i);
        snprintf(uids[i], sizeof uids[i], "n%d", i);
        rec_t r = T1;
        r.id = ids[i];
        r.user_id = uids[i];
        r.engagement = vals[i];
        b3[i] = s_joined(&r);
    }
    CHECK_INT(s_write(store, b3, NV, &counts), 0);
    CHECK_INT(counts.stored, NV);
    int same = 0;
    for (int i = 0; i < NV; i++) {
        char key[400];
        snprintf(key, sizeof key, "user:n%d", i);
        const char *lua = s_hget(c, key, "engagement");
        if (strcmp(lua, s_fmt(vals[i])) == 0 && strtod(lua, NULL) == vals[i])
            same++;
        else
            fprintf(stderr, "Lua wrote %s for %.17g, rtp_fmt_double %s\n", lua, vals[i], s_fmt(vals[i]));
    }
    CHECK_INT(same, NV);
    printf("Lua number form equal to rtp_fmt_double for %d of %d values\n", same, (int) NV);
    s_free_all(b3, NV);

    /* SCRIPT FLUSH: EVALSHA answers NOSCRIPT, the store falls back to EVAL */
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    rec_t t8 = T3;
    t8.id = "1007";
    rtp_msg_t *b4[] = {s_joined(&t8)};
    CHECK_INT(s_write(store, b4, 1, &counts), 0);
    CHECK_INT(counts.stored, 1);
    s_check_user(c, "u2", "Bob", "bob", "0", 0, 2);
    s_free_all(b4, 1);

    /* a large batch in one call */
    enum { BIG = 2000 };
    rtp_msg_t **big = calloc(BIG, sizeof *big);
    static char big_ids[BIG][16], big_uids[BIG][16];
    for (int i = 0; i < BIG; i++) {
        snprintf(big_ids[i], 16, "%d", 100000 + i);
        snprintf(big_uids[i], 16, "b%d", i % 100);
        rec_t r = T1;
        r.id = big_ids[i];
        r.user_id = big_uids[i];
        r.engagement = (i % 7) / 8.0;
        big[i] = s_joined(&r);
    }
    int64_t t0 = rtp_mono_us();
    CHECK_INT(s_write(store, big, BIG, &counts), 0);
    int64_t t1 = rtp_mono_us();
    CHECK_INT(counts.stored, BIG);
    CHECK_STR(s_hget(c, "user:b3", "tweets"), "20");
    printf("one batch of %d tweets written in %.1f ms\n", BIG, (double) (t1 - t0) / 1000.0);
    s_free_all(big, BIG);
    free(big);

    s_free_all(b1, n1);
    redisFree(c);
    rtp_store_destroy(&store);
    rtp_store_destroy(&store); /* safe twice */
    rtp_redis_link_destroy(&link);
}

/* --- keys in the way --- */

/* A store on db `db` of the test's Redis, and a connection of our own to read it back. */
typedef struct {
    rtp_redis_link_t *link;
    rtp_store_t *store;
    redisContext *c;
} on_db_t;

static on_db_t s_on_db(int port, int db)
{
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/%d", port, db);
    rtp_err_t err = {{0}};
    on_db_t o;
    o.link = rtp_redis_link_new(url, 1000, 5000, &err);
    o.store = rtp_store_new(o.link);
    o.c = s_conn(port, NULL, db);
    return o;
}

static void s_off_db(on_db_t *o)
{
    redisFree(o->c);
    rtp_store_destroy(&o->store);
    rtp_redis_link_destroy(&o->link);
}

/* A fresh copy of the rows of a poisoned batch (the journal gives back the records as
 * they were received, so a replay writes them unconverted). */
static size_t s_poison_batch(rtp_msg_t **out, rec_t *recs)
{
    static const char *const ids[] = {"5001", "5002", "5003", "5004", "5005", "5006", "5007", "5008", "5002"};
    static const char *const uids[] = {"pa", "pb", "pc", "pa", "pa", "pf", "ph", "pa", "pb"};
    size_t n = sizeof ids / sizeof ids[0];
    for (size_t i = 0; i < n; i++) {
        recs[i] = T1;
        recs[i].id = ids[i];
        recs[i].user_id = uids[i];
        recs[i].engagement = (double) (i + 1) / 4;
        out[i] = s_joined(&recs[i]);
        out[i]->seq = 100 + i;
    }
    recs[6].engagement = 1.5e308; /* user ph already holds 1.5e308: the total would be inf */
    out[6]->number2 = recs[6].engagement;
    out[n] = s_dead("panic", "{}", 2, 99, 1457504563000000);
    return n + 1;
}

/* The keys in the way of rows 1, 2, 3, 4, 5, 6 and 8 of s_poison_batch. */
static void s_poison(redisContext *c)
{
    freeReplyObject(redisCommand(c, "SET user:pb oops"));               /* 5002 (twice) */
    freeReplyObject(redisCommand(c, "RPUSH user:pc:tweets 1"));         /* 5003 */
    freeReplyObject(redisCommand(c, "SET tweet:5004 oops"));            /* 5004 */
    freeReplyObject(redisCommand(c, "HSET tweet:5005 note foreign"));   /* 5005 */
    freeReplyObject(redisCommand(c, "HSET user:pf id someone-else"));   /* 5006 */
    freeReplyObject(redisCommand(c, "HSET user:ph id ph engagement 1.5e308 tweets 1 name H screen_name h "
                                    "followers 1")); /* 5007 */
}

static void s_check_refused_entry(const char *entry, const char *id, const char *key, const char *what)
{
    char reason[256], data[64];
    snprintf(reason, sizeof reason, "\"reason\":\"tweet %s not stored: key %s %s", id, key, what);
    snprintf(data, sizeof data, "\\\"id\\\":\\\"%s\\\"", id);
    if (!entry || !strstr(entry, reason) || !strstr(entry, data)) {
        fprintf(stderr, "dead letter %s does not hold %s and %s\n", entry ? entry : "(none)", reason, data);
        CHECK(!"the refused row's dead letter names its key and carries the record");
    }
}

/* Rows whose keys are in the way are refused one by one, each a dead letter that
 * names its key; the rest of the batch is stored; nothing of a refused row is
 * written; rewriting the batch (converted, or as the journal gives it back) changes
 * nothing; once the keys are fixed the same rows are stored. */
static void s_check_refused_rows(int port)
{
    on_db_t db = s_on_db(port, 2);
    rtp_store_t *store = db.store;
    redisContext *c = db.c;
    s_poison(c);

    rec_t recs[16];
    rtp_msg_t *b[16];
    size_t n = s_poison_batch(b, recs);
    rtp_store_counts_t counts;
    CHECK_INT(s_write(store, b, n, &counts), 0);
    CHECK_INT(counts.stored, 2); /* 5001 and 5008, both of pa */
    CHECK_INT(counts.duplicates, 0);
    CHECK_INT(counts.refused, 7);
    CHECK_INT(counts.deadletters, 8);
    static const size_t refused[] = {1, 2, 3, 4, 5, 6, 8};
    const size_t *got = rtp_store_refused(store);
    for (size_t k = 0; k < 7 && k < counts.refused; k++) {
        CHECK_INT(got[k], refused[k]);
        CHECK_INT(b[got[k]]->type, RTP_MSG_DEADLETTER);
    }
    CHECK_INT(b[0]->type, RTP_MSG_JOINED);
    printf("refused: %s\n", b[1]->text);

    /* the stored rows, and user pa's totals over them only */
    s_check_tweet_row(c, &recs[0]);
    s_check_tweet_row(c, &recs[7]);
    s_check_user(c, "pa", "Alice", "alice", "10", recs[0].engagement + recs[7].engagement, 2);
    CHECK_INT(s_int(c, "ZCARD %s", "tweets"), 2);
    CHECK_INT(s_int(c, "ZCARD %s", "users:engagement"), 1);
    /* nothing of a refused row: the keys in the way as they were, no other key */
    CHECK_INT(s_int(c, "EXISTS %s", "tweet:5002"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "tweet:5003"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "tweet:5006"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "tweet:5007"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "user:pc"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "user:pb:tweets"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "user:pf:tweets"), 0);
    CHECK_INT(s_int(c, "EXISTS %s", "user:ph:tweets"), 0);
    /* the 6 keys in the way, 2 tweets, tweets, pa's 3 rows (hash, set, users:engagement), deadletter */
    CHECK_INT(s_int(c, "DBSIZE%s", ""), 6 + 2 + 1 + 3 + 1);
    redisReply *dl = redisCommand(c, "LRANGE deadletter 0 -1");
    CHECK(dl && dl->elements == 8);
    if (dl && dl->elements == 8) {
        const char *wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
        char what[200];
        CHECK(strstr(dl->element[0]->str, "\"reason\":\"panic\"") != NULL); /* the batch's own first */
        snprintf(what, sizeof what, "holds a string, not a hash (Redis: %s)", wrongtype);
        s_check_refused_entry(dl->element[1]->str, "5002", "user:pb", what);
        snprintf(what, sizeof what, "holds a list, not a set (Redis: %s)", wrongtype);
        s_check_refused_entry(dl->element[2]->str, "5003", "user:pc:tweets", what);
        snprintf(what, sizeof what, "holds a string, not a hash (Redis: %s)", wrongtype);
        s_check_refused_entry(dl->element[3]->str, "5004", "tweet:5004", what);
        s_check_refused_entry(dl->element[4]->str, "5005", "tweet:5005",
                              "is in the way: a hash rtp did not write (its id field is missing)");
        s_check_refused_entry(dl->element[5]->str, "5006", "user:pf",
                              "is in the way: a hash rtp did not write (id \\\"someone-else\\\", "
                              "engagement missing, tweets missing)");
        s_check_refused_entry(dl->element[6]->str, "5007", "user:ph",
                              "has an engagement total of 1.5e+308: adding 1.5e+308 would make it inf");
        snprintf(what, sizeof what, "holds a string, not a hash (Redis: %s)", wrongtype);
        s_check_refused_entry(dl->element[7]->str, "5002", "user:pb", what);
        CHECK(strstr(dl->element[7]->str, "\"seq\":108") != NULL); /* the second copy: its own entry */
    }
    freeReplyObject(dl);

    /* the converted batch again (a retry after a lost reply), and the batch as the
     * journal gives it back: Redis unchanged, byte for byte */
    CHECK_INT(s_write_changes_nothing(c, store, b, n, &counts), 0);
    CHECK_INT(counts.refused, 0);
    CHECK_INT(counts.duplicates, 2);
    CHECK_INT(counts.deadletter_duplicates, 8);
    rtp_msg_t *again[16];
    s_poison_batch(again, recs);
    CHECK_INT(s_write_changes_nothing(c, store, again, n, &counts), 0);
    CHECK_INT(counts.refused, 7);
    CHECK_INT(counts.deadletters, 0);
    CHECK_INT(counts.deadletter_duplicates, 8);
    s_free_all(again, n);

    /* the keys fixed: the same rows are stored */
    freeReplyObject(redisCommand(c, "DEL user:pb user:pc:tweets tweet:5004 tweet:5005 user:pf user:ph"));
    s_poison_batch(again, recs);
    CHECK_INT(s_write(store, again, n, &counts), 0);
    CHECK_INT(counts.refused, 0);
    CHECK_INT(counts.stored, 6);
    CHECK_INT(counts.duplicates, 3);
    for (size_t i = 1; i < 7; i++)
        s_check_tweet_row(c, &recs[i]);
    s_check_user(c, "pb", "Alice", "alice", "10", recs[1].engagement, 1);
    s_check_user(c, "ph", "Alice", "alice", "10", 1.5e308, 1);
    s_check_user(c, "pa", "Alice", "alice", "10",
                 recs[0].engagement + recs[3].engagement + recs[4].engagement + recs[7].engagement, 4);
    s_free_all(again, n);

    /* a user hash with fields of another program and none of rtp's: rtp's are added */
    freeReplyObject(redisCommand(c, "HSET user:pz note kept"));
    rec_t z = T1;
    z.id = "5100";
    z.user_id = "pz";
    rtp_msg_t *bz[] = {s_joined(&z)};
    CHECK_INT(s_write(store, bz, 1, &counts), 0);
    CHECK_INT(counts.stored, 1);
    CHECK_STR(s_hget(c, "user:pz", "note"), "kept");
    CHECK_STR(s_hget(c, "user:pz", "tweets"), "1");
    s_free_all(bz, 1);
    s_free_all(b, n);
    s_off_db(&db);
}

/* A global key of the wrong type blocks every row: the write fails with nothing
 * written and names the key; once the key is gone the batch is written. Redis out
 * of memory (maxmemory, noeviction) fails the batch with nothing written, and is
 * not a blocked key. */
static void s_check_blocking_keys(int port)
{
    on_db_t db = s_on_db(port, 3);
    rtp_store_t *store = db.store;
    redisContext *c = db.c;
    rtp_err_t err = {{0}};
    static const char *const keys[][2] = {
        {"tweets", "string where rtp keeps a sorted set"},
        {"users:engagement", "hash where rtp keeps a sorted set"},
        {"deadletter", "string where rtp keeps a list"},
    };
    rec_t r = T1;
    for (size_t k = 0; k < 3; k++) {
        char id[16];
        snprintf(id, sizeof id, "%zu", 6000 + k);
        r.id = id;
        freeReplyObject(redisCommand(c, "DEL %s", keys[k][0]));
        if (k == 1)
            freeReplyObject(redisCommand(c, "HSET %s a b", keys[k][0]));
        else
            freeReplyObject(redisCommand(c, "SET %s oops", keys[k][0]));
        char *before = s_dump(c);
        rtp_msg_t *b[] = {s_joined(&r), s_dead("panic", "{}", 2, 7, 1457504563000000)};
        rtp_store_counts_t counts;
        memset(&err, 0, sizeof err);
        CHECK_INT(rtp_store_write(store, b, 2, &counts, &err), -1);
        CHECK_STR(rtp_store_blocking_key(store) ? rtp_store_blocking_key(store) : "(null)", keys[k][0]);
        char want[128];
        snprintf(want, sizeof want, "key '%s' holds a %s: it blocks every write", keys[k][0], keys[k][1]);
        CHECK(strstr(err.msg, want) != NULL);
        printf("blocked: %s\n", err.msg);
        char *after = s_dump(c);
        CHECK_STR(after, before);
        free(before);
        free(after);
        freeReplyObject(redisCommand(c, "DEL %s", keys[k][0]));
        CHECK_INT(s_write(store, b, 2, &counts), 0);
        CHECK(rtp_store_blocking_key(store) == NULL);
        CHECK_INT(counts.stored, 1);
        CHECK_INT(counts.deadletters + counts.deadletter_duplicates, 1);
        s_check_tweet_row(c, &r);
        s_free_all(b, 2);
    }

    /* out of memory: nothing written, then everything once memory is back */
    r.id = "6100";
    rec_t in_way = T1;
    in_way.id = "6101";
    freeReplyObject(redisCommand(c, "SET tweet:6101 oops"));
    char *before = s_dump(c);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 1"));
    rtp_msg_t *b[] = {s_joined(&r), s_joined(&in_way)};
    rtp_store_counts_t counts;
    memset(&err, 0, sizeof err);
    CHECK_INT(rtp_store_write(store, b, 1, &counts, &err), -1);
    CHECK(strstr(err.msg, "OOM") != NULL);
    CHECK(rtp_store_blocking_key(store) == NULL);
    printf("out of memory: %s\n", err.msg);
    /* a refused row alone writes nothing in its first round trip; its dead letter is
     * refused for memory too */
    memset(&err, 0, sizeof err);
    CHECK_INT(rtp_store_write(store, b + 1, 1, &counts, &err), -1);
    CHECK(strstr(err.msg, "OOM") != NULL);
    CHECK_INT(b[1]->type, RTP_MSG_DEADLETTER);
    char *after = s_dump(c);
    CHECK_STR(after, before);
    free(after);
    free(before);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 0"));
    CHECK_INT(s_write(store, b, 2, &counts), 0);
    CHECK_INT(counts.stored, 1);
    CHECK_INT(counts.refused, 0); /* refused by the failed write: a dead letter already */
    CHECK_INT(counts.deadletters, 1);
    s_check_tweet_row(c, &r);
    s_free_all(b, 2);
    s_off_db(&db);
}

/* A write Redis cannot take now fails, names no key, refuses no row and (read back
 * through `reader`, unless NULL) writes nothing: a batch with a dead letter (the
 * script), and the same tweet alone (the fast path). */
static void s_expect_cannot_write(rtp_store_t *store, redisContext *reader, const char *what,
                                  const char *expect)
{
    char *before = reader ? s_dump(reader) : NULL;
    rec_t r = T1;
    r.id = "7001";
    r.user_id = "q1";
    rtp_msg_t *b[] = {s_joined(&r), s_dead("panic", "{}", 2, 8, 1457504563000000)};
    rtp_store_counts_t counts;
    rtp_err_t err = {{0}};
    CHECK_INT(rtp_store_write(store, b, 2, &counts, &err), -1);
    CHECK(strstr(err.msg, expect) != NULL);
    CHECK(rtp_store_blocking_key(store) == NULL);
    CHECK_INT(b[0]->type, RTP_MSG_JOINED);
    printf("%s: %s\n", what, err.msg);
    memset(&err, 0, sizeof err);
    CHECK_INT(rtp_store_write(store, b, 1, &counts, &err), -1);
    CHECK(strstr(err.msg, expect) != NULL);
    CHECK(rtp_store_blocking_key(store) == NULL);
    printf("%s, the tweet alone: %s\n", what, err.msg);
    if (reader)
        s_check_unchanged(reader, before);
    s_free_all(b, 2);
}

/* An ACL user (password "pw") with these rules, made through c, and a store on db
 * `db` that logs in as it (its link in *link). */
static rtp_store_t *s_store_as(redisContext *c, int port, int db, const char *user, const char *rules,
                               rtp_redis_link_t **link)
{
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", rules);
    const char *argv[32] = {"ACL", "SETUSER", user, "on", ">pw"};
    int argc = 5;
    for (char *rule = strtok_r(copy, " ", &save); rule && argc < 32; rule = strtok_r(NULL, " ", &save))
        argv[argc++] = rule;
    freeReplyObject(redisCommandArgv(c, argc, argv, NULL));
    char url[128];
    snprintf(url, sizeof url, "redis://%s:pw@127.0.0.1:%d/%d", user, port, db);
    rtp_err_t err = {{0}};
    *link = rtp_redis_link_new(url, 1000, 5000, &err);
    return rtp_store_new(*link);
}

/* The kinds of "cannot write now" that need no restart: a script running too long
 * (BUSY), a user without permission on some keys (an ACL being changed), a replica
 * (READONLY). */
static void s_check_cannot_write_now(int port)
{
    on_db_t db = s_on_db(port, 4);
    rec_t r = T1;
    r.id = "7001";
    r.user_id = "q1";

    rtp_msg_t *b[] = {s_joined(&r)};
    rtp_store_counts_t counts;
    CHECK_INT(s_write(db.store, b, 1, &counts), 0); /* connected, the script loaded */
    freeReplyObject(redisCommand(db.c, "DEL tweet:7001 tweets user:q1 user:q1:tweets users:engagement"));

    /* BUSY: another client's script loops; Redis answers BUSY until it is killed */
    char *before = s_dump(db.c);
    freeReplyObject(redisCommand(db.c, "CONFIG SET busy-reply-threshold 50"));
    redisContext *busy = s_conn(port, NULL, 4);
    redisAppendCommand(busy, "EVAL %s 0", "while true do end");
    int done = 0;
    while (!done && redisBufferWrite(busy, &done) == REDIS_OK)
        ;
    redisContext *killer = redisConnect("127.0.0.1", port);
    for (int i = 0, is_busy = 0; !is_busy && i < 500; i++) { /* until Redis says BUSY (10 s at most) */
        redisReply *p = redisCommand(killer, "PING");
        is_busy = p && p->type == REDIS_REPLY_ERROR && !strncmp(p->str, "BUSY", 4);
        freeReplyObject(p);
        if (!is_busy)
            redis_fixture_sleep_ms(20);
    }
    s_expect_cannot_write(db.store, NULL, "busy", "BUSY"); /* Redis cannot be read now */
    for (int i = 0; i < 100; i++) {
        redisReply *k = redisCommand(killer, "SCRIPT KILL");
        int killed = k && k->type == REDIS_REPLY_STATUS;
        freeReplyObject(k);
        if (killed)
            break;
        redis_fixture_sleep_ms(20);
    }
    void *gone = NULL;
    redisGetReply(busy, &gone); /* the killed script's error */
    freeReplyObject(gone);
    redisFree(busy);
    redisFree(killer);
    s_check_unchanged(db.c, before);

    /* an ACL user who may not touch user:* keys: the reads fail, the batch with them */
    rtp_redis_link_t *link;
    rtp_store_t *store = s_store_as(db.c, port, 4, "lim", "~tweet* ~deadletter ~users:engagement +@all", &link);
    s_expect_cannot_write(store, db.c, "no permission", "can't access");
    freeReplyObject(redisCommand(db.c, "ACL SETUSER lim ~user:*"));
    CHECK_INT(s_write(store, b, 1, &counts), 0);
    CHECK_INT(counts.stored, 1);
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);

    /* a replica of a master that is not there: READONLY, until it is a master again */
    freeReplyObject(redisCommand(db.c, "DEL tweet:7001"));
    freeReplyObject(redisCommand(db.c, "REPLICAOF 127.0.0.1 %d", redis_fixture_free_port()));
    s_expect_cannot_write(db.store, db.c, "replica", "READONLY");
    freeReplyObject(redisCommand(db.c, "REPLICAOF NO ONE"));
    CHECK_INT(s_write(db.store, b, 1, &counts), 0);
    CHECK_INT(counts.stored, 1);
    s_free_all(b, 1);
    s_off_db(&db);
}

/* Redis restarts under the store (same port, empty, no scripts): the write fails with
 * a reason, and the next one reconnects and succeeds. */
static void s_check_restart(redis_fixture_t *redis)
{
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/1", redis->port);
    rtp_err_t err = {{0}};
    rtp_redis_link_t *link = rtp_redis_link_new(url, 500, 2000, &err);
    rtp_store_t *store = rtp_store_new(link);
    rtp_msg_t *b[] = {s_joined(&T1)};
    rtp_store_counts_t counts;
    CHECK_INT(s_write(store, b, 1, &counts), 0);
    redis_fixture_halt(redis);
    CHECK_INT(rtp_store_write(store, b, 1, &counts, &err), -1);
    printf("redis stopped: %s\n", err.msg);
    CHECK(strlen(err.msg) > 0);
    CHECK_INT(redis_fixture_start_on(redis, redis->port), 0);
    CHECK_INT(s_write(store, b, 1, &counts), 0);
    CHECK_INT(counts.stored, 1); /* the restarted server was empty */
    redisContext *c = s_conn(redis->port, NULL, 1);
    s_check_tweet_row(c, &T1);
    redisFree(c);
    s_free_all(b, 1);
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);
}

/* A password and a db number: the rows land in that db, AUTH failures are reported
 * without the password. */
static void s_check_auth(void)
{
    const char *extra[] = {"--requirepass", "s3cret!", NULL};
    redis_fixture_t redis;
    if (redis_fixture_start(&redis, extra) != 0) {
        CHECK(!"redis-server with a password started");
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cret%%21@127.0.0.1:%d/7", redis.port);
    rtp_err_t err = {{0}};
    rtp_redis_link_t *link = rtp_redis_link_new(url, 1000, 5000, &err);
    rtp_store_t *store = rtp_store_new(link);
    rtp_msg_t *b[] = {s_joined(&T1), s_joined(&T2)};
    rtp_store_counts_t counts;
    CHECK_INT(s_write(store, b, 2, &counts), 0);
    CHECK_INT(counts.stored, 2);
    redisContext *c7 = s_conn(redis.port, "s3cret!", 7);
    s_check_tweet_row(c7, &T1);
    s_check_user(c7, "u1", "Alice B.", "alice_b", "11", 0.1 + 0.2, 2);
    redisContext *c0 = s_conn(redis.port, "s3cret!", 0);
    CHECK_INT(s_int(c0, "DBSIZE%s", ""), 0);
    redisFree(c7);
    redisFree(c0);
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);

    snprintf(url, sizeof url, "redis://:wrong-pw@127.0.0.1:%d/7", redis.port);
    link = rtp_redis_link_new(url, 1000, 5000, &err);
    store = rtp_store_new(link);
    memset(&err, 0, sizeof err);
    CHECK_INT(rtp_store_write(store, b, 2, &counts, &err), -1);
    CHECK(strstr(err.msg, "AUTH") != NULL && strstr(err.msg, "wrong-pw") == NULL);
    printf("wrong password: %s\n", err.msg);
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);
    s_free_all(b, 2);
    redis_fixture_stop(&redis);
}

/* --- pipelining --- */

/* The batches of the pipelining check, built afresh for each database: the poisoned
 * batch, then 40 tweets of which one repeats a tweet of the first batch, one meets a
 * key in the way again, and users of the first batch come back. */
static size_t s_pipeline_batches(rtp_msg_t **a, size_t *na, rtp_msg_t **b, rec_t *recs, int base)
{
    static char ids[40][16], uids[40][16];
    *na = s_poison_batch(a, recs);
    for (int i = 0; i < 40; i++) {
        rec_t r = T2;
        snprintf(ids[i], sizeof ids[i], "%d", base + i);
        snprintf(uids[i], sizeof uids[i], i % 3 ? "pz%d" : "pa", i % 5);
        r.id = i == 7 ? "5001" : i == 9 ? "5004" : ids[i];
        r.user_id = uids[i];
        r.engagement = (double) (i + 1) / 3;
        r.sentiment = 0.1 * i;
        b[i] = s_joined(&r);
        b[i]->seq = 300 + (uint64_t) i;
    }
    return 40;
}

/* Two batches in flight at once (rtp_store_send, rtp_store_recv) leave Redis byte for
 * byte as the same batches written one after the other, with the same counts: with
 * rows refused in the first (its second round trip waits for the second's reply),
 * and again after SCRIPT FLUSH (both answer NOSCRIPT and run again as EVAL; the
 * first batch's rows are stored or refused by then). */
static void s_check_pipeline(int port)
{
    char url[2][64];
    rtp_err_t err = {{0}};
    snprintf(url[0], sizeof url[0], "redis://127.0.0.1:%d/2", port);
    snprintf(url[1], sizeof url[1], "redis://127.0.0.1:%d/3", port);
    redisContext *c[2] = {s_conn(port, NULL, 2), s_conn(port, NULL, 3)};
    for (int round = 0; round < 2; round++) {
        rtp_store_counts_t counts[2][2];
        char *dump[2];
        for (int db = 0; db < 2; db++) {
            if (round == 0) {
                freeReplyObject(redisCommand(c[db], "FLUSHDB"));
                s_poison(c[db]);
            }
            rtp_redis_link_t *link = rtp_redis_link_new(url[db], 0, 0, &err);
            rtp_store_t *store = rtp_store_new(link);
            rtp_msg_t *a[16], *b[40];
            rec_t recs[16];
            size_t na, nb = s_pipeline_batches(a, &na, b, recs, round ? 8000 : 7000);
            if (round == 1) { /* fresh rows again, with the script cache emptied after the load */
                rtp_msg_t *d[1] = {s_dead("late", "y", 1, 77, 1457504563000000)};
                CHECK_INT(s_write(store, d, 1, NULL), 0);
                s_free_all(d, 1);
                freeReplyObject(redisCommand(c[db], "SCRIPT FLUSH"));
            }
            if (db == 0) {
                CHECK_INT(rtp_store_send(store, a, na, &err), 0);
                CHECK_INT(rtp_store_send(store, b, nb, &err), 0);
                CHECK_INT(rtp_store_pending(store), 2);
                CHECK(rtp_store_fd(store) >= 0);
                CHECK_INT(rtp_store_send(store, b, nb, &err), -1); /* two at most */
                rtp_msg_t *none[1];
                CHECK_INT(rtp_store_write(store, none, 0, NULL, &err), -1); /* not while in flight */
                CHECK_INT(rtp_store_recv(store, 1, &counts[db][0], &err), 1);
                const size_t *refused = rtp_store_refused(store);
                for (size_t k = 0; k < counts[db][0].refused; k++)
                    CHECK(a[refused[k]]->type == RTP_MSG_DEADLETTER);
                CHECK_INT(rtp_store_recv(store, 1, &counts[db][1], &err), 1);
                CHECK_INT(rtp_store_pending(store), 0);
                CHECK_INT(rtp_store_fd(store), -1);
            } else {
                CHECK_INT(s_write(store, a, na, &counts[db][0]), 0);
                CHECK_INT(s_write(store, b, nb, &counts[db][1]), 0);
            }
            s_free_all(a, na);
            s_free_all(b, nb);
            rtp_store_destroy(&store);
            rtp_redis_link_destroy(&link);
            dump[db] = s_dump(c[db]);
        }
        CHECK_STR(dump[0], dump[1]);
        for (int k = 0; k < 2; k++) {
            CHECK_INT(counts[0][k].stored, counts[1][k].stored);
            CHECK_INT(counts[0][k].duplicates, counts[1][k].duplicates);
            CHECK_INT(counts[0][k].deadletters, counts[1][k].deadletters);
            CHECK_INT(counts[0][k].refused, counts[1][k].refused);
        }
        CHECK(counts[0][1].refused > 0);
        CHECK(counts[0][1].stored > 30 && counts[0][1].duplicates > 0);
        printf("pipelined, round %d: %zu + %zu new, %zu + %zu refused, as written one by one (%zu bytes)\n",
               round, counts[0][0].stored, counts[0][1].stored, counts[0][0].refused, counts[0][1].refused,
               strlen(dump[0]));
        free(dump[0]);
        free(dump[1]);
    }
    redisFree(c[0]);
    redisFree(c[1]);
}

/* --- the fast path (store_fast.h) --- */

/* Batch k of the comparison: fresh tweets of returning and new users (names that
 * change, several tweets a user, engagements that need 17 digits), tweets without a
 * user, a second copy inside the batch, and from the second batch on tweets of the
 * batches before (resends, an original retweeted again). */
static size_t s_fast_batch(rtp_msg_t **out, int k, char ids[][24], char uids[][16], char names[][16])
{
    size_t n = 0;
    for (int i = 0; i < 60; i++, n++) {
        rec_t r = T1;
        int row = k * 60 + i;
        snprintf(ids[n], 24, "%d", 20000 + row);
        if (k > 0 && i % 10 == 3)
            snprintf(ids[n], 24, "%d", 20000 + row - 60 - 7); /* stored by the batch before */
        if (i == 59)
            snprintf(ids[n], 24, "%d", 20000 + k * 60 + 5); /* a second copy in this batch */
        snprintf(uids[n], 16, "f%d", (row * 7) % 23);
        snprintf(names[n], 16, "Name %d", row % 3);
        r.id = ids[n];
        r.user_id = i % 9 == 4 ? "" : uids[n];
        r.name = names[n];
        r.followers = row % 5;
        if (i % 5 == 0) /* over 64 bytes: a hash table in Redis's default encoding */
            r.text = r.censored = "a tweet long enough to leave the compact encoding of a hash at Redis's "
                                  "default limit of 64 bytes a value";
        r.engagement = i % 4 == 0 ? 0 : 1.0 / (row + 3);
        r.sentiment = (double) row / 7 - 3;
        r.time_ms = i % 11 == 0 ? 0 : 1457504558000 + row;
        out[n] = s_joined(&r);
    }
    return n;
}

/* The fast path and the script leave the same bytes (DUMP of every key) and the same
 * counts, batch after batch; fresh tweets go by plain commands, with resends among
 * them too; a batch with a key in the way or a dead letter goes through the script. */
static void s_check_fast_same_bytes(int port)
{
    on_db_t db[2] = {s_on_db(port, 5), s_on_db(port, 6)};
    rtp_store_set_fast(db[1].store, 0);
    /* Redis's default encoding limits, then the compose file's (tweet hashes stay listpacks) */
    for (int lp = 0; lp < 2; lp++) {
        freeReplyObject(redisCommand(db[0].c, "CONFIG SET hash-max-listpack-value %d", lp ? 1024 : 64));
        for (int d = 0; d < 2; d++) { /* a user hash rtp wrote before, with another name */
            freeReplyObject(redisCommand(db[d].c, "FLUSHDB"));
            freeReplyObject(redisCommand(db[d].c,
                                         "HSET user:f3 id f3 name Old screen_name alice followers 99 "
                                         "engagement 0.30000000000000004 tweets 7"));
        }
        static char ids[60][24], uids[60][16], names[60][16];
        size_t fast = 0;
        for (int k = 0; k < 4; k++) {
            rtp_store_counts_t counts[2];
            for (int d = 0; d < 2; d++) {
                rtp_msg_t *b[60];
                size_t n = s_fast_batch(b, k, ids, uids, names);
                CHECK_INT(s_write(db[d].store, b, n, &counts[d]), 0);
                s_free_all(b, n);
            }
            CHECK_INT(counts[0].stored, counts[1].stored);
            CHECK_INT(counts[0].duplicates, counts[1].duplicates);
            CHECK_INT(counts[0].fast, 1);
            CHECK_INT(counts[1].fast, 0);
            CHECK(counts[0].stored > 40 && counts[0].duplicates > 0);
            fast += counts[0].fast;
        }
        /* a batch larger than a transaction of the fast path: in parts; a key in the way in
         * the second part sends the rest of the batch through the script, which refuses that
         * row by its index in the whole batch */
        enum { NB = 300, IN_WAY = 270 }; /* parts of 256: the key in the second */
        static char big_ids[NB][16], big_uids[NB][16];
        for (int d = 0; d < 2; d++) {
            freeReplyObject(redisCommand(db[d].c, "SET tweet:%d oops", 40000 + IN_WAY));
            rtp_msg_t *big[NB];
            for (int i = 0; i < NB; i++) {
                rec_t r = T2;
                snprintf(big_ids[i], 16, "%d", 40000 + i);
                snprintf(big_uids[i], 16, "g%d", i % 150);
                r.id = big_ids[i];
                r.user_id = big_uids[i];
                r.engagement = 1.0 / (i + 7);
                big[i] = s_joined(&r);
            }
            rtp_store_counts_t c;
            CHECK_INT(s_write(db[d].store, big, NB, &c), 0);
            CHECK_INT(c.stored, NB - 1);
            CHECK_INT(c.refused, 1);
            CHECK_INT(c.fast, 0);
            CHECK_INT(rtp_store_refused(db[d].store)[0], IN_WAY);
            CHECK_INT(big[IN_WAY]->type, RTP_MSG_DEADLETTER);
            CHECK_INT(big[IN_WAY - 1]->type, RTP_MSG_JOINED);
            s_free_all(big, NB);
        }
        char *raw[2] = {s_dump_as(db[0].c, 1), s_dump_as(db[1].c, 1)};
        CHECK_STR(raw[0], raw[1]);
        printf("fast path and script, hash-max-listpack-value %d: %zu bytes of DUMP alike over %lld keys, "
               "%zu batches by plain commands\n",
               lp ? 1024 : 64, strlen(raw[0]), s_int(db[0].c, "DBSIZE%s", ""), fast);
        free(raw[0]);
        free(raw[1]);
    }
    /* the returning user: its count goes on from the 7 it had, its name is the latest */
    char count[32];
    snprintf(count, sizeof count, "%lld", s_int(db[0].c, "SCARD %s", "user:f3:tweets") + 7);
    CHECK_STR(s_hget(db[0].c, "user:f3", "tweets"), count);
    CHECK(strcmp(s_hget(db[0].c, "user:f3", "name"), "Old") != 0);

    /* the script for what the fast path leaves to it: a key in the way, a dead letter */
    rec_t r = T1;
    r.id = "20900";
    r.user_id = "f1";
    freeReplyObject(redisCommand(db[0].c, "SET tweet:20900 oops"));
    rtp_msg_t *b[] = {s_joined(&r)};
    rtp_store_counts_t counts;
    CHECK_INT(s_write(db[0].store, b, 1, &counts), 0);
    CHECK_INT(counts.fast, 0);
    CHECK_INT(counts.refused, 1);
    s_free_all(b, 1);
    r.id = "20901";
    rtp_msg_t *b2[] = {s_joined(&r), s_dead("panic", "{}", 2, 9, 1457504563000000)};
    CHECK_INT(s_write(db[0].store, b2, 2, &counts), 0);
    CHECK_INT(counts.fast, 0);
    CHECK_INT(counts.stored, 1);
    s_free_all(b2, 2);
    /* a user hash rtp did not write: the script refuses the row, as before */
    freeReplyObject(redisCommand(db[0].c, "HSET user:fx id fx engagement lots tweets 1"));
    r.id = "20902";
    r.user_id = "fx";
    rtp_msg_t *b3[] = {s_joined(&r)};
    CHECK_INT(s_write(db[0].store, b3, 1, &counts), 0);
    CHECK_INT(counts.fast, 0);
    CHECK_INT(counts.refused, 1);
    s_free_all(b3, 1);
    s_off_db(&db[0]);
    s_off_db(&db[1]);
}

/* Waits (10 s at most) until Redis has answered something on the store's connection:
 * its reads, with their WATCH, are done. */
static void s_wait_readable(rtp_store_t *store)
{
    struct pollfd p = {rtp_store_fd(store), POLLIN, 0};
    CHECK(p.fd >= 0 && poll(&p, 1, 10000) == 1);
}

/* Another writer between a batch's reads and its write: a second store (a second
 * batcher) storing a tweet of the same user makes EXEC find the watched user hash
 * changed, and the batch is read again and written once, its totals over both
 * tweets; a foreign client making a tweet key a string in that window gets the batch
 * reported as written in part, and written again, the row refused then. */
static void s_check_fast_race(int port)
{
    on_db_t db = s_on_db(port, 8), other = s_on_db(port, 8);
    rtp_err_t err = {{0}};
    rec_t a = T1, b = T2;
    a.id = "30001";
    a.user_id = "rc";
    a.engagement = 0.1;
    b.id = "30002";
    b.user_id = "rc";
    b.engagement = 0.2;
    rtp_msg_t *mine[] = {s_joined(&a)}, *theirs[] = {s_joined(&b)};
    CHECK_INT(rtp_store_send(db.store, mine, 1, &err), 0);
    s_wait_readable(db.store);
    rtp_store_counts_t counts;
    CHECK_INT(s_write(other.store, theirs, 1, &counts), 0); /* the second batcher, in between */
    CHECK_INT(counts.fast, 1);
    CHECK_INT(rtp_store_recv(db.store, 1, &counts, &err), 1);
    CHECK_INT(counts.stored, 1);
    CHECK(counts.retries >= 1);
    printf("a second writer in between: read again %zu time(s)\n", counts.retries);
    s_check_user(db.c, "rc", T1.name, T1.screen_name, "10", 0.2 + 0.1, 2);
    s_check_tweet_row(db.c, &a);
    s_check_tweet_row(db.c, &b);
    s_free_all(mine, 1);
    s_free_all(theirs, 1);

    /* a foreign client makes one of the batch's tweet keys (not watched) a string */
    rec_t c1 = T1, c2 = T1;
    c1.id = "30003";
    c1.user_id = "rd";
    c2.id = "30004";
    c2.user_id = "re";
    rtp_msg_t *batch[] = {s_joined(&c1), s_joined(&c2)};
    CHECK_INT(rtp_store_send(db.store, batch, 2, &err), 0);
    s_wait_readable(db.store);
    freeReplyObject(redisCommand(other.c, "SET tweet:30004 foreign"));
    memset(&err, 0, sizeof err);
    CHECK_INT(rtp_store_recv(db.store, 1, &counts, &err), -1);
    CHECK(strstr(err.msg, "in part") && strstr(err.msg, "tweet:30004") && strstr(err.msg, "WRONGTYPE"));
    printf("a foreign writer in between: %s\n", err.msg);
    s_check_tweet_row(db.c, &c1);
    CHECK_INT(s_write(db.store, batch, 2, &counts), 0); /* the retry: the script refuses the row */
    CHECK_INT(counts.fast, 0);
    CHECK_INT(counts.duplicates, 1);
    CHECK_INT(counts.refused, 1);
    CHECK_INT(batch[1]->type, RTP_MSG_DEADLETTER);
    CHECK(strstr(batch[1]->text, "key tweet:30004 holds a string") != NULL);
    /* what the partial write left: the row is counted in its user's rows */
    CHECK_STR(s_hget(db.c, "user:re", "tweets"), "1");
    s_free_all(batch, 2);
    s_off_db(&other);
    s_off_db(&db);
}

/* How many times Redis refused to run cmd (INFO commandstats, the whole server). */
static long s_rejected(redisContext *c, const char *cmd)
{
    char name[64];
    snprintf(name, sizeof name, "cmdstat_%s:", cmd);
    redisReply *info = redisCommand(c, "INFO commandstats");
    const char *line = info ? strstr(info->str, name) : NULL;
    const char *end = line ? strstr(line, "\r\n") : NULL, *at = line ? strstr(line, "rejected_calls=") : NULL;
    long n = at && end && at < end ? strtol(at + 15, NULL, 10) : 0;
    freeReplyObject(info);
    return n;
}

/* A Redis that will not run a command of round 1 (an ACL here; SINTERCARD or ZMSCORE
 * unknown on Redis < 7.0 alike): the batch goes through the script, and so does every
 * batch after it without trying again. */
static void s_check_fast_off(int port)
{
    on_db_t db = s_on_db(port, 9);
    rtp_redis_link_t *link;
    rtp_store_t *store = s_store_as(db.c, port, 9, "nosi", "~* +@all -sintercard", &link);
    long before = s_rejected(db.c, "sintercard");
    for (int k = 0; k < 2; k++) {
        rec_t r = T1;
        r.id = k ? "31002" : "31001";
        rtp_msg_t *b[] = {s_joined(&r)};
        rtp_store_counts_t counts;
        CHECK_INT(s_write(store, b, 1, &counts), 0);
        CHECK_INT(counts.stored, 1);
        CHECK_INT(counts.fast, 0);
        s_check_tweet_row(db.c, &r);
        s_free_all(b, 1);
    }
    CHECK_INT(s_rejected(db.c, "sintercard"), before + 1); /* refused once: tried once */
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);
    s_off_db(&db);
}

int main(void)
{
    redis_fixture_t redis;
    if (redis_fixture_start(&redis, NULL) != 0)
        return 1;
    s_check_batches(redis.port);
    s_check_refused_rows(redis.port);
    s_check_blocking_keys(redis.port);
    s_check_cannot_write_now(redis.port);
    s_check_pipeline(redis.port);
    s_check_fast_same_bytes(redis.port);
    s_check_fast_race(redis.port);
    s_check_fast_off(redis.port);
    s_check_restart(&redis);
    redis_fixture_stop(&redis);
    s_check_auth();
    return CHECK_DONE();
}
