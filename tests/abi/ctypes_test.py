#!/usr/bin/env python3
"""A POS written in Python drives libloyalty.so through ctypes (standard library only).

usage: ctypes_test.py path/to/libloyalty.so

Writes a configuration into a temporary directory, opens the plugin, runs a sale, an
authorize + points sale, a refund and a balance query, checks the JSON answers, frees
every returned string with loyalty_free and closes. Exits non-zero on the first mismatch.
"""
import ctypes
import json
import os
import shutil
import sys
import tempfile

CONFIG = """[plugin]
branch = "B01"
db = "ledger.db"
locale = "en"
synchronous = "normal"

[program]
currency = "MXN"
point_value = "0.10"
earn_percent = "5"
excluded_payment_methods = ["credit_card"]

[program.overrides.sku]
"GIFT-100" = "0"

[receipt]
width = 42
"""

AT = "2026-11-22T10:15:00-06:00"
IN_HOLD = "2026-11-22T10:20:00-06:00"


def load(path):
    lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    lib.loyalty_abi_version.argtypes = []
    lib.loyalty_abi_version.restype = ctypes.c_uint32
    # Strings the plugin returns are received as void* so that ctypes never copies them
    # into Python-owned memory: they are read with string_at and given back to loyalty_free.
    lib.loyalty_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_void_p)]
    lib.loyalty_open.restype = ctypes.c_int
    lib.loyalty_handle.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                   ctypes.POINTER(ctypes.c_void_p)]
    lib.loyalty_handle.restype = ctypes.c_int
    lib.loyalty_free.argtypes = [ctypes.c_void_p]
    lib.loyalty_free.restype = None
    lib.loyalty_close.argtypes = [ctypes.c_void_p]
    lib.loyalty_close.restype = None
    return lib


def take_string(lib, ptr):
    """Copies a plugin string and frees it with loyalty_free."""
    if not ptr.value:
        return None
    text = ctypes.string_at(ptr.value).decode("utf-8")
    lib.loyalty_free(ptr)
    return text


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = load(sys.argv[1])
    check(lib.loyalty_abi_version() == 1, "loyalty_abi_version() must be 1")

    work = tempfile.mkdtemp(prefix="loyalty-ctypes-")
    try:
        # A missing configuration: code 9 and a JSON error to free.
        plugin, err = ctypes.c_void_p(), ctypes.c_void_p()
        rc = lib.loyalty_open(os.path.join(work, "missing.toml").encode(), ctypes.byref(plugin),
                              ctypes.byref(err))
        text = take_string(lib, err)
        check(rc == 9 and not plugin.value, "open of a missing file: code %d" % rc)
        check(json.loads(text)["error"]["code"] == "invalid_config", text)

        config = os.path.join(work, "loyalty.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(CONFIG)
        rc = lib.loyalty_open(config.encode(), ctypes.byref(plugin), ctypes.byref(err))
        text = take_string(lib, err)
        check(rc == 0 and plugin.value, "loyalty_open failed: %d %s" % (rc, text))
        check(text is None, "a successful open sets *error_json to NULL")

        def call(req, expect=0):
            body = json.dumps(req).encode("utf-8")
            out = ctypes.c_void_p()
            code = lib.loyalty_handle(plugin, body, len(body), ctypes.byref(out))
            text = take_string(lib, out)
            check(text is not None, "loyalty_handle must always set *response_json")
            resp = json.loads(text)
            check(code == expect, "expected code %d, got %d: %s" % (expect, code, text))
            check(resp["ok"] == (code == 0), text)
            return resp

        # The contract's sale: 90.00 earns 45; the excluded gift card earns nothing.
        sale = call({"type": "sale.completed", "id": "py-1", "at": AT, "ticket": "1",
                     "customer": "card:7", "currency": "MXN",
                     "lines": [{"n": 1, "sku": "CAFE", "qty": "2", "amount": "90.00"},
                               {"n": 2, "sku": "GIFT-100", "qty": "1", "amount": "100.00"}],
                     "tenders": [{"method": "cash", "amount": "200.00", "change": "10.00"}]})
        check(sale["earned"] == 45 and sale["redeemed"] == 0, sale)
        check(sale["balance"] == 45 and sale["balance_value"] == "4.50", sale)
        check(sale["customer"] == "card:7", sale)
        check(isinstance(sale["receipt"], list) and sale["receipt"], sale)
        check(all(isinstance(line, str) and len(line) <= 42 for line in sale["receipt"]),
              sale["receipt"])
        check(any("45" in line for line in sale["receipt"]), sale["receipt"])

        # Pay 2.00 with points: authorize (20 points held), then capture with the hold.
        hold = call({"type": "points.authorize", "id": "py-2", "at": AT, "customer": "card:7",
                     "ticket": "2", "amount": "2.00"})
        check(hold["points"] == 20 and hold["hold"].startswith("H-"), hold)
        bal = call({"type": "balance.query", "id": "py-q1", "at": IN_HOLD, "customer": "card:7"})
        check(bal["balance"] == 45 and bal["available"] == 25, bal)
        paid = call({"type": "sale.completed", "id": "py-3", "at": IN_HOLD, "ticket": "2",
                     "customer": "card:7", "lines": [{"n": 1, "amount": "2.00"}],
                     "tenders": [{"method": "points", "amount": "2.00", "hold": hold["hold"]}]})
        check(paid["redeemed"] == 20 and paid["earned"] == 0 and paid["balance"] == 25, paid)
        too_much = call({"type": "points.authorize", "id": "py-2b", "at": IN_HOLD,
                         "customer": "card:7", "ticket": "3", "amount": "100.00"}, expect=5)
        check(too_much["error"]["code"] == "insufficient_points", too_much)

        # Refund one of the two coffees: half of line 1 claws back floor(45 * 45 / 90) = 22.
        refund = call({"type": "refund.completed", "id": "py-4", "at": IN_HOLD, "ticket": "R1",
                       "original_ticket": "1", "original_branch": "B01", "customer": "card:7",
                       "lines": [{"n": 1, "qty": "1", "amount": "45.00"}],
                       "tenders": [{"method": "cash", "amount": "45.00"}]})
        check(refund["clawed_back"] == 22 and refund["restored"] == 0, refund)
        check(refund["balance"] == 3, refund)

        bal = call({"type": "balance.query", "id": "py-5", "at": IN_HOLD, "customer": "card:7"})
        check(bal["balance"] == 3 and bal["available"] == 3 and bal["balance_value"] == "0.30", bal)
        check(isinstance(bal["expiring"], list) and isinstance(bal["category"], str), bal)

        # A float amount is refused and names the field.
        bad = call({"type": "sale.completed", "id": "py-6", "at": AT, "ticket": "3",
                    "lines": [{"amount": 12.5}]}, expect=2)
        check(bad["error"]["field"] == "lines[0].amount", bad)

        lib.loyalty_close(plugin)
        lib.loyalty_free(None)
        lib.loyalty_close(None)
        print("ctypes: ok")
        return 0
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
