/* tweet: the decoder, rule by rule (SPEC sections 1 and 2), on hand-written events;
 * and the record helpers (set, copy, clear). The bundled data is checked field by
 * field by tests/integration/test_decoder_data.py. */
#include "check.h"
#include "tweet.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

/* Decodes len bytes from an allocation of exactly that size, so that the
 * sanitizers catch any read past the end. */
static int s_decode_n(const char *data, size_t len, rtp_decoded_t *d, rtp_err_t *err)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    err->msg[0] = '\0';
    int rc = rtp_tweet_decode(copy, len, d, err);
    free(copy);
    return rc;
}

static int s_decode(const char *data, rtp_decoded_t *d, rtp_err_t *err)
{
    return s_decode_n(data, strlen(data), d, err);
}

/* Decodes a tweet object wrapped as the server sends it. */
static int s_decode_tweet(const char *tweet, rtp_decoded_t *d, rtp_err_t *err)
{
    size_t cap = strlen(tweet) + 100;
    char *data = malloc(cap);
    snprintf(data, cap, "{\"message\": {\"tweet\": %s, \"unix_timestamp_100us\": 16523062290197}}", tweet);
    int rc = s_decode(data, d, err);
    free(data);
    return rc;
}

/* Checks that data is rejected with a reason containing `reason`, and that the
 * result holds nothing. */
static void s_check_rejected_n(const char *data, size_t len, const char *reason, int line)
{
    rtp_decoded_t d;
    rtp_err_t err;
    int rc = s_decode_n(data, len, &d, &err);
    CHECK_INT(rc, -1);
    CHECK_INT(d.kind, RTP_EVENT_MALFORMED);
    CHECK_INT(d.count, 0);
    CHECK(d.tweets[0].blob_ == NULL && d.tweets[1].blob_ == NULL);
    if (!strstr(err.msg, reason) || strchr(err.msg, '\n')) {
        check_failed_++;
        fprintf(stderr, "line %d: reason \"%s\" lacks \"%s\"\n", line, err.msg, reason);
    } else {
        check_passed_++;
    }
    rtp_decoded_clear(&d);
}
#define REJECTED(data, reason) s_check_rejected_n((data), strlen(data), (reason), __LINE__)
#define REJECTED_N(data, len, reason) s_check_rejected_n((data), (len), (reason), __LINE__)

/* A tweet object with a text made of the given bytes (inserted raw). */
static void s_check_text_rejected(const char *text_bytes, const char *reason, int line)
{
    char data[256];
    snprintf(data, sizeof data, "{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"a%sb\"}}}",
             text_bytes);
    s_check_rejected_n(data, strlen(data), reason, line);
}
#define TEXT_REJECTED(bytes, reason) s_check_text_rejected((bytes), (reason), __LINE__)

/* Decodes a tweet whose text is the given JSON string literal and returns the
 * decoded text in buf ("<rejected>" if it was not decoded). */
static const char *s_text_of(const char *literal, char *buf, size_t cap)
{
    char tweet[512];
    snprintf(tweet, sizeof tweet, "{\"id_str\": \"1\", \"text\": %s}", literal);
    rtp_decoded_t d;
    rtp_err_t err;
    if (s_decode_tweet(tweet, &d, &err) == 0)
        snprintf(buf, cap, "%s", d.tweets[0].text);
    else
        snprintf(buf, cap, "<rejected: %.200s>", err.msg);
    rtp_decoded_clear(&d);
    return buf;
}

/* Decodes a one-record tweet and returns its time_ms, or INT64_MIN if rejected. */
static int64_t s_time_of(const char *tweet)
{
    rtp_decoded_t d;
    rtp_err_t err;
    int64_t ms = s_decode_tweet(tweet, &d, &err) == 0 ? d.tweets[0].time_ms : INT64_MIN;
    rtp_decoded_clear(&d);
    return ms;
}

static void test_panic(void)
{
    const char *panics[] = {
        "{\"message\": panic}",
        "{\"message\":panic}",
        " {\n\"message\" :\tpanic } \r\n",
        "{\r\n  \"message\"  :  panic\r\n}",
    };
    for (size_t i = 0; i < sizeof panics / sizeof panics[0]; i++) {
        rtp_decoded_t d;
        rtp_err_t err;
        CHECK_INT(s_decode(panics[i], &d, &err), 0);
        CHECK_INT(d.kind, RTP_EVENT_PANIC);
        CHECK_INT(d.count, 0);
        rtp_decoded_clear(&d);
    }
    /* near misses are malformed, each for its own reason */
    REJECTED("{\"message\": panic2}", "not JSON");
    REJECTED("{\"message\": Panic}", "not JSON");
    REJECTED("{\"message\": panic}}", "not JSON");
    REJECTED("{\"message\": pan ic}", "not JSON");
    REJECTED("{\"msg\": panic}", "not JSON");
    REJECTED("{\"message\": \"panic\"}", "\"message\" is not an object");
}

