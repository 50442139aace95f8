#include "runinfo.h"

#include "util.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

char *runinfo_pointer_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        snprintf(buf, cap, "%s/rtp-current.json", xdg);
    else
        snprintf(buf, cap, "/tmp/rtp-current-%u.json", (unsigned) getuid());
    return buf;
}

/* Writes text to path through a private temporary file and a rename. */
static int s_write_atomic(const char *path, const char *text, rtp_err_t *err)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int) getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return rtp_err_set(err, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return rtp_err_set(err, "%s: %s", tmp, strerror(e));
        }
        done += (size_t) n;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rtp_err_set(err, "%s: %s", path, strerror(e));
    }
    return 0;
}

int runinfo_write(const runinfo_t *info, rtp_err_t *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pid", getpid());
    cJSON_AddNumberToObject(o, "started_ms", (double) rtp_wall_ms());
    cJSON_AddStringToObject(o, "runtime_dir", info->runtime_dir ? info->runtime_dir : "");
    cJSON_AddStringToObject(o, "redis_url", info->redis_url ? info->redis_url : "");
    cJSON_AddStringToObject(o, "rtp_url", info->rtp_url ? info->rtp_url : "");
    if (info->broker_metrics)
        cJSON_AddStringToObject(o, "broker_metrics", info->broker_metrics);
    if (info->batcher_metrics)
        cJSON_AddStringToObject(o, "batcher_metrics", info->batcher_metrics);
    if (info->aggregator_metrics)
        cJSON_AddStringToObject(o, "aggregator_metrics", info->aggregator_metrics);
    if (info->n_readers > 0) {
        cJSON *readers = cJSON_AddObjectToObject(o, "reader_metrics");
        for (int i = 0; i < info->n_readers && i < RUNINFO_MAX_READERS; i++)
            if (info->reader_name[i] && info->reader_metrics[i])
                cJSON_AddStringToObject(readers, info->reader_name[i], info->reader_metrics[i]);
    }
    cJSON *eps = cJSON_AddObjectToObject(o, "endpoints");
    for (int i = 0; i < info->n_endpoints && i < RUNINFO_MAX_ENDPOINTS; i++)
        cJSON_AddStringToObject(eps, info->endpoint_name[i], info->endpoint[i]);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return rtp_err_set(err, "out of memory");
    char path[PATH_MAX + 32], pointer[PATH_MAX];
    snprintf(path, sizeof path, "%s/rtp-up.json", info->runtime_dir);
    int rc = s_write_atomic(path, text, err);
    if (rc == 0)
        rc = s_write_atomic(runinfo_pointer_path(pointer, sizeof pointer), text, err);
    free(text);
    return rc;
}

/* The pointer's object if the file is a regular file of ours (not a link another
 * user planted in /tmp); NULL otherwise. */
static cJSON *s_read_pointer(rtp_err_t *err)
{
    char path[PATH_MAX];
    runinfo_pointer_path(path, sizeof path);
    struct stat st;
    if (lstat(path, &st) != 0) {
        rtp_err_set(err, "%s: %s (is rtp up running?)", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != getuid()) {
        rtp_err_set(err, "%s is not a file of this user: ignored", path);
        return NULL;
    }
    char *text = rtp_read_file(path, NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!o)
        rtp_err_set(err, "%s: unreadable or not JSON", path);
    return o;
}

void runinfo_remove(const char *runtime_dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/rtp-up.json", runtime_dir);
    unlink(path);
    cJSON *o = s_read_pointer(NULL);
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    if (cJSON_IsNumber(pid) && (int) pid->valuedouble == (int) getpid())
        unlink(runinfo_pointer_path(path, sizeof path));
    cJSON_Delete(o);
}

int runinfo_find_metrics(char *url, size_t cap, rtp_err_t *err)
{
    return runinfo_find_url("broker_metrics", url, cap, err);
}

int runinfo_find_url(const char *key, char *url, size_t cap, rtp_err_t *err)
{
    cJSON *o = s_read_pointer(err);
    if (!o)
        return -1;
    char path[PATH_MAX];
    runinfo_pointer_path(path, sizeof path);
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(o, key);
    int rc = -1;
    if (!cJSON_IsNumber(pid) || (kill((pid_t) pid->valuedouble, 0) != 0 && errno == ESRCH))
        rtp_err_set(err, "%s names an rtp up that is no longer running", path);
    else if (!cJSON_IsString(metrics) || !*metrics->valuestring)
        rtp_err_set(err, "%s names no %s URL", path, key);
    else {
        snprintf(url, cap, "%s", metrics->valuestring);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}
