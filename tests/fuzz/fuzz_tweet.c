/* fuzz_tweet: the tweet decoder (common/tweet.h) on arbitrary event data.
 *
 * Whatever the bytes, the decoder must return 0 with a TWEET or PANIC, or -1 with
 * MALFORMED and a reason that is one printable line of valid UTF-8 (it goes to logs
 * and dead letters). A TWEET holds one or two records whose strings are valid UTF-8
 * and lie inside the record's one allocation, with a non-empty id; a retweet's
 * record names its original, and both carry the original's counts. Beyond that:
 *   - decoding the same bytes again gives the same result, and a copy is equal;
 *   - "not JSON" is said only of bytes that cJSON, asked on its own, rejects;
 *   - id, text and count agree with what cJSON finds at their places in the tree;
 *     an id taken from a numeric `id` (no id_str) is a plain integer up to
 *     2^64 - 1 whose double is cJSON's number there, for the tweet, its user, the
 *     original and its user; an event rejected for an inexact id has a number
 *     there and no id_str;
 *   - a record written back as an event (the fields the decoder reads, as JSON)
 *     decodes to the same record: nothing read is lost or changed on the way;
 *   - whenever the parser's fast path (json_parse.h) takes the bytes, cJSON takes
 *     them too, with the same tree and the same end.
 */
#include "tweet.h"

#include "../unit/json_same.h"
#include "fuzz_check.h"
#include "json_arena.h"
#include "json_parse.h"

#include <cJSON.h>
#include <sanitizer/allocator_interface.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3629, decoded to a code point and range-checked (no tables shared with the
 * decoder's own check). */
static bool s_valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;
    while (*p) {
        uint32_t cp;
        int more;
        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            more = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            more = 2;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            more = 3;
        } else
            return false;
        const unsigned char *start = p++;
        for (int i = 0; i < more; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (*p & 0x3F);
        }
        static const uint32_t min_for_len[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[p - start - 1] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
    }
    return true;
}

#define S_NSTR 9

static void s_strings(const rtp_tweet_t *t, const char *s[S_NSTR])
{
    const char *v[S_NSTR] = {t->id,       t->user_id,    t->user_name, t->screen_name, t->text,
                             t->hashtags, t->created_at, t->lang,      t->retweet_of};
    memcpy(s, v, sizeof v);
}

static const char *const s_names[S_NSTR] = {"id",       "user_id",    "user_name", "screen_name", "text",
                                            "hashtags", "created_at", "lang",      "retweet_of"};

static void s_check_record(const rtp_tweet_t *t, int which)
{
    const char *s[S_NSTR];
    s_strings(t, s);
    FUZZ_CHECK(t->blob_, "record %d has no allocation", which);
    size_t size = __sanitizer_get_allocated_size(t->blob_);
    for (int i = 0; i < S_NSTR; i++) {
        FUZZ_CHECK(s[i], "record %d: %s is NULL", which, s_names[i]);
        FUZZ_CHECK(s[i] >= t->blob_ && s[i] + strlen(s[i]) < t->blob_ + size,
                   "record %d: %s is outside the record's allocation", which, s_names[i]);
        FUZZ_CHECK(s_valid_utf8(s[i]), "record %d: %s is not valid UTF-8", which, s_names[i]);
    }
    FUZZ_CHECK(*t->id, "record %d has an empty id", which);
}

static bool s_tweet_equal(const rtp_tweet_t *a, const rtp_tweet_t *b, const char **what)
{
    const char *sa[S_NSTR], *sb[S_NSTR];
    s_strings(a, sa);
    s_strings(b, sb);
    for (int i = 0; i < S_NSTR; i++)
        if (strcmp(sa[i], sb[i]) != 0) {
            *what = s_names[i];
            return false;
        }
    *what = a->followers != b->followers   ? "followers"
            : a->favorites != b->favorites ? "favorites"
            : a->retweets != b->retweets   ? "retweets"
            : a->time_ms != b->time_ms     ? "time_ms"
                                           : NULL;
    return *what == NULL;
}

static const cJSON *s_get(const cJSON *object, const char *name)
{
    return cJSON_IsObject(object) ? cJSON_GetObjectItemCaseSensitive(object, name) : NULL;
}

