/* journal: records come back in the order appended, field for field (through the
 * codec), across close and reopen; a torn tail at every byte offset of the last record
 * (and a flipped byte anywhere in it, and zeros after it) is cut and counted, the
 * records before it kept; the byte bound holds, with a prefix of a batch appended when
 * only part fits and room coming back as segments are consumed; consumed segments are
 * deleted, an empty journal leaves no files; one process at a time. */
#include "check.h"
#include "journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_root[256];

/* A fresh folder path under the test's temporary root (not created). */
static const char *s_dir(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", s_root, name);
    return buf;
}

/* Message i of a deterministic stream: JOINED records, with a DEADLETTER (raw bytes
 * with a NUL) every fifth; sizes vary with i. */
static rtp_msg_t *s_msg(int i)
{
    char text[600], id[32];
    snprintf(id, sizeof id, "%d", 100000 + i);
    int n = snprintf(text, sizeof text, "tweet %d:", i);
    for (int k = 0; k < i % 37 && n < (int) sizeof text - 8; k++)
        n += snprintf(text + n, sizeof text - (size_t) n, " w%d", k);
    rtp_msg_t *m;
    if (i % 5 == 4) {
        m = rtp_msg_new(RTP_MSG_DEADLETTER);
        rtp_msg_set_str(&m->text, "malformed event: test");
        char raw[64];
        int len = snprintf(raw, sizeof raw, "{\"x\":%d}", i);
        raw[3] = 0;
        rtp_msg_set_raw(m, raw, (size_t) len);
    } else {
        m = rtp_msg_new(RTP_MSG_JOINED);
        rtp_tweet_set(&m->tweet, id, "77", "Ann \xc3\xa9", "ann", text, "tag other",
                      "Wed Aug 27 13:08:45 +0000 2008", "en", i % 3 ? "" : "5");
        m->tweet.followers = i;
        m->tweet.time_ms = 1219842525000LL + i;
        rtp_msg_set_str(&m->text, "censored ****");
        m->number = -1.0 / (i + 3);
        m->number2 = i * 0.25;
    }
    m->key = (uint64_t) i + 1;
    m->seq = (uint64_t) i * 7;
    m->received_us = 1700000000000000LL + i;
    rtp_msg_set_str(&m->origin, i % 2 ? "tweets-1" : "tweets-2");
    return m;
}

/* 1 when msg encodes to the same bytes as message i (the codec is byte-exact). */
static int s_same(const rtp_msg_t *msg, int i)
{
    rtp_msg_t *want = s_msg(i);
    uint8_t h1[4], h2[4], *b1 = NULL, *b2 = NULL;
    size_t c1 = 0, c2 = 0, l1 = 0, l2 = 0;
    int ok = rtp_msg_encode(msg, h1, &b1, &c1, &l1) == 0 && rtp_msg_encode(want, h2, &b2, &c2, &l2) == 0 &&
             memcmp(h1, h2, 4) == 0 && l1 == l2 && (l1 == 0 || memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    rtp_msg_destroy(&want);
    return ok;
}

/* Appends messages from..to-1 in one call; returns what append returned. */
static int s_append(rtp_journal_t *j, int from, int to)
{
    rtp_msg_t *msgs[512] = {0};
    int n = to - from;
    for (int i = 0; i < n; i++)
        msgs[i] = s_msg(from + i);
    rtp_err_t err = {{0}};
    int rc = rtp_journal_append(j, msgs, (size_t) n, &err);
    if (rc < 0)
        fprintf(stderr, "append: %s\n", err.msg);
    for (int i = 0; i < n; i++)
        rtp_msg_destroy(&msgs[i]);
    return rc;
}

/* Peeks up to max records and checks they are messages first, first+1, ...; consumes
 * `consume` of them. Returns how many were peeked. */
static int s_take(rtp_journal_t *j, int first, size_t max, size_t consume)
{
    rtp_msg_t *out[512];
    rtp_err_t err = {{0}};
    int n = rtp_journal_peek(j, out, max, &err);
    CHECK(n >= 0);
    int in_order = 1;
    for (int i = 0; i < n; i++) {
        if (!s_same(out[i], first + i))
            in_order = 0;
        rtp_msg_destroy(&out[i]);
    }
    CHECK(in_order);
    if (consume)
        CHECK_INT(rtp_journal_consume(j, consume, &err), 0);
    return n;
}

static int s_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static long long s_size_on_disk(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".seg") && stat(path, &sb) == 0)
            total += sb.st_size;
    }
    closedir(d);
    return total;
}

