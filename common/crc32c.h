/* crc32c: CRC-32C (Castagnoli), the checksum of the on-disk formats (the broker's
 * journal, the readers' spools).
 *
 * rtp_crc32c(crc, data, len) continues crc over len more bytes: 0 to start,
 * rtp_crc32c(rtp_crc32c(0, a, n), b, m) == the CRC of a then b. The check value of
 * "123456789" is 0xE3069283. The same numbers come from every implementation: the
 * SSE4.2 crc32 instruction where the CPU has it (about 8 bytes per cycle or two),
 * else a table-driven slicing-by-8 loop; rtp_crc32c_portable is the latter on its
 * own, so tests can compare the two on any machine. */
#ifndef RTP_CRC32C_H
#define RTP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t rtp_crc32c(uint32_t crc, const void *data, size_t len);
uint32_t rtp_crc32c_portable(uint32_t crc, const void *data, size_t len);
/* 1 when rtp_crc32c uses the CPU's instruction on this machine. */
int rtp_crc32c_hardware(void);

#endif
