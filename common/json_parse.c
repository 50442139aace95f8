/* json_parse: cJSON's tree from ordinary documents, faster (see json_parse.h).
 *
 * The grammar followed is cJSON 1.7's, restricted: whitespace is any byte up to
 * 0x20 (as cJSON skips it); literals are matched on their letters, so "nullx"
 * reads as null followed by a byte that the enclosing container then refuses, as
 * in cJSON; arrays and objects as cJSON links them (child, next, prev, and the
 * first child's prev pointing at the last). Every case this file does not read
 * exactly as cJSON would returns -1 up to rtp_json_parse, which returns NULL: the
 * caller then parses with cJSON. The nodes and strings come from the json_arena.
 */
#include "json_parse.h"

#include "json_arena.h"

#include <limits.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p;
    size_t len, at;
    size_t depth;
} s_in_t;

static int s_value(s_in_t *in, cJSON *item);

static cJSON *s_node(void)
{
    cJSON *n = rtp_json_arena_alloc(sizeof *n);
    if (n)
        memset(n, 0, sizeof *n);
    return n;
}

static void s_skip_space(s_in_t *in)
{
    while (in->at < in->len && in->p[in->at] <= 32)
        in->at++;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* From i, the index of the first '"' or '\\', 16 bytes at a time; stops at the
 * last whole block. */
static size_t s_skip_plain(const unsigned char *p, size_t i, size_t len)
{
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (p + i));
        unsigned mask = (unsigned) _mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (mask)
            return i + (size_t) __builtin_ctz(mask);
    }
    return i;
}
#else
static size_t s_skip_plain(const unsigned char *p, size_t i, size_t len)
{
    (void) p, (void) len;
    return i;
}
#endif

/* Four hex digits at p as a number, or -1 if any is not one (cJSON reads such
 * an escape as U+0000: left to cJSON). */
static long s_hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* A \u escape (or a surrogate pair of two) at s[i] of a string whose content ends
 * at s[end]: its UTF-8 into *out; the escape's length, or 0 if cJSON would not
 * read it so (it fails on lone or reversed surrogates and on a cut-off escape). */
static size_t s_unicode(const unsigned char *s, size_t i, size_t end, unsigned char **out)
{
    if (end - i < 6)
        return 0;
    long first = s_hex4(s + i + 2);
    if (first < 0 || (first >= 0xDC00 && first <= 0xDFFF))
        return 0;
    unsigned long cp = (unsigned long) first;
    size_t used = 6;
    if (first >= 0xD800 && first <= 0xDBFF) {
        if (end - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u')
            return 0;
        long second = s_hex4(s + i + 8);
        if (second < 0xDC00 || second > 0xDFFF)
            return 0;
        cp = 0x10000 + (((unsigned long) first & 0x3FF) << 10 | ((unsigned long) second & 0x3FF));
        used = 12;
    }
    unsigned char *o = *out;
    if (cp < 0x80) {
        *o++ = (unsigned char) cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char) (0xC0 | cp >> 6);
        *o++ = (unsigned char) (0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char) (0xE0 | cp >> 12);
        *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char) (0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char) (0xF0 | cp >> 18);
        *o++ = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char) (0x80 | (cp & 0x3F));
    }
    *out = o;
    return used;
}

/* The string whose opening quote is at in->at, unescaped into a new NUL-terminated
 * allocation. Its end is found as cJSON finds it: the first quote not right after
 * a backslash that is itself not escaped. */
static int s_string(s_in_t *in, char **out)
{
    const unsigned char *p = in->p;
    size_t start = in->at + 1, i = start, len = in->len;
    int escaped = 0;
    for (;;) {
        i = s_skip_plain(p, i, len);
        while (i < len && p[i] != '"' && p[i] != '\\')
            i++;
        if (i >= len)
            return -1; /* not closed */
        if (p[i] == '"')
            break;
        if (i + 1 >= len)
            return -1;
        escaped = 1;
        i += 2;
    }
    size_t end = i;
    unsigned char *s = rtp_json_arena_alloc(end - start + 1);
    if (!s)
        return -1;
    if (!escaped) {
        memcpy(s, p + start, end - start);
        s[end - start] = '\0';
    } else {
        unsigned char *o = s;
        size_t k = start;
        while (k < end) {
            const unsigned char *bs = memchr(p + k, '\\', end - k);
            size_t plain = bs ? (size_t) (bs - (p + k)) : end - k;
            memcpy(o, p + k, plain);
            o += plain;
            k += plain;
            if (k >= end)
                break;
            size_t used = 2;
            switch (p[k + 1]) {
            case 'b':
                *o++ = '\b';
                break;
            case 'f':
                *o++ = '\f';
                break;
            case 'n':
                *o++ = '\n';
                break;
            case 'r':
                *o++ = '\r';
                break;
            case 't':
                *o++ = '\t';
                break;
            case '"':
            case '\\':
            case '/':
                *o++ = p[k + 1];
                break;
            case 'u':
                used = s_unicode(p, k, end, &o);
                if (used == 0)
                    return -1;
                break;
            default:
                return -1;
            }
            k += used;
        }
        *o = '\0';
    }
    *out = (char *) s;
    in->at = end + 1;
    return 0;
}

