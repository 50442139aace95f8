#include "store.h"

#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The batch script. ARGV: tweet count, dead-letter count, dead-letter window, then
 * FIELDS strings per tweet (in the order of s_tweet_args), then one JSON entry per
 * dead letter. Returns {stored, duplicates, deadletters, deadletter duplicates}
 * followed by three values per refused row: its tweet index (0-based), the key in the
 * way, and what is wrong with it.
 *
 * First it checks the types of the global keys (TYPE): a wrong one answers
 * "RTPBLOCKED key type wanted" before anything is written, since no row can be
 * stored without it. Then phase 1 only reads, row by row, with redis.pcall: a tweet
 * is already stored when tweet:<id> is a hash whose id field is <id> (HLEN, then HGET
 * when it exists), new when there is no such key; a new tweet's user hash must hold
 * rtp's id, engagement and tweets fields as rtp writes them, or none of them. A key
 * of the wrong type (WRONGTYPE), another hash at tweet:<id>, a user hash with rtp's
 * fields wrong, or a user total that would stop being a finite number refuses that
 * row alone (and every copy of its tweet in the batch), before any write: the rows
 * are decided and the totals computed over the accepted rows only. Any other error of a read (a
 * missing permission, say) fails the batch with nothing written. Phase 2 writes the
 * accepted rows; its commands cannot meet a key of the wrong type, and Redis refuses
 * a script for memory (OOM) only at its first write, so a batch is never half
 * written.
 *
 * num() is rtp_fmt_double (util.c) in Lua: the fewest significant digits p that read
 * back to the same double, written with %g at a precision that avoids an exponent
 * below 1e17. */
