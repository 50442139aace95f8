/* tweet: decodes one SSE event's data into compact tweet records (see tweet.h).
 *
 * The work is done in three steps, each cheap next to the one after it:
 *   1. the lab's panic message, which is not JSON, is recognised on the raw bytes;
 *   2. one pass over the bytes rejects what cJSON would accept silently: NUL
 *      bytes, invalid UTF-8, escaped NULs and \u escapes without four hex digits
 *      (records hold C strings); it stops only at non-ASCII bytes and backslashes;
 *   3. cJSON's tree is built once, into an arena (json_arena.h: no malloc and
 *      free per node), by json_parse.h's fast path when it takes the document
 *      (ordinary tweets: the very tree cJSON would build), else by cJSON itself,
 *      which stays the judge of the syntax; the fields SPEC section 1 lists are
 *      read from the tree in one pass over each object's members into records
 *      whose strings share one allocation each. When cJSON fails, a pass that follows strings and
 *      brackets says why: nesting deeper than cJSON allows, or an event cut off.
 * An id with no id_str is read from the text (json_raw.h), since cJSON's doubles
 * round 64-bit ids: that costs a scan, paid only by such events (s_read_ids).
 */
#include "tweet.h"

#include "json_arena.h"
#include "json_parse.h"
#include "json_raw.h"

#include <cJSON.h>
#include <ctype.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- records ---------------------------------------------------------------- */

enum { S_NSTR = 9 };

/* Points each string field of t at the matching slot of fields[]. */
static void s_string_slots(rtp_tweet_t *t, char **fields[S_NSTR])
{
    fields[0] = &t->id;
    fields[1] = &t->user_id;
    fields[2] = &t->user_name;
    fields[3] = &t->screen_name;
    fields[4] = &t->text;
    fields[5] = &t->hashtags;
    fields[6] = &t->created_at;
    fields[7] = &t->lang;
    fields[8] = &t->retweet_of;
}

/* Copies the strings (lens[i] bytes of values[i]) into one new allocation, then
 * frees the old one: the values may point into t's own strings. Numbers are left
 * alone. */
int rtp_tweet_set_n(rtp_tweet_t *t, const char *const values[S_NSTR], const size_t lens[S_NSTR])
{
    size_t total = 0;
    for (int i = 0; i < S_NSTR; i++)
        total += lens[i] + 1;
    char *blob = malloc(total);
    if (!blob)
        return -1;
    char **fields[S_NSTR];
    s_string_slots(t, fields);
    char *at = blob;
    for (int i = 0; i < S_NSTR; i++) {
        memcpy(at, values[i], lens[i]);
        at[lens[i]] = '\0';
        *fields[i] = at;
        at += lens[i] + 1;
    }
    free(t->blob_);
    t->blob_ = blob;
    return 0;
}

/* The same for NUL-terminated strings (NULL reads as ""). */
static int s_set_strings(rtp_tweet_t *t, const char *values[S_NSTR])
{
    size_t lens[S_NSTR];
    for (int i = 0; i < S_NSTR; i++) {
        if (!values[i])
            values[i] = "";
        lens[i] = strlen(values[i]);
    }
    return rtp_tweet_set_n(t, values, lens);
}

void rtp_tweet_lengths(const rtp_tweet_t *t, size_t lens[9])
{
    char **fields[S_NSTR];
    s_string_slots((rtp_tweet_t *) t, fields);
    /* the strings lie one after the other in the blob, each with its NUL: a
     * string's length is where the next one starts, less one */
    int laid_out = t->blob_ && *fields[0] == t->blob_;
    for (int i = 0; i < S_NSTR; i++) {
        const char *at = *fields[i];
        if (!at)
            lens[i] = 0;
        else if (laid_out && i + 1 < S_NSTR && *fields[i + 1] > at && (*fields[i + 1])[-1] == '\0')
            lens[i] = (size_t) (*fields[i + 1] - at) - 1;
        else
            lens[i] = strlen(at);
    }
}

/* t must be zeroed or hold a record: its old strings are freed (after the copy, so
 * the arguments may be t's own strings). Its numbers are left as they are, for the
 * caller to set. NULL arguments become "". */
