#include "journal.h"

#include "crc32c.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERSION 1
#define NAME_PREFIX "journal-"
#define NAME_SUFFIX ".seg"
#define NAME_DIGITS 20

static const uint8_t s_magic[4] = {'R', 'T', 'P', 'J'};

typedef struct {
    uint64_t number; /* from the file name: the order of the segments */
    int fd;
    uint64_t size;    /* bytes in the file */
    uint64_t records; /* records in it not yet consumed */
} segment_t;

typedef struct {
    uint64_t number; /* the segment a peeked record is in */
    uint64_t end;    /* the offset just after it */
} position_t;

struct rtp_journal_t {
    char *dir;
    int dirfd; /* open for the lock and for fsync after a segment is created */
    int keep_dir;
    uint64_t max_bytes, segment_bytes;
    segment_t *segs; /* oldest first; the read cursor is in segs[0] */
    size_t nsegs, segcap;
    uint64_t cursor; /* offset of the next unconsumed record in segs[0] */
    uint64_t next_number;
    position_t *peeked; /* where each record of the last peek ends */
    size_t npeeked, peekcap;
    uint8_t *wbuf, *ebuf, *rbuf; /* append, encode and read buffers, reused */
    size_t wcap, ecap, rcap;
    rtp_journal_stats_t st; /* records, bytes, segments kept current too */
};

/* --- CRC-32C ----------------------------------------------------------------------- */

uint32_t rtp_journal_crc32c(uint32_t crc, const void *data, size_t len)
{
    return rtp_crc32c(crc, data, len);
}

/* --- small helpers ----------------------------------------------------------------- */

static int s_grow(uint8_t **buf, size_t *cap, size_t need)
{
    uint8_t *p = rtp_reserve(*buf, cap, need, 4096);
    if (!p)
        return -1;
    *buf = p;
    return 0;
}

/* Reads exactly len bytes at off; 0, or -1 (errno set; EIO-like 0 for a short file). */
static int s_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENODATA;
            return -1;
        }
        p += n;
        len -= (size_t) n;
        off += (uint64_t) n;
    }
    return 0;
}

static int s_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t) n;
        off += (uint64_t) n;
    }
    return 0;
}

static void s_path(const rtp_journal_t *self, uint64_t number, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/" NAME_PREFIX "%0*" PRIu64 NAME_SUFFIX, self->dir, NAME_DIGITS, number);
}

/* The segment number of a file name, or 0 when the name is not a segment's. */
static uint64_t s_parse_name(const char *name)
{
    size_t plen = strlen(NAME_PREFIX), slen = strlen(NAME_SUFFIX);
    if (strlen(name) != plen + NAME_DIGITS + slen || strncmp(name, NAME_PREFIX, plen) != 0 ||
        strcmp(name + plen + NAME_DIGITS, NAME_SUFFIX) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = plen; i < plen + NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t) (name[i] - '0');
    }
    return v;
}

