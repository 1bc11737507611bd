#!/usr/bin/env python3
"""Generates a café's day (or many days) as contract requests in JSON Lines, for pos-sim.

The café is open 07:00-21:00 (UTC-06:00) with two registers (T1, T2). It sells ~20 SKUs
(bebidas, panaderia with bread sold by weight, comida, abarrotes, tabaco, and the GIFT-100
gift card); ~30% of the sales are anonymous. Payments are cash (with change), debit_card,
credit_card (excluded from earning in cafe.toml), cash + credit_card splits, and points.

Every day also contains: customer enrolments (customer.upsert, one gold customer with a
phone alias), points payments preceded by points.authorize, a released hold, a void of an
open ticket holding points, a void of a completed sale, a full refund, two partial refunds
of one sale that add up to all of it, a refund paid back in points, a gift card refund, an
operator's points.adjust, a POS retry (the same request twice) and a few balance and
history queries.

Points tenders carry "hold": "$HOLD": the generator cannot know the hold id the plugin will
return, so pos-sim replaces "$HOLD" with the hold of the ticket's last points.authorize.

The output depends only on the arguments (same seed, same file).

Examples:
  make_day.py --seed 1 --out cafe-day.jsonl                 # the demo day, ~300 sales
  make_day.py --sales 100000 --customers 100000 --days 30 --out big.jsonl   # benchmarks
  make_day.py --mistakes | head                             # also a few malformed requests
"""
import argparse
import datetime as dt
import json
import random
import sys
import unicodedata

# sku, category, price in cents (None: sold by weight at KG_PRICE_CENTS per kg), weight
MENU = [
    ("CAFE-AMER", "bebidas", 4500, 16), ("CAFE-LATTE", "bebidas", 5500, 12),
    ("CAFE-CAPU", "bebidas", 5800, 10), ("CAFE-MOCHA", "bebidas", 6200, 6),
    ("TE-CHAI", "bebidas", 5200, 5), ("JUGO-NAR", "bebidas", 3800, 6),
    ("AGUA-1L", "bebidas", 2200, 5),
    ("PAN-CONCHA", "panaderia", 1850, 10), ("PAN-CUERNO", "panaderia", 2400, 8),
    ("PAN-GRANEL", "panaderia", None, 5), ("GALLETA-AVENA", "panaderia", 1500, 4),
    ("SAND-POLLO", "comida", 8900, 6), ("SAND-VEG", "comida", 7900, 4),
    ("ENSALADA", "comida", 9500, 3), ("CHILAQUILES", "comida", 11000, 5),
    ("MOLLETES", "comida", 7500, 4),
    ("CAFE-GRANO-500", "abarrotes", 21000, 2), ("LECHE-1L", "abarrotes", 2900, 2),
    ("CIG-CAJETILLA", "tabaco", 8500, 2),
    ("GIFT-100", "gift-cards", 10000, 1),
]
KG_PRICE_CENTS = 8990
GRAMS = [250, 350, 480, 720, 1000]
# The demo program (cafe.toml): what earns nothing, the percents, 1 point = 0.10.
EXCLUDED_SKUS = {"GIFT-100"}
EXCLUDED_CATEGORIES = {"tabaco"}
EARN_PERCENT = 5
GOLD_PERCENT = 8
POINTS_PER_PESO = 10  # 1 / point_value

OPEN_HOUR = 7
HOUR_WEIGHTS = [6, 10, 9, 6, 5, 6, 9, 8, 5, 5, 6, 6, 5, 3]  # 07:00 .. 20:59, breakfast and lunch
TZ = dt.timezone(dt.timedelta(hours=-6))

PEOPLE = [
    ("María Fernanda López", "gold"), ("José Luis Hernández", None), ("Guadalupe Martínez", None),
    ("Juan Carlos García", None), ("Ana Sofía Ramírez", None), ("Luis Ángel Torres", None),
]

# (fraction of the day's sales after which the event happens, name)
SPECIALS = [
    (0.10, "split"), (0.15, "release"), (0.25, "void_open"), (0.35, "void_done"),
    (0.45, "refund_full"), (0.55, "refund_partial_1"), (0.62, "refund_points"),
    (0.70, "refund_gift"), (0.75, "adjust"), (0.80, "refund_partial_2"), (0.88, "duplicate"),
    (0.95, "queries"),
]


