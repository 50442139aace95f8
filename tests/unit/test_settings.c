/* settings: flag beats env beats default; types are checked; --help and --version exit 0. */
#include "check.h"
#include "settings.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rtp_setting_def_t defs[] = {
    {"batch-size", RTP_SET_INT, "100", "records per batch", NULL},
    {"redis-url", RTP_SET_STR, NULL, "where to store", "REDIS_URL"},
    {"ratio", RTP_SET_DOUBLE, "0.5", "a ratio", NULL},
    {"verbose", RTP_SET_BOOL, "false", "say more", NULL},
    RTP_SETTINGS_END,
};

static rtp_settings_t *s_parse(int argc, char **argv, int *code)
{
    return rtp_settings_new("test", "a test", defs, argc, argv, code);
}

/* The reference: the fewest digits, tried one count after the other. */
static int s_shortest_digits(double x)
{
    char buf[40];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    return 17;
}

static int s_digits_of(const char *s)
{
    int n = 0, leading = 1;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (leading && *s == '0')
            continue;
        leading = 0;
        n++;
    }
    return n;
}

/* The next of a sequence of random bits (*bits, advanced), as a double with the
 * bits of mask: every magnitude, and either sign if mask keeps the top bit. */
static double s_random_double(unsigned long long *bits, unsigned long long mask)
{
    *bits = *bits * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned long long b = *bits & mask;
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* rtp_fmt_double finds the digit count in one or two tries (bisection for
 * subnormals): it must find the same count as the one-by-one search, on random
 * doubles of every magnitude, on powers of two (where the rounding interval is
 * lopsided), on short decimals of every length and magnitude, subnormals
 * included, and on the scores' ratios. */
static void test_fmt_double_shortest(void)
{
    char buf[40];
    int wrong = 0, checked = 0;
    unsigned long long bits = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        double x = s_random_double(&bits, 0x7fefffffffffffffULL);
        if (x == 0 || x != x)
            continue;
        rtp_fmt_double(buf, sizeof buf, x);
        /* %g may pad an integer with zeros (100): count only up to the shortest */
        int got = s_digits_of(buf), want = s_shortest_digits(x);
        wrong += strtod(buf, NULL) != x || (got != want && !(got > want && x == floor(x)));
        checked++;
    }
    for (int e = -1074; e <= 1023; e++) {
        double x = ldexp(1.0, e);
        rtp_fmt_double(buf, sizeof buf, x);
        int got = s_digits_of(buf), want = s_shortest_digits(x);
        wrong += strtod(buf, NULL) != x || (got != want && !(got > want && x == floor(x)));
        checked++;
    }
    for (int i = 0; i < 100000; i++) {
        bits = bits * 6364136223846793005ULL + 1442695040888963407ULL;
        int digits = 1 + (int) ((bits >> 33) % 17);
        long long mantissa = (long long) ((bits >> 3) % 100000000000000000ULL);
        for (int d = digits; d < 17; d++)
            mantissa /= 10;
        char text[48];
        snprintf(text, sizeof text, "%lld.0e%d", mantissa ? mantissa : 7, (int) ((bits >> 40) % 640) - 330);
        double x = strtod(text, NULL);
        if (x == 0 || isinf(x))
            continue;
        rtp_fmt_double(buf, sizeof buf, x);
        int got = s_digits_of(buf), want = s_shortest_digits(x);
        wrong += strtod(buf, NULL) != x || (got != want && !(got > want && x == floor(x)));
        checked++;
    }
    for (int a = 0; a < 300; a++)
        for (int b = 1; b < 300; b++) {
            double x = (double) a / b;
            if (x == 0)
                continue;
            rtp_fmt_double(buf, sizeof buf, x);
            int got = s_digits_of(buf), want = s_shortest_digits(x);
            wrong += strtod(buf, NULL) != x || (got != want && !(got > want && x == floor(x)));
            checked++;
        }
    printf("fmt_double: %d values, %d with another digit count than the one-by-one search\n", checked, wrong);
    CHECK_INT(wrong, 0);
}

/* The writer before its shortcuts (whole numbers, %g rebuilt from the %e form): the
 * fewest digits by the one-by-one search, then "%.*g" with the same precision rule.
 * Both paths to Redis write these bytes (test_store compares the Lua script's). */
static const char *s_fmt_reference(char *buf, size_t cap, double x)
{
    if (x == 0 || x != x) {
        snprintf(buf, cap, x == 0 ? "0" : "nan");
        return buf;
    }
    int p = isinf(x) ? 1 : s_shortest_digits(x);
    snprintf(buf, cap, "%.*e", p - 1, x);
    const char *e = strchr(buf, 'e');
    int exponent = p < 17 && e ? atoi(e + 1) : 0;
    int precision = exponent + 1 > p ? exponent + 1 : p;
    if (precision > 17)
        precision = p;
    snprintf(buf, cap, "%.*g", precision, x);
    return buf;
}

