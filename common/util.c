#include "util.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t s_clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rtp_mono_us(void) { return s_clock_us(CLOCK_MONOTONIC); }
int64_t rtp_mono_ms(void) { return rtp_mono_us() / 1000; }
int64_t rtp_wall_us(void) { return s_clock_us(CLOCK_REALTIME); }
int64_t rtp_wall_ms(void) { return rtp_wall_us() / 1000; }

/* Whether x written with p significant digits reads back as x. */
static int s_reads_back(char *buf, size_t cap, double x, int p)
{
    snprintf(buf, cap, "%.*e", p - 1, x);
    return strtod(buf, NULL) == x;
}

/* The exponent of a "%e" string. */
static int s_exponent_of(const char *buf)
{
    const char *e = strchr(buf, 'e');
    return e ? atoi(e + 1) : 0;
}

/* --- exact digits for ordinary magnitudes ---
 *
 * For 1e-6 <= |x| < 1e16 (every score and total rtp writes, in practice), x =
 * m * 2^e2 times 10^k (k = 16 - x's decimal exponent, 0..22) is at most 2^127, so
 * its digits, their rounding and the round-trip test are exact in 128-bit integers:
 * no printf, no strtod. The result is the same string printf's "%.*e" writes (glibc
 * rounds an exact tie to even) and the same digit count the strtod test finds. */

typedef unsigned __int128 u128;

/* 10^k for k = 0..22 (from 10^20 on, past 64 bits) */
static const u128 s_pow10_table[23] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL, (u128) 10000000000000000000ULL * 10,
    (u128) 10000000000000000000ULL * 100, (u128) 10000000000000000000ULL * 1000};

static u128 s_pow10(int k) { return s_pow10_table[k]; }

/* Whether the decimal d * 10^(17 - p) (in x's scale: a = m * 10^k * 2^up, value
 * a / 2^s) reads back as x: it lies within x's rounding interval (half an ulp each
 * side, a quarter below a power of two; the bound included when m is even, as
 * strtod rounds a tie to even). ulp is 10^k * 2^up in the same scale. In this range
 * no 15 or 16-digit decimal lies exactly on a bound, and only the 74 powers of two
 * have a lopsided interval (test_settings checks each): both rules are strtod's,
 * kept so that the test stays exact. */
static int s_exact_reads_back(uint64_t d, int p, u128 a, int s, u128 ulp, uint64_t m)
{
    u128 b = (u128) d * s_pow10(17 - p) << s; /* near a, so no overflow */
    int below = b < a;
    u128 diff = below ? a - b : b - a;
    int lopsided = below && m == (1ULL << 52);
    u128 scaled = lopsided ? diff * 4 : diff * 2;
    return scaled < ulp || (scaled == ulp && (m & 1) == 0);
}

/* q / 10^drop with the remainder (q % 10^drop) * 2^s + r (out of 10^drop * 2^s)
 * rounded to nearest, a tie to even. */
static uint64_t s_round_digits(uint64_t q, u128 r, int s, int drop)
{
    uint64_t unit = (uint64_t) s_pow10(drop), d = q / unit; /* q < 10^17: 64-bit division */
    u128 rest = ((u128) (q % unit) << s) + r, half = (u128) unit << s; /* compared doubled */
    rest *= 2;
    if (rest > half || (rest == half && (d & 1)))
        d++;
    return d;
}

/* "%.*e" with p digits of d (p digits, or p + 1 when rounding carried) and decimal
 * exponent e10 into buf. */
static void s_write_e(char *buf, int negative, uint64_t d, int p, int e10)
{
    if (d == (uint64_t) s_pow10(p)) { /* 9.99..9 rounded up: 1.00..0 of the next power */
        d /= 10;
        e10++;
    }
    char digits[20] = {0};
    for (int i = p - 1; i >= 0; i--) {
        digits[i] = (char) ('0' + (int) (d % 10));
        d /= 10;
    }
    char *o = buf;
    if (negative)
        *o++ = '-';
    *o++ = digits[0];
    if (p > 1) {
        *o++ = '.';
        memcpy(o, digits + 1, (size_t) p - 1);
        o += p - 1;
    }
    *o++ = 'e';
    *o++ = e10 < 0 ? '-' : '+';
    int a = e10 < 0 ? -e10 : e10;
    *o++ = (char) ('0' + a / 10);
    *o++ = (char) ('0' + a % 10);
    *o = '\0';
}