static const char s_script[] =
    "local nt, nd, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local F = 14\n"
    "local function num(x)\n"
    "  if x == 0 then return '0' end\n"
    "  for p = 1, 17 do\n"
    "    local t = string.format('%.' .. (p - 1) .. 'e', x)\n"
    "    if tonumber(t) == x or p == 17 then\n"
    "      local e = tonumber(string.match(t, 'e([-+]%d+)')) or 0\n"
    "      local prec = p\n"
    "      if e + 1 > p and e + 1 <= 17 then prec = e + 1 end\n"
    "      return string.format('%.' .. prec .. 'g', x)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, g in ipairs({{'tweets', 'zset'}, {'users:engagement', 'zset'}, {'deadletter', 'list'}}) do\n"
    "  local t = redis.call('TYPE', g[1]).ok\n"
    "  if t ~= 'none' and t ~= g[2] then\n"
    "    return redis.error_reply('RTPBLOCKED ' .. g[1] .. ' ' .. t .. ' ' .. g[2])\n"
    "  end\n"
    "end\n"
    "local function show(v)\n"
    "  if v then return '\"' .. v .. '\"' end\n"
    "  return 'missing'\n"
    "end\n"
    "local function finite(x)\n"
    "  return x and x == x and x ~= math.huge and x ~= -math.huge\n"
    "end\n"
    "local function wrong(key, want, r)\n"
    "  if string.sub(r.err, 1, 9) ~= 'WRONGTYPE' then error(r) end\n"
    "  return {key = key, what = 'holds a ' .. redis.call('TYPE', key).ok .. ', not a ' .. want ..\n"
    "    ' (Redis: ' .. r.err .. ')'}\n"
    "end\n"
    "local function tweet_state(id)\n"
    "  local key = 'tweet:' .. id\n"
    "  local n = redis.pcall('HLEN', key)\n"
    "  if type(n) == 'table' then return wrong(key, 'hash', n) end\n"
    "  if n == 0 then return nil end\n"
    "  local own = redis.call('HGET', key, 'id')\n"
    "  if own == id then return 'dup' end\n"
    "  return {key = key, what = 'is in the way: a hash rtp did not write (its id field is ' ..\n"
    "    show(own) .. ')'}\n"
    "end\n"
    "local function user_state(uid)\n"
    "  local key, set = 'user:' .. uid, 'user:' .. uid .. ':tweets'\n"
    "  local v = redis.pcall('HMGET', key, 'id', 'engagement', 'tweets')\n"
    "  if v.err then return wrong(key, 'hash', v) end\n"
    "  local u = {eng = 0, cnt = 0}\n"
    "  if v[1] or v[2] or v[3] then\n"
    "    u.eng, u.cnt = tonumber(v[2]), tonumber(v[3])\n"
    "    if v[1] ~= uid or not finite(u.eng) or not finite(u.cnt) then\n"
    "      return {key = key, what = 'is in the way: a hash rtp did not write (id ' .. show(v[1]) ..\n"
    "        ', engagement ' .. show(v[2]) .. ', tweets ' .. show(v[3]) .. ')'}\n"
    "    end\n"
    "  end\n"
    "  local s = redis.pcall('SCARD', set)\n"
    "  if type(s) == 'table' then return wrong(set, 'set', s) end\n"
    "  return u\n"
    "end\n"
    "local tweets, users, new, order, refused, dups = {}, {}, {}, {}, {}, 0\n"
    "for i = 0, nt - 1 do\n"
    "  local b = 4 + i * F\n"
    "  local id, uid = ARGV[b], ARGV[b + 1]\n"
    "  local st = tweets[id]\n"
    "  if st == nil then\n"
    "    st = tweet_state(id)\n"
    "    local u\n"
    "    if st == nil and uid ~= '' then\n"
    "      u = users[uid]\n"
    "      if u == nil then\n"
    "        u = user_state(uid)\n"
    "        users[uid] = u\n"
    "      end\n"
    "      if u.key then\n"
    "        st = u\n"
    "      else\n"
    "        local eng = u.eng + tonumber(ARGV[b + 5])\n"
    "        if not finite(eng) then\n"
    "          st = {key = 'user:' .. uid, what = 'has an engagement total of ' .. num(u.eng) ..\n"
    "            ': adding ' .. ARGV[b + 5] .. ' would make it ' .. tostring(eng)}\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    if st == nil then\n"
    "      st = 'new'\n"
    "      new[#new + 1] = b\n"
    "      if u then\n"
    "        if not u.last then order[#order + 1] = uid end\n"
    "        u.eng = u.eng + tonumber(ARGV[b + 5])\n"
    "        u.cnt = u.cnt + 1\n"
    "        u.last = b\n"
    "      end\n"
    "    end\n"
    "    tweets[id] = st\n"
    "  elseif st == 'new' then\n"
    "    st = 'dup'\n"
    "  end\n"
    "  if st == 'dup' then\n"
    "    dups = dups + 1\n"
    "  elseif st ~= 'new' then\n"
    "    refused[#refused + 1] = i\n"
    "    refused[#refused + 1] = st.key\n"
    "    refused[#refused + 1] = st.what\n"
    "  end\n"
    "end\n"
    "for _, b in ipairs(new) do\n"
    "  local id, uid = ARGV[b], ARGV[b + 1]\n"
    "  redis.call('HSET', 'tweet:' .. id, 'id', id, 'user_id', uid, 'text', ARGV[b + 2],\n"
    "    'censored', ARGV[b + 3], 'sentiment', ARGV[b + 4], 'engagement', ARGV[b + 5],\n"
    "    'created_at', ARGV[b + 6], 'lang', ARGV[b + 7], 'hashtags', ARGV[b + 8],\n"
    "    'retweet_of', ARGV[b + 9])\n"
    "  redis.call('ZADD', 'tweets', ARGV[b + 10], id)\n"
    "  if uid ~= '' then redis.call('SADD', 'user:' .. uid .. ':tweets', id) end\n"
    "end\n"
    "for _, uid in ipairs(order) do\n"
    "  local u = users[uid]\n"
    "  local b, eng = u.last, num(u.eng)\n"
    "  redis.call('HSET', 'user:' .. uid, 'id', uid, 'name', ARGV[b + 11],\n"
    "    'screen_name', ARGV[b + 12], 'followers', ARGV[b + 13], 'engagement', eng,\n"
    "    'tweets', string.format('%d', u.cnt))\n"
    "  redis.call('ZADD', 'users:engagement', eng, uid)\n"
    "end\n"
    "local dl, dldups, pushed = 0, 0, {}\n"
    "local base = 4 + nt * F\n"
    "for i = 0, nd - 1 do\n"
    "  local e = ARGV[base + i]\n"
    "  if pushed[e] or redis.call('LPOS', 'deadletter', e, 'RANK', -1, 'MAXLEN', window) then\n"
    "    dldups = dldups + 1\n"
    "  else\n"
    "    redis.call('RPUSH', 'deadletter', e)\n"
    "    dl = dl + 1\n"
    "  end\n"
    "  pushed[e] = true\n"
    "end\n"
    "local out = {#new, dups, dl, dldups}\n"
    "for _, v in ipairs(refused) do out[#out + 1] = v end\n"
    "return out\n";

