#include "stats.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

/* The class of a reason: its text up to the first ':', " at " or " (", with spaces
 * made '_' so the stats line stays key=value pairs. */
static void s_class_of(const char *reason, char *out, size_t cap)
{
    size_t n = strcspn(reason, ":(");
    const char *at = strstr(reason, " at ");
    if (at && (size_t) (at - reason) < n)
        n = (size_t) (at - reason);
    while (n > 0 && reason[n - 1] == ' ')
        n--;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) reason[i];
        out[i] = c == ' ' || c == '=' || c < 0x20 || c >= 0x7f ? '_' : (char) c;
    }
    out[n] = 0;
    if (n == 0)
        snprintf(out, cap, "unknown");
}

void reader_stats_malformed(reader_stats_t *self, const char *reason)
{
    char cls[READER_CLASS_MAX];
    s_class_of(reason ? reason : "", cls, sizeof cls);
    self->malformed++;
    for (int i = 0; i < READER_MALFORMED_CLASSES; i++) {
        if (self->malformed_class[i][0] == 0)
            memcpy(self->malformed_class[i], cls, sizeof cls);
        if (strcmp(self->malformed_class[i], cls) == 0) {
            self->malformed_by[i]++;
            return;
        }
    }
    self->malformed_by[READER_MALFORMED_CLASSES]++;
}

void reader_stats_log(const reader_stats_t *self, const char *label, const char *name)
{
    char classes[READER_MALFORMED_CLASSES * (READER_CLASS_MAX + 24) + 32] = "";
    size_t len = 0;
    for (int i = 0; i <= READER_MALFORMED_CLASSES && len < sizeof classes; i++) {
        const char *cls = i < READER_MALFORMED_CLASSES ? self->malformed_class[i] : "other";
        if (self->malformed_by[i] == 0)
            continue;
        len += (size_t) snprintf(classes + len, sizeof classes - len, "%s%s=%llu", len ? " " : "", cls,
                                 (unsigned long long) self->malformed_by[i]);
    }
    rtp_info("%s %s: events=%llu tweets=%llu retweets=%llu panics=%llu malformed=%llu [%s] oversized=%llu "
             "truncated=%llu other_types=%llu records=%llu spooled=%llu sent=%llu pending=%llu pauses=%llu "
             "bytes=%llu connects=%llu reconnects=%llu eofs=%llu errors=%llu stalls=%llu http_errors=%llu "
             "ignored_in=%llu acked=%llu resent=%llu window=%llu window_full_pauses=%llu unknown_acks=%llu",
             label, name, (unsigned long long) self->events, (unsigned long long) self->tweets,
             (unsigned long long) self->retweets, (unsigned long long) self->panics,
             (unsigned long long) self->malformed, classes, (unsigned long long) self->oversized,
             (unsigned long long) self->truncated, (unsigned long long) self->other_types,
             (unsigned long long) self->records, (unsigned long long) self->spooled,
             (unsigned long long) self->sent,
             (unsigned long long) (self->records + self->spooled - self->sent),
             (unsigned long long) self->pauses, (unsigned long long) self->bytes,
             (unsigned long long) self->connects, (unsigned long long) self->reconnects,
             (unsigned long long) self->eofs, (unsigned long long) self->errors,
             (unsigned long long) self->stalls, (unsigned long long) self->http_errors,
             (unsigned long long) self->ignored_in, (unsigned long long) self->acked,
             (unsigned long long) self->resent, (unsigned long long) self->window,
             (unsigned long long) self->window_full_pauses, (unsigned long long) self->unknown_acks);
}
