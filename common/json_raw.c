/* json_raw: where a value lies in JSON text (see json_raw.h). */
#include "json_raw.h"

#include <string.h>

/* cJSON takes every byte up to the space as whitespace. */
static size_t s_skip_space(const unsigned char *p, size_t i, size_t end)
{
    while (i < end && p[i] <= 0x20)
        i++;
    return i;
}

/* The index of the first byte from i on that is a quote or a backslash (in
 * `string`), or else a quote or a bracket; end if there is none. */
static size_t s_find_bytewise(const unsigned char *p, size_t i, size_t end, bool string)
{
    for (; i < end; i++) {
        /* with bit 5 cleared, '{' and '[' both read 0x5B, '}' and ']' both 0x5D */
        unsigned char c = p[i], folded = c & 0xDF;
        if (c == '"' || (string ? c == '\\' : folded == 0x5B || folded == 0x5D))
            return i;
    }
    return end;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* The same, sixteen bytes at a time: most of a tweet's bytes lie between such
 * bytes. */
static size_t s_find(const unsigned char *p, size_t i, size_t end, bool string)
{
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i fold = _mm_set1_epi8((char) 0xDF), open = _mm_set1_epi8(0x5B), close = _mm_set1_epi8(0x5D);
    for (; i + 16 <= end; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (p + i));
        __m128i hit = _mm_cmpeq_epi8(v, quote);
        if (string) {
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, backslash));
        } else {
            __m128i folded = _mm_and_si128(v, fold);
            hit =
                _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(folded, open), _mm_cmpeq_epi8(folded, close)));
        }
        unsigned mask = (unsigned) _mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t) __builtin_ctz(mask);
    }
    return s_find_bytewise(p, i, end, string);
}
#else
#define s_find s_find_bytewise
#endif

/* p[i] is a string's opening quote: the index just past its closing one (end if
 * there is none). A backslash escapes the byte after it, which may be a quote:
 * the search goes on after both. */
static size_t s_string_end(const unsigned char *p, size_t i, size_t end)
{
    for (i = s_find(p, i + 1, end, true); i < end; i = s_find(p, i + 2, end, true))
        if (p[i] == '"')
            return i + 1;
    return end;
}

/* The index just past the value that starts at p[i]. */
static size_t s_value_end(const unsigned char *p, size_t i, size_t end)
{
    if (i >= end)
        return end;
    if (p[i] == '"')
        return s_string_end(p, i, end);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        for (; i < end; i = s_find(p, i, end, false)) {
            if (p[i] == '"') {
                i = s_string_end(p, i, end);
                continue;
            }
            if ((p[i] & 0xDF) == 0x5B)
                depth++;
            else if (--depth == 0)
                return i + 1;
            i++;
        }
        return end;
    }
    /* a number, true, false or null: up to the next delimiter */
    while (i < end && p[i] > 0x20 && p[i] != ',' && p[i] != '}' && p[i] != ']')
        i++;
    return i;
}

static int s_hex(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Whether the n bytes of a member name as written (between its quotes) unescape to
 * name, an ASCII string. */
static bool s_name_is(const unsigned char *k, size_t n, const char *name)
{
    const unsigned char *want = (const unsigned char *) name;
    for (size_t i = 0; i < n;) {
        unsigned c = k[i++];
        if (c == '\\') {
            if (i >= n)
                return false;
            unsigned e = k[i++];
            static const char plain[] = "\"\\/", from[] = "bfnrt", to[] = "\b\f\n\r\t";
            const char *at;
            if (e == 'u') {
                if (n - i < 4)
                    return false;
                int code = 0;
                for (int d = 0; d < 4; d++) {
                    int h = s_hex(k[i++]);
                    if (h < 0)
                        return false;
                    code = code * 16 + h;
                }
                if (code >= 0x80) /* not ASCII: cannot be a byte of name */
                    return false;
                c = (unsigned) code;
            } else if (e && strchr(plain, (int) e)) {
                c = e;
            } else if (e && (at = strchr(from, (int) e)) != NULL) {
                c = (unsigned char) to[at - from];
            } else {
                return false;
            }
        }
        if (*want == '\0' || *want != c)
            return false;
        want++;
    }
    return *want == '\0';
}

int rtp_json_root(const char *text, size_t len, size_t *value)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t i = len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    i = s_skip_space(p, i, len);
    if (i >= len)
        return -1;
    *value = i;
    return 0;
}

int rtp_json_members(const char *text, size_t len, size_t object, const char *const names[], size_t n,
                     size_t values[], bool found[])
{
    const unsigned char *p = (const unsigned char *) text;
    for (size_t k = 0; k < n; k++)
        found[k] = false;
    if (object >= len || p[object] != '{')
        return -1;
    size_t count = 0;
    for (size_t i = s_skip_space(p, object + 1, len); i < len && p[i] == '"';
         i = s_skip_space(p, i + 1, len)) {
        size_t name_end = s_string_end(p, i, len); /* past the closing quote */
        if (name_end < i + 2)
            break;
        const unsigned char *name = p + i + 1;
        size_t name_len = name_end - i - 2;
        i = s_skip_space(p, name_end, len);
        if (i >= len || p[i] != ':')
            break;
        i = s_skip_space(p, i + 1, len);
        for (size_t k = 0; k < n; k++) {
            if (!found[k] && s_name_is(name, name_len, names[k])) {
                values[k] = i;
                found[k] = true;
                count++;
                break;
            }
        }
        if (count == n)
            break;
        i = s_skip_space(p, s_value_end(p, i, len), len);
        if (i >= len || p[i] != ',')
            break;
    }
    return (int) count;
}

size_t rtp_json_value_len(const char *text, size_t len, size_t value)
{
    return value < len ? s_value_end((const unsigned char *) text, value, len) - value : 0;
}
