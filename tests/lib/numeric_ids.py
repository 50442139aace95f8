"""numeric_ids: copies of tweet files in which every id is a JSON number only.

SPEC section 1 takes an id from `id_str`, falling back to `id`, and an id taken from
a numeric `id` is its exact digits. The bundled tweets all carry `id_str`, so they
never exercise that rule; these copies do:

    python3 tests/lib/numeric_ids.py SRC DST [SRC DST ...] [--bad | --plain]

- every `id_str` is removed (tweets, users, retweeted and quoted originals, at any
  depth), and every numeric `id` is moved to a new value by one injective map: a third
  kept as it is (tweet ids are past 2^53 already), a third moved up by 2^63, a third
  mirrored to 2^64 - 1 - id (so user ids, small in the data, become 20-digit ids);
  the three ids 2^53 - 1, 2^53 + 1 and 2^64 - 1 are given to the first three distinct
  ids. The same input id always gets the same new id, so a retweeted original that
  also appears as a tweet of its own stays the same row.
- in every other line a status's `id` is written after all its other members (after
  `user`, `retweeted_status`, `quoted_status`), so that a reader looking for the first
  `"id"` in the text finds the wrong one.
- with --bad, about one line in seven gets an id that is not a plain non-negative
  integer (7e18, -5, 1.5, 12.0, 2^64, 2^70, -1) on the tweet, its user, its original
  or the original's user: each such line must become a dead letter
  (rtp_reference.records_of raises ValueError for them).
- with --plain, only the `id_str` members are removed: ids, and the order of
  members, stay as they are (what the benchmark compares with the bundled files).

Python's json module reads and writes integers exactly, whatever their size.
"""

import json
import sys

SPECIAL = [2**53 - 1, 2**53 + 1, 2**64 - 1]

# (where, value): the bad ids --bad puts into lines 3, 10, 17, ... in turn
BAD = [
    ("tweet", 7e18),
    ("user", -5),
    ("original", 1.5),
    ("tweet", 12.0),
    ("original user", 2**64),
    ("user", 2**70),
    ("tweet", -1),
    ("original", 2**64),
]


def _statuses(obj):
    """Every dict with an `id` or `id_str` member, at any depth."""
    if isinstance(obj, dict):
        if "id" in obj or "id_str" in obj:
            yield obj
        for v in obj.values():
            yield from _statuses(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _statuses(v)


def _old_id(obj):
    if isinstance(obj.get("id_str"), str) and obj["id_str"].isdigit():
        return int(obj["id_str"])
    v = obj.get("id")
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


class IdMap:
    """The one injective map from input ids to output ids."""

    def __init__(self):
        self.out = {}
        self.taken = set()

    def __call__(self, old):
        if old in self.out:
            return self.out[old]
        if len(self.out) < len(SPECIAL):
            new = SPECIAL[len(self.out)]
        elif old % 3 == 0:
            new = old
        elif old % 3 == 1:
            new = old + 2**63
        else:
            new = 2**64 - 1 - old
        if not 0 <= new < 2**64 or new in self.taken:
            raise ValueError(f"id {old} maps to {new}, which is out of range or taken")
        self.out[old] = new
        self.taken.add(new)
        return new


def _id_last(obj):
    """The same object with `id` moved after every other member, at any depth."""
    if isinstance(obj, list):
        return [_id_last(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: _id_last(v) for k, v in obj.items() if k != "id"}
    if "id" in obj:
        out["id"] = obj["id"]
    return out


def _bad_target(tweet, where):
    """The status a BAD entry's `where` names in tweet, or None."""
    rt = tweet.get("retweeted_status") if isinstance(tweet.get("retweeted_status"), dict) else None
    targets = {"tweet": tweet, "user": tweet.get("user"), "original": rt,
               "original user": rt.get("user") if rt else None}
    t = targets[where]
    return t if isinstance(t, dict) else None


def convert_line(tweet, n, ids, bad=None, plain=False):
    """Line n (0-based) of a file, parsed, with numeric ids only, and the BAD entry
    `bad` put in if the line has its target. Returns (tweet, what) where `what` says
    which bad id was put in, or None."""
    for status in _statuses(tweet):
        old = _old_id(status)
        status.pop("id_str", None)
        if old is not None:
            status["id"] = old if plain else ids(old)
    if plain:
        return tweet, None
    what = None
    if bad:
        where, value = bad
        target = _bad_target(tweet, where)
        if target is not None:
            target["id"] = value
            what = f"{where} id {json.dumps(value)}"
    if n % 2 == 1:
        tweet = _id_last(tweet)
    return tweet, what


def convert_file(src, dst, bad=False, ids=None, plain=False):
    """Writes the numeric-id copy of src to dst; returns the list of (line number,
    what) for the lines given a bad id. Pass one IdMap to several calls to keep ids
    consistent across files."""
    ids = ids if ids is not None else IdMap()
    bad_lines = []
    with open(src, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    with open(dst, "w", encoding="utf-8") as out:
        for n, line in enumerate(lines):
            # every 7th line from the 4th on takes the next BAD entry; one whose target
            # the line lacks (an original) waits for the next line that has it
            entry = BAD[len(bad_lines) % len(BAD)] if bad and n >= 3 + 7 * len(bad_lines) else None
            tweet, what = convert_line(json.loads(line), n, ids, entry, plain)
            if what:
                bad_lines.append((n + 1, what))
            out.write(json.dumps(tweet, ensure_ascii=False) + "\n")
    return bad_lines


def main(argv):
    args = [a for a in argv if a not in ("--bad", "--plain")]
    if len(args) < 2 or len(args) % 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ids = IdMap()
    for src, dst in zip(args[0::2], args[1::2]):
        for line, what in convert_file(src, dst, "--bad" in argv, ids, "--plain" in argv):
            print(f"{dst}:{line}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