int rtp_tweet_set(rtp_tweet_t *t, const char *id, const char *user_id, const char *user_name,
                  const char *screen_name, const char *text, const char *hashtags, const char *created_at,
                  const char *lang, const char *retweet_of)
{
    const char *values[S_NSTR] = {id,       user_id,    user_name, screen_name, text,
                                  hashtags, created_at, lang,      retweet_of};
    return s_set_strings(t, values);
}

/* Frees the strings and zeroes the record; safe on a zeroed or cleared record. */
void rtp_tweet_clear(rtp_tweet_t *t)
{
    if (!t)
        return;
    free(t->blob_);
    memset(t, 0, sizeof *t);
}

/* dst must be zeroed or hold a record (which is replaced). A zeroed src copies as
 * a record of empty strings and zero numbers. */
int rtp_tweet_copy(rtp_tweet_t *dst, const rtp_tweet_t *src)
{
    if (dst == src)
        return 0;
    const char *values[S_NSTR] = {src->id,       src->user_id,    src->user_name, src->screen_name, src->text,
                                  src->hashtags, src->created_at, src->lang,      src->retweet_of};
    if (s_set_strings(dst, values) != 0)
        return -1;
    dst->followers = src->followers;
    dst->favorites = src->favorites;
    dst->retweets = src->retweets;
    dst->time_ms = src->time_ms;
    return 0;
}

/* Frees both records; safe on a zeroed or cleared value. */
void rtp_decoded_clear(rtp_decoded_t *decoded)
{
    if (!decoded)
        return;
    rtp_tweet_clear(&decoded->tweets[0]);
    rtp_tweet_clear(&decoded->tweets[1]);
    memset(decoded, 0, sizeof *decoded);
}

/* --- checks on the raw bytes -------------------------------------------------- */

static bool s_is_json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* True for the lab's `{"message": panic}`, with any JSON whitespace between and
 * around the tokens. */
static bool s_is_panic(const unsigned char *p, size_t len)
{
    static const char *const tokens[] = {"{", "\"message\"", ":", "panic", "}"};
    size_t at = 0;
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        while (at < len && s_is_json_space(p[at]))
            at++;
        size_t n = strlen(tokens[i]);
        if (len - at < n || memcmp(p + at, tokens[i], n) != 0)
            return false;
        at += n;
    }
    while (at < len && s_is_json_space(p[at]))
        at++;
    return at == len;
}

/* Length of the valid UTF-8 sequence (RFC 3629) starting at p[0] >= 0x80, or 0
 * with *why set. Overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and code
 * points above U+10FFFF are invalid, as are stray and missing continuation bytes. */
static size_t s_utf8_sequence(const unsigned char *p, size_t avail, const char **why)
{
    unsigned char c = p[0];
    size_t n;
    /* The second byte's range is what rules out overlongs, surrogates and values
     * past U+10FFFF; later continuation bytes are always 0x80..0xBF. */
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0xC0) {
        *why = "unexpected continuation byte";
        return 0;
    } else if (c < 0xC2) {
        *why = "overlong encoding";
        return 0;
    } else if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *why = "code point above U+10FFFF";
        return 0;
    }
    if (avail < 2 || p[1] < 0x80 || p[1] > 0xBF) {
        *why = "truncated sequence";
        return 0;
    }
    if (p[1] < lo) {
        *why = "overlong encoding";
        return 0;
    }
    if (p[1] > hi) {
        *why = c == 0xED ? "UTF-16 surrogate" : "code point above U+10FFFF";
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (i >= avail || p[i] < 0x80 || p[i] > 0xBF) {
            *why = "truncated sequence";
            return 0;
        }
    }
    return n;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* From i, the index of the first NUL, backslash or byte >= 0x80, 16 bytes at a
 * time; stops at the last whole block. */
