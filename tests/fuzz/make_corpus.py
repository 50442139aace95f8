#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the bundled data.

    python3 tests/fuzz/make_corpus.py

Deterministic: the same data gives the same files. A seed's name says what it is;
files already there under other names (inputs that found a bug, added by hand as
found-<what>) are left alone. Seeds are kept small (trimmed tweets, pieces of the
word lists) so that the fuzzer spends its time on the parts that matter.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import numeric_ids  # noqa: E402
DATA = os.path.join(HERE, "..", "..", "data")
CORPUS = os.path.join(HERE, "corpus")


def data_file(name, mode="rb"):
    with open(os.path.join(DATA, name), mode) as f:
        return f.read()


def write(target, name, content):
    if isinstance(content, str):
        content = content.encode("utf-8")
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(content)


def tweet_lines():
    lines = []
    for name in ("tweets-a.jsonl", "tweets-b.jsonl"):
        lines += [l for l in data_file(name, "r").split("\n") if l]
    return lines


def wrap(tweet_json):
    """An event's data as the lab server sends it."""
    return '{"message": {"tweet": %s, "unix_timestamp_100us": 1}}' % tweet_json


def trim(status):
    """A status with only the fields the decoder reads (SPEC section 1)."""
    keep = ("id", "id_str", "text", "full_text", "created_at", "lang", "timestamp_ms",
            "favorite_count", "retweet_count")
    out = {k: status[k] for k in keep if k in status}
    user = status.get("user")
    if isinstance(user, dict):
        out["user"] = {k: user[k] for k in ("id", "id_str", "name", "screen_name", "followers_count")
                       if k in user}
    ext = status.get("extended_tweet")
    if isinstance(ext, dict) and "full_text" in ext:
        out["extended_tweet"] = {"full_text": ext["full_text"]}
    tags = (status.get("entities") or {}).get("hashtags")
    if tags is not None:
        out["entities"] = {"hashtags": [{"text": t.get("text")} for t in tags]}
    if isinstance(status.get("retweeted_status"), dict):
        out["retweeted_status"] = trim(status["retweeted_status"])
    return out


def pick_tweets():
    """A few tweets of each kind the data has, smallest first."""
    statuses = sorted((json.loads(l) for l in tweet_lines()), key=lambda t: len(json.dumps(t)))
    kinds = [
        ("plain", lambda t: "retweeted_status" not in t and "extended_tweet" not in t),
        ("retweet", lambda t: "retweeted_status" in t),
        ("extended", lambda t: "extended_tweet" in t),
        ("hashtags", lambda t: (t.get("entities") or {}).get("hashtags")),
        ("timestamp", lambda t: "timestamp_ms" in t),
        ("no-followers", lambda t: (t.get("user") or {}).get("followers_count") == 0),
        ("null-count", lambda t: t.get("favorite_count", 0) is None or t.get("retweet_count", 0) is None),
        ("non-ascii", lambda t: any(ord(c) > 127 for c in t.get("text") or "")),
    ]
    picked = []
    for kind, match in kinds:
        found = [t for t in statuses if match(t)][:2]
        picked += [(kind, i, t) for i, t in enumerate(found)]
    return picked


def text_of(status):
    return ((status.get("extended_tweet") or {}).get("full_text") or status.get("full_text")
            or status.get("text") or "")


# --- sse --------------------------------------------------------------------------

