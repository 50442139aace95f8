/* journal: a bounded, append-only queue of protocol messages on disk that survives a
 * crash. The batcher's durability point while Redis is away: it appends what it cannot
 * write, and replays it in order once Redis answers again.
 *
 * On disk: a folder of segment files "journal-<20-digit number>.seg", oldest first.
 * A segment is an 8-byte header ("RTPJ", format version, 3 zero bytes) and records:
 *
 *   u32 length   of what follows the checksum (big-endian): 4 + body length
 *   u32 crc      CRC-32C of the length field and what follows it
 *   4 bytes      the message header of rtp_msg_encode
 *   body         the message body of rtp_msg_encode (the one wire codec; no second
 *                serialisation)
 *
 * Appends go to the last segment; once it has reached segment_bytes the next append
 * starts a new one. Each append is one write() and one fdatasync(), so a batch is
 * either wholly on disk or, after a crash mid-append, a torn tail: at open the records
 * are checked in order, and the first one that is cut short, overlong, or fails its
 * checksum ends its segment (the file is truncated there and the tail is counted).
 *
 * Records are read (peek) and then consumed in order; a segment whose records are all
 * consumed is deleted, and so are all files when the journal is empty. Which records
 * were consumed is not written down: after a restart the journal is replayed from the
 * start of its oldest segment, so up to one segment may be written twice (the store's
 * writes are idempotent).
 *
 * Bounded: the segment files together never exceed max_bytes (consumed records count
 * until their segment is deleted). One process at a time: the folder is locked
 * (flock) while open.
 *
 * Like the rest of librtp this module logs nothing: it reports through rtp_err_t and
 * its stats.
 */
#ifndef RTP_JOURNAL_H
#define RTP_JOURNAL_H

#include "proto.h"
#include "rtp_err.h"

#include <stddef.h>
#include <stdint.h>

/* The largest record accepted (a message far larger is refused by the codec anyway). */
#define RTP_JOURNAL_MAX_RECORD (64u * 1024 * 1024)
/* Bytes of a segment header, and of a record around the encoded message body. */
#define RTP_JOURNAL_SEGMENT_HEADER 8
#define RTP_JOURNAL_RECORD_OVERHEAD 12

typedef struct {
    uint64_t records;       /* records not yet consumed */
    uint64_t bytes;         /* total size of the segment files */
    uint64_t segments;      /* segment files */
    uint64_t recovered;     /* records found at open */
    uint64_t appended;      /* records appended since open */
    uint64_t consumed;      /* records consumed since open */
    uint64_t torn;          /* torn tails discarded at open (the last segment) */
    uint64_t torn_bytes;    /* ... their bytes */
    uint64_t corrupt;       /* bad records ending an earlier segment at open (not a crash: damage) */
    uint64_t corrupt_bytes; /* ... the bytes discarded with them */
    uint64_t undecodable;   /* intact records the codec rejected, skipped when read */
    uint64_t syncs;         /* fdatasync calls (one per append) */
    uint64_t sync_us_total; /* time spent in them */
    uint64_t sync_us_max;
} rtp_journal_stats_t;

typedef struct rtp_journal_t rtp_journal_t;

/* Opens the journal in dir (created, with its parents, if missing), locks it, and
 * recovers what is there (torn tails discarded and counted in the stats).
 * max_bytes bounds the files' total size (at least 4 KiB); segment_bytes is the size
 * at which a new segment starts (0: max_bytes / 16, within 64 KiB .. 16 MiB; never
 * below max_bytes / 64, so the files stay few). NULL with the reason in err when the
 * folder cannot be used, is locked by another process, or holds a segment that is
 * not a journal's. */
rtp_journal_t *rtp_journal_new(const char *dir, uint64_t max_bytes, uint64_t segment_bytes, rtp_err_t *err);

/* Closes the journal. When it is empty its files are removed, and the folder too if
 * nothing else is in it. Safe to call twice. */
void rtp_journal_destroy(rtp_journal_t **self_p);

/* Appends as many of msgs, in order, as fit within max_bytes, and makes them durable
 * (one write, one fdatasync). Returns how many were appended (0 when the journal is
 * full), or -1 on an I/O error with the reason in err: then nothing of this call was
 * appended. The messages are not changed. */
int rtp_journal_append(rtp_journal_t *self, rtp_msg_t *const *msgs, size_t count, rtp_err_t *err);

/* Decodes up to max of the oldest unconsumed records into out (new messages the caller
 * destroys) without consuming them: the next peek returns the same ones. Returns the
 * count (0: empty), or -1 on an I/O error. An intact record the codec rejects (e.g.
 * written by another protocol version) cannot be stored by anyone: it is consumed
 * when it reaches the front, and counted as undecodable. */
int rtp_journal_peek(rtp_journal_t *self, rtp_msg_t **out, size_t max, rtp_err_t *err);

/* Consumes the first n records of the last peek (n no more than it returned);
 * deletes the segments that are then wholly consumed. 0, or -1 with the reason. */
int rtp_journal_consume(rtp_journal_t *self, size_t n, rtp_err_t *err);

/* Records not yet consumed. */
uint64_t rtp_journal_records(const rtp_journal_t *self);
/* Total size of the files, and the bound. */
uint64_t rtp_journal_bytes(const rtp_journal_t *self);
uint64_t rtp_journal_max_bytes(const rtp_journal_t *self);
void rtp_journal_stats(const rtp_journal_t *self, rtp_journal_stats_t *out);
/* The folder (borrowed). */
const char *rtp_journal_dir(const rtp_journal_t *self);

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (0 to start): crc32c.h's. */
uint32_t rtp_journal_crc32c(uint32_t crc, const void *data, size_t len);

#endif