static void s_set_number(cJSON *item, double d)
{
    item->valuedouble = d;
    item->valueint = d >= INT_MAX ? INT_MAX : d <= (double) INT_MIN ? INT_MIN : (int) d;
    item->type = cJSON_Number;
}

/* A number as cJSON reads it: the run of bytes that may belong to a number, its
 * '.' made the locale's decimal point, through strtod; the number ends where
 * strtod stopped. cJSON versions differ on runs of 64 bytes and more (1.7.15 cut
 * them at 63, Debian's patched one reads them whole): those are left to cJSON. */
static int s_number_strtod(s_in_t *in, cJSON *item)
{
    char buf[64];
    char point = localeconv()->decimal_point[0];
    size_t n = 0;
    for (; in->at + n < in->len; n++) {
        unsigned char c = in->p[in->at + n];
        if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.'))
            break;
        if (n == sizeof buf - 1)
            return -1;
        buf[n] = c == '.' ? point : (char) c;
    }
    buf[n] = '\0';
    char *after = NULL;
    double d = strtod(buf, &after);
    if (after == buf)
        return -1;
    s_set_number(item, d);
    in->at += (size_t) (after - buf);
    return 0;
}

/* A number: an integer of 1 to 19 digits (no leading zero), with or without a
 * minus, is read here: its double is the one strtod gives, as both are the
 * correctly rounded value of the exact integer. Any other goes through strtod as
 * in cJSON (a fraction, an exponent, a longer or zero-led integer). */
static int s_number(s_in_t *in, cJSON *item)
{
    const unsigned char *p = in->p;
    size_t i = in->at, len = in->len;
    int negative = p[i] == '-';
    if (negative)
        i++;
    size_t first = i;
    uint64_t v = 0;
    while (i < len && i - first < 20 && p[i] >= '0' && p[i] <= '9')
        v = v * 10 + (uint64_t) (p[i++] - '0');
    size_t digits = i - first;
    if (digits == 0 || digits > 19 || (digits > 1 && p[first] == '0') ||
        (i < len && (p[i] == '.' || p[i] == 'e' || p[i] == 'E')))
        return s_number_strtod(in, item);
    double d = (double) v;
    s_set_number(item, negative ? -d : d);
    in->at = i;
    return 0;
}

/* The elements of an array or the members of an object, from its opening bracket
 * at in->at to its closing one. */
static int s_container(s_in_t *in, cJSON *item, int object)
{
    if (in->depth >= CJSON_NESTING_LIMIT)
        return -1;
    in->depth++;
    unsigned char close = object ? '}' : ']';
    in->at++;
    s_skip_space(in);
    cJSON *head = NULL, *last = NULL;
    if (in->at < in->len && in->p[in->at] == close) {
        in->at++;
    } else {
        for (;;) {
            cJSON *n = s_node();
            if (!n)
                return -1;
            if (!head) {
                head = n;
            } else {
                last->next = n;
                n->prev = last;
            }
            last = n;
            s_skip_space(in);
            if (object) {
                if (in->at >= in->len || in->p[in->at] != '"' || s_string(in, &n->string) != 0)
                    return -1;
                s_skip_space(in);
                if (in->at >= in->len || in->p[in->at] != ':')
                    return -1;
                in->at++;
                s_skip_space(in);
            }
            if (s_value(in, n) != 0)
                return -1;
            s_skip_space(in);
            if (in->at >= in->len)
                return -1;
            if (in->p[in->at] == ',') {
                in->at++;
                continue;
            }
            if (in->p[in->at] != close)
                return -1;
            in->at++;
            break;
        }
        head->prev = last;
    }
    in->depth--;
    item->type = object ? cJSON_Object : cJSON_Array;
    item->child = head;
    return 0;
}

static int s_literal(s_in_t *in, const char *word, size_t n)
{
    if (in->len - in->at < n || memcmp(in->p + in->at, word, n) != 0)
        return -1;
    in->at += n;
    return 0;
}

static int s_value(s_in_t *in, cJSON *item)
{
    if (in->at >= in->len)
        return -1;
    switch (in->p[in->at]) {
    case '"':
        if (s_string(in, &item->valuestring) != 0)
            return -1;
        item->type = cJSON_String;
        return 0;
    case '{':
        return s_container(in, item, 1);
    case '[':
        return s_container(in, item, 0);
    case 'n':
        item->type = cJSON_NULL;
        return s_literal(in, "null", 4);
    case 'f':
        item->type = cJSON_False;
        return s_literal(in, "false", 5);
    case 't':
        item->type = cJSON_True;
        item->valueint = 1;
        return s_literal(in, "true", 4);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return s_number(in, item);
    default:
        return -1;
    }
}

cJSON *rtp_json_parse(const char *text, size_t len, const char **end)
{
    s_in_t in = {(const unsigned char *) text, len, 0, 0};
    cJSON *root = s_node();
    if (!root)
        return NULL;
    s_skip_space(&in);
    if (s_value(&in, root) != 0)
        return NULL;
    *end = text + in.at;
    return root;
}