/* s_shortest_normal's work for 1e-6 <= |x| < 1e16, exactly: p (15, 16 or 17 form
 * written), or 0 when x is outside that range (buf untouched). */
static int s_shortest_exact(char *buf, size_t cap, double x)
{
    double ax = fabs(x);
    if (!(ax >= 1e-6 && ax < 1e16) || cap < 32)
        return 0;
    int e2;
    double frac = frexp(ax, &e2); /* ax = frac * 2^e2, frac in [0.5, 1) */
    uint64_t m = (uint64_t) ldexp(frac, 53);
    e2 -= 53;
    int s = e2 < 0 ? -e2 : 0, up = e2 > 0 ? e2 : 0;
    int e10 = (int) floor(log10(ax));
    const u128 lo = s_pow10(16), hi = s_pow10(17);
    u128 a = 0, q = 0, r = 0, ulp = 0;
    for (int tries = 0; tries < 3; tries++) {
        int k = 16 - e10;
        if (k < 0 || k > 22)
            return 0;
        ulp = s_pow10(k) << up;
        a = (u128) m * ulp;
        q = a >> s;
        r = a - (q << s);
        if (q >= hi)
            e10++;
        else if (q < lo)
            e10--;
        else
            break;
    }
    if (q < lo || q >= hi)
        return 0;
    for (int p = 15; p <= 16; p++) {
        uint64_t d = s_round_digits((uint64_t) q, r, s, 17 - p);
        if (!s_exact_reads_back(d, p, a, s, ulp, m))
            continue;
        s_write_e(buf, x < 0, d, p, e10);
        if (p == 16)
            return 16;
        int n = 15; /* the significant digits: the 15 less the trailing zeros */
        while (n > 1 && d % 10 == 0) {
            d /= 10;
            n--;
        }
        return n;
    }
    s_write_e(buf, x < 0, s_round_digits((uint64_t) q, r, s, 0), 17, e10);
    return 17;
}

/* The fewest significant digits that read back as x, for a normal double x, in one
 * or two tries instead of a search. buf is left with a "%e" form of x with the
 * p-digit form's exponent (the 15-digit form when p <= 15; the 16 or 17-digit form).
 *
 * If some p <= 15 digits read back, the 15-digit form is those p digits and zeros:
 * fifteen-digit decimals lie more than 1e-15 * |x| apart and x's rounding interval
 * (the doubles nearer to x than to its neighbours) is at most 2^-52 * |x| wide,
 * even at a power of two where it is lopsided, so the one 15-digit decimal within
 * it is the p-digit one, padded. Otherwise 16 digits read back, or 17 (17 always do). */
static int s_shortest_normal(char *buf, size_t cap, double x)
{
    int exact = s_shortest_exact(buf, cap, x);
    if (exact)
        return exact;
    if (s_reads_back(buf, cap, x, 15)) {
        const char *e = strchr(buf, 'e');
        const char *last = e ? e - 1 : buf + strlen(buf) - 1;
        while (*last == '0')
            last--;
        int p = 0;
        for (const char *c = buf; c <= last; c++)
            p += *c >= '0' && *c <= '9';
        return p;
    }
    if (s_reads_back(buf, cap, x, 16))
        return 16;
    snprintf(buf, cap, "%.16e", x);
    return 17;
}

/* buf, a "%.*e" form of x with p significant digits (p - 1 after the point), rewritten
 * in place as "%.*g" with precision p writes x: the same p digits (both round x to p
 * significant digits, and %g takes its exponent from that %e form), in fixed notation
 * when the exponent is from -4 to p - 1, else as %e without trailing zeros. Saves the
 * batcher a third printf per number (test_settings compares it with printf's). */
static void s_g_from_e(char *buf, int p)
{
    char *d = buf[0] == '-' ? buf + 1 : buf;
    char *e = strchr(d, 'e');
    int exponent = atoi(e + 1);
    char digits[24], tail[8];
    int n = 0;
    for (const char *c = d; c < e; c++)
        if (*c != '.')
            digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    size_t tail_len = strnlen(e, sizeof tail - 1); /* "e+XX": copied before buf is rewritten */
    memcpy(tail, e, tail_len);
    tail[tail_len] = '\0';
    char *o = d;
    if (exponent < -4 || exponent >= p) {
        *o++ = digits[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t) n - 1);
            o += n - 1;
        }
        strcpy(o, tail);
        return;
    }
    if (exponent < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int z = -1; z > exponent; z--)
            *o++ = '0';
        memcpy(o, digits, (size_t) n);
        o += n;
    } else {
        for (int k = 0; k <= exponent; k++)
            *o++ = k < n ? digits[k] : '0';
        if (n > exponent + 1) {
            *o++ = '.';
            memcpy(o, digits + exponent + 1, (size_t) (n - exponent - 1));
            o += n - exponent - 1;
        }
    }
    *o = '\0';
}

