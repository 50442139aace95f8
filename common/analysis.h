/* analysis: the scores of SPEC section 2, as pure functions over text.
 *
 * Words are the text split on ASCII whitespace (space, \t, \n, \v, \f, \r). The key
 * of a word is the word without leading and trailing ASCII punctuation
 * (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~), with ASCII letters lowercased; other bytes are
 * kept; a key may be empty.
 */
#ifndef RTP_ANALYSIS_H
#define RTP_ANALYSIS_H

#include "rtp_err.h"

#include <stddef.h>
#include <stdint.h>

/* Writes the key of word[0..len) into key (which needs len+1 bytes), NUL-terminated;
 * returns the key's offset inside the word via *start_p and its length. */
size_t rtp_word_key(const char *word, size_t len, char *key, size_t *start_p);

/* --- sentiment: the AFINN word list --- */
typedef struct rtp_lexicon_t rtp_lexicon_t;

/* Parses `word<TAB>integer` lines (CRLF or LF, final newline optional). Fails with a
 * reason on an empty list, a malformed line, or more than max_entries entries. */
rtp_lexicon_t *rtp_lexicon_new(const char *text, size_t len, size_t max_entries, rtp_err_t *err);
void rtp_lexicon_destroy(rtp_lexicon_t **self_p);
size_t rtp_lexicon_size(const rtp_lexicon_t *self);
/* The value of an entry, or 0 if absent; *found_p (may be NULL) says which. */
int rtp_lexicon_value(const rtp_lexicon_t *self, const char *key, int *found_p);

/* Sum of the AFINN values of the words' keys divided by the number of words; 0
 * for a text with no words. */
double rtp_sentiment(const rtp_lexicon_t *lexicon, const char *text);

/* --- censoring: the swear-word list --- */
typedef struct rtp_censor_t rtp_censor_t;

/* Reads a JSON array of strings; entries with spaces are phrases. */
rtp_censor_t *rtp_censor_new(const char *json, size_t len, rtp_err_t *err);
void rtp_censor_destroy(rtp_censor_t **self_p);
size_t rtp_censor_size(const rtp_censor_t *self);

/* Returns a malloc'd copy of text (same length) with each swear word's key replaced
 * by '*' bytes; a phrase entry stars each key of a run of consecutive words whose
 * keys equal the phrase's words. Every other byte is kept. *count_p (may be NULL)
 * gets the number of words starred. NULL only when out of memory. */
char *rtp_censor_text(const rtp_censor_t *self, const char *text, int *count_p);

/* --- engagement --- */
/* (favorites + retweets) / followers; 0 when followers <= 0. */
double rtp_engagement(int64_t favorites, int64_t retweets, int64_t followers);

/* --- hashtags --- */
/* Lowercases ASCII letters of a hashtag in place (hashtag counts are case-insensitive). */
void rtp_hashtag_normalize(char *tag);

#endif