static void test_crc(void)
{
    CHECK(rtp_journal_crc32c(0, "123456789", 9) == 0xE3069283u); /* the CRC-32C check value */
    CHECK(rtp_journal_crc32c(rtp_journal_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
}

static void test_order_and_reopen(void)
{
    const char *dir = s_dir("order/nested");
    rtp_err_t err = {{0}};
    rtp_journal_t *j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_INT(rtp_journal_records(j), 0);
    CHECK_INT(s_files(dir, ".seg"), 0);
    CHECK_INT(s_append(j, 0, 10), 10);
    CHECK_INT(s_append(j, 10, 11), 1);
    CHECK_INT(s_append(j, 11, 40), 29);
    CHECK_INT(rtp_journal_records(j), 40);
    CHECK_INT((long long) rtp_journal_bytes(j), s_size_on_disk(dir));
    /* peek does not consume; partial consumes advance in order */
    CHECK_INT(s_take(j, 0, 7, 0), 7);
    CHECK_INT(s_take(j, 0, 7, 3), 7);
    CHECK_INT(s_take(j, 3, 5, 5), 5);
    CHECK_INT(rtp_journal_records(j), 32);
    /* appends behind a partly consumed journal keep the order */
    CHECK_INT(s_append(j, 40, 45), 5);
    CHECK_INT(s_take(j, 8, 100, 0), 37);
    rtp_journal_stats_t st;
    rtp_journal_stats(j, &st);
    CHECK_INT(st.appended, 45);
    CHECK_INT(st.consumed, 8);
    CHECK_INT(st.syncs, 4);
    CHECK(st.sync_us_max >= st.sync_us_total / 4);
    rtp_journal_destroy(&j);
    rtp_journal_destroy(&j); /* twice is safe */
    CHECK(j == NULL);

    /* reopen: nothing consumed is written down, so the one segment comes back whole */
    j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    rtp_journal_stats(j, &st);
    CHECK_INT(st.recovered, 45);
    CHECK_INT(st.torn, 0);
    CHECK_INT(s_take(j, 0, 45, 20), 45);
    CHECK_INT(s_take(j, 20, 25, 25), 25);
    CHECK_INT(rtp_journal_records(j), 0);
    CHECK_INT(rtp_journal_bytes(j), 0);
    CHECK_INT(s_files(dir, ".seg"), 0); /* drained: the file is gone */
    CHECK_INT(s_take(j, 0, 10, 0), 0);
    CHECK_INT(s_append(j, 45, 50), 5); /* and a new one starts */
    CHECK_INT(s_files(dir, ".seg"), 1);
    CHECK_INT(s_take(j, 45, 10, 5), 5);
    rtp_journal_destroy(&j);
    struct stat sb;
    CHECK(stat(dir, &sb) != 0); /* empty at close: the folder it created is removed */
}

static void test_segments(void)
{
    const char *dir = s_dir("segments");
    rtp_err_t err = {{0}};
    /* 64 KiB segments (the floor for 1 MiB / 16): ~400 records of ~300 bytes fill a few */
    rtp_journal_t *j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    for (int i = 0; i < 1000; i += 50)
        CHECK_INT(s_append(j, i, i + 50), 50);
    rtp_journal_stats_t st;
    rtp_journal_stats(j, &st);
    int segs = s_files(dir, ".seg");
    CHECK(segs >= 3);
    CHECK_INT(st.segments, segs);
    CHECK_INT((long long) st.bytes, s_size_on_disk(dir));
    /* a peek spanning segments, consumed in steps: each wholly consumed segment goes */
    int next = 0, fewer = 0, prev = segs;
    while (rtp_journal_records(j) > 0) {
        int n = s_take(j, next, 120, 0);
        CHECK(n > 0);
        if (n <= 0)
            break;
        s_take(j, next, (size_t) n, (size_t) n);
        next += n;
        int now = s_files(dir, ".seg");
        if (now < prev)
            fewer++;
        prev = now;
        CHECK_INT((long long) rtp_journal_bytes(j), s_size_on_disk(dir));
    }
    CHECK_INT(next, 1000);
    CHECK(fewer >= segs - 1);
    CHECK_INT(s_files(dir, ".seg"), 0);

    /* reopen with several segments: recovered in segment order */
    for (int i = 0; i < 600; i += 100)
        CHECK_INT(s_append(j, i, i + 100), 100);
    CHECK(s_files(dir, ".seg") >= 2);
    rtp_journal_destroy(&j);
    j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_INT(rtp_journal_records(j), 600);
    CHECK_INT(s_take(j, 0, 512, 512), 512);
    CHECK_INT(s_take(j, 512, 100, 88), 88);
    CHECK_INT(rtp_journal_records(j), 0);
    rtp_journal_destroy(&j);
}

/* Reads a whole file (binary, NULs included). */
static unsigned char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t) n + 1);
    if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t) n;
    return buf;
}

