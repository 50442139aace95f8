/* util: small helpers every actor needs: clocks, number formatting, the data
 * folder, and the stop signal. */
#ifndef RTP_UTIL_H
#define RTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock, for timeouts and intervals. */
int64_t rtp_mono_ms(void);
int64_t rtp_mono_us(void);
/* Wall clock, for timestamps that leave the process. */
int64_t rtp_wall_ms(void);
int64_t rtp_wall_us(void);

/* Writes x with the fewest significant digits that read back to exactly x with
 * strtod (as SPEC section 3 asks), without an exponent below 1e17 and from 1e-4 up:
 * 0.5 -> "0.5", 1/3 -> "0.3333333333333333", 100 -> "100", 1e-05 -> "1e-05".
 * buf needs 32 bytes. Returns buf. */
char *rtp_fmt_double(char *buf, size_t cap, double x);

/* Room for need bytes in a buffer of *cap bytes: buf itself when it has the room,
 * else its realloc'd successor, grown by doubling from *cap (from first when *cap is
 * 0), *cap updated. A NULL buf is allocated even when need <= *cap (*cap is then a
 * size hint). NULL when out of memory (buf and *cap are then as they were). */
void *rtp_reserve(void *buf, size_t *cap, size_t need, size_t first);

/* The folder of the bundled data: $RTP_DATA_DIR if set, else the source tree's
 * data/ when run from a build, else the installed copy. */
const char *rtp_data_dir(void);
/* Joins the data folder and a file name into buf; returns buf. */
char *rtp_data_path(char *buf, size_t cap, const char *file);

/* The folder of the running executable (from /proc/self/exe) into buf, "." if
 * unknown: the launcher finds its sibling executables there. Returns buf. */
char *rtp_exe_dir(char *buf, size_t cap);

/* A TCP port that was free a moment ago, on 127.0.0.1 or (any_interface) on every
 * interface; -1 when none could be had. The launcher picks ports for the services it
 * starts this way, so it knows them before they start. */
int rtp_free_tcp_port(int any_interface);

/* Reads a whole file into a NUL-terminated malloc'd buffer (caller frees);
 * NULL on error with errno set. *len_p (if not NULL) gets the length. */
char *rtp_read_file(const char *path, size_t *len_p);

/* Installs SIGINT/SIGTERM handlers that set a flag instead of killing the process
 * (and turns off CZMQ's own handler), and ignores SIGPIPE. Loops poll with timeouts
 * and check rtp_stop_requested(). */
void rtp_signals_install(void);
int rtp_stop_requested(void);
/* How many SIGINT/SIGTERM arrived: a second one asks to stop at once. */
int rtp_stop_signals(void);
void rtp_stop_request(void);

/* Big-endian integers in byte buffers (the on-disk formats: journal, spool). */
static inline void rtp_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}
static inline uint32_t rtp_get_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* mkdir -p (mode 0755): 0, or -1 with errno. */
int rtp_mkdirs(const char *dir);

#endif
