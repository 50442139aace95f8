/* sse: the Server-Sent Events push parser (see sse.h for the contract).
 *
 * The input is cut into runs of bytes that hold no line end (found with memchr, so
 * the cost per byte is the library's vector scan plus one memcpy for data). Each run
 * advances a small per-line state machine, so a line split across feeds needs no
 * input buffering: only the field name (at most 5 bytes) and the field's value, in
 * the buffer of the field it belongs to, are kept. Comments, unknown fields and the
 * rest of an oversized event are skipped without being stored, so memory stays at
 * the data and type buffers, together capped by max_event (plus the ID buffers,
 * which only an `id:` line can grow, each capped by max_event too).
 *
 * Bytes are passed through as they are (no UTF-8 decoding): the consumers parse
 * JSON, which checks its own encoding.
 *
 * Two ID values are kept as the spec keeps them: the "last event ID buffer", set by
 * each valid `id:` line, and the last event ID string, which takes the buffer's
 * value when a blank line ends a block (with or without data). A stream that ends
 * mid-event leaves the committed value, as a reconnecting EventSource would send.
 *
 * Beyond the spec, only for the memory bound: an `id:` value longer than max_event
 * drops its event like oversized data does. That is decided at the end of its line
 * (the value is no longer stored), since a NUL further on makes the spec ignore the
 * line instead, and the outcome must not depend on where the input was split.
 */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p; /* NULL until first needed */
    size_t len;
    size_t cap;
} s_buf_t;

/* Where the parser is within the current line. */
typedef enum {
    S_LINE_START, /* no byte of the line seen yet */
    S_NAME,       /* reading the field name, no colon yet */
    S_SPACE,      /* just after the colon: one space may follow, to be removed */
    S_VALUE,      /* reading the field value */
    S_SKIP,       /* the rest of the line is ignored */
} s_line_state_t;

typedef enum { F_DATA, F_EVENT, F_ID, F_RETRY } s_field_t;

#define S_NAME_MAX 5 /* longest known field name, "event" and "retry" */

static const unsigned char s_bom[3] = {0xEF, 0xBB, 0xBF};

struct rtp_sse_parser_t {
    size_t max_event;
    rtp_sse_handler_t handler;

    /* Current line */
    s_line_state_t line;
    s_field_t field;
    char name[S_NAME_MAX];
    size_t name_len;
    int after_cr;       /* the last line ended with CR: an LF next is part of it */
    size_t bom_matched; /* BOM bytes seen at stream start, held back until known */
    int bom_done;       /* past the point where a BOM may appear */

    /* Current event */
    s_buf_t data; /* lines joined with '\n', without the spec's trailing LF */
    int has_data; /* a data field was seen (the spec's buffer is non-empty) */
    s_buf_t type;
    int dropping; /* over max_event: skip data and type up to the blank line */

    /* Event IDs */
    s_buf_t id_value;  /* the value of the `id:` line being read */
    s_buf_t id_buffer; /* the spec's last event ID buffer */
    s_buf_t id_string; /* the value committed at the last blank line */
    int id_pending;    /* id_buffer differs from id_string */
    int id_too_long;   /* the `id:` value passed max_event: dropped at its line's end */

    uint64_t retry_acc;
    size_t retry_digits;
    int64_t retry_ms;

    uint64_t oversized;
    char reason[96];
    char id_reason[96];
};

/* Makes room for need bytes; need never exceeds the caller's cap, which it checked
 * against max_event. Returns -1 if memory ran out. */