enum { FIELDS = 14, HEAD = 6 }; /* strings per tweet; command, script, numkeys, 3 counts */

/* A growable byte buffer; `failed` sticks once an allocation fails. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} sbuf_t;

static void s_put(sbuf_t *b, const void *bytes, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void s_puts(sbuf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if it is not one. */
static size_t s_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Appends s[0..n) as a JSON string literal; invalid UTF-8 bytes become U+FFFD. */
static void s_json_str(sbuf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s, *end = p + n;
    s_put(b, "\"", 1);
    while (p < end) {
        size_t run = 0;
        /* copy the longest stretch that needs no escaping in one go */
        while (p + run < end) {
            unsigned char c = p[run];
            if (c < 0x20 || c == '"' || c == '\\')
                break;
            size_t len = s_utf8_len(p + run, (size_t) (end - p - run));
            if (len == 0)
                break;
            run += len;
        }
        s_put(b, p, run);
        p += run;
        if (p == end)
            break;
        unsigned char c = *p;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char) c;
            s_put(b, esc, 2);
        } else if (c == '\n')
            s_puts(b, "\\n");
        else if (c == '\r')
            s_puts(b, "\\r");
        else if (c == '\t')
            s_puts(b, "\\t");
        else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            s_puts(b, esc);
        } else
            s_puts(b, "\\ufffd");
        p++;
    }
    s_put(b, "\"", 1);
}

static void s_json_field(sbuf_t *b, const char *name, const char *value, int first)
{
    if (!first)
        s_put(b, ",", 1);
    s_json_str(b, name, strlen(name));
    s_put(b, ":", 1);
    value = value ? value : "";
    s_json_str(b, value, strlen(value));
}

static void s_deadletter_json(sbuf_t *b, const rtp_msg_t *msg)
{
    char num[64];
    s_puts(b, "{");
    s_json_field(b, "reason", msg->text, 1);
    s_puts(b, ",\"data\":");
    s_json_str(b, msg->raw ? msg->raw : "", msg->raw ? msg->raw_len : 0);
    s_json_field(b, "origin", msg->origin, 0);
    snprintf(num, sizeof num, ",\"seq\":%" PRIu64 ",\"time_ms\":%" PRId64 "}", msg->seq,
             msg->received_us / 1000);
    s_puts(b, num);
}

