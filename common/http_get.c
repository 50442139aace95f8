#include "http_get.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap, max;
    int too_big;
} body_t;

static size_t s_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    body_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->too_big = 1;
        return 0;   /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

char *rtp_http_get(const char *url, size_t max_bytes, long timeout_ms, size_t *len_p, rtp_err_t *err)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        rtp_err_set(err, "curl_easy_init failed");
        return NULL;
    }
    body_t body = {NULL, 0, 0, max_bytes, 0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (body.too_big)
        rtp_err_set(err, "%s: body larger than %zu bytes", url, max_bytes);
    else if (rc != CURLE_OK)
        rtp_err_set(err, "%s: %s", url, curl_easy_strerror(rc));
    else if (status != 200)
        rtp_err_set(err, "%s: HTTP status %ld", url, status);
    if (body.too_big || rc != CURLE_OK || status != 200) {
        free(body.data);
        return NULL;
    }
    if (!body.data) {
        body.data = calloc(1, 1);   /* an empty 200 body */
        if (!body.data) {
            rtp_err_set(err, "out of memory");
            return NULL;
        }
    }
    if (len_p)
        *len_p = body.len;
    return body.data;
}
