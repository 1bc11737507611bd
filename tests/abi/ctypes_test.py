#!/usr/bin/env python3
"""A POS written in Python drives libloyalty.so through ctypes (stdlib only).

usage: ctypes_test.py path/to/libloyalty.so
"""
import ctypes
import json
import os
import shutil
import sys
import tempfile


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.loyalty_abi_version.restype = ctypes.c_uint32
    lib.loyalty_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
    lib.loyalty_handle.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
    lib.loyalty_free.argtypes = [ctypes.c_void_p]
    lib.loyalty_close.argtypes = [ctypes.c_void_p]
    assert lib.loyalty_abi_version() == 1

    work = tempfile.mkdtemp(prefix="loyalty-ctypes-")
    try:
        config = os.path.join(work, "loyalty.toml")
        with open(config, "w") as f:
            f.write('[plugin]\nbranch = "B01"\ndb = "ledger.db"\nlocale = "en"\nsynchronous = "normal"\n'
                    '[program]\npoint_value = "0.10"\nearn_percent = "5"\n'
                    'excluded_payment_methods = ["credit_card"]\n')
        plugin, err = ctypes.c_void_p(), ctypes.c_void_p()
        rc = lib.loyalty_open(config.encode(), ctypes.byref(plugin), ctypes.byref(err))
        assert rc == 0, ctypes.string_at(err.value)

        def call(req, expect=0):
            body = json.dumps(req).encode("utf-8")
            out = ctypes.c_void_p()
            code = lib.loyalty_handle(plugin, body, len(body), ctypes.byref(out))
            assert out.value, "response must always be set"
            text = ctypes.string_at(out.value).decode("utf-8")
            lib.loyalty_free(out)
            resp = json.loads(text)
            assert code == expect, (code, text)
            assert resp["ok"] == (code == 0), text
            return resp

        at = "2026-11-22T10:15:00-06:00"
        sale = call({"type": "sale.completed", "id": "py-1", "at": at, "ticket": "1", "customer": "card:7",
                     "lines": [{"n": 1, "sku": "CAFE", "qty": "2", "amount": "90.00"}],
                     "tenders": [{"method": "cash", "amount": "100.00", "change": "10.00"}]})
        assert sale["earned"] == 45 and sale["balance"] == 45, sale
        assert any("45" in line for line in sale["receipt"]), sale["receipt"]
        assert all(len(line) <= 42 for line in sale["receipt"])

        hold = call({"type": "points.authorize", "id": "py-2", "at": at, "customer": "card:7", "ticket": "2",
                     "amount": "2.00"})
        assert hold["points"] == 20
        paid = call({"type": "sale.completed", "id": "py-3", "at": at, "ticket": "2", "customer": "card:7",
                     "lines": [{"n": 1, "amount": "2.00"}],
                     "tenders": [{"method": "points", "amount": "2.00", "hold": hold["hold"]}]})
        assert paid["redeemed"] == 20 and paid["balance"] == 25, paid

        refund = call({"type": "refund.completed", "id": "py-4", "at": at, "ticket": "R1", "original_ticket": "1",
                       "customer": "card:7", "lines": [{"n": 1, "qty": "1", "amount": "45.00"}],
                       "tenders": [{"method": "cash", "amount": "45.00"}]})
        assert refund["clawed_back"] == 22, refund

        bal = call({"type": "balance.query", "id": "py-5", "at": at, "customer": "card:7"})
        assert bal["balance"] == 3 and bal["balance_value"] == "0.30", bal

        bad = call({"type": "sale.completed", "id": "py-6", "at": at, "ticket": "3",
                    "lines": [{"amount": 12.5}]}, expect=2)
        assert bad["error"]["field"] == "lines[0].amount", bad
        lib.loyalty_close(plugin)
        print("ctypes: ok")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
