/* analysis: the small pure scores of SPEC section 2. The two word lists live in
 * lexicon.c (sentiment) and censor.c (censoring); the shared key table in keytab.c. */
#include "analysis.h"
#include "keytab.h"

size_t rtp_word_key(const char *word, size_t len, char *key, size_t *start_p)
{
    size_t start;
    size_t key_len = rtp_key_span(word, len, &start);
    for (size_t i = 0; i < key_len; i++)
        key[i] = (char) rtp_ascii_lower((unsigned char) word[start + i]);
    key[key_len] = 0;
    if (start_p)
        *start_p = start;
    return key_len;
}

double rtp_engagement(int64_t favorites, int64_t retweets, int64_t followers)
{
    if (followers <= 0)
        return 0;
    /* Summed as integers so the one rounding is the division's, as in any exact
     * implementation; only a sum past int64 (not a real count) falls back to doubles. */
    int64_t sum;
    if (__builtin_add_overflow(favorites, retweets, &sum))
        return ((double) favorites + (double) retweets) / (double) followers;
    return (double) sum / (double) followers;
}

void rtp_hashtag_normalize(char *tag)
{
    if (!tag)
        return;
    for (; *tag; tag++)
        *tag = (char) rtp_ascii_lower((unsigned char) *tag);
}
