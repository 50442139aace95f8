#include "hashtags_store.h"

#include "log.h"
#include "redis_link.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_TOP "hashtags:top"
#define S_KEY_WINDOW "hashtags:window"
/* While Redis is away, a reminder at most this often. */
#define S_REMIND_MS 60000

struct hashtags_store_t {
    rtp_redis_link_t *link;
    int down;                 /* the last write failed */
    uint64_t failures;        /* reports not stored since it went down */
    int64_t remind_at;        /* mono ms */
    /* ZADD's arguments, grown to the largest top seen. */
    const char **argv;
    size_t *argvlen;
    char (*scores)[24];
    size_t cap;
};

hashtags_store_t *hashtags_store_new(const char *url, int timeout_ms)
{
    rtp_err_t err = {{0}};
    hashtags_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    /* One bound for both: a report is due every interval, and Redis answers these
     * small commands in well under a millisecond when it is well. */
    self->link = rtp_redis_link_new(url, timeout_ms, timeout_ms, &err);
    if (!self->link) {
        rtp_error("bad --redis-url: %s", err.msg);
        free(self);
        return NULL;
    }
    return self;
}

void hashtags_store_destroy(hashtags_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hashtags_store_t *self = *self_p;
    rtp_redis_link_destroy(&self->link);
    free(self->argv);
    free(self->argvlen);
    free(self->scores);
    free(self);
    *self_p = NULL;
}

const char *hashtags_store_where(const hashtags_store_t *self) { return rtp_redis_link_display(self->link); }

static void s_failed(hashtags_store_t *self, const char *reason)
{
    self->failures++;
    if (!self->down) {
        rtp_warn("cannot store the hashtags report (%s): reports are printed only until Redis is back; "
                 "retrying at every report",
                 reason);
        self->down = 1;
        self->remind_at = rtp_mono_ms() + S_REMIND_MS;
    } else if (rtp_mono_ms() >= self->remind_at) {
        rtp_warn("%s still unavailable (%s): %" PRIu64 " reports not stored", rtp_redis_link_display(self->link),
                 reason, self->failures);
        self->remind_at = rtp_mono_ms() + S_REMIND_MS;
    }
}

static void s_stored(hashtags_store_t *self)
{
    if (self->down)
        rtp_info("%s is back: storing hashtags reports again (%" PRIu64 " were not stored)",
                 rtp_redis_link_display(self->link), self->failures);
    self->down = 0;
    self->failures = 0;
}

/* Makes room for ZADD with n members. */
static int s_reserve(hashtags_store_t *self, size_t n)
{
    size_t need = 2 + 2 * n;
    if (need <= self->cap)
        return 0;
    const char **argv = realloc(self->argv, need * sizeof *argv);
    if (argv)
        self->argv = argv;
    size_t *argvlen = realloc(self->argvlen, need * sizeof *argvlen);
    if (argvlen)
        self->argvlen = argvlen;
    char(*scores)[24] = realloc(self->scores, (n ? n : 1) * sizeof *scores);
    if (scores)
        self->scores = scores;
    if (!argv || !argvlen || !scores)
        return -1;
    self->cap = need;
    return 0;
}

/* Queues MULTI, DEL, ZADD (when n > 0), HSET, EXEC; returns the number queued. */
static int s_append(hashtags_store_t *self, redisContext *ctx, const rtp_hashtag_window_stats_t *st,
                    const rtp_hashtag_count_t *top, size_t n)
{
    int queued = 0;
    queued += redisAppendCommand(ctx, "MULTI") == REDIS_OK;
    queued += redisAppendCommand(ctx, "DEL %s %s", S_KEY_TOP, S_KEY_WINDOW) == REDIS_OK;
    if (n) {
        self->argv[0] = "ZADD";
        self->argvlen[0] = 4;
        self->argv[1] = S_KEY_TOP;
        self->argvlen[1] = strlen(S_KEY_TOP);
        for (size_t i = 0; i < n; i++) {
            snprintf(self->scores[i], sizeof self->scores[i], "%" PRIu64, top[i].count);
            self->argv[2 + 2 * i] = self->scores[i];
            self->argvlen[2 + 2 * i] = strlen(self->scores[i]);
            self->argv[3 + 2 * i] = top[i].tag;
            self->argvlen[3 + 2 * i] = strlen(top[i].tag);
        }
        queued += redisAppendCommandArgv(ctx, (int) (2 + 2 * n), self->argv, self->argvlen) == REDIS_OK;
    }
    queued += redisAppendCommand(ctx,
                                 "HSET %s start_ms %lld end_ms %lld tweets %llu tags %llu mentions %llu "
                                 "duplicates %llu",
                                 S_KEY_WINDOW, (long long) st->start_ms, (long long) st->end_ms,
                                 (unsigned long long) st->tweets, (unsigned long long) st->tags,
                                 (unsigned long long) st->mentions, (unsigned long long) st->duplicates) == REDIS_OK;
    queued += redisAppendCommand(ctx, "EXEC") == REDIS_OK;
    return queued;
}

int hashtags_store_put(hashtags_store_t *self, const rtp_hashtag_window_stats_t *stats,
                       const rtp_hashtag_count_t *top, size_t n)
{
    if (s_reserve(self, n) != 0) {
        s_failed(self, "out of memory");
        return -1;
    }
    rtp_err_t err = {{0}};
    redisContext *ctx = rtp_redis_link_context(self->link, &err);
    if (!ctx) {
        s_failed(self, err.msg);
        return -1;
    }
    int expected = n ? 5 : 4;
    if (s_append(self, ctx, stats, top, n) != expected) {
        rtp_redis_link_reset(self->link);
        s_failed(self, "out of memory queueing the commands");
        return -1;
    }
    /* Every reply is read, even after an error, so the connection stays in step. */
    char reason[RTP_ERR_MAX] = "";
    for (int i = 0; i < expected; i++) {
        redisReply *reply = NULL;
        if (redisGetReply(ctx, (void **) &reply) != REDIS_OK) {
            snprintf(reason, sizeof reason, "%s", ctx->errstr[0] ? ctx->errstr : "connection lost");
            rtp_redis_link_reset(self->link);
            s_failed(self, reason);
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR && !reason[0])
            snprintf(reason, sizeof reason, "%s", reply->str);
        else if (i == expected - 1 && reply->type != REDIS_REPLY_ARRAY && !reason[0])
            snprintf(reason, sizeof reason, "the transaction was not executed");
        freeReplyObject(reply);
    }
    if (reason[0]) {
        s_failed(self, reason);
        return -1;
    }
    s_stored(self);
    return 0;
}
