#include "store_fast.h"

#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One command's arguments: borrowed strings, or keys composed in buf (offsets until
 * the command is formatted, since buf may move while it grows); and the commands of a
 * round, formatted (RESP) into out, handed to hiredis in one piece (its own
 * formatting, per argument and command, cost the batcher more than the rest). */
typedef struct {
    const char **argv;
    size_t *lens, *offs, n, cap;
    char *buf;
    size_t len, bufcap;
    char *out;
    size_t outlen, outcap;
    int failed;
} cmd_t;

typedef struct {
    const char *key;
    size_t tw; /* the tweet's index in the batch */
} keyed_t;

typedef struct {
    double eng;
    long long cnt;
    const redisReply *v; /* its HMGET reply when the hash holds rtp's fields, else NULL */
    size_t first, last;  /* its first and last new tweet */
    int seen;            /* it has a new tweet in this batch */
    char total[32];      /* eng, as rtp_fmt_double writes it */
} user_t;

struct store_fast_t {
    rtp_msg_t *const *msgs;
    size_t nt, cap;
    keyed_t *sorted;
    size_t *id_of, *user_of; /* tweet -> its id slot, its user slot (SIZE_MAX: none) */
    size_t *ids, *users;     /* slot -> its first tweet */
    size_t nid, nu;
    unsigned char *known;  /* id slot: the tweet is stored already */
    unsigned char *fresh;  /* tweet: new, written by this batch */
    size_t *next_new;      /* tweet: the user's next new tweet (SIZE_MAX: none) */
    size_t *asked, nasked; /* id slots asked in round 1b */
    user_t *u;
    size_t *order, norder; /* user slots, in the order of their first new tweet */
    size_t nread;          /* replies of round 1 */
    int watch;             /* round 1 has a WATCH */
    size_t nnew, queued;   /* new tweets; commands inside MULTI */
    cmd_t cmd;
};

/* v in decimal into buf (32 bytes), as "%" PRId64 writes it, without printf's
 * machinery (three integers a row). Returns buf. */
