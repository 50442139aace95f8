/* fuzz_analysis: the text analysis of SPEC section 2 (common/analysis.h) against a
 * reference written here from analysis.h's words alone.
 *
 * The first byte picks what the rest of the input is, modulo 3:
 *   0  an AFINN list: rtp_lexicon_new must accept it exactly when every line is
 *      `word<TAB>integer` with a word that has a key and no key twice (and no more
 *      lines than the limit, which the input's hash sometimes makes small); when it
 *      does, every entry reads back with its value, and the sentiment of the list's
 *      own text is the reference's;
 *   1  a swear-word list as JSON, optionally followed by a NUL and a text (else the
 *      JSON is the text): rtp_censor_new must accept it exactly when it is an array
 *      of strings whose words all have keys; when it does, each entry censored by
 *      the list has all its words starred, and the text is censored as the
 *      reference censors it;
 *   2  a text, scored with the bundled lists (data/emotion_values.txt and
 *      data/swearwords.json): sentiment and censoring equal the reference's.
 * Every censored text also keeps the censor's invariants: the same length, only
 * '*' bytes differ, and the count is the number of words that changed.
 */
#include "analysis.h"

#include "fuzz_check.h"

#include <cJSON.h>

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RTP_FUZZ_DATA_DIR
#define RTP_FUZZ_DATA_DIR "data"
#endif

/* --- words and keys, as analysis.h defines them ----------------------------------- */

static bool s_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool s_punct(unsigned char c)
{
    return c >= 0x21 && c <= 0x7E && !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') &&
           !(c >= 'a' && c <= 'z');
}

typedef struct {
    size_t start, end;         /* the word in the text */
    size_t key_start, key_end; /* its key, in the text */
    char *key;                 /* lowercased, NUL-terminated */
} s_word_t;

typedef struct {
    s_word_t *v;
    size_t n;
} s_words_t;

static void s_split(const char *text, s_words_t *out)
{
    size_t len = strlen(text), cap = 8;
    out->n = 0;
    out->v = malloc(cap * sizeof *out->v);
    FUZZ_CHECK(out->v, "out of memory");
    for (size_t i = 0; i < len;) {
        if (s_space((unsigned char) text[i])) {
            i++;
            continue;
        }
        s_word_t w = {.start = i};
        while (i < len && !s_space((unsigned char) text[i]))
            i++;
        w.end = w.key_start = i;
        for (size_t k = w.start; k < w.end; k++)
            if (!s_punct((unsigned char) text[k])) {
                if (w.key_start == w.end)
                    w.key_start = k;
                w.key_end = k + 1;
            }
        if (w.key_start == w.end)
            w.key_start = w.key_end = w.start; /* only punctuation: an empty key */
        w.key = malloc(w.key_end - w.key_start + 1);
        FUZZ_CHECK(w.key, "out of memory");
        for (size_t k = w.key_start; k < w.key_end; k++) {
            char c = text[k];
            w.key[k - w.key_start] = c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
        }
        w.key[w.key_end - w.key_start] = '\0';
        if (out->n == cap) {
            cap *= 2;
            out->v = realloc(out->v, cap * sizeof *out->v);
            FUZZ_CHECK(out->v, "out of memory");
        }
        out->v[out->n++] = w;
    }
}

static void s_words_free(s_words_t *words)
{
    for (size_t i = 0; i < words->n; i++)
        free(words->v[i].key);
    free(words->v);
    memset(words, 0, sizeof *words);
}

/* The key of a word given on its own (the text between a line's start and its tab). */
static char *s_key_of(const char *word, size_t len)
{
    size_t start = 0, end = len;
    while (start < end && s_punct((unsigned char) word[start]))
        start++;
    while (end > start && s_punct((unsigned char) word[end - 1]))
        end--;
    char *key = malloc(end - start + 1);
    FUZZ_CHECK(key, "out of memory");
    for (size_t k = start; k < end; k++)
        key[k - start] = word[k] >= 'A' && word[k] <= 'Z' ? (char) (word[k] - 'A' + 'a') : word[k];
    key[end - start] = '\0';
    return key;
}

/* --- reference lexicon: a sorted array ------------------------------------------------ */

typedef struct {
    char *key;
    int value;
} s_entry_t;

typedef struct {
    s_entry_t *v;
    size_t n;
} s_lexicon_t;

static int s_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const s_entry_t *) a)->key, ((const s_entry_t *) b)->key);
}

static void s_lexicon_free(s_lexicon_t *lex)
{
    for (size_t i = 0; i < lex->n; i++)
        free(lex->v[i].key);
    free(lex->v);
    memset(lex, 0, sizeof *lex);
}