char *rtp_fmt_double(char *buf, size_t cap, double x)
{
    if (x == 0 || x != x) {
        snprintf(buf, cap, x == 0 ? "0" : "nan");   /* also folds -0 into 0 */
        return buf;
    }
    /* A whole number below 2^53 is its digits: every decimal that reads back as it lies
     * within half a unit of it, so its shortest form is itself, and %g below writes
     * all its digits. */
    if (fabs(x) < 9007199254740992.0 && x == (double) (int64_t) x && cap >= 24) {
        snprintf(buf, cap, "%" PRId64, (int64_t) x);
        return buf;
    }
    /* The fewest significant digits p that read back exactly, then %g with enough
     * precision that numbers below 1e17 are written without an exponent (100, not
     * 1e+02). */
    int p;
    if (isnormal(x)) {
        p = s_shortest_normal(buf, cap, x);
        int exponent = s_exponent_of(buf);
        if (cap >= 32 && (exponent + 1 <= p || exponent + 1 > 17)) {
            s_g_from_e(buf, p); /* precision p: as the snprintf below would write it */
            return buf;
        }
    } else {
        /* subnormal or infinite: bisection (if p digits read back, so do p + 1: the
         * nearest (p+1)-digit decimal is at least as near to x, and a subnormal's
         * rounding interval is symmetric around it) */
        int lo = 1, hi = 17; /* 17 digits always read back */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (s_reads_back(buf, cap, x, mid))
                hi = mid;
            else
                lo = mid + 1;
        }
        p = lo;
        s_reads_back(buf, cap, x, p);
    }
    /* buf holds a "%e" form of x with the p-digit form's exponent, unless p is 17,
     * where the precision is 17 whatever the exponent */
    int exponent = p < 17 ? s_exponent_of(buf) : 0;
    int precision = exponent + 1 > p ? exponent + 1 : p;
    if (precision > 17)
        precision = p;
    snprintf(buf, cap, "%.*g", precision, x);
    return buf;
}

void *rtp_reserve(void *buf, size_t *cap, size_t need, size_t first)
{
    if (buf && need <= *cap)
        return buf;
    size_t grown_cap = *cap ? *cap : first;
    while (grown_cap < need)
        grown_cap *= 2;
    void *grown = realloc(buf, grown_cap);
    if (grown)
        *cap = grown_cap;
    return grown;
}

#ifdef RTP_DATA_DIR_BUILD
static int s_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
#endif

const char *rtp_data_dir(void)
{
    const char *env = getenv("RTP_DATA_DIR");
    if (env && *env)
        return env;
#ifdef RTP_DATA_DIR_BUILD
    if (s_is_dir(RTP_DATA_DIR_BUILD))
        return RTP_DATA_DIR_BUILD;
#endif
#ifdef RTP_DATA_DIR_INSTALL
    return RTP_DATA_DIR_INSTALL;
#else
    return "data";
#endif
}

char *rtp_data_path(char *buf, size_t cap, const char *file)
{
    snprintf(buf, cap, "%s/%s", rtp_data_dir(), file);
    return buf;
}

char *rtp_exe_dir(char *buf, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(buf, cap, "%s", n > 0 && slash ? exe : ".");
    return buf;
}

int rtp_free_tcp_port(int any_interface)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(any_interface ? INADDR_ANY : INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0 && getsockname(fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

char *rtp_read_file(const char *path, size_t *len_p)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        errno = failed ? EIO : ENOMEM;
        return NULL;
    }
    buf[len] = 0;
    if (len_p)
        *len_p = len;
    return buf;
}

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop++;
}

void rtp_signals_install(void)
{
    zsys_handler_set(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int rtp_stop_requested(void) { return s_stop != 0; }
int rtp_stop_signals(void) { return (int) s_stop; }
void rtp_stop_request(void)
{
    if (!s_stop)
        s_stop = 1;
}

/* mkdir -p: 0, or -1 with errno. */
int rtp_mkdirs(const char *dir)
{
    char *path = strdup(dir);
    if (!path)
        return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            free(path);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(path, 0755), e = errno;
    free(path);
    errno = e;
    return rc == 0 || e == EEXIST ? 0 : -1;
}
