/* json_parse: whenever the fast path takes a document, cJSON takes it too, with the
 * same tree (types, numbers to the bit, strings, keys, order, links) and the same
 * end. Checked on the bundled tweets (which the fast path must all take, or the
 * decoder gains nothing), on hand-written edge cases of cJSON's grammar, and on
 * many random mutations of the bundled tweets (bytes changed to JSON's special
 * characters, removed, inserted, the text cut short). */
#include "check.h"
#include "json_arena.h"
#include "json_parse.h"
#include "json_same.h"

#include <cJSON.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_taken, s_left, s_wrong;

/* Parses len bytes at text both ways; counts what the fast path did. */
static void s_compare(const char *text, size_t len, const char *what)
{
    const char *end_cjson = NULL, *end_fast = NULL;
    cJSON *ref = cJSON_ParseWithLengthOpts(text, len, &end_cjson, 0);
    rtp_json_arena_begin();
    cJSON *fast = rtp_json_parse(text, len, &end_fast);
    if (!fast) {
        s_left++;
    } else if (!ref || end_fast != end_cjson || !json_same(fast, ref, 0)) {
        s_wrong++;
        if (s_wrong <= 5)
            fprintf(stderr, "%s: the fast path took %.*s%s (cJSON %s)\n", what, (int) (len < 200 ? len : 200),
                    text, len > 200 ? "..." : "",
                    !ref                    ? "refused it"
                    : end_fast != end_cjson ? "ends elsewhere"
                                            : "builds another tree");
    } else {
        s_taken++;
    }
    rtp_json_arena_end();
    cJSON_Delete(ref);
}

static void s_compare_str(const char *text)
{
    s_compare(text, strlen(text), "edge case");
}

/* Must be taken (and be right): the common forms. */
static void s_check_taken(const char *text)
{
    int before = s_taken;
    s_compare_str(text);
    if (s_taken == before) {
        check_failed_++;
        fprintf(stderr, "the fast path did not take %s\n", text);
    } else {
        check_passed_++;
    }
}

static void test_edge_cases(void)
{
    static const char *const taken[] = {
        "{}",
        "[]",
        " \t\r\n{ } ",
        "\x01\x1f{\"a\":1}",
        "null",
        "true",
        "false",
        "0",
        "-0",
        "7",
        "-7",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "9007199254740993",
        "18446744073709551615",
        "9999999999999999999",
        "-9999999999999999999",
        "1234567890123456789",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\u4e2d\\ud83d\\ude00\\u0041\"",
        "\"\\u0000x\"",
        "\"\x01\x7f\"",
        "{\"a\":1,\"a\":2,\"\":[1,[2,{}],{\"b\":null}]}",
        "[1 , 2 ,\n3]",
        "{\"k\" : \"v\" }",
        "[true,false,null]",
        "nullx",
        "[1]x",
        "7-",
        "12+",
    };
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++)
        s_check_taken(taken[i]);
    /* the rest may be left to cJSON: only what is taken must be right */
    static const char *const others[] = {
        "",
        " ",
        "01",
        "-",
        "-a",
        "+1",
        ".5",
        "1.5",
        "1e5",
        "1E+5",
        "-1.0e-3",
        "12345678901234567890",
        "123456789012345678901234567890",
        "\xEF\xBB\xBF{}  ",
        "\xEF\xBB\xBF{}",
        "{",
        "[",
        "[1,]",
        "{\"a\"}",
        "{\"a\":}",
        "{,}",
        "[,1]",
        "{\"a\" 1}",
        "{1:2}",
        "\"abc",
        "\"abc\\",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\ud83d\"",
        "\"\\ud83dx\"",
        "\"\\ud83d\\u0041\"",
        "\"\\ude00\"",
        "\"\\ud83d\\ude0\"",
        "nul",
        "tru",
        "fals",
        "[nulll]",
        "[1 2]",
        "{\"a\":1,}",
        "[\"a\"\"b\"]",
        "-0x10",
        "0x10",
        "[-]",
        "[1e]",
        "[1.]",
        "[.]",
        "{\"a\":01}",
        "[00]",
        "[-01]",
        "[1.5e3]",
        "[1.5.5]",
        "[1e5e5]",
        "[1-2]",
        "[1+]",
        "[0.1234567890123456789012345678901234567890123456789012345678901234567890]",
        "[1234567890123456789012345678901234567890123456789012345678901234567890]",
        "1234567890123456789012345678901234567890123456789012345678901234567890",
        "123456789012345678901234567890123456789012345678901234567890123",
        "1234567890123456789012345678901234567890123456789012345678901234",
        "1.23456789012345678901234567890123456789012345678901234567890123",
        "[0.123456789012345678901234567890123456789012345678901234567890e5]",
        "1+++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        s_compare_str(others[i]);
    /* nesting at, below and past cJSON's limit */
    for (int depth = CJSON_NESTING_LIMIT - 1; depth <= CJSON_NESTING_LIMIT + 1; depth++) {
        char *deep = malloc((size_t) depth * 2 + 1);
        memset(deep, '[', (size_t) depth);
        memset(deep + depth, ']', (size_t) depth);
        s_compare(deep, (size_t) depth * 2, "nesting");
        free(deep);
    }
}

static char **s_lines;
static size_t s_nlines;

static void s_load(const char *path)
{
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        s_lines = realloc(s_lines, (s_nlines + 1) * sizeof *s_lines);
        s_lines[s_nlines++] = strdup(line);
        len++;
    }
    free(line);
    fclose(f);
    CHECK(len > 0);
}

static uint64_t s_rng = 88172645463325252ULL;
static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void test_bundled_and_mutated(void)
{
    s_load("data/tweets-a.jsonl");
    s_load("data/tweets-b.jsonl");
    int left_before = s_left, wrong_before = s_wrong;
    for (size_t i = 0; i < s_nlines; i++)
        s_compare(s_lines[i], strlen(s_lines[i]), "bundled tweet");
    CHECK_INT(s_left - left_before, 0); /* every bundled tweet takes the fast path */
    CHECK_INT(s_wrong - wrong_before, 0);

    static const char special[] = "\"\\{}[],:-+.eE0123456789 \t\nuntrfalsbd/\x01\x7f\xc3\xa9";
    int mutations = 40000;
    for (int m = 0; m < mutations && s_nlines; m++) {
        const char *src = s_lines[s_rand() % s_nlines];
        size_t len = strlen(src);
        char *buf = malloc(len + 8);
        memcpy(buf, src, len);
        int edits = 1 + (int) (s_rand() % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = s_rand() % len;
            char c = (s_rand() % 4) ? special[s_rand() % (sizeof special - 1)] : (char) s_rand();
            switch (s_rand() % 4) {
            case 0: /* replace */
                buf[at] = c;
                break;
            case 1: /* remove */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            case 2: /* insert (room for up to 3 inserts) */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
                break;
            default: /* cut */
                len = at;
                break;
            }
        }
        s_compare(buf, len, "mutation");
        free(buf);
    }
    printf("json_parse: %d documents taken (and right), %d left to cJSON, %d wrong\n", s_taken, s_left,
           s_wrong);
    for (size_t i = 0; i < s_nlines; i++)
        free(s_lines[i]);
    free(s_lines);
}

int main(void)
{
    test_edge_cases();
    test_bundled_and_mutated();
    CHECK_INT(s_wrong, 0);
    return CHECK_DONE();
}