char *rtp_store_deadletter_json(const rtp_msg_t *msg)
{
    sbuf_t b = {0};
    s_deadletter_json(&b, msg);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* Turns a JOINED that cannot be a tweet row into a DEADLETTER saying why, with the
 * record as JSON in raw. 0, or -1 if out of memory. */
static int s_to_deadletter(rtp_msg_t *msg, const char *reason)
{
    sbuf_t b = {0};
    char num[64];
    const rtp_tweet_t *t = &msg->tweet;
    snprintf(num, sizeof num, "{\"key\":%" PRIu64, msg->key);
    s_puts(&b, num);
    s_json_field(&b, "id", t->id, 0);
    s_json_field(&b, "user_id", t->user_id, 0);
    s_json_field(&b, "text", t->text, 0);
    s_json_field(&b, "censored", msg->text, 0);
    s_json_field(&b, "sentiment", rtp_fmt_double(num, sizeof num, msg->number), 0);
    s_json_field(&b, "engagement", rtp_fmt_double(num, sizeof num, msg->number2), 0);
    s_puts(&b, "}");
    int rc = b.failed ? -1 : rtp_msg_set_raw(msg, b.data, b.len);
    free(b.data);
    if (rc == 0)
        rc = rtp_msg_set_str(&msg->text, reason);
    if (rc == 0) {
        msg->type = RTP_MSG_DEADLETTER;
        rtp_tweet_clear(&msg->tweet);
        msg->number = msg->number2 = 0;
    }
    return rc;
}

struct rtp_store_t {
    rtp_redis_link_t *link;
    char sha[48];      /* the script's SHA1 once SCRIPT LOAD answered */
    const char **argv; /* the command, rebuilt per batch in reused arrays */
    size_t *lens;
    size_t *offs; /* offset into scratch, or SIZE_MAX when argv points into a message */
    size_t argcap;
    sbuf_t scratch;    /* numbers and JSON entries of the batch */
    size_t *rows;      /* rows[i]: the index in msgs of the batch's i-th tweet */
    size_t *refused;   /* the indices in msgs of the last write's refused rows */
    rtp_msg_t **again; /* the refused rows, turned into dead letters, for their write */
    size_t rowcap;
    char blocking[64]; /* the global key that blocked the last write, or "" */
};

rtp_store_t *rtp_store_new(rtp_redis_link_t *link)
{
    rtp_store_t *self = calloc(1, sizeof *self);
    if (self)
        self->link = link;
    return self;
}

void rtp_store_destroy(rtp_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_store_t *self = *self_p;
    free(self->argv);
    free(self->lens);
    free(self->offs);
    free(self->scratch.data);
    free(self->rows);
    free(self->refused);
    free(self->again);
    free(self);
    *self_p = NULL;
}

/* p grown to n items of size bytes, or p itself with *failed set when out of memory
 * (so that every array of a set can be grown before the one check). */
static void *s_grow(void *p, size_t n, size_t size, int *failed)
{
    void *grown = realloc(p, n * size);
    if (!grown) {
        *failed = 1;
        return p;
    }
    return grown;
}

/* Room for argc arguments of the command and count rows (a batch's messages). 0 or -1. */
static int s_reserve(rtp_store_t *self, size_t argc, size_t count)
{
    int failed = 0;
    if (argc > self->argcap) {
        self->argv = s_grow(self->argv, argc, sizeof *self->argv, &failed);
        self->lens = s_grow(self->lens, argc, sizeof *self->lens, &failed);
        self->offs = s_grow(self->offs, argc, sizeof *self->offs, &failed);
        if (!failed)
            self->argcap = argc;
    }
    if (count > self->rowcap) {
        self->rows = s_grow(self->rows, count, sizeof *self->rows, &failed);
        self->refused = s_grow(self->refused, count, sizeof *self->refused, &failed);
        self->again = s_grow(self->again, count, sizeof *self->again, &failed);
        if (!failed)
            self->rowcap = count;
    }
    return failed ? -1 : 0;
}

/* Argument i points at a string owned by a message. */
static void s_arg_ref(rtp_store_t *self, size_t i, const char *s)
{
    self->argv[i] = s ? s : "";
    self->lens[i] = strlen(self->argv[i]);
    self->offs[i] = SIZE_MAX;
}

/* Argument i is the text just appended to scratch from offset `from`. */
static void s_arg_scratch(rtp_store_t *self, size_t i, size_t from)
{
    self->offs[i] = from;
    self->lens[i] = self->scratch.len - from;
}

static void s_arg_fmt(rtp_store_t *self, size_t i, const char *text)
{
    size_t from = self->scratch.len;
    s_puts(&self->scratch, text);
    s_arg_scratch(self, i, from);
}

/* Checks, converts and stamps the messages; counts tweets and dead letters. */
static int s_prepare(rtp_msg_t *const *msgs, size_t count, size_t *nt, size_t *nd, rtp_err_t *err)
{
    *nt = *nd = 0;
    for (size_t i = 0; i < count; i++) {
        rtp_msg_t *m = msgs[i];
        if (m->type == RTP_MSG_JOINED) {
            const char *why = NULL;
            if (!m->tweet.id || !*m->tweet.id)
                why = "joined record without a tweet id";
            else if (!isfinite(m->number) || !isfinite(m->number2))
                why = "joined record with a sentiment or engagement that is not a finite number";
            if (why && s_to_deadletter(m, why) != 0)
                return rtp_err_set(err, "out of memory");
        } else if (m->type != RTP_MSG_DEADLETTER)
            return rtp_err_set(err, "a %s message cannot be stored", rtp_msg_type_name(m->type));
        if (m->type == RTP_MSG_JOINED)
            (*nt)++;
        else {
            if (m->received_us == 0)
                m->received_us = rtp_wall_us();
            (*nd)++;
        }
    }
    return 0;
}

/* Fills argv with EVALSHA sha 0 counts..., tweets..., dead letters... */
static int s_build(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, size_t nt, size_t nd,
                   rtp_err_t *err)
{
    size_t argc = HEAD + nt * FIELDS + nd;
    if (s_reserve(self, argc, count) != 0)
        return rtp_err_set(err, "out of memory");
    self->scratch.len = 0;
    char num[64];
    s_arg_ref(self, 0, "EVALSHA");
    s_arg_ref(self, 1, self->sha);
    s_arg_ref(self, 2, "0");
    snprintf(num, sizeof num, "%zu", nt);
    s_arg_fmt(self, 3, num);
    snprintf(num, sizeof num, "%zu", nd);
    s_arg_fmt(self, 4, num);
    snprintf(num, sizeof num, "%d", RTP_STORE_DEADLETTER_WINDOW);
    s_arg_fmt(self, 5, num);
    size_t t = HEAD, d = HEAD + nt * FIELDS;
    for (size_t i = 0; i < count; i++) {
        const rtp_msg_t *m = msgs[i];
        if (m->type == RTP_MSG_DEADLETTER) {
            size_t from = self->scratch.len;
            s_deadletter_json(&self->scratch, m);
            s_arg_scratch(self, d++, from);
            continue;
        }
        const rtp_tweet_t *w = &m->tweet;
        self->rows[(t - HEAD) / FIELDS] = i;
        s_arg_ref(self, t + 0, w->id);
        s_arg_ref(self, t + 1, w->user_id);
        s_arg_ref(self, t + 2, w->text);
        s_arg_ref(self, t + 3, m->text);
        s_arg_fmt(self, t + 4, rtp_fmt_double(num, sizeof num, m->number));
        s_arg_fmt(self, t + 5, rtp_fmt_double(num, sizeof num, m->number2));
        s_arg_ref(self, t + 6, w->created_at);
        s_arg_ref(self, t + 7, w->lang);
        s_arg_ref(self, t + 8, w->hashtags);
        s_arg_ref(self, t + 9, w->retweet_of);
        snprintf(num, sizeof num, "%" PRId64, w->time_ms > 0 ? w->time_ms : m->received_us / 1000);
        s_arg_fmt(self, t + 10, num);
        s_arg_ref(self, t + 11, w->user_name);
        s_arg_ref(self, t + 12, w->screen_name);
        snprintf(num, sizeof num, "%" PRId64, w->followers);
        s_arg_fmt(self, t + 13, num);
        t += FIELDS;
    }
    if (self->scratch.failed) {
        self->scratch.failed = 0;
        return rtp_err_set(err, "out of memory");
    }
    /* scratch may have moved while it grew: point at it only now */
    for (size_t i = 0; i < argc; i++)
        if (self->offs[i] != SIZE_MAX)
            self->argv[i] = self->scratch.data + self->offs[i];
    return 0;
}

/* Sends one command and reads its reply. NULL after an I/O error or a timeout, with
 * the link reset (the connection's state is unknown) and the reason in err. */
static redisReply *s_call(rtp_store_t *self, redisContext *ctx, int argc, const char **argv,
                          const size_t *lens, rtp_err_t *err)
{
    void *reply = NULL;
    if (redisAppendCommandArgv(ctx, argc, argv, lens) != REDIS_OK || redisGetReply(ctx, &reply) != REDIS_OK ||
        !reply) {
        rtp_err_set(err, "%s: %s", rtp_redis_link_display(self->link),
                    ctx->errstr[0] ? ctx->errstr : "no reply");
        if (reply)
            freeReplyObject(reply);
        rtp_redis_link_reset(self->link);
        return NULL;
    }
    return reply;
}

static int s_load_script(rtp_store_t *self, redisContext *ctx, rtp_err_t *err)
{
    const char *argv[3] = {"SCRIPT", "LOAD", s_script};
    redisReply *r = s_call(self, ctx, 3, argv, NULL, err);
    if (!r)
        return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING && r->len < sizeof self->sha)
        snprintf(self->sha, sizeof self->sha, "%s", r->str);
    else
        rc = rtp_err_set(err, "SCRIPT LOAD on %s: %s", rtp_redis_link_display(self->link),
                         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

/* The reply to an error from the script: a global key of the wrong type blocks the
 * batch (its name kept in self->blocking), anything else is Redis's own answer. */
static int s_failed(rtp_store_t *self, const char *reply, rtp_err_t *err)
{
    char key[64], type[32], want[32];
    static const char *const names[][2] = {
        {"zset", "sorted set"}, {"list", "list"}, {"set", "set"}, {"hash", "hash"}, {"string", "string"}};
    if (sscanf(reply, "RTPBLOCKED %63s %31s %31s", key, type, want) != 3)
        return rtp_err_set(err, "%s answered: %s", rtp_redis_link_display(self->link), reply);
    const char *t = type, *w = want;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(type, names[i][0]))
            t = names[i][1];
        if (!strcmp(want, names[i][0]))
            w = names[i][1];
    }
    snprintf(self->blocking, sizeof self->blocking, "%s", key);
    return rtp_err_set(err,
                       "key '%s' holds a %s where rtp keeps a %s: it blocks every write until it is "
                       "renamed or deleted (%s)",
                       key, t, w, rtp_redis_link_display(self->link));
}