static int s_buf_reserve(s_buf_t *b, size_t need, size_t limit)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > limit)
        cap = limit > need ? limit : need;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static void s_buf_free(s_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* The buffer's bytes as a C string ("" when it never held any). */
static const char *s_buf_cstr(s_buf_t *b)
{
    if (!b->p)
        return "";
    b->p[b->len] = '\0'; /* every reserve leaves room for it */
    return b->p;
}

static int s_buf_copy(s_buf_t *to, const s_buf_t *from, size_t limit)
{
    if (s_buf_reserve(to, from->len + 1, limit) != 0)
        return -1;
    if (from->len)
        memcpy(to->p, from->p, from->len);
    to->len = from->len;
    return 0;
}

/* Drops the current event: reports it once, and skips its data and type (but not its
 * id or retry fields, which the spec applies as they come) up to its blank line. */
static void s_drop(rtp_sse_parser_t *self, const char *reason)
{
    self->line = S_SKIP;
    if (self->dropping)
        return; /* already reported */
    self->dropping = 1;
    self->has_data = 0;
    self->data.len = 0;
    self->type.len = 0;
    self->oversized++;
    if (self->handler.on_error)
        self->handler.on_error(reason, self->handler.arg);
}

/* Makes room for need bytes in the data or type buffer while keeping the two
 * capacities within max_event + 2 together (the bytes plus each one's NUL): when
 * both would not fit, the other buffer gives back its unused room first. need
 * itself always fits, as the caller checked data + type against max_event. */
static int s_event_reserve(rtp_sse_parser_t *self, s_buf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    s_buf_t *other = b == &self->data ? &self->type : &self->data;
    size_t budget = self->max_event + 2;
    if (need + other->cap > budget) {
        if (other->len == 0)
            s_buf_free(other);
        else {
            char *p = realloc(other->p, other->len + 1);
            if (!p)
                return -1;
            other->p = p;
            other->cap = other->len + 1;
        }
    }
    return s_buf_reserve(b, need, budget - other->cap);
}

/* Appends to the data or type buffer while data + type stays within max_event. */
static void s_event_append(rtp_sse_parser_t *self, s_buf_t *b, const char *p, size_t n)
{
    if (self->data.len + self->type.len + n > self->max_event) {
        s_drop(self, self->reason);
        return;
    }
    if (s_event_reserve(self, b, b->len + n + 1) != 0) {
        s_drop(self, "out of memory: SSE event dropped");
        return;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* The field name is complete (a colon or the line end was reached): picks the field
 * and prepares its buffer, or skips the line for an unknown field. */
static void s_field_begin(rtp_sse_parser_t *self)
{
    const char *n = self->name;
    size_t len = self->name_len;
    self->line = S_SPACE;
    if (len == 4 && memcmp(n, "data", 4) == 0 && !self->dropping) {
        self->field = F_DATA;
        if (self->has_data)
            s_event_append(self, &self->data, "\n", 1);
        self->has_data = !self->dropping;
    } else if (len == 5 && memcmp(n, "event", 5) == 0 && !self->dropping) {
        self->field = F_EVENT;
        self->type.len = 0;
    } else if (len == 2 && memcmp(n, "id", 2) == 0) {
        self->field = F_ID;
        self->id_value.len = 0;
        self->id_too_long = 0;
    } else if (len == 5 && memcmp(n, "retry", 5) == 0) {
        self->field = F_RETRY;
        self->retry_acc = 0;
        self->retry_digits = 0;
    } else
        self->line = S_SKIP;
}

/* A run of value bytes (no line end in it) of the current field. */
static void s_field_value(rtp_sse_parser_t *self, const char *p, size_t n)
{
    switch (self->field) {
    case F_DATA:
        s_event_append(self, &self->data, p, n);
        break;
    case F_EVENT:
        s_event_append(self, &self->type, p, n);
        break;
    case F_ID:
        if (memchr(p, '\0', n))
            self->line = S_SKIP; /* the spec ignores such an id, however long */
        else if (self->id_too_long || self->id_value.len + n > self->max_event)
            self->id_too_long = 1; /* judged at the line's end, as a NUL may still come */
        else if (s_buf_reserve(&self->id_value, self->id_value.len + n + 1, self->max_event + 1) != 0)
            s_drop(self, "out of memory: SSE event dropped");
        else {
            memcpy(self->id_value.p + self->id_value.len, p, n);
            self->id_value.len += n;
        }
        break;
    case F_RETRY:
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned char) p[i] - '0';
            if (d > 9) {
                self->line = S_SKIP; /* not only digits: ignored */
                return;
            }
            /* Saturates rather than wraps: a huge value means "wait very long". */
            if (self->retry_acc <= (uint64_t) (INT64_MAX - d) / 10)
                self->retry_acc = self->retry_acc * 10 + d;
            else
                self->retry_acc = INT64_MAX;
            self->retry_digits++;
        }
        break;
    }
}

/* The line of the current field ended. */
static void s_field_end(rtp_sse_parser_t *self)
{
    if (self->field == F_ID && self->id_too_long)
        s_drop(self, self->id_reason);
    else if (self->field == F_ID) {
        s_buf_t t = self->id_buffer;
        self->id_buffer = self->id_value;
        self->id_value = t;
        self->id_pending = 1;
    } else if (self->field == F_RETRY && self->retry_digits > 0)
        self->retry_ms = (int64_t) self->retry_acc;
}

/* A blank line: the spec's "dispatch the event". */
static void s_dispatch(rtp_sse_parser_t *self)
{
    if (self->id_pending && s_buf_copy(&self->id_string, &self->id_buffer, self->max_event + 1) == 0)
        self->id_pending = 0;
    if (self->has_data) {
        rtp_sse_event_t ev = {
            .type = self->type.len ? s_buf_cstr(&self->type) : "message",
            .data = s_buf_cstr(&self->data),
            .data_len = self->data.len,
            .last_id = s_buf_cstr(&self->id_string),
        };
        self->handler.on_event(&ev, self->handler.arg);
    }
    self->dropping = 0;
    self->has_data = 0;
    self->data.len = 0;
    self->type.len = 0;
}

/* A run of bytes of the current line, with no CR or LF in it. */
static void s_line_bytes(rtp_sse_parser_t *self, const char *p, size_t n)
{
    while (n > 0) {
        switch (self->line) {
        case S_LINE_START:
            if (*p == ':') {
                self->line = S_SKIP; /* a comment */
                return;
            }
            self->line = S_NAME;
            self->name_len = 0;
            /* fall through */
        case S_NAME: {
            /* The colon can only be within the next few bytes of a known name. */
            size_t window = S_NAME_MAX - self->name_len + 1;
            const char *colon = memchr(p, ':', n < window ? n : window);
            size_t k = colon ? (size_t) (colon - p) : n;
            if (self->name_len + k > S_NAME_MAX) {
                self->line = S_SKIP; /* longer than any known field */
                return;
            }
            memcpy(self->name + self->name_len, p, k);
            self->name_len += k;
            if (!colon)
                return;
            p += k + 1;
            n -= k + 1;
            s_field_begin(self);
            break;
        }
        case S_SPACE:
            if (*p == ' ') {
                p++;
                n--;
            }
            self->line = S_VALUE;
            break;
        case S_VALUE:
            s_field_value(self, p, n);
            return;
        case S_SKIP:
            return;
        }
    }
}

static void s_line_end(rtp_sse_parser_t *self)
{
    switch (self->line) {
    case S_LINE_START:
        s_dispatch(self);
        break;
    case S_NAME: /* no colon: the whole line is the name, the value is empty */
        s_field_begin(self);
        if (self->line != S_SKIP)
            s_field_end(self);
        break;
    case S_SPACE:
    case S_VALUE:
        s_field_end(self);
        break;
    case S_SKIP:
        break;
    }
    self->line = S_LINE_START;
}

/* Splits buf into line runs and line ends. The next CR and the next LF are each
 * looked up once per chunk position, so lines that end with one kind never make the
 * search for the other rescan the chunk. */
static void s_parse(rtp_sse_parser_t *self, const char *buf, size_t len)
{
    size_t i = 0, next_lf = 0, next_cr = 0;
    int lf_known = 0, cr_known = 0;
    while (i < len) {
        if (self->after_cr) {
            self->after_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        if (!lf_known || next_lf < i) {
            const char *q = memchr(buf + i, '\n', len - i);
            next_lf = q ? (size_t) (q - buf) : len;
            lf_known = 1;
        }
        if (!cr_known || next_cr < i) {
            const char *q = memchr(buf + i, '\r', len - i);
            next_cr = q ? (size_t) (q - buf) : len;
            cr_known = 1;
        }
        size_t end = next_lf < next_cr ? next_lf : next_cr;
        if (end > i)
            s_line_bytes(self, buf + i, end - i);
        if (end == len)
            break;
        self->after_cr = buf[end] == '\r';
        s_line_end(self);
        i = end + 1;
    }
}

rtp_sse_parser_t *rtp_sse_parser_new(size_t max_event, rtp_sse_handler_t handler)
{
    if (!handler.on_event || max_event == 0 || max_event > SIZE_MAX / 4)
        return NULL;
    rtp_sse_parser_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_event = max_event;
    self->handler = handler;
    self->retry_ms = -1;
    snprintf(self->reason, sizeof self->reason, "SSE event over %zu bytes (data + type): dropped", max_event);
    snprintf(self->id_reason, sizeof self->id_reason, "SSE event id over %zu bytes: event dropped",
             max_event);
    return self;
}

void rtp_sse_parser_destroy(rtp_sse_parser_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_sse_parser_t *self = *self_p;
    s_buf_free(&self->data);
    s_buf_free(&self->type);
    s_buf_free(&self->id_value);
    s_buf_free(&self->id_buffer);
    s_buf_free(&self->id_string);
    free(self);
    *self_p = NULL;
}

void rtp_sse_parser_feed(rtp_sse_parser_t *self, const char *buf, size_t len)
{
    const unsigned char *u = (const unsigned char *) buf;
    size_t i = 0;
    /* The BOM is recognised byte by byte, as it may itself be split across feeds;
     * bytes that turn out not to be one are parsed as the line they start. */
    while (!self->bom_done && i < len) {
        if (u[i] == s_bom[self->bom_matched]) {
            i++;
            if (++self->bom_matched == sizeof s_bom)
                self->bom_done = 1;
        } else {
            self->bom_done = 1;
            s_parse(self, (const char *) s_bom, self->bom_matched);
        }
    }
    s_parse(self, buf + i, len - i);
}

void rtp_sse_parser_reset(rtp_sse_parser_t *self)
{
    self->line = S_LINE_START;
    self->name_len = 0;
    self->after_cr = 0;
    self->bom_matched = 0;
    self->bom_done = 0;
    self->has_data = 0;
    self->data.len = 0;
    self->type.len = 0;
    self->dropping = 0;
    /* An id read after the last blank line belonged to the lost event. */
    if (self->id_pending && s_buf_copy(&self->id_buffer, &self->id_string, self->max_event + 1) == 0)
        self->id_pending = 0;
}

int64_t rtp_sse_parser_retry_ms(const rtp_sse_parser_t *self)
{
    return self->retry_ms;
}

uint64_t rtp_sse_parser_oversized(const rtp_sse_parser_t *self)
{
    return self->oversized;
}

int rtp_sse_parser_in_event(const rtp_sse_parser_t *self)
{
    return self->has_data || self->type.len > 0 || self->line == S_NAME || self->line == S_SPACE ||
           self->line == S_VALUE;
}
