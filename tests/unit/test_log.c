/* log: every line carries time, level, actor and pid; levels filter; JSON lines
 * escape what they must; a line is one write. */
#include "check.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs fn with stderr sent to a temporary file and returns what it wrote. */
static char *s_capture(void (*fn)(void))
{
    char path[] = "/tmp/rtp-test-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return buf;
}

static void s_plain(void)
{
    rtp_log_init("rtp-test");
    rtp_log_set_json(0);
    rtp_log_set_level(RTP_LOG_INFO);
    rtp_debug("hidden %d", 1);
    rtp_info("hello %s", "world");
    rtp_warn("careful");
    rtp_error("broken");
}

static void s_json(void)
{
    rtp_log_set_json(1);
    rtp_log_set_level(RTP_LOG_DEBUG);
    rtp_debug("quote \" backslash \\ tab \t newline \n end");
    rtp_log_set_json(0);
}

static void s_off(void)
{
    rtp_log_set_level(RTP_LOG_OFF);
    rtp_error("not even errors");
    rtp_log_set_level(RTP_LOG_INFO);
}

int main(void)
{
    char *out = s_capture(s_plain);
    char expect_pid[32];
    snprintf(expect_pid, sizeof expect_pid, "rtp-test[%d] ", (int) getpid());
    CHECK(strstr(out, "hidden") == NULL);
    CHECK(strstr(out, "INFO  ") && strstr(out, "hello world\n"));
    CHECK(strstr(out, "WARN  ") && strstr(out, "careful\n"));
    CHECK(strstr(out, "ERROR ") && strstr(out, "broken\n"));
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        /* 2026-11-27T15:40:01.123Z LEVEL rtp-test[PID] message */
        CHECK(strlen(line) > 30 && line[4] == '-' && line[10] == 'T' && line[23] == 'Z');
        CHECK(strstr(line, expect_pid) != NULL);
    }
    CHECK_INT(lines, 3);
    out = s_capture(s_json);
    CHECK(strncmp(out, "{\"time\":\"", 9) == 0);
    CHECK(strstr(out, "\"level\":\"debug\",\"actor\":\"rtp-test\"") != NULL);
    CHECK(strstr(out, "quote \\\" backslash \\\\ tab \\u0009 newline \\u000a end\"}\n") != NULL);
    CHECK(strchr(out, '\n') == out + strlen(out) - 1);   /* one line */
    out = s_capture(s_off);
    CHECK_INT(strlen(out), 0);
    CHECK_INT(rtp_log_set_level_name("warn"), 0);
    CHECK_INT(rtp_log_level(), RTP_LOG_WARN);
    CHECK_INT(rtp_log_set_level_name("loud"), -1);
    return CHECK_DONE();
}