def ascii_only(text):
    """"Martínez" -> "martinez" (for e-mail addresses)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def money(cents):
    return f"{cents // 100}.{cents % 100:02d}"


class Generator:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.out = []
        self.ticket_no = 0
        self.refund_no = 0
        self.seq = {}                 # id prefix -> counter
        self.est = {}                 # customer -> estimated points balance
        self.sales = []               # refundable sales: dicts with ticket, customer, lines...
        self.points_sales = []        # sales (partly) paid with points
        self.partial = None           # the sale refunded in two parts
        self.customers = [f"card:{4000001 + i}" for i in range(a.customers)]
        self.gold = self.customers[0] if self.customers else None
        self.alias = {self.gold: "phone:+525512340001"} if self.gold else {}
        # Regulars come more often: customer i has weight 1 / (i + 1) ** 0.8.
        total, cum = 0.0, []
        for i in range(a.customers):
            total += 1.0 / (i + 1) ** 0.8
            cum.append(total)
        self.customer_cum = cum
        total, cum = 0, []
        for item in MENU:
            total += item[3]
            cum.append(total)
        self.menu_cum = cum
        self.menu_regular = [m for m in MENU if m[1] not in ("tabaco", "gift-cards")]

    # ---- helpers ------------------------------------------------------------------------
    def emit(self, obj):
        self.out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    def next_id(self, prefix):
        n = self.seq.get(prefix, 0) + 1
        self.seq[prefix] = n
        return f"{self.a.branch}-{prefix}-{n:04d}"

    def next_ticket(self):
        self.ticket_no += 1
        return f"{self.ticket_no:06d}"

    def terminal(self):
        return "T1" if self.rng.random() < 0.6 else "T2"

    def pick_customer(self):
        return self.rng.choices(self.customers, cum_weights=self.customer_cum)[0]

    def percent(self, customer):
        return GOLD_PERCENT if customer == self.gold else EARN_PERCENT

    def make_lines(self):
        rng = self.rng
        lines, seen = [], set()
        for _ in range(rng.choices((1, 2, 3, 4), (40, 35, 18, 7))[0]):
            sku, cat, price, _w = rng.choices(MENU, cum_weights=self.menu_cum)[0]
            if sku in seen:
                continue
            seen.add(sku)
            if price is None:
                grams = rng.choice(GRAMS)
                qty = f"{grams // 1000}.{grams % 1000:03d}"
                cents = (KG_PRICE_CENTS * grams + 500) // 1000
            else:
                q = rng.choices((1, 2, 3), (75, 20, 5))[0]
                qty = str(q)
                cents = q * price
                if rng.random() < 0.04:  # a line discount: amount is after discounts
                    cents -= (cents + 5) // 10
            lines.append({"n": len(lines) + 1, "sku": sku, "category": cat, "qty": qty,
                          "amount": money(cents), "_cents": cents})
        return lines

    def cash(self, cents):
        """A cash tender for `cents`: the customer hands a round amount and gets change."""
        options = []  # exact money, then rounded up to 10, 20, 50, 100, 200 or 500 pesos
        for step in (1, 1000, 2000, 5000, 10000, 20000, 50000):
            paid = -(-cents // step) * step
            if paid not in options:
                options.append(paid)
        paid = self.rng.choices(options[:4], (15, 40, 30, 15)[:len(options[:4])])[0]
        return {"method": "cash", "amount": money(paid), "change": money(paid - cents)}

    def earn_estimate(self, customer, lines, eligible_tender, total_tender):
        """Points the sale earns under cafe.toml (rules 1-3; exact for this program)."""
        if not customer or total_tender == 0:
            return 0
        w = sum(l["_cents"] for l in lines
                if l["sku"] not in EXCLUDED_SKUS and l["category"] not in EXCLUDED_CATEGORIES)
        # floor(w/100 * s * pct/100 / 0.10) with s = eligible/total
        return (w * eligible_tender * self.percent(customer) * POINTS_PER_PESO) // (
            total_tender * 100 * 100)

    @staticmethod
    def public(lines):
        return [{k: v for k, v in l.items() if not k.startswith("_")} for l in lines]

    # ---- the events -----------------------------------------------------------------
    def sale(self, at, customer, pay=None, lines=None, ticket=None, points=0):
        """Emits a sale.completed (after its points.authorize when paid with points)."""
        rng = self.rng
        ticket = ticket or self.next_ticket()
        term = self.terminal()
        lines = lines or self.make_lines()
        total = sum(l["_cents"] for l in lines)
        tenders = []
        if points:
            pts_cents = min(points * 100, total)
            self.emit({"type": "points.authorize", "id": f"{self.a.branch}-{term}-{ticket}-A",
                       "at": at, "customer": customer, "ticket": ticket,
                       "amount": money(pts_cents)})
            tenders.append({"method": "points", "amount": money(pts_cents), "hold": "$HOLD"})
            rest = total - pts_cents
            if rest > 0:
                tenders.append(self.cash(rest) if rng.random() < 0.5
                               else {"method": "debit_card", "amount": money(rest)})
            eligible, net = 0, total
            earned = 0  # on_points_tender = "block"
            self.est[customer] = self.est.get(customer, 0) - pts_cents * POINTS_PER_PESO // 100
        else:
            pay = pay or rng.choices(("cash", "debit_card", "credit_card", "split"),
                                     (50, 30, 15, 5))[0]
            if pay == "cash":
                tenders.append(self.cash(total))
                eligible = total
            elif pay == "split" and total > 10000:
                part = 5000 if total > 15000 else 2000
                tenders.append({"method": "cash", "amount": money(part)})
                tenders.append({"method": "credit_card", "amount": money(total - part)})
                eligible = part
            else:
                method = "credit_card" if pay == "split" else pay
                tenders.append({"method": method, "amount": money(total)})
                eligible = 0 if method == "credit_card" else total
            net = total
            earned = self.earn_estimate(customer, lines, eligible, net)
            if customer:
                self.est[customer] = self.est.get(customer, 0) + earned
        req = {"type": "sale.completed", "id": f"{self.a.branch}-{term}-{ticket}", "at": at,
               "branch": self.a.branch, "terminal": term, "ticket": ticket, "currency": "MXN"}
        if customer:
            # The gold customer sometimes identifies with her phone instead of her card.
            use_alias = customer in self.alias and rng.random() < 0.3
            req["customer"] = self.alias[customer] if use_alias else customer
        req["lines"] = self.public(lines)
        req["tenders"] = tenders
        self.emit(req)
        if customer:
            record = {"ticket": ticket, "customer": customer, "lines": lines,
                      "earned": earned, "tenders": tenders}
            if points:
                self.points_sales.append(record)
            elif eligible > 0:
                self.sales.append(record)
        return ticket

    def regular_sale(self, at):
        rng = self.rng
        customer = self.pick_customer() if self.customers and rng.random() < 0.7 else None
        if customer:
            est = self.est.get(customer, 0)
            # Pay with points only when the estimate leaves a margin for clawbacks.
            if est >= 400 and rng.random() < 0.25:
                pesos = min(rng.choice((20, 30, 40, 50)), (est - 100) // POINTS_PER_PESO)
                if pesos > 0:
                    self.sale(at, customer, points=pesos)
                    return
        self.sale(at, customer)

    def take_sale(self):
        """A refundable sale not refunded or voided yet (the most recent ones first)."""
        if not self.sales:
            return None
        i = len(self.sales) - 1 - self.rng.randrange(min(len(self.sales), 10))
        return self.sales.pop(i)

    def rich_customer(self):
        if not self.customers:
            return None
        return max(self.customers[:200], key=lambda c: self.est.get(c, 0))

    def refund(self, at, sale, lines, tenders=None):
        """Emits a refund.completed of `lines` of `sale` (paid back in cash by default)."""
        self.refund_no += 1
        ticket = f"R-{self.refund_no:04d}"
        term = self.terminal()
        total = sum(l["_cents"] for l in lines)
        tenders = tenders or [{"method": "cash", "amount": money(total)}]
        self.emit({"type": "refund.completed", "id": f"{self.a.branch}-{term}-{ticket}", "at": at,
                   "branch": self.a.branch, "terminal": term, "ticket": ticket,
                   "original_ticket": sale["ticket"], "original_branch": self.a.branch,
                   "customer": sale["customer"], "currency": "MXN",
                   "lines": [{k: l[k] for k in ("n", "qty", "amount") if k in l} for l in lines],
                   "tenders": tenders})
        c = sale["customer"]
        sale_total = sum(l["_cents"] for l in sale["lines"]) or 1
        self.est[c] = self.est.get(c, 0) - (sale["earned"] * total + sale_total - 1) // sale_total

    def special(self, what, at):
        rng, a = self.rng, self.a
        if what == "split":
            # Part cash, part credit card: only the cash share earns (tender share, rule 2).
            c = self.customers[min(1, len(self.customers) - 1)] if self.customers else None
            lines = [{"n": 1, "sku": "CHILAQUILES", "category": "comida", "qty": "2",
                      "amount": "220.00", "_cents": 22000},
                     {"n": 2, "sku": "CAFE-AMER", "category": "bebidas", "qty": "2",
                      "amount": "90.00", "_cents": 9000}]
            self.sale(at, c, pay="split", lines=lines)
        elif what == "release":
            # Pay with points? The customer changes her mind: release, then pay by card.
            c = self.rich_customer()
            if not c or self.est.get(c, 0) < 300:
                return
            t = self.next_ticket()
            term = self.terminal()
            self.emit({"type": "points.authorize", "id": f"{a.branch}-{term}-{t}-A", "at": at,
                       "customer": c, "ticket": t, "amount": "25.00"})
            self.emit({"type": "points.release", "id": f"{a.branch}-{term}-{t}-L", "at": at,
                       "hold": "$HOLD", "ticket": t})
            self.sale(at, c, pay="debit_card", ticket=t)
        elif what == "void_open":
            c = self.rich_customer()
            if not c or self.est.get(c, 0) < 300:
                return
            t = self.next_ticket()
            term = self.terminal()
            self.emit({"type": "points.authorize", "id": f"{a.branch}-{term}-{t}-A", "at": at,
                       "customer": c, "ticket": t, "amount": "15.00"})
            self.emit({"type": "sale.voided", "id": f"{a.branch}-{term}-{t}-V", "at": at,
                       "ticket": t})
        elif what == "void_done":
            c = self.customers[min(2, len(self.customers) - 1)] if self.customers else None
            t = self.sale(at, c, pay="cash")
            if c and self.sales and self.sales[-1]["ticket"] == t:
                s = self.sales.pop()
                self.est[c] = self.est.get(c, 0) - s["earned"]
            self.emit({"type": "sale.voided", "id": f"{a.branch}-T1-{t}-V", "at": at, "ticket": t})
        elif what == "refund_full":
            s = self.take_sale()
            if s:
                self.refund(at, s, s["lines"])
        elif what == "refund_partial_1":
            s = self.take_sale()
            if s:
                first = dict(s["lines"][0])
                q = first["qty"]
                if "." not in q and int(q) > 1:
                    part = first["_cents"] // int(q)
                    first.update(qty="1", _cents=part, amount=money(part))
                else:
                    part = first["_cents"] // 2
                    first.update(_cents=part, amount=money(part))
                    if "." in q:  # half the weight
                        grams = int(q.replace(".", "")) // 2
                        first["qty"] = f"{grams // 1000}.{grams % 1000:03d}"
                    else:
                        first.pop("qty")
                self.refund(at, s, [first])
                s["refunded_first"] = first
                self.partial = s
        elif what == "refund_partial_2" and self.partial:
            # The rest of the same sale: the two refunds together give back everything.
            s, self.partial = self.partial, None
            first, done = s["lines"][0], s["refunded_first"]
            rest = []
            left = first["_cents"] - done["_cents"]
            if left > 0:
                r = dict(first, _cents=left, amount=money(left))
                if "qty" in done and "." not in first["qty"]:
                    r["qty"] = str(int(first["qty"]) - int(done["qty"]))
                elif "qty" in done:
                    grams = int(first["qty"].replace(".", "")) - int(done["qty"].replace(".", ""))
                    r["qty"] = f"{grams // 1000}.{grams % 1000:03d}"
                else:
                    r.pop("qty")
                rest.append(r)
            rest.extend(s["lines"][1:])
            if rest:
                self.refund(at, s, rest)
        elif what == "refund_points":
            # The customer brings back an item and takes the refund as points.
            if self.points_sales:
                s = self.points_sales.pop()
                pts = next(t for t in s["tenders"] if t["method"] == "points")
                line = s["lines"][0]
                cents = min(line["_cents"], int(pts["amount"].replace(".", "")))
            else:
                s = self.take_sale()
                if not s:
                    return
                line = s["lines"][0]
                cents = line["_cents"]
            tenders = [{"method": "points", "amount": money(cents)}]
            if line["_cents"] > cents:
                tenders.append({"method": "cash", "amount": money(line["_cents"] - cents)})
            self.refund(at, s, [line], tenders)
            restored = cents * POINTS_PER_PESO // 100
            self.est[s["customer"]] = self.est.get(s["customer"], 0) + restored
        elif what == "refund_gift":
            c = self.customers[min(3, len(self.customers) - 1)] if self.customers else None
            if not c:
                return
            lines = [{"n": 1, "sku": "GIFT-100", "category": "gift-cards", "qty": "1",
                      "amount": "100.00", "_cents": 10000},
                     {"n": 2, "sku": "CAFE-AMER", "category": "bebidas", "qty": "1",
                      "amount": "45.00", "_cents": 4500}]
            t = self.sale(at, c, pay="cash", lines=lines)
            s = next(x for x in reversed(self.sales) if x["ticket"] == t)
            self.sales.remove(s)
            self.refund(at, s, [lines[0]])
        elif what == "adjust":
            c = self.customers[min(4, len(self.customers) - 1)] if self.customers else None
            if c:
                self.emit({"type": "points.adjust", "id": self.next_id("ADM-J"), "at": at,
                           "customer": c, "points": 50,
                           "reason": "cortesía: café derramado", "operator": "gerente.ana"})
                self.est[c] = self.est.get(c, 0) + 50
        elif what == "duplicate":
            # The POS timed out and sent its last sale again: same id, same body.
            for line in reversed(self.out):
                if line.startswith('{"type":"sale.completed"'):
                    self.out.append(line)
                    break
        elif what == "queries":
            day = at[:10]
            for c in self.customers[:3]:
                self.emit({"type": "balance.query", "id": self.next_id("T1-Q"), "at": at,
                           "customer": c})
            if self.gold:
                self.emit({"type": "history.query", "id": self.next_id("T1-Q"), "at": at,
                           "customer": self.alias[self.gold],
                           "from": f"{day}T00:00:00-06:00", "to": at})

    def mistakes(self, at):
        """Malformed requests a real POS might send; pos-sim prints the plugin's errors."""
        a = self.a
        self.emit({"type": "sale.completed", "id": f"{a.branch}-T9-BAD-1", "at": at,
                   "ticket": "BAD-1", "lines": [{"n": 1, "sku": "CAFE-AMER", "qty": "1",
                                                 "amount": "-45.00"}]})
        self.emit({"type": "sale.reopened", "id": f"{a.branch}-T9-BAD-2", "at": at})
        self.out.append('{"type":"sale.completed","id":"B01-T9-BAD-3",')
        for line in self.out:  # same id as an earlier sale, different body: a conflict
            if line.startswith('{"type":"sale.completed"'):
                first = json.loads(line)
                first["lines"][0]["amount"] = "1.00"
                self.emit(first)
                break

    def run(self):
        a, rng = self.a, self.rng
        start = dt.date.fromisoformat(a.date)
        for i, (name, category) in enumerate(PEOPLE[:min(len(PEOPLE), a.customers)]):
            first, last = name.split(" ", 1)[0].lower(), name.rsplit(" ", 1)[1].lower()
            req = {"type": "customer.upsert", "id": self.next_id("T1-C"),
                   "at": f"{a.date}T07:00:00-06:00", "customer": self.customers[i], "name": name,
                   "email": f"{ascii_only(first)}.{ascii_only(last)}@example.com",
                   "phone": f"+5255123400{i + 1:02d}"}
            if category:
                req["category"] = category
            if self.customers[i] in self.alias:
                req["aliases"] = [self.alias[self.customers[i]]]
            if i == 1:
                req["birthday"] = "1988-11-22"
            self.emit(req)
        base, extra = divmod(a.sales, a.days)
        for day in range(a.days):
            date = start + dt.timedelta(days=day)
            n = base + (1 if day < extra else 0)
            opening = dt.datetime(date.year, date.month, date.day, OPEN_HOUR, tzinfo=TZ)
            hours = rng.choices(range(len(HOUR_WEIGHTS)), HOUR_WEIGHTS, k=n)
            offsets = sorted(h * 3600 + rng.randrange(3600) for h in hours)
            marks = {}
            for frac, what in SPECIALS:
                marks.setdefault(int(n * frac), []).append(what)
            for k, off in enumerate(offsets):
                at = (opening + dt.timedelta(seconds=off)).isoformat()
                self.regular_sale(at)
                for what in marks.get(k, ()):
                    self.special(what, at)
            if a.mistakes and n:
                self.mistakes(at)
        return self.out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--sales", type=int, default=300, help="regular sales in all (default 300)")
    p.add_argument("--customers", type=int, default=40, help="card holders (default 40)")
    p.add_argument("--days", type=int, default=1, help="days to spread the sales over")
    p.add_argument("--date", default="2026-11-22", help="first day (default 2026-11-22)")
    p.add_argument("--branch", default="B01", help="branch id (default B01)")
    p.add_argument("--mistakes", action="store_true",
                   help="end each day with a few malformed requests (errors on purpose)")
    p.add_argument("--out", default="-", help="output file (default: stdout)")
    a = p.parse_args()
    if a.sales < 0 or a.customers < 0 or a.days < 1:
        p.error("--sales and --customers must be >= 0 and --days >= 1")
    try:
        dt.date.fromisoformat(a.date)
    except ValueError:
        p.error(f"--date {a.date!r} is not YYYY-MM-DD")
    text = "\n".join(Generator(a).run()) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with open(a.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


if __name__ == "__main__":
    main()
