/* analysis: word keys, the AFINN lexicon and sentiment, censoring with phrases,
 * engagement and hashtags, as SPEC section 2 defines them. Expected values are
 * worked out by hand from the spec (AFINN values quoted next to each sentence). */
#include "analysis.h"
#include "check.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static rtp_censor_t *s_swears; /* the bundled list */
static rtp_lexicon_t *s_afinn; /* the bundled list */

/* Censors with the bundled list and checks the text, the count, and that the length
 * and every byte that is not a star are unchanged. */
static void s_check_censor(const char *text, const char *expected, int expected_count)
{
    int count = -1;
    char *out = rtp_censor_text(s_swears, text, &count);
    CHECK(out != NULL);
    if (!out)
        return;
    CHECK_STR(out, expected);
    CHECK_INT(count, expected_count);
    CHECK_INT(strlen(out), strlen(text));
    int kept = 1;
    for (size_t i = 0; text[i] && out[i]; i++)
        if (out[i] != '*' && out[i] != text[i])
            kept = 0;
    CHECK(kept);
    free(out);
}

static void s_check_key(const char *word, const char *expected, size_t expected_start)
{
    size_t len = strlen(word), start = 999;
    char key[64];
    size_t key_len = rtp_word_key(word, len, key, &start);
    CHECK_STR(key, expected);
    CHECK_INT(key_len, strlen(expected));
    CHECK_INT(start, expected_start);
}

static void s_test_keys(void)
{
    s_check_key("Shit!", "shit", 0);
    s_check_key("(Hello),", "hello", 1);
    s_check_key("\"'Quoted'\"", "quoted", 2);
    s_check_key("...", "", 3); /* all punctuation: empty key, start past it */
    s_check_key("", "", 0);
    s_check_key("child-fucker", "child-fucker", 0); /* inner punctuation stays */
    s_check_key("don't", "don't", 0);
    s_check_key("#RTP_Lab", "rtp_lab", 1);
    s_check_key("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~x~}|{`_^]\\[@?>=<;:/.-,+*)('&%$#\"!", "x", 32);
    /* only ASCII letters are lowercased, other bytes kept: "\u00c9COLE!" -> "\u00c9cole" */
    s_check_key("\303\211COLE!", "\303\211cole", 0);
    s_check_key("\xC2\xABshit\xC2\xBB", "\xC2\xABshit\xC2\xBB", 0); /* «shit»: not ASCII punctuation */
}