/* An optional sign and one or more digits, the magnitude within INT_MAX. */
static bool s_int(const char *s, size_t len, int *out)
{
    size_t i = len > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == len)
        return false;
    long long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > INT_MAX)
            return false;
    }
    *out = s[0] == '-' ? (int) -v : (int) v;
    return true;
}

/* Parses a list as analysis.h describes it; false (and an empty lex) if it is not one. */
static bool s_lexicon_parse(const char *text, size_t len, size_t max_entries, s_lexicon_t *lex)
{
    memset(lex, 0, sizeof *lex);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    lex->v = malloc(cap * sizeof *lex->v);
    FUZZ_CHECK(lex->v, "out of memory");
    bool ok = len > 0;
    for (size_t i = 0; ok && i < len;) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t) (nl - line) : len - i;
        i += n + 1; /* a final line end does not start a line */
        if (n > 0 && line[n - 1] == '\r')
            n--;
        const char *tab = memchr(line, '\t', n);
        int value;
        ok = n > 0 && !memchr(line, '\0', n) && tab &&
             s_int(tab + 1, n - (size_t) (tab - line) - 1, &value) && lex->n < max_entries;
        if (!ok)
            break;
        char *key = s_key_of(line, (size_t) (tab - line));
        ok = *key;
        lex->v[lex->n++] = (s_entry_t){key, value};
    }
    if (ok)
        qsort(lex->v, lex->n, sizeof *lex->v, s_entry_cmp);
    for (size_t e = 1; ok && e < lex->n; e++)
        ok = strcmp(lex->v[e - 1].key, lex->v[e].key) != 0; /* no key twice */
    if (!ok)
        s_lexicon_free(lex);
    return ok;
}

static const s_entry_t *s_lexicon_find(const s_lexicon_t *lex, const char *key)
{
    s_entry_t probe = {(char *) key, 0};
    return lex->n ? bsearch(&probe, lex->v, lex->n, sizeof *lex->v, s_entry_cmp) : NULL;
}

static double s_sentiment(const s_lexicon_t *lex, const char *text)
{
    s_words_t words;
    s_split(text, &words);
    int64_t sum = 0;
    for (size_t i = 0; i < words.n; i++) {
        const s_entry_t *e = s_lexicon_find(lex, words.v[i].key);
        sum += e ? e->value : 0;
    }
    double score = words.n ? (double) sum / (double) words.n : 0;
    s_words_free(&words);
    return score;
}

/* --- reference censor: entries as lists of keys ------------------------------------ */

typedef struct {
    char **keys;
    size_t n;
} s_phrase_t;

typedef struct {
    s_phrase_t *v; /* sorted by first key */
    size_t n;
} s_swears_t;

static int s_phrase_cmp(const void *a, const void *b)
{
    return strcmp(((const s_phrase_t *) a)->keys[0], ((const s_phrase_t *) b)->keys[0]);
}

static void s_swears_free(s_swears_t *sw)
{
    for (size_t i = 0; i < sw->n; i++) {
        for (size_t k = 0; k < sw->v[i].n; k++)
            free(sw->v[i].keys[k]);
        free(sw->v[i].keys);
    }
    free(sw->v);
    memset(sw, 0, sizeof *sw);
}

/* An array of strings, each of one or more words, each word with a key. */
static bool s_swears_parse(const cJSON *list, s_swears_t *sw)
{
    memset(sw, 0, sizeof *sw);
    if (!cJSON_IsArray(list))
        return false;
    sw->v = calloc((size_t) cJSON_GetArraySize(list) + 1, sizeof *sw->v);
    FUZZ_CHECK(sw->v, "out of memory");
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsString(item)) {
            s_swears_free(sw);
            return false;
        }
        s_words_t words;
        s_split(item->valuestring, &words);
        s_phrase_t *ph = &sw->v[sw->n++];
        ph->n = words.n;
        ph->keys = calloc(words.n + 1, sizeof *ph->keys);
        FUZZ_CHECK(ph->keys, "out of memory");
        bool ok = words.n > 0;
        for (size_t k = 0; k < words.n; k++) {
            ok = ok && *words.v[k].key;
            ph->keys[k] = words.v[k].key;
            words.v[k].key = NULL;
        }
        s_words_free(&words);
        if (!ok) {
            s_swears_free(sw);
            return false;
        }
    }
    qsort(sw->v, sw->n, sizeof *sw->v, s_phrase_cmp);
    return true;
}