static int s_cmp_numbers(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* Closes and deletes the oldest segment. */
static void s_drop_first(rtp_journal_t *self)
{
    char path[4096];
    segment_t *s = &self->segs[0];
    s_path(self, s->number, path, sizeof path);
    close(s->fd);
    unlink(path);
    self->st.bytes -= s->size;
    self->st.records -= s->records;
    memmove(self->segs, self->segs + 1, (self->nsegs - 1) * sizeof *self->segs);
    self->nsegs--;
    self->cursor = RTP_JOURNAL_SEGMENT_HEADER;
}

/* Keeps the invariant: the cursor's segment has unconsumed records, or it is the last
 * segment; and an empty journal has no files. */
static void s_normalize(rtp_journal_t *self)
{
    while (self->nsegs > 1 && self->cursor >= self->segs[0].size)
        s_drop_first(self);
    if (self->st.records == 0)
        while (self->nsegs > 0)
            s_drop_first(self);
}

/* --- recovery ------------------------------------------------------------------------ */

/* Checks one segment's header and records; truncates it at the first bad record.
 * Returns 1 to keep the segment, 0 when it was removed (empty or torn at birth), -1 on
 * an I/O error. */
static int s_recover_segment(rtp_journal_t *self, segment_t *seg, int last, rtp_err_t *err)
{
    char path[4096];
    s_path(self, seg->number, path, sizeof path);
    struct stat sb;
    if (fstat(seg->fd, &sb) != 0)
        return rtp_err_set(err, "cannot stat %s: %s", path, strerror(errno));
    uint64_t size = (uint64_t) sb.st_size;
    uint8_t head[RTP_JOURNAL_SEGMENT_HEADER];
    int head_ok = size >= sizeof head && s_pread_all(seg->fd, head, sizeof head, 0) == 0;
    int magic_ok = head_ok && memcmp(head, s_magic, 4) == 0;
    if (!magic_ok && last) {
        /* the crash came while the segment was being created: nothing in it was ever
         * reported appended */
        if (size > 0) {
            self->st.torn++;
            self->st.torn_bytes += size;
        }
        close(seg->fd);
        unlink(path);
        return 0;
    }
    if (!magic_ok || head[4] != VERSION) {
        /* not ours, or another format version: set it aside for a person to look at */
        char aside[4200];
        snprintf(aside, sizeof aside, "%s.bad", path);
        close(seg->fd);
        if (rename(path, aside) != 0)
            return rtp_err_set(err, "%s is not a journal segment of version %d, and cannot be renamed: %s",
                               path, VERSION, strerror(errno));
        self->st.corrupt++;
        self->st.corrupt_bytes += size;
        return 0;
    }
    uint64_t off = RTP_JOURNAL_SEGMENT_HEADER, records = 0;
    while (off < size) {
        uint8_t frame[8];
        int good = size - off >= 8 && s_pread_all(seg->fd, frame, 8, off) == 0;
        uint32_t len = good ? rtp_get_be32(frame) : 0;
        good = good && len >= 4 && len <= RTP_JOURNAL_MAX_RECORD && len <= size - off - 8;
        if (good) {
            if (s_grow(&self->rbuf, &self->rcap, len) != 0)
                return rtp_err_set(err, "out of memory");
            if (s_pread_all(seg->fd, self->rbuf, len, off + 8) != 0)
                return rtp_err_set(err, "cannot read %s: %s", path, strerror(errno));
            uint32_t crc = rtp_journal_crc32c(rtp_journal_crc32c(0, frame, 4), self->rbuf, len);
            good = crc == rtp_get_be32(frame + 4);
        }
        if (!good) {
            if (last) {
                self->st.torn++;
                self->st.torn_bytes += size - off;
            } else {
                self->st.corrupt++;
                self->st.corrupt_bytes += size - off;
            }
            if (ftruncate(seg->fd, (off_t) off) != 0 || fdatasync(seg->fd) != 0)
                return rtp_err_set(err, "cannot cut the torn tail of %s: %s", path, strerror(errno));
            size = off;
            break;
        }
        off += 8 + len;
        records++;
    }
    if (records == 0) {
        close(seg->fd);
        unlink(path);
        return 0;
    }
    seg->size = size;
    seg->records = records;
    return 1;
}

static int s_recover(rtp_journal_t *self, rtp_err_t *err)
{
    DIR *d = opendir(self->dir);
    if (!d)
        return rtp_err_set(err, "cannot list %s: %s", self->dir, strerror(errno));
    uint64_t *numbers = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t number = s_parse_name(e->d_name);
        if (!number)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *p = realloc(numbers, cap * sizeof *p);
            if (!p) {
                free(numbers);
                closedir(d);
                return rtp_err_set(err, "out of memory");
            }
            numbers = p;
        }
        numbers[n++] = number;
    }
    closedir(d);
    if (n > 1)
        qsort(numbers, n, sizeof *numbers, s_cmp_numbers);
    self->segs = calloc(n + 1, sizeof *self->segs);
    self->segcap = n + 1;
    if (!self->segs) {
        free(numbers);
        return rtp_err_set(err, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        s_path(self, numbers[i], path, sizeof path);
        segment_t seg = {.number = numbers[i], .fd = open(path, O_RDWR | O_CLOEXEC)};
        if (seg.fd < 0) {
            rc = rtp_err_set(err, "cannot open %s: %s", path, strerror(errno));
            break;
        }
        int keep = s_recover_segment(self, &seg, i + 1 == n, err);
        if (keep < 0) {
            close(seg.fd);
            rc = -1;
        } else if (keep) {
            self->segs[self->nsegs++] = seg;
            self->st.records += seg.records;
            self->st.bytes += seg.size;
        }
    }
    self->next_number = n ? numbers[n - 1] + 1 : 1;
    free(numbers);
    self->st.recovered = self->st.records;
    self->cursor = RTP_JOURNAL_SEGMENT_HEADER;
    return rc;
}