static void test_malformed(void)
{
    REJECTED("", "empty data");
    {
        rtp_decoded_t d;
        rtp_err_t err;
        CHECK_INT(rtp_tweet_decode(NULL, 0, &d, &err), -1);
        CHECK_INT(d.kind, RTP_EVENT_MALFORMED);
        rtp_decoded_clear(&d);
    }
    /* NUL bytes, raw and escaped */
    static const char with_nul[] = "{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"a\0b\"}}}";
    REJECTED_N(with_nul, sizeof with_nul - 1, "NUL byte in data at byte 48");
    REJECTED_N("{\"message\": panic}\0", 19, "NUL byte");
    static const char escaped_nul_byte[] =
        "{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"\\\0\"}}}";
    REJECTED_N(escaped_nul_byte, sizeof escaped_nul_byte - 1, "NUL byte in data at byte 48");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"a\\u0000b\"}}}", "escaped NUL");
    /* cJSON reads \u without four hex digits as U+0000, which would cut the text
     * (or a member's name: "tweet\u0+}" would read as "tweet") short */
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"ab\\u00zzcd\"}}}", "four hex digits");
    REJECTED("{\"message\": {\"tweet\\u0+} \": {\"id\": 5, \"user\": {\"id\": 9}}}}", "four hex digits");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"a\\u12\"}}}", "four hex digits");

    /* invalid UTF-8 */
    TEXT_REJECTED("\xC0\xAF", "invalid UTF-8 at byte 48 (overlong encoding)");
    TEXT_REJECTED("\xC1\xBF", "overlong encoding");
    TEXT_REJECTED("\xE0\x80\xAF", "overlong encoding");
    TEXT_REJECTED("\xE0\x9F\xBF", "overlong encoding");
    TEXT_REJECTED("\xF0\x80\x80\xAF", "overlong encoding");
    TEXT_REJECTED("\xF0\x8F\xBF\xBF", "overlong encoding");
    TEXT_REJECTED("\xED\xA0\x80", "UTF-16 surrogate");
    TEXT_REJECTED("\xED\xBF\xBF", "UTF-16 surrogate");
    TEXT_REJECTED("\xF4\x90\x80\x80", "above U+10FFFF");
    TEXT_REJECTED("\xF5\x80\x80\x80", "above U+10FFFF");
    TEXT_REJECTED("\xFF", "above U+10FFFF");
    TEXT_REJECTED("\x80", "unexpected continuation byte");
    TEXT_REJECTED("\xBF\xBF", "unexpected continuation byte");
    TEXT_REJECTED("\xE2\x82", "truncated sequence");
    TEXT_REJECTED("\xF0\x9F\x98", "truncated sequence");
    TEXT_REJECTED("\xC3", "truncated sequence");
    REJECTED_N("{\"message\": \"\xE2\x82", 15, "invalid UTF-8 at byte 13 (truncated sequence)");
    /* cJSON itself rejects lone surrogates written as escapes */
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"\\ud800\"}}}", "not JSON");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"\\udc00x\"}}}", "not JSON");

    /* not JSON */
    REJECTED("hello", "not JSON: syntax error at byte 0 near 'hello'");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\"}}", "not JSON: unexpected end");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"abc", "not JSON: unexpected end");
    REJECTED("{\"message\": ", "not JSON: unexpected end");
    REJECTED("{\"message\":}", "not JSON: syntax error at byte 11 near '}'");
    REJECTED("{\"message\": \xC3\xA9}", "not JSON: syntax error at byte 12 near '\xC3\xA9}'");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\"}}} x",
             "not JSON: trailing bytes at byte 40 near 'x'");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\"}}}{}", "trailing bytes");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": 1\n2}}}", "near '2}}}'");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"1\",}}}", "not JSON");
    /* the excerpt never cuts a character and never holds a line break */
    REJECTED("xy\n\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
             "near 'xy?\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9'");

    /* wrong shape */
    REJECTED("[]", "wrong shape: the JSON is not an object");
    REJECTED("\"tweet\"", "the JSON is not an object");
    REJECTED("{}", "wrong shape: no \"message\"");
    REJECTED("{\"tweet\": {\"id_str\": \"1\"}}", "no \"message\"");
    REJECTED("{\"message\": null}", "\"message\" is not an object");
    REJECTED("{\"message\": [1]}", "\"message\" is not an object");
    REJECTED("{\"message\": {}}", "no \"message.tweet\"");
    REJECTED("{\"message\": {\"tweet\": null}}", "\"message.tweet\" is not an object");
    REJECTED("{\"message\": {\"tweet\": [{\"id_str\": \"1\"}]}}", "\"message.tweet\" is not an object");
    REJECTED("{\"message\": {\"tweet\": \"1\"}}", "\"message.tweet\" is not an object");

    /* no id */
    REJECTED("{\"message\": {\"tweet\": {}}}", "tweet has no id");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": null, \"id\": null}}}", "tweet has no id");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": \"\", \"text\": \"x\"}}}", "tweet has no id");
    REJECTED("{\"message\": {\"tweet\": {\"id_str\": 5}}}", "tweet has no id");
    REJECTED("{\"message\": {\"tweet\": {\"id\": 1.5}}}",
             "tweet has no exact id: id 1.5 is written with a fraction or an exponent, and no usable id_str");
    REJECTED("{\"message\": {\"tweet\": {\"id\": \"7\"}}}", "tweet has no id");
    REJECTED("{\"message\": {\"tweet\": {\"id\": 1e300}}}",
             "tweet has no exact id: id 1e300 is written with");
    REJECTED("{\"message\": {\"tweet\": {\"user\": {\"id_str\": \"1\"}}}}", "tweet has no id");
}

/* Builds {"message": {"tweet": {"id_str": "1", "x": [[...]]}}} with `depth`
 * levels of nesting in all (the three objects count). */
static char *s_nested(int depth)
{
    static const char head[] = "{\"message\": {\"tweet\": {\"id_str\": \"1\", \"x\": ";
    int arrays = depth - 3;
    char *data = malloc(sizeof head + 2 * (size_t) arrays + 8);
    char *at = data + sizeof head - 1;
    memcpy(data, head, sizeof head - 1);
    memset(at, '[', (size_t) arrays);
    at += arrays;
    memset(at, ']', (size_t) arrays);
    at += arrays;
    strcpy(at, "}}}");
    return data;
}

static void test_nesting(void)
{
    rtp_decoded_t d;
    rtp_err_t err;
    /* cJSON's own limit is the limit: up to it decodes, one more is rejected */
    char *data = s_nested(1000);
    CHECK_INT(s_decode(data, &d, &err), 0);
    CHECK_STR(d.tweets[0].id, "1");
    rtp_decoded_clear(&d);
    free(data);
    data = s_nested(1001);
    REJECTED(data, "JSON nested deeper than 1000 levels at byte 1040");
    free(data);
    /* deep enough to overflow a stack if anything recursed on it */
    data = s_nested(2000000);
    REJECTED(data, "nested deeper than 1000 levels");
    free(data);
    data = malloc(1000001);
    memset(data, '{', 1000000);
    data[1000000] = '\0';
    REJECTED(data, "nested deeper");
    free(data);
    /* brackets inside strings are text, not nesting, and an escaped quote does
     * not end the string: 2000 '[' and '{' that would be too deep if counted */
    size_t reps = 1000;
    char *text = malloc(4 * reps + 200);
    strcpy(text, "{\"message\": {\"tweet\": {\"id_str\": \"1\", \"text\": \"");
    size_t at = strlen(text);
    for (size_t i = 0; i < reps; i++, at += 4)
        memcpy(text + at, "[{\\\"", 4);
    strcpy(text + at, "\"}}}");
    CHECK_INT(s_decode(text, &d, &err), 0);
    CHECK_INT(d.count ? strlen(d.tweets[0].text) : 0, 3 * reps);
    CHECK(d.count && strncmp(d.tweets[0].text, "[{\"[{\"", 6) == 0);
    rtp_decoded_clear(&d);
    free(text);
}

