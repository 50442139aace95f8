/* crc32c: the check value, continuation, and the CPU's instruction (where this
 * machine has it) agreeing with the portable table loop and with a bit-by-bit
 * reference on every length and alignment up to a few hundred bytes. */
#include "check.h"
#include "crc32c.h"

#include <stdint.h>
#include <stdlib.h>

/* The definition, one bit at a time. */
static uint32_t s_reference(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

int main(void)
{
    CHECK(rtp_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(rtp_crc32c_portable(0, "123456789", 9) == 0xE3069283u);
    CHECK(rtp_crc32c(rtp_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
    CHECK(rtp_crc32c(0, "", 0) == 0);
    CHECK(rtp_crc32c(0x12345678u, "", 0) == 0x12345678u);

    static uint8_t buf[1024 + 16];
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t) rand();
    int wrong = 0, wrong_portable = 0;
    for (size_t off = 0; off < 16; off++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t seed = (uint32_t) (off * 1000 + len);
            uint32_t want = s_reference(seed, buf + off, len);
            wrong += rtp_crc32c(seed, buf + off, len) != want;
            wrong_portable += rtp_crc32c_portable(seed, buf + off, len) != want;
        }
    CHECK_INT(wrong, 0);
    CHECK_INT(wrong_portable, 0);
    /* a long run, split anywhere, is the same CRC */
    uint32_t whole = rtp_crc32c(0, buf, sizeof buf);
    CHECK(whole == s_reference(0, buf, sizeof buf));
    int split_wrong = 0;
    for (size_t cut = 0; cut <= sizeof buf; cut += 37)
        split_wrong += rtp_crc32c(rtp_crc32c(0, buf, cut), buf + cut, sizeof buf - cut) != whole;
    CHECK_INT(split_wrong, 0);
    printf("crc32c: %s\n", rtp_crc32c_hardware() ? "the CPU's crc32 instruction" : "the portable loop");
    return CHECK_DONE();
}