static size_t s_skip_ascii(const unsigned char *p, size_t i, size_t len)
{
    const __m128i zero = _mm_setzero_si128(), backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (p + i));
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, zero), _mm_cmpeq_epi8(v, backslash));
        unsigned mask = (unsigned) _mm_movemask_epi8(_mm_or_si128(v, hit));
        if (mask)
            return i + (size_t) __builtin_ctz(mask);
    }
    return i;
}
#else
static size_t s_skip_ascii(const unsigned char *p, size_t i, size_t len)
{
    (void) p, (void) len;
    return i;
}
#endif

/* Whether p holds four hex digits (len: the bytes available). */
static int s_four_hex(const unsigned char *p, size_t len)
{
    if (len < 4)
        return 0;
    for (int k = 0; k < 4; k++)
        if (!isxdigit(p[k]))
            return 0;
    return 1;
}

/* What cJSON does not check, over the whole event: no NUL byte, valid UTF-8, no
 * escaped NUL (\u0000: a record's strings end at a NUL), no \u without four hex
 * digits (which cJSON also reads as a NUL). Strings need not be told
 * apart from the rest for these, so this pass stops only at non-ASCII bytes and
 * backslashes, which makes it much cheaper than one that follows strings
 * (s_check_structure, run only when cJSON has failed). */
static int s_check_content(const unsigned char *p, size_t len, rtp_err_t *err)
{
    size_t i = 0;
    for (;;) {
        i = s_skip_ascii(p, i, len);
        while (i < len && p[i] != 0 && p[i] != '\\' && p[i] < 0x80)
            i++;
        if (i == len)
            return 0;
        if (p[i] == 0)
            return rtp_err_set(err, "NUL byte in data at byte %zu", i);
        if (p[i] == '\\') {
            /* an escape: valid JSON has backslashes only in strings, each starting
             * one, so taking them pair by pair tells \\u0000 (text) from \u0000 */
            if (len - i >= 6 && memcmp(p + i + 1, "u0000", 5) == 0)
                return rtp_err_set(err, "escaped NUL (\\u0000) in a string at byte %zu", i);
            /* cJSON reads a \u not followed by four hex digits as U+0000: it would
             * silently cut the string short there */
            if (i + 1 < len && p[i + 1] == 'u' && !s_four_hex(p + i + 2, len - i - 2))
                return rtp_err_set(err, "\\u not followed by four hex digits in a string at byte %zu", i);
            i += i + 1 < len && p[i + 1] != 0 && p[i + 1] < 0x80 ? 2 : 1;
            continue;
        }
        do {   /* a run of multi-byte characters (a Japanese text, emoji) at once */
            const char *why = NULL;
            size_t n = s_utf8_sequence(p + i, len - i, &why);
            if (n == 0)
                return rtp_err_set(err, "invalid UTF-8 at byte %zu (%s)", i, why);
            i += n;
        } while (i < len && p[i] >= 0x80);
    }
}

/* After cJSON failed on valid bytes (s_check_content passed), why: nesting deeper
 * than cJSON allows (an error, returned), or where cJSON reports running out of
 * bytes, in *cut_at, to tell a cut-off event from a syntax error: just after the
 * opening quote of a string left open, else the last byte if an object or array
 * is left open, else SIZE_MAX. Strings are followed only so that brackets inside
 * them do not count; cJSON remains the judge of the syntax. */
static int s_check_structure(const unsigned char *p, size_t len, size_t *cut_at, rtp_err_t *err)
{
    bool in_string = false;
    int depth = 0;
    size_t string_at = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"') {
            string_at = i;
            in_string = !in_string;
        } else if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
        } else if (c == '{' || c == '[') {
            if (++depth > CJSON_NESTING_LIMIT)
                return rtp_err_set(err, "JSON nested deeper than %d levels at byte %zu", CJSON_NESTING_LIMIT,
                                   i);
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    *cut_at = in_string ? string_at + 1 : depth > 0 ? len - 1 : SIZE_MAX;
    return 0;
}

/* Writes up to 16 bytes of p from at into buf (cap >= 20) for a reason line:
 * control characters become '?', and a multi-byte character cut by either end is
 * left out whole. The bytes are known to be valid UTF-8 without NULs. */