static void test_fields(void)
{
    const char *tweet =
        "{\"created_at\": \"Mon Apr 18 19:30:47 +0000 2016\", \"id\": 722145369921077249,"
        " \"id_str\": \"722145369921077249\", \"text\": \"Short #Fun #b\\u00e9b\\u00e9 text\","
        " \"user\": {\"id\": 2758566867, \"id_str\": \"2758566867\", \"name\": \"Miguel Perez\","
        " \"screen_name\": \"migangelp8\", \"followers_count\": 56, \"favourites_count\": 32},"
        " \"retweet_count\": 3, \"favorite_count\": 7, \"lang\": \"es\", \"timestamp_ms\": \"1461007847658\","
        " \"entities\": {\"hashtags\": [{\"text\": \"Fun\", \"indices\": [6, 10]},"
        " {\"text\": \"b\\u00e9b\\u00e9\", \"indices\": [11, 16]}], \"urls\": []}}";
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode_tweet(tweet, &d, &err), 0);
    CHECK_INT(d.kind, RTP_EVENT_TWEET);
    CHECK_INT(d.count, 1);
    CHECK(d.sent_100us == 16523062290197LL);
    const rtp_tweet_t *t = &d.tweets[0];
    CHECK_STR(t->id, "722145369921077249");
    CHECK_STR(t->user_id, "2758566867");
    CHECK_STR(t->user_name, "Miguel Perez");
    CHECK_STR(t->screen_name, "migangelp8");
    CHECK_STR(t->text, "Short #Fun #b\xC3\xA9"
                       "b\xC3\xA9 text");
    CHECK_STR(t->hashtags, "Fun b\xC3\xA9"
                           "b\xC3\xA9");
    CHECK_STR(t->created_at, "Mon Apr 18 19:30:47 +0000 2016");
    CHECK_STR(t->lang, "es");
    CHECK_STR(t->retweet_of, "");
    CHECK_INT(t->followers, 56);
    CHECK_INT(t->favorites, 7);
    CHECK_INT(t->retweets, 3);
    CHECK(t->time_ms == 1461007847658LL);
    /* all strings live in the one allocation, in field order */
    CHECK(t->id == t->blob_);
    CHECK(t->user_id == t->id + strlen(t->id) + 1);
    CHECK(t->retweet_of == t->lang + strlen(t->lang) + 1);
    CHECK(d.tweets[1].blob_ == NULL);
    rtp_decoded_clear(&d);

    /* unix_timestamp_100us is optional; other keys of message are ignored */
    CHECK_INT(s_decode("{\"message\": {\"other\": 1, \"tweet\": {\"id_str\": \"9\"}}, \"x\": 2}", &d, &err),
              0);
    CHECK_INT(d.sent_100us, 0);
    CHECK_STR(d.tweets[0].id, "9");
    rtp_decoded_clear(&d);
}

/* A member named twice: the first is read, as cJSON_GetObjectItem reads it, also
 * once every member the decoder reads has been seen, and for names that share
 * their first bytes with one it reads (i/id/idx, na/name). */
static void test_duplicate_members(void)
{
    const char *tweet =
        "{\"idx\": 1, \"id_str\": \"11\", \"i\": 2, \"lang\": \"en\", \"lang\": \"fr\","
        " \"user\": {\"na\": \"x\", \"id_str\": \"5\", \"id\": 5, \"name\": \"First\","
        " \"screen_name\": \"one\", \"followers_count\": 3, \"name\": \"Second\", \"id_str\": \"6\","
        " \"followers_count\": 4},"
        " \"user\": {\"id_str\": \"7\", \"name\": \"Third\"}, \"id_str\": \"12\", \"text\": \"t\"}";
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode_tweet(tweet, &d, &err), 0);
    const rtp_tweet_t *t = &d.tweets[0];
    CHECK_STR(t->id, "11");
    CHECK_STR(t->lang, "en");
    CHECK_STR(t->user_id, "5");
    CHECK_STR(t->user_name, "First");
    CHECK_STR(t->screen_name, "one");
    CHECK_INT(t->followers, 3);
    CHECK_STR(t->text, "t");
    rtp_decoded_clear(&d);
}

/* Every string "" and every number 0 but the id. */
static void s_check_empty_record(const char *tweet, int line)
{
    rtp_decoded_t d;
    rtp_err_t err;
    int failed = check_failed_;
    CHECK_INT(s_decode_tweet(tweet, &d, &err), 0);
    const rtp_tweet_t *t = &d.tweets[0];
    CHECK_INT(d.count, 1);
    CHECK_STR(t->id, "5");
    CHECK_STR(t->user_id, "");
    CHECK_STR(t->user_name, "");
    CHECK_STR(t->screen_name, "");
    CHECK_STR(t->text, "");
    CHECK_STR(t->hashtags, "");
    CHECK_STR(t->created_at, "");
    CHECK_STR(t->lang, "");
    CHECK_STR(t->retweet_of, "");
    CHECK_INT(t->followers, 0);
    CHECK_INT(t->favorites, 0);
    CHECK_INT(t->retweets, 0);
    CHECK_INT(t->time_ms, 0);
    if (check_failed_ != failed)
        fprintf(stderr, "  (in the case at line %d)\n", line);
    rtp_decoded_clear(&d);
}

static void test_missing_and_null(void)
{
    s_check_empty_record("{\"id_str\": \"5\"}", __LINE__);
    s_check_empty_record("{\"id_str\": \"5\", \"user\": null, \"text\": null, \"full_text\": null,"
                         " \"extended_tweet\": null, \"favorite_count\": null, \"retweet_count\": null,"
                         " \"entities\": null, \"lang\": null, \"created_at\": null, \"timestamp_ms\": null,"
                         " \"retweeted_status\": null}",
                         __LINE__);
    /* a user with every field null, and fields of the wrong type */
    s_check_empty_record(
        "{\"id_str\": \"5\", \"user\": {\"id_str\": null, \"id\": null, \"name\": null,"
        " \"screen_name\": null, \"followers_count\": null}, \"entities\": {\"hashtags\": null},"
        " \"favorite_count\": \"7\", \"retweet_count\": true, \"lang\": 3, \"text\": 4}",
        __LINE__);
    s_check_empty_record(
        "{\"id_str\": \"5\", \"user\": \"someone\", \"entities\": {\"hashtags\": {\"text\": \"a\"}},"
        " \"retweeted_status\": 12}",
        __LINE__);
    s_check_empty_record("{\"id_str\": \"5\", \"user\": {}, \"entities\": {\"hashtags\": [null, 1, {},"
                         " {\"text\": null}, {\"text\": \"\"}]}}",
                         __LINE__);

    /* zero followers, null counts next to real ones */
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode_tweet("{\"id_str\": \"5\", \"user\": {\"id_str\": \"8\", \"followers_count\": 0},"
                             " \"favorite_count\": null, \"retweet_count\": 4}",
                             &d, &err),
              0);
    CHECK_STR(d.tweets[0].user_id, "8");
    CHECK_INT(d.tweets[0].followers, 0);
    CHECK_INT(d.tweets[0].favorites, 0);
    CHECK_INT(d.tweets[0].retweets, 4);
    rtp_decoded_clear(&d);

    /* counts: whole numbers as they are, fractions truncated, huge ones clamped */
    CHECK_INT(s_decode_tweet("{\"id_str\": \"5\", \"user\": {\"followers_count\": 12345678901234},"
                             " \"favorite_count\": 2.9, \"retweet_count\": 1e30}",
                             &d, &err),
              0);
    CHECK(d.tweets[0].followers == 12345678901234LL);
    CHECK_INT(d.tweets[0].favorites, 2);
    CHECK(d.tweets[0].retweets == INT64_MAX);
    rtp_decoded_clear(&d);
}

