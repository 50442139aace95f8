#include "metrics_scrape.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rtp_scrape_t {
    rtp_sample_t *samples;
    size_t count, cap;
};

static int s_name_char(char c, int first)
{
    return isalpha((unsigned char) c) || c == '_' || c == ':' || (!first && isdigit((unsigned char) c));
}

static const char *s_skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Copies a name at p into out (cap bytes); returns the end, or NULL. */
static const char *s_name(const char *p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    while (p < end && s_name_char(*p, n == 0)) {
        if (n + 1 >= cap)
            return NULL;
        out[n++] = *p++;
    }
    out[n] = 0;
    return n ? p : NULL;
}

/* Parses {a="x",b="y"} at p (after the '{'); returns the end past '}', or NULL with
 * *why set. */
static const char *s_labels(const char *p, const char *end, rtp_sample_t *s, const char **why)
{
    for (;;) {
        p = s_skip_blanks(p, end);
        if (p < end && *p == '}')
            return p + 1;
        if (s->n_labels == RTP_SAMPLE_LABELS_MAX) {
            *why = "too many labels";
            return NULL;
        }
        char *name = s->label_name[s->n_labels], *value = s->label_value[s->n_labels];
        p = s_name(p, end, name, RTP_SAMPLE_NAME_MAX);
        if (!p) {
            *why = "bad label name";
            return NULL;
        }
        p = s_skip_blanks(p, end);
        if (p + 1 >= end || p[0] != '=' || p[1] != '"') {
            *why = "expected =\" after a label name";
            return NULL;
        }
        p += 2;
        size_t n = 0;
        while (p < end && *p != '"') {
            char c = *p++;
            if (c == '\\') {
                if (p == end) {
                    break;
                }
                c = *p++;
                if (c == 'n')
                    c = '\n';
                else if (c != '\\' && c != '"') {
                    *why = "bad escape in a label value";
                    return NULL;
                }
            }
            if (n + 1 >= RTP_SAMPLE_LABEL_MAX) {
                *why = "label value too long";
                return NULL;
            }
            value[n++] = c;
        }
        if (p == end) {
            *why = "unterminated label value";
            return NULL;
        }
        value[n] = 0;
        p++;
        s->n_labels++;
        p = s_skip_blanks(p, end);
        if (p < end && *p == ',')
            p++;
        else if (p < end && *p == '}')
            return p + 1;
        else {
            *why = "expected , or } after a label";
            return NULL;
        }
    }
}

static const char *s_line(const char *p, const char *end, rtp_sample_t *s)
{
    const char *why = NULL;
    memset(s, 0, sizeof *s);
    p = s_name(p, end, s->name, sizeof s->name);
    if (!p)
        return "bad metric name";
    if (p < end && *p == '{') {
        p = s_labels(p + 1, end, s, &why);
        if (!p)
            return why;
    }
    const char *v = s_skip_blanks(p, end);
    if (v == p || v == end)
        return "expected a space and a value";
    char num[64];
    size_t n = 0;
    while (v < end && *v != ' ' && *v != '\t' && n + 1 < sizeof num)
        num[n++] = *v++;
    num[n] = 0;
    char *stop;
    s->value = strtod(num, &stop);
    if (stop == num || *stop)
        return "bad value";
    v = s_skip_blanks(v, end);
    if (v < end) { /* an optional timestamp (integer ms), nothing after it */
        if (*v == '-')
            v++;
        const char *digits = v;
        while (v < end && isdigit((unsigned char) *v))
            v++;
        if (v == digits || s_skip_blanks(v, end) != end)
            return "junk after the value";
    }
    return NULL;
}

rtp_scrape_t *rtp_scrape_parse(const char *text, size_t len, rtp_err_t *err)
{
    rtp_scrape_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    const char *p = text, *end = text + len;
    for (int line_no = 1; p < end; line_no++) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        const char *line_end = eol ? eol : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        const char *q = s_skip_blanks(p, line_end);
        if (q < line_end && *q != '#') {
            if (self->count == self->cap) {
                self->cap = self->cap ? self->cap * 2 : 64;
                rtp_sample_t *grown = realloc(self->samples, self->cap * sizeof *grown);
                if (!grown) {
                    rtp_err_set(err, "out of memory");
                    rtp_scrape_destroy(&self);
                    return NULL;
                }
                self->samples = grown;
            }
            const char *why = s_line(q, line_end, &self->samples[self->count]);
            if (why) {
                rtp_err_set(err, "line %d: %s", line_no, why);
                rtp_scrape_destroy(&self);
                return NULL;
            }
            self->count++;
        }
        p = eol ? eol + 1 : end;
    }
    return self;
}

