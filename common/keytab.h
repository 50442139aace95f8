/* keytab: internals shared by the analysis lists (lexicon.c, censor.c, analysis.c).
 * Not part of the public API: callers use analysis.h.
 *
 * Two things live here:
 *  - the byte classes and the key span of SPEC section 2 (words split on ASCII
 *    whitespace; a key is a word without its leading and trailing ASCII punctuation),
 *    as inline functions so the hot loops inline them;
 *  - a fixed-capacity open-addressing table from keys to ints. It is filled once when
 *    a list is loaded and then only read: a lookup folds the ASCII case of the query
 *    on the fly, so the hot path hashes a key where it lies in the text, with no copy
 *    and no allocation. Stored keys must already be ASCII-lowercase.
 */
#ifndef RTP_KEYTAB_H
#define RTP_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

/* space, \t, \n, \v, \f, \r */
static inline int rtp_is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The 32 ASCII punctuation characters !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ */
static inline int rtp_is_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

static inline unsigned char rtp_ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* The key of word[0..len) as a span of the word (not yet lowercased): its offset
 * goes to *start_p, its length is returned (0 for a word of punctuation only). */
static inline size_t rtp_key_span(const char *word, size_t len, size_t *start_p)
{
    size_t start = 0, end = len;
    while (start < end && rtp_is_punct((unsigned char) word[start]))
        start++;
    while (end > start && rtp_is_punct((unsigned char) word[end - 1]))
        end--;
    *start_p = start;
    return end - start;
}

/* Finds the next word of text at or after *pos_p (text is NUL-terminated): returns
 * 1 with the word at [*start_p, *pos_p), or 0 at the end of the text. */
static inline int rtp_next_word(const char *text, size_t *pos_p, size_t *start_p)
{
    size_t pos = *pos_p;
    while (text[pos] && rtp_is_space((unsigned char) text[pos]))
        pos++;
    if (!text[pos])
        return 0;
    *start_p = pos;
    while (text[pos] && !rtp_is_space((unsigned char) text[pos]))
        pos++;
    *pos_p = pos;
    return 1;
}

typedef struct {
    uint64_t hash;
    uint32_t off; /* key bytes at pool + off */
    uint32_t len; /* 0: empty slot (keys are never empty) */
    int value;
} rtp_keytab_slot_t;

typedef struct {
    char *pool; /* every stored key, back to back */
    size_t pool_len, pool_cap;
    rtp_keytab_slot_t *slots;
    size_t mask; /* slot count - 1; the slot count is a power of two */
    size_t count, max_keys;
} rtp_keytab_t;

/* Prepares an empty table for up to max_keys keys of max_key_bytes bytes in total
 * (the table never grows: lists are sized before they are loaded). 0, or -1 if out
 * of memory (the table is then safe to free). */
int rtp_keytab_init(rtp_keytab_t *t, size_t max_keys, size_t max_key_bytes);
void rtp_keytab_free(rtp_keytab_t *t);

/* Adds key[0..len) (non-empty, ASCII-lowercase) with value. If the key is already
 * there its value is kept and *added_p is 0. Returns the stored value's address (to
 * update it), or NULL when the table's limits would be exceeded. */
int *rtp_keytab_put(rtp_keytab_t *t, const char *key, size_t len, int value, int *added_p);

/* The value stored for key[0..len) compared ASCII-case-insensitively, or NULL. */
const int *rtp_keytab_get(const rtp_keytab_t *t, const char *key, size_t len);

#endif
