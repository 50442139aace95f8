"""rtpspool: reads an rtp-reader spool file (actors/reader/spool.h's format) the way
the reader does at start, so that a test can see what a killed reader kept."""
import struct


def read_spool(path):
    """The live records of a spool file: [(seq, encoded EVENT bytes)] in file order,
    and the bytes after the last whole entry (spool.h's format)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"RTPS", f"{path}: no spool header"
    pos, live = 8, {}
    order = []
    while pos + 9 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if pos + 8 + length > len(data):
            break
        body = data[pos + 8:pos + 8 + length]
        if body[:1] == b"R":
            (seq,) = struct.unpack(">Q", body[1:9])
            live[seq] = body[9:]
            order.append(seq)
        elif body[:1] == b"A":
            for i in range((length - 1) // 8):
                live.pop(struct.unpack(">Q", body[1 + 8 * i:9 + 8 * i])[0], None)
        pos += 8 + length
    return [(s, live[s]) for s in order if s in live], len(data) - pos


def event_tweet_id(event):
    """The tweet id of an encoded EVENT (4-byte header, then the body of
    common/proto.c: seq u64, kind u8, received u64, origin, text and raw as u32-length
    blobs, then the tweet, its id first); "" for an event without a tweet."""
    pos = 4 + 8 + 1 + 8
    for _ in range(3):
        (n,) = struct.unpack(">I", event[pos:pos + 4])
        pos += 4 + n
    (n,) = struct.unpack(">I", event[pos:pos + 4])
    return event[pos + 4:pos + 4 + n].decode("utf-8", "replace")
