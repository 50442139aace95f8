#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define S_POLY 0x82F63B78u /* Castagnoli, reflected */

/* s_table[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-8). */
static uint32_t s_table[8][256];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static uint32_t (*s_impl)(uint32_t, const uint8_t *, size_t);

static void s_make_table(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ S_POLY : c >> 1;
        s_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            s_table[k][b] = (s_table[k - 1][b] >> 8) ^ s_table[0][s_table[k - 1][b] & 0xff];
}

/* The inner loops work on the inverted register (crc = ~crc before, ~ after). */
static uint32_t s_sliced(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t) p & 7)) {
        crc = s_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = s_table[7][lo & 0xff] ^ s_table[6][(lo >> 8) & 0xff] ^ s_table[5][(lo >> 16) & 0xff] ^
              s_table[4][lo >> 24] ^ s_table[3][hi & 0xff] ^ s_table[2][(hi >> 8) & 0xff] ^
              s_table[1][(hi >> 16) & 0xff] ^ s_table[0][hi >> 24];
    }
    while (len--)
        crc = s_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define S_HAVE_HW 1

/* The SSE4.2 crc32 instruction computes this very CRC, 8 bytes at a time. */
__attribute__((target("sse4.2"))) static uint32_t s_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t) p & 7)) {
        crc = _mm_crc32_u8(crc, *p++);
        len--;
    }
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    crc = (uint32_t) c;
    while (len--)
        crc = _mm_crc32_u8(crc, *p++);
    return crc;
}
#else
#define S_HAVE_HW 0
#endif

static void s_init(void)
{
    s_make_table();
    s_impl = s_sliced;
#if S_HAVE_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        s_impl = s_hw;
#endif
}

uint32_t rtp_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&s_once, s_init);
    return ~s_impl(~crc, data, len);
}

uint32_t rtp_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&s_once, s_init);
    return ~s_sliced(~crc, data, len);
}

int rtp_crc32c_hardware(void)
{
    pthread_once(&s_once, s_init);
    return s_impl != s_sliced;
}
