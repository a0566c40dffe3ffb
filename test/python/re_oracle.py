"""CPython oracle for the differential tests: one JSON line in, one JSON line out.

In:  ["pattern", ["input", ...]]   Out: {"kind": "ok", "results": [bool, ...]}
                                     or {"kind": "re.error" | "ValueError" | "OverflowError" | "other", "msg": str}
A ["#tables"] line instead answers the Unicode data the matcher relies on (see unicode.test.ts).
"""
import json
import re
import sys
import unicodedata
import warnings

warnings.simplefilter("ignore")


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


for line in sys.stdin:
    req = json.loads(line)
    if req == ["#tables"]:
        print(json.dumps(tables()), flush=True)
        continue
    pattern, inputs = req
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        print(json.dumps({"kind": "re.error", "msg": str(e)}), flush=True)
        continue
    except (ValueError, OverflowError) as e:
        print(json.dumps({"kind": type(e).__name__, "msg": str(e)}), flush=True)
        continue
    except Exception as e:  # RecursionError, MemoryError: nothing to compare
        print(json.dumps({"kind": "other", "msg": repr(e)}), flush=True)
        continue
    print(json.dumps({"kind": "ok", "results": [compiled.match(s) is not None for s in inputs]}), flush=True)