static void test_text_precedence(void)
{
    char buf[256];
    const char *cases[][2] = {
        {"{\"id_str\": \"1\", \"text\": \"short\", \"full_text\": \"full\","
         " \"extended_tweet\": {\"full_text\": \"extended\"}}",
         "extended"},
        {"{\"id_str\": \"1\", \"text\": \"short\", \"full_text\": \"full\"}", "full"},
        {"{\"id_str\": \"1\", \"text\": \"short\"}", "short"},
        {"{\"id_str\": \"1\", \"text\": \"short\", \"extended_tweet\": {\"full_text\": null}}", "short"},
        {"{\"id_str\": \"1\", \"text\": \"short\", \"full_text\": \"full\", \"extended_tweet\": {}}", "full"},
        {"{\"id_str\": \"1\", \"text\": \"short\", \"full_text\": null, \"extended_tweet\": null}", "short"},
        {"{\"id_str\": \"1\", \"text\": \"short\", \"extended_tweet\": \"x\"}", "short"},
        {"{\"id_str\": \"1\", \"text\": \"short\", \"extended_tweet\": {\"full_text\": \"\"}}", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rtp_decoded_t d;
        rtp_err_t err;
        CHECK_INT(s_decode_tweet(cases[i][0], &d, &err), 0);
        snprintf(buf, sizeof buf, "%s", d.count ? d.tweets[0].text : "<none>");
        CHECK_STR(buf, cases[i][1]);
        rtp_decoded_clear(&d);
    }
}

static void test_text_bytes(void)
{
    char buf[256];
    /* raw non-ASCII is kept byte for byte, including the edges of each range */
    CHECK_STR(s_text_of("\"caf\xC3\xA9 \xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC\"", buf, sizeof buf),
              "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC");
    CHECK_STR(s_text_of("\"\xC2\x80|\xDF\xBF|\xE0\xA0\x80|\xED\x9F\xBF|\xEE\x80\x80|\xEF\xBF\xBF|"
                        "\xF0\x90\x80\x80|\xF4\x8F\xBF\xBF\"",
                        buf, sizeof buf),
              "\xC2\x80|\xDF\xBF|\xE0\xA0\x80|\xED\x9F\xBF|\xEE\x80\x80|\xEF\xBF\xBF|"
              "\xF0\x90\x80\x80|\xF4\x8F\xBF\xBF");
    /* escapes become the same UTF-8 bytes; a surrogate pair becomes one character */
    CHECK_STR(s_text_of("\"caf\\u00e9 \\ud83d\\ude00 \\u65e5\"", buf, sizeof buf),
              "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE6\x97\xA5");
    /* tabs, newlines and carriage returns are kept, as is every other byte */
    CHECK_STR(s_text_of("\"a\\tb\\nc\\r\\nd  e \\\"q\\\" \\\\ \\/\"", buf, sizeof buf),
              "a\tb\nc\r\nd  e \"q\" \\ /");
    /* an escaped backslash followed by "u0000" is text, not an escaped NUL */
    CHECK_STR(s_text_of("\"x\\\\u0000y\"", buf, sizeof buf), "x\\u0000y");
    /* brackets and quotes inside strings do not confuse the byte checks */
    CHECK_STR(s_text_of("\"[{\\\"}]\"", buf, sizeof buf), "[{\"}]");
    /* a UTF-8 BOM and whitespace around the JSON are fine */
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode("\xEF\xBB\xBF {\"message\": {\"tweet\": {\"id_str\": \"1\"}}}\r\n ", &d, &err), 0);
    rtp_decoded_clear(&d);
}

/* Decodes a tweet and writes its records' ids into buf as "id/user_id/retweet_of"
 * and, for a retweet, " + id/user_id" of the original; "<rejected: reason>" if
 * the event was rejected. */
static const char *s_ids_of(const char *tweet, char *buf, size_t cap)
{
    rtp_decoded_t d;
    rtp_err_t err;
    if (s_decode_tweet(tweet, &d, &err) != 0)
        snprintf(buf, cap, "<rejected: %s>", err.msg);
    else if (d.count == 1)
        snprintf(buf, cap, "%s/%s/%s", d.tweets[0].id, d.tweets[0].user_id, d.tweets[0].retweet_of);
    else
        snprintf(buf, cap, "%s/%s/%s + %s/%s", d.tweets[0].id, d.tweets[0].user_id, d.tweets[0].retweet_of,
                 d.tweets[1].id, d.tweets[1].user_id);
    rtp_decoded_clear(&d);
    return buf;
}

/* Checks that tweet is rejected with a reason starting with `start`. */
static void s_check_id_rejected(const char *tweet, const char *start, int line)
{
    char buf[512], want[300];
    snprintf(want, sizeof want, "<rejected: %s", start);
    s_ids_of(tweet, buf, sizeof buf);
    if (strncmp(buf, want, strlen(want)) != 0) {
        check_failed_++;
        fprintf(stderr, "line %d: %s\n  gave %s\n  expected %s...>\n", line, tweet, buf, want);
    } else {
        check_passed_++;
    }
}
#define ID_REJECTED(tweet, start) s_check_id_rejected((tweet), (start), __LINE__)