static int s_same_as_reference(double x)
{
    char got[32], want[40];
    rtp_fmt_double(got, sizeof got, x);
    s_fmt_reference(want, sizeof want, x);
    if (strcmp(got, want) == 0)
        return 1;
    fprintf(stderr, "%.17g: rtp_fmt_double %s, reference %s\n", x, got, want);
    return 0;
}

/* rtp_fmt_double writes the reference's bytes on random doubles of every magnitude
 * and sign, whole numbers around 2^53 and the powers of ten, short decimals, ratios,
 * and values at the edges of fixed notation (1e-4, 1e17). */
static void test_fmt_double_bytes(void)
{
    int checked = 0, same = 0;
    unsigned long long bits = 0x2545f4914f6cdd1dULL;
    for (int i = 0; i < 300000; i++) {
        double x = s_random_double(&bits, 0xffefffffffffffffULL);
        same += s_same_as_reference(x);
        checked++;
        /* a short decimal near a random magnitude, either sign, fractions and wholes */
        int exp10 = (int) ((bits >> 20) % 44) - 22;
        double d = (double) ((long long) ((bits >> 3) % 1000000) - 500000) * pow(10, exp10);
        same += s_same_as_reference(d);
        same += s_same_as_reference(d / 7);
        checked += 2;
    }
    // clang-format off
    double edges[] = {1, -1, 0.5, 1e-4, 9.99999999999e-5, 1.5e-4, 1e-5, 1e15, 1e16, 1e17, 1.5e16,
                      9007199254740991.0, 9007199254740992.0, 9007199254740993.0, 9007199254740994.0,
                      -9007199254740992.0, 123456789012345678.0, 99999999999999999.0, 1e22, 1e23,
                      4.9e-324, 2.2250738585072014e-308, 1.7976931348623157e308, INFINITY, -INFINITY,
                      0.1 + 0.2, 2.0 / 3, 1e21 + 1, 5e-324 * 3, 12345.678, -0.000123456789};
    // clang-format on
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        same += s_same_as_reference(edges[i]);
        checked++;
    }
    for (int e = -1074; e <= 1023; e++) {
        same += s_same_as_reference(ldexp(1.0, e)) + s_same_as_reference(-ldexp(1.0, e) * 3);
        checked += 2;
    }
    for (long long n = -3000; n <= 3000; n++) {
        same += s_same_as_reference((double) n) + s_same_as_reference((double) n * 1e12) +
                s_same_as_reference((double) n / 64);
        checked += 3;
    }
    for (int a = 0; a < 200; a++)
        for (int b = 1; b < 200; b++) {
            same += s_same_as_reference((double) a / b) + s_same_as_reference(a * 1e5 / b);
            checked += 2;
        }
    printf("fmt_double: %d of %d values written as the reference writes them\n", same, checked);
    CHECK_INT(same, checked);
}

/* The magnitudes rtp_fmt_double writes with 128-bit integers instead of printf and
 * strtod (1e-6 to 1e16: every score and total): random doubles there, and the
 * neighbours of short decimals and of powers of two there (the rounding interval's
 * edges, lopsided below a power of two, ties rounded to even), both signs. */
static void test_fmt_double_exact_range(void)
{
    int checked = 0, same = 0;
    unsigned long long bits = 0x6a09e667f3bcc909ULL;
    for (int i = 0; i < 150000; i++) {
        bits = bits * 6364136223846793005ULL + 1442695040888963407ULL;
        double x = ldexp(1.0 + (double) (bits >> 12) / 4503599627370496.0, (int) ((bits >> 4) % 74) - 20);
        double sign = bits & 1 ? -1 : 1;
        int exp10 = (int) ((bits >> 24) % 22) - 6;
        double d = (double) ((bits >> 30) % 10000000 + 1) * pow(10, exp10 - 7);
        double near[] = {x * sign, nextafter(d, 0) * sign, d * sign, nextafter(d, INFINITY) * sign};
        for (size_t k = 0; k < 4; k++)
            same += s_same_as_reference(near[k]);
        checked += 4;
    }
    for (int e = -20; e <= 53; e++) {
        double p2 = ldexp(1.0, e);
        same += s_same_as_reference(nextafter(p2, 0)) + s_same_as_reference(p2) +
                s_same_as_reference(nextafter(p2, INFINITY));
        checked += 3;
    }
    // clang-format off
    double edges[] = {1e-6, nextafter(1e-6, 0), 9.999999999999999e15, 1e16 - 2, 0.125, 0.375, 2.5e-6,
                      1.0000000000000002, 0.9999999999999999, 5e-6, 123456.7890123456, 0.30000000000000004};
    // clang-format on
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        same += s_same_as_reference(edges[i]) + s_same_as_reference(-edges[i]);
        checked += 2;
    }
    printf("fmt_double: %d of %d values from 1e-6 to 1e16 written as the reference writes them\n", same,
           checked);
    CHECK_INT(same, checked);
}