static const char *s_get_str(const cJSON *object, const char *name)
{
    const cJSON *item = s_get(object, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The whole input as one JSON value (trailing whitespace allowed), or NULL. */
static cJSON *s_parse_all(const uint8_t *data, size_t size)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *) data, size, &end, 0);
    if (!root)
        return NULL;
    for (size_t at = (size_t) (end - (const char *) data); at < size; at++)
        if (!strchr(" \t\r\n", data[at]) || data[at] == 0) {
            cJSON_Delete(root);
            return NULL;
        }
    return root;
}

/* Whether s is a plain integer up to 2^64 - 1: digits only, no leading zero. */
static bool s_plain_u64(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 20 && strspn(s, "0123456789") == n && (s[0] != '0' || n == 1) &&
           (n < 20 || strcmp(s, "18446744073709551615") <= 0);
}

/* The id of `status` (a tweet, an original or a user; NULL if there is none) as
 * the decoder gave it: id_str if it is a non-empty string, else the exact digits
 * of a numeric id, else "". */
static void s_check_id(const char *got, const cJSON *status, const char *whose)
{
    const char *id_str = s_get_str(status, "id_str");
    const cJSON *id = s_get(status, "id");
    if (id_str && *id_str) {
        FUZZ_CHECK(strcmp(got, id_str) == 0, "%s id '%s', id_str '%s'", whose, got, id_str);
    } else if (!cJSON_IsNumber(id)) {
        FUZZ_CHECK(!*got, "%s id '%s' without an id_str or a numeric id", whose, got);
    } else {
        FUZZ_CHECK(s_plain_u64(got), "%s id '%s' is not a plain integer up to 2^64 - 1", whose, got);
        FUZZ_CHECK((double) strtoull(got, NULL, 10) == id->valuedouble, "%s id '%s', but cJSON read %.17g",
                   whose, got, id->valuedouble);
    }
}

/* What cJSON finds where the decoder looks for the ids, the text and the original. */
static void s_check_against_tree(const rtp_decoded_t *d, const cJSON *root)
{
    const cJSON *tweet = s_get(s_get(root, "message"), "tweet");
    FUZZ_CHECK(cJSON_IsObject(tweet), "decoded a TWEET without a message.tweet object");
    const cJSON *user = s_get(tweet, "user");
    s_check_id(d->tweets[0].id, tweet, "tweet");
    s_check_id(d->tweets[0].user_id, cJSON_IsObject(user) ? user : NULL, "tweet's user");
    const char *text = s_get_str(s_get(tweet, "extended_tweet"), "full_text");
    if (!text)
        text = s_get_str(tweet, "full_text");
    if (!text)
        text = s_get_str(tweet, "text");
    FUZZ_CHECK(strcmp(d->tweets[0].text, text ? text : "") == 0, "text differs from the tree's");
    const cJSON *original = s_get(tweet, "retweeted_status");
    const char *original_id = s_get_str(original, "id_str");
    if (original_id && *original_id)
        FUZZ_CHECK(d->count == 2 && strcmp(d->tweets[1].id, original_id) == 0,
                   "retweet of '%s' decoded as %d record(s)", original_id, d->count);
    if (!cJSON_IsObject(original))
        FUZZ_CHECK(d->count == 1, "%d records without a retweeted_status object", d->count);
    if (d->count == 2) {
        const cJSON *original_user = s_get(original, "user");
        s_check_id(d->tweets[1].id, original, "retweeted original");
        s_check_id(d->tweets[1].user_id, cJSON_IsObject(original_user) ? original_user : NULL,
                   "retweeted original's user");
    } else if (cJSON_IsObject(original)) {
        FUZZ_CHECK(!cJSON_IsNumber(s_get(original, "id")), "an original with a numeric id is no record");
    }
}

/* An event rejected for an inexact id: the status its reason names has a numeric
 * id there and no id_str to use instead, and the number the reason quotes is the
 * one cJSON read there, and no plain integer up to 2^64 - 1. */