static void s_spit(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        if (len)
            fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* Opens dir expecting `records` records (in order from 0), `torn` torn tails of
 * `torn_bytes` bytes; returns 1 when all matched. */
static int s_reopen_expect(const char *dir, uint64_t records, uint64_t torn, uint64_t torn_bytes)
{
    rtp_err_t err = {{0}};
    rtp_journal_t *j = rtp_journal_new(dir, 1 << 20, 0, &err);
    if (!j) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 0;
    }
    rtp_journal_stats_t st;
    rtp_journal_stats(j, &st);
    int ok = st.recovered == records && st.torn == torn && st.torn_bytes == torn_bytes;
    if (!ok)
        fprintf(stderr, "recovered %llu torn %llu (%llu bytes); expected %llu, %llu (%llu bytes)\n",
                (unsigned long long) st.recovered, (unsigned long long) st.torn,
                (unsigned long long) st.torn_bytes, (unsigned long long) records, (unsigned long long) torn,
                (unsigned long long) torn_bytes);
    rtp_msg_t *out[16];
    int n = rtp_journal_peek(j, out, 16, &err);
    if (n != (int) records)
        ok = 0;
    for (int i = 0; i < n; i++) {
        if (!s_same(out[i], i))
            ok = 0;
        rtp_msg_destroy(&out[i]);
    }
    /* a write after the cut lands right behind the good records */
    if (s_append(j, (int) records, (int) records + 1) != 1)
        ok = 0;
    rtp_journal_destroy(&j);
    return ok;
}

