/* rtp-censor: the lab's printer pool. Censors the swear words of each tweet
 * (SPEC section 2), prints the censored tweet, and returns the censored text. The
 * simulated work (--work-mean-ms) runs here. */
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
    {"print", RTP_SET_BOOL, "true", "print the censored tweets on stdout", NULL},
    {"print-per-second", RTP_SET_INT, "20", "print at most this many tweets a second, then a count of the rest (0 = all)", NULL},
    RTP_SETTINGS_END,
};

typedef struct {
    rtp_censor_t *censor;
    int print;
    int64_t per_second;            /* 0: print every tweet */
    int64_t second_started_ms;
    int64_t printed, skipped;      /* in the current second */
    uint64_t total;
} censor_ctx_t;

/* When thousands of tweets a second go by, a person can still read the output:
 * the first per_second tweets of each second are printed, the rest counted. */
static void s_summarise(censor_ctx_t *ctx, int64_t now)
{
    if (ctx->skipped)
        printf("... and %lld more tweets censored in the last second (%llu by this worker in all)\n",
               (long long) ctx->skipped, (unsigned long long) ctx->total);
    ctx->second_started_ms = now;
    ctx->printed = ctx->skipped = 0;
}

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

/* Prints one tweet on one line: "@screen_name: censored text", with the control
 * characters of the text written as \n, \t, \r or \xHH (and a backslash as \\). */
static void s_print(void *arg, const rtp_msg_t *task, const rtp_msg_t *result)
{
    censor_ctx_t *ctx = arg;
    if (!ctx->print)
        return;
    ctx->total++;
    int64_t now = rtp_mono_ms();
    if (now - ctx->second_started_ms >= 1000)
        s_summarise(ctx, now);
    if (ctx->per_second > 0 && ctx->printed >= ctx->per_second) {
        ctx->skipped++;
        return;
    }
    ctx->printed++;
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
    censor_ctx_t ctx = {NULL, rtp_settings_bool(settings, "print"), rtp_settings_int(settings, "print-per-second"),
                        rtp_mono_ms(), 0, 0, 0};
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
    if (ctx.print)
        s_summarise(&ctx, rtp_mono_ms());
    rtp_censor_destroy(&ctx.censor);
    rtp_settings_destroy(&settings);
    return code;
}
