"""rtp_reference: SPEC section 2 in plain Python, written from the spec text alone.

It is the independent oracle the tests compare the C implementation against, so it is
deliberately simple (lists and sets, brute-force phrase search) rather than fast.
Texts are handled as UTF-8 bytes, because the spec counts bytes ("as many `*` as its
key has bytes") and splits only on ASCII whitespace.

    afinn = load_afinn(path)          # {key bytes: int}
    swears = load_swears(path)        # Swears(singles, phrases)
    text_of(tweet) -> str             # extended_tweet.full_text > full_text > text
    sentiment(text, afinn) -> float
    censor(text, swears) -> str       # censor_count(...) -> (str, starred words)
    engagement(tweet) -> float
    records_of(tweet) -> [dict]       # the tweet, and for a retweet its original
    fmt_number(x) -> str              # the shortest form rtp_fmt_double writes

Called without lists, sentiment/censor/records_of use the bundled ones from
$RTP_DATA_DIR (else the repository's data/).
"""

import datetime
import json
import os
from collections import namedtuple

WHITESPACE = b" \t\n\v\f\r"
PUNCTUATION = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
assert len(PUNCTUATION) == 32

Swears = namedtuple("Swears", "singles phrases")  # set of keys; list of tuples of keys


def _utf8(text):
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogatepass")


def words(text):
    """The words of text (str or bytes) as bytes: split on ASCII whitespace only."""
    out, cur = [], bytearray()
    for b in _utf8(text):
        if b in WHITESPACE:
            if cur:
                out.append(bytes(cur))
                cur = bytearray()
        else:
            cur.append(b)
    if cur:
        out.append(bytes(cur))
    return out


def _strip_span(word):
    """(start, end) of word without its leading and trailing ASCII punctuation."""
    start, end = 0, len(word)
    while start < end and word[start] in PUNCTUATION:
        start += 1
    while end > start and word[end - 1] in PUNCTUATION:
        end -= 1
    return start, end


def _ascii_lower(data):
    return bytes(b + 32 if 65 <= b <= 90 else b for b in data)


def key(word):
    """The key of a word (bytes or str): punctuation around it off, ASCII lowercased."""
    word = _utf8(word)
    start, end = _strip_span(word)
    return _ascii_lower(word[start:end])


def _data_path(name):
    base = os.environ.get("RTP_DATA_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "data")
    return os.path.join(base, name)


def parse_afinn(data, max_entries=None):
    """Parses `word<TAB>integer` lines (bytes; CRLF or LF; final line end optional)
    into {key: value}. Entries are keyed like words. Raises ValueError on an empty
    list, a malformed line, a duplicate key, or more than max_entries lines."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.endswith(b"\n"):
        data = data[:-1]
        if data.endswith(b"\r"):
            data = data[:-1]
        if not data:
            raise ValueError("empty word list")
    if not data:
        raise ValueError("empty word list")
    lines = data.split(b"\n")
    if max_entries is not None and len(lines) > max_entries:
        raise ValueError("%d entries, more than the limit of %d" % (len(lines), max_entries))
    table = {}
    for number, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            raise ValueError("line %d: empty line" % number)
        if b"\0" in line:
            raise ValueError("line %d: NUL byte" % number)
        if b"\t" not in line:
            raise ValueError("line %d: no tab between word and value" % number)
        word, value = line.split(b"\t", 1)
        digits = value[1:] if value[:1] in (b"+", b"-") else value
        if not digits or not all(48 <= b <= 57 for b in digits):
            raise ValueError("line %d: value %r is not an integer" % (number, value))
        number_value = int(value)
        if abs(number_value) > 2**31 - 1:
            raise ValueError("line %d: value %r is not an integer (out of range)" % (number, value))
        k = key(word)
        if not k:
            raise ValueError("line %d: word %r has no key" % (number, word))
        if k in table:
            raise ValueError("line %d: duplicate entry %r" % (number, k))
        table[k] = number_value
    return table


def load_afinn(path=None):
    with open(path or _data_path("emotion_values.txt"), "rb") as f:
        return parse_afinn(f.read())


def parse_swears(entries):
    """A list of strings to Swears: one-word entries are single keys, entries of
    several words (split on ASCII whitespace) are phrases of keys."""
    if not isinstance(entries, list):
        raise ValueError("swear-word list is not a JSON array")
    singles, phrases = set(), []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, str):
            raise ValueError("entry %d is not a string" % number)
        keys = tuple(key(w) for w in words(entry))
        if not keys:
            raise ValueError("entry %d is empty" % number)
        if not all(keys):
            raise ValueError("entry %d (%r) has a word with no key" % (number, entry))
        if len(keys) == 1:
            singles.add(keys[0])
        else:
            phrases.append(keys)
    return Swears(singles, phrases)


def load_swears(path=None):
    with open(path or _data_path("swearwords.json"), "rb") as f:
        return parse_swears(json.loads(f.read().decode("utf-8")))


_defaults = {}


def _default(name):
    if name not in _defaults:
        _defaults[name] = load_afinn() if name == "afinn" else load_swears()
    return _defaults[name]


def sentiment(text, afinn=None):
    """Sum of the AFINN values of the words' keys over the number of words; 0 if none."""
    afinn = _default("afinn") if afinn is None else afinn
    ws = words(text)
    if not ws:
        return 0.0
    total = sum(afinn.get(key(w), 0) for w in ws)
    return total / len(ws)  # exact ints, one correctly rounded division


def _word_spans(data):
    """(start, end) byte offsets of each word of data."""
    spans, start = [], None
    for i, b in enumerate(data):
        if b in WHITESPACE:
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(data)))
    return spans