static void test_torn_tail(void)
{
    const char *dir = s_dir("torn");
    char seg[600];
    snprintf(seg, sizeof seg, "%s/journal-00000000000000000001.seg", dir);
    rtp_err_t err = {{0}};
    rtp_journal_t *j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    for (int i = 0; i < 4; i++)
        CHECK_INT(s_append(j, i, i + 1), 1);
    size_t good_len = (size_t) rtp_journal_bytes(j);
    CHECK_INT(s_append(j, 4, 5), 1); /* the last record: a DEADLETTER with a NUL in raw */
    size_t full_len = (size_t) rtp_journal_bytes(j);
    rtp_journal_destroy(&j);
    size_t len = 0;
    unsigned char *full = s_slurp(seg, &len);
    CHECK(full != NULL && len == full_len);
    if (!full)
        return;
    size_t rec = full_len - good_len;
    CHECK(rec > RTP_JOURNAL_RECORD_OVERHEAD);

    /* cut at every byte offset of the last record */
    int cut_ok = 0;
    for (size_t k = 0; k < rec; k++) {
        s_spit(seg, full, good_len + k);
        if (s_reopen_expect(dir, 4, k > 0, k))
            cut_ok++;
        /* the journal now holds records 0..4 again: check, then restore the cut */
        size_t now = 0;
        unsigned char *again = s_slurp(seg, &now);
        if (again && now == full_len && memcmp(again, full, full_len) == 0)
            cut_ok++;
        free(again);
    }
    CHECK_INT(cut_ok, 2 * (int) rec);

    /* a flipped bit in every byte of the last record: the checksum (or the length)
     * catches it */
    int flip_ok = 0;
    for (size_t k = 0; k < rec; k++) {
        full[good_len + k] ^= 0x10;
        s_spit(seg, full, full_len);
        full[good_len + k] ^= 0x10;
        if (s_reopen_expect(dir, 4, 1, rec))
            flip_ok++;
    }
    CHECK_INT(flip_ok, (int) rec);

    /* zeros after the records (a file extended but its blocks never written) */
    unsigned char *padded = calloc(1, full_len + 100);
    memcpy(padded, full, full_len);
    s_spit(seg, padded, full_len + 100);
    CHECK(s_reopen_expect(dir, 5, 1, 100));
    free(padded);

    /* a last segment torn while being created (part of its header): removed */
    s_spit(seg, full, full_len);
    char seg2[600];
    snprintf(seg2, sizeof seg2, "%s/journal-00000000000000000002.seg", dir);
    s_spit(seg2, (const unsigned char *) "RT", 2);
    CHECK(s_reopen_expect(dir, 5, 1, 2));
    CHECK(access(seg2, F_OK) != 0 || s_size_on_disk(dir) > (long long) full_len);

    /* a damaged record in an earlier segment is not a crash: counted as corrupt */
    s_spit(seg, full, full_len);
    unlink(seg2);
    unsigned char *bad = malloc(full_len);
    memcpy(bad, full, full_len);
    bad[good_len + 9] ^= 0xff;
    s_spit(seg, bad, full_len);
    s_spit(seg2, full, good_len); /* a later segment with records 0..3 again */
    j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (j) {
        rtp_journal_stats_t st;
        rtp_journal_stats(j, &st);
        CHECK_INT(st.corrupt, 1);
        CHECK_INT(st.corrupt_bytes, rec);
        CHECK_INT(st.torn, 0);
        CHECK_INT(st.recovered, 8);
        CHECK_INT(s_take(j, 0, 4, 4), 4);
        CHECK_INT(s_take(j, 0, 4, 4), 4);
        CHECK_INT(rtp_journal_records(j), 0);
        rtp_journal_destroy(&j);
    }
    free(bad);
    free(full);
}

static void test_undecodable(void)
{
    const char *dir = s_dir("undecodable");
    rtp_err_t err = {{0}};
    rtp_journal_t *j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_INT(s_append(j, 0, 3), 3);
    size_t first = (size_t) rtp_journal_bytes(j);
    CHECK_INT(s_append(j, 3, 4), 1);
    CHECK_INT(s_append(j, 4, 6), 2);
    rtp_journal_destroy(&j);
    /* record 3 gets another protocol version, with a matching checksum: intact, but
     * nobody can decode it */
    char seg[600];
    snprintf(seg, sizeof seg, "%s/journal-00000000000000000001.seg", dir);
    size_t len = 0;
    unsigned char *data = s_slurp(seg, &len);
    CHECK(data != NULL);
    if (!data)
        return;
    unsigned char *r = data + first;
    uint32_t rlen = (uint32_t) r[0] << 24 | (uint32_t) r[1] << 16 | (uint32_t) r[2] << 8 | r[3];
    r[8 + 2] = 99;
    uint32_t crc = rtp_journal_crc32c(rtp_journal_crc32c(0, r, 4), r + 8, rlen);
    r[4] = (unsigned char) (crc >> 24);
    r[5] = (unsigned char) (crc >> 16);
    r[6] = (unsigned char) (crc >> 8);
    r[7] = (unsigned char) crc;
    s_spit(seg, data, len);
    free(data);
    j = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_INT(rtp_journal_records(j), 6);
    CHECK_INT(s_take(j, 0, 10, 3), 3); /* the peek stops before the bad one */
    CHECK_INT(s_take(j, 4, 10, 2), 2); /* at the front it is skipped */
    rtp_journal_stats_t st;
    rtp_journal_stats(j, &st);
    CHECK_INT(st.undecodable, 1);
    CHECK_INT(st.records, 0);
    rtp_journal_destroy(&j);
}

