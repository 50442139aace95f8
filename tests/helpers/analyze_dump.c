/* analyze_dump: runs the C analysis over a .jsonl file of raw tweet objects, for
 * tests/integration/test_analysis_data.py to compare with tests/lib/rtp_reference.py.
 *
 *   analyze_dump TWEETS.jsonl [--afinn PATH] [--swears PATH]
 *
 * For each tweet, and then for its retweeted original if it has one, prints one JSON
 * line: {"id", "censored", "starred" (words), "sentiment", "engagement"}, the numbers
 * as strings in rtp_fmt_double's shortest round-trip form. The text is chosen as SPEC
 * section 2 says (extended_tweet.full_text > full_text > text). It reads the JSON with
 * cJSON directly, so it tests only the analysis functions, not the tweet decoder.
 * Exits 1 on an unreadable file, a line that is not a JSON object, or a list error.
 */
#include "analysis.h"
#include "util.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int64_t s_count(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(item) ? (int64_t) item->valuedouble : 0;
}

static const char *s_text_of(const cJSON *tweet)
{
    const char *text = s_string(cJSON_GetObjectItemCaseSensitive(tweet, "extended_tweet"), "full_text");
    if (!text)
        text = s_string(tweet, "full_text");
    if (!text)
        text = s_string(tweet, "text");
    return text ? text : "";
}

static void s_id_of(const cJSON *tweet, char *buf, size_t cap)
{
    const char *id = s_string(tweet, "id_str");
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(tweet, "id");
    if (id && *id)
        snprintf(buf, cap, "%s", id);
    else if (cJSON_IsNumber(num))
        snprintf(buf, cap, "%.0f", num->valuedouble);
    else
        snprintf(buf, cap, "%s", "");
}

static int s_dump(const rtp_lexicon_t *lexicon, const rtp_censor_t *censor, const cJSON *tweet)
{
    const char *text = s_text_of(tweet);
    int starred = 0;
    char *censored = rtp_censor_text(censor, text, &starred);
    if (!censored)
        return -1;
    /* SPEC section 2: a retweet's counts come from retweeted_status, followers from
     * the retweeter. */
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(tweet, "retweeted_status");
    const cJSON *counts = cJSON_IsObject(rt) ? rt : tweet;
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(tweet, "user");
    double engagement = rtp_engagement(s_count(counts, "favorite_count"), s_count(counts, "retweet_count"),
                                       s_count(user, "followers_count"));
    char id[32], sentiment[32], ratio[32];
    s_id_of(tweet, id, sizeof id);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "censored", censored);
    cJSON_AddNumberToObject(out, "starred", starred);
    cJSON_AddStringToObject(out, "sentiment",
                            rtp_fmt_double(sentiment, sizeof sentiment, rtp_sentiment(lexicon, text)));
    cJSON_AddStringToObject(out, "engagement", rtp_fmt_double(ratio, sizeof ratio, engagement));
    char *line = cJSON_PrintUnformatted(out);
    int rc = line ? 0 : -1;
    if (line)
        puts(line);
    free(line);
    cJSON_Delete(out);
    free(censored);
    return rc;
}

static char *s_read(const char *path, size_t *len_p)
{
    char *data = rtp_read_file(path, len_p);
    if (!data)
        fprintf(stderr, "analyze_dump: cannot read %s\n", path);
    return data;
}

int main(int argc, char **argv)
{
    char afinn_path[1024], swears_path[1024];
    rtp_data_path(afinn_path, sizeof afinn_path, "emotion_values.txt");
    rtp_data_path(swears_path, sizeof swears_path, "swearwords.json");
    const char *tweets_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--afinn") == 0 && i + 1 < argc)
            snprintf(afinn_path, sizeof afinn_path, "%s", argv[++i]);
        else if (strcmp(argv[i], "--swears") == 0 && i + 1 < argc)
            snprintf(swears_path, sizeof swears_path, "%s", argv[++i]);
        else if (!tweets_path && argv[i][0] != '-')
            tweets_path = argv[i];
        else {
            fprintf(stderr, "usage: analyze_dump TWEETS.jsonl [--afinn PATH] [--swears PATH]\n");
            return 2;
        }
    }
    if (!tweets_path) {
        fprintf(stderr, "usage: analyze_dump TWEETS.jsonl [--afinn PATH] [--swears PATH]\n");
        return 2;
    }
    size_t len;
    rtp_err_t err = {{0}};
    int rc = 1;
    rtp_lexicon_t *lexicon = NULL;
    rtp_censor_t *censor = NULL;
    char *afinn = s_read(afinn_path, &len);
    if (afinn && !(lexicon = rtp_lexicon_new(afinn, len, 100000, &err)))
        fprintf(stderr, "analyze_dump: %s: %s\n", afinn_path, err.msg);
    free(afinn);
    char *swears = s_read(swears_path, &len);
    if (swears && !(censor = rtp_censor_new(swears, len, &err)))
        fprintf(stderr, "analyze_dump: %s: %s\n", swears_path, err.msg);
    free(swears);
    char *tweets = s_read(tweets_path, &len);
    if (!lexicon || !censor || !tweets)
        goto done;

    size_t lineno = 0;
    for (char *line = tweets, *next; line && *line; line = next) {
        lineno++;
        char *eol = strchr(line, '\n');
        next = eol ? eol + 1 : NULL;
        if (eol)
            *eol = 0;
        if (!*line)
            continue;
        cJSON *tweet = cJSON_Parse(line);
        if (!cJSON_IsObject(tweet)) {
            fprintf(stderr, "analyze_dump: %s:%zu: not a JSON object\n", tweets_path, lineno);
            cJSON_Delete(tweet);
            goto done;
        }
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(tweet, "retweeted_status");
        int failed =
            s_dump(lexicon, censor, tweet) != 0 || (cJSON_IsObject(rt) && s_dump(lexicon, censor, rt) != 0);
        cJSON_Delete(tweet);
        if (failed) {
            fprintf(stderr, "analyze_dump: out of memory\n");
            goto done;
        }
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(tweets);
    rtp_lexicon_destroy(&lexicon);
    rtp_censor_destroy(&censor);
    return rc;
}