static void test_ids(void)
{
    char buf[512], tweet[512];
#define TWEET(...) (snprintf(tweet, sizeof tweet, __VA_ARGS__), tweet)
    /* id_str wins over id */
    CHECK_STR(s_ids_of("{\"id_str\": \"42\", \"id\": 43, \"user\": {\"id_str\": \"7\", \"id\": 8}}", buf,
                       sizeof buf),
              "42/7/");
    /* without id_str (or with an empty or null one), id is its digits as written:
     * exact at every size a 64-bit id can have (cJSON alone rounds past 2^53) */
    static const char *const exact[] = {
        "0",
        "722145369921077",
        "9007199254740991",    /* 2^53 - 1 */
        "9007199254740992",    /* 2^53 */
        "9007199254740993",    /* 2^53 + 1: the double is 2^53 */
        "722145369921077249",  /* a tweet id: the double ends in ...248 */
        "9223372036854775807", /* 2^63 - 1 */
        "9223372036854775808", /* 2^63 */
        "18446744073709551614",
        "18446744073709551615", /* 2^64 - 1 */
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        const char *x = exact[i];
        char want[256];
        /* the tweet's own, its user's, and a retweet's original's and that one's user's */
        snprintf(want, sizeof want, "%s/%s/", x, x);
        CHECK_STR(s_ids_of(TWEET("{\"id\": %s, \"user\": {\"id\": %s}}", x, x), buf, sizeof buf), want);
        CHECK_STR(
            s_ids_of(TWEET("{\"id_str\": \"\", \"id\": %s, \"user\": {\"id_str\": null, \"id\": %s}}", x, x),
                     buf, sizeof buf),
            want);
        snprintf(want, sizeof want, "5/6/%s + %s/%s", x, x, x);
        CHECK_STR(s_ids_of(TWEET("{\"id\": 5, \"user\": {\"id\": 6}, \"retweeted_status\": {\"id\": %s,"
                                 " \"user\": {\"id\": %s}}}",
                                 x, x),
                           buf, sizeof buf),
                  want);
        /* whitespace around the number, and none at all */
        snprintf(want, sizeof want, "%s//", x);
        CHECK_STR(s_ids_of(TWEET("{\"id\" \t:\r\n %s \n, \"text\": \"x\"}", x), buf, sizeof buf), want);
        CHECK_STR(s_ids_of(TWEET("{\"text\":\"x\",\"id\":%s}", x), buf, sizeof buf), want);
        CHECK_STR(s_ids_of(TWEET("{\"text\": \"x\", \"id\": %s  }", x), buf, sizeof buf), want);
    }

    /* a number that is not a plain non-negative integer up to 2^64 - 1 is no exact
     * id: the event is rejected, whose id it is said, and the number quoted */
    static const struct {
        const char *number, *why;
    } inexact[] = {
        {"18446744073709551616", "above 2^64 - 1"}, /* 2^64 */
        {"99999999999999999999", "above 2^64 - 1"},
        {"100000000000000000000", "above 2^64 - 1"},
        {"-1", "negative"},
        {"-0", "negative"},
        {"-9007199254740993", "negative"},
        {"1.5", "written with a fraction or an exponent"},
        {"12.0", "written with a fraction or an exponent"},
        {"7e18", "written with a fraction or an exponent"},
        {"7E18", "written with a fraction or an exponent"},
        {"1e+3", "written with a fraction or an exponent"},
        {"9007199254740993e0", "written with a fraction or an exponent"},
        {"0123", "written with a leading zero"},
        {"00", "written with a leading zero"},
    };
    for (size_t i = 0; i < sizeof inexact / sizeof inexact[0]; i++) {
        const char *x = inexact[i].number;
        char want[256];
        snprintf(want, sizeof want, "tweet has no exact id: id %s is %s, and no usable id_str", x,
                 inexact[i].why);
        ID_REJECTED(TWEET("{\"id\": %s}", x), want);
        ID_REJECTED(TWEET("{\"id_str\": \"\", \"id\": %s, \"user\": {\"id\": %s}}", x, x), want);
        snprintf(want, sizeof want, "tweet's user has no exact id: id %s is %s", x, inexact[i].why);
        ID_REJECTED(TWEET("{\"id_str\": \"5\", \"user\": {\"id\": %s}}", x), want);
        snprintf(want, sizeof want, "retweeted original has no exact id: id %s is %s", x, inexact[i].why);
        ID_REJECTED(TWEET("{\"id\": 5, \"retweeted_status\": {\"id\": %s, \"user\": {\"id\": 6}}}", x), want);
        snprintf(want, sizeof want, "retweeted original's user has no exact id: id %s is %s", x,
                 inexact[i].why);
        ID_REJECTED(
            TWEET("{\"id\": 5, \"retweeted_status\": {\"id_str\": \"4\", \"user\": {\"id\": %s}}}", x), want);
        /* an id_str makes the number irrelevant */
        CHECK_STR(s_ids_of(TWEET("{\"id_str\": \"5\", \"id\": %s, \"user\": {\"id_str\": \"6\", \"id\": %s},"
                                 " \"retweeted_status\": {\"id_str\": \"4\", \"id\": %s}}",
                                 x, x, x),
                           buf, sizeof buf),
                  "5/6/4 + 4/");
    }
    /* a long number is quoted cut short */
    ID_REJECTED("{\"id\": 1234567890123456789012345678901234567890}",
                "tweet has no exact id: id 123456789012345678901234... is above 2^64 - 1");
    /* the first reason is the tweet's, then its user's, then the original's */
    ID_REJECTED("{\"id\": -1, \"user\": {\"id\": -2}, \"retweeted_status\": {\"id\": -3}}",
                "tweet has no exact id");
    ID_REJECTED("{\"id\": 1, \"user\": {\"id\": -2}, \"retweeted_status\": {\"id\": -3}}",
                "tweet's user has");

    /* no id at all (missing, null, another type) is not an inexact one: a tweet is
     * rejected as before, a user has "", an original is no record (and its user,
     * whatever its id, is not read) */
    ID_REJECTED("{\"id\": \"7\", \"user\": {\"id\": 1}}", "tweet has no id (no id_str, no integer id)");
    ID_REJECTED("{\"id_str\": \"\", \"id\": true}", "tweet has no id (no id_str, no integer id)");
    CHECK_STR(s_ids_of("{\"id\": 9007199254740993, \"user\": {\"id\": null}}", buf, sizeof buf),
              "9007199254740993//");
    CHECK_STR(s_ids_of("{\"id\": 9007199254740993, \"user\": {\"id\": \"3\"}}", buf, sizeof buf),
              "9007199254740993//");
    CHECK_STR(s_ids_of("{\"id\": 9007199254740993, \"retweeted_status\": {\"user\": {\"id\": -1}}}", buf,
                       sizeof buf),
              "9007199254740993//");
    CHECK_STR(
        s_ids_of("{\"id\": 9007199254740993, \"retweeted_status\": {\"id\": null, \"user\": {\"id\": 1.5}}}",
                 buf, sizeof buf),
        "9007199254740993//");

    /* the digits are found by following the structure: not inside strings, not in
     * nested objects, not in a member of the wrong name, escaped names unescaped */
    CHECK_STR(
        s_ids_of("{\"text\": \"\\\"id\\\": 1, {\\\"id\\\": 2}\", \"id\": 9007199254740993}", buf, sizeof buf),
        "9007199254740993//");
    CHECK_STR(s_ids_of("{\"quoted_status\": {\"id\": 9007199254740995, \"user\": {\"id\": 9007199254740997}},"
                       " \"entities\": {\"user_mentions\": [{\"id\": 9007199254740999}, [{\"id\": 1}]]},"
                       " \"user\": {\"x\": {\"id\": 9007199254741001}, \"ids\": [1, {\"id\": 2}],"
                       " \"id\": 18446744073709551615},"
                       " \"idx\": 3, \"Id\": 4, \"i\": 5, \"id \": 6, \"id\": 9007199254740993}",
                       buf, sizeof buf),
              "9007199254740993/18446744073709551615/");
    CHECK_STR(s_ids_of("{\"i\\u0064\": 9007199254740993, \"user\": {\"\\u0069\\u0044\": 2, \"\\u0069d\": 3}}",
                       buf, sizeof buf),
              "9007199254740993/3/");
    /* a string ending in an escaped backslash, and one with an escaped quote, before the id */
    CHECK_STR(
        s_ids_of("{\"a\": \"x\\\\\", \"b\": \"\\\\\\\"\", \"c\": \"\\\\\\\\\", \"id\": 9007199254740993}",
                 buf, sizeof buf),
        "9007199254740993//");
    /* the first member of a name is the one read, as cJSON reads it */
    CHECK_STR(s_ids_of("{\"id\": 9007199254740993, \"id\": 5, \"user\": {\"id\": 7}, \"user\": {\"id\": 8}}",
                       buf, sizeof buf),
              "9007199254740993/7/");
    CHECK_STR(s_ids_of("{\"id\": 9007199254740993, \"retweeted_status\": {\"id\": 9007199254740995},"
                       " \"retweeted_status\": {\"id\": 2}}",
                       buf, sizeof buf),
              "9007199254740993//9007199254740995 + 9007199254740995/");
    /* brackets and quotes in long strings, across the scan's 16-byte blocks */
    CHECK_STR(
        s_ids_of(
            "{\"text\": \"[[[[[[[[{{{{{{{{\\\"\\\"\\\"\\\"]]]]]]]]}}}}}}}}\\\\\\\\\\\\\\\\abcdefghijklmnop"
            "\\\"}{][\\\"qrstuvwxyz0123456789\", \"entities\": {\"hashtags\": [{\"text\": \"[{\"}, "
            "{\"text\": \"}]\", \"indices\": [[0], [1, [2]]]}]}, \"user\": {\"name\": \"\\\"}\", "
            "\"id\": 18446744073709551614}, \"id\": 9007199254740993}",
            buf, sizeof buf),
        "9007199254740993/18446744073709551614/");
#undef TWEET

    /* the event around the tweet: other members of message and of the root first,
     * escaped names, a BOM and whitespace */
    rtp_decoded_t d;
    rtp_err_t err;
    const char *events[] = {
        "{\"x\": {\"message\": {\"tweet\": {\"id\": 1}}}, \"message\": {\"tweet0\": {\"id\": 2}, "
        "\"unix_timestamp_100us\": 5, \"tweet\": {\"id\": 9007199254740993}}}",
        "\xEF\xBB\xBF \r\n{ \"m\\u0065ssage\" : { \"twe\\u0065t\" :{\"id\":9007199254740993} } }\n",
        "{\"message\": {\"tweet\": {\"id\": 9007199254740993}, \"tweet\": {\"id\": 7}}}",
    };
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        CHECK_INT(s_decode(events[i], &d, &err), 0);
        CHECK_STR(d.count ? d.tweets[0].id : err.msg, "9007199254740993");
        rtp_decoded_clear(&d);
    }
}

