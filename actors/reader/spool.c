#include "spool.h"

#include "crc32c.h"
#include "u64map.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES 8
#define ENTRY_OVERHEAD 9 /* length, crc, kind */
#define RECORD_OVERHEAD (ENTRY_OVERHEAD + 8)
#define COMPACT_MARGIN (4u << 20) /* bytes the file may exceed twice its live records by */
#define MAX_ENTRY (64u << 20)     /* a longer length field is damage, not a record */
#define ACKS_PER_ENTRY 512

static const uint8_t s_header[HEADER_BYTES] = {'R', 'T', 'P', 'S', 1, 0, 0, 0};

struct reader_spool_t {
    char *path, *tmp_path;
    int fd, lock_fd;
    uint64_t max_bytes;
    uint64_t file_bytes; /* whole entries in the file */
    uint8_t *buf;        /* entries not written yet */
    size_t buf_len, buf_cap;
    size_t ack_entry; /* offset in buf of the open 'A' entry, or SIZE_MAX */
    reader_spool_stats_t stats;
};

static void s_put64(uint8_t *p, uint64_t v)
{
    rtp_put_be32(p, (uint32_t) (v >> 32));
    rtp_put_be32(p + 4, (uint32_t) v);
}
static uint64_t s_get64(const uint8_t *p)
{
    return (uint64_t) rtp_get_be32(p) << 32 | rtp_get_be32(p + 4);
}

/* Room for n more bytes in the buffer. */
static int s_reserve(reader_spool_t *self, size_t n)
{
    if (self->buf_len + n <= self->buf_cap)
        return 0;
    size_t cap = self->buf_cap ? self->buf_cap : 64 * 1024;
    while (cap < self->buf_len + n)
        cap *= 2;
    uint8_t *grown = realloc(self->buf, cap);
    if (!grown)
        return -1;
    self->buf = grown;
    self->buf_cap = cap;
    return 0;
}

/* Sets the length and checksum of the entry at p whose payload (kind first) is len bytes. */
static void s_seal(uint8_t *p, uint32_t len)
{
    rtp_put_be32(p, len);
    uint32_t crc = rtp_crc32c(0, p, 4);
    rtp_put_be32(p + 4, rtp_crc32c(crc, p + 8, len));
}

/* Appends a record's entry to out (room reserved by the caller). */
static size_t s_encode_record(uint8_t *out, const reader_record_t *record)
{
    out[8] = 'R';
    s_put64(out + 9, record->seq);
    memcpy(out + RECORD_OVERHEAD, record->data, record->len);
    s_seal(out, (uint32_t) (1 + 8 + record->len));
    return RECORD_OVERHEAD + record->len;
}

uint64_t reader_spool_entry_bytes(const reader_record_t *record)
{
    return RECORD_OVERHEAD + record->len;
}

/* Seals the open acknowledgement entry: its checksum is computed once, when no more
 * seqs join it (not at every seq, which made the cost per seq grow with the entry). */
static void s_close_ack(reader_spool_t *self)
{
    if (self->ack_entry == SIZE_MAX)
        return;
    uint8_t *entry = self->buf + self->ack_entry;
    s_seal(entry, rtp_get_be32(entry));
    self->ack_entry = SIZE_MAX;
}

int reader_spool_add(reader_spool_t *self, const reader_record_t *record)
{
    s_close_ack(self);
    if (s_reserve(self, RECORD_OVERHEAD + record->len) != 0)
        return -1;
    self->buf_len += s_encode_record(self->buf + self->buf_len, record);
    self->ack_entry = SIZE_MAX;
    return 0;
}