static void s_check_inexact(const char *reason, const cJSON *root)
{
    static const char *const whose[] = {"tweet", "tweet's user", "retweeted original",
                                        "retweeted original's user"};
    const cJSON *tweet = s_get(s_get(root, "message"), "tweet");
    const cJSON *original = s_get(tweet, "retweeted_status");
    const cJSON *status[] = {tweet, s_get(tweet, "user"), original, s_get(original, "user")};
    for (int i = 0; i < 4; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s has no exact id: id ", whose[i]);
        if (strncmp(reason, prefix, strlen(prefix)) != 0)
            continue;
        const char *id_str = s_get_str(status[i], "id_str");
        const cJSON *id = s_get(status[i], "id");
        FUZZ_CHECK(cJSON_IsObject(status[i]) && cJSON_IsNumber(id) && !(id_str && *id_str),
                   "'%s', but the %s has no numeric id or has an id_str", reason, whose[i]);
        const char *lit = reason + strlen(prefix), *end = strstr(lit, " is ");
        FUZZ_CHECK(end && end - lit < 32, "no number quoted in '%s'", reason);
        char number[32];
        snprintf(number, sizeof number, "%.*s", (int) (end - lit), lit);
        if (end - lit < 3 || strncmp(end - 3, "...", 3) != 0) { /* quoted whole */
            FUZZ_CHECK(strtod(number, NULL) == id->valuedouble, "'%s', but cJSON read %.17g", reason,
                       id->valuedouble);
            FUZZ_CHECK(!s_plain_u64(number), "'%s' rejects an exact id", reason);
        }
        return;
    }
    FUZZ_CHECK(false, "an inexact id of no one: '%s'", reason);
}

static cJSON *s_add_object(cJSON *to, const char *name)
{
    cJSON *o = cJSON_AddObjectToObject(to, name);
    FUZZ_CHECK(o, "out of memory");
    return o;
}

static void s_add_int(cJSON *to, const char *name, int64_t v)
{
    /* Written exactly: cJSON's own numbers are doubles. */
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    FUZZ_CHECK(cJSON_AddRawToObject(to, name, buf), "out of memory");
}

/* The record of a tweet that is no retweet, as an event the decoder reads back. */
static char *s_write_event(const rtp_tweet_t *t, int64_t sent_100us)
{
    cJSON *root = cJSON_CreateObject();
    FUZZ_CHECK(root, "out of memory");
    cJSON *message = s_add_object(root, "message");
    cJSON *tweet = s_add_object(message, "tweet");
    s_add_int(message, "unix_timestamp_100us", sent_100us);
    cJSON_AddStringToObject(tweet, "id_str", t->id);
    cJSON *user = s_add_object(tweet, "user");
    cJSON_AddStringToObject(user, "id_str", t->user_id);
    cJSON_AddStringToObject(user, "name", t->user_name);
    cJSON_AddStringToObject(user, "screen_name", t->screen_name);
    s_add_int(user, "followers_count", t->followers);
    cJSON_AddStringToObject(tweet, "text", t->text);
    cJSON *tags = cJSON_AddArrayToObject(s_add_object(tweet, "entities"), "hashtags");
    cJSON *tag = cJSON_CreateObject();
    cJSON_AddStringToObject(tag, "text", t->hashtags); /* one entry: joins to itself */
    cJSON_AddItemToArray(tags, tag);
    cJSON_AddStringToObject(tweet, "created_at", t->created_at);
    cJSON_AddStringToObject(tweet, "lang", t->lang);
    s_add_int(tweet, "favorite_count", t->favorites);
    s_add_int(tweet, "retweet_count", t->retweets);
    if (t->time_ms >= 0) { /* a string of digits is read exactly, whatever created_at says */
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRId64, t->time_ms);
        cJSON_AddStringToObject(tweet, "timestamp_ms", buf);
    } else
        s_add_int(tweet, "timestamp_ms", t->time_ms);
    char *json = cJSON_PrintUnformatted(root);
    FUZZ_CHECK(json, "out of memory");
    cJSON_Delete(root);
    return json;
}

static void s_check_reason(const char *msg)
{
    size_t n = strnlen(msg, RTP_ERR_MAX);
    FUZZ_CHECK(n > 0 && n < RTP_ERR_MAX, "reason empty or not terminated");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char) msg[i] >= 0x20 && msg[i] != 0x7F, "control byte in reason '%s'", msg);
    FUZZ_CHECK(s_valid_utf8(msg), "reason is not valid UTF-8: '%s'", msg);
}