/* One EVALSHA of msgs (prepared: nt tweets, nd dead letters); the refused rows'
 * indices go to self->refused with their count in counts->refused and their key
 * and reason in the reply's tail, which is kept in *tail (caller frees) when there
 * are any. 0 or -1. */
static int s_run(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, size_t nt, size_t nd,
                 rtp_store_counts_t *counts, redisReply **tail, rtp_err_t *err)
{
    *tail = NULL;
    redisContext *ctx = rtp_redis_link_context(self->link, err);
    if (!ctx)
        return -1;
    if (!self->sha[0] && s_load_script(self, ctx, err) != 0)
        return -1;
    if (s_build(self, msgs, count, nt, nd, err) != 0)
        return -1;
    int argc = (int) (HEAD + nt * FIELDS + nd);
    redisReply *r = s_call(self, ctx, argc, self->argv, self->lens, err);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* Redis lost its script cache (restart, SCRIPT FLUSH); nothing ran. EVAL runs
         * the same script and caches it again for the next EVALSHA. */
        freeReplyObject(r);
        self->argv[0] = "EVAL";
        self->lens[0] = 4;
        self->argv[1] = s_script;
        self->lens[1] = sizeof s_script - 1;
        r = s_call(self, ctx, argc, self->argv, self->lens, err);
    }
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        s_failed(self, r->str, err);
        freeReplyObject(r);
        return -1;
    }
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 4 && (r->elements - 4) % 3 == 0;
    size_t *out[4] = {&counts->stored, &counts->duplicates, &counts->deadletters,
                      &counts->deadletter_duplicates};
    for (size_t i = 0; ok && i < 4; i++) {
        ok = r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer >= 0;
        if (ok)
            *out[i] = (size_t) r->element[i]->integer;
    }
    counts->refused = 0;
    for (size_t i = 4; ok && i < r->elements; i += 3) {
        const redisReply *row = r->element[i];
        ok = row->type == REDIS_REPLY_INTEGER && row->integer >= 0 && (size_t) row->integer < nt &&
             r->element[i + 1]->type == REDIS_REPLY_STRING && r->element[i + 2]->type == REDIS_REPLY_STRING;
        if (ok)
            self->refused[counts->refused++] = self->rows[row->integer];
    }
    if (!ok) {
        freeReplyObject(r);
        /* the script ran: its writes are whatever they were, and a retry is safe */
        return rtp_err_set(err, "%s: unexpected reply to the batch script",
                           rtp_redis_link_display(self->link));
    }
    if (counts->refused)
        *tail = r;
    else
        freeReplyObject(r);
    return 0;
}