/* --- public ---------------------------------------------------------------------------- */

rtp_journal_t *rtp_journal_new(const char *dir, uint64_t max_bytes, uint64_t segment_bytes, rtp_err_t *err)
{
    if (!dir || !*dir) {
        rtp_err_set(err, "no journal folder");
        return NULL;
    }
    if (max_bytes < 4096) {
        rtp_err_set(err, "a journal needs at least 4096 bytes, not %" PRIu64, max_bytes);
        return NULL;
    }
    rtp_journal_t *self = calloc(1, sizeof *self);
    if (!self || !(self->dir = strdup(dir))) {
        free(self);
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->dirfd = -1;
    self->keep_dir = 1; /* until it is open: a failed open leaves the folder as found */
    self->max_bytes = max_bytes;
    if (segment_bytes == 0) {
        segment_bytes = max_bytes / 16;
        if (segment_bytes < 64 * 1024)
            segment_bytes = 64 * 1024;
        if (segment_bytes > 16 * 1024 * 1024)
            segment_bytes = 16 * 1024 * 1024;
    }
    if (segment_bytes < max_bytes / 64)
        segment_bytes = max_bytes / 64;
    self->segment_bytes = segment_bytes;
    if (rtp_mkdirs(dir) != 0) {
        rtp_err_set(err, "cannot create the journal folder %s: %s", dir, strerror(errno));
        rtp_journal_destroy(&self);
        return NULL;
    }
    self->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dirfd < 0) {
        rtp_err_set(err, "cannot open the journal folder %s: %s", dir, strerror(errno));
        rtp_journal_destroy(&self);
        return NULL;
    }
    if (flock(self->dirfd, LOCK_EX | LOCK_NB) != 0) {
        rtp_err_set(err, "the journal folder %s is in use by another process (%s)", dir,
                    errno == EWOULDBLOCK ? "locked" : strerror(errno));
        rtp_journal_destroy(&self);
        return NULL;
    }
    if (s_recover(self, err) != 0) {
        self->st.records = 1; /* keep whatever is there */
        rtp_journal_destroy(&self);
        return NULL;
    }
    s_normalize(self);
    self->keep_dir = 0;
    return self;
}