static char *s_i64(char *buf, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
    do {
        tmp[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    memcpy(buf, tmp + i, sizeof tmp - i);
    buf[sizeof tmp - i] = '\0';
    return buf;
}

void store_row_strings(const rtp_msg_t *m, const char **s, char nums[4][32])
{
    const rtp_tweet_t *w = &m->tweet;
    s[0] = w->id;
    s[1] = w->user_id;
    s[2] = w->text;
    s[3] = m->text;
    s[4] = rtp_fmt_double(nums[0], 32, m->number);
    s[5] = rtp_fmt_double(nums[1], 32, m->number2);
    s[6] = w->created_at;
    s[7] = w->lang;
    s[8] = w->hashtags;
    s[9] = w->retweet_of;
    s[10] = s_i64(nums[2], w->time_ms > 0 ? w->time_ms : m->received_us / 1000);
    s[11] = w->user_name;
    s[12] = w->screen_name;
    s[13] = s_i64(nums[3], w->followers);
    for (int i = 0; i < STORE_ROW_FIELDS; i++)
        if (!s[i])
            s[i] = "";
}

store_fast_t *store_fast_new(void)
{
    return calloc(1, sizeof(store_fast_t));
}

void store_fast_destroy(store_fast_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_fast_t *self = *self_p;
    free(self->sorted);
    free(self->id_of);
    free(self->user_of);
    free(self->ids);
    free(self->users);
    free(self->known);
    free(self->fresh);
    free(self->next_new);
    free(self->u);
    free(self->order);
    free(self->asked);
    free(self->cmd.argv);
    free(self->cmd.lens);
    free(self->cmd.offs);
    free(self->cmd.buf);
    free(self->cmd.out);
    free(self);
    *self_p = NULL;
}

/* --- building commands --- */

static void *s_grow(void *p, size_t n, size_t size, int *failed)
{
    void *grown = realloc(p, n ? n * size : size);
    if (!grown) {
        *failed = 1;
        return p;
    }
    return grown;
}

static void c_start(cmd_t *c)
{
    c->n = 0;
    c->len = 0;
    c->outlen = 0;
    c->failed = 0;
}

static int c_room(cmd_t *c)
{
    if (c->n < c->cap)
        return 0;
    size_t cap = c->cap ? c->cap * 2 : 64;
    c->argv = s_grow(c->argv, cap, sizeof *c->argv, &c->failed);
    c->lens = s_grow(c->lens, cap, sizeof *c->lens, &c->failed);
    c->offs = s_grow(c->offs, cap, sizeof *c->offs, &c->failed);
    if (c->failed)
        return -1;
    c->cap = cap;
    return 0;
}

/* Room for need bytes at *buf (*cap of them now). 0, or -1 with *failed set. */
static int c_bytes(char **buf, size_t *cap, size_t need, int *failed)
{
    char *grown = rtp_reserve(*buf, cap, need, 4096);
    if (!grown) {
        *failed = 1;
        return -1;
    }
    *buf = grown;
    return 0;
}

/* A borrowed argument. */
static void c_arg(cmd_t *c, const char *s)
{
    if (c_room(c) != 0)
        return;
    c->argv[c->n] = s;
    c->lens[c->n] = strlen(s);
    c->offs[c->n++] = SIZE_MAX;
}

/* An argument composed of prefix, s and suffix. */
static void c_key(cmd_t *c, const char *prefix, const char *s, const char *suffix)
{
    if (c_room(c) != 0)
        return;
    size_t a = strlen(prefix), b = strlen(s), d = strlen(suffix);
    if (c_bytes(&c->buf, &c->bufcap, c->len + a + b + d, &c->failed) != 0)
        return;
    memcpy(c->buf + c->len, prefix, a);
    memcpy(c->buf + c->len + a, s, b);
    memcpy(c->buf + c->len + a + b, suffix, d);
    c->offs[c->n] = c->len;
    c->lens[c->n++] = a + b + d;
    c->len += a + b + d;
}

/* lead, v in decimal, CRLF (a RESP header) at o; returns its end (23 bytes at most). */
static char *s_head(char *o, char lead, size_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    *o++ = lead;
    memcpy(o, tmp + i, sizeof tmp - i);
    o += sizeof tmp - i;
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

/* Formats the command into the round's output, room for it made once (a piece at a
 * time, the copies of headers and CRLFs cost the batcher a tenth of its CPU). 0, or -1
 * when out of memory (the round is then not sent). */
static int c_append(cmd_t *c)
{
    if (!c->failed) {
        size_t need = 32;
        for (size_t i = 0; i < c->n; i++)
            need += c->lens[i] + 32;
        if (c_bytes(&c->out, &c->outcap, c->outlen + need, &c->failed) == 0) {
            char *o = s_head(c->out + c->outlen, '*', c->n);
            for (size_t i = 0; i < c->n; i++) {
                o = s_head(o, '$', c->lens[i]);
                memcpy(o, c->offs[i] != SIZE_MAX ? c->buf + c->offs[i] : c->argv[i], c->lens[i]);
                o += c->lens[i];
                *o++ = '\r';
                *o++ = '\n';
            }
            c->outlen = (size_t) (o - c->out);
        }
    }
    int failed = c->failed;
    c->n = c->len = 0; /* the next command; failed stays for the round */
    return failed ? -1 : 0;
}

/* Hands the round to ctx's output buffer. 0, or -1 when out of memory (nothing of the
 * round is handed over). */
static int c_send(cmd_t *c, redisContext *ctx)
{
    int rc = !c->failed && redisAppendFormattedCommand(ctx, c->out, c->outlen) == REDIS_OK ? 0 : -1;
    c->outlen = 0;
    c->failed = 0;
    return rc;
}

/* --- the plan --- */

static int s_cmp_keyed(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->tw > y->tw) - (x->tw < y->tw);
}

/* Groups the tweets by key (NULL or "" keys get slot SIZE_MAX): slot_of[tweet], and
 * first[slot] the slot's first tweet. Returns the number of slots. */
static size_t s_group(store_fast_t *self, int users, size_t *slot_of, size_t *first)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nt; i++) {
        const rtp_tweet_t *w = &self->msgs[i]->tweet;
        const char *key = users ? w->user_id : w->id;
        slot_of[i] = SIZE_MAX;
        if (key && *key)
            self->sorted[n++] = (keyed_t){key, i};
    }
    qsort(self->sorted, n, sizeof *self->sorted, s_cmp_keyed);
    size_t slots = 0;
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || strcmp(self->sorted[k].key, self->sorted[k - 1].key) != 0)
            first[slots++] = self->sorted[k].tw;
        slot_of[self->sorted[k].tw] = slots - 1;
    }
    return slots;
}

