#include "term_text.h"

#include <string.h>

/* The length of the valid UTF-8 sequence at s (at most max bytes) and its code
 * point; 0 when s does not start one. */
static size_t s_decode(const unsigned char *s, size_t max, unsigned *cp)
{
    size_t n;
    unsigned c = s[0], min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, c &= 0x07, min = 0x10000;
    } else
        return 0;
    if (n > max)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

int term_text_char_width(unsigned cp)
{
    if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f))
        return 0; /* combining marks, zero-width spaces and joiners, variation selectors */
    static const unsigned wide[][2] = {
        {0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff}, {0x3400, 0x4dbf},
        {0x4e00, 0x9fff},   {0xa000, 0xa4cf},   {0xac00, 0xd7a3}, {0xf900, 0xfaff},
        {0xfe30, 0xfe4f},   {0xff00, 0xff60},   {0xffe0, 0xffe6}, {0x1f300, 0x1f64f},
        {0x1f900, 0x1f9ff}, {0x20000, 0x3fffd},
    };
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i][0] && cp <= wide[i][1])
            return 2;
    return 1;
}

size_t term_text_fit(const char *s, int cols, int *width)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t len = strlen(s), at = 0;
    int used = 0;
    while (at < len) {
        unsigned cp;
        size_t n = s_decode(u + at, len - at, &cp);
        int w = n ? term_text_char_width(cp) : 1;
        if (!n)
            n = 1;
        if (used + w > cols)
            break;
        used += w;
        at += n;
    }
    if (width)
        *width = used;
    return at;
}

size_t term_text_copy(char *dst, size_t cap, const char *src, size_t len)
{
    const unsigned char *u = (const unsigned char *) src;
    size_t at = 0;
    while (at < len) {
        unsigned cp;
        size_t n = s_decode(u + at, len - at, &cp);
        if (!n)
            n = 1;
        if (at + n > cap - 1)
            break;
        at += n;
    }
    memcpy(dst, src, at);
    dst[at] = 0;
    return at;
}