static void test_time(void)
{
    const char *at = "\"created_at\": \"Wed Aug 27 13:08:45 +0000 2008\"";
    char tweet[256];
#define TWEET(...) (snprintf(tweet, sizeof tweet, __VA_ARGS__), tweet)
    /* timestamp_ms as a string or a number wins over created_at */
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": \"1461007847658\", %s}", at)) ==
          1461007847658LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": 1461007847658, %s}", at)) ==
          1461007847658LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": \"0\"}")) == 0);
    /* a timestamp_ms that is not a number falls back to created_at */
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": \"14610x\", %s}", at)) == 1219842525000LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": \"\", %s}", at)) == 1219842525000LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": \"-5\", %s}", at)) == 1219842525000LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": \"99999999999999999999\", %s}", at)) ==
          1219842525000LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": null, %s}", at)) == 1219842525000LL);
    CHECK(s_time_of(TWEET("{\"id_str\": \"1\", \"timestamp_ms\": true, %s}", at)) == 1219842525000LL);
    /* created_at alone, with the offset honoured (values from Python's datetime) */
    struct {
        const char *created_at;
        int64_t ms;
    } dates[] = {
        {"Wed Aug 27 13:08:45 +0000 2008", 1219842525000LL},
        {"Wed Aug 27 13:08:45 +0200 2008", 1219835325000LL},
        {"Wed Aug 27 13:08:45 -0530 2008", 1219862325000LL},
        {"Thu Feb 29 12:00:00 +0000 2024", 1709208000000LL},
        {"Mon Mar 01 00:00:00 +0000 2100", 4107542400000LL},
        {"Wed Dec 31 23:59:59 +0000 1969", -1000LL},
        {"Thu Jan 01 00:00:00 +0000 1970", 0},
        {"Fri Dec 31 23:59:59 +0000 9999", 253402300799000LL},
        {"Mon Jan 01 00:00:00 +0000 0001", -62135596800000LL},
        {"mon apr 18 19:30:47 +0000 2016", 1461007847000LL},
        /* not a date: 0 */
        {"Fri Feb 29 12:00:00 +0000 2023", 0},
        {"Tue Feb 29 12:00:00 +0000 2100", 0},
        {"Wed Aug 32 13:08:45 +0000 2008", 0},
        {"Wed Aug 27 24:08:45 +0000 2008", 0},
        {"Wed Aug 27 13:60:45 +0000 2008", 0},
        {"Wed Aug 27 13:08:60 +0000 2008", 0},
        {"Wed Aug 27 13:08:45 +0060 2008", 0},
        {"Wed Aug 27 13:08:45 0000 2008", 0},
        {"Wed Aug 27 13:08:45 +0000 2008 ", 0},
        {"Wed Aug 27 13:08:45 +0000 200", 0},
        {"Wed Aug 27 13:08:45 +0000 0000", 0},
        {"Xyz Aug 27 13:08:45 +0000 2008", 0},
        {"Wed Foo 27 13:08:45 +0000 2008", 0},
        {"Wed Aug 2x 13:08:45 +0000 2008", 0},
        {"2008-08-27T13:08:45Z", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        int64_t ms = s_time_of(TWEET("{\"id_str\": \"1\", \"created_at\": \"%s\"}", dates[i].created_at));
        if (ms != dates[i].ms)
            fprintf(stderr, "created_at \"%s\": got %lld, expected %lld\n", dates[i].created_at,
                    (long long) ms, (long long) dates[i].ms);
        CHECK(ms == dates[i].ms);
    }
    /* created_at is kept as written, even when it does not parse */
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode_tweet("{\"id_str\": \"1\", \"created_at\": \"yesterday\"}", &d, &err), 0);
    CHECK_STR(d.tweets[0].created_at, "yesterday");
    CHECK_INT(d.tweets[0].time_ms, 0);
    rtp_decoded_clear(&d);
