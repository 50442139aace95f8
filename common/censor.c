/* censor: the swear-word list and the censored text of SPEC section 2.
 *
 * Every key of every entry (the words of a phrase included) gets an id in one key
 * table. A key's info says whether it is a swear word on its own and which phrases
 * start with it; a phrase is the list of its keys' ids. So matching a phrase against
 * the next words of a text is one table lookup and one int compare per word.
 */
#include "analysis.h"
#include "keytab.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int single;       /* the key alone is an entry */
    int first_phrase; /* index of the first phrase starting with this key, or -1 */
} s_key_info_t;

typedef struct {
    int first_id; /* the phrase's key ids are ids[first_id .. first_id + count) */
    int count;    /* >= 2 */
    int next;     /* the next phrase with the same first key, or -1 */
} s_phrase_t;

struct rtp_censor_t {
    rtp_keytab_t table; /* key -> id, an index into info */
    s_key_info_t *info;
    int *ids; /* the phrases' key ids, phrase after phrase */
    int ids_used;
    s_phrase_t *phrases;
    int phrase_count;
    size_t entries;
};

/* Counts the words of s (split on ASCII whitespace). */
static size_t s_word_count(const char *s)
{
    size_t pos = 0, start, n = 0;
    while (rtp_next_word(s, &pos, &start))
        n++;
    return n;
}

/* Loads entry number `index`, of `words` >= 1 words: a single key, or a phrase. */
static int s_add_entry(rtp_censor_t *self, const char *entry, size_t index, size_t words, char *key,
                       rtp_err_t *err)
{
    int *phrase_ids = self->ids + self->ids_used;
    size_t pos = 0, start, w = 0;
    while (rtp_next_word(entry, &pos, &start)) {
        size_t key_len = rtp_word_key(entry + start, pos - start, key, NULL);
        if (key_len == 0)
            return rtp_err_set(err, "entry %zu ('%.40s'): word '%.*s' has no key (only punctuation)", index,
                               entry, (int) (pos - start > 40 ? 40 : pos - start), entry + start);
        int added;
        int *id = rtp_keytab_put(&self->table, key, key_len, (int) self->table.count, &added);
        if (!id)
            return rtp_err_set(err, "entry %zu: out of memory", index);
        if (added) {
            self->info[*id].single = 0;
            self->info[*id].first_phrase = -1;
        }
        if (words == 1)
            self->info[*id].single = 1;
        else
            phrase_ids[w] = *id;
        w++;
    }
    if (words > 1) {
        s_phrase_t *ph = &self->phrases[self->phrase_count];
        ph->first_id = self->ids_used;
        ph->count = (int) words;
        ph->next = self->info[phrase_ids[0]].first_phrase;
        self->info[phrase_ids[0]].first_phrase = self->phrase_count++;
        self->ids_used += (int) words;
    }
    return 0;
}

