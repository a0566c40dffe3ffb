"""CPython oracle for the differential tests: one JSON line in, one JSON line out.

In:  ["pattern", ["input", ...]]   Out: {"kind": "ok", "results": [bool, ...]}
                                     or {"kind": "re.error" | "ValueError" | "OverflowError" | "other", "msg": str}
A ["#tables"] line instead answers the Unicode data the matcher relies on (see unicode.test.ts).
"""
import json
import re
import signal
import sys
import unicodedata
import warnings

warnings.simplefilter("ignore")


class Slow(Exception):
    pass


def on_alarm(signum, frame):
    raise Slow()


# A random pattern can make CPython itself backtrack for ages: give each request 2 s (sre checks
# for signals while matching) and answer "other", which the tests skip.
signal.signal(signal.SIGALRM, on_alarm)


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            out.append([start, cp - 1])
            start = None
    if start is not None:
        out.append([start, 0x10FFFF])
    return out


def tables():
    from re import _casefix
    cased = []
    for cp in range(0x110000):
        c = chr(cp)
        lo, up = c.lower()[0], c.upper()[0]
        if lo != c or up != c:
            cased.append([cp, ord(lo), ord(up)])
    return {
        "version": sys.version.split()[0],
        "unidata": unicodedata.unidata_version,
        "unassigned": ranges(lambda cp: unicodedata.category(chr(cp)) == "Cn"),
        "word": ranges(lambda cp: chr(cp).isalnum() or cp == 0x5F),
        "digit": ranges(lambda cp: chr(cp).isdecimal()),
        "space": ranges(lambda cp: chr(cp).isspace()),
        "cased": cased,
        "casefix": {str(k): list(v) for k, v in _casefix._EXTRA_CASES.items()},
    }


def run(pattern, inputs):
    compiled = re.compile(pattern)
    return [compiled.match(s) for s in inputs]


for line in sys.stdin:
    req = json.loads(line)
    if req == ["#tables"]:
        print(json.dumps(tables()), flush=True)
        continue
    pattern, inputs = req
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        answer = {"kind": "ok", "results": [m is not None for m in run(pattern, inputs)]}
    except re.error as e:
        answer = {"kind": "re.error", "msg": str(e)}
    except (ValueError, OverflowError) as e:
        answer = {"kind": type(e).__name__, "msg": str(e)}
    except (Exception, Slow) as e:  # RecursionError, MemoryError, too slow: nothing to compare
        answer = {"kind": "other", "msg": repr(e)}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    print(json.dumps(answer), flush=True)
