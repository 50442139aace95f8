/* term_text: cutting UTF-8 text for a terminal. Hashtags and screen names come in
 * every script; a cut must never split a character (the terminal would show junk)
 * and a screen line must not be wider than the terminal (it would wrap and scroll),
 * where CJK characters and emoji take two columns. */
#ifndef RTP_TOOLS_TERM_TEXT_H
#define RTP_TOOLS_TERM_TEXT_H

#include <stddef.h>

/* The columns a terminal gives the code point: 0 for combining marks, 2 for East
 * Asian wide and fullwidth characters and emoji, 1 otherwise. */
int term_text_char_width(unsigned cp);

/* How many bytes of s (up to its NUL) fit in cols columns, whole characters only;
 * the columns they take go to *width when width is not NULL. A byte that does not
 * start a valid UTF-8 sequence counts as one character of one column. */
size_t term_text_fit(const char *s, int cols, int *width);

/* Copies src[0..len) into dst (cap > 0) with a NUL, cut short at a character
 * boundary when it does not fit; returns the bytes copied. */
size_t term_text_copy(char *dst, size_t cap, const char *src, size_t len);

#endif