/* Turns the refused rows into dead letters that name the key in the way and say
 * why, and writes them in a second round trip. 0 or -1. */
static int s_refuse(rtp_store_t *self, rtp_msg_t *const *msgs, redisReply *tail, rtp_store_counts_t *counts,
                    rtp_err_t *err)
{
    size_t n = counts->refused;
    for (size_t k = 0; k < n; k++) {
        rtp_msg_t *m = msgs[self->refused[k]];
        const redisReply *key = tail->element[4 + 3 * k + 1], *what = tail->element[4 + 3 * k + 2];
        size_t len = strlen(m->tweet.id) + key->len + what->len + 64;
        char *reason = malloc(len);
        if (!reason)
            return rtp_err_set(err, "out of memory");
        snprintf(reason, len, "tweet %s not stored: key %s %s", m->tweet.id, key->str, what->str);
        int rc = s_to_deadletter(m, reason);
        free(reason);
        if (rc != 0)
            return rtp_err_set(err, "out of memory");
        if (m->received_us == 0)
            m->received_us = rtp_wall_us(); /* as s_prepare stamps a dead letter */
        self->again[k] = m;
    }
    rtp_store_counts_t more = {0};
    redisReply *none = NULL;
    if (s_run(self, self->again, n, 0, n, &more, &none, err) != 0)
        return -1;
    counts->deadletters += more.deadletters;
    counts->deadletter_duplicates += more.deadletter_duplicates;
    return 0;
}

int rtp_store_write(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, rtp_store_counts_t *counts,
                    rtp_err_t *err)
{
    rtp_store_counts_t local;
    if (!counts)
        counts = &local;
    memset(counts, 0, sizeof *counts);
    self->blocking[0] = 0;
    if (count == 0)
        return 0;
    size_t nt, nd;
    if (s_prepare(msgs, count, &nt, &nd, err) != 0)
        return -1;
    redisReply *tail = NULL;
    if (s_run(self, msgs, count, nt, nd, counts, &tail, err) != 0)
        return -1;
    if (!tail)
        return 0;
    int rc = s_refuse(self, msgs, tail, counts, err);
    freeReplyObject(tail);
    return rc;
}

const size_t *rtp_store_refused(const rtp_store_t *self)
{
    return self->refused;
}

const char *rtp_store_blocking_key(const rtp_store_t *self)
{
    return self->blocking[0] ? self->blocking : NULL;
}