int store_fast_plan(store_fast_t *self, rtp_msg_t *const *msgs, size_t count)
{
    if (count > self->cap) {
        int failed = 0;
        self->sorted = s_grow(self->sorted, count, sizeof *self->sorted, &failed);
        self->id_of = s_grow(self->id_of, count, sizeof *self->id_of, &failed);
        self->user_of = s_grow(self->user_of, count, sizeof *self->user_of, &failed);
        self->ids = s_grow(self->ids, count, sizeof *self->ids, &failed);
        self->users = s_grow(self->users, count, sizeof *self->users, &failed);
        self->known = s_grow(self->known, count, sizeof *self->known, &failed);
        self->fresh = s_grow(self->fresh, count, sizeof *self->fresh, &failed);
        self->next_new = s_grow(self->next_new, count, sizeof *self->next_new, &failed);
        self->u = s_grow(self->u, count, sizeof *self->u, &failed);
        self->order = s_grow(self->order, count, sizeof *self->order, &failed);
        self->asked = s_grow(self->asked, count, sizeof *self->asked, &failed);
        if (failed)
            return -1;
        self->cap = count;
    }
    self->msgs = msgs;
    self->nt = count;
    self->nid = s_group(self, 0, self->id_of, self->ids);
    self->nu = s_group(self, 1, self->user_of, self->users);
    return 0;
}

int store_fast_reads(store_fast_t *self, redisContext *ctx)
{
    cmd_t *c = &self->cmd;
    int rc = 0;
    size_t n = 0;
    c_start(c);
    c_arg(c, "UNWATCH");
    rc |= c_append(c);
    n++;
    self->watch = self->nu > 0;
    if (self->watch) {
        c_arg(c, "WATCH");
        for (size_t s = 0; s < self->nu; s++)
            c_key(c, "user:", self->msgs[self->users[s]]->tweet.user_id, "");
        rc |= c_append(c);
        n++;
    }
    static const char *const globals[] = {"tweets", "users:engagement", "deadletter"};
    for (size_t g = 0; g < 3; g++) {
        c_arg(c, "TYPE");
        c_arg(c, globals[g]);
        rc |= c_append(c);
        n++;
    }
    c_arg(c, "EXISTS");
    for (size_t s = 0; s < self->nid; s++)
        c_key(c, "tweet:", self->msgs[self->ids[s]]->tweet.id, "");
    rc |= c_append(c);
    c_arg(c, "ZMSCORE");
    c_arg(c, "tweets");
    for (size_t s = 0; s < self->nid; s++)
        c_arg(c, self->msgs[self->ids[s]]->tweet.id);
    rc |= c_append(c);
    n += 2;
    for (size_t s = 0; s < self->nu; s++) {
        c_arg(c, "HMGET");
        c_key(c, "user:", self->msgs[self->users[s]]->tweet.user_id, "");
        static const char *const fields[] = {"id",   "engagement",  "tweets",
                                             "name", "screen_name", "followers"};
        for (size_t k = 0; k < 6; k++)
            c_arg(c, fields[k]);
        rc |= c_append(c);
        n++;
    }
    if (self->nu) {
        char num[32];
        snprintf(num, sizeof num, "%zu", self->nu);
        c_arg(c, "SINTERCARD");
        c_key(c, num, "", "");
        for (size_t s = 0; s < self->nu; s++)
            c_key(c, "user:", self->msgs[self->users[s]]->tweet.user_id, ":tweets");
        c_arg(c, "LIMIT");
        c_arg(c, "1");
        rc |= c_append(c);
        n++;
    }
    rc |= c_send(c, ctx);
    self->nread = n;
    return rc ? -1 : (int) n;
}

/* --- the decision --- */

static int s_is(const redisReply *r, int type)
{
    return r && r->type == type;
}

/* 1 when s is a finite number as the script's tonumber() reads it (Lua 5.1: strtod;
 * trailing blanks, which Lua allows, are left to the script). */
static int s_canonical_total(const char *s, double *out)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !isfinite(x))
        return 0;
    *out = x;
    return 1;
}

/* 1 when s is a count as rtp writes it ("%d" of a whole number, at most 15 digits). */
static int s_canonical_count(const char *s, long long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || (s[0] == '0' && n > 1))
        return 0;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static store_fast_next_t s_slow(char *why, size_t cap, const char *fmt, const char *a, const char *b)
{
    snprintf(why, cap, fmt, a, b);
    return STORE_FAST_SLOW;
}

/* Round 1b: HGET tweet:<id> id of the ids the tweets index holds (zmscore's
 * non-nil: resends are in it, and a tweet key rtp wrote is). */
