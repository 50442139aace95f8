/* store_fixture.h: what the store tests share (test_store.c, test_store_lanes.c):
 * records built from plain fields, a connection of their own to read Redis back,
 * and a dump of every key in a canonical text form or as Redis's own DUMP bytes. */
#ifndef RTP_STORE_FIXTURE_H
#define RTP_STORE_FIXTURE_H

#include "check.h"
#include "proto.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- building messages --- */

typedef struct {
    const char *id, *user_id, *name, *screen_name, *text, *censored;
    double sentiment, engagement;
    const char *created_at, *lang, *hashtags, *retweet_of;
    int64_t followers, time_ms, received_us;
} rec_t;

static inline rtp_msg_t *s_joined(const rec_t *r)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_JOINED);
    rtp_tweet_set(&m->tweet, r->id, r->user_id, r->name, r->screen_name, r->text, r->hashtags, r->created_at,
                  r->lang, r->retweet_of);
    m->tweet.followers = r->followers;
    m->tweet.time_ms = r->time_ms;
    m->received_us = r->received_us;
    rtp_msg_set_str(&m->text, r->censored);
    rtp_msg_set_str(&m->origin, "reader-1");
    m->number = r->sentiment;
    m->number2 = r->engagement;
    return m;
}

static inline rtp_msg_t *s_dead(const char *reason, const char *raw, size_t raw_len, uint64_t seq,
                                int64_t received_us)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_DEADLETTER);
    rtp_msg_set_str(&m->text, reason);
    rtp_msg_set_raw(m, raw, raw_len);
    rtp_msg_set_str(&m->origin, "reader-1");
    m->seq = seq;
    m->received_us = received_us;
    return m;
}

static inline void s_free_all(rtp_msg_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rtp_msg_destroy(&msgs[i]);
}

/* --- reading Redis back, through a connection of our own --- */

static inline redisContext *s_conn(int port, const char *password, int db)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "cannot connect to the test redis\n");
        exit(1);
    }
    if (password)
        freeReplyObject(redisCommand(c, "AUTH %s", password));
    freeReplyObject(redisCommand(c, "SELECT %d", db));
    return c;
}

static inline long long s_int(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    if (r)
        freeReplyObject(r);
    return v;
}

/* The string reply of `CMD key arg` (HGET, ZSCORE) in one of 16 static buffers used
 * in turn, or "(nil)". */
static inline const char *s_reply_str(redisContext *c, const char *cmd, const char *key, const char *arg)
{
    static char buf[16][4096];
    static int next = 0;
    char *out = buf[next++ % 16];
    redisReply *r = redisCommand(c, "%s %s %s", cmd, key, arg);
    snprintf(out, sizeof buf[0], "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
    if (r)
        freeReplyObject(r);
    return out;
}

/* A field of a hash, or "(nil)". */
static inline const char *s_hget(redisContext *c, const char *key, const char *field)
{
    return s_reply_str(c, "HGET", key, field);
}

static inline const char *s_zscore(redisContext *c, const char *key, const char *member)
{
    return s_reply_str(c, "ZSCORE", key, member);
}

static inline int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Appends a reply's strings in a canonical order (sorted when the type has none). */
static inline void s_dump_reply(FILE *out, redisReply *r, int sort_pairs, int sort_all)
{
    size_t n = r->elements;
    size_t step = sort_pairs ? 2 : 1;
    char **items = calloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i += step) {
        size_t len = 0;
        for (size_t j = 0; j < step; j++)
            len += r->element[i + j]->len + 8;
        char *s = malloc(len + 1), *p = s;
        for (size_t j = 0; j < step; j++) {
            p += sprintf(p, "[");
            memcpy(p, r->element[i + j]->str, r->element[i + j]->len);
            p += r->element[i + j]->len;
            p += sprintf(p, "]");
        }
        *p = 0;
        items[i / step] = s;
    }
    size_t count = n / step;
    if (sort_pairs || sort_all)
        qsort(items, count, sizeof *items, s_cmp_str);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, " %s", items[i]);
        free(items[i]);
    }
    free(items);
}

/* Every key, its type and its whole value, in a canonical text form; raw: its DUMP
 * instead (Redis's own serialization: encoding, field order and all), in hex. One
 * line a key, sorted. Caller frees. */
static inline char *s_dump_as(redisContext *c, int raw)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    redisReply *keys = redisCommand(c, "KEYS *");
    char **names = calloc(keys->elements + 1, sizeof *names);
    for (size_t i = 0; i < keys->elements; i++)
        names[i] = keys->element[i]->str;
    qsort(names, keys->elements, sizeof *names, s_cmp_str);
    for (size_t i = 0; i < keys->elements; i++) {
        if (raw) {
            redisReply *d = redisCommand(c, "DUMP %s", names[i]);
            fprintf(out, "%s ", names[i]);
            for (size_t k = 0; d && k < d->len; k++)
                fprintf(out, "%02x", (unsigned char) d->str[k]);
            fprintf(out, "\n");
            freeReplyObject(d);
            continue;
        }
        redisReply *type = redisCommand(c, "TYPE %s", names[i]);
        fprintf(out, "%s %s:", names[i], type->str);
        redisReply *v = NULL;
        if (!strcmp(type->str, "hash"))
            s_dump_reply(out, v = redisCommand(c, "HGETALL %s", names[i]), 1, 0);
        else if (!strcmp(type->str, "zset"))
            s_dump_reply(out, v = redisCommand(c, "ZRANGE %s 0 -1 WITHSCORES", names[i]), 0, 0);
        else if (!strcmp(type->str, "set"))
            s_dump_reply(out, v = redisCommand(c, "SMEMBERS %s", names[i]), 0, 1);
        else if (!strcmp(type->str, "list"))
            s_dump_reply(out, v = redisCommand(c, "LRANGE %s 0 -1", names[i]), 0, 0);
        else if (!strcmp(type->str, "string")) {
            v = redisCommand(c, "GET %s", names[i]);
            fprintf(out, " [%s]", v->str);
        }
        fprintf(out, "\n");
        if (v)
            freeReplyObject(v);
        freeReplyObject(type);
    }
    free(names);
    freeReplyObject(keys);
    fclose(out);
    return text;
}

static inline char *s_dump(redisContext *c)
{
    return s_dump_as(c, 0);
}

#endif