static const char *s_excerpt(char *buf, const unsigned char *p, size_t len, size_t at)
{
    while (at < len && (p[at] & 0xC0) == 0x80)
        at++;
    size_t n = len > at ? len - at : 0;
    if (n > 16) {
        n = 16;
        /* back off to the start of the character the limit cuts, if any */
        size_t start = n;
        while (start > 0 && (p[at + start] & 0xC0) == 0x80)
            start--;
        n = start;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = p[at + i] < 0x20 || p[at + i] == 0x7F ? '?' : (char) p[at + i];
    buf[n] = '\0';
    return buf;
}

/* --- reading fields -------------------------------------------------------- */

/* The members of a status (a tweet, or its retweeted original) and of its user
 * that the records use, found in one pass over the members. As with
 * cJSON_GetObjectItemCaseSensitive, the first of two members with the same name
 * is the one read; a member of the wrong type reads as missing. */
typedef struct {
    const cJSON *id_str, *id, *user, *extended_tweet, *full_text, *text, *entities, *created_at, *lang,
        *timestamp_ms, *favorite_count, *retweet_count, *retweeted_status;
    const cJSON *user_id_str, *user_id, *user_name, *screen_name, *followers_count;
} status_fields_t;

/* A member the records read, and where status_fields_t keeps it. */
typedef struct {
    const char *name;
    size_t slot; /* offsetof(status_fields_t, ...) */
} member_t;

#define S_MEMBER(name, field) {name, offsetof(status_fields_t, field)}
static const member_t s_status_members[] = {
    S_MEMBER("id_str", id_str),           S_MEMBER("id", id),
    S_MEMBER("user", user),               S_MEMBER("extended_tweet", extended_tweet),
    S_MEMBER("full_text", full_text),     S_MEMBER("text", text),
    S_MEMBER("entities", entities),       S_MEMBER("created_at", created_at),
    S_MEMBER("lang", lang),               S_MEMBER("timestamp_ms", timestamp_ms),
    S_MEMBER("favorite_count", favorite_count), S_MEMBER("retweet_count", retweet_count),
    S_MEMBER("retweeted_status", retweeted_status),
};
static const member_t s_user_members[] = {
    S_MEMBER("id_str", user_id_str), S_MEMBER("id", user_id),           S_MEMBER("name", user_name),
    S_MEMBER("screen_name", screen_name), S_MEMBER("followers_count", followers_count),
};
#undef S_MEMBER

/* One pass over object's members: each named in the table goes to its slot in f,
 * the first of two with the same name winning. Once every slot is filled the rest
 * cannot change anything, and the pass ends (a user's members we read come before
 * most of its ~40 others). */
static void s_members(const cJSON *object, const member_t *table, size_t n, status_fields_t *f)
{
    if (!cJSON_IsObject(object))
        return;
    size_t filled = 0;
    for (const cJSON *m = object->child; m && filled < n; m = m->next) {
        const char *k = m->string;
        for (size_t i = 0; k && i < n; i++)
            /* the first two bytes first (k[1] exists when k[0] matched a name's
             * non-NUL first byte): most members are none of ours */
            if (k[0] == table[i].name[0] && k[1] == table[i].name[1] && strcmp(k, table[i].name) == 0) {
                const cJSON **slot = (const cJSON **) ((char *) f + table[i].slot);
                if (!*slot) {
                    *slot = m;
                    filled++;
                }
                break;
            }
    }
}

static void s_status_fields(const cJSON *status, status_fields_t *f)
{
    memset(f, 0, sizeof *f);
    s_members(status, s_status_members, sizeof s_status_members / sizeof s_status_members[0], f);
    s_members(f->user, s_user_members, sizeof s_user_members / sizeof s_user_members[0], f);
}

static const cJSON *s_get(const cJSON *object, const char *name)
{
    return cJSON_IsObject(object) ? cJSON_GetObjectItemCaseSensitive(object, name) : NULL;
}

/* A string item's value, or NULL if it is missing, null or not a string. */
static const char *s_string(const cJSON *item)
{
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The string value of object.name, or NULL if it is missing, null or not a string. */
static const char *s_str(const cJSON *object, const char *name)
{
    return s_string(s_get(object, name));
}

/* A JSON number as an integer, truncated toward zero and clamped to int64;
 * missing, null, non-numbers and NaN read as 0. */
static int64_t s_int(const cJSON *item)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double d = item->valuedouble;
    if (d != d)
        return 0;
    if (d >= 9223372036854775808.0)
        return INT64_MAX;
    if (d < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t) d;
}

/* A string of decimal digits as an int64, or -1 if it is empty, has any other
 * byte, or overflows. */
static int s_parse_digits(const char *s, int64_t *value)
{
    if (!*s)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        int digit = *s - '0';
        if (v > (INT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    *value = v;
    return 0;
}

/* Reads n decimal digits exactly. */
static int s_fixed_digits(const char *s, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return 0;
}

static int s_name_index(const char *s, const char *const names[], int count)
{
    for (int i = 0; i < count; i++)
        if (strncasecmp(s, names[i], 3) == 0)
            return i;
    return -1;
}

static bool s_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Leap years in 1..y (y >= 0). */
static int64_t s_leaps_through(int64_t y)
{
    return y / 4 - y / 100 + y / 400;
}

/* Twitter's created_at, "Wed Aug 27 13:08:45 +0000 2008", as ms since the epoch
 * (the offset is honoured), or -1 if it is not in that form or not a real date.
 * Written out by hand because strptime and timegm depend on locale and libc. */
static int s_parse_created_at(const char *s, int64_t *ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    /* "Www Mmm DD HH:MM:SS +hhmm YYYY": fixed columns, 30 bytes */
    if (strlen(s) != 30 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[13] != ':' || s[16] != ':' ||
        s[19] != ' ' || s[25] != ' ' || (s[20] != '+' && s[20] != '-'))
        return -1;
    int month = s_name_index(s + 4, months, 12);
    int day, hour, minute, second, off_h, off_m, year;
    if (s_name_index(s, days, 7) < 0 || month < 0 || s_fixed_digits(s + 8, 2, &day) ||
        s_fixed_digits(s + 11, 2, &hour) || s_fixed_digits(s + 14, 2, &minute) ||
        s_fixed_digits(s + 17, 2, &second) || s_fixed_digits(s + 21, 2, &off_h) ||
        s_fixed_digits(s + 23, 2, &off_m) || s_fixed_digits(s + 26, 4, &year))
        return -1;
    int last_day = month_days[month] + (month == 1 && s_leap(year));
    if (year < 1 || day < 1 || day > last_day || hour > 23 || minute > 59 || second > 59 || off_m > 59)
        return -1;
    int64_t days_since = (int64_t) (year - 1970) * 365 + s_leaps_through(year - 1) - s_leaps_through(1969);
    for (int m = 0; m < month; m++)
        days_since += month_days[m] + (m == 1 && s_leap(year));
    days_since += day - 1;
    int64_t offset = (s[20] == '-' ? -1 : 1) * (int64_t) (off_h * 3600 + off_m * 60);
    *ms = (days_since * 86400 + hour * 3600 + minute * 60 + second - offset) * 1000;
    return 0;
}

/* timestamp_ms (a string of digits or a number), else created_at, else 0. */
static int64_t s_time_ms(const status_fields_t *f)
{
    const cJSON *ts = f->timestamp_ms;
    int64_t ms;
    if (cJSON_IsString(ts) && s_parse_digits(ts->valuestring, &ms) == 0)
        return ms;
    if (cJSON_IsNumber(ts))
        return s_int(ts);
    const char *created_at = s_string(f->created_at);
    if (created_at && s_parse_created_at(created_at, &ms) == 0)
        return ms;
    return 0;
}

/* entities.hashtags[].text joined with single spaces, in a malloc'd string (which
 * may be "") or NULL if out of memory. Entries without a non-empty text are
 * skipped so that no double spaces appear. */
static char *s_hashtags(const status_fields_t *f)
{
    const cJSON *list = s_get(f->entities, "hashtags");
    if (!cJSON_IsArray(list))
        list = NULL;
    size_t total = 1;
    const cJSON *tag;
    cJSON_ArrayForEach(tag, list)
    {
        const char *text = s_str(tag, "text");
        if (text && *text)
            total += strlen(text) + 1;
    }
    char *joined = malloc(total);
    if (!joined)
        return NULL;
    char *at = joined;
    cJSON_ArrayForEach(tag, list)
    {
        const char *text = s_str(tag, "text");
        if (text && *text) {
            if (at != joined)
                *at++ = ' ';
            size_t n = strlen(text);
            memcpy(at, text, n);
            at += n;
        }
    }
    *at = '\0';
    return joined;
}

/* --- ids ------------------------------------------------------------------ */

/* The ids the records need, and whose they are (for reasons). */
enum { ID_TWEET, ID_USER, ID_ORIGINAL, ID_ORIGINAL_USER, ID_COUNT };
static const char *const s_id_owner[ID_COUNT] = {"tweet", "tweet's user", "retweeted original",
                                                 "retweeted original's user"};

typedef struct {
    const char *value[ID_COUNT]; /* NULL: no id */
    char digits[ID_COUNT][24];   /* the ids taken from the text */
} ids_t;

static bool s_member(const char *text, size_t len, size_t object, const char *name, size_t *value)
{
    bool found;
    return rtp_json_members(text, len, object, &name, 1, value, &found) == 1;
}

/* Where the `id` members are in the text (offsets of their values) of the status
 * at offset `status` (slot 0) and of its user (slot 1), and with `original` of its
 * retweeted_status and that one's user (slots 2 and 3): the slots need[] asks for,
 * each found[] or not. One pass over each object, which stops once it has what it
 * looks for. */
static void s_id_offsets(const char *text, size_t len, size_t status, const bool need[], bool original,
                         size_t at[], bool found[])
{
    const char *names[3];
    int slot[3];
    size_t n = 0;
    if (need[0])
        names[n] = "id", slot[n++] = 0;
    if (need[1])
        names[n] = "user", slot[n++] = 1;
    if (original && (need[2] || need[3]))
        names[n] = "retweeted_status", slot[n++] = 2;
    size_t values[3];
    bool got[3];
    if (n == 0 || rtp_json_members(text, len, status, names, n, values, got) <= 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!got[i])
            continue;
        if (slot[i] == 0)
            at[0] = values[i], found[0] = true;
        else if (slot[i] == 1)
            found[1] = s_member(text, len, values[i], "id", &at[1]);
        else
            s_id_offsets(text, len, values[i], need + 2, false, at + 2, found + 2);
    }
}

/* The id written as the n bytes at lit (a JSON number cJSON read as `value`) into
 * buf (cap >= 24) if it is a plain non-negative integer up to 2^64 - 1: digits
 * only, no sign, fraction, exponent or leading zero. Else -1, the reason naming
 * whose id it is and quoting it. */
static int s_id_digits(const char *lit, size_t n, double value, const char *owner, char *buf, rtp_err_t *err)
{
    size_t digits = 0;
    while (digits < n && lit[digits] >= '0' && lit[digits] <= '9')
        digits++;
    const char *why = n == 0                   ? "not found in the text"
                      : lit[0] == '-'          ? "negative"
                      : digits < n             ? "written with a fraction or an exponent"
                      : n > 1 && lit[0] == '0' ? "written with a leading zero"
                      : n > 20 || (n == 20 && memcmp(lit, "18446744073709551615", 20) > 0) ? "above 2^64 - 1"
                                                                                           : NULL;
    uint64_t v = 0;
    if (!why) {
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (uint64_t) (lit[i] - '0');
        /* the digits found must be the number cJSON parsed there: a check on the scan */
        if ((double) v != value)
            why = "not the number cJSON parsed there (the scan of the text is wrong)";
    }
    if (!why) {
        memcpy(buf, lit, n);
        buf[n] = '\0';
        return 0;
    }
    /* quoted as written (a JSON number is printable ASCII), at most 24 bytes of it */
    size_t shown = 0;
    while (shown < n && shown < 24 && lit[shown] > 0x20 && lit[shown] < 0x7F)
        shown++;
    return rtp_err_set(err, "%s has no exact id: id %.*s%s is %s, and no usable id_str", owner, (int) shown,
                       lit, shown < n ? "..." : "", why);
}

/* The ids of the tweet, its user, its original and the original's user from their
 * id_str and id members (item pairs, NULL where there is no such object), as SPEC
 * section 1 says: id_str if it is a non-empty string, else the exact digits of a
 * numeric id. cJSON keeps numbers as doubles, which round ids past 2^53 (every
 * tweet id since 2010): those digits are read from the event's text, only for the
 * ids that have no id_str, which keeps the common case as fast as it was.
 *
 * A missing or null id (or one of the wrong type) is no id: the tweet is then
 * rejected, an original is not a record, a user is "". A numeric id that is not
 * a plain non-negative integer up to 2^64 - 1 is rejected with the whole event:
 * storing the rows without it would change them silently (a retweet without its
 * link, a user's totals without the tweet), and a rounded id is never stored. An
 * original without an id has no user to read. 0, or -1 with the reason in err. */
static int s_read_ids(const cJSON *const id_str[ID_COUNT], const cJSON *const id[ID_COUNT], const char *text,
                      size_t len, ids_t *ids, rtp_err_t *err)
{
    bool need[ID_COUNT] = {false}, any = false;
    for (int k = 0; k < ID_COUNT; k++) {
        const char *s = s_string(id_str[k]);
        ids->value[k] = s && *s ? s : NULL;
        need[k] = !ids->value[k] && cJSON_IsNumber(id[k]);
        if (k == ID_ORIGINAL_USER && !ids->value[ID_ORIGINAL] && !need[ID_ORIGINAL])
            need[k] = false;
        any = any || need[k];
    }
    if (!ids->value[ID_TWEET] && !need[ID_TWEET])
        return rtp_err_set(err, "tweet has no id (no id_str, no integer id)");
    if (!any)
        return 0;
    size_t root, message, tweet, at[ID_COUNT];
    bool found[ID_COUNT] = {false};
    if (rtp_json_root(text, len, &root) == 0 && s_member(text, len, root, "message", &message) &&
        s_member(text, len, message, "tweet", &tweet))
        s_id_offsets(text, len, tweet, need, true, at, found);
    for (int k = 0; k < ID_COUNT; k++) {
        if (!need[k])
            continue;
        const char *lit = found[k] ? text + at[k] : "";
        size_t n = found[k] ? rtp_json_value_len(text, len, at[k]) : 0;
        if (s_id_digits(lit, n, id[k]->valuedouble, s_id_owner[k], ids->digits[k], err) != 0)
            return -1;
        ids->value[k] = ids->digits[k];
    }
    return 0;
}

/* --- records ----------------------------------------------------------------- */

/* Fills t from a status's members f; its ids are id and user_id (NULL: none). The
 * engagement counts come from counts_from (the status's own members, or the
 * retweeted original's). */
static int s_decode_status(const status_fields_t *f, const char *id, const char *user_id,
                           const status_fields_t *counts_from, const char *retweet_of, rtp_tweet_t *t,
                           rtp_err_t *err)
{
    const char *text = s_str(f->extended_tweet, "full_text");
    if (!text)
        text = s_string(f->full_text);
    if (!text)
        text = s_string(f->text);

    char *hashtags = s_hashtags(f);
    if (!hashtags)
        return rtp_err_set(err, "out of memory");
    int rc = rtp_tweet_set(t, id, user_id, s_string(f->user_name), s_string(f->screen_name), text, hashtags,
                           s_string(f->created_at), s_string(f->lang), retweet_of);
    free(hashtags);
    if (rc != 0)
        return rtp_err_set(err, "out of memory");
    t->followers = s_int(f->followers_count);
    t->favorites = s_int(counts_from->favorite_count);
    t->retweets = s_int(counts_from->retweet_count);
    t->time_ms = s_time_ms(f);
    return 0;
}

/* Reads the records out of a parsed event; text is the event's data. */
static int s_decode_tree(const cJSON *root, const char *text, size_t len, rtp_decoded_t *out, rtp_err_t *err)
{
    if (!cJSON_IsObject(root))
        return rtp_err_set(err, "wrong shape: the JSON is not an object");
    const cJSON *message = s_get(root, "message");
    if (!message)
        return rtp_err_set(err, "wrong shape: no \"message\"");
    if (!cJSON_IsObject(message))
        return rtp_err_set(err, "wrong shape: \"message\" is not an object");
    const cJSON *tweet = s_get(message, "tweet");
    if (!tweet)
        return rtp_err_set(err, "wrong shape: no \"message.tweet\"");
    if (!cJSON_IsObject(tweet))
        return rtp_err_set(err, "wrong shape: \"message.tweet\" is not an object");
    status_fields_t tf, of;
    s_status_fields(tweet, &tf);
    const cJSON *original = cJSON_IsObject(tf.retweeted_status) ? tf.retweeted_status : NULL;
    s_status_fields(original, &of);
    const cJSON *const id_str[ID_COUNT] = {tf.id_str, tf.user_id_str, of.id_str, of.user_id_str};
    const cJSON *const id[ID_COUNT] = {tf.id, tf.user_id, of.id, of.user_id};
    ids_t ids;
    if (s_read_ids(id_str, id, text, len, &ids, err) != 0)
        return -1;
    out->sent_100us = s_int(s_get(message, "unix_timestamp_100us"));

    /* An original without an id cannot be stored as a tweet of its own: the retweet
     * is still decoded (with the original's counts, as SPEC section 2 says) and
     * the event yields one record, with an empty retweet_of. */
    const char *original_id = ids.value[ID_ORIGINAL];
    if (original_id &&
        s_decode_status(&of, original_id, ids.value[ID_ORIGINAL_USER], &of, "", &out->tweets[1], err) != 0)
        return -1;
    if (s_decode_status(&tf, ids.value[ID_TWEET], ids.value[ID_USER], original ? &of : &tf,
                        original_id ? original_id : "", &out->tweets[0], err) != 0)
        return -1;
    out->count = original_id ? 2 : 1;
    return 0;
}

/* --- the decoder ------------------------------------------------------------- */

/* out is overwritten (not freed): clear it before decoding into it again. */
int rtp_tweet_decode(const char *data, size_t len, rtp_decoded_t *out, rtp_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->kind = RTP_EVENT_MALFORMED;
    const unsigned char *p = (const unsigned char *) data;
    if (!data || len == 0)
        return rtp_err_set(err, "empty data");
    if (s_is_panic(p, len)) {
        out->kind = RTP_EVENT_PANIC;
        return 0;
    }
    if (s_check_content(p, len, err) != 0)
        return -1;

    const char *end = NULL;
    /* the tree lives in the arena until rtp_json_arena_end(): records copy from it */
    rtp_json_arena_begin();
    cJSON *root = rtp_json_parse(data, len, &end); /* cJSON's tree, when the fast path takes it */
    if (!root)
        root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        rtp_json_arena_end();
        /* the bytes are valid: the structure is what failed (too deep, or cut off) */
        size_t cut_at = SIZE_MAX;
        if (s_check_structure(p, len, &cut_at, err) != 0)
            return -1;
        size_t at = end && end >= data && end <= data + len ? (size_t) (end - data) : len;
        char near[20];
        if (at >= len || at == cut_at)
            return rtp_err_set(err, "not JSON: unexpected end after %zu bytes", len);
        return rtp_err_set(err, "not JSON: syntax error at byte %zu near '%s'", at,
                           s_excerpt(near, p, len, at));
    }
    size_t at = (size_t) (end - data);
    while (at < len && s_is_json_space(p[at]))
        at++;
    int rc;
    if (at < len) {
        char near[20];
        rc = rtp_err_set(err, "not JSON: trailing bytes at byte %zu near '%s'", at,
                         s_excerpt(near, p, len, at));
    } else {
        rc = s_decode_tree(root, data, len, out, err);
    }
    rtp_json_arena_end(); /* the tree is gone: no cJSON_Delete */
    if (rc != 0) {
        rtp_tweet_clear(&out->tweets[0]);
        rtp_tweet_clear(&out->tweets[1]);
        out->count = 0;
        out->sent_100us = 0;
        return -1;
    }
    out->kind = RTP_EVENT_TWEET;
    return 0;
}