def sse_seeds():
    wire = data_file("wire-format.sse")
    write("sse", "wire-format", wire)
    write("sse", "wire-format-crlf", wire.replace(b"\n", b"\r\n"))
    write("sse", "wire-format-cr", wire.replace(b"\n", b"\r"))
    write("sse", "wire-format-bom", b"\xef\xbb\xbf" + wire)
    stream = ""
    for n, (kind, i, t) in enumerate(pick_tweets()[:6]):
        stream += "id: %d\ndata: %s\n\n" % (n, wrap(json.dumps(trim(t), ensure_ascii=False)))
    write("sse", "tweets-with-ids", "retry: 3000\n" + stream)
    panic = '{"message": panic}'
    seeds = {
        "fields": "id: 7\nretry: 3000\ndata: a\ndata: b\n\n: comment\nevent: update\ndata\n\nid\ndata:x\n\n",
        "id-with-nul": "id: a\0b\ndata: x\n\nid: ok\ndata: y\n\n",
        "retry-int64-max": "retry: 9223372036854775807\ndata: a\n\n",
        "retry-overflow": "retry: 99999999999999999999\nretry: 12a\nretry:\nretry\n",
        "unknown-fields": "datax: 1\nDATA: 2\nevent_: x\ndat: 3\n:data: 4\n\n",
        "cut-off": "data: " + panic,
        "cr-at-end": "data: a\r",
        "crlf-blank": "data: a\r\n\r\ndata: b\r\n\r\n",
        "mixed-line-ends": "data: a\r\ndata: b\rdata: c\n\r\n\n\r\r",
        "empty-type": "event:\ndata: x\n\nevent\ndata\n\n",
        "type-with-nul": "event: a\0b\ndata: y\n\n",
        "no-space": "data:x\nevent:t\nid:1\n\ndata:  two spaces\n\n",
        "big-event": "event: %s\ndata: %s\ndata: %s\n\ndata: small\n\n" % ("e" * 30, "x" * 100, "y" * 60),
        "big-id": "id: %s\ndata: a\n\nid: short\ndata: b\n\n" % ("i" * 80),
        "bom-partial": b"\xef\xbbdata: x\n\n",
        "bom-twice": b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n",
        "panic": "event: \"message\"\n\ndata: %s\n\n" % panic,
        "comments-only": ": one\n:two\n\n\n",
    }
    for name, content in seeds.items():
        write("sse", name, content)
    for n, line in enumerate(data_file("rtp-server-events.jsonl", "r").split("\n")):
        if line:
            write("sse", "server-event-%d" % (n + 1), "event: \"message\"\n\ndata: %s\n\n" % line)


# --- tweet ------------------------------------------------------------------------

def tweet_seeds():
    for n, line in enumerate(data_file("rtp-server-events.jsonl", "r").split("\n")):
        if line:
            write("tweet", "server-event-%d" % (n + 1), line)
    picked = pick_tweets()
    for kind, i, t in picked:
        write("tweet", "trimmed-%s-%d" % (kind, i), wrap(json.dumps(trim(t), ensure_ascii=False)))
    for kind, i, t in picked:
        if i == 0 and kind in ("plain", "retweet", "extended"):
            write("tweet", "full-%s" % kind, wrap(json.dumps(t, ensure_ascii=False)))
    plain = trim(next(t for kind, _, t in picked if kind == "plain"))
    numeric = dict(plain)
    numeric.pop("id_str", None)
    seeds = {
        "panic": '{"message": panic}',
        "panic-spaced": ' \t{ "message" :panic }\r\n',
        "numeric-id": wrap(json.dumps(numeric)),
        "no-id": wrap('{"text": "hi"}'),
        "no-tweet": '{"message": {"unix_timestamp_100us": 1}}',
        "message-not-object": '{"message": [1, 2]}',
        "not-an-object": '[{"message": {}}]',
        "truncated": wrap(json.dumps(plain))[:60],
        "trailing-bytes": wrap('{"id_str": "1"}') + " x",
        "invalid-utf8": b'{"message": {"tweet": {"id_str": "1", "text": "a\xc3\x28b"}}}',
        "escaped-nul": wrap('{"id_str": "1", "text": "a\\u0000b"}'),
        "surrogates": wrap('{"id_str": "2", "text": "\\ud83d\\ude00 \\u00e9 \\ud800"}'),
        "deep-nesting": '{"message": ' + "[" * 1100 + "]" * 1100 + "}",
        "created-at-only": wrap('{"id_str": "3", "created_at": "Wed Feb 29 23:59:59 -0130 2012"}'),
        "big-numbers": wrap('{"id": 1e300, "id_str": "", "user": {"id": -5, "followers_count": 1e30},'
                            ' "favorite_count": -1e30, "retweet_count": "7", "timestamp_ms": 12.5}'),
    }
    for name, content in seeds.items():
        write("tweet", name, content)
    numeric_id_seeds(picked)