def censor_count(text, swears=None):
    """(censored text, number of starred words): each word whose key is a single entry,
    and each word of a run of consecutive words whose keys equal a phrase, gets its
    key's bytes replaced by '*'. Returns str for str input, bytes for bytes."""
    swears = _default("swears") if swears is None else swears
    data = _utf8(text)
    spans = _word_spans(data)
    keys = [key(data[s:e]) for s, e in spans]
    starred = set(i for i, k in enumerate(keys) if k in swears.singles)
    for phrase in swears.phrases:
        n = len(phrase)
        for i in range(len(keys) - n + 1):
            if tuple(keys[i:i + n]) == phrase:
                starred.update(range(i, i + n))
    out = bytearray(data)
    for i in starred:
        s, e = spans[i]
        ks, ke = _strip_span(data[s:e])
        out[s + ks:s + ke] = b"*" * (ke - ks)
    out = bytes(out)
    assert len(out) == len(data)
    if isinstance(text, bytes):
        return out, len(starred)
    return out.decode("utf-8", "surrogatepass"), len(starred)


def censor(text, swears=None):
    return censor_count(text, swears)[0]


def _string(value):
    return value if isinstance(value, str) else None


def _count(value):
    """A count field: an integer (JSON true/false are not counts), else 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value


def _dict(value):
    return value if isinstance(value, dict) else {}


def text_of(tweet):
    """extended_tweet.full_text if present, else full_text, else text, else ""."""
    for value in (_dict(tweet.get("extended_tweet")).get("full_text"), tweet.get("full_text"),
                  tweet.get("text")):
        if isinstance(value, str):
            return value
    return ""


def _counts_source(tweet):
    rt = tweet.get("retweeted_status")
    return rt if isinstance(rt, dict) else tweet


def favorites_of(tweet):
    return _count(_counts_source(tweet).get("favorite_count"))


def retweets_of(tweet):
    return _count(_counts_source(tweet).get("retweet_count"))


def followers_of(tweet):
    return _count(_dict(tweet.get("user")).get("followers_count"))


def engagement(tweet):
    """(favorite_count + retweet_count) / user.followers_count; for a retweet the two
    counts come from retweeted_status; missing/null counts are 0; 0 without followers."""
    followers = followers_of(tweet)
    if followers <= 0:
        return 0.0
    return (favorites_of(tweet) + retweets_of(tweet)) / followers


def id_of(obj, whose="tweet"):
    """id_str if it is a non-empty string, else a numeric id's digits (Python reads JSON
    integers exactly); None without either (missing, null, another type). A numeric id
    that is not a whole number from 0 to 2^64 - 1 (negative, too big, or written with a
    fraction or an exponent, which Python reads as a float) cannot be had exactly:
    ValueError, and the event is a dead letter (SPEC section 1)."""
    if isinstance(obj.get("id_str"), str) and obj["id_str"]:
        return obj["id_str"]
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and 0 <= value < 2**64:
        return str(value)
    raise ValueError(f"{whose} has no exact id: id {value!r}")


def _time_ms(tweet):
    ts = tweet.get("timestamp_ms")
    if isinstance(ts, str) and ts.isascii() and ts.isdigit():
        return int(ts)
    if isinstance(ts, int) and not isinstance(ts, bool):
        return ts
    created = tweet.get("created_at")
    if isinstance(created, str):
        try:
            when = datetime.datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y")
            return int(when.timestamp()) * 1000
        except ValueError:
            pass
    return 0


def fmt_number(x):
    """The form rtp_fmt_double writes: the fewest significant digits p that read back
    exactly, written as %g with precision max(p, exponent + 1) (at most 17), so that
    100.0 is "100" and 1e-05 stays "1e-05"; "0" for zero. (Python's repr picks the same
    digits but writes 100.0 and 1e+16; compare numbers with float(), strings with this.)"""
    if x == 0:
        return "0"
    for p in range(1, 18):
        t = "%.*e" % (p - 1, x)
        if float(t) == x or p == 17:
            exponent = int(t.split("e")[1])
            precision = exponent + 1 if p < exponent + 1 <= 17 else p
            return "%.*g" % (precision, x)


def _record(tweet, afinn, swears, whose, retweet_of):
    tweet_id = id_of(tweet, whose)
    user = _dict(tweet.get("user"))
    user_id = id_of(user, whose + "'s user") or ""
    text = text_of(tweet)
    censored, starred = censor_count(text, swears)
    tags = _dict(tweet.get("entities")).get("hashtags")
    hashtags = [h.get("text") for h in (tags if isinstance(tags, list) else []) if isinstance(h, dict)]
    return {
        "id": tweet_id,
        "user_id": user_id,
        "user_name": _string(user.get("name")) or "",
        "screen_name": _string(user.get("screen_name")) or "",
        "followers": followers_of(tweet),
        "text": text,
        "censored": censored,
        "starred": starred,
        "sentiment": sentiment(text, afinn),
        "favorites": favorites_of(tweet),
        "retweets": retweets_of(tweet),
        "engagement": engagement(tweet),
        "created_at": _string(tweet.get("created_at")) or "",
        "lang": _string(tweet.get("lang")) or "",
        "hashtags": " ".join(h for h in hashtags if isinstance(h, str)),
        "retweet_of": retweet_of,
        "time_ms": _time_ms(tweet),
    }


def records_of(tweet, afinn=None, swears=None):
    """The records one tweet object yields: itself, and for a retweet the original
    (its own id, user and counts) right after it; an original without an id is no
    record (the retweet's retweet_of is then ""). Raises ValueError when the event
    is a dead letter: no tweet id, or an id that cannot be had exactly (id_of)."""
    afinn = _default("afinn") if afinn is None else afinn
    swears = _default("swears") if swears is None else swears
    if id_of(tweet) is None:
        raise ValueError("tweet has no id")
    id_of(_dict(tweet.get("user")), "tweet's user")  # raises first, as the decoder does
    rt = tweet.get("retweeted_status")
    rt_id = id_of(rt, "retweeted original") if isinstance(rt, dict) else None
    out = [_record(tweet, afinn, swears, "tweet", rt_id or "")]
    if rt_id is not None:
        out.append(_record(rt, afinn, swears, "retweeted original", ""))
    return out
