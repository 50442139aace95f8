/* spool: a reader's durable intake. Every record the reader has taken from the stream
 * and not yet seen acknowledged as stored is kept in one file on disk, so that a
 * reader stopped at any moment (even by SIGKILL) sends it again when it starts next.
 *
 * On disk: "<dir>/<name>.spool", an 8-byte header ("RTPS", format version, 3 zero
 * bytes), then entries:
 *
 *   u32 length   of what follows the checksum (big-endian)
 *   u32 crc      CRC-32C of the length field and what follows it
 *   u8  kind     'R': a record: u64 seq, then its encoded EVENT (4-byte header, body)
 *                'A': acknowledgements: n x u64 seq (these records are stored)
 *
 * A record is live from its 'R' entry until an 'A' entry names its seq. Entries are
 * appended to a memory buffer and reach the file in one write() per call of
 * reader_spool_write (the reader calls it before every send, so no record reaches the
 * broker before its spool entry reaches the page cache: a SIGKILL of the reader loses
 * nothing it sent). No fsync per write: reader_spool_sync (fdatasync) runs on a timer,
 * so an operating-system crash or power loss loses at most that interval.
 *
 * The file is rewritten (compacted to its live records, then renamed over) when it has
 * grown well past them, and at open. Bounded: when the file reaches max_bytes and
 * compaction cannot bring it under, the spool is full and the reader stops taking
 * events until acknowledgements free room. At open, a cut-short, overlong or
 * mis-checksummed entry ends the file: what follows it is dropped and counted (a torn
 * last write), everything before it is kept. One process per spool: "<name>.lock"
 * beside it is locked (flock) while open. Logs nothing: reports through rtp_err_t.
 */
#ifndef READER_SPOOL_H
#define READER_SPOOL_H

#include "rtp_err.h"
#include "window.h"

#include <stddef.h>
#include <stdint.h>

typedef struct reader_spool_t reader_spool_t;

typedef struct {
    uint64_t recovered;     /* live records found at open */
    uint64_t dropped_bytes; /* bytes after the first bad entry at open (torn or corrupt) */
    uint64_t writes;        /* write() calls */
    uint64_t bytes_written;
    uint64_t syncs;
    uint64_t compactions;
} reader_spool_stats_t;

/* Opens (creating dir and the file) the spool of name in dir, locks it, and reads it:
 * the live records, oldest first, are put into *records (a malloc'd array of *count
 * records the caller owns), and the file is compacted to them. max_bytes >= 64 KiB.
 * NULL with the reason in err when the folder or file cannot be used, is locked by
 * another process, or is not a spool. */
reader_spool_t *reader_spool_new(const char *dir, const char *name, uint64_t max_bytes,
                                 reader_record_t ***records, size_t *count, rtp_err_t *err);
/* Writes what is buffered and closes. remove_file: delete the file (nothing is live). */
void reader_spool_destroy(reader_spool_t **self_p, int remove_file);

/* Buffers a record's entry / an acknowledgement entry. 0, or -1 when out of memory. */
int reader_spool_add(reader_spool_t *self, const reader_record_t *record);
int reader_spool_ack(reader_spool_t *self, uint64_t seq);
/* Writes the buffered entries with one write(). 0 (also when nothing was buffered), or
 * -1 with the reason: the entries stay buffered (the file is cut back to its last
 * whole entry) and the next call tries again. */
int reader_spool_write(reader_spool_t *self, rtp_err_t *err);
/* fdatasync of the file. 0, or -1 with the reason. */
int reader_spool_sync(reader_spool_t *self, rtp_err_t *err);

/* 1 when the file should be compacted: it is over twice live_bytes (the
 * reader_spool_entry_bytes of the records live now) plus a margin, or full while the
 * live records would fit in much less. */
int reader_spool_wants_rewrite(const reader_spool_t *self, uint64_t live_bytes);
/* Writes records (the live ones) to a new file and renames it over the spool, dropping
 * what is buffered (it is all in records or acknowledged). 0, or -1 with the reason
 * (the old file then stays as it was). */
int reader_spool_rewrite(reader_spool_t *self, reader_record_t *const *records, size_t n, rtp_err_t *err);
/* 1 when the file plus the buffer has reached max_bytes. */
int reader_spool_full(const reader_spool_t *self);
/* Bytes a record takes in the file. */
uint64_t reader_spool_entry_bytes(const reader_record_t *record);
uint64_t reader_spool_file_bytes(const reader_spool_t *self);
const char *reader_spool_path(const reader_spool_t *self);
void reader_spool_stats(const reader_spool_t *self, reader_spool_stats_t *out);

#endif