/* The censored text and the count of starred words, as analysis.h says. */
static char *s_censor(const s_swears_t *sw, const char *text, int *count_p)
{
    s_words_t words;
    s_split(text, &words);
    bool *starred = calloc(words.n + 1, sizeof *starred);
    FUZZ_CHECK(starred, "out of memory");
    for (size_t w = 0; w < words.n; w++) {
        /* the entries whose first key is this word's: a binary search for the first */
        size_t lo = 0, hi = sw->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(sw->v[mid].keys[0], words.v[w].key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t e = lo; e < sw->n && strcmp(sw->v[e].keys[0], words.v[w].key) == 0; e++) {
            const s_phrase_t *ph = &sw->v[e];
            if (w + ph->n > words.n)
                continue;
            size_t k = 1;
            while (k < ph->n && strcmp(ph->keys[k], words.v[w + k].key) == 0)
                k++;
            if (k == ph->n)
                for (k = 0; k < ph->n; k++)
                    starred[w + k] = true;
        }
    }
    char *out = strdup(text);
    FUZZ_CHECK(out, "out of memory");
    int count = 0;
    for (size_t w = 0; w < words.n; w++)
        if (starred[w]) {
            memset(out + words.v[w].key_start, '*', words.v[w].key_end - words.v[w].key_start);
            count++;
        }
    *count_p = count;
    free(starred);
    s_words_free(&words);
    return out;
}

/* rtp_censor_text's result: its invariants, then the reference's. */
static void s_check_censor(const rtp_censor_t *censor, const s_swears_t *sw, const char *text)
{
    int count = -1;
    char *out = rtp_censor_text(censor, text, &count);
    FUZZ_CHECK(out, "rtp_censor_text returned NULL");
    size_t len = strlen(text);
    FUZZ_CHECK(strlen(out) == len, "censored text of %zu bytes, the text has %zu", strlen(out), len);
    s_words_t words;
    s_split(text, &words);
    int changed = 0;
    for (size_t w = 0; w < words.n; w++)
        changed +=
            memcmp(out + words.v[w].start, text + words.v[w].start, words.v[w].end - words.v[w].start) != 0;
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK(out[i] == text[i] || out[i] == '*', "byte %zu changed to '%c', not '*'", i, out[i]);
    FUZZ_CHECK(count == changed, "count %d, %d words changed", count, changed);
    s_words_free(&words);

    int want_count;
    char *want = s_censor(sw, text, &want_count);
    FUZZ_CHECK(strcmp(out, want) == 0 && count == want_count,
               "censored (%d words) '%.200s'\n  reference (%d words) '%.200s'", count, out, want_count, want);
    free(want);
    free(out);
}

/* --- the bundled lists ------------------------------------------------------------ */

static rtp_lexicon_t *s_afinn;
static rtp_censor_t *s_swear_list;
static s_lexicon_t s_afinn_ref;
static s_swears_t s_swears_ref;

