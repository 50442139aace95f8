/* json_parse: a fast path for cJSON_ParseWithLengthOpts on ordinary documents.
 *
 * The decoder spends most of its time in cJSON's parser, which does general work
 * for every value: three strncmp calls (null, false, true) before it looks at the
 * first byte, localeconv and strtod for every number, strings copied a byte at a
 * time. rtp_json_parse builds the same tree (the same cJSON nodes, types, values,
 * key and value strings, order and links) from the same bytes, in the json_arena
 * window, for the documents it knows to read exactly as cJSON does: objects,
 * arrays, strings with any valid escapes, null/true/false, and numbers (integers
 * of up to 19 digits are converted here, their double being exactly strtod's:
 * both are the correctly rounded value of an exact integer; any other number
 * goes through strtod as cJSON passes it).
 *
 * Anything else (an escape cJSON reads oddly or refuses, a byte order mark, a
 * syntax error, nesting at cJSON's limit) makes it return NULL
 * without a verdict: the caller then asks cJSON itself, which stays the judge of
 * the syntax and gives the error position. So a document this parser takes is
 * one cJSON takes, with the same tree and the same end: tests/unit/test_json_parse.c
 * checks that against cJSON on the bundled tweets and on many mutations of them.
 */
#ifndef RTP_JSON_PARSE_H
#define RTP_JSON_PARSE_H

#include <cJSON.h>

#include <stddef.h>

/* Parses the value at the start of len bytes of text (after whitespace, as cJSON
 * skips it): the tree, allocated in the json_arena window (rtp_json_arena_begin
 * must be in effect; nothing to free), and in *end the byte after the value, as
 * cJSON_ParseWithLengthOpts(text, len, end, 0) would return them. NULL when this
 * parser does not take the document (not a verdict: ask cJSON). */
cJSON *rtp_json_parse(const char *text, size_t len, const char **end);

#endif
