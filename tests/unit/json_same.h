/* json_same: whether two cJSON trees are the same, for the tests of json_parse (the
 * unit test and the tweet fuzz target): types, numbers to the bit, strings, keys,
 * order, and the links cJSON makes. */
#ifndef RTP_TEST_JSON_SAME_H
#define RTP_TEST_JSON_SAME_H

#include <cJSON.h>

#include <string.h>

static int json_same_str_(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* 1 if the two lists of siblings (from a and b) are the same trees, linked alike:
 * each one's prev is the one before, the first child's the last one (a root,
 * children 0, has none). */
static int json_same(const cJSON *a, const cJSON *b, int children)
{
    const cJSON *first_a = a, *first_b = b, *last_a = NULL, *last_b = NULL;
    for (; a && b; a = a->next, b = b->next) {
        if (a->type != b->type || a->valueint != b->valueint ||
            memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0 ||
            !json_same_str_(a->valuestring, b->valuestring) || !json_same_str_(a->string, b->string) ||
            !json_same(a->child, b->child, 1))
            return 0;
        if ((a != first_a && a->prev != last_a) || (b != first_b && b->prev != last_b))
            return 0;
        last_a = a;
        last_b = b;
    }
    if (a || b)
        return 0;
    if (!children)
        return first_a->prev == NULL && first_b->prev == NULL;
    return !first_a || (first_a->prev == last_a && first_b->prev == last_b);
}

#endif