rtp_censor_t *rtp_censor_new(const char *json, size_t len, rtp_err_t *err)
{
    cJSON *list = json ? cJSON_ParseWithLength(json, len) : NULL;
    if (!list || !cJSON_IsArray(list)) {
        rtp_err_set(err, "swear-word list is not a JSON array");
        cJSON_Delete(list);
        return NULL;
    }
    /* First pass: check every entry and size every table, so nothing grows later. */
    size_t entries = 0, words = 0, phrases = 0, phrase_words = 0, bytes = 0, longest = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        entries++;
        if (!cJSON_IsString(item)) {
            rtp_err_set(err, "entry %zu is not a string", entries);
            cJSON_Delete(list);
            return NULL;
        }
        size_t n = s_word_count(item->valuestring), n_bytes = strlen(item->valuestring);
        if (n == 0) {
            rtp_err_set(err, "entry %zu is empty", entries);
            cJSON_Delete(list);
            return NULL;
        }
        words += n;
        bytes += n_bytes;
        if (n_bytes > longest)
            longest = n_bytes;
        if (n > 1) {
            phrases++;
            phrase_words += n;
        }
    }
    if (words > INT32_MAX / 2) {
        rtp_err_set(err, "swear-word list too large");
        cJSON_Delete(list);
        return NULL;
    }
    rtp_censor_t *self = calloc(1, sizeof *self);
    char *key = malloc(longest + 1);
    if (self) {
        self->info = malloc((words ? words : 1) * sizeof *self->info);
        self->ids = malloc((phrase_words ? phrase_words : 1) * sizeof *self->ids);
        self->phrases = malloc((phrases ? phrases : 1) * sizeof *self->phrases);
    }
    if (!self || !key || !self->info || !self->ids || !self->phrases ||
        rtp_keytab_init(&self->table, words, bytes) != 0) {
        rtp_err_set(err, "out of memory");
        goto fail;
    }
    size_t index = 0;
    cJSON_ArrayForEach(item, list)
    {
        index++;
        if (s_add_entry(self, item->valuestring, index, s_word_count(item->valuestring), key, err) != 0)
            goto fail;
    }
    self->entries = entries;
    free(key);
    cJSON_Delete(list);
    return self;
fail:
    free(key);
    cJSON_Delete(list);
    rtp_censor_destroy(&self);
    return NULL;
}

void rtp_censor_destroy(rtp_censor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_censor_t *self = *self_p;
    rtp_keytab_free(&self->table);
    free(self->info);
    free(self->ids);
    free(self->phrases);
    free(self);
    *self_p = NULL;
}

size_t rtp_censor_size(const rtp_censor_t *self)
{
    return self ? self->entries : 0;
}

/* The id of the key of text[start..end), or -1 when it is no entry's key. */
static int s_key_id(const rtp_censor_t *self, const char *text, size_t start, size_t end)
{
    size_t key_start;
    size_t key_len = rtp_key_span(text + start, end - start, &key_start);
    const int *id = rtp_keytab_get(&self->table, text + start + key_start, key_len);
    return id ? *id : -1;
}

/* Whether the words after position pos (the end of the phrase's first word) have
 * the keys of the rest of the phrase. */
static int s_phrase_follows(const rtp_censor_t *self, const s_phrase_t *ph, const char *text, size_t pos)
{
    size_t start;
    for (int k = 1; k < ph->count; k++) {
        if (!rtp_next_word(text, &pos, &start))
            return 0;
        if (s_key_id(self, text, start, pos) != self->ids[ph->first_id + k])
            return 0;
    }
    return 1;
}

char *rtp_censor_text(const rtp_censor_t *self, const char *text, int *count_p)
{
    if (count_p)
        *count_p = 0;
    if (!text)
        text = "";
    size_t len = strlen(text);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    memcpy(out, text, len + 1);
    if (!self)
        return out;
    /* Words are visited once, left to right. A phrase matched at word w covers words
     * w .. w+count-1; every match so far started at or before the current word, so
     * the covered words from here on are one run, up to `covered_until`. */
    size_t pos = 0, start, word = 0, covered_until = 0;
    int count = 0;
    while (rtp_next_word(text, &pos, &start)) {
        size_t key_start;
        size_t key_len = rtp_key_span(text + start, pos - start, &key_start);
        const int *id = rtp_keytab_get(&self->table, text + start + key_start, key_len);
        int starred = 0;
        if (id) {
            const s_key_info_t *info = &self->info[*id];
            starred = info->single;
            for (int p = info->first_phrase; p >= 0; p = self->phrases[p].next) {
                const s_phrase_t *ph = &self->phrases[p];
                if (word + (size_t) ph->count > covered_until && s_phrase_follows(self, ph, text, pos))
                    covered_until = word + (size_t) ph->count;
            }
        }
        if (starred || word < covered_until) {
            memset(out + start + key_start, '*', key_len);
            count++;
        }
        word++;
    }
    if (count_p)
        *count_p = count;
    return out;
}
