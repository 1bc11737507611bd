#!/usr/bin/env python3
"""Generates a realistic store day (or many) as contract JSON Lines for pos-sim.

A café open 07:00-21:00 (-06:00): customers enrolling, cash/debit/credit card sales
(credit_card is excluded in cafe.toml), weighed bread, tobacco and gift cards (excluded),
points payments with holds ($HOLD placeholders), a released hold, a void of an open ticket
and of a completed one, full and partial refunds, a refund back to points, a refund of a
gift card, balance and history queries, an operator adjustment and a duplicate request.

Examples:
  make_day.py --seed 1 --out cafe-day.jsonl                      # ~300 sales
  make_day.py --sales 100000 --customers 100000 --days 30 --out big.jsonl
"""
import argparse
import datetime as dt
import json
import random
import sys

MENU = [  # sku, category, price
    ("CAFE-AMER", "bebidas", "45.00"), ("CAFE-LATTE", "bebidas", "55.00"),
    ("CAFE-CAPU", "bebidas", "58.00"), ("TE-CHAI", "bebidas", "52.00"),
    ("JUGO-NAR", "bebidas", "38.00"), ("AGUA-1L", "bebidas", "22.00"),
    ("PAN-CONCHA", "panaderia", "18.50"), ("PAN-CUERNO", "panaderia", "24.00"),
    ("PAN-GRANEL", "panaderia", None),  # weighed: 89.90 per kg
    ("SAND-POLLO", "comida", "89.00"), ("SAND-VEG", "comida", "79.00"),
    ("ENSALADA", "comida", "95.00"), ("CHILAQUILES", "comida", "110.00"),
    ("CAFE-GRANO", "abarrotes", "210.00"), ("GALLETAS", "abarrotes", "35.00"),
    ("CIG-CAJ", "tabaco", "85.00"), ("GIFT-100", "gift-cards", "100.00"),
]
KG_PRICE = 89.90


def money(x):
    return f"{x:.2f}"


