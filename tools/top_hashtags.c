#include "top_hashtags.h"

#include "redis_link.h"
#include "term_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_TOP "hashtags:top"
#define S_KEY_WINDOW "hashtags:window"

struct top_hashtags_t {
    rtp_redis_link_t *link;
};

top_hashtags_t *top_hashtags_new(const char *url, int timeout_ms, rtp_err_t *err)
{
    top_hashtags_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->link = rtp_redis_link_new(url, timeout_ms, timeout_ms, err);
    if (!self->link) {
        free(self);
        return NULL;
    }
    return self;
}

void top_hashtags_destroy(top_hashtags_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_redis_link_destroy(&(*self_p)->link);
    free(*self_p);
    *self_p = NULL;
}

const char *top_hashtags_where(const top_hashtags_t *self) { return rtp_redis_link_display(self->link); }

static long long s_number(const redisReply *r)
{
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

/* ZREVRANGE ... WITHSCORES: member, score, member, score... (RESP2). */
static void s_take_top(const redisReply *r, top_hashtags_report_t *out)
{
    for (size_t i = 0; i + 1 < r->elements && out->n < TOP_HASHTAGS_MAX; i += 2) {
        const redisReply *tag = r->element[i];
        if (tag->type != REDIS_REPLY_STRING)
            continue;
        top_hashtag_t *t = &out->top[out->n++];
        term_text_copy(t->tag, sizeof t->tag, tag->str, tag->len);
        t->count = s_number(r->element[i + 1]);
    }
}

int top_hashtags_read(top_hashtags_t *self, top_hashtags_report_t *out, rtp_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->window_tweets = -1;
    redisContext *ctx = rtp_redis_link_context(self->link, err);
    if (!ctx)
        return -1;
    /* Both in one round trip, and in one transaction: rtp-hashtags replaces the two
     * keys in a MULTI, so the window always belongs to the top it is shown with. */
    redisAppendCommand(ctx, "MULTI");
    redisAppendCommand(ctx, "ZREVRANGE %s 0 %d WITHSCORES", S_KEY_TOP, TOP_HASHTAGS_MAX - 1);
    redisAppendCommand(ctx, "HMGET %s end_ms tweets", S_KEY_WINDOW);
    redisAppendCommand(ctx, "EXEC");
    redisReply *replies[4] = {NULL, NULL, NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        if (redisGetReply(ctx, (void **) &replies[i]) != REDIS_OK) {
            rtp_err_set(err, "%s: %s", rtp_redis_link_display(self->link), ctx->errstr);
            rtp_redis_link_reset(self->link);
            rc = -1;
            break;
        }
    }
    const redisReply *exec = replies[3];
    if (rc == 0) {
        if (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
            const redisReply *e = exec && exec->type == REDIS_REPLY_ERROR ? exec : replies[1];
            rtp_err_set(err, "%s: unexpected reply%s%s", rtp_redis_link_display(self->link),
                        e && e->type == REDIS_REPLY_ERROR ? ": " : "", e && e->type == REDIS_REPLY_ERROR ? e->str : "");
            rc = -1;
        } else {
            const redisReply *top = exec->element[0], *window = exec->element[1];
            if (top->type == REDIS_REPLY_ARRAY)
                s_take_top(top, out);
            if (window->type == REDIS_REPLY_ARRAY && window->elements == 2) {
                long long end = s_number(window->element[0]);
                out->window_end_ms = end > 0 ? end : 0;
                out->window_tweets = s_number(window->element[1]);
            }
        }
    }
    for (int i = 0; i < 4; i++)
        freeReplyObject(replies[i]);
    return rc;
}
