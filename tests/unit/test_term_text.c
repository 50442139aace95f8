/* term_text: cuts at the terminal's columns and at character boundaries. */
#include "../../tools/term_text.c"
#include "check.h"

static void test_ascii(void)
{
    int w = -1;
    CHECK_INT(term_text_fit("hello world", 5, &w), 5);
    CHECK_INT(w, 5);
    CHECK_INT(term_text_fit("hi", 80, &w), 2);
    CHECK_INT(w, 2);
    CHECK_INT(term_text_fit("", 3, &w), 0);
    CHECK_INT(term_text_fit("abc", 0, NULL), 0);
}

static void test_wide_and_multibyte(void)
{
    int w = -1;
    /* ピザの日: four wide characters of three bytes each */
    const char *pizza = "\xe3\x83\x94\xe3\x82\xb6\xe3\x81\xae\xe6\x97\xa5";
    CHECK_INT(term_text_fit(pizza, 8, &w), 12);
    CHECK_INT(w, 8);
    CHECK_INT(term_text_fit(pizza, 5, &w), 6); /* a third would take columns 5 and 6 */
    CHECK_INT(w, 4);
    /* é (two bytes, one column), then an emoji (four bytes, two columns) */
    const char *mixed = "caf\xc3\xa9 \xf0\x9f\x8d\x95!";
    CHECK_INT(term_text_fit(mixed, 5, &w), 6);
    CHECK_INT(w, 5);
    CHECK_INT(term_text_fit(mixed, 6, &w), 6); /* the emoji does not fit in one column */
    CHECK_INT(w, 5);
    CHECK_INT(term_text_fit(mixed, 7, &w), 10);
    CHECK_INT(w, 7);
    CHECK_INT(term_text_fit(mixed, 8, &w), 11);
    /* a combining acute accent takes no column */
    CHECK_INT(term_text_fit("e\xcc\x81x", 2, &w), 4);
    CHECK_INT(w, 2);
}

static void test_invalid_bytes_count_one_column(void)
{
    int w = -1;
    CHECK_INT(term_text_fit("a\xff\xfe" "b", 3, &w), 3);
    CHECK_INT(w, 3);
    CHECK_INT(term_text_fit("\xe3\x83", 5, &w), 2); /* a truncated sequence: two stray bytes */
    CHECK_INT(w, 2);
    CHECK_INT(term_text_fit("\xc0\xaf", 5, NULL), 2); /* an overlong '/' is not a character */
}

static void test_copy_never_splits(void)
{
    char buf[8];
    const char *pizza = "\xe3\x83\x94\xe3\x82\xb6\xe3\x81\xae";
    CHECK_INT(term_text_copy(buf, sizeof buf, pizza, strlen(pizza)), 6); /* 7 bytes of room: two chars */
    CHECK_STR(buf, "\xe3\x83\x94\xe3\x82\xb6");
    CHECK_INT(term_text_copy(buf, sizeof buf, "abcdefghij", 10), 7);
    CHECK_STR(buf, "abcdefg");
    CHECK_INT(term_text_copy(buf, sizeof buf, "abc", 2), 2);
    CHECK_STR(buf, "ab");
    CHECK_INT(term_text_copy(buf, 1, "abc", 3), 0);
    CHECK_STR(buf, "");
}

int main(void)
{
    test_ascii();
    test_wide_and_multibyte();
    test_invalid_bytes_count_one_column();
    test_copy_never_splits();
    return CHECK_DONE();
}
