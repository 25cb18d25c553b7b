"""Tests of the arithmetic golden models against separate per-pair bit-level definitions."""

from __future__ import annotations

import dataclasses
import zipfile
from fractions import Fraction

import numpy as np
import pytest

from refmodels.arith import (
    UnitError,
    UnitSpec,
    error_metrics,
    from_code,
    list_units,
    load_lut_unit,
    make_lut,
    metrics_from_outputs,
    parse_unit,
    register_lut_unit,
    save_lut_unit,
    to_code,
    unit_names,
    unregister_lut_unit,
)
from refmodels.arith.adders import gear_valid_pairs
from refmodels.arith.metrics import main as metrics_main

# --------------------------------------------------------------------------------------------
# Independent per-pair reference definitions (plain Python integers, bit by bit)
# --------------------------------------------------------------------------------------------


def bit(x: int, i: int) -> int:
    return (x >> i) & 1


def leading_one(x: int) -> int:
    pos = -1
    i = 0
    while (x >> i) != 0:
        if bit(x, i):
            pos = i
        i += 1
    return pos


def ref_exact(a, b, n, signed=False):
    return a * b


def ref_ctrunc(a, b, n, t, k, c, g, signed=False):
    """Bit by bit on the operand codes: kept partial products (sign rows negative when
    signed), OR of each compensated column, the constant; modulo 2**(2n)."""
    mask = (1 << n) - 1
    ca, cb = a & mask, b & mask
    total = c
    for col in range(max(0, t - k), t):
        if any(bit(ca, i) and bit(cb, col - i) for i in range(n) if 0 <= col - i < n):
            total += 1 << col
    for i in range(n):
        for j in range(n):
            if i + j >= t and bit(ca, i) and bit(cb, j):
                negative = signed and ((i == n - 1) != (j == n - 1))
                total += -(1 << (i + j)) if negative else 1 << (i + j)
    total %= 1 << (2 * n)
    if signed and total >= 1 << (2 * n - 1):
        total -= 1 << (2 * n)
    return total


def ref_bam(a, b, n, t, h, k, c, g, signed=False):
    """Bit by bit: a partial product a_i b_j counts iff i >= h and i + j >= t (sign rows
    negative when signed); OR columns over the kept rows; the constant; modulo 2**(2n)."""
    mask = (1 << n) - 1
    ca, cb = a & mask, b & mask
    total = c
    for col in range(max(0, t - k), t):
        if any(bit(ca, i) and bit(cb, col - i) for i in range(h, n) if 0 <= col - i < n):
            total += 1 << col
    for i in range(h, n):
        for j in range(n):
            if i + j >= t and bit(ca, i) and bit(cb, j):
                negative = signed and ((i == n - 1) != (j == n - 1))
                total += -(1 << (i + j)) if negative else 1 << (i + j)
    total %= 1 << (2 * n)
    if signed and total >= 1 << (2 * n - 1):
        total -= 1 << (2 * n)
    return total


def ref_tern(a, b, n, t, h, k, c, signed=False):
    """The function of bam (the ternary tree only changes the circuit)."""
    return ref_bam(a, b, n, t, h, k, c, 1, signed)


def ref_cmp(a, b, n, t, k, c, l, signed=False):  # noqa: E741
    """The compressor tree evaluated bit by bit: each compressor as the count of its inputs
    (an exact one) or of its OR-ed input pairs (an approximate one), written out in binary."""
    from refmodels.arith.compressors import plan

    mask = (1 << n) - 1
    ca, cb = a & mask, b & mask
    p = plan(n, t, l, signed)
    vals = {}
    for idx, src in enumerate(p["bits"]):
        if src[0] == "pp":
            v = bit(ca, src[1]) & bit(cb, src[2])
            vals[idx] = 1 - v if src[3] else v
        elif src[0] == "one":
            vals[idx] = 1
    for kind, _col, ins, outs in p["ops"]:
        xs = [vals[i] for i in ins]
        count = sum(xs) if kind in ("fa", "c63") else sum(
            xs[j] | xs[j + 1] for j in range(0, len(xs), 2))
        for o_k, o in enumerate(outs):
            vals[o] = bit(count, o_k)
    total = c
    for row in p["rows"]:
        total += sum(vals[b_] << col for col, b_ in enumerate(row) if b_ is not None)
    for col in range(max(0, t - k), t):
        if any(bit(ca, i) and bit(cb, col - i) for i in range(n) if 0 <= col - i < n):
            total += 1 << col
    total %= 1 << (2 * n)
    if signed and total >= 1 << (2 * n - 1):
        total -= 1 << (2 * n)
    return total


