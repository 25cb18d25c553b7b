"""Minifloat encoder/decoder against ml_dtypes, and the HF6 MAC against exact arithmetic."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from refmodels.cnn import minifloat as mf

ORACLE = ["float8_e4m3fn", "float8_e5m2", "float6_e3m2fn", "float6_e2m3fn", "float4_e2m1fn"]


def _oracle_decode(name, bits):
    t = getattr(ml_dtypes, name)
    codes = np.arange(2**bits, dtype=np.uint8)
    return codes.view(t).astype(np.float64)


@pytest.mark.parametrize("name", ORACLE)
def test_decode_all_codes(name):
    fmt = mf.FORMATS[name]
    want = _oracle_decode(name, fmt.bits)
    got = fmt.decode(np.arange(2**fmt.bits))
    np.testing.assert_array_equal(got, want)  # NaN == NaN for assert_array_equal
    assert fmt.max_value == float(ml_dtypes.finfo(getattr(ml_dtypes, name)).max)


def _probe_values(fmt, rng):
    vals = fmt.values()
    fin = np.unique(np.abs(vals[np.isfinite(vals)]))
    mids = (fin[1:] + fin[:-1]) / 2  # exact ties
    ulp = np.spacing(mids.astype(np.float32)).astype(np.float64)
    probes = np.concatenate([fin, mids, mids + ulp, mids - ulp, fin * 1.0001, fin * 0.9999,
                             [fmt.max_value * 1.03, fmt.max_value * 1.0625, fmt.max_value * 1.1,
                              fmt.max_value * 4, 1e30, 1e-30, 0.0, 2.0**-149]])
    rnd = np.ldexp(rng.uniform(1, 2, 4000), rng.integers(-20, 20, 4000))
    probes = np.concatenate([probes, rnd])
    probes = np.concatenate([probes, -probes]).astype(np.float32)
    return probes


@pytest.mark.parametrize("name", ORACLE)
def test_encode_matches_ml_dtypes(name):
    rng = np.random.default_rng(5)
    fmt = mf.FORMATS[name]
    x = _probe_values(fmt, rng)
    want = x.astype(getattr(ml_dtypes, name)).view(np.uint8).astype(np.int64)
    got = fmt.encode(x)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (x[bad[:5]], got[bad[:5]], want[bad[:5]])


@pytest.mark.parametrize("name", ORACLE)
def test_specials_match_ml_dtypes(name):
    fmt = mf.FORMATS[name]
    t = getattr(ml_dtypes, name)
    x = np.array([np.inf, -np.inf, 0.0, -0.0], np.float32)
    np.testing.assert_array_equal(fmt.encode(x), x.astype(t).view(np.uint8))
    if fmt.has_nan:
        x = np.array([np.nan, -np.nan], np.float32)
        np.testing.assert_array_equal(fmt.encode(x), x.astype(t).view(np.uint8))
    else:
        with pytest.raises(ValueError):
            fmt.encode([np.nan])


def test_roundtrip_and_options():
    for fmt in [mf.MiniFloat(3, 4, signed=False), mf.MiniFloat(5, 3, bias=11, subnormals=False),
                mf.MiniFloat(4, 2, special="fn", overflow="saturate"), mf.HF6]:
        codes = np.arange(2**fmt.bits)
        v = fmt.decode(codes)
        ok = np.isfinite(v)
        # every finite code decodes to a value that encodes back to a code of the same value
        np.testing.assert_array_equal(fmt.decode(fmt.encode(v[ok])), v[ok])
    nosub = mf.MiniFloat(3, 2, subnormals=False)
    tiny = 2.0 ** nosub.emin
    assert list(nosub.round([tiny * 0.49, tiny * 0.5, tiny * 0.51, tiny * 0.9])) == [
        0, 0, tiny, tiny]
    sat = mf.MiniFloat(4, 3, special="fn", overflow="saturate")
    assert sat.round([1e9])[0] == 448 and np.isnan(mf.FORMATS["float8_e4m3fn"].round([1e9])[0])
    with pytest.raises(ValueError):
        mf.MiniFloat(3, 4, signed=False).encode([-1.0])
    with pytest.raises(ValueError):
        mf.MiniFloat(3, 2, special="finite", overflow="special")
    with pytest.raises(ValueError):
        mf.MiniFloat(3, 2, special="bogus")


def test_hf6_format():
    v = mf.HF6.values()
    assert mf.HF6.bits == 6 and np.isfinite(v).all()
    assert mf.HF6.max_value == 384.0
    pos = np.unique(v[v > 0])
    assert pos[0] == 2.0**-7 and pos[1] == 2.0**-6 and pos[2] == 1.5 * 2.0**-6
    # rounding error below the smallest normal is at most 2**-8
    x = np.linspace(0, 2.0**-6, 1001)
    assert np.abs(mf.HF6.round(x) - x).max() <= 2.0**-8
    assert mf.HF6.round([1000.0, -1000.0]).tolist() == [384.0, -384.0]


def _exact_fixed(a, w):
    """Reference: exact rational product, magnitude truncated at 2**-23, mod 2**64."""
    p = Fraction(float(a)) * Fraction(float(w)) * 2**23
    mag = abs(p.numerator) // p.denominator
    mag %= 2**64
    v = (-mag if p < 0 else mag) % 2**64
    return v - 2**64 if v >= 2**63 else v


def test_hf6_product_bit_level():
    rng = np.random.default_rng(6)
    n = 3000
    a = (rng.standard_normal(n) * np.exp2(rng.integers(-40, 40, n))).astype(np.float32)
    a[:20] = np.array([1e-45, -1e-45, 1e-39, 3e38, -3e38, 0, -0.0, 1, -1, 2.0**-23] * 2)
    w = rng.integers(0, 64, n)
    got = mf.hf6_product_fixed(a, w)
    wv = mf.HF6.decode(w)
    for g, x, y in zip(got, a, wv, strict=True):
        assert int(g) == _exact_fixed(x, y), (x, y)
    small = np.abs(a.astype(np.float64)) < 2.0**30
    np.testing.assert_array_equal(mf.hf6_product_fixed_fast(a[small], wv[small]), got[small])


def test_fixed_to_float32():
    rng = np.random.default_rng(7)
    acc = np.concatenate([rng.integers(-(2**62), 2**62, 5000), rng.integers(-(2**30), 2**30, 500),
                          [0, 1, -1, 2**24 + 1, 2**24 + 3, -(2**25) - 2, 2**63 - 1, -(2**63)]])
    got = mf.fixed_to_float32(acc.astype(np.int64))
    for g, v in zip(got, acc, strict=True):
        # exact RNE of v * 2**-23 to float32 via Fraction comparison with the neighbours
        want = np.float32(float(Fraction(int(v), 2**23)))  # float() is RNE to 53 bits
        ex = Fraction(int(v), 2**23)
        if Fraction(float(want)) != ex:
            lo = np.nextafter(want, np.float32(-np.inf))
            hi = np.nextafter(want, np.float32(np.inf))
            cands = [lo, want, hi]
            errs = [abs(Fraction(float(c)) - ex) for c in cands]
            best = min(errs)
            ties = [c for c, e in zip(cands, errs, strict=True) if e == best]
            want = ties[0] if len(ties) == 1 else [c for c in ties
                                                    if (c.view(np.uint32) & 1) == 0][0]
        assert g == want, (v, g, want)


def test_hf6_dot_vs_exact():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((9, 30)).astype(np.float32)
    a[0, :5] = np.float32(1e-30)
    w = rng.integers(0, 64, (30, 4))
    b = rng.integers(0, 64, 4)
    got = mf.hf6_dot(a, w, b)
    wv = mf.HF6.decode(w)
    bv = mf.HF6.decode(b)
    for p in range(9):
        for c in range(4):
            acc = int(Fraction(float(bv[c])) * 2**23)
            acc += sum(_exact_fixed(a[p, k], wv[k, c]) for k in range(30))
            want = np.float32(float(Fraction(acc, 2**23)))  # acc < 2**53: one rounding
            assert got[p, c] == want
    # forcing the bit-level path gives the same result
    big = a.copy()
    big[1, 0] = np.float32(2.0**45)
    np.testing.assert_array_equal(mf.hf6_dot(big, w, b)[2:], got[2:])
    with pytest.raises(TypeError):
        mf.hf6_dot(a.astype(np.float64), w)
    with pytest.raises(ValueError):
        mf.hf6_dot(a, w + 64)