void rtp_scrape_destroy(rtp_scrape_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->samples);
        free(*self_p);
        *self_p = NULL;
    }
}

size_t rtp_scrape_count(const rtp_scrape_t *self)
{
    return self ? self->count : 0;
}

const rtp_sample_t *rtp_scrape_sample(const rtp_scrape_t *self, size_t index)
{
    return self && index < self->count ? &self->samples[index] : NULL;
}

const char *rtp_sample_label(const rtp_sample_t *sample, const char *name)
{
    for (int i = 0; sample && i < sample->n_labels; i++)
        if (!strcmp(sample->label_name[i], name))
            return sample->label_value[i];
    return NULL;
}

static int s_matches(const rtp_sample_t *s, const char *name, const char *const *labels)
{
    if (strcmp(s->name, name) != 0)
        return 0;
    for (int i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        const char *v = rtp_sample_label(s, labels[i]);
        if (!v || strcmp(v, labels[i + 1]) != 0)
            return 0;
    }
    return 1;
}

const rtp_sample_t *rtp_scrape_find(const rtp_scrape_t *self, const char *name, const char *const *labels)
{
    for (size_t i = 0; self && i < self->count; i++)
        if (s_matches(&self->samples[i], name, labels))
            return &self->samples[i];
    return NULL;
}

double rtp_scrape_value(const rtp_scrape_t *self, const char *name, const char *const *labels)
{
    const rtp_sample_t *s = rtp_scrape_find(self, name, labels);
    return s ? s->value : NAN;
}

typedef struct {
    double le;
    double count; /* cumulative */
} bucket_t;

static int s_by_le(const void *a, const void *b)
{
    double x = ((const bucket_t *) a)->le, y = ((const bucket_t *) b)->le;
    return x < y ? -1 : x > y;
}

/* The buckets of a histogram in one scrape, sorted by bound; returns how many. */
static size_t s_buckets(const rtp_scrape_t *scrape, const char *bucket_name, const char *const *labels,
                        bucket_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; scrape && i < scrape->count && n < cap; i++) {
        const rtp_sample_t *s = &scrape->samples[i];
        const char *le = rtp_sample_label(s, "le");
        if (!le || !s_matches(s, bucket_name, labels))
            continue;
        char *stop;
        double bound = strtod(le, &stop);
        if (stop == le || *stop)
            continue;
        out[n++] = (bucket_t){bound, s->value};
    }
    qsort(out, n, sizeof *out, s_by_le);
    return n;
}

double rtp_scrape_quantile(const rtp_scrape_t *now, const rtp_scrape_t *prev, const char *name,
                           const char *const *labels, double q)
{
    char bucket_name[RTP_SAMPLE_NAME_MAX + 8];
    snprintf(bucket_name, sizeof bucket_name, "%s_bucket", name);
    bucket_t cur[64], old[64];
    size_t n = s_buckets(now, bucket_name, labels, cur, 64);
    size_t n_old = prev ? s_buckets(prev, bucket_name, labels, old, 64) : 0;
    if (n == 0 || !isinf(cur[n - 1].le))
        return NAN;
    if (n_old && old[n_old - 1].count > cur[n - 1].count)
        n_old = 0; /* fewer observations than before: the process restarted, count from its start */
    for (size_t i = 0; i < n; i++) /* the observations since prev: subtract its bucket of the same bound */
        for (size_t j = 0; j < n_old; j++)
            if (old[j].le == cur[i].le)
                cur[i].count = cur[i].count > old[j].count ? cur[i].count - old[j].count : 0;
    double total = cur[n - 1].count;
    if (!(total > 0) || q < 0 || q > 1)
        return NAN;
    double rank = q * total;
    size_t b = 0;
    while (b < n - 1 && cur[b].count < rank)
        b++;
    if (isinf(cur[b].le))
        return n >= 2 ? cur[n - 2].le : NAN;
    double lower = b ? cur[b - 1].le : (cur[b].le > 0 ? 0 : cur[b].le);
    double below = b ? cur[b - 1].count : 0;
    double in_bucket = cur[b].count - below;
    if (in_bucket <= 0)
        return cur[b].le;
    return lower + (cur[b].le - lower) * (rank - below) / in_bucket;
}
