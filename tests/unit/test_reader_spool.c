/* The reader's spool (actors/reader/spool.c, built into this test with the window it
 * stores records of, since neither is part of librtp): records and acknowledgements
 * survive a reopen (many acknowledgements, across several entries and writes), in
 * order; a rewrite keeps exactly the records given; a torn tail loses only the cut
 * record; the bound; the lock; files that are not spools are refused and kept. */
#include "../../actors/reader/spool.c"
#include "../../actors/reader/window.c"

#include "check.h"

#include <sys/stat.h>

static char s_root[] = "/tmp/rtp-test-spool-XXXXXX";
static int s_case;

static reader_record_t *s_record(uint64_t seq)
{
    const uint8_t hdr[4] = {'R', 'T', 1, 1};
    char body[64];
    int n = snprintf(body, sizeof body, "record %llu", (unsigned long long) seq);
    return reader_record_new(seq, hdr, (const uint8_t *) body, (size_t) n);
}

/* A fresh folder for one case. */
static const char *s_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/case-%d", s_root, ++s_case);
    return buf;
}

/* Opens the spool of name in a folder where it holds nothing yet. */
static reader_spool_t *s_open_empty(const char *dir, const char *name, uint64_t max_bytes)
{
    reader_record_t **got;
    size_t n;
    rtp_err_t err;
    reader_spool_t *sp = reader_spool_new(dir, name, max_bytes, &got, &n, &err);
    CHECK(sp != NULL);
    CHECK_INT(n, 0);
    free(got);
    return sp;
}

static void s_free(reader_record_t **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reader_record_destroy(&list[i]);
    free(list);
}

/* 2000 records, every third acknowledged (666 seqs, in entries of up to 512),
 * written in pieces; reopened: exactly the rest, in order, same bytes. */
static void test_reopen(void)
{
    char dir[256];
    s_dir(dir, sizeof dir);
    reader_record_t **got;
    size_t n;
    rtp_err_t err;
    reader_spool_t *sp = s_open_empty(dir, "tweets-1", 1 << 24);
    for (uint64_t seq = 1; seq <= 2000; seq++) {
        reader_record_t *r = s_record(seq);
        CHECK_INT(reader_spool_add(sp, r), 0);
        reader_record_destroy(&r);
        if (seq % 32 == 0)
            CHECK_INT(reader_spool_write(sp, &err), 0);
    }
    for (uint64_t seq = 3; seq <= 2000; seq += 3) {
        CHECK_INT(reader_spool_ack(sp, seq), 0);
        if (seq % 300 == 0)
            CHECK_INT(reader_spool_write(sp, &err), 0);
    }
    reader_spool_destroy(&sp, 0); /* writes what is buffered */
    sp = reader_spool_new(dir, "tweets-1", 1 << 24, &got, &n, &err);
    CHECK(sp != NULL);
    CHECK_INT(n, 2000 - 666);
    size_t k = 0;
    for (uint64_t seq = 1; seq <= 2000 && k < n; seq++) {
        if (seq % 3 == 0)
            continue;
        reader_record_t *want = s_record(seq);
        CHECK_INT(got[k]->seq, seq);
        CHECK(got[k]->len == want->len && memcmp(got[k]->data, want->data, want->len) == 0);
        reader_record_destroy(&want);
        k++;
    }
    reader_spool_stats_t st;
    reader_spool_stats(sp, &st);
    CHECK_INT(st.recovered, n);
    CHECK_INT(st.dropped_bytes, 0);
    /* opening compacted the file to the live records */
    uint64_t live = 0;
    for (size_t i = 0; i < n; i++)
        live += reader_spool_entry_bytes(got[i]);
    CHECK_INT(reader_spool_file_bytes(sp), HEADER_BYTES + live);
    s_free(got, n);
    reader_spool_destroy(&sp, 1);
    struct stat sb;
    char path[300];
    snprintf(path, sizeof path, "%s/tweets-1.spool", dir);
    CHECK(stat(path, &sb) != 0); /* removed */
}

