#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *s_actor = "rtp";
static rtp_log_level_t s_level = RTP_LOG_INFO;
static int s_json = 0;
static const char *s_names[] = {"debug", "info", "warn", "error", "off"};
static const char *s_labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};

void rtp_log_init(const char *actor)
{
    if (actor)
        s_actor = actor;
}

int rtp_log_set_level_name(const char *name)
{
    for (int i = 0; i <= RTP_LOG_OFF; i++)
        if (strcmp(name, s_names[i]) == 0) {
            s_level = (rtp_log_level_t) i;
            return 0;
        }
    return -1;
}

void rtp_log_set_level(rtp_log_level_t level) { s_level = level; }
rtp_log_level_t rtp_log_level(void) { return s_level; }
void rtp_log_set_json(int on) { s_json = on; }

/* Appends src to the line as a JSON string body (quotes and control bytes escaped). */
static size_t s_json_escape(char *out, size_t cap, size_t len, const char *src)
{
    for (; *src && len + 7 < cap; src++) {
        unsigned char c = (unsigned char) *src;
        if (c == '"' || c == '\\') {
            out[len++] = '\\';
            out[len++] = (char) c;
        } else if (c < 0x20)
            len += (size_t) snprintf(out + len, cap - len, "\\u%04x", c);
        else
            out[len++] = (char) c;
    }
    return len;
}

void rtp_log(rtp_log_level_t level, const char *fmt, ...)
{
    if (level < s_level || level >= RTP_LOG_OFF)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03dZ", (int) (tv.tv_usec / 1000));

    char line[4096];
    size_t len;
    if (s_json) {
        len = (size_t) snprintf(line, sizeof line,
                                "{\"time\":\"%s\",\"level\":\"%s\",\"actor\":\"%s\",\"pid\":%d,\"msg\":\"",
                                stamp, s_names[level], s_actor, (int) getpid());
        len = s_json_escape(line, sizeof line, len, msg);
        len += (size_t) snprintf(line + len, sizeof line - len, "\"}\n");
    } else
        len = (size_t) snprintf(line, sizeof line, "%s %s %s[%d] %s\n", stamp, s_labels[level],
                                s_actor, (int) getpid(), msg);
    if (len >= sizeof line) {
        len = sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void) w;
}