def numeric_id_seeds(picked):
    """Ids as JSON numbers only (SPEC section 1: their exact digits, up to 2^64 - 1),
    and numbers that are no exact id, for the tweet, its user, the original and the
    original's user; ids behind nested objects, in strings, under escaped names."""
    ids = numeric_ids.IdMap()
    retweet = trim(next(t for kind, _, t in picked if kind == "retweet"))
    for n in range(2):  # n = 1 writes each id after the status's other members
        t, _ = numeric_ids.convert_line(json.loads(json.dumps(retweet)), n, ids)
        write("tweet", "numeric-ids-retweet-%d" % n, wrap(json.dumps(t, ensure_ascii=False)))
    edges = ["9007199254740991", "9007199254740993", "9223372036854775807", "18446744073709551615", "0"]
    write("tweet", "numeric-ids-edges",
          wrap('{"id": %s, "user": {"id": %s}, "retweeted_status": {"id": %s, "user": {"id": %s}}, "text": "%s"}'
               % (edges[1], edges[2], edges[3], edges[0], edges[4])))
    bad = {"exponent": "7e18", "negative": "-5", "fraction": "1.5", "two-to-64": "18446744073709551616",
           "leading-zero": "0123", "minus-zero": "-0"}
    for name, number in bad.items():
        write("tweet", "inexact-id-tweet-" + name, wrap('{"id": %s}' % number))
        write("tweet", "inexact-id-user-" + name, wrap('{"id": 1, "user": {"id": %s}}' % number))
        write("tweet", "inexact-id-original-" + name,
              wrap('{"id": 1, "retweeted_status": {"id": %s, "user": {"id": 2}}}' % number))
    write("tweet", "inexact-id-original-user",
          wrap('{"id": 1, "retweeted_status": {"id_str": "3", "user": {"id": 1E3}}}'))
    seeds = {
        "id-in-strings": '{"text": "\\"id\\": 1, {\\"id\\": 2}\\\\", "entities": {"user_mentions": '
                         '[{"id": 3}]}, "quoted_status": {"id": 4}, "user": {"x": {"id": 5}, "id": 6}, '
                         '"id": 9007199254740993}',
        "id-escaped-names": '{"i\\u0064": 9007199254740993, "user": {"\\u0069d": 18446744073709551615}}',
        "id-first-of-two": '{"id": 9007199254740993, "id": 1, "user": {"id": 2}, "user": {"id": 3}}',
    }
    for name, tweet in seeds.items():
        write("tweet", name, wrap(tweet))


# --- proto ------------------------------------------------------------------------

TYPES = ["EVENT", "READY", "HEARTBEAT", "DISCONNECT", "TASK", "RESULT", "CANCEL", "PART", "JOINED",
         "CREDIT", "DEADLETTER", "ACK", "HASHTAGS", "WON", "SUPERVISOR", "SCALE", "WELCOME"]
VERSION = 3  # RTP_PROTO_VERSION
# Each type's fields in wire order (common/proto.h, s_fields in common/proto.c).
FIELDS = {
    "EVENT": ["seq", "kind", "received", "origin", "text", "raw", "tweet"],
    "READY": ["pool", "credit", "text"],
    "HEARTBEAT": [],
    "DISCONNECT": ["kind"],
    "TASK": ["key", "kind", "credit", "received", "task_tweet", "copies"],
    "RESULT": ["key", "pool", "number", "number2", "text", "id"],
    "CANCEL": ["key"],
    "PART": ["key", "seq", "kind", "received", "number", "origin", "text", "tweet"],
    "JOINED": ["key", "seq", "received", "number", "number2", "origin", "text", "tweet"],
    "CREDIT": ["credit"],
    "DEADLETTER": ["key", "seq", "received", "origin", "text", "raw"],
    "ACK": ["origin", "acks"],
    "HASHTAGS": ["time", "text", "id"],
    "WON": ["key"],
    "SUPERVISOR": ["credit", "text", "counts"],
    "SCALE": ["pool", "credit"],
    "WELCOME": ["origin", "text", "raw"],
}


