#include "welcome.h"

#include "http_get.h"
#include "log.h"

#include <stdlib.h>
#include <unistd.h>

#define MAX_WORDS_BYTES (4u << 20)

rtp_msg_t *welcome_new(const char *workers_endpoint, const char *worker_args, const char *emotion_url)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_WELCOME);
    if (!m || rtp_msg_set_str(&m->text, workers_endpoint) || rtp_msg_set_str(&m->origin, worker_args)) {
        rtp_msg_destroy(&m);
        return NULL;
    }
    /* at most about 4.5 s: a broker restarted by rtp up must come back soon */
    for (int attempt = 1; emotion_url && *emotion_url && attempt <= 2; attempt++) {
        rtp_err_t err;
        size_t len = 0;
        char *words = rtp_http_get(emotion_url, MAX_WORDS_BYTES, 2000, &len, &err);
        if (words) {
            int rc = rtp_msg_set_raw(m, words, len);
            free(words);
            if (rc)
                rtp_msg_destroy(&m);
            else
                rtp_info("supervisors that join get the word list of %s (%zu bytes)", emotion_url, len);
            return m;
        }
        rtp_warn("cannot fetch the word list for joining supervisors (attempt %d of 2): %s", attempt,
                 err.msg);
        if (attempt < 2)
            usleep(500000);
    }
    return m;
}
