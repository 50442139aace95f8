/* json_raw: finding values in JSON text by following its structure. The decoder's
 * use of it (ids without id_str) is tested in test_tweet.c; these are the
 * functions' own contracts. */
#include "check.h"
#include "json_raw.h"

#include <stdlib.h>
#include <string.h>

/* The bytes of the value of the first member `name` of the top-level object of
 * text, written into buf; "<none>" without one, "<not an object>" if -1. */
static const char *s_member_of(const char *text, const char *name, char *buf, size_t cap)
{
    size_t len = strlen(text), root, value;
    bool found;
    if (rtp_json_root(text, len, &root) != 0 ||
        rtp_json_members(text, len, root, &name, 1, &value, &found) < 0) {
        snprintf(buf, cap, "<not an object>");
    } else if (!found) {
        snprintf(buf, cap, "<none>");
    } else {
        size_t n = rtp_json_value_len(text, len, value);
        snprintf(buf, cap, "%.*s", (int) n, text + value);
    }
    return buf;
}

static void test_values(void)
{
    static const char obj[] =
        " {\"a\": 1, \"b\" : \"x\\\"}\" , \"c\":{\"d\": [1, {\"e\": \"]\"}]}, \"f\": [], "
        "\"g\": true, \"h\": -1.5e3 , \"i\":null}";
    /* {text, name, the value's bytes, "<none>" or "<not an object>"} */
    static const char *const cases[][3] = {
        {obj, "a", "1"},
        {obj, "b", "\"x\\\"}\""},
        {obj, "c", "{\"d\": [1, {\"e\": \"]\"}]}"},
        {obj, "f", "[]"},
        {obj, "g", "true"},
        {obj, "h", "-1.5e3"},
        {obj, "i", "null"},
        /* members of nested objects and text in strings are not members */
        {obj, "d", "<none>"},
        {obj, "e", "<none>"},
        {obj, "x", "<none>"},
        {"{}", "a", "<none>"},
        {"{ \n}", "a", "<none>"},
        {"[{\"a\": 1}]", "a", "<not an object>"},
        {"\"{\\\"a\\\": 1}\"", "a", "<not an object>"},
        {"  ", "a", "<not an object>"},
        {"", "a", "<not an object>"},
        /* a BOM and any byte up to the space before the value, as cJSON skips them */
        {"\xEF\xBB\xBF\x01\t{\"a\":\x02"
         "7\x03}",
         "a", "7"},
        /* names compare after unescaping; the first member of a name wins */
        {"{\"\\u0061\": 1, \"a\": 2}", "a", "1"},
        {"{\"\\u0041\": 1, \"a\": 2}", "a", "2"},
        {"{\"a\\/b\": 1}", "a/b", "1"},
        {"{\"a\\\"b\": 1}", "a\"b", "1"},
        {"{\"a\\\\\": 1}", "a\\", "1"},
        {"{\"\\t\\n\\r\\b\\f\": 1}", "\t\n\r\b\f", "1"},
        {"{\"\\u00e9\": 1, \"\xC3\xA9\": 2}", "\xC3\xA9", "2"},
        /* a prefix, a longer name, another case are other names */
        {"{\"ab\": 1, \"A\": 2, \"\": 3}", "a", "<none>"},
        {"{\"ab\": 1, \"A\": 2, \"\": 3}", "", "3"},
        {"{\"a\\u00\": 1}", "a", "<none>"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_STR(s_member_of(cases[i][0], cases[i][1], buf, sizeof buf), cases[i][2]);
}

static void test_several(void)
{
    const char *text = "{\"x\": {\"id\": 1}, \"id\": 22, \"user\": {\"id\": 3}, \"z\": [\"id\"]}";
    size_t len = strlen(text), values[3];
    bool found[3];
    const char *names[] = {"user", "id", "none"};
    CHECK_INT(rtp_json_members(text, len, 0, names, 3, values, found), 2);
    CHECK(found[0] && found[1] && !found[2]);
    CHECK(values[1] == (size_t) (strstr(text, "22") - text));
    CHECK_INT(rtp_json_value_len(text, len, values[1]), 2);
    bool got;
    size_t id;
    const char *id_name = "id";
    CHECK_INT(rtp_json_members(text, len, values[0], &id_name, 1, &id, &got), 1);
    CHECK(got && text[id] == '3' && rtp_json_value_len(text, len, id) == 1);
    /* the pass stops at the last name it looks for: a broken rest is not read */
    const char *cut = "{\"a\": 1, \"b\": 2, \"c\": [[[";
    const char *ab[] = {"b", "a"};
    CHECK_INT(rtp_json_members(cut, strlen(cut), 0, ab, 2, values, found), 2);
    /* a cut-off text is not read past its end: each in an allocation of its size,
     * for the sanitizers to watch */
    const char *c = "c";
    CHECK_INT(rtp_json_members(cut, strlen(cut), 0, &c, 1, values, found), 1);
    static const char *const cuts[] = {"{\"a\": 1, \"b\": 2, \"c\": ",
                                       "{\"a",
                                       "{\"a\": \"x\\",
                                       "{\"a\": [\"]",
                                       "{\"a\" ",
                                       "{\"a\": 12",
                                       "{"};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t n = strlen(cuts[i]);
        char *exact = malloc(n);
        memcpy(exact, cuts[i], n);
        CHECK_INT(rtp_json_members(exact, n, 0, (const char *[]){"d"}, 1, values, found), 0);
        CHECK_INT(rtp_json_value_len(exact, n, n), 0);
        free(exact);
    }
}

int main(void)
{
    test_values();
    test_several();
    return CHECK_DONE();
}