/* A rewrite keeps exactly the records given; wants_rewrite follows the file's growth. */
static void test_rewrite(void)
{
    char dir[256];
    s_dir(dir, sizeof dir);
    reader_record_t **got;
    size_t n;
    rtp_err_t err;
    reader_spool_t *sp = s_open_empty(dir, "r", 1 << 24);
    reader_record_t *keep[3];
    for (uint64_t seq = 1; seq <= 100; seq++) {
        reader_record_t *r = s_record(seq);
        reader_spool_add(sp, r);
        if (seq == 10 || seq == 50 || seq == 99)
            keep[seq == 10 ? 0 : seq == 50 ? 1 : 2] = r;
        else
            reader_record_destroy(&r);
    }
    CHECK_INT(reader_spool_write(sp, &err), 0);
    CHECK(!reader_spool_wants_rewrite(sp, 1000)); /* small: within the margin */
    CHECK_INT(reader_spool_rewrite(sp, keep, 3, &err), 0);
    reader_spool_destroy(&sp, 0);
    sp = reader_spool_new(dir, "r", 1 << 24, &got, &n, &err);
    CHECK_INT(n, 3);
    CHECK(n == 3 && got[0]->seq == 10 && got[1]->seq == 50 && got[2]->seq == 99);
    s_free(got, n);
    for (int i = 0; i < 3; i++)
        reader_record_destroy(&keep[i]);
    reader_spool_destroy(&sp, 0);
}

/* The last entry cut short: dropped and counted, everything before it kept. */
static void test_torn_tail(void)
{
    char dir[256], path[300];
    s_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.spool", dir);
    reader_record_t **got;
    size_t n;
    rtp_err_t err;
    reader_spool_t *sp = s_open_empty(dir, "t", 1 << 20);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        reader_record_t *r = s_record(seq);
        reader_spool_add(sp, r);
        reader_record_destroy(&r);
    }
    reader_spool_destroy(&sp, 0);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size - 3) == 0);
    sp = reader_spool_new(dir, "t", 1 << 20, &got, &n, &err);
    CHECK(sp != NULL);
    CHECK_INT(n, 9);
    CHECK(n == 9 && got[8]->seq == 9);
    reader_spool_stats_t st;
    reader_spool_stats(sp, &st);
    reader_record_t *last = s_record(10);
    CHECK_INT(st.dropped_bytes, reader_spool_entry_bytes(last) - 3);
    reader_record_destroy(&last);
    s_free(got, n);
    reader_spool_destroy(&sp, 0);
}

/* Full at the bound; the lock; a file that is not a spool. */
static void test_bound_lock_and_bad_files(void)
{
    char dir[256], path[300];
    s_dir(dir, sizeof dir);
    reader_record_t **got;
    size_t n;
    rtp_err_t err;
    reader_spool_t *sp = s_open_empty(dir, "b", 65536);
    uint64_t seq = 0;
    while (!reader_spool_full(sp) && seq < 100000) {
        reader_record_t *r = s_record(++seq);
        reader_spool_add(sp, r);
        reader_record_destroy(&r);
    }
    CHECK(reader_spool_full(sp));
    CHECK(seq > 1000 && seq < 100000);
    /* a second opener is refused while the first holds it */
    reader_spool_t *other = reader_spool_new(dir, "b", 65536, &got, &n, &err);
    CHECK(other == NULL);
    CHECK(strstr(err.msg, "is in use by another reader") != NULL);
    /* nearly nothing live: full, and a rewrite is wanted */
    CHECK(reader_spool_wants_rewrite(sp, 100));
    reader_spool_destroy(&sp, 0);

    snprintf(path, sizeof path, "%s/junk.spool", dir);
    FILE *f = fopen(path, "w");
    fputs("not a spool at all\n", f);
    fclose(f);
    CHECK(reader_spool_new(dir, "junk", 65536, &got, &n, &err) == NULL);
    CHECK(strstr(err.msg, "is not a reader spool") != NULL);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == (off_t) strlen("not a spool at all\n"));
}

int main(void)
{
    if (!mkdtemp(s_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_reopen();
    test_rewrite();
    test_torn_tail();
    test_bound_lock_and_bad_files();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_root);
    return CHECK_DONE();
}