static store_fast_next_t s_ask(store_fast_t *self, const redisReply *zmscore, redisContext *ctx, size_t *more,
                               char *why, size_t cap)
{
    cmd_t *c = &self->cmd;
    self->nasked = 0;
    for (size_t s = 0; s < self->nid; s++)
        if (zmscore->element[s]->type != REDIS_REPLY_NIL)
            self->asked[self->nasked++] = s;
    if (self->nasked == 0)
        return s_slow(why, cap, "%s%s", "a tweet key exists that the tweets index does not hold", "");
    for (size_t k = 0; k < self->nasked; k++) {
        c_arg(c, "HGET");
        c_key(c, "tweet:", self->msgs[self->ids[self->asked[k]]]->tweet.id, "");
        c_arg(c, "id");
        if (c_append(c) != 0) {
            c_send(c, ctx); /* sends nothing: the round is dropped */
            return STORE_FAST_NOMEM;
        }
    }
    if (c_send(c, ctx) != 0)
        return STORE_FAST_NOMEM;
    *more = self->nasked;
    return STORE_FAST_MORE;
}

/* Round 2: the script's writes of the new tweets and their users. */
static store_fast_next_t s_write(store_fast_t *self, redisContext *ctx, size_t *more)
{
    cmd_t *c = &self->cmd;
    int rc = 0;
    char nums[4][32];
    const char *row[STORE_ROW_FIELDS];
    static const char *const fields[] = {"id",         "user_id",    "text", "censored", "sentiment",
                                         "engagement", "created_at", "lang", "hashtags", "retweet_of"};
    c_arg(c, "MULTI");
    rc |= c_append(c);
    self->queued = 0;
    for (size_t i = 0; i < self->nt; i++) {
        if (!self->fresh[i])
            continue;
        store_row_strings(self->msgs[i], row, nums);
        c_arg(c, "HSET");
        c_key(c, "tweet:", row[0], "");
        for (size_t f = 0; f < 10; f++) {
            c_arg(c, fields[f]);
            c_arg(c, row[f]); /* nums is appended with the command, before its next use */
        }
        rc |= c_append(c);
        self->queued++;
    }
    c_arg(c, "ZADD");
    c_arg(c, "tweets");
    for (size_t i = 0; i < self->nt; i++) {
        if (!self->fresh[i])
            continue;
        const rtp_msg_t *m = self->msgs[i];
        s_i64(nums[2], m->tweet.time_ms > 0 ? m->tweet.time_ms : m->received_us / 1000);
        c_key(c, nums[2], "", ""); /* as store_row_strings' score */
        c_arg(c, m->tweet.id);
    }
    rc |= c_append(c);
    self->queued++;
    for (size_t k = 0; k < self->norder; k++) {
        user_t *u = &self->u[self->order[k]];
        const char *uid = self->msgs[u->first]->tweet.user_id;
        c_arg(c, "SADD");
        c_key(c, "user:", uid, ":tweets");
        for (size_t i = u->first; i != SIZE_MAX; i = self->next_new[i])
            c_arg(c, self->msgs[i]->tweet.id);
        rc |= c_append(c);
        /* name, screen_name, followers of its last new tweet (store_row_strings' 11..13) */
        const rtp_tweet_t *w = &self->msgs[u->last]->tweet;
        s_i64(nums[3], w->followers);
        row[11] = w->user_name ? w->user_name : "";
        row[12] = w->screen_name ? w->screen_name : "";
        row[13] = nums[3];
        char cnt[32];
        s_i64(cnt, u->cnt);
        const char *totals = rtp_fmt_double(u->total, sizeof u->total, u->eng);
        c_arg(c, "HSET");
        c_key(c, "user:", uid, "");
        if (u->v) {
            c_arg(c, "engagement");
            c_key(c, totals, "", "");
            c_arg(c, "tweets");
            c_key(c, cnt, "", "");
            static const char *const names[] = {"name", "screen_name", "followers"};
            for (size_t j = 0; j < 3; j++) {
                const redisReply *had = u->v->element[3 + j];
                if (had->type != REDIS_REPLY_STRING || strcmp(had->str, row[11 + j]) != 0) {
                    c_arg(c, names[j]);
                    c_arg(c, row[11 + j]);
                }
            }
        } else {
            c_arg(c, "id");
            c_arg(c, uid);
            static const char *const names[] = {"name", "screen_name", "followers"};
            for (size_t j = 0; j < 3; j++) {
                c_arg(c, names[j]);
                c_arg(c, row[11 + j]);
            }
            c_arg(c, "engagement");
            c_key(c, totals, "", "");
            c_arg(c, "tweets");
            c_key(c, cnt, "", "");
        }
        rc |= c_append(c);
        self->queued += 2;
    }
    if (self->norder) {
        c_arg(c, "ZADD");
        c_arg(c, "users:engagement");
        for (size_t k = 0; k < self->norder; k++) {
            const user_t *u = &self->u[self->order[k]];
            c_arg(c, u->total);
            c_arg(c, self->msgs[u->first]->tweet.user_id);
        }
        rc |= c_append(c);
        self->queued++;
    }
    c_arg(c, "EXEC");
    rc |= c_append(c);
    rc |= c_send(c, ctx);
    *more = self->queued + 2;
    return rc ? STORE_FAST_NOMEM : STORE_FAST_WRITE;
}