int reader_spool_ack(reader_spool_t *self, uint64_t seq)
{
    if (self->ack_entry != SIZE_MAX) {
        uint8_t *entry = self->buf + self->ack_entry;
        uint32_t len = rtp_get_be32(entry);
        if ((len - 1) / 8 < ACKS_PER_ENTRY) {
            if (s_reserve(self, 8) != 0)
                return -1;
            entry = self->buf + self->ack_entry;
            s_put64(self->buf + self->buf_len, seq);
            self->buf_len += 8;
            rtp_put_be32(entry, len + 8); /* sealed by s_close_ack */
            return 0;
        }
        s_close_ack(self);
    }
    if (s_reserve(self, ENTRY_OVERHEAD + 8) != 0)
        return -1;
    uint8_t *entry = self->buf + self->buf_len;
    entry[8] = 'A';
    s_put64(entry + 9, seq);
    rtp_put_be32(entry, 1 + 8);
    self->ack_entry = self->buf_len;
    self->buf_len += ENTRY_OVERHEAD + 8;
    return 0;
}

/* Writes all of len bytes at the end of fd; on failure cuts the file back to `at`. */
static int s_write_all(int fd, uint64_t at, const uint8_t *p, size_t len, rtp_err_t *err, const char *path)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            if (ftruncate(fd, (off_t) at) == 0)
                lseek(fd, (off_t) at, SEEK_SET);
            return rtp_err_set(err, "cannot write the spool %s: %s", path, strerror(e));
        }
        done += (size_t) n;
    }
    return 0;
}

int reader_spool_write(reader_spool_t *self, rtp_err_t *err)
{
    if (self->buf_len == 0)
        return 0;
    s_close_ack(self);
    if (s_write_all(self->fd, self->file_bytes, self->buf, self->buf_len, err, self->path) != 0)
        return -1;
    self->stats.writes++;
    self->stats.bytes_written += self->buf_len;
    self->file_bytes += self->buf_len;
    self->buf_len = 0;
    self->ack_entry = SIZE_MAX;
    return 0;
}

int reader_spool_sync(reader_spool_t *self, rtp_err_t *err)
{
    if (fdatasync(self->fd) != 0)
        return rtp_err_set(err, "cannot sync the spool %s: %s", self->path, strerror(errno));
    self->stats.syncs++;
    return 0;
}

int reader_spool_full(const reader_spool_t *self)
{
    return self->file_bytes + self->buf_len >= self->max_bytes;
}

int reader_spool_wants_rewrite(const reader_spool_t *self, uint64_t live_bytes)
{
    uint64_t total = self->file_bytes + self->buf_len;
    if (reader_spool_full(self))
        return live_bytes + HEADER_BYTES < self->max_bytes / 2;
    return total > 2 * live_bytes + COMPACT_MARGIN;
}