#undef TWEET
}

static void test_hashtags(void)
{
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode_tweet(
                  "{\"id_str\": \"1\", \"entities\": {\"hashtags\": [{\"text\": \"One\"}, {\"text\": null},"
                  " {\"text\": \"two\"}, {\"text\": \"\"}, {\"text\": \"One\"}]}}",
                  &d, &err),
              0);
    CHECK_STR(d.tweets[0].hashtags, "One two One");
    rtp_decoded_clear(&d);
    CHECK_INT(s_decode_tweet("{\"id_str\": \"1\", \"entities\": {\"hashtags\": []}}", &d, &err), 0);
    CHECK_STR(d.tweets[0].hashtags, "");
    rtp_decoded_clear(&d);
}

static void test_retweet(void)
{
    const char *tweet =
        "{\"id_str\": \"200\", \"text\": \"RT @orig: hello\", \"favorite_count\": 0, \"retweet_count\": 0,"
        " \"lang\": \"en\", \"created_at\": \"Wed Aug 27 13:08:45 +0000 2008\","
        " \"user\": {\"id_str\": \"20\", \"name\": \"Retweeter\", \"screen_name\": \"rt\", "
        "\"followers_count\": 10},"
        " \"entities\": {\"hashtags\": []},"
        " \"retweeted_status\": {\"id_str\": \"100\", \"text\": \"hello\","
        "   \"extended_tweet\": {\"full_text\": \"hello in full #tag\"},"
        "   \"favorite_count\": 31, \"retweet_count\": 12, \"lang\": \"fr\","
        "   \"created_at\": \"Tue Aug 26 10:00:00 +0000 2008\", \"timestamp_ms\": \"1219744800123\","
        "   \"user\": {\"id_str\": \"10\", \"name\": \"Original\", \"screen_name\": \"orig\", "
        "\"followers_count\": 0},"
        "   \"entities\": {\"hashtags\": [{\"text\": \"tag\"}]}}}";
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(s_decode_tweet(tweet, &d, &err), 0);
    CHECK_INT(d.count, 2);
    const rtp_tweet_t *rt = &d.tweets[0], *orig = &d.tweets[1];
    /* [0]: the retweet as itself, with the original's engagement counts */
    CHECK_STR(rt->id, "200");
    CHECK_STR(rt->user_id, "20");
    CHECK_STR(rt->user_name, "Retweeter");
    CHECK_STR(rt->text, "RT @orig: hello");
    CHECK_STR(rt->hashtags, "");
    CHECK_STR(rt->lang, "en");
    CHECK_STR(rt->retweet_of, "100");
    CHECK_INT(rt->followers, 10);
    CHECK_INT(rt->favorites, 31);
    CHECK_INT(rt->retweets, 12);
    CHECK(rt->time_ms == 1219842525000LL);
    /* [1]: the original as a tweet of its own */
    CHECK_STR(orig->id, "100");
    CHECK_STR(orig->user_id, "10");
    CHECK_STR(orig->user_name, "Original");
    CHECK_STR(orig->screen_name, "orig");
    CHECK_STR(orig->text, "hello in full #tag");
    CHECK_STR(orig->hashtags, "tag");
    CHECK_STR(orig->created_at, "Tue Aug 26 10:00:00 +0000 2008");
    CHECK_STR(orig->lang, "fr");
    CHECK_STR(orig->retweet_of, "");
    CHECK_INT(orig->followers, 0);
    CHECK_INT(orig->favorites, 31);
    CHECK_INT(orig->retweets, 12);
    CHECK(orig->time_ms == 1219744800123LL);
    rtp_decoded_clear(&d);

    /* counts of a retweet come from the original even when the original's are
     * null and the retweet's are not */
    CHECK_INT(s_decode_tweet("{\"id_str\": \"2\", \"favorite_count\": 5, \"retweet_count\": 6,"
                             " \"retweeted_status\": {\"id\": 1, \"favorite_count\": null}}",
                             &d, &err),
              0);
    CHECK_INT(d.count, 2);
    CHECK_INT(d.tweets[0].favorites, 0);
    CHECK_INT(d.tweets[0].retweets, 0);
    CHECK_STR(d.tweets[0].retweet_of, "1");
    CHECK_STR(d.tweets[1].id, "1");
    CHECK_STR(d.tweets[1].user_id, "");
    rtp_decoded_clear(&d);

    /* an original without an id: the retweet alone, still with the original's
     * counts, and no retweet_of to point at */
    CHECK_INT(s_decode_tweet(
                  "{\"id_str\": \"2\", \"favorite_count\": 5, \"retweet_count\": 6,"
                  " \"retweeted_status\": {\"text\": \"x\", \"favorite_count\": 8, \"retweet_count\": 9}}",
                  &d, &err),
              0);
    CHECK_INT(d.kind, RTP_EVENT_TWEET);
    CHECK_INT(d.count, 1);
    CHECK_STR(d.tweets[0].id, "2");
    CHECK_STR(d.tweets[0].retweet_of, "");
    CHECK_INT(d.tweets[0].favorites, 8);
    CHECK_INT(d.tweets[0].retweets, 9);
    CHECK(d.tweets[1].blob_ == NULL);
    rtp_decoded_clear(&d);

    /* only one level: an original's own retweeted_status is not followed */
    CHECK_INT(s_decode_tweet("{\"id_str\": \"3\", \"retweeted_status\": {\"id_str\": \"2\","
                             " \"retweeted_status\": {\"id_str\": \"1\"}}}",
                             &d, &err),
              0);
    CHECK_INT(d.count, 2);
    CHECK_STR(d.tweets[1].retweet_of, "");
    rtp_decoded_clear(&d);
}

