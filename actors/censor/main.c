/* rtp-censor: the lab's printer pool. Censors the swear words of each tweet
 * (SPEC section 2), prints the censored tweet, and returns the censored text. The
 * simulated work (--work-mean-ms) runs here. Which tweets are printed is the
 * broker's choice (its print mark on the task, broker/print_budget.h), so that the
 * whole pool prints a readable number a second however many workers it has. */
#include "analysis.h"
#include "log.h"
#include "settings.h"
#include "util.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rtp_setting_def_t s_settings[] = {
    RTP_WORKER_SETTINGS("RTP_WORK_MEAN_MS"),
    {"swear-words", RTP_SET_STR, NULL, "JSON list of swear words (default: the bundled swearwords.json)", NULL},
    {"print", RTP_SET_BOOL, "true",
     "print the censored tweets the broker marks (rtp-broker --print-per-second), and its count of the rest", NULL},
    RTP_SETTINGS_END,
};

typedef struct {
    rtp_censor_t *censor;
    int print;
} censor_ctx_t;

static int s_work(void *arg, const rtp_msg_t *task, rtp_msg_t *result)
{
    censor_ctx_t *ctx = arg;
    char *censored = rtp_censor_text(ctx->censor, task->tweet.text, NULL);
    if (!censored)
        return -1;
    free(result->text);
    result->text = censored;
    return 0;
}

/* Prints a tweet the broker marked on one line: "@screen_name: censored text", with
 * the control characters of the text written as \n, \t, \r or \xHH (and a
 * backslash as \\); before it, when the mark carries one, a line with the pool's
 * count of the tweets left unprinted. */
static void s_print(void *arg, const rtp_msg_t *task, const rtp_msg_t *result)
{
    censor_ctx_t *ctx = arg;
    if (!ctx->print || task->credit == 0)
        return;
    if (task->credit > 1)
        printf("... %lu more tweets censored, not printed (rtp-broker --print-per-second)\n",
               (unsigned long) task->credit - 1);
    size_t n = strlen(result->text);
    char *line = malloc(n * 4 + 1), *o = line;
    if (!line)
        return;
    for (const unsigned char *p = (const unsigned char *) result->text; *p; p++) {
        if (*p == '\\' || *p == '\n' || *p == '\t' || *p == '\r') {
            *o++ = '\\';
            *o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : *p == '\r' ? 'r' : '\\';
        } else if (*p < 0x20 || *p == 0x7f)
            o += sprintf(o, "\\x%02x", *p);
        else
            *o++ = (char) *p;
    }
    *o = 0;
    printf("@%s: %s\n", task->tweet.screen_name, line);
    free(line);
}

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *settings = rtp_settings_new("rtp-censor", "The censor (printer) worker pool: censors and prints tweets.",
                                                s_settings, argc, argv, &code);
    if (!settings)
        return code;
    rtp_signals_install();
    char path[4096];
    const char *file = rtp_settings_str(settings, "swear-words");
    if (!file)
        file = rtp_data_path(path, sizeof path, "swearwords.json");
    size_t len = 0;
    char *json = rtp_read_file(file, &len);
    rtp_err_t err;
    censor_ctx_t ctx = {NULL, rtp_settings_bool(settings, "print")};
    ctx.censor = json ? rtp_censor_new(json, len, &err) : NULL;
    free(json);
    if (!ctx.censor) {
        rtp_error("cannot load the swear words from %s: %s", file, json ? err.msg : "cannot read the file");
        rtp_settings_destroy(&settings);
        return 1;
    }
    rtp_info("loaded %zu swear words from %s", rtp_censor_size(ctx.censor), file);
    setvbuf(stdout, NULL, _IOLBF, 0);
    rtp_worker_config_t cfg;
    rtp_worker_config_from(&cfg, settings, RTP_POOL_CENSOR);
    cfg.work = s_work;
    cfg.sent = s_print;
    cfg.ctx = &ctx;
    code = rtp_worker_run(&cfg);
    rtp_censor_destroy(&ctx.censor);
    rtp_settings_destroy(&settings);
    return code;
}