void rtp_journal_destroy(rtp_journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_journal_t *self = *self_p;
    if (self->st.records == 0)
        while (self->nsegs > 0)
            s_drop_first(self);
    for (size_t i = 0; i < self->nsegs; i++)
        close(self->segs[i].fd);
    if (self->dirfd >= 0)
        close(self->dirfd); /* releases the lock */
    if (self->nsegs == 0 && !self->keep_dir)
        rmdir(self->dir); /* fails, harmlessly, when anything else is in it */
    free(self->segs);
    free(self->peeked);
    free(self->wbuf);
    free(self->ebuf);
    free(self->rbuf);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

int rtp_journal_append(rtp_journal_t *self, rtp_msg_t *const *msgs, size_t count, rtp_err_t *err)
{
    if (count == 0)
        return 0;
    segment_t *tail = self->nsegs ? &self->segs[self->nsegs - 1] : NULL;
    int fresh = !tail || tail->size >= self->segment_bytes;
    size_t len = fresh ? RTP_JOURNAL_SEGMENT_HEADER : 0;
    if (s_grow(&self->wbuf, &self->wcap, len) != 0)
        return rtp_err_set(err, "out of memory");
    if (fresh) {
        memcpy(self->wbuf, s_magic, 4);
        self->wbuf[4] = VERSION;
        memset(self->wbuf + 5, 0, 3);
    }
    size_t n = 0;
    for (; n < count; n++) {
        uint8_t hdr[4];
        size_t blen = 0;
        if (rtp_msg_encode(msgs[n], hdr, &self->ebuf, &self->ecap, &blen) != 0)
            return rtp_err_set(err, "cannot encode a %s message", rtp_msg_type_name(msgs[n]->type));
        uint64_t rec = 4 + (uint64_t) blen;
        if (rec > RTP_JOURNAL_MAX_RECORD)
            return rtp_err_set(err, "a %s message of %zu bytes is too large for the journal",
                               rtp_msg_type_name(msgs[n]->type), blen);
        if (self->st.bytes + len + 8 + rec > self->max_bytes)
            break; /* full: what fits so far goes in */
        if (s_grow(&self->wbuf, &self->wcap, len + 8 + (size_t) rec) != 0)
            return rtp_err_set(err, "out of memory");
        uint8_t *p = self->wbuf + len;
        rtp_put_be32(p, (uint32_t) rec);
        memcpy(p + 8, hdr, 4);
        if (blen)
            memcpy(p + 12, self->ebuf, blen);
        rtp_put_be32(p + 4, rtp_journal_crc32c(rtp_journal_crc32c(0, p, 4), p + 8, (size_t) rec));
        len += 8 + (size_t) rec;
    }
    if (n == 0)
        return 0;

    char path[4096];
    segment_t seg = {0};
    if (fresh) {
        if (self->nsegs == self->segcap) {
            size_t cap = self->segcap ? self->segcap * 2 : 8;
            segment_t *p = realloc(self->segs, cap * sizeof *p);
            if (!p)
                return rtp_err_set(err, "out of memory");
            self->segs = p;
            self->segcap = cap;
        }
        seg.number = self->next_number;
        s_path(self, seg.number, path, sizeof path);
        seg.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (seg.fd < 0)
            return rtp_err_set(err, "cannot create %s: %s", path, strerror(errno));
        self->next_number++;
    } else {
        seg = *tail;
        s_path(self, seg.number, path, sizeof path);
    }
    int64_t t0 = rtp_mono_us();
    const char *what = "write";
    int rc = s_pwrite_all(seg.fd, self->wbuf, len, seg.size);
    if (rc == 0) {
        what = "fdatasync";
        rc = fdatasync(seg.fd);
    }
    if (rc == 0 && fresh) {
        what = "fsync the folder of";
        rc = fsync(self->dirfd); /* so the new file's name survives a power cut too */
    }
    uint64_t us = (uint64_t) (rtp_mono_us() - t0);
    if (rc != 0) {
        int e = errno;
        /* undo: no part of this call may stay behind, or a retry would write it twice */
        if (fresh) {
            close(seg.fd);
            unlink(path);
        } else if (ftruncate(seg.fd, (off_t) seg.size) != 0) {
            /* left as is: the next open cuts it as a torn tail */
        }
        return rtp_err_set(err, "cannot %s %s: %s", what, path, strerror(e));
    }
    self->st.syncs++;
    self->st.sync_us_total += us;
    if (us > self->st.sync_us_max)
        self->st.sync_us_max = us;
    seg.size += len;
    seg.records += n;
    if (fresh)
        self->segs[self->nsegs++] = seg;
    else
        *tail = seg;
    if (self->nsegs == 1 && fresh)
        self->cursor = RTP_JOURNAL_SEGMENT_HEADER;
    self->st.bytes += len;
    self->st.records += n;
    self->st.appended += n;
    return (int) n;
}

/* Discards the rest of the cursor's segment after a damaged record: its length cannot
 * be trusted, so the records behind it cannot be found. */
static int s_discard_rest(rtp_journal_t *self, rtp_err_t *err)
{
    segment_t *s = &self->segs[0];
    self->st.corrupt++;
    self->st.corrupt_bytes += s->size - self->cursor;
    self->st.records -= s->records;
    s->records = 0;
    if (self->nsegs == 1) {
        if (ftruncate(s->fd, (off_t) self->cursor) != 0)
            return rtp_err_set(err, "cannot cut a damaged journal segment: %s", strerror(errno));
        self->st.bytes -= s->size - self->cursor;
        s->size = self->cursor;
    }
    s_normalize(self);
    return 0;
}

int rtp_journal_peek(rtp_journal_t *self, rtp_msg_t **out, size_t max, rtp_err_t *err)
{
    self->npeeked = 0;
    if (max > self->peekcap) {
        position_t *p = realloc(self->peeked, max * sizeof *p);
        if (!p)
            return rtp_err_set(err, "out of memory");
        self->peeked = p;
        self->peekcap = max;
    }
    size_t n = 0, i = 0;
    uint64_t off = self->cursor;
    while (n < max && i < self->nsegs) {
        segment_t *s = &self->segs[i];
        if (off >= s->size) {
            i++;
            off = RTP_JOURNAL_SEGMENT_HEADER;
            continue;
        }
        char path[4096];
        uint8_t frame[8];
        int good = s->size - off >= 8 && s_pread_all(s->fd, frame, 8, off) == 0;
        uint32_t len = good ? rtp_get_be32(frame) : 0;
        good = good && len >= 4 && len <= RTP_JOURNAL_MAX_RECORD && len <= s->size - off - 8;
        if (good) {
            if (s_grow(&self->rbuf, &self->rcap, len) != 0) {
                for (size_t k = 0; k < n; k++)
                    rtp_msg_destroy(&out[k]);
                return rtp_err_set(err, "out of memory");
            }
            if (s_pread_all(s->fd, self->rbuf, len, off + 8) != 0) {
                s_path(self, s->number, path, sizeof path);
                for (size_t k = 0; k < n; k++)
                    rtp_msg_destroy(&out[k]);
                return rtp_err_set(err, "cannot read %s: %s", path, strerror(errno));
            }
            good = rtp_journal_crc32c(rtp_journal_crc32c(0, frame, 4), self->rbuf, len) ==
                   rtp_get_be32(frame + 4);
        }
        if (!good) {
            if (n > 0)
                break; /* dealt with when it is at the front */
            if (s_discard_rest(self, err) != 0)
                return -1;
            i = 0;
            off = self->cursor;
            continue;
        }
        rtp_msg_t *msg = rtp_msg_decode(self->rbuf, 4, self->rbuf + 4, len - 4, NULL);
        if (!msg) {
            if (n > 0)
                break;
            self->cursor = off + 8 + len; /* at the front: nobody can ever store it */
            s->records--;
            self->st.records--;
            self->st.undecodable++;
            s_normalize(self);
            i = 0;
            off = self->cursor;
            continue;
        }
        out[n] = msg;
        self->peeked[n].number = s->number;
        self->peeked[n].end = off + 8 + len;
        n++;
        off += 8 + len;
    }
    self->npeeked = n;
    return (int) n;
}

int rtp_journal_consume(rtp_journal_t *self, size_t n, rtp_err_t *err)
{
    if (n == 0)
        return 0;
    if (n > self->npeeked)
        return rtp_err_set(err, "consuming %zu records, only %zu were peeked", n, self->npeeked);
    size_t s = 0;
    for (size_t k = 0; k < n; k++) {
        while (s < self->nsegs && self->segs[s].number != self->peeked[k].number)
            s++;
        if (s == self->nsegs)
            return rtp_err_set(err, "the peeked records are gone");
        self->segs[s].records--;
    }
    self->st.records -= n;
    self->st.consumed += n;
    /* the segments before the last consumed record's are wholly consumed */
    position_t last = self->peeked[n - 1];
    while (self->nsegs > 0 && self->segs[0].number != last.number) {
        self->segs[0].records = 0;
        s_drop_first(self);
    }
    self->cursor = last.end;
    self->npeeked = 0;
    s_normalize(self);
    return 0;
}

uint64_t rtp_journal_records(const rtp_journal_t *self)
{
    return self->st.records;
}

uint64_t rtp_journal_bytes(const rtp_journal_t *self)
{
    return self->st.bytes;
}

uint64_t rtp_journal_max_bytes(const rtp_journal_t *self)
{
    return self->max_bytes;
}

void rtp_journal_stats(const rtp_journal_t *self, rtp_journal_stats_t *out)
{
    *out = self->st;
    out->segments = self->nsegs;
}

const char *rtp_journal_dir(const rtp_journal_t *self)
{
    return self->dir;
}