/* The user of new tweet i, read from its HMGET reply the first time. 0, or -1 when
 * the hash is not as rtp writes it (why says how). */
static int s_user(store_fast_t *self, redisReply *const *r, size_t i, char *why, size_t cap)
{
    size_t s = self->user_of[i];
    user_t *u = &self->u[s];
    const char *uid = self->msgs[i]->tweet.user_id;
    if (!u->seen) {
        const redisReply *v =
            r[(self->watch ? 2 : 1) + 5 + s]; /* (UNWATCH, WATCH, 3 TYPE, EXISTS, ZMSCORE) */
        memset(u, 0, sizeof *u);
        u->seen = 1;
        u->first = i;
        if (!s_is(v, REDIS_REPLY_ARRAY) || v->elements != 6) {
            s_slow(why, cap, "user:%s: %s", uid, "unexpected HMGET reply");
            return -1;
        }
        if (v->element[0]->type != REDIS_REPLY_NIL || v->element[1]->type != REDIS_REPLY_NIL ||
            v->element[2]->type != REDIS_REPLY_NIL) {
            if (!s_is(v->element[0], REDIS_REPLY_STRING) || strcmp(v->element[0]->str, uid) != 0 ||
                !s_is(v->element[1], REDIS_REPLY_STRING) || !s_is(v->element[2], REDIS_REPLY_STRING) ||
                !s_canonical_total(v->element[1]->str, &u->eng) ||
                !s_canonical_count(v->element[2]->str, &u->cnt)) {
                s_slow(why, cap, "user:%s: %s", uid, "a hash rtp did not write");
                return -1;
            }
            u->v = v;
        }
        self->order[self->norder++] = s;
    } else
        self->next_new[u->last] = i;
    /* the script adds tonumber() of rtp_fmt_double's string: the number itself, -0 as 0 */
    u->eng += self->msgs[i]->number2 == 0 ? 0.0 : self->msgs[i]->number2;
    u->cnt++;
    u->last = i;
    self->next_new[i] = SIZE_MAX;
    if (!isfinite(u->eng)) {
        s_slow(why, cap, "user:%s: %s", uid, "the total would not be a finite number");
        return -1;
    }
    return 0;
}