/* The fast path builds cJSON's own tree, or leaves the bytes to cJSON. */
static void s_check_fast_parse(const uint8_t *data, size_t size)
{
    const char *text = (const char *) data, *end_ref = NULL, *end_fast = NULL;
    cJSON *ref = cJSON_ParseWithLengthOpts(text, size, &end_ref, 0);
    rtp_json_arena_begin();
    cJSON *fast = rtp_json_parse(text, size, &end_fast);
    if (fast) {
        FUZZ_CHECK(ref, "the fast path took bytes cJSON rejects");
        FUZZ_CHECK(end_fast == end_ref, "the fast path ends at %zu, cJSON at %zu", (size_t) (end_fast - text),
                   (size_t) (end_ref - text));
        FUZZ_CHECK(json_same(fast, ref, 0), "the fast path built another tree than cJSON");
    }
    rtp_json_arena_end();
    cJSON_Delete(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_check_fast_parse(data, size);
    rtp_decoded_t d;
    rtp_err_t err = {{0}};
    int rc = rtp_tweet_decode((const char *) data, size, &d, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && d.kind == RTP_EVENT_MALFORMED, "rc %d with kind %d", rc, d.kind);
        FUZZ_CHECK(d.count == 0 && !d.tweets[0].blob_ && !d.tweets[1].blob_ && d.sent_100us == 0,
                   "a rejected event left records behind");
        s_check_reason(err.msg);
        if (strncmp(err.msg, "not JSON", 8) == 0) {
            cJSON *root = s_parse_all(data, size);
            FUZZ_CHECK(!root, "valid JSON rejected as '%s'", err.msg);
        }
        if (strstr(err.msg, " has no exact id: ")) {
            cJSON *root = s_parse_all(data, size);
            FUZZ_CHECK(root, "rejected for an id ('%s'), but cJSON rejects the bytes", err.msg);
            s_check_inexact(err.msg, root);
            cJSON_Delete(root);
        }
        rtp_decoded_clear(&d);
        return 0;
    }
    FUZZ_CHECK(d.kind == RTP_EVENT_TWEET || d.kind == RTP_EVENT_PANIC, "rc 0 with kind %d", d.kind);

    rtp_decoded_t again;
    FUZZ_CHECK(rtp_tweet_decode((const char *) data, size, &again, NULL) == 0 && again.kind == d.kind &&
                   again.count == d.count && again.sent_100us == d.sent_100us,
               "a second decode differs");
    const char *what;
    for (int i = 0; i < d.count; i++)
        FUZZ_CHECK(s_tweet_equal(&d.tweets[i], &again.tweets[i], &what), "second decode: %s differs", what);
    rtp_decoded_clear(&again);

    if (d.kind == RTP_EVENT_PANIC) {
        FUZZ_CHECK(d.count == 0, "a panic with %d records", d.count);
        rtp_decoded_clear(&d);
        return 0;
    }
    FUZZ_CHECK(d.count == 1 || d.count == 2, "a tweet with %d records", d.count);
    for (int i = 0; i < d.count; i++)
        s_check_record(&d.tweets[i], i);
    if (d.count == 2) {
        FUZZ_CHECK(strcmp(d.tweets[0].retweet_of, d.tweets[1].id) == 0 && !*d.tweets[1].retweet_of,
                   "retweet_of '%s', original id '%s'", d.tweets[0].retweet_of, d.tweets[1].id);
        FUZZ_CHECK(d.tweets[0].favorites == d.tweets[1].favorites &&
                       d.tweets[0].retweets == d.tweets[1].retweets,
                   "a retweet's counts are not its original's");
    }

    cJSON *root = s_parse_all(data, size);
    FUZZ_CHECK(root, "decoded a TWEET from bytes cJSON rejects");
    s_check_against_tree(&d, root);
    cJSON_Delete(root);

    rtp_tweet_t copy = {0};
    FUZZ_CHECK(rtp_tweet_copy(&copy, &d.tweets[0]) == 0, "copy failed");
    FUZZ_CHECK(s_tweet_equal(&copy, &d.tweets[0], &what) && copy.blob_ != d.tweets[0].blob_,
               "copy: %s differs", what ? what : "the allocation");
    rtp_tweet_clear(&copy);

    if (d.count == 1 && !*d.tweets[0].retweet_of) {
        char *json = s_write_event(&d.tweets[0], d.sent_100us);
        rtp_decoded_t back;
        rtp_err_t back_err = {{0}};
        FUZZ_CHECK(rtp_tweet_decode(json, strlen(json), &back, &back_err) == 0 &&
                       back.kind == RTP_EVENT_TWEET && back.count == 1 && back.sent_100us == d.sent_100us,
                   "the record written back does not decode: %s\n  %.300s", back_err.msg, json);
        FUZZ_CHECK(s_tweet_equal(&back.tweets[0], &d.tweets[0], &what), "written back: %s differs\n  %.300s",
                   what, json);
        rtp_decoded_clear(&back);
        cJSON_free(json);
    }
    rtp_decoded_clear(&d);
    return 0;
}