int reader_spool_rewrite(reader_spool_t *self, reader_record_t *const *records, size_t n, rtp_err_t *err)
{
    int fd = open(self->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rtp_err_set(err, "cannot write %s: %s", self->tmp_path, strerror(errno));
    /* written through the entry buffer a piece at a time */
    uint8_t *saved = self->buf;
    size_t saved_len = self->buf_len, saved_cap = self->buf_cap;
    self->buf = NULL;
    self->buf_len = self->buf_cap = 0;
    uint64_t written = 0;
    int rc = s_write_all(fd, 0, s_header, HEADER_BYTES, err, self->tmp_path);
    written += HEADER_BYTES;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (s_reserve(self, RECORD_OVERHEAD + records[i]->len) != 0) {
            rc = rtp_err_set(err, "out of memory");
            break;
        }
        self->buf_len += s_encode_record(self->buf + self->buf_len, records[i]);
        if (self->buf_len >= 256 * 1024 || i + 1 == n) {
            rc = s_write_all(fd, written, self->buf, self->buf_len, err, self->tmp_path);
            written += self->buf_len;
            self->buf_len = 0;
        }
    }
    free(self->buf);
    self->buf = saved;
    self->buf_cap = saved_cap;
    self->buf_len = saved_len;
    /* the new file replaces the old only once it is whole on disk */
    if (rc == 0 && fdatasync(fd) != 0)
        rc = rtp_err_set(err, "cannot sync %s: %s", self->tmp_path, strerror(errno));
    if (rc == 0 && rename(self->tmp_path, self->path) != 0)
        rc = rtp_err_set(err, "cannot rename %s: %s", self->tmp_path, strerror(errno));
    if (rc != 0) {
        close(fd);
        unlink(self->tmp_path);
        return -1;
    }
    close(self->fd);
    self->fd = open(self->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    close(fd);
    if (self->fd < 0)
        return rtp_err_set(err, "cannot reopen %s: %s", self->path, strerror(errno));
    self->file_bytes = written;
    self->buf_len = 0;
    self->ack_entry = SIZE_MAX;
    self->stats.compactions++;
    return 0;
}

/* Reads the file: its live records into *out (oldest first), damage after the last
 * whole entry counted in dropped_bytes. 0, or -1 with the reason. */
static int s_load(reader_spool_t *self, reader_record_t ***out, size_t *count, rtp_err_t *err)
{
    size_t len = 0;
    int fd = open(self->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rtp_err_set(err, "cannot read the spool %s: %s", self->path, strerror(errno));
    struct stat st;
    uint8_t *data = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        data = malloc((size_t) st.st_size);
        while (data && len < (size_t) st.st_size) {
            ssize_t n = read(fd, data + len, (size_t) st.st_size - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t) n;
        }
        if (!data || len < (size_t) st.st_size) {
            int e = data ? errno : ENOMEM;
            free(data);
            close(fd);
            return rtp_err_set(err, "cannot read the spool %s: %s", self->path, strerror(e ? e : EIO));
        }
    }
    close(fd);
    if (len > 0 && (len < HEADER_BYTES || memcmp(data, s_header, 4) != 0)) {
        free(data);
        return rtp_err_set(err, "%s is not a reader spool (no RTPS header): move it away or remove it",
                           self->path);
    }
    if (len > 0 && data[4] != s_header[4]) {
        int version = data[4];
        free(data);
        return rtp_err_set(err, "%s is a spool of format %d, this reader reads format %d", self->path,
                           version, s_header[4]);
    }
    rtp_u64map_t *index = rtp_u64map_new(1024);
    size_t cap = 0, n = 0;
    reader_record_t **list = NULL;
    size_t pos = len ? HEADER_BYTES : 0;
    int rc = index ? 0 : rtp_err_set(err, "out of memory");
    while (rc == 0 && pos + ENTRY_OVERHEAD <= len) {
        uint32_t elen = rtp_get_be32(data + pos);
        if (elen < 1 || elen > MAX_ENTRY || pos + 8 + elen > len ||
            rtp_crc32c(rtp_crc32c(0, data + pos, 4), data + pos + 8, elen) !=
                rtp_get_be32(data + pos + 4))
            break;
        const uint8_t *p = data + pos + 8;
        if (p[0] == 'R' && elen >= 1 + 8 + 4) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                reader_record_t **grown = realloc(list, cap * sizeof *grown);
                if (!grown) {
                    rc = rtp_err_set(err, "out of memory");
                    break;
                }
                list = grown;
            }
            uint64_t seq = s_get64(p + 1);
            reader_record_t *r = reader_record_new(seq, p + 9, p + 13, elen - 13);
            /* an index entry holds the record's place in the list plus one */
            if (!r || rtp_u64map_put(index, seq, (void *) (uintptr_t) (n + 1)) != 0) {
                free(r);
                rc = rtp_err_set(err, "out of memory");
                break;
            }
            list[n++] = r;
        } else if (p[0] == 'A' && (elen - 1) % 8 == 0) {
            for (uint32_t i = 0; i < (elen - 1) / 8; i++) {
                uintptr_t at = (uintptr_t) rtp_u64map_remove(index, s_get64(p + 1 + 8 * i));
                if (at)
                    reader_record_destroy(&list[at - 1]);
            }
        } else
            break; /* an entry this format does not know: damage */
        pos += 8 + elen;
    }
    if (len > pos)
        self->stats.dropped_bytes = len - pos;
    rtp_u64map_destroy(&index);
    free(data);
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i])
            list[live++] = list[i];
    if (rc != 0) {
        for (size_t i = 0; i < live; i++)
            reader_record_destroy(&list[i]);
        free(list);
        return -1;
    }
    *out = list;
    *count = live;
    self->stats.recovered = live;
    return 0;
}