store_fast_next_t store_fast_decide(store_fast_t *self, redisReply *const *r, size_t n, redisContext *ctx,
                                    size_t *more, rtp_store_counts_t *counts, char *why, size_t cap)
{
    *more = 0;
    for (size_t k = 0; k < n; k++)
        if (r[k]->type == REDIS_REPLY_ERROR) {
            snprintf(why, cap, "%s", r[k]->str);
            /* a command this Redis lacks, or an ACL denies (not a key): off for good */
            int off = strncmp(r[k]->str, "ERR unknown command", 19) == 0 ||
                      (strncmp(r[k]->str, "NOPERM", 6) == 0 && strstr(r[k]->str, "to run the"));
            return off ? STORE_FAST_OLD : STORE_FAST_SLOW;
        }
    size_t at = self->watch ? 2 : 1;
    static const char *const globals[][2] = {
        {"tweets", "zset"}, {"users:engagement", "zset"}, {"deadletter", "list"}};
    for (size_t g = 0; g < 3; g++) {
        const redisReply *t = r[at + g];
        if (!s_is(t, REDIS_REPLY_STATUS) ||
            (strcmp(t->str, "none") != 0 && strcmp(t->str, globals[g][1]) != 0))
            return s_slow(why, cap, "key %s holds a %s", globals[g][0], t->str ? t->str : "?");
    }
    const redisReply *exists = r[at + 3], *zmscore = r[at + 4];
    if (!s_is(exists, REDIS_REPLY_INTEGER) || !s_is(zmscore, REDIS_REPLY_ARRAY) ||
        zmscore->elements != self->nid)
        return s_slow(why, cap, "%s%s", "unexpected reply to EXISTS or ZMSCORE", "");
    memset(self->known, 0, self->nid);
    if (exists->integer > 0) {
        /* some are there: which, and are they all rtp's? (1b) */
        if (n == self->nread)
            return s_ask(self, zmscore, ctx, more, why, cap);
        long long mine = 0;
        for (size_t k = 0; k < self->nasked; k++) {
            const redisReply *h = r[self->nread + k];
            const char *id = self->msgs[self->ids[self->asked[k]]]->tweet.id;
            if (!s_is(h, REDIS_REPLY_STRING) || strcmp(h->str, id) != 0)
                return s_slow(why, cap, "tweet:%s%s is in the way", id, "");
            self->known[self->asked[k]] = 1;
            mine++;
        }
        if (mine != exists->integer) /* another key: one the index does not hold */
            return s_slow(why, cap, "%s%s", "a tweet key exists that the tweets index does not hold", "");
    }
    self->norder = 0;
    self->nnew = 0;
    for (size_t s = 0; s < self->nu; s++)
        self->u[s].seen = 0;
    for (size_t i = 0; i < self->nt; i++) {
        size_t s = self->id_of[i];
        self->fresh[i] = !self->known[s] && self->ids[s] == i; /* a second copy is a duplicate */
        if (!self->fresh[i])
            continue;
        self->nnew++;
        if (self->user_of[i] != SIZE_MAX && s_user(self, r, i, why, cap) != 0)
            return STORE_FAST_SLOW;
    }
    memset(counts, 0, sizeof *counts);
    counts->stored = self->nnew;
    counts->duplicates = self->nt - self->nnew;
    if (self->nnew == 0)
        return STORE_FAST_NOTHING;
    return s_write(self, ctx, more);
}

/* The key of the i-th command inside MULTI (0-based), for a report. */
static void s_queued_key(const store_fast_t *self, size_t q, char *buf, size_t cap)
{
    for (size_t i = 0; i < self->nt; i++)
        if (self->fresh[i] && q-- == 0) {
            snprintf(buf, cap, "tweet:%s", self->msgs[i]->tweet.id);
            return;
        }
    if (q-- == 0) {
        snprintf(buf, cap, "tweets");
        return;
    }
    if (q / 2 < self->norder) {
        const char *uid = self->msgs[self->u[self->order[q / 2]].first]->tweet.user_id;
        snprintf(buf, cap, "user:%s%s", uid, q % 2 ? "" : ":tweets");
        return;
    }
    snprintf(buf, cap, "users:engagement");
}

int store_fast_done(store_fast_t *self, redisReply *const *r, size_t n, rtp_store_counts_t *counts,
                    int *partial, rtp_err_t *err)
{
    *partial = 0;
    if (n != self->queued + 2)
        return rtp_err_set(err, "unexpected replies to the batch's transaction");
    const redisReply *exec = r[n - 1];
    if (!s_is(r[0], REDIS_REPLY_STATUS))
        return rtp_err_set(err, "answered MULTI with: %s", r[0]->str ? r[0]->str : "?");
    for (size_t q = 1; q + 1 < n; q++)
        if (r[q]->type == REDIS_REPLY_ERROR)
            return rtp_err_set(err, "answered: %s", r[q]->str); /* EXECABORT: nothing done */
    if (exec->type == REDIS_REPLY_NIL)
        return 0;
    if (exec->type == REDIS_REPLY_ERROR)
        return rtp_err_set(err, "answered: %s", exec->str);
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != self->queued)
        return rtp_err_set(err, "unexpected reply to EXEC");
    for (size_t q = 0; q < exec->elements; q++)
        if (exec->element[q]->type == REDIS_REPLY_ERROR) {
            char key[128];
            s_queued_key(self, q, key, sizeof key);
            *partial = 1;
            return rtp_err_set(err,
                               "Redis took the batch in part: the write of key %s failed (%s) after the "
                               "reads found it fine: another client changed it in between; the batch "
                               "is written again",
                               key, exec->element[q]->str);
        }
    memset(counts, 0, sizeof *counts);
    counts->stored = self->nnew;
    counts->duplicates = self->nt - self->nnew;
    return 1;
}