class Day:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.args = args
        self.out = []
        self.ticket_no = 0
        self.points = {}   # estimated points per customer
        self.sales = []    # (ticket, customer, lines) of completed sales with a customer
        self.seq = 0

    def emit(self, obj):
        self.out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    def rid(self, kind=""):
        self.seq += 1
        return f"{self.args.branch}-T1-{kind}{self.seq:07d}"

    def next_ticket(self):
        self.ticket_no += 1
        return f"{self.ticket_no:06d}"

    def lines(self):
        out = []
        for n in range(1, self.rng.choice([1, 1, 2, 2, 3, 4]) + 1):
            sku, cat, price = self.rng.choice(MENU[:-2] if self.rng.random() < 0.9 else MENU)
            if price is None:
                kg = self.rng.choice([0.250, 0.350, 0.480, 0.720])
                out.append({"n": n, "sku": sku, "category": cat, "qty": f"{kg:.3f}",
                            "amount": money(round(kg * KG_PRICE, 2))})
            else:
                q = self.rng.choice([1, 1, 1, 2])
                out.append({"n": n, "sku": sku, "category": cat, "qty": str(q),
                            "amount": money(q * float(price))})
        return out

    def sale(self, at, customer, method=None, points_amount=None):
        ticket = self.next_ticket()
        lines = self.lines()
        total = sum(float(l["amount"]) for l in lines)
        tenders = []
        if points_amount is not None:
            self.emit({"type": "points.authorize", "id": self.rid("A"), "at": at, "customer": customer,
                       "ticket": ticket, "amount": money(points_amount)})
            tenders.append({"method": "points", "amount": money(points_amount), "hold": "$HOLD"})
            rest = round(total - points_amount, 2)
            if rest > 0:
                tenders.append({"method": "debit_card", "amount": money(rest)})
        else:
            method = method or self.rng.choice(["cash", "cash", "cash", "debit_card", "credit_card"])
            if method == "cash":
                paid = float(int(total / 50 + 1) * 50)
                tenders.append({"method": "cash", "amount": money(paid), "change": money(paid - total)})
            else:
                tenders.append({"method": method, "amount": money(total)})
        req = {"type": "sale.completed", "id": self.rid(), "at": at, "branch": self.args.branch,
               "terminal": "T1", "ticket": ticket, "currency": "MXN", "lines": lines, "tenders": tenders}
        if customer:
            req["customer"] = customer
            if points_amount is None and method != "credit_card":
                eligible = sum(float(l["amount"]) for l in lines
                               if l["category"] not in ("tabaco", "gift-cards"))
                self.points[customer] = self.points.get(customer, 0) + int(eligible * 0.5)
            elif points_amount is not None:
                self.points[customer] = self.points.get(customer, 0) - int(points_amount * 10 + 0.999)
            self.sales.append((ticket, customer, lines))
        self.emit(req)
        return ticket, lines

    def generate(self):
        a = self.args
        customers = [f"card:{4000000 + i:07d}" for i in range(a.customers)]
        start = dt.datetime.fromisoformat(a.date + "T07:00:00-06:00")
        per_day = max(1, a.sales // a.days)
        big = a.sales > 5000
        if not big:
            for i, c in enumerate(customers[:8]):
                req = {"type": "customer.upsert", "id": self.rid("C"), "at": start.isoformat(),
                       "customer": c, "name": f"Cliente {i + 1}", "phone": f"+52155{5550000 + i}"}
                if i == 0:
                    req["category"] = "gold"
                    req["aliases"] = [f"phone:+52155{5550000 + i}"]
                if i == 1:
                    req["birthday"] = "1990-11-05"
                self.emit(req)
        specials_at = {int(per_day * f): name for f, name in [
            (0.30, "release"), (0.40, "void_open"), (0.50, "void_done"), (0.60, "refund_full"),
            (0.70, "refund_partial"), (0.75, "refund_points"), (0.80, "refund_gift"), (0.85, "adjust"),
            (0.90, "duplicate"), (0.95, "queries")]} if not big else {}
        made = 0
        for day in range(a.days):
            day_start = start + dt.timedelta(days=day)
            n_today = per_day if day < a.days - 1 else a.sales - made
            for k in range(n_today):
                at = (day_start + dt.timedelta(seconds=int(14 * 3600 * k / max(1, n_today)))).isoformat()
                customer = self.rng.choice(customers) if self.rng.random() < 0.7 else None
                rich = customer and self.points.get(customer, 0) >= 400 and self.rng.random() < 0.25
                if rich:
                    self.sale(at, customer, points_amount=float(self.rng.choice([20, 30, 40])))
                else:
                    self.sale(at, customer)
                made += 1
                special = specials_at.get(k)
                if special:
                    self.special(special, at, customers)
        return self.out

    def special(self, what, at, customers):
        rng = self.rng
        if what == "release":
            c = max(self.points, key=self.points.get)
            t = self.next_ticket()
            self.emit({"type": "points.authorize", "id": self.rid("A"), "at": at, "customer": c,
                       "ticket": t, "amount": "10.00"})
            self.emit({"type": "points.release", "id": self.rid("L"), "at": at, "ticket": t})
        elif what == "void_open":
            c = max(self.points, key=self.points.get)
            t = self.next_ticket()
            self.emit({"type": "points.authorize", "id": self.rid("A"), "at": at, "customer": c,
                       "ticket": t, "amount": "15.00"})
            self.emit({"type": "sale.voided", "id": self.rid("V"), "at": at, "ticket": t})
        elif what == "void_done":
            t, _ = self.sale(at, customers[2], method="cash")
            self.emit({"type": "sale.voided", "id": self.rid("V"), "at": at, "ticket": t})
        elif what in ("refund_full", "refund_partial", "refund_points"):
            ticket, customer, lines = rng.choice(self.sales[:-1] or self.sales)
            if what == "refund_full":
                rl = [{"n": l["n"], "qty": l["qty"], "amount": l["amount"]} for l in lines]
            else:
                l = lines[0]
                rl = [{"n": l["n"], "amount": money(float(l["amount"]) / 2)}]
            total = sum(float(x["amount"]) for x in rl)
            method = "points" if what == "refund_points" else "cash"
            self.emit({"type": "refund.completed", "id": self.rid("R"), "at": at, "ticket": "R-" + ticket,
                       "original_ticket": ticket, "original_branch": self.args.branch, "customer": customer,
                       "lines": rl, "tenders": [{"method": method, "amount": money(total)}]})
        elif what == "refund_gift":
            c = customers[3]
            t = self.next_ticket()
            self.emit({"type": "sale.completed", "id": self.rid(), "at": at, "ticket": t, "customer": c,
                       "lines": [{"n": 1, "sku": "GIFT-100", "category": "gift-cards", "qty": "1",
                                  "amount": "100.00"},
                                 {"n": 2, "sku": "CAFE-AMER", "category": "bebidas", "qty": "1",
                                  "amount": "45.00"}],
                       "tenders": [{"method": "cash", "amount": "150.00", "change": "5.00"}]})
            self.emit({"type": "refund.completed", "id": self.rid("R"), "at": at, "ticket": "R-" + t,
                       "original_ticket": t, "customer": c, "lines": [{"n": 1, "amount": "100.00"}],
                       "tenders": [{"method": "cash", "amount": "100.00"}]})
        elif what == "adjust":
            self.emit({"type": "points.adjust", "id": self.rid("J"), "at": at, "customer": customers[4],
                       "points": 50, "reason": "tarjeta dañada, cortesía", "operator": "gerente"})
        elif what == "duplicate":
            self.out.append(self.out[-1])  # the POS retried: same id, same body
        elif what == "queries":
            for c in customers[:3]:
                self.emit({"type": "balance.query", "id": self.rid("Q"), "at": at, "customer": c})
            self.emit({"type": "history.query", "id": self.rid("Q"), "at": at, "customer": customers[0]})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sales", type=int, default=300)
    p.add_argument("--customers", type=int, default=40)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--date", default="2026-11-22")
    p.add_argument("--branch", default="B01")
    p.add_argument("--out", default="-")
    a = p.parse_args()
    lines = Day(a).generate()
    f = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
