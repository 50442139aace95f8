/* lexicon: the AFINN word list and the sentiment score of SPEC section 2. */
#include "analysis.h"
#include "keytab.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct rtp_lexicon_t {
    rtp_keytab_t table; /* entry key -> AFINN value */
};

/* Parses an optionally signed decimal int spanning all of s[0..len). */
static int s_parse_int(const char *s, size_t len, int *value_p)
{
    size_t i = 0;
    int negative = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        negative = s[i++] == '-';
    if (i == len)
        return -1;
    int value = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int digit = s[i] - '0';
        if (value > (INT_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *value_p = negative ? -value : value;
    return 0;
}

/* Loads one `word<TAB>integer` line (its line end already cut off). An entry is
 * keyed like a word of a text (punctuation around it off, lowercase), so it matches
 * exactly the words whose key it is; a phrase entry keeps its inner spaces and so
 * loads but never equals a key. */
static int s_load_line(rtp_lexicon_t *self, const char *line, size_t len, size_t lineno, char *key,
                       rtp_err_t *err)
{
    if (len == 0)
        return rtp_err_set(err, "line %zu: empty line", lineno);
    if (memchr(line, 0, len))
        return rtp_err_set(err, "line %zu: NUL byte", lineno);
    const char *tab = memchr(line, '\t', len);
    if (!tab)
        return rtp_err_set(err, "line %zu: no tab between word and value: '%.40s'", lineno, line);
    size_t word_len = (size_t) (tab - line);
    const char *value_s = tab + 1;
    size_t value_len = len - word_len - 1;
    int value;
    if (s_parse_int(value_s, value_len, &value) != 0)
        return rtp_err_set(err, "line %zu: value '%.*s' is not an integer", lineno,
                           (int) (value_len > 40 ? 40 : value_len), value_s);
    size_t key_len = rtp_word_key(line, word_len, key, NULL);
    if (key_len == 0)
        return rtp_err_set(err, "line %zu: word '%.*s' has no key (empty or only punctuation)", lineno,
                           (int) (word_len > 40 ? 40 : word_len), line);
    int added;
    if (!rtp_keytab_put(&self->table, key, key_len, value, &added))
        return rtp_err_set(err, "line %zu: out of memory", lineno);
    if (!added)
        return rtp_err_set(err, "line %zu: duplicate entry '%.40s'", lineno, key);
    return 0;
}

rtp_lexicon_t *rtp_lexicon_new(const char *text, size_t len, size_t max_entries, rtp_err_t *err)
{
    if (!text)
        len = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte order mark */
        text += 3;
        len -= 3;
    }
    if (len == 0 || (len == 1 && text[0] == '\n') || (len == 2 && memcmp(text, "\r\n", 2) == 0)) {
        rtp_err_set(err, "empty word list");
        return NULL;
    }
    /* Lines are counted first so the table is sized once and the limit is checked
     * before any work; a final line end does not start another line. */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' && i + 1 < len)
            lines++;
    if (lines > max_entries) {
        rtp_err_set(err, "%zu entries, more than the limit of %zu", lines, max_entries);
        return NULL;
    }
    rtp_lexicon_t *self = calloc(1, sizeof *self);
    char *key = malloc(len + 1);
    if (!self || !key || rtp_keytab_init(&self->table, lines, len) != 0) {
        rtp_err_set(err, "out of memory");
        free(key);
        rtp_lexicon_destroy(&self);
        return NULL;
    }
    const char *p = text, *end = text + len;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        const char *next = eol ? eol + 1 : end;
        if (!eol)
            eol = end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        if (s_load_line(self, p, (size_t) (eol - p), lineno, key, err) != 0) {
            free(key);
            rtp_lexicon_destroy(&self);
            return NULL;
        }
        p = next;
    }
    free(key);
    return self;
}

void rtp_lexicon_destroy(rtp_lexicon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_keytab_free(&(*self_p)->table);
    free(*self_p);
    *self_p = NULL;
}

size_t rtp_lexicon_size(const rtp_lexicon_t *self)
{
    return self ? self->table.count : 0;
}

int rtp_lexicon_value(const rtp_lexicon_t *self, const char *key, int *found_p)
{
    const int *value = self && key ? rtp_keytab_get(&self->table, key, strlen(key)) : NULL;
    if (found_p)
        *found_p = value != NULL;
    return value ? *value : 0;
}

double rtp_sentiment(const rtp_lexicon_t *lexicon, const char *text)
{
    if (!lexicon || !text)
        return 0;
    int64_t sum = 0, words = 0;
    size_t pos = 0, start;
    while (rtp_next_word(text, &pos, &start)) {
        size_t key_start;
        size_t key_len = rtp_key_span(text + start, pos - start, &key_start);
        const int *value = rtp_keytab_get(&lexicon->table, text + start + key_start, key_len);
        if (value)
            sum += *value;
        words++;
    }
    /* Integer sum, one division: the only rounding, so any exact implementation agrees. */
    return words ? (double) sum / (double) words : 0;
}
