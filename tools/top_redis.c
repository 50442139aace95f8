#include "top_redis.h"

#include "redis_link.h"
#include "term_text.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_TOP "hashtags:top"
#define S_KEY_WINDOW "hashtags:window"
#define S_KEY_LETTERS "deadletter"
#define S_COMMANDS 6 /* MULTI, four reads, EXEC */

struct top_redis_t {
    rtp_redis_link_t *link;
};

top_redis_t *top_redis_new(const char *url, int timeout_ms, rtp_err_t *err)
{
    top_redis_t *self = calloc(1, sizeof *self);
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

void top_redis_destroy(top_redis_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_redis_link_destroy(&(*self_p)->link);
    free(*self_p);
    *self_p = NULL;
}

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
static void s_take_top(const redisReply *r, top_redis_report_t *out)
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

static void s_copy_json_str(char *dst, size_t cap, const cJSON *item)
{
    const char *v = cJSON_IsString(item) ? item->valuestring : "";
    term_text_copy(dst, cap, v, strlen(v));
}

/* LRANGE deadletter -N -1: the oldest first; kept the newest first. A letter that
 * is not the JSON the store writes is shown as its first bytes. */
static void s_take_letters(const redisReply *r, top_redis_report_t *out)
{
    for (size_t k = r->elements; k-- > 0 && out->n_letters < TOP_LETTERS_MAX;) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        top_letter_t *l = &out->letters[out->n_letters++];
        cJSON *o = cJSON_ParseWithLength(e->str, e->len);
        if (!cJSON_IsObject(o)) {
            term_text_copy(l->reason, sizeof l->reason, e->str, e->len);
            cJSON_Delete(o);
            continue;
        }
        s_copy_json_str(l->reason, sizeof l->reason, cJSON_GetObjectItemCaseSensitive(o, "reason"));
        s_copy_json_str(l->origin, sizeof l->origin, cJSON_GetObjectItemCaseSensitive(o, "origin"));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time_ms");
        l->time_ms = cJSON_IsNumber(t) && t->valuedouble > 0 ? (int64_t) t->valuedouble : 0;
        cJSON_Delete(o);
    }
}

int top_redis_read(top_redis_t *self, top_redis_report_t *out, rtp_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->window_tweets = -1;
    out->letters_total = -1;
    redisContext *ctx = rtp_redis_link_context(self->link, err);
    if (!ctx)
        return -1;
    /* In one transaction: rtp-hashtags replaces its two keys in a MULTI, so the
     * window always belongs to the top it is shown with. */
    redisAppendCommand(ctx, "MULTI");
    redisAppendCommand(ctx, "ZREVRANGE %s 0 %d WITHSCORES", S_KEY_TOP, TOP_HASHTAGS_MAX - 1);
    redisAppendCommand(ctx, "HMGET %s end_ms tweets", S_KEY_WINDOW);
    redisAppendCommand(ctx, "LRANGE %s %d -1", S_KEY_LETTERS, -TOP_LETTERS_MAX);
    redisAppendCommand(ctx, "LLEN %s", S_KEY_LETTERS);
    redisAppendCommand(ctx, "EXEC");
    redisReply *replies[S_COMMANDS] = {NULL};
    int rc = 0;
    for (int i = 0; i < S_COMMANDS; i++) {
        if (redisGetReply(ctx, (void **) &replies[i]) != REDIS_OK) {
            rtp_err_set(err, "%s: %s", rtp_redis_link_display(self->link), ctx->errstr);
            rtp_redis_link_reset(self->link);
            rc = -1;
            break;
        }
    }
    const redisReply *exec = replies[S_COMMANDS - 1];
    if (rc == 0 && (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != S_COMMANDS - 2)) {
        const redisReply *e = exec && exec->type == REDIS_REPLY_ERROR ? exec : replies[1];
        int said = e && e->type == REDIS_REPLY_ERROR;
        rtp_err_set(err, "%s: unexpected reply%s%s", rtp_redis_link_display(self->link), said ? ": " : "",
                    said ? e->str : "");
        rc = -1;
    } else if (rc == 0) {
        const redisReply *top = exec->element[0], *window = exec->element[1], *letters = exec->element[2];
        if (top->type == REDIS_REPLY_ARRAY)
            s_take_top(top, out);
        if (window->type == REDIS_REPLY_ARRAY && window->elements == 2) {
            long long end = s_number(window->element[0]);
            out->window_end_ms = end > 0 ? end : 0;
            out->window_tweets = s_number(window->element[1]);
        }
        if (letters->type == REDIS_REPLY_ARRAY)
            s_take_letters(letters, out);
        out->letters_total = s_number(exec->element[3]);
    }
    for (int i = 0; i < S_COMMANDS; i++)
        freeReplyObject(replies[i]);
    return rc;
}
