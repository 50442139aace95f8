#include "store.h"

#include "store_fast.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <poll.h>
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
 * What a new row costs Redis is what the script calls and what it appends to the AOF
 * (issue 16: perf and INFO commandstats on redis-server): every argument of a write
 * is parsed, copied and appended again. So a user row already stored gets only the
 * fields that change (its totals; name, screen_name, followers when they differ).
 *
 * num() is rtp_fmt_double (util.c) in Lua: the fewest significant digits p that read
 * back to the same double, written with %g at a precision that avoids an exponent
 * below 1e17. The loop over p is the slow path (it was an eighth of Redis's time):
 * when %.15g reads back, the shortest form has at most 15 digits and %.15g is it (a
 * double lies within half an ulp of its shortest form, less than half a unit of the
 * 15th digit); when only %.16g does, the shortest has 16. Either is taken when it
 * has no exponent, where %g and the rule agree. When neither reads back the shortest
 * has 17 digits, and the rule's answer is %.17g whatever the exponent: a sum of
 * engagement ratios usually needs all 17. */
static const char s_script[] =
    "local nt, nd, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local F = 14\n"
    "local call, fmt, tn = redis.call, string.format, tonumber\n"
    "local function num(x)\n"
    "  if x == 0 then return '0' end\n"
    "  local short = false\n"
    "  for p = 15, 16 do\n"
    "    local s = fmt('%.' .. p .. 'g', x)\n"
    "    if tn(s) == x then\n"
    "      if not string.find(s, 'e', 1, true) then return s end\n"
    "      short = true\n"
    "      break\n"
    "    end\n"
    "  end\n"
    "  if not short then return fmt('%.17g', x) end\n"
    "  for p = 1, 17 do\n"
    "    local t = fmt('%.' .. (p - 1) .. 'e', x)\n"
    "    if tn(t) == x or p == 17 then\n"
    "      local e = tn(string.match(t, 'e([-+]%d+)')) or 0\n"
    "      local prec = p\n"
    "      if e + 1 > p and e + 1 <= 17 then prec = e + 1 end\n"
    "      return fmt('%.' .. prec .. 'g', x)\n"
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
    "  local own = call('HGET', key, 'id')\n"
    "  if own == id then return 'dup' end\n"
    "  return {key = key, what = 'is in the way: a hash rtp did not write (its id field is ' ..\n"
    "    show(own) .. ')'}\n"
    "end\n"
    "local function user_state(uid)\n"
    "  local key, set = 'user:' .. uid, 'user:' .. uid .. ':tweets'\n"
    "  local v = redis.pcall('HMGET', key, 'id', 'engagement', 'tweets', 'name', 'screen_name',\n"
    "    'followers')\n"
    "  if v.err then return wrong(key, 'hash', v) end\n"
    "  local u = {eng = 0, cnt = 0}\n"
    "  if v[1] or v[2] or v[3] then\n"
    "    u.eng, u.cnt, u.v = tn(v[2]), tn(v[3]), v\n"
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
    "        local eng = u.eng + tn(ARGV[b + 5])\n"
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
    "        u.eng = u.eng + tn(ARGV[b + 5])\n"
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
    "  call('HSET', 'tweet:' .. id, 'id', id, 'user_id', uid, 'text', ARGV[b + 2],\n"
    "    'censored', ARGV[b + 3], 'sentiment', ARGV[b + 4], 'engagement', ARGV[b + 5],\n"
    "    'created_at', ARGV[b + 6], 'lang', ARGV[b + 7], 'hashtags', ARGV[b + 8],\n"
    "    'retweet_of', ARGV[b + 9])\n"
    "  call('ZADD', 'tweets', ARGV[b + 10], id)\n"
    "  if uid ~= '' then call('SADD', 'user:' .. uid .. ':tweets', id) end\n"
    "end\n"
    "local names = {'name', 'screen_name', 'followers'}\n"
    "for _, uid in ipairs(order) do\n"
    "  local u = users[uid]\n"
    "  local b, v, eng = u.last, u.v, num(u.eng)\n"
    "  local key, cnt = 'user:' .. uid, fmt('%d', u.cnt)\n"
    "  if v then\n"
    "    local a, n = {key, 'engagement', eng, 'tweets', cnt}, 5\n"
    "    for j = 1, 3 do\n"
    "      local want = ARGV[b + 10 + j]\n"
    "      if v[3 + j] ~= want then a[n + 1], a[n + 2], n = names[j], want, n + 2 end\n"
    "    end\n"
    "    call('HSET', unpack(a, 1, n))\n"
    "  else\n"
    "    call('HSET', key, 'id', uid, 'name', ARGV[b + 11], 'screen_name', ARGV[b + 12],\n"
    "      'followers', ARGV[b + 13], 'engagement', eng, 'tweets', cnt)\n"
    "  end\n"
    "  call('ZADD', 'users:engagement', eng, uid)\n"
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

/* Where a batch is (see rtp_store_send): waiting for the batch before it to send its
 * writes; its reads sent (round 1, 1b); its transaction sent; the script sent; done
 * (its outcome kept until its recv). */
typedef enum { F_WAIT, F_READ, F_WRITE, F_SCRIPT, F_DONE } stage_t;

/* A batch on its way: its messages (borrowed from the caller until its recv; the
 * pointers are copied, the caller's array may move), and the replies of its stage
 * as they arrive. */
typedef struct {
    rtp_msg_t **msgs;
    size_t count, nt, nd;
    size_t *rows; /* rows[i]: the index in msgs of the batch's i-th tweet */
    size_t rowcap;
    stage_t stage;
    int fast;       /* it tries the fast path (store_fast.h) */
    int tries;      /* times EXEC found a watched key changed */
    int stale;      /* its reads were answered before the batch ahead wrote: read again */
    int retries;    /* reads done again after a changed key, for its counts */
    size_t at, end; /* the part of msgs being written by plain commands (all of it by the script) */
    store_fast_t *plan;
    redisReply **replies; /* of the stage (rounds 1 and 1b together) */
    size_t got, want, repcap;
    int rc;                    /* once F_DONE: 1 written (counts), -1 failed (err) */
    rtp_store_counts_t counts; /* once F_DONE; before, of the parts written */
    rtp_err_t err;
} flight_t;

/* Commands on the wire, in the order sent: whose replies they are and how many. */
typedef struct {
    size_t flight; /* index into flights */
    size_t n;      /* replies still to come */
} wire_t;

#define WIRE_MAX (2 * RTP_STORE_PIPELINE + 2)
#define FAST_TRIES 3 /* EXECs that find a watched key changed before the batch takes the script */
/* Rows a transaction of the fast path takes at most: a larger batch goes in parts,
 * each read and written in turn, since Redis 7.0's WATCH scans every key the
 * connection watches already (quadratic). Each part is all or nothing per row as a
 * batch is. Measured with redis_rows.py (40,000 rows in batches of 500, INFO
 * commandstats): WATCH 0.30, 0.44 and 0.83 us a row in parts of 128, 256 and 512,
 * and redis-server's whole CPU a row lowest at 256 (fewer transactions and round
 * trips): 10.8 to 11.8 us against 11.2 to 12.2 at 128; 12.5 to 15.0 against 13.0 to
 * 17.0 with a new user on every row. */
#define FAST_PART 256

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
    /* the batches sent and not yet received, oldest at flights[head] */
    flight_t flights[RTP_STORE_PIPELINE];
    size_t head, pending;
    int broken;   /* a batch in flight failed: the ones behind it fail too (order) */
    int fast_off; /* this Redis lacks a command of the fast path: the script only */
    wire_t wire[WIRE_MAX];
    size_t nwire;
    redisContext *wire_ctx; /* the connection the wire's commands went out on */
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
    for (size_t i = 0; i < RTP_STORE_PIPELINE; i++) {
        flight_t *f = &self->flights[i];
        free(f->rows);
        free(f->msgs);
        for (size_t k = 0; k < f->got; k++)
            freeReplyObject(f->replies[k]);
        free(f->replies);
        store_fast_destroy(&f->plan);
    }
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

/* Fills argv with EVALSHA sha 0 counts..., tweets..., dead letters... of msgs, and
 * rows[k] with base + the index in msgs of the k-th tweet (msgs may be the end of a
 * batch whose parts before base went by plain commands). */
static int s_build(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, size_t nt, size_t nd,
                   size_t *rows, size_t base, rtp_err_t *err)
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
        rows[(t - HEAD) / FIELDS] = base + i;
        const char *row[STORE_ROW_FIELDS];
        char nums[4][32];
        store_row_strings(m, row, nums);
        for (size_t k = 0; k < FIELDS; k++) {
            if (k == 4 || k == 5 || k == 10 || k == 13) /* the numbers, formatted into nums */
                s_arg_fmt(self, t + k, row[k]);
            else
                s_arg_ref(self, t + k, row[k]);
        }
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

/* Reads the next reply (s_call: sends one command first). NULL after an I/O error or
 * a timeout, with the link reset (the connection's state is unknown) and the reason
 * in err. */
static redisReply *s_get_reply(rtp_store_t *self, redisContext *ctx, rtp_err_t *err)
{
    void *reply = NULL;
    if (redisGetReply(ctx, &reply) != REDIS_OK || !reply) {
        rtp_err_set(err, "%s: %s", rtp_redis_link_display(self->link),
                    ctx->errstr[0] ? ctx->errstr : "no reply");
        if (reply)
            freeReplyObject(reply);
        rtp_redis_link_reset(self->link);
        return NULL;
    }
    return reply;
}

static redisReply *s_call(rtp_store_t *self, redisContext *ctx, int argc, const char **argv,
                          const size_t *lens, rtp_err_t *err)
{
    if (redisAppendCommandArgv(ctx, argc, argv, lens) != REDIS_OK) {
        rtp_err_set(err, "%s: %s", rtp_redis_link_display(self->link), ctx->errstr);
        rtp_redis_link_reset(self->link);
        return NULL;
    }
    return s_get_reply(self, ctx, err);
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

/* Reads the script's reply r to a batch of nt tweets whose rows are in rows: the
 * counts, the refused rows' indices into self->refused, and *tail = r when there are
 * any (caller frees; r is freed otherwise). 0 or -1. */
static int s_parse(rtp_store_t *self, redisReply *r, size_t nt, const size_t *rows,
                   rtp_store_counts_t *counts, redisReply **tail, rtp_err_t *err)
{
    *tail = NULL;
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
            self->refused[counts->refused++] = rows[row->integer];
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

/* Runs the script on msgs (prepared: nt tweets, nd dead letters) as EVAL, which
 * caches it again for the next EVALSHA, in one round trip; nothing may be in flight
 * behind it on the connection. Then as s_parse. */
static int s_eval(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, size_t nt, size_t nd, size_t *rows,
                  size_t base, rtp_store_counts_t *counts, redisReply **tail, rtp_err_t *err)
{
    *tail = NULL;
    redisContext *ctx = rtp_redis_link_context(self->link, err);
    if (!ctx || s_build(self, msgs, count, nt, nd, rows, base, err) != 0)
        return -1;
    self->argv[0] = "EVAL";
    self->lens[0] = 4;
    self->argv[1] = s_script;
    self->lens[1] = sizeof s_script - 1;
    redisReply *r = s_call(self, ctx, (int) (HEAD + nt * FIELDS + nd), self->argv, self->lens, err);
    return r ? s_parse(self, r, nt, rows, counts, tail, err) : -1;
}

/* --- batches on the wire ---
 *
 * A batch goes out in stages (stage_t): its first (round 1 of the fast path, or the
 * script) only once every batch ahead of it has sent its writes, so that its reads
 * see theirs; its next when the replies of the last are in and every batch ahead is
 * done. The commands of all batches share one connection; self->wire says, in the
 * order sent, whose replies come next. */

static flight_t *s_at(rtp_store_t *self, size_t i)
{
    return &self->flights[(self->head + i) % RTP_STORE_PIPELINE];
}

static void s_drop_replies(flight_t *f)
{
    for (size_t k = 0; k < f->got; k++)
        freeReplyObject(f->replies[k]);
    f->got = f->want = 0;
}

/* The batch failed (nothing of it written, or it may be: a retry is safe either way);
 * every batch behind it fails too. */
static void s_fail(rtp_store_t *self, flight_t *f, const char *why)
{
    s_drop_replies(f);
    f->stage = F_DONE;
    f->rc = -1;
    snprintf(f->err.msg, sizeof f->err.msg, "%.*s", (int) sizeof f->err.msg - 1, why);
    self->broken = 1;
}

/* The connection is gone (reset): every batch with commands or a WATCH on it fails. */
static void s_lost(rtp_store_t *self, const char *why)
{
    for (size_t i = 0; i < self->pending; i++) {
        flight_t *f = s_at(self, i);
        if (f->stage == F_READ || f->stage == F_WRITE || f->stage == F_SCRIPT)
            s_fail(self, f, why);
    }
    self->nwire = 0;
}

/* n more replies will come for flights[fi]: room for them, and their place on the wire. */
static int s_expect(rtp_store_t *self, size_t fi, size_t n)
{
    flight_t *f = &self->flights[fi];
    if (f->want + n > f->repcap) {
        int failed = 0;
        f->replies = s_grow(f->replies, f->want + n, sizeof *f->replies, &failed);
        if (failed)
            return -1;
        f->repcap = f->want + n;
    }
    if (self->nwire == WIRE_MAX)
        return -1; /* cannot happen: each batch has one stage on the wire at most */
    f->want += n;
    self->wire[self->nwire++] = (wire_t){fi, n};
    return 0;
}

/* Sends what is in ctx's output buffer. 0, or -1 with the link reset and every batch
 * on it failed. */
static int s_flush(rtp_store_t *self, redisContext *ctx, rtp_err_t *err)
{
    int done = 0;
    while (done == 0)
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            done = -1;
    if (done > 0)
        return 0;
    rtp_err_set(err, "%s: %s", rtp_redis_link_display(self->link),
                ctx->errstr[0] ? ctx->errstr : "cannot send");
    rtp_redis_link_reset(self->link);
    s_lost(self, err->msg);
    return -1;
}

/* Hands a reply to the batch whose command it answers. */
static void s_file(rtp_store_t *self, redisReply *r)
{
    if (!self->nwire) {
        freeReplyObject(r); /* cannot happen: Redis answers each command once */
        return;
    }
    wire_t *w = &self->wire[0];
    flight_t *f = &self->flights[w->flight];
    f->replies[f->got++] = r;
    if (--w->n == 0)
        memmove(self->wire, self->wire + 1, --self->nwire * sizeof *self->wire);
}

/* The connection the wire's commands went out on, or NULL (their batches failed) when
 * it is gone. */
static redisContext *s_wire_ctx(rtp_store_t *self)
{
    rtp_err_t err;
    if (rtp_redis_link_connected(self->link) && rtp_redis_link_context(self->link, &err) == self->wire_ctx)
        return self->wire_ctx;
    char why[RTP_ERR_MAX];
    snprintf(why, sizeof why, "%s: the connection was lost before the reply",
             rtp_redis_link_display(self->link));
    s_lost(self, why);
    return NULL;
}

/* Reads replies: at least one when wait (blocking, up to the command timeout), else
 * whatever has arrived. The number filed, or -1 when the connection failed (the
 * batches on it failed). */
static int s_io(rtp_store_t *self, int wait)
{
    redisContext *ctx = s_wire_ctx(self);
    if (!ctx)
        return -1;
    rtp_err_t err;
    if (wait) {
        redisReply *r = s_get_reply(self, ctx, &err);
        if (!r) {
            s_lost(self, err.msg);
            return -1;
        }
        s_file(self, r);
        return 1;
    }
    int n = 0;
    for (int round = 0; round < 2; round++) {
        void *r = NULL;
        while (redisGetReplyFromReader(ctx, &r) == REDIS_OK && r) {
            s_file(self, r);
            n++;
            r = NULL;
        }
        if (ctx->err)
            break;
        struct pollfd p = {ctx->fd, POLLIN, 0};
        if (round == 1 || poll(&p, 1, 0) != 1)
            return n;
        if (redisBufferRead(ctx) != REDIS_OK)
            break;
    }
    snprintf(err.msg, sizeof err.msg, "%s: connection lost", rtp_redis_link_display(self->link));
    rtp_redis_link_reset(self->link);
    s_lost(self, err.msg);
    return -1;
}

/* Reads every reply still on the wire, so that the connection is free for a round
 * trip of its own. 0 or -1 (link reset). */
static int s_read_behind(rtp_store_t *self)
{
    while (self->nwire)
        if (s_io(self, 1) < 0)
            return -1;
    return 0;
}

/* The batches behind flights[fi] that have read already must read again: fi writes
 * after their reads. */
static void s_stale_behind(rtp_store_t *self, size_t fi)
{
    int behind = 0;
    for (size_t i = 0; i < self->pending; i++) {
        flight_t *f = s_at(self, i);
        if (behind && f->stage == F_READ)
            f->stale = 1;
        behind |= f == &self->flights[fi];
    }
}

/* Sends the first stage of flights[fi] on ctx: round 1 of the fast path, or the
 * script. 0, or -1 with the reason in err (the link reset after an I/O error). */
static int s_start(rtp_store_t *self, size_t fi, redisContext *ctx, rtp_err_t *err)
{
    flight_t *f = &self->flights[fi];
    if (self->nwire && ctx != self->wire_ctx) {
        char why[RTP_ERR_MAX];
        snprintf(why, sizeof why, "%s: the connection was lost before the reply",
                 rtp_redis_link_display(self->link));
        s_lost(self, why);
    }
    self->wire_ctx = ctx;
    f->stale = 0;
    s_drop_replies(f);
    int n = 1;
    if (f->fast) {
        if ((!f->plan && !(f->plan = store_fast_new())) ||
            store_fast_plan(f->plan, f->msgs + f->at, f->end - f->at) != 0)
            return rtp_err_set(err, "out of memory");
        n = store_fast_reads(f->plan, ctx);
        f->stage = F_READ;
    } else {
        /* the batch, or what its parts by plain commands left of it */
        if (s_build(self, f->msgs + f->at, f->count - f->at, f->nt - f->at, f->nd, f->rows, f->at, err) != 0)
            return -1;
        if (redisAppendCommandArgv(ctx, (int) (HEAD + (f->nt - f->at) * FIELDS + f->nd), self->argv,
                                   self->lens) != REDIS_OK)
            n = -1;
        f->stage = F_SCRIPT;
    }
    if (n < 0 || s_expect(self, fi, (size_t) n) != 0) {
        /* the output buffer may hold part of a command: the connection cannot be used */
        rtp_err_set(err, "%s: out of memory", rtp_redis_link_display(self->link));
        rtp_redis_link_reset(self->link);
        s_lost(self, err->msg);
        return -1;
    }
    return s_flush(self, ctx, err);
}

/* A part of a batch is written by plain commands: the batch is done, or its next part
 * is read next. */
static void s_part_done(flight_t *f, const rtp_store_counts_t *counts)
{
    f->counts.stored += counts->stored;
    f->counts.duplicates += counts->duplicates;
    f->tries = 0;
    if (f->end < f->count) {
        f->at = f->end;
        f->end = f->count - f->at > FAST_PART ? f->at + FAST_PART : f->count;
        f->stage = F_WAIT;
        return;
    }
    f->stage = F_DONE;
    f->rc = 1;
    f->counts.fast = 1;
    f->counts.retries = (size_t) f->retries;
}

/* Round 1 of flights[fi] is answered: its decision (store_fast.h) sent on. */
static void s_decide(rtp_store_t *self, size_t fi)
{
    flight_t *f = &self->flights[fi];
    char why[RTP_ERR_MAX];
    size_t more = 0;
    rtp_store_counts_t counts;
    rtp_err_t err;
    redisContext *ctx = self->wire_ctx;
    store_fast_next_t next =
        store_fast_decide(f->plan, f->replies, f->got, ctx, &more, &counts, why, sizeof why);
    if (next != STORE_FAST_MORE)
        s_drop_replies(f);
    switch (next) {
    case STORE_FAST_MORE:
    case STORE_FAST_WRITE:
        if (s_expect(self, fi, more) != 0) {
            rtp_redis_link_reset(self->link);
            s_lost(self, "out of memory");
            return;
        }
        f->stage = next == STORE_FAST_MORE ? F_READ : F_WRITE;
        s_flush(self, ctx, &err);
        return;
    case STORE_FAST_NOTHING:
        s_part_done(f, &counts);
        return;
    case STORE_FAST_NOMEM:
        rtp_redis_link_reset(self->link);
        s_lost(self, "out of memory");
        return;
    case STORE_FAST_OLD:
        self->fast_off = 1; /* this Redis lacks SINTERCARD or ZMSCORE (Redis < 7.0) */
        /* fall through */
    case STORE_FAST_SLOW:
        f->fast = 0;
        if (s_start(self, fi, ctx, &err) != 0)
            s_fail(self, f, err.msg);
        return;
    }
}

/* Round 2 of flights[fi] is answered: written, read again (a watched key changed), or
 * failed. */
static void s_written(rtp_store_t *self, size_t fi)
{
    flight_t *f = &self->flights[fi];
    rtp_store_counts_t counts;
    rtp_err_t err;
    int partial;
    int rc = store_fast_done(f->plan, f->replies, f->got, &counts, &partial, &err);
    s_drop_replies(f);
    if (rc == 1)
        s_part_done(f, &counts);
    else if (rc == 0) {
        f->retries++;
        if (++f->tries >= FAST_TRIES)
            f->fast = 0; /* the script reads and writes at once */
        s_stale_behind(self, fi);
        f->stage = F_WAIT;
    } else {
        char why[2 * RTP_ERR_MAX];
        snprintf(why, sizeof why, "%s %s", rtp_redis_link_display(self->link), err.msg);
        s_fail(self, f, why); /* cut to RTP_ERR_MAX there */
    }
}

/* 1 when the batch has sent its last writes (a batch behind it may read then). */
static int s_writes_sent(const flight_t *f)
{
    return f->stage == F_SCRIPT || f->stage == F_DONE || (f->stage == F_WRITE && f->end == f->count);
}

/* Moves the batches on as far as the replies in allow, short of handling a script's
 * reply (rtp_store_recv does, for the oldest). */
static void s_step(rtp_store_t *self)
{
    for (int moved = 1; moved;) {
        moved = 0;
        int ahead_sent = 1, ahead_done = 1; /* every batch ahead has sent its writes; is done */
        for (size_t i = 0; i < self->pending && !moved; i++) {
            flight_t *f = s_at(self, i);
            size_t fi = (size_t) (f - self->flights);
            if (f->stage == F_WAIT && ahead_sent) {
                rtp_err_t err;
                redisContext *ctx = self->broken ? NULL : rtp_redis_link_context(self->link, &err);
                if (self->broken)
                    s_fail(self, f, "a batch sent before this one failed; this one is retried after it");
                else if (!ctx || s_start(self, fi, ctx, &err) != 0)
                    s_fail(self, f, err.msg);
                moved = 1;
            } else if (f->stage == F_READ && f->got == f->want && f->stale) {
                s_drop_replies(f);
                f->stage = F_WAIT;
                moved = 1;
            } else if (f->stage == F_READ && f->got == f->want && ahead_done) {
                if (self->broken)
                    s_fail(self, f, "a batch sent before this one failed; this one is retried after it");
                else
                    s_decide(self, fi);
                moved = 1;
            } else if (f->stage == F_WRITE && f->got == f->want && ahead_done) {
                s_written(self, fi);
                moved = 1;
            }
            ahead_sent &= s_writes_sent(f);
            ahead_done &= f->stage == F_DONE;
        }
    }
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
    /* EVAL, not EVALSHA: a round trip of its own, with nothing in flight behind it */
    if (s_eval(self, self->again, n, 0, n, self->rows, 0, &more, &none, err) != 0)
        return -1;
    counts->deadletters += more.deadletters;
    counts->deadletter_duplicates += more.deadletter_duplicates;
    return 0;
}

int rtp_store_send(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, rtp_err_t *err)
{
    if (self->pending == RTP_STORE_PIPELINE)
        return rtp_err_set(err, "%d batches already in flight", RTP_STORE_PIPELINE);
    size_t fi = (self->head + self->pending) % RTP_STORE_PIPELINE;
    flight_t *f = &self->flights[fi];
    size_t nt, nd;
    if (s_prepare(msgs, count, &nt, &nd, err) != 0)
        return -1;
    if (count > f->rowcap) {
        int failed = 0;
        f->rows = s_grow(f->rows, count, sizeof *f->rows, &failed);
        f->msgs = s_grow(f->msgs, count, sizeof *f->msgs, &failed);
        if (failed)
            return rtp_err_set(err, "out of memory");
        f->rowcap = count;
    }
    redisContext *ctx = rtp_redis_link_context(self->link, err);
    if (!ctx)
        return -1;
    if (!self->sha[0] && (self->pending || s_load_script(self, ctx, err) != 0))
        return self->pending ? rtp_err_set(err, "the script is not loaded") : -1;
    memcpy(f->msgs, msgs, count * sizeof *msgs);
    f->count = count;
    f->nt = nt;
    f->nd = nd;
    f->stage = F_WAIT;
    /* dead letters are rare: their batch takes the script, which also checks the list */
    f->fast = !self->fast_off && nd == 0 && nt > 0;
    f->tries = f->retries = f->stale = 0;
    f->got = f->want = 0;
    f->rc = 0;
    f->at = 0;
    f->end = count > FAST_PART ? FAST_PART : count;
    memset(&f->counts, 0, sizeof f->counts);
    int ahead_sent = 1;
    for (size_t i = 0; i < self->pending; i++)
        ahead_sent &= s_writes_sent(s_at(self, i));
    if (ahead_sent && !self->broken && s_start(self, fi, ctx, err) != 0) {
        f->stage = F_WAIT;
        s_drop_replies(f);
        if (!self->pending)
            self->broken = 0; /* no batch ahead to keep in order */
        return -1;            /* nothing of it was sent */
    }
    self->pending++;
    s_step(self);
    return 0;
}

void rtp_store_set_fast(rtp_store_t *self, int on)
{
    self->fast_off = !on;
}

size_t rtp_store_pending(const rtp_store_t *self)
{
    return self->pending;
}

int rtp_store_fd(rtp_store_t *self)
{
    if (!self->pending || !rtp_redis_link_connected(self->link))
        return -1;
    rtp_err_t err;
    redisContext *ctx = rtp_redis_link_context(self->link, &err);
    return ctx ? ctx->fd : -1;
}

/* The oldest batch's script reply is in: its counts, and the round trips a lost
 * script cache or refused rows need. 0 or -1. */
static int s_script_done(rtp_store_t *self, flight_t *f, rtp_store_counts_t *counts, rtp_err_t *err)
{
    redisReply *r = f->replies[0], *tail = NULL;
    f->got = f->want = 0; /* r is ours now */
    if (self->broken) {
        freeReplyObject(r);
        return rtp_err_set(err, "%s: a batch sent before this one failed; this one is retried after it",
                           rtp_redis_link_display(self->link));
    }
    int rc;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* Redis lost its script cache (restart, SCRIPT FLUSH); nothing ran. EVAL runs
         * the same script and caches it again for the next EVALSHA; the batches behind
         * that have read already read again after it. */
        freeReplyObject(r);
        s_stale_behind(self, (size_t) (f - self->flights));
        rc = s_read_behind(self) != 0
                 ? rtp_err_set(err, "%s: connection lost", rtp_redis_link_display(self->link))
                 : s_eval(self, f->msgs + f->at, f->count - f->at, f->nt - f->at, f->nd, f->rows, f->at,
                          counts, &tail, err);
    } else
        rc = s_parse(self, r, f->nt - f->at, f->rows, counts, &tail, err);
    if (rc == 0) { /* the parts written by plain commands before */
        counts->stored += f->counts.stored;
        counts->duplicates += f->counts.duplicates;
    }
    if (rc == 0 && tail) {
        rc = s_read_behind(self) != 0
                 ? rtp_err_set(err, "%s: connection lost", rtp_redis_link_display(self->link))
                 : s_refuse(self, f->msgs, tail, counts, err);
        freeReplyObject(tail);
    }
    counts->retries = (size_t) f->retries;
    return rc;
}

int rtp_store_recv(rtp_store_t *self, int wait, rtp_store_counts_t *counts, rtp_err_t *err)
{
    rtp_store_counts_t local;
    if (!counts)
        counts = &local;
    memset(counts, 0, sizeof *counts);
    self->blocking[0] = 0;
    if (!self->pending)
        return rtp_err_set(err, "no batch in flight");
    flight_t *f = &self->flights[self->head];
    int rc;
    for (;;) {
        s_step(self);
        if (f->stage == F_DONE) {
            rc = f->rc == 1 ? 0 : -1;
            if (rc == 0)
                *counts = f->counts;
            else
                rtp_err_set(err, "%s", f->err.msg);
            break;
        }
        if (f->stage == F_SCRIPT && f->got == f->want) {
            rc = s_script_done(self, f, counts, err);
            break;
        }
        if (!self->nwire) { /* cannot happen: a batch not done has a command on the wire */
            s_fail(self, f, "internal error: no reply to wait for");
            continue;
        }
        if (s_io(self, wait) == 0 && !wait)
            return 0;
    }
    f->stage = F_WAIT;
    self->head = (self->head + 1) % RTP_STORE_PIPELINE;
    self->pending--;
    if (rc != 0 && self->pending)
        self->broken = 1;
    if (!self->pending)
        self->broken = 0;
    s_step(self); /* the next batch's reads may be in: its writes go out now */
    return rc == 0 ? 1 : -1;
}

int rtp_store_write(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, rtp_store_counts_t *counts,
                    rtp_err_t *err)
{
    rtp_store_counts_t local;
    if (!counts)
        counts = &local;
    memset(counts, 0, sizeof *counts);
    self->blocking[0] = 0;
    if (self->pending)
        return rtp_err_set(err, "%zu batches in flight: receive their replies first", self->pending);
    if (count == 0)
        return 0;
    if (rtp_store_send(self, msgs, count, err) != 0)
        return -1;
    return rtp_store_recv(self, 1, counts, err) == 1 ? 0 : -1;
}

const size_t *rtp_store_refused(const rtp_store_t *self)
{
    return self->refused;
}

const char *rtp_store_blocking_key(const rtp_store_t *self)
{
    return self->blocking[0] ? self->blocking : NULL;
}