def blob(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def record(status, retweet_of=""):
    """A tweet record as the decoder would make it (close enough for a seed)."""
    user = status.get("user") or {}
    tags = [t.get("text") for t in (status.get("entities") or {}).get("hashtags") or [] if t.get("text")]
    strings = [status.get("id_str", ""), user.get("id_str", ""), user.get("name") or "",
               user.get("screen_name") or "", text_of(status), " ".join(tags),
               status.get("created_at") or "", status.get("lang") or "", retweet_of]
    numbers = [user.get("followers_count") or 0, status.get("favorite_count") or 0,
               status.get("retweet_count") or 0, int(status.get("timestamp_ms") or 0)]
    return b"".join(blob(s) for s in strings) + b"".join(struct.pack(">q", n) for n in numbers)


def task_record(status):
    """A task's tweet: id, screen name, text and the three counts."""
    user = status.get("user") or {}
    strings = [status.get("id_str", ""), user.get("screen_name") or "", text_of(status)]
    numbers = [user.get("followers_count") or 0, status.get("favorite_count") or 0,
               status.get("retweet_count") or 0]
    return b"".join(blob(s) for s in strings) + b"".join(struct.pack(">q", n) for n in numbers)


def message(type_name, **values):
    body = b""
    for field in FIELDS[type_name]:
        v = values.get(field)
        if field in ("key", "seq"):
            body += struct.pack(">Q", v or 0)
        elif field in ("received", "time"):
            body += struct.pack(">q", v or 0)
        elif field in ("pool", "kind", "copies"):
            body += struct.pack("B", v or 0)
        elif field == "credit":
            body += struct.pack(">I", v or 0)
        elif field in ("number", "number2"):
            body += struct.pack(">d", v or 0.0)
        elif field in ("origin", "text", "raw", "id"):
            body += blob(v or b"")
        elif field == "acks":
            body += struct.pack(">I", len(v or [])) + b"".join(struct.pack(">Q", a) for a in v or [])
        elif field == "tweet":
            body += v if v is not None else record({})
        elif field == "task_tweet":
            body += v if v is not None else task_record({})
        elif field == "counts":  # per pool: workers run, workers restarted
            body += b"".join(struct.pack(">II", n, r) for n, r in (v or [(0, 0)] * 3))
    header = bytes([ord("R"), ord("T"), VERSION, TYPES.index(type_name) + 1])
    return header, body


def proto_seed(name, header, body):
    """The fuzz_proto input: the header's length, the header, the body."""
    write("proto", name, bytes([len(header)]) + header + body)


def proto_seeds():
    picked = {kind: t for kind, i, t in pick_tweets() if i == 0}
    plain = picked["plain"]
    retweet = picked["retweet"]
    original = retweet["retweeted_status"]
    t_plain = record(plain)
    t_retweet = record(retweet, original.get("id_str", ""))
    received = 1461007847658000
    panic = b'{"message": panic}'
    seeds = {
        "event-tweet": message("EVENT", seq=1, kind=1, received=received, origin="reader-1", tweet=t_plain),
        "event-retweet": message("EVENT", seq=2, kind=1, received=received, origin="reader-1", tweet=t_retweet),
        "event-panic": message("EVENT", seq=3, kind=2, received=received, origin="reader-2", raw=panic),
        "event-malformed": message("EVENT", seq=4, kind=3, received=received, origin="reader-2",
                                   text="not JSON: unexpected end after 5 bytes", raw=b"{\"mes\x00\xff"),
        "ready-censor": message("READY", pool=0, credit=1, text="censor-1"),
        "ready-engagement": message("READY", pool=2, credit=4, text="engagement-7"),
        "heartbeat": message("HEARTBEAT"),
        "disconnect": message("DISCONNECT", kind=1),
        "task-tweet": message("TASK", key=10, kind=1, credit=1, received=received, task_tweet=task_record(plain),
                              copies=2),
        "task-panic": message("TASK", key=11, kind=2, received=received),
        "result-censor": message("RESULT", key=10, pool=0, text="Can we be done with **** books?",
                                 id=plain.get("id_str", "")),
        "result-sentiment": message("RESULT", key=10, pool=1, number=-0.4, id=plain.get("id_str", "")),
        "result-nan": message("RESULT", key=12, pool=2, number=float("nan"), id="1"),
        "cancel": message("CANCEL", key=2**64 - 1),
        "part-record": message("PART", key=10, seq=1, kind=3, received=received, origin="reader-1",
                               tweet=t_retweet),
        "part-result": message("PART", key=10, seq=1, kind=1, received=received, number=0.25,
                               origin="reader-1"),
        "joined": message("JOINED", key=10, seq=1, received=received, number=0.5, number2=1e-300,
                          origin="reader-1", text=text_of(plain), tweet=t_plain),
        "credit": message("CREDIT", credit=1000),
        "deadletter": message("DEADLETTER", key=11, seq=3, received=received, origin="reader-2",
                              text="panic", raw=panic),
        "ack": message("ACK", origin="reader-1", acks=[1, 2, 3, 2**63]),
        "ack-empty": message("ACK", origin="reader-1", acks=[]),
        "hashtags": message("HASHTAGS", time=1461007847658, text="rtp Elixir", id="253650670274637824"),
        "won": message("WON", key=10),
        "supervisor": message("SUPERVISOR", credit=64, text="host-b", counts=[(3, 1), (2, 0), (2, 5)]),
        "scale": message("SCALE", pool=1, credit=4),
        "welcome": message("WELCOME", origin="censor:--work-mean-ms=20 censor:--print=false",
                           text="tcp://10.0.0.1:5560", raw=b"abandon\t-2\nabhor\t-3\n"),
    }
    for name, (header, body) in seeds.items():
        proto_seed(name, header, body)
    header, body = seeds["credit"]
    proto_seed("bad-header-length", header[:3], body)
    proto_seed("bad-version", bytes([ord("R"), ord("T"), VERSION + 1]) + header[3:], body)
    proto_seed("bad-type", bytes([ord("R"), ord("T"), VERSION, len(TYPES) + 1]), body)
    proto_seed("trailing-byte", header, body + b"\x00")
    # a packed bundle (proto.h): per message its header, its body's length, its body
    packed = b""
    for name in ("part-record", "part-result", "joined"):
        h, b = seeds[name]
        packed += h + struct.pack(">I", len(b)) + b
    proto_seed("packed-bundle", bytes([ord("R"), ord("T"), VERSION, 0xB0]), packed)
    proto_seed("packed-cut-short", bytes([ord("R"), ord("T"), VERSION, 0xB0]), packed[:-5])
    header, body = seeds["event-tweet"]
    proto_seed("truncated-tweet", header, body[:-3])
    header, body = seeds["ack"]
    proto_seed("ack-count-too-big", header, b"\x00\x00\x00\x08reader-1\xff\xff\xff\xff")
    header, body = seeds["ready-censor"]
    proto_seed("bad-pool", header, b"\x03" + body[1:])
    header, body = seeds["hashtags"]
    proto_seed("nul-in-string", header, body.replace(b"rtp", b"r\x00p"))


# --- analysis -----------------------------------------------------------------------

def analysis_seeds():
    afinn = data_file("emotion_values.txt")
    lines = afinn.split(b"\r\n")
    for start in (0, 800, 1600, len(lines) - 40):
        write("analysis", "0-afinn-%d" % start, b"0" + b"\r\n".join(lines[start:start + 40]))
    write("analysis", "0-afinn-lf", b"0" + b"\n".join(lines[100:140]) + b"\n")
    write("analysis", "0-afinn-bom", b"0\xef\xbb\xbf" + b"\r\n".join(lines[200:210]))
    write("analysis", "0-duplicate", b"0" + b"\r\n".join(lines[0:5] + [lines[2].upper()]))
    write("analysis", "0-bad-value", b"0good\t3\nbad\tthree\n")
    write("analysis", "0-phrase-and-punct", b"0can't stand\t-3\n\"cool\"\t1\n!!\t2\n")
    write("analysis", "0-empty", b"0\r\n")
    swears = data_file("swearwords.json")
    write("analysis", "1-swearwords", b"1" + swears)
    entries = json.loads(swears)
    phrases = [e for e in entries if " " in e]
    write("analysis", "1-phrases", b"1" + json.dumps(phrases).encode() + b"\0Holy shit, son of a Bitch!")
    write("analysis", "1-few", b"1" + json.dumps(entries[:5]).encode() + b"\0an arse and an ASS")
    write("analysis", "1-not-strings", b'1["a", 1, null]')
    write("analysis", "1-only-punct", b'1["ok", "--"]')
    write("analysis", "1-empty-entry", b'1["ok", "  "]')
    write("analysis", "1-object", b'1{"a": "b"}')
    write("analysis", "1-overlap", b'1["a b", "b c", "a", "a b c d"]\0a b c d a b a')
    statuses = [json.loads(l) for l in tweet_lines()]
    single = {e for e in entries if " " not in e}
    strip = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    swearing = [text_of(t) for t in statuses
                if {w.strip(strip).lower() for w in text_of(t).split()} & single]
    texts = sorted(set(swearing), key=len)[:6]
    texts += sorted({text_of(t) for kind, i, t in pick_tweets() if i == 0}, key=len)
    for n, text in enumerate(texts):
        write("analysis", "2-tweet-%d" % n, "2" + text)
    crafted = {
        "2-phrases": "Holy  SHIT!!! son of a bitch, jesus h. christ... JESUS, MARY AND JOSEPH",
        "2-punctuation": "--fuck-- (shit) 'bloody' sod-off \"pissed off\" shit ass",
        "2-whitespace": "\t\v\f\r\n  bastard\x0b\x0cgood ",
        "2-sentiment": "abandon abandoned abhor good GREAT love! :) breathtaking",
        "2-non-ascii": "caf\u00e9 \u00e7a va? d\u00e9sol\u00e9 \U0001F600 hell\u00e9",
    }
    for name, text in crafted.items():
        write("analysis", name, text)


if __name__ == "__main__":
    sse_seeds()
    tweet_seeds()
    proto_seeds()
    analysis_seeds()
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        print("%s: %d seeds, %d bytes" % (target, len(files), size))