static void test_bound(void)
{
    const char *dir = s_dir("bound");
    rtp_err_t err = {{0}};
    CHECK(rtp_journal_new(dir, 100, 0, &err) == NULL); /* too small to be useful */
    CHECK(strstr(err.msg, "4096") != NULL);
    const uint64_t max = 8192;
    rtp_journal_t *j = rtp_journal_new(dir, max, 2048, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    int total = 0, partial = 0, rc;
    while ((rc = s_append(j, total, total + 4)) > 0) {
        if (rc < 4)
            partial++;
        total += rc;
        CHECK(rtp_journal_bytes(j) <= max);
    }
    CHECK_INT(rc, 0);    /* full, not an error */
    CHECK(total >= 15);  /* records of ~300 bytes in 8 KiB, segment headers included */
    CHECK(partial <= 1); /* a prefix of the last batch went in */
    CHECK(rtp_journal_bytes(j) <= max);
    CHECK_INT((long long) rtp_journal_bytes(j), s_size_on_disk(dir));
    CHECK(s_size_on_disk(dir) <= (long long) max);
    CHECK_INT(s_append(j, total, total + 1), 0);
    rtp_journal_stats_t st;
    rtp_journal_stats(j, &st);
    CHECK(st.segments >= 3);
    /* consuming records of the first segment frees nothing until the whole segment goes */
    CHECK_INT(s_take(j, 0, 1, 1), 1);
    CHECK_INT(s_append(j, total, total + 1), 0);
    int first_seg = 0;
    while (s_files(dir, ".seg") == (int) st.segments) {
        CHECK_INT(s_take(j, 1 + first_seg, 1, 1), 1);
        first_seg++;
    }
    int more = s_append(j, total, total + 4);
    CHECK(more > 0);
    CHECK(rtp_journal_bytes(j) <= max);
    /* everything still comes back in order */
    int next = 1 + first_seg;
    while (rtp_journal_records(j) > 0) {
        int n = s_take(j, next, 64, 0);
        if (n <= 0)
            break;
        s_take(j, next, (size_t) n, (size_t) n);
        next += n;
    }
    CHECK_INT(next, total + more);
    rtp_journal_destroy(&j);
}

static void test_lock(void)
{
    const char *dir = s_dir("lock");
    rtp_err_t err = {{0}};
    rtp_journal_t *a = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(a != NULL);
    rtp_journal_t *b = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(b == NULL);
    CHECK(strstr(err.msg, "in use") != NULL);
    rtp_journal_destroy(&a);
    b = rtp_journal_new(dir, 1 << 20, 0, &err);
    CHECK(b != NULL);
    rtp_journal_destroy(&b);
    /* a path that cannot be a folder */
    char file[600];
    snprintf(file, sizeof file, "%s/plainfile", s_root);
    s_spit(file, (const unsigned char *) "x", 1);
    snprintf(file, sizeof file, "%s/plainfile/journal", s_root);
    CHECK(rtp_journal_new(file, 1 << 20, 0, &err) == NULL);
    CHECK(strstr(err.msg, "cannot create") != NULL);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s_root, sizeof s_root, "%s/rtp-test-journal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc();
    test_order_and_reopen();
    test_segments();
    test_torn_tail();
    test_undecodable();
    test_bound();
    test_lock();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_root);
    return CHECK_DONE();
}