static void s_test_lexicon_parse(void)
{
    rtp_err_t err = {{0}};
    const char *ok = "good\t3\r\nbad\t-3\r\nmeh\t+0";
    rtp_lexicon_t *lex = rtp_lexicon_new(ok, strlen(ok), 10, &err);
    CHECK(lex != NULL);
    CHECK_INT(rtp_lexicon_size(lex), 3);
    int found = -1;
    CHECK_INT(rtp_lexicon_value(lex, "bad", &found), -3);
    CHECK_INT(found, 1);
    CHECK_INT(rtp_lexicon_value(lex, "BAD", &found), -3); /* case-insensitive */
    CHECK_INT(rtp_lexicon_value(lex, "meh", &found), 0);
    CHECK_INT(found, 1);
    CHECK_INT(rtp_lexicon_value(lex, "nope", &found), 0);
    CHECK_INT(found, 0);
    CHECK_INT(rtp_lexicon_value(lex, "", NULL), 0);
    rtp_lexicon_destroy(&lex);
    CHECK(lex == NULL);
    rtp_lexicon_destroy(&lex); /* safe twice */

    /* LF line ends, final newline, a phrase, an upper-case entry (keyed in lowercase) */
    const char *lf = "Good\t3\ncool stuff\t3\nfed up\t-3\n";
    lex = rtp_lexicon_new(lf, strlen(lf), 3, &err);
    CHECK(lex != NULL);
    CHECK_INT(rtp_lexicon_size(lex), 3);
    CHECK_INT(rtp_lexicon_value(lex, "good", NULL), 3);
    CHECK(rtp_sentiment(lex, "cool stuff") == 0); /* a phrase never equals one key */
    CHECK(rtp_sentiment(lex, "fed up") == 0);
    rtp_lexicon_destroy(&lex);

    struct {
        const char *text;
        size_t max;
        const char *reason_has;
    } bad[] = {
        {"", 10, "empty"},
        {"\r\n", 10, "empty"},
        {"good 3", 10, "no tab"},
        {"good\t3\r\nbad -3", 10, "line 2"},
        {"good\tthree", 10, "not an integer"},
        {"good\t3x", 10, "not an integer"},
        {"good\t", 10, "not an integer"},
        {"good\t-", 10, "not an integer"},
        {"good\t3 ", 10, "not an integer"},
        {"good\t 3", 10, "not an integer"},
        {"good\t3\t4", 10, "not an integer"},
        {"good\t99999999999", 10, "not an integer"},
        {"good\t3\r\n\r\nbad\t-3", 10, "empty line"},
        {"good\t3\n\n", 10, "empty line"},
        {"\t3", 10, "no key"},
        {"...\t3", 10, "no key"},
        {"good\t3\r\nGOOD\t2", 10, "duplicate"},
        {"a\t1\nb\t2\nc\t3", 2, "limit"},
        {"a\t1\nb\t2\nc\t3\n", 2, "limit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        lex = rtp_lexicon_new(bad[i].text, strlen(bad[i].text), bad[i].max, &err);
        CHECK(lex == NULL);
        if (!strstr(err.msg, bad[i].reason_has))
            fprintf(stderr, "case %zu: reason '%s' lacks '%s'\n", i, err.msg, bad[i].reason_has);
        CHECK(strstr(err.msg, bad[i].reason_has) != NULL);
        rtp_lexicon_destroy(&lex);
    }
    /* exactly max_entries is fine; a NUL byte inside is malformed */
    lex = rtp_lexicon_new("a\t1\nb\t2\nc\t3", 11, 3, &err);
    CHECK(lex != NULL);
    rtp_lexicon_destroy(&lex);
    CHECK(rtp_lexicon_new("a\t1\nb\0\t2", 8, 3, &err) == NULL);
    CHECK(strstr(err.msg, "NUL") != NULL);
    CHECK(rtp_lexicon_new("a 1", 3, 3, NULL) == NULL); /* err may be NULL */
}

static void s_test_lexicon_file(void)
{
    CHECK_INT(rtp_lexicon_size(s_afinn), 2477);
    CHECK_INT(rtp_lexicon_value(s_afinn, "abandon", NULL), -2);     /* first line */
    CHECK_INT(rtp_lexicon_value(s_afinn, "zealous", NULL), 2);      /* last line, no final newline */
    CHECK_INT(rtp_lexicon_value(s_afinn, "can't stand", NULL), -3); /* a phrase loads */
    CHECK_INT(rtp_lexicon_value(s_afinn, "cover-up", NULL), -3);
}

static void s_check_sentiment(const char *text, double expected)
{
    double got = rtp_sentiment(s_afinn, text);
    if (got != expected)
        fprintf(stderr, "sentiment of '%s': got %.17g, expected %.17g\n", text, got, expected);
    CHECK(got == expected);
}

static void s_test_sentiment(void)
{
    /* love 3, good 3; six words */
    s_check_sentiment("I LOVE this, it is Good!", 6.0 / 6);
    s_check_sentiment("bad\tbad\nbad", -9.0 / 3);      /* bad -3; tabs and newlines split */
    s_check_sentiment("good\vgood\fbad\rx", 3.0 / 4);  /* so do \v \f \r */
    s_check_sentiment("abandon ship now", -2.0 / 3);   /* abandon -2 */
    s_check_sentiment("cool stuff", 1.0 / 2);          /* cool 1; "cool stuff" 3 is a phrase */
    s_check_sentiment("no fun", (-1.0 + 4) / 2);       /* no -1, fun 4; not "no fun" -3 */
    s_check_sentiment("can't stand it", 0.0 / 3);      /* can't stand is a phrase */
    s_check_sentiment("Wow... sad :(", (4.0 - 2) / 3); /* ":(" has an empty key and counts 0 */
    s_check_sentiment("#fail", -2.0 / 1);              /* fail -2: the # is punctuation */
    s_check_sentiment("  good  \r\n  ", 3.0 / 1);
    s_check_sentiment("goods", 0);                   /* good 3, but keys are whole words */
    s_check_sentiment("na\xC3\x83\xC2\xAFve", -2.0); /* the list's own non-ASCII entry */
    s_check_sentiment("na\xC3\xAFve", 0);            /* a different byte string */
    s_check_sentiment("...", 0);
    s_check_sentiment("", 0);
    s_check_sentiment(" \t\n\v\f\r ", 0);
    CHECK(rtp_sentiment(s_afinn, NULL) == 0);
    CHECK(rtp_sentiment(NULL, "good") == 0);
}

static void s_test_censor_single(void)
{
    CHECK_INT(rtp_censor_size(s_swears), 75);
    s_check_censor("Shit!", "****!", 1);
    s_check_censor("SHIT happens", "**** happens", 1);
    s_check_censor("FuCk", "****", 1);
    s_check_censor("(shit)", "(****)", 1);   /* both sides */
    s_check_censor("...shit", "...****", 1); /* leading */
    s_check_censor("\"Crap,\" he said", "\"****,\" he said", 1);
    s_check_censor("#bollocks", "#********", 1);
    s_check_censor("child-fucker", "************", 1); /* an entry with inner punctuation */
    s_check_censor("child-fucker!", "************!", 1);
    s_check_censor("-child-fucker-", "-************-", 1);
    s_check_censor("child fucker", "child fucker", 0); /* neither word is an entry */
    s_check_censor("sod-off.", "*******.", 1);
    s_check_censor("sod off", "*** off", 1);             /* "sod" is an entry of its own */
    s_check_censor("shitty shit's", "shitty shit's", 0); /* keys are whole words */
    s_check_censor("cows cow", "cows ***", 1);
    s_check_censor("ass,ass", "ass,ass", 0); /* one word whose key is "ass,ass" */
    s_check_censor("shit\tcrap\nhell  damn\r\n", "****\t****\n****  ****\r\n", 4);
    s_check_censor("shit\vcrap\fhell\rdamn", "****\v****\f****\r****", 4); /* \v \f \r split too */
    /* non-ASCII around or next to a word is part of it and is kept */
    s_check_censor("\xC2\xABshit\xC2\xBB shit\xE2\x80\xA6", "\xC2\xABshit\xC2\xBB shit\xE2\x80\xA6", 0);
    s_check_censor("shit, caf\xC3\xA9 \xF0\x9F\x98\x80 twat", "****, caf\xC3\xA9 \xF0\x9F\x98\x80 ****", 2);
    s_check_censor("...", "...", 0);
    s_check_censor("", "", 0);
    s_check_censor(" \t\n\v\f\r ", " \t\n\v\f\r ", 0);
    s_check_censor("nothing to see here", "nothing to see here", 0);
}

static void s_test_censor_phrases(void)
{
    s_check_censor("Jesus, Mary and Joseph!", "*****, **** *** ******!", 4);
    s_check_censor("jesus\tmary\nand  joseph", "*****\t****\n***  ******", 4); /* any whitespace */
    s_check_censor("Jesus, Mary and Bob", "Jesus, Mary and Bob", 0);           /* partial: nothing */
    s_check_censor("jesus h. christ", "***** *. ******", 3);
    s_check_censor("Jesus H Christ!", "***** * ******!", 3);
    s_check_censor("jesus christ", "***** ******", 2);
    s_check_censor("jesus", "jesus", 0);
    s_check_censor("christ on a bike", "****** ** * ****", 4);
    s_check_censor("christ on a cracker", "****** ** * *******", 4);
    s_check_censor("christ on a horse", "christ on a horse", 0);
    s_check_censor("beef curtains", "**** ********", 2);
    s_check_censor("beef stew", "beef stew", 0);
    s_check_censor("Sweet... JESUS!!!", "*****... *****!!!", 2);
    s_check_censor("sweet", "sweet", 0); /* the text ends mid-phrase */
    s_check_censor("oh sweet", "oh sweet", 0);
    s_check_censor("holy - shit", "holy - ****", 1); /* a word with an empty key breaks the run */
    /* overlaps with single entries and with each other, each word counted once */
    s_check_censor("holy shit", "**** ****", 2);
    s_check_censor("holy cow", "holy ***", 1);
    s_check_censor("shit ass", "**** ***", 2);
    s_check_censor("holy shit ass", "**** **** ***", 3);
    s_check_censor("pissed off", "****** ***", 2);
    s_check_censor("pissed on", "****** on", 1);
    s_check_censor("son of a bitch", "*** ** * *****", 4);
    s_check_censor("son of a", "son of a", 0);
    s_check_censor("son of a son of a bitch", "son of a *** ** * *****", 4);
    s_check_censor("son of a whore!", "*** ** * *****!", 4);
    s_check_censor("Jesus wept, jesus fuck", "***** ****, ***** ****", 4);
    s_check_censor("judas priest judas", "***** ****** judas", 2);
    s_check_censor("a son of a bitch and a son of a whore", "a *** ** * ***** and a *** ** * *****", 8);
}

static void s_test_censor_lists(void)
{
    rtp_err_t err = {{0}};
    const char *bad[] = {"",
                         "not json",
                         "{}",
                         "\"shit\"",
                         "[1]",
                         "[\"ok\", null]",
                         "[\"\"]",
                         "[\"  \"]",
                         "[\"...\"]",
                         "[\"holy ...\"]",
                         "[\"a\", [\"b\"]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        rtp_censor_t *c = rtp_censor_new(bad[i], strlen(bad[i]), &err);
        CHECK(c == NULL);
        CHECK(err.msg[0] != 0);
        rtp_censor_destroy(&c);
    }
    /* an empty list censors nothing */
    rtp_censor_t *c = rtp_censor_new("[]", 2, &err);
    CHECK(c != NULL);
    CHECK_INT(rtp_censor_size(c), 0);
    int count = -1;
    char *out = rtp_censor_text(c, "shit", &count);
    CHECK_STR(out, "shit");
    CHECK_INT(count, 0);
    free(out);
    rtp_censor_destroy(&c);
    CHECK(c == NULL);
    rtp_censor_destroy(&c);

    /* entries are keyed like words: case and punctuation around them do not matter;
     * a phrase may repeat a word, and may extend another phrase */
    const char *list = "[\"  Darn!  \", \"gosh darn it\", \"gosh darn\", \"no no no\", \"x\"]";
    c = rtp_censor_new(list, strlen(list), &err);
    CHECK(c != NULL);
    CHECK_INT(rtp_censor_size(c), 5);
    struct {
        const char *in, *out;
        int count;
    } cases[] = {
        {"darn", "****", 1},
        {"Gosh, darn it!", "****, **** **!", 3},
        {"gosh darn", "**** ****", 2},
        {"gosh gosh darn", "gosh **** ****", 2},
        {"no no", "no no", 0},
        {"no no no", "** ** **", 3},
        {"no no no no", "** ** ** **", 4}, /* two overlapping matches */
        {"no no y no no no", "no no y ** ** **", 3},
        {"no no no no no no", "** ** ** ** ** **", 6},
        {"x-x x", "x-x *", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        out = rtp_censor_text(c, cases[i].in, &count);
        CHECK_STR(out, cases[i].out);
        CHECK_INT(count, cases[i].count);
        free(out);
    }
    out = rtp_censor_text(c, NULL, NULL); /* NULL text: an empty copy; count may be NULL */
    CHECK_STR(out, "");
    free(out);
    rtp_censor_destroy(&c);
}

static void s_test_engagement_hashtags(void)
{
    CHECK(rtp_engagement(3, 2, 10) == 0.5);
    CHECK(rtp_engagement(1, 0, 3) == 1.0 / 3);
    CHECK(rtp_engagement(0, 0, 5) == 0);
    CHECK(rtp_engagement(7, 8, 0) == 0);
    CHECK(rtp_engagement(7, 8, -1) == 0);
    CHECK(rtp_engagement(7, 8, INT64_MIN) == 0);
    CHECK(rtp_engagement(10, 20, 3) == 10);
    CHECK(rtp_engagement(INT64_MAX, INT64_MAX, 1) > 1e18); /* no overflow */
    char buf[32];
    CHECK_STR(rtp_fmt_double(buf, sizeof buf, rtp_engagement(2, 0, 3)), "0.6666666666666666");

    char tag[] = "RTP_Lab2016\xC3\x9C"; /* "...\u00dc": non-ASCII kept */
    rtp_hashtag_normalize(tag);
    CHECK_STR(tag, "rtp_lab2016\xC3\x9C");
    rtp_hashtag_normalize(NULL);
}

static void *s_load(const char *file, size_t *len_p)
{
    char path[1024];
    rtp_data_path(path, sizeof path, file);
    char *text = rtp_read_file(path, len_p);
    if (!text)
        fprintf(stderr, "cannot read %s\n", path);
    return text;
}

int main(void)
{
    size_t len;
    rtp_err_t err = {{0}};
    char *afinn = s_load("emotion_values.txt", &len);
    CHECK(afinn != NULL);
    s_afinn = afinn ? rtp_lexicon_new(afinn, len, 100000, &err) : NULL;
    if (!s_afinn)
        fprintf(stderr, "AFINN: %s\n", err.msg);
    CHECK(s_afinn != NULL);
    CHECK(afinn && rtp_lexicon_new(afinn, len, 2476, &err) == NULL); /* one too many */
    free(afinn);
    char *swears = s_load("swearwords.json", &len);
    CHECK(swears != NULL);
    s_swears = swears ? rtp_censor_new(swears, len, &err) : NULL;
    if (!s_swears)
        fprintf(stderr, "swear words: %s\n", err.msg);
    CHECK(s_swears != NULL);
    free(swears);
    if (!s_afinn || !s_swears)
        return CHECK_DONE();

    s_test_keys();
    s_test_lexicon_parse();
    s_test_lexicon_file();
    s_test_sentiment();
    s_test_censor_single();
    s_test_censor_phrases();
    s_test_censor_lists();
    s_test_engagement_hashtags();

    rtp_lexicon_destroy(&s_afinn);
    rtp_censor_destroy(&s_swears);
    return CHECK_DONE();
}