def ref_trunc(a, b, n, t):
    total = 0
    for i in range(n):
        for j in range(n):
            if i + j >= t and bit(a, i) and bit(b, j):
                total += 1 << (i + j)
    return total


def ref_mitchell(a, b, n):
    if a == 0 or b == 0:
        return 0
    k1, k2 = leading_one(a), leading_one(b)
    x1 = Fraction(a, 1 << k1) - 1
    x2 = Fraction(b, 1 << k2) - 1
    if x1 + x2 < 1:
        value = Fraction(1 << (k1 + k2)) * (1 + x1 + x2)
    else:
        value = Fraction(1 << (k1 + k2 + 1)) * (x1 + x2)
    return value.numerator // value.denominator


def drum_operand(x, k):
    t = leading_one(x)
    if t < k:  # fewer than k+1 significant bits: kept as is
        return x, 0
    seg = 0
    for pos in range(t, t - k, -1):
        seg = (seg << 1) | bit(x, pos)
    return seg | 1, t - k + 1


def ref_drum(a, b, n, k):
    sa, ha = drum_operand(a, k)
    sb, hb = drum_operand(b, k)
    return (sa * sb) * 2 ** (ha + hb)


def kulkarni_rec(a, b, n):
    if n == 2:
        return 7 if (a, b) == (3, 3) else a * b
    lo = 2 * max(1, n // 4)  # even split on a 2-bit digit boundary
    hi = n - lo
    al, ah = a % (1 << lo), a >> lo
    bl, bh = b % (1 << lo), b >> lo
    return (
        (kulkarni_rec(ah, bh, hi) << (2 * lo))
        + ((kulkarni_rec(ah, bl, max(hi, lo)) + kulkarni_rec(al, bh, max(hi, lo))) << lo)
        + kulkarni_rec(al, bl, lo)
    )


def ref_kulkarni(a, b, n):
    return kulkarni_rec(a, b, n + (n % 2))


def ref_etm(a, b, n, k):
    ah, bh = a >> k, b >> k
    if ah == 0 and bh == 0:
        return a * b
    result = (ah * bh) << (2 * k)
    flag = 0
    for j in range(k - 1, -1, -1):  # checking from the most significant low bit down
        flag |= bit(a, j) | bit(b, j)
        result |= flag << (k + j)
    for j in range(k):
        result |= flag << j
    return result


def roba_round(x):
    if x == 0:
        return 0
    k = leading_one(x)
    down, up = 1 << k, 1 << (k + 1)
    return up if (up - x) <= (x - down) else down  # tie goes to the larger power


def ref_roba(a, b, n):
    ar, br = roba_round(a), roba_round(b)
    return ar * b + a * br - ar * br


def ref_add(a, b, n):
    return a + b


def ripple(a, b, lo, hi, cin):
    """Ripple-carry over bit positions lo..hi-1: returns ({pos: sum bit}, carry out)."""
    sums, carry = {}, cin
    for i in range(lo, hi):
        x, y = bit(a, i), bit(b, i)
        sums[i] = x ^ y ^ carry
        carry = (x & y) | (x & carry) | (y & carry)
    return sums, carry


def ref_loa(a, b, n, l, c):
    result = 0
    for i in range(l):
        result |= (bit(a, i) | bit(b, i)) << i
    cin = (bit(a, l - 1) & bit(b, l - 1)) if c else 0
    sums, cout = ripple(a, b, l, n, cin)
    for i, s in sums.items():
        result |= s << i
    return result | (cout << n)


def ref_gear(a, b, n, r, p):
    count = (n - r - p) // r + 1
    result = 0
    for i in range(n):
        j = 0 if i < r + p else (i - p) // r  # sub-adder that produces result bit i
        sums, _ = ripple(a, b, j * r, i + 1, 0)
        result |= sums[i] << i
    _, cout = ripple(a, b, (count - 1) * r, n, 0)
    return result | (cout << n)


REFS = {
    "exact": ref_exact,
    "trunc": ref_trunc,
    "mitchell": ref_mitchell,
    "drum": ref_drum,
    "kulkarni": ref_kulkarni,
    "etm": ref_etm,
    "roba": ref_roba,
    "ctrunc": ref_ctrunc,
    "bam": ref_bam,
    "tern": ref_tern,
    "cmp": ref_cmp,
    "add": ref_add,
    "loa": ref_loa,
    "gear": ref_gear,
}


def reference(spec: UnitSpec, a: int, b: int) -> int:
    """Reference result for operand values a, b."""
    n, f, params = spec.width, REFS[spec.name], spec.params
    if spec.unit.native_signed:  # two's complement circuit: no sign-magnitude wrapper
        return f(a, b, n, signed=bool(spec.signed), **params)
    if not spec.signed:
        return f(a, b, n, **params)
    if spec.kind == "mul":  # sign-magnitude around the unsigned unit
        p = f(abs(a), abs(b), n, **params)
        return -p if (a < 0) != (b < 0) else p
    mask = (1 << n) - 1  # same circuit on the two's complement codes
    ca, cb = a & mask, b & mask
    raw = f(ca, cb, n, **params)
    top = bit(ca, n - 1) ^ bit(cb, n - 1) ^ bit(raw, n)
    value = (raw & mask) | (top << n)
    return value - (1 << (n + 1)) if top else value


def sample_pairs(spec: UnitSpec, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs when there are at most `count`, else corner values plus random pairs."""
    lo, hi = spec.operand_range()
    if (hi - lo + 1) ** 2 <= count:
        vals = np.arange(lo, hi + 1)
        a, b = np.meshgrid(vals, vals, indexing="ij")
        return a.ravel(), b.ravel()
    n = spec.width
    corners = {lo, hi, 0, 1, lo + 1, hi - 1, 3, 1 << (n - 2), 3 << (n - 3)}
    corners = np.array(sorted(v for v in corners if lo <= v <= hi))
    ca, cb = np.meshgrid(corners, corners, indexing="ij")
    rng = np.random.default_rng(seed)
    ra = rng.integers(lo, hi, size=count, endpoint=True)
    rb = rng.integers(lo, hi, size=count, endpoint=True)
    return np.concatenate([ca.ravel(), ra]), np.concatenate([cb.ravel(), rb])


def check_against_reference(spec: UnitSpec, count: int, seed: int = 1) -> None:
    a, b = sample_pairs(spec, count, seed)
    got = spec(a, b)
    assert got.dtype == np.int64 and got.shape == a.shape
    want = np.array([reference(spec, int(x), int(y)) for x, y in zip(a, b, strict=True)])
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (
        f"{spec}: {bad.size} mismatches, first a={a[bad[0]]} b={b[bad[0]]} "
        f"model={got[bad[0]]} reference={want[bad[0]]}"
    )
    lo, hi = spec.output_range()
    assert got.min() >= lo and got.max() <= hi


BUILTIN = [u.name for u in list_units() if u.builtin]
PAIRS_PER_WIDTH = {4: 256, 5: 1024, 7: 600, 8: 1500, 12: 400, 16: 300}

# --------------------------------------------------------------------------------------------
# Models against the references
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("width", [4, 5, 7, 8, 12, 16])
@pytest.mark.parametrize("name", BUILTIN)
def test_default_units_match_reference(name, width, signed):
    spec = parse_unit(name, width=width, signed=signed)
    check_against_reference(spec, PAIRS_PER_WIDTH[width], seed=width)


def param_grid(name: str, width: int, signed: int):
    udef = next(u for u in list_units() if u.name == name)
    if name == "gear":
        return [{"r": r, "p": p} for r, p in gear_valid_pairs(width)]
    if name == "ctrunc":  # g shapes the hardware only: one value; c at its ends and middle
        ts = range(0, 2 * width - 1) if width <= 4 else (0, width // 2, width - 1, 2 * width - 2)
        return [{"t": t, "k": k, "c": c, "g": 1 + (t % width)}
                for t in ts for k in range(0, t + 1)
                for c in sorted({0, (1 << (t - k)) // 2, (1 << (t - k)) - 1})]
    if name == "bam":  # as ctrunc, with every row-drop level and k at its ends and middle
        ts = range(0, 2 * width - 1) if width <= 4 else (0, width // 2, width - 1, 2 * width - 2)
        hs = range(width) if width <= 4 else (0, 1, width // 2, width - 1)
        return [{"t": t, "h": h, "k": k, "c": c, "g": 1 + ((t + h) % width)}
                for t in ts for h in hs for k in sorted({0, t // 2, t})
                for c in sorted({0, (1 << (t - k)) // 2, (1 << (t - k)) - 1})]
    if name in ("tern", "cmp"):  # t at every value (width 4), k and c at their ends
        ts = range(0, 2 * width - 1) if width <= 4 else (0, width // 2, width - 1, 2 * width - 2)
        third = (("h", (0, 1, width - 1)) if name == "tern" else
                 ("l", (0, width - 1, width + 1, 2 * width)))
        return [{"t": t, "k": k, "c": c, third[0]: x}
                for t in ts for k in sorted({0, t}) for x in third[1]
                for c in sorted({0, (1 << (t - k)) - 1})]
    grid = [{}]
    for p in udef.params:
        grid = [dict(g, **{p.name: v}) for g in grid for v in range(p.lo(width), p.hi(width) + 1)]
    if name == "drum" and signed:
        grid = [g for g in grid if g["k"] >= 3]  # k=2 would overflow the signed output
    return grid


@pytest.mark.parametrize("name", [n for n in BUILTIN if n not in ("exact", "add")])
def test_all_parameters_exhaustive_width4(name):
    for signed in (0, 1):
        for params in param_grid(name, 4, signed):
            check_against_reference(UnitSpec(name, width=4, signed=signed, params=params), 256)


def test_ctrunc_special_cases():
    a, b = (x.ravel() for x in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    sa, sb = a - 128, b - 128
    for g in (1, 2, 8):
        assert np.array_equal(parse_unit(f"ctrunc:t=0,k=0,g={g}")(a, b), a * b)
        assert np.array_equal(parse_unit(f"ctrunc:t=0,k=0,g={g},signed=1")(sa, sb), sa * sb)
    # no OR columns, no constant: the plain truncated array
    for t in (3, 6, 9):
        assert np.array_equal(parse_unit(f"ctrunc:t={t},k=0,c=0")(a, b),
                              parse_unit(f"trunc:t={t}")(a, b))
    # OR columns never exceed the dropped sum: the unsigned unit never over-estimates
    # when c = 0, and the constant shifts every result by exactly c
    base = parse_unit("ctrunc:t=7,k=3,c=0")(a, b)
    assert (base <= a * b).all()
    assert np.array_equal(parse_unit("ctrunc:t=7,k=3,c=9")(a, b), base + 9)
    with pytest.raises(UnitError, match="must be below 2"):
        parse_unit("ctrunc:t=7,k=2,c=32")
    with pytest.raises(UnitError, match="must not exceed"):
        parse_unit("ctrunc:t=3,k=4")


def test_bam_special_cases():
    a, b = (x.ravel() for x in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    sa, sb = a - 128, b - 128
    # h = 0: the same function as ctrunc (the groups only shape the hardware)
    for t, k, c in ((0, 0, 0), (7, 2, 20), (9, 3, 40)):
        for signed, (x, y) in ((0, (a, b)), (1, (sa, sb))):
            want = parse_unit(f"ctrunc:t={t},k={k},c={c},signed={signed}")(x, y)
            for g in (1, 3, 8):
                got = parse_unit(f"bam:t={t},h=0,k={k},c={c},g={g},signed={signed}")(x, y)
                assert np.array_equal(got, want)
    # dropping rows: the low h bits of a are ignored (no columns, no correction)
    for h in (1, 3, 7):
        got = parse_unit(f"bam:t=0,h={h},k=0,c=0")(a, b)
        assert np.array_equal(got, ((a >> h) << h) * b)
    with pytest.raises(UnitError, match="out of range"):
        parse_unit("bam:h=8")
    with pytest.raises(UnitError, match="must be below 2"):
        parse_unit("bam:t=7,k=2,c=32")


def test_tern_and_cmp_special_cases():
    a, b = (x.ravel() for x in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    sa, sb = a - 128, b - 128
    for signed, (x, y) in ((0, (a, b)), (1, (sa, sb))):
        # tern is bam's function; cmp with no approximate column (l <= t) is ctrunc's
        for t, h, k, c in ((0, 0, 0, 0), (7, 1, 2, 20), (9, 0, 3, 40)):
            want = parse_unit(f"bam:t={t},h={h},k={k},c={c},signed={signed}")(x, y)
            got = parse_unit(f"tern:t={t},h={h},k={k},c={c},signed={signed}")(x, y)
            assert np.array_equal(got, want)
            if h == 0:
                for l_ in (0, t):
                    got = parse_unit(f"cmp:t={t},k={k},c={c},l={l_},signed={signed}")(x, y)
                    assert np.array_equal(got, want)
    # the approximate compressors only lose counts (an OR pair counts 1 for two ones): the
    # unsigned tree without truncation never over-estimates and errs for l > 0
    for l_ in (4, 8, 16):
        got = parse_unit(f"cmp:t=0,k=0,c=0,l={l_}")(a, b)
        assert (got <= a * b).all() and (got != a * b).any()
    with pytest.raises(UnitError, match="out of range"):
        parse_unit("cmp:l=17")
    with pytest.raises(UnitError, match="must be below 2"):
        parse_unit("tern:t=7,k=2,c=32")


@pytest.mark.parametrize("name", ["trunc", "drum", "etm", "loa", "gear", "ctrunc", "bam", "tern",
                                  "cmp"])
def test_all_parameters_width8(name):
    for params in param_grid(name, 8, 0):
        check_against_reference(UnitSpec(name, width=8, params=params), 200, seed=3)
    for params in param_grid(name, 8, 1):
        check_against_reference(UnitSpec(name, width=8, signed=1, params=params), 100, seed=4)


def test_signed_adders_exact_and_mul_fit():
    for name in BUILTIN:
        spec = parse_unit(name, signed=1)
        table = make_lut(spec)
        lo, hi = spec.output_range()
        assert table.min() >= lo and table.max() <= hi, name
    exact_add = parse_unit("add", signed=1)
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    assert np.array_equal(exact_add(a, b), a + b)


@pytest.mark.parametrize("signed", [0, 1])
def test_roba_fits_output_exhaustive_8bit(signed):
    spec = parse_unit("roba", signed=signed)
    table = make_lut(spec)
    lo, hi = spec.output_range()
    assert table.min() >= lo and table.max() <= hi
    if not signed:
        assert table.max() < 2**16


def test_roba_tie_rule_rounds_up():
    spec = parse_unit("roba")
    # 3 * 2**(p-2) is rounded up to 2**p, so the neglected term (a-Ar)(b-Br) decides the sign
    assert int(spec(3, 3)) == 4 * 3 + 3 * 4 - 16  # 8 (exact 9)
    assert int(spec(12, 5)) == 16 * 5 + 12 * 4 - 64  # Ar=16, Br=4
    assert int(spec(11, 5)) == 8 * 5 + 11 * 4 - 32  # 11 < 12: rounded down to 8


def test_approximation_directions():
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    exact = a * b
    for name in ("mitchell", "trunc", "kulkarni"):
        out = parse_unit(name)(a, b)
        assert np.all(out <= exact), name
        assert np.any(out < exact), name
    loa = parse_unit("loa:c=0")(a, b)
    assert np.all(loa <= a + b)


def test_etm_both_high_parts_zero_is_exact():
    spec = parse_unit("etm:k=4")
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    assert np.array_equal(spec(a, b), a * b)
    assert int(spec(0x10, 0x01)) == 0x1F  # a_hi*b_hi = 0, low OR chain from bit 0: 2**5 - 1


# --------------------------------------------------------------------------------------------
# Metrics and the guide's cross-check figures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, figures",
    [
        ("drum:k=6", {"mae_pct": 0.355, "wce_pct": 3.05, "mre_pct": 1.30}),
        ("drum:k=4", {"mae_pct": 1.41, "mre_pct": 5.89}),
        ("trunc:t=6", {"mae_pct": 0.12, "mre_pct": 2.64}),
        ("mitchell", {"mae_pct": 0.925, "wce_pct": 6.25, "mre_pct": 3.79}),
    ],
)
def test_guide_cross_check_figures(unit, figures):
    m = error_metrics(unit)
    assert m["exhaustive"] and m["n_pairs"] == 2**16
    for key, value in figures.items():
        assert m[key] == pytest.approx(value, abs=0.006), key


def test_metrics_from_outputs_by_hand():
    m = metrics_from_outputs([1, 2, 3, 0], [1, 3, 1, 0], "add", 2, exhaustive=False)
    assert m["mae"] == pytest.approx(0.75)
    assert m["mae_pct"] == pytest.approx(100 * 0.75 / 8)
    assert m["wce"] == 2 and m["wce_pct"] == pytest.approx(25.0)
    assert m["mse"] == pytest.approx(1.25)
    assert m["ep_pct"] == pytest.approx(50.0)
    assert m["mre_pct"] == pytest.approx(100 * (0 + 1 / 3 + 2) / 3)
    assert m["wcre_pct"] == pytest.approx(200.0)
    assert m["bias"] == pytest.approx(0.25)
    assert m["n_pairs"] == 4 and m["exhaustive"] is False
    mul = metrics_from_outputs([4], [6], "mul", 2)
    assert mul["mae_pct"] == pytest.approx(100 * 2 / 16)
    with pytest.raises(ValueError):
        metrics_from_outputs([1, 2], [1], "mul", 2)
    with pytest.raises(UnitError):
        metrics_from_outputs([1], [1], "div", 2)


def test_error_metrics_matches_outputs_and_exact_is_zero():
    for name in ("exact", "add"):
        m = error_metrics(parse_unit(name, signed=1))
        assert m["mae"] == 0 and m["wce"] == 0 and m["ep_pct"] == 0 and m["mre_pct"] == 0
    spec = parse_unit("loa:l=3", width=6)
    m = error_metrics(spec)
    vals = np.arange(64)
    a, b = np.meshgrid(vals, vals, indexing="ij")
    direct = metrics_from_outputs(spec(a, b), a + b, "add", 6)
    assert m == direct and m["n_pairs"] == 4096


def test_error_metrics_sampled_above_8_bits():
    m1 = error_metrics("drum:width=12", samples=5000, seed=7)
    m2 = error_metrics("drum:width=12", samples=5000, seed=7)
    m3 = error_metrics("drum:width=12", samples=5000, seed=8)
    assert m1 == m2 and m1 != m3
    assert m1["n_pairs"] == 5000 and m1["exhaustive"] is False
    assert m1["mae_pct"] == pytest.approx(0.355, abs=0.05)  # DRUM error barely depends on n


def test_metrics_cli_prints_all_units(capsys):
    assert metrics_main(["--width", "4"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN:
        assert f"`{parse_unit(name, width=4)}`" in out
        assert f"`{parse_unit(name, width=4, signed=1)}`" in out


# --------------------------------------------------------------------------------------------
# Codes and tables
# --------------------------------------------------------------------------------------------


def test_codes_round_trip_and_errors():
    vals = np.arange(-128, 128)
    codes = to_code(vals, 8)
    assert codes.min() == 0 and codes.max() == 255
    assert np.array_equal(from_code(codes, 8, 1), vals)
    assert np.array_equal(from_code(np.arange(256), 8, 0), np.arange(256))
    assert int(to_code(-1, 8)) == 255 and int(from_code(255, 8, True)) == -1
    with pytest.raises(ValueError):
        to_code(256, 8)
    with pytest.raises(ValueError):
        from_code(256, 8, 0)
    with pytest.raises(ValueError):
        from_code(-1, 8, 1)
    with pytest.raises(ValueError):
        to_code(1.5, 8)
    with pytest.raises(ValueError):
        to_code(np.array([2**64 - 1], dtype=np.uint64), 8)


@pytest.mark.parametrize("unit", ["drum:k=4,signed=1", "etm:signed=1", "loa:signed=1", "gear"])
def test_lut_indexing(unit):
    spec = parse_unit(unit)
    table = make_lut(spec)
    assert table.shape == (256, 256) and table.dtype == np.int64
    rng = np.random.default_rng(5)
    for i, j in rng.integers(0, 256, size=(300, 2)):
        ai = int(np.array(i, dtype=np.uint8).view(np.int8)) if spec.signed else int(i)
        bj = int(np.array(j, dtype=np.uint8).view(np.int8)) if spec.signed else int(j)
        assert table[i][j] == reference(spec, ai, bj)


def test_make_lut_width_limit():
    with pytest.raises(UnitError, match="width <= 12"):
        make_lut("exact:width=16")


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_round_trip_defaults():
    assert set(BUILTIN) == {
        "exact", "trunc", "mitchell", "drum", "kulkarni", "etm", "roba", "ctrunc", "bam",
        "tern", "cmp", "add", "loa", "gear"
    }  # fmt: skip
    for name in BUILTIN:
        for width in range(4, 17):
            for signed in (0, 1):
                spec = parse_unit(f"{name}:width={width},signed={signed}")
                s = str(spec)
                assert str(parse_unit(s)) == s
                assert parse_unit(s) == spec and hash(parse_unit(s)) == hash(spec)
                assert spec.out_width == (2 * width if spec.kind == "mul" else width + 1)
    assert str(parse_unit("drum")) == "drum:k=6,width=8,signed=0"
    assert str(parse_unit(" drum : signed=1 , k=5 ")) == "drum:k=5,width=8,signed=1"
    assert str(parse_unit("trunc:width=4")) == "trunc:t=2,width=4,signed=0"
    assert str(parse_unit("loa")) == "loa:l=4,c=1,width=8,signed=0"
    assert str(parse_unit("exact")) == "exact:width=8,signed=0"
    assert parse_unit("drum", width=12).params == {"k": 6}
    assert parse_unit(parse_unit("drum")) == parse_unit("drum:k=6")


def test_unit_spec_attributes():
    spec = parse_unit("drum:k=6,width=8,signed=1")
    assert (spec.name, spec.kind, spec.width, spec.signed) == ("drum", "mul", 8, 1)
    assert spec.params == {"k": 6} and spec.builtin
    assert spec.operand_range() == (-128, 127)
    assert parse_unit("add").operand_range() == (0, 255)
    assert {spec: 1}[parse_unit("drum:signed=1")] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.width = 4
    assert UnitSpec("drum", width=8, signed=1, k=6) == spec
    assert spec.replace(k=4) == parse_unit("drum:k=4,signed=1")
    assert int(spec.exact(-3, 5)) == -15 and int(parse_unit("add").exact(3, 5)) == 8
    assert np.array_equal(spec([1, 2], 3), [3, 6])  # broadcasting


@pytest.mark.parametrize(
    "unit, module",
    [
        ("drum:k=6,signed=1", "drum_k6_w8_s"),
        ("trunc", "trunc_t6_w8_u"),
        ("gear", "gear_r2_p2_w8_u"),
        ("loa", "loa_l4_c1_w8_u"),
        ("exact", "exact_w8_u"),
        ("add:width=16,signed=1", "add_w16_s"),
    ],
)
def test_module_names(unit, module):
    assert parse_unit(unit).module_name == module


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("nosuch", "valid units: exact, trunc"),
        ("drum:q=3", "valid parameters: k"),
        ("drum:k=9", "drum: k=9 out of range 2..8 for width=8"),
        ("drum:k=1", "out of range 2..8"),
        ("trunc:t=15", "t=15 out of range 0..14 for width=8"),
        ("exact:width=3", "width=3 out of range 4..16"),
        ("exact:width=17", "out of range 4..16"),
        ("add:signed=2", "must be 0 or 1"),
        ("drum:k", "expected key=value"),
        ("drum:k=x", "not an integer"),
        ("drum:k=4,k=5", "given twice"),
        ("gear:r=3,p=1", "valid (r, p) pairs: (1, 0)"),
        ("drum:k=2,signed=1", "valid k for signed width=8: 3..8"),
        ("", "valid units"),
    ],
)
def test_parse_errors(text, fragment):
    with pytest.raises(UnitError) as info:
        parse_unit(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_gear_error_lists_exactly_valid_pairs():
    with pytest.raises(UnitError) as info:
        parse_unit("gear:r=3,p=1,width=8")
    msg = str(info.value)
    for r, p in gear_valid_pairs(8):
        assert f"({r}, {p})" in msg
        parse_unit(f"gear:r={r},p={p}")  # every listed pair is accepted
    assert "(3, 1)" not in msg.split("valid (r, p) pairs:")[1]


def test_operand_validation():
    spec = parse_unit("drum")
    with pytest.raises(ValueError, match="out of range 0..255"):
        spec(256, 1)
    with pytest.raises(ValueError):
        spec(-1, 1)
    with pytest.raises(ValueError, match="out of range -128..127"):
        parse_unit("drum:signed=1")(1, 128)
    with pytest.raises(ValueError, match="integers"):
        spec(np.array([1.0]), 1)
    with pytest.raises(ValueError, match="out of range"):  # must not wrap to -1
        parse_unit("drum:signed=1")(np.array([2**64 - 1], dtype=np.uint64), 1)
    assert int(spec(np.uint8(255), np.int16(2))) == int(spec(255, 2))


def test_unit_listing():
    assert unit_names("mul") == [
        "exact", "trunc", "mitchell", "drum", "kulkarni", "etm", "roba", "ctrunc", "bam",
        "tern", "cmp"]
    assert unit_names("add") == ["add", "loa", "gear"]
    with pytest.raises(UnitError):
        unit_names("div")


# --------------------------------------------------------------------------------------------
# Table units
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cleanup_units():
    names = []
    yield names
    for n in names:
        if n in unit_names():
            unregister_lut_unit(n)


def test_register_lut_unit(cleanup_units):
    cleanup_units.append("mul4s_ext.v1")
    codes = np.arange(16)
    vals = from_code(codes, 4, 1)
    table = vals[:, None] * vals[None, :] + (codes[:, None] == 3)  # exact plus one error
    spec = register_lut_unit("mul4s_ext.v1", table, 4, 1, "mul", "test table")
    assert str(spec) == "mul4s_ext.v1:width=4,signed=1"
    assert not spec.builtin and spec.module_name == "mul4s_ext_v1"
    assert parse_unit("mul4s_ext.v1") == spec and spec.description == "test table"
    assert int(spec(3, -2)) == -5 and int(spec(-3, -2)) == 6
    assert np.array_equal(make_lut(spec), table)
    m = error_metrics(spec)
    assert m["ep_pct"] == pytest.approx(100 / 16) and m["wce"] == 1
    with pytest.raises(UnitError, match="only for width=4"):
        parse_unit("mul4s_ext.v1:width=8")
    with pytest.raises(UnitError, match="valid parameters"):
        parse_unit("mul4s_ext.v1:k=2")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("drum", np.zeros((16, 16), np.int64), 4, 0, "mul"), "clashes with a built-in"),
        (("t1", np.zeros((16, 8), np.int64), 4, 0, "mul"), "shape"),
        (("t1", np.zeros((16, 16)), 4, 0, "mul"), "integers"),
        (("t1", np.full((16, 16), 256), 4, 0, "mul"), "do not fit in 8 unsigned bits"),
        (("t1", np.full((16, 16), -1), 4, 0, "add"), "do not fit"),
        (("t1", np.zeros((16, 16), np.int64), 4, 0, "div"), "kind"),
        (("t1", np.zeros((16, 16), np.int64), 4, 2, "mul"), "signed"),
        (("a:b", np.zeros((16, 16), np.int64), 4, 0, "mul"), "invalid table unit name"),
        (("t1", np.zeros((2**14, 1), np.int64), 14, 0, "mul"), "width=14 out of range"),
    ],
)
def test_register_lut_unit_errors(args, fragment):
    with pytest.raises(UnitError, match=fragment):
        register_lut_unit(*args)
    assert "t1" not in unit_names()


def test_save_load_round_trip(tmp_path, cleanup_units):
    drum = parse_unit("drum:k=4,signed=1")
    path = save_lut_unit(drum, tmp_path / "drum4.npz")
    cleanup_units.append("drum4_table")
    spec = load_lut_unit(path, name="drum4_table")
    assert str(spec) == "drum4_table:width=8,signed=1" and spec.kind == "mul"
    assert np.array_equal(make_lut(spec), make_lut(drum))
    a = np.arange(-128, 128)
    assert np.array_equal(spec(a, a[::-1]), drum(a, a[::-1]))
    # a table unit can be saved again and reloaded under the name stored in the file
    path2 = save_lut_unit(spec, tmp_path / "again.npz")
    unregister_lut_unit("drum4_table")
    spec2 = load_lut_unit(path2)
    assert spec2 == spec and np.array_equal(make_lut(spec2), make_lut(drum))
    with np.load(path2, allow_pickle=False) as data:
        assert {"lut", "width", "signed", "kind"} <= set(data.files)
        assert str(data["kind"]) == "mul" and int(data["width"]) == 8


def test_load_malformed_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a table")
    with pytest.raises(UnitError, match="cannot read"):
        load_lut_unit(junk)
    with pytest.raises(UnitError, match="no such file"):
        load_lut_unit(tmp_path / "missing.npz")
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros((16, 16), np.int64))
    with pytest.raises(UnitError, match="not an .npz"):
        load_lut_unit(npy)
    nokind = tmp_path / "nokind.npz"
    np.savez(nokind, lut=np.zeros((16, 16), np.int64), width=4, signed=0)
    with pytest.raises(UnitError, match="missing array.*kind"):
        load_lut_unit(nokind)
    badshape = tmp_path / "badshape.npz"
    np.savez(badshape, lut=np.zeros((16, 15), np.int64), width=4, signed=0, kind="mul")
    with pytest.raises(UnitError, match="shape"):
        load_lut_unit(badshape)
    badwidth = tmp_path / "badwidth.npz"
    np.savez(badwidth, lut=np.zeros((16, 16), np.int64), width=[4, 4], signed=0, kind="mul")
    with pytest.raises(UnitError, match="scalar integer"):
        load_lut_unit(badwidth)
    pickled = tmp_path / "pickled.npz"
    obj = np.empty((16, 16), dtype=object)
    obj[:] = 0
    np.savez(pickled, lut=obj, width=4, signed=0, kind="mul")
    with pytest.raises(UnitError, match="cannot read"):
        load_lut_unit(pickled)
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, lut=np.zeros((16, 16), np.int64), width=4, signed=0, kind="mul")
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(UnitError):
        load_lut_unit(truncated)
    assert not zipfile.is_zipfile(truncated)
    assert [n for n in unit_names() if n not in BUILTIN] == []


def test_readme_metrics_table_is_current():
    from pathlib import Path

    from refmodels.arith.metrics import default_specs, metrics_table

    text = (Path(__file__).parent / "README.md").read_text()
    table = text.split("<!-- metrics:begin -->\n")[1].split("\n<!-- metrics:end -->")[0]
    assert table == metrics_table(default_specs(8))
