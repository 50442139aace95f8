/* rtp-sentiment: the sentiment pool. Loads the AFINN list from the server's
 * /emotion_values, falling back to the bundled copy (and saying so) when the server
 * does not give a usable list. */
#include "analysis.h"
#include "http_get.h"
#include "log.h"
#include "settings.h"
#include "util.h"
#include "worker.h"

#include <stdlib.h>

/* A list larger than this is not an AFINN list (the real one is 30 KB). */
#define MAX_LIST_BYTES (4u << 20)
#define MAX_LIST_ENTRIES 100000

static const rtp_setting_def_t s_settings[] = {
    RTP_WORKER_SETTINGS("RTP_SENTIMENT_WORK_MEAN_MS"),
    {"emotion-url", RTP_SET_STR, NULL, "URL of the word list (e.g. http://host:4000/emotion_values); unset: the bundled copy", NULL},
    {"emotion-file", RTP_SET_STR, NULL, "the fallback word list (default: the bundled emotion_values.txt)", NULL},
    RTP_SETTINGS_END,
};

static int s_work(void *ctx, const rtp_msg_t *task, rtp_msg_t *result)
{
    result->number = rtp_sentiment(ctx, task->tweet.text);
    return 0;
}

static rtp_lexicon_t *s_load_url(const char *url)
{
    rtp_err_t err;
    size_t len = 0;
    char *body = rtp_http_get(url, MAX_LIST_BYTES, 5000, &len, &err);
    rtp_lexicon_t *lexicon = body ? rtp_lexicon_new(body, len, MAX_LIST_ENTRIES, &err) : NULL;
    free(body);
    if (lexicon)
        rtp_info("loaded %zu words from %s", rtp_lexicon_size(lexicon), url);
    else
        rtp_warn("cannot use the word list from %s (%s): falling back to the bundled copy", url, err.msg);
    return lexicon;
}

static rtp_lexicon_t *s_load_file(const char *file)
{
    rtp_err_t err;
    size_t len = 0;
    char *text = rtp_read_file(file, &len);
    rtp_lexicon_t *lexicon = text ? rtp_lexicon_new(text, len, MAX_LIST_ENTRIES, &err) : NULL;
    free(text);
    if (lexicon)
        rtp_info("loaded %zu words from %s", rtp_lexicon_size(lexicon), file);
    else
        rtp_error("cannot load the word list from %s: %s", file, text ? err.msg : "cannot read the file");
    return lexicon;
}

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *settings = rtp_settings_new("rtp-sentiment", "The sentiment worker pool.", s_settings, argc,
                                                argv, &code);
    if (!settings)
        return code;
    rtp_signals_install();
    const char *url = rtp_settings_str(settings, "emotion-url");
    rtp_lexicon_t *lexicon = url && *url ? s_load_url(url) : NULL;
    if (!lexicon) {
        char path[4096];
        const char *file = rtp_settings_str(settings, "emotion-file");
        lexicon = s_load_file(file ? file : rtp_data_path(path, sizeof path, "emotion_values.txt"));
    }
    if (!lexicon) {
        rtp_settings_destroy(&settings);
        return 1;
    }
    rtp_worker_config_t cfg;
    rtp_worker_config_from(&cfg, settings, RTP_POOL_SENTIMENT);
    cfg.work = s_work;
    cfg.ctx = lexicon;
    code = rtp_worker_run(&cfg);
    rtp_lexicon_destroy(&lexicon);
    rtp_settings_destroy(&settings);
    return code;
}