/* rtp_reserve: the same buffer while it has room, doubling from `first`, and a NULL
 * buffer allocated at the size hint *cap. */
static void test_reserve(void)
{
    size_t cap = 0;
    char *b = rtp_reserve(NULL, &cap, 10, 16);
    CHECK(b != NULL);
    CHECK_INT(cap, 16);
    memset(b, 'x', 10);
    CHECK(rtp_reserve(b, &cap, 16, 16) == b);
    CHECK_INT(cap, 16);
    b = rtp_reserve(b, &cap, 40, 16);
    CHECK_INT(cap, 64);
    CHECK(b[0] == 'x' && b[9] == 'x'); /* kept when it grows */
    free(b);
    cap = 1000; /* a size hint for a buffer handed away */
    b = rtp_reserve(NULL, &cap, 8, 16);
    CHECK(b != NULL);
    CHECK_INT(cap, 1000);
    free(b);
}

int main(void)
{
    int code;
    unsetenv("RTP_BATCH_SIZE");
    unsetenv("REDIS_URL");
    char *a0[] = {"test", NULL};
    rtp_settings_t *s = s_parse(1, a0, &code);
    CHECK(s != NULL);
    CHECK_INT(rtp_settings_int(s, "batch-size"), 100);
    CHECK(rtp_settings_str(s, "redis-url") == NULL);
    CHECK_STR(rtp_settings_source(s, "batch-size"), "default");
    CHECK(rtp_settings_double(s, "ratio") == 0.5);
    CHECK_INT(rtp_settings_bool(s, "verbose"), 0);
    rtp_settings_destroy(&s);
    CHECK(s == NULL);
    rtp_settings_destroy(&s);   /* safe twice */

    setenv("RTP_BATCH_SIZE", "7", 1);
    setenv("REDIS_URL", "redis://x:1", 1);
    s = s_parse(1, a0, &code);
    CHECK_INT(rtp_settings_int(s, "batch-size"), 7);
    CHECK_STR(rtp_settings_source(s, "batch-size"), "env");
    CHECK_STR(rtp_settings_str(s, "redis-url"), "redis://x:1");
    rtp_settings_destroy(&s);

    char *a1[] = {"test", "--batch-size", "9", "--redis-url=redis://y:2", "--verbose", "up", NULL};
    s = s_parse(6, a1, &code);
    CHECK(s != NULL);
    CHECK_INT(rtp_settings_int(s, "batch-size"), 9);
    CHECK_STR(rtp_settings_source(s, "batch-size"), "flag");
    CHECK_STR(rtp_settings_str(s, "redis-url"), "redis://y:2");
    CHECK_INT(rtp_settings_bool(s, "verbose"), 1);
    CHECK_INT(rtp_settings_argc(s), 1);
    CHECK_STR(rtp_settings_arg(s, 0), "up");
    rtp_settings_destroy(&s);

    char *a2[] = {"test", "--batch-size", "nine", NULL};
    CHECK(s_parse(3, a2, &code) == NULL);
    CHECK_INT(code, 2);
    char *a3[] = {"test", "--no-such", NULL};
    CHECK(s_parse(2, a3, &code) == NULL);
    CHECK_INT(code, 2);
    setenv("RTP_BATCH_SIZE", "x", 1);
    CHECK(s_parse(1, a0, &code) == NULL);
    CHECK_INT(code, 2);
    unsetenv("RTP_BATCH_SIZE");
    char *a4[] = {"test", "--version", NULL};
    CHECK(s_parse(2, a4, &code) == NULL);
    CHECK_INT(code, 0);

    char buf[32];
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 0.5), "0.5");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 1.0 / 3), "0.3333333333333333");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 0.1), "0.1");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, -0.0), "0");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 3), "3");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 100), "100");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 123456789012), "123456789012");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 1e16), "10000000000000000");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 1e17), "1e+17");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 0.0001), "0.0001");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 0.00001), "1e-05");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, 2.5e-7), "2.5e-07");
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, -1234.5), "-1234.5");
    /* every value round-trips */
    int wrong = 0;
    unsigned long long bits = 0x3ff0000000000001ULL;
    for (int i = 0; i < 100000; i++) {
        double x;
        bits = bits * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned long long b = bits & 0x7fefffffffffffffULL;
        memcpy(&x, &b, sizeof x);
        wrong += strtod(rtp_fmt_double(buf, sizeof buf, x), NULL) != x;
    }
    CHECK_INT(wrong, 0);
    test_fmt_double_shortest();
    test_fmt_double_bytes();
    test_fmt_double_exact_range();
    test_reserve();
    return CHECK_DONE();
}
