/* json_raw: where a value lies in JSON text, for what a cJSON tree does not keep.
 *
 * cJSON holds every number as a double, which rounds integers past 2^53: the exact
 * digits of a 64-bit id are only in the text. These functions find a member's
 * value in the text by following its structure (objects, arrays, strings with
 * their escapes), so that keys inside strings and members of nested objects are
 * never mistaken for the one asked for.
 *
 * The text must be one that cJSON has parsed (cJSON_ParseWithLengthOpts): the scan
 * trusts its syntax and checks only what keeps it inside the bounds. Member names
 * are compared after unescaping (`"i\u0064"` is `id`), as cJSON compares them, and
 * the first member of a name is the one found, as cJSON_GetObjectItem finds it.
 */
#ifndef RTP_JSON_RAW_H
#define RTP_JSON_RAW_H

#include <stdbool.h>
#include <stddef.h>

/* Values are named by their offset in the text (of their first byte): finding
 * where an object ends would take another pass over it, so no function does it
 * unless it must skip the object. */

/* The offset of the top-level value of len bytes of text, after the UTF-8 BOM and
 * whitespace cJSON skips. 0, or -1 if there is none. */
int rtp_json_root(const char *text, size_t len, size_t *value);

/* One pass over the members of the object at offset `object`: for each of the n
 * names, the offset of the value of the first member so named goes to values[i]
 * and found[i] becomes true (false when there is none). The pass stops once every
 * name is found. Returns the number found, or -1 if there is no object there. */
int rtp_json_members(const char *text, size_t len, size_t object, const char *const names[], size_t n,
                     size_t values[], bool found[]);

/* The length of the value at offset `value` (a number: its bytes up to the next
 * delimiter; an object or array: up to its closing bracket, a pass over it). */
size_t rtp_json_value_len(const char *text, size_t len, size_t value);

#endif