static char *s_read(const char *name, size_t *len)
{
    const char *dir = getenv("RTP_DATA_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : RTP_FUZZ_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f, "cannot open %s (set RTP_DATA_DIR to the repository's data folder)", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t) size + 1);
    FUZZ_CHECK(buf && fread(buf, 1, (size_t) size, f) == (size_t) size, "cannot read %s", path);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t) size;
    return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    size_t len;
    rtp_err_t err = {{0}};
    char *text = s_read("emotion_values.txt", &len);
    s_afinn = rtp_lexicon_new(text, len, 100000, &err);
    FUZZ_CHECK(s_afinn, "emotion_values.txt: %s", err.msg);
    FUZZ_CHECK(s_lexicon_parse(text, len, 100000, &s_afinn_ref), "the reference rejects emotion_values.txt");
    FUZZ_CHECK(rtp_lexicon_size(s_afinn) == s_afinn_ref.n, "%zu AFINN entries, the reference has %zu",
               rtp_lexicon_size(s_afinn), s_afinn_ref.n);
    free(text);
    char *json = s_read("swearwords.json", &len);
    s_swear_list = rtp_censor_new(json, len, &err);
    FUZZ_CHECK(s_swear_list, "swearwords.json: %s", err.msg);
    cJSON *list = cJSON_ParseWithLength(json, len);
    FUZZ_CHECK(s_swears_parse(list, &s_swears_ref), "the reference rejects swearwords.json");
    cJSON_Delete(list);
    free(json);
    return 0;
}

/* --- the three modes ------------------------------------------------------------------ */

static void s_fuzz_lexicon(const char *text, size_t len, uint64_t seed)
{
    size_t max_entries = seed % 4 == 0 ? 1 + (seed >> 8) % 32 : 100000;
    rtp_err_t err = {{0}};
    rtp_lexicon_t *lex = rtp_lexicon_new(text, len, max_entries, &err);
    s_lexicon_t ref;
    bool valid = s_lexicon_parse(text, len, max_entries, &ref);
    FUZZ_CHECK(!lex == !valid, "rtp_lexicon_new %s a list the reference %s (%s)", lex ? "accepts" : "rejects",
               valid ? "accepts" : "rejects", lex ? "" : err.msg);
    if (!lex) {
        FUZZ_CHECK(*err.msg, "rejected without a reason");
        return;
    }
    FUZZ_CHECK(rtp_lexicon_size(lex) == ref.n, "%zu entries, the reference has %zu", rtp_lexicon_size(lex),
               ref.n);
    for (size_t i = 0; i < ref.n; i++) {
        int found = 0;
        int value = rtp_lexicon_value(lex, ref.v[i].key, &found);
        FUZZ_CHECK(found && value == ref.v[i].value, "entry '%s': %d (found %d), the reference has %d",
                   ref.v[i].key, value, found, ref.v[i].value);
    }
    char *own = strndup(text, len); /* accepted, so it has no NUL */
    FUZZ_CHECK(own, "out of memory");
    double got = rtp_sentiment(lex, own), want = s_sentiment(&ref, own);
    FUZZ_CHECK(got == want, "sentiment %.17g, the reference %.17g", got, want);
    free(own);
    s_lexicon_free(&ref);
    rtp_lexicon_destroy(&lex);
    rtp_lexicon_destroy(&lex);
    FUZZ_CHECK(!lex, "destroy did not clear the pointer");
}

static void s_fuzz_censor_list(const char *input, size_t len)
{
    const char *nul = memchr(input, '\0', len);
    size_t json_len = nul ? (size_t) (nul - input) : len;
    rtp_err_t err = {{0}};
    rtp_censor_t *censor = rtp_censor_new(input, json_len, &err);
    cJSON *list = cJSON_ParseWithLength(input, json_len);
    s_swears_t ref;
    bool valid = s_swears_parse(list, &ref);
    FUZZ_CHECK(!censor == !valid, "rtp_censor_new %s a list the reference %s (%s)",
               censor ? "accepts" : "rejects", valid ? "accepts" : "rejects", censor ? "" : err.msg);
    if (!censor) {
        FUZZ_CHECK(*err.msg, "rejected without a reason");
        cJSON_Delete(list);
        return;
    }
    FUZZ_CHECK(rtp_censor_size(censor) == (size_t) cJSON_GetArraySize(list), "%zu entries, the array has %d",
               rtp_censor_size(censor), cJSON_GetArraySize(list));
    /* An entry is censored whole by its own list. */
    const cJSON *item;
    int checked = 0;
    cJSON_ArrayForEach(item, list)
    {
        if (++checked > 64)
            break;
        int count = 0;
        char *out = rtp_censor_text(censor, item->valuestring, &count);
        s_words_t words;
        s_split(item->valuestring, &words);
        FUZZ_CHECK(out && (size_t) count == words.n, "entry '%.80s': %d of its %zu words starred",
                   item->valuestring, count, words.n);
        s_words_free(&words);
        free(out);
    }
    s_check_censor(censor, &ref, nul ? nul + 1 : input);
    s_swears_free(&ref);
    cJSON_Delete(list);
    rtp_censor_destroy(&censor);
    rtp_censor_destroy(&censor);
    FUZZ_CHECK(!censor, "destroy did not clear the pointer");
}

static void s_fuzz_text(const char *text)
{
    double got = rtp_sentiment(s_afinn, text), want = s_sentiment(&s_afinn_ref, text);
    FUZZ_CHECK(got == want, "sentiment %.17g, the reference %.17g", got, want);
    FUZZ_CHECK(got >= -5 && got <= 5, "sentiment %g outside AFINN's -5..5", got);
    s_check_censor(s_swear_list, &s_swears_ref, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* A NUL-terminated copy of exactly the rest: the text functions take C strings. */
    size_t len = size - 1;
    char *rest = malloc(len + 1);
    FUZZ_CHECK(rest, "out of memory");
    memcpy(rest, data + 1, len);
    rest[len] = '\0';
    switch (data[0] % 3) {
    case 0:
        s_fuzz_lexicon(rest, len, fuzz_hash(data, size));
        break;
    case 1:
        s_fuzz_censor_list(rest, len);
        break;
    default:
        s_fuzz_text(rest);
        break;
    }
    free(rest);
    return 0;
}