static void test_record_helpers(void)
{
    rtp_tweet_t t = {0}, u = {0};
    rtp_tweet_clear(&t); /* zeroed: nothing to free */
    CHECK_INT(rtp_tweet_set(&t, "1", "2", "Name", "sn", "text\there", "a b", "Wed Aug 27 13:08:45 +0000 2008",
                            "en", NULL),
              0);
    CHECK_STR(t.id, "1");
    CHECK_STR(t.text, "text\there");
    CHECK_STR(t.retweet_of, "");
    CHECK(t.id == t.blob_);
    t.followers = 3;
    t.favorites = 4;
    t.retweets = 5;
    t.time_ms = 6;
    /* set again from the record's own strings: the old blob is freed only after
     * the copy, and the numbers are kept */
    CHECK_INT(rtp_tweet_set(&t, t.text, t.id, t.user_name, NULL, NULL, NULL, NULL, NULL, t.lang), 0);
    CHECK_STR(t.id, "text\there");
    CHECK_STR(t.user_id, "1");
    CHECK_STR(t.user_name, "Name");
    CHECK_STR(t.screen_name, "");
    CHECK_STR(t.retweet_of, "en");
    CHECK_INT(t.followers, 3);

    CHECK_INT(rtp_tweet_copy(&u, &t), 0);
    CHECK(u.blob_ != t.blob_);
    CHECK_STR(u.id, "text\there");
    CHECK_STR(u.retweet_of, "en");
    CHECK_INT(u.followers, 3);
    CHECK_INT(u.favorites, 4);
    CHECK_INT(u.retweets, 5);
    CHECK_INT(u.time_ms, 6);
    CHECK_INT(rtp_tweet_copy(&u, &u), 0);
    CHECK_STR(u.user_name, "Name");
    rtp_tweet_clear(&t);
    CHECK(t.blob_ == NULL && t.id == NULL && t.followers == 0);
    rtp_tweet_clear(&t);            /* twice */
    CHECK_STR(u.user_name, "Name"); /* the copy owns its strings */

    /* copying over a record replaces it; copying a zeroed record gives "" */
    CHECK_INT(rtp_tweet_copy(&u, &t), 0);
    CHECK_STR(u.id, "");
    CHECK_STR(u.text, "");
    CHECK_INT(u.followers, 0);
    rtp_tweet_clear(&u);

    /* a decoded record copies like any other */
    rtp_decoded_t d;
    rtp_err_t err;
    CHECK_INT(
        s_decode_tweet("{\"id_str\": \"5\", \"text\": \"x\", \"user\": {\"followers_count\": 9}}", &d, &err),
        0);
    CHECK_INT(rtp_tweet_copy(&u, &d.tweets[0]), 0);
    rtp_decoded_clear(&d);
    rtp_decoded_clear(&d); /* twice */
    CHECK_INT(d.count, 0);
    CHECK_STR(u.id, "5");
    CHECK_INT(u.followers, 9);
    rtp_tweet_clear(&u);

    rtp_decoded_t zero = {0};
    rtp_decoded_clear(&zero);
    rtp_decoded_clear(NULL);
    rtp_tweet_clear(NULL);

    /* a result can be decoded into again once cleared */
    for (int i = 0; i < 3; i++) {
        CHECK_INT(s_decode_tweet("{\"id_str\": \"2\", \"retweeted_status\": {\"id_str\": \"1\"}}", &d, &err),
                  0);
        CHECK_INT(d.count, 2);
        rtp_decoded_clear(&d);
        CHECK_INT(s_decode("{\"message\": panic}", &d, &err), 0);
        rtp_decoded_clear(&d);
        CHECK_INT(s_decode("nope", &d, &err), -1);
        rtp_decoded_clear(&d);
    }
    /* err may be NULL */
    CHECK_INT(rtp_tweet_decode("nope", 4, &d, NULL), -1);
    rtp_decoded_clear(&d);
}

/* rtp_tweet_lengths reads the lengths off the record's layout: they must be the
 * strings' own, for records set, copied, decoded, and for a zeroed one. */
static void s_check_lengths(const rtp_tweet_t *t)
{
    const char *s[9] = {t->id,       t->user_id,    t->user_name, t->screen_name, t->text,
                        t->hashtags, t->created_at, t->lang,      t->retweet_of};
    size_t n[9];
    rtp_tweet_lengths(t, n);
    for (int i = 0; i < 9; i++)
        CHECK_INT(n[i], s[i] ? strlen(s[i]) : 0);
}

static void test_lengths(void)
{
    rtp_tweet_t t = {0}, copy = {0};
    s_check_lengths(&t);
    rtp_tweet_set(&t, "123", "", "Ann \xc3\xa9", NULL, "hello world", "a b", "", "en", "");
    s_check_lengths(&t);
    rtp_tweet_copy(&copy, &t);
    s_check_lengths(&copy);
    rtp_tweet_set(&t, t.text, t.id, "", "", "", "", "", "", "a longer last string"); /* its own strings */
    s_check_lengths(&t);
    CHECK_STR(t.id, "hello world");
    rtp_decoded_t d;
    rtp_err_t err;
    const char *ev = "{\"message\": {\"tweet\": {\"id_str\": \"7\", \"text\": \"x\\u00e9y\", "
                     "\"user\": {\"screen_name\": \"bob\"}, \"retweeted_status\": {\"id_str\": \"6\"}}}}";
    CHECK(rtp_tweet_decode(ev, strlen(ev), &d, &err) == 0 && d.count == 2);
    s_check_lengths(&d.tweets[0]);
    s_check_lengths(&d.tweets[1]);
    rtp_decoded_clear(&d);
    rtp_tweet_clear(&t);
    rtp_tweet_clear(&copy);
}

int main(void)
{
    test_lengths();
    test_panic();
    test_malformed();
    test_nesting();
    test_fields();
    test_duplicate_members();
    test_missing_and_null();
    test_text_precedence();
    test_text_bytes();
    test_ids();
    test_time();
    test_hashtags();
    test_retweet();
    test_record_helpers();
    return CHECK_DONE();
}