reader_spool_t *reader_spool_new(const char *dir, const char *name, uint64_t max_bytes,
                                 reader_record_t ***records, size_t *count, rtp_err_t *err)
{
    *records = NULL;
    *count = 0;
    reader_spool_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->fd = self->lock_fd = -1;
    self->ack_entry = SIZE_MAX;
    self->max_bytes = max_bytes < 65536 ? 65536 : max_bytes;
    char safe[128];
    size_t k = 0;
    for (const char *c = name; *c && k + 1 < sizeof safe; c++, k++) {
        int keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                   *c == '-' || *c == '_' || (*c == '.' && k > 0);
        safe[k] = keep ? *c : '_';
    }
    safe[k] = 0;
    size_t cap = strlen(dir) + k + 16;
    self->path = malloc(cap);
    self->tmp_path = malloc(cap);
    char *lock_path = malloc(cap);
    if (!self->path || !self->tmp_path || !lock_path) {
        free(lock_path);
        rtp_err_set(err, "out of memory");
        reader_spool_destroy(&self, 0);
        return NULL;
    }
    snprintf(self->path, cap, "%s/%s.spool", dir, safe);
    snprintf(self->tmp_path, cap, "%s/%s.spool.new", dir, safe);
    snprintf(lock_path, cap, "%s/%s.lock", dir, safe);
    if (rtp_mkdirs(dir) != 0) {
        rtp_err_set(err, "cannot create the spool folder %s: %s", dir, strerror(errno));
        free(lock_path);
        reader_spool_destroy(&self, 0);
        return NULL;
    }
    self->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->lock_fd < 0 || flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (self->lock_fd < 0)
            rtp_err_set(err, "cannot open %s: %s", lock_path, strerror(errno));
        else
            rtp_err_set(err, "the spool %s is in use by another reader (%s is locked)", self->path,
                        lock_path);
        free(lock_path);
        reader_spool_destroy(&self, 0);
        return NULL;
    }
    free(lock_path);
    int fd = open(self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rtp_err_set(err, "cannot open the spool %s: %s", self->path, strerror(errno));
        reader_spool_destroy(&self, 0);
        return NULL;
    }
    close(fd);
    if (s_load(self, records, count, err) != 0 || reader_spool_rewrite(self, *records, *count, err) != 0) {
        for (size_t i = 0; i < *count; i++)
            reader_record_destroy(&(*records)[i]);
        free(*records);
        *records = NULL;
        *count = 0;
        reader_spool_destroy(&self, 0);
        return NULL;
    }
    self->stats.compactions = 0;
    return self;
}

void reader_spool_destroy(reader_spool_t **self_p, int remove_file)
{
    if (!self_p || !*self_p)
        return;
    reader_spool_t *self = *self_p;
    if (self->fd >= 0) {
        rtp_err_t err;
        if (remove_file)
            unlink(self->path);
        else if (reader_spool_write(self, &err) == 0)
            fdatasync(self->fd);
        close(self->fd);
    }
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self->buf);
    free(self->path);
    free(self->tmp_path);
    free(self);
    *self_p = NULL;
}

uint64_t reader_spool_file_bytes(const reader_spool_t *self)
{
    return self->file_bytes;
}

const char *reader_spool_path(const reader_spool_t *self)
{
    return self->path;
}

void reader_spool_stats(const reader_spool_t *self, reader_spool_stats_t *out)
{
    *out = self->stats;
}
