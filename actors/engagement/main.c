/* rtp-engagement: the engagement pool: (favorites + retweets) / followers of each
 * tweet (SPEC section 2; the decoder already took a retweet's counts from the
 * original). */
#include "analysis.h"
#include "settings.h"
#include "util.h"
#include "worker.h"

static const rtp_setting_def_t s_settings[] = {
    RTP_WORKER_SETTINGS("RTP_ENGAGEMENT_WORK_MEAN_MS"),
    RTP_SETTINGS_END,
};

static int s_work(void *ctx, const rtp_msg_t *task, rtp_msg_t *result)
{
    (void) ctx;
    result->number = rtp_engagement(task->tweet.favorites, task->tweet.retweets, task->tweet.followers);
    return 0;
}

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *settings = rtp_settings_new("rtp-engagement", "The engagement worker pool.", s_settings, argc,
                                                argv, &code);
    if (!settings)
        return code;
    rtp_signals_install();
    rtp_worker_config_t cfg;
    rtp_worker_config_from(&cfg, settings, RTP_POOL_ENGAGEMENT);
    cfg.work = s_work;
    code = rtp_worker_run(&cfg);
    rtp_settings_destroy(&settings);
    return code;
}
