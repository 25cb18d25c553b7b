"""Bad input typed by a new user: a one-line error, a non-zero exit code, no traceback and no
half-written output; written files get the umask's mode; long runs show progress."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from approxnn import cli
from approxnn.report import atomic_write

ROOT = Path(__file__).resolve().parents[1]
CNN_NETS = ROOT / "refmodels" / "cnn" / "networks"
SBS_NETS = ROOT / "refmodels" / "sbs" / "networks"


def run(*args, umask=None):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, preexec_fn=pre)


def one_line_error(r, code=2, text=""):
    """Exit ``code``, no traceback, exactly one line on stderr that carries ``text``."""
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert text in lines[0], lines[0]
    return lines[0]


def _truncated_copy(src_dir, name, dst, keep=2000):
    dst.mkdir()
    shutil.copy(src_dir / f"{name}.json", dst / f"{name}.json")
    data = (src_dir / f"{name}.npz").read_bytes()
    (dst / f"{name}.npz").write_bytes(data[:keep])
    return dst / f"{name}.json"


def _corrupt_copy(src_dir, name, dst):
    """The zip directory intact, one stored member's bytes flipped (CRC / inflate error)."""
    dst.mkdir()
    shutil.copy(src_dir / f"{name}.json", dst / f"{name}.json")
    data = bytearray((src_dir / f"{name}.npz").read_bytes())
    mid = len(data) // 3
    data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
    (dst / f"{name}.npz").write_bytes(bytes(data))
    return dst / f"{name}.json"


def _truncated_json(src_dir, name, dst):
    dst.mkdir()
    shutil.copy(src_dir / f"{name}.npz", dst / f"{name}.npz")
    (dst / f"{name}.json").write_text((src_dir / f"{name}.json").read_text()[:100])
    return dst / f"{name}.json"


def test_truncated_cnn_network_json(tmp_path):
    js = _truncated_json(CNN_NETS, "digits", tmp_path / "net")
    r = run("-m", "approxnn", "cnn", "evaluate", js, "--units", "exact", "--no-synth",
            "--out", tmp_path / "out")
    assert "not a valid network description" in one_line_error(r, 2, "digits.json")


@pytest.mark.parametrize("damage", [_truncated_copy, _corrupt_copy], ids=["truncated", "corrupt"])
def test_damaged_cnn_network_npz(tmp_path, damage):
    js = damage(CNN_NETS, "digits", tmp_path / "net")
    out = tmp_path / "out"
    r = run("-m", "approxnn", "cnn", "evaluate", js, "--units", "exact", "--no-synth",
            "--out", out)
    line = one_line_error(r, 2, "digits.npz")
    assert "cannot read the network arrays" in line
    assert not out.exists()


@pytest.mark.parametrize("damage", [_truncated_copy, _corrupt_copy], ids=["truncated", "corrupt"])
def test_damaged_sbs_network_npz(tmp_path, damage):
    js = damage(SBS_NETS, "digits", tmp_path / "net")
    out = tmp_path / "out"
    r = run("-m", "approxnn", "sbs", "evaluate", js, "--T", "10", "--n", "2", "--out", out)
    line = one_line_error(r, 2, "digits.npz")
    assert "cannot read weights" in line
    assert not out.exists()


def test_cnn_cost_help_and_bad_arguments():
    r = run("-m", "cores.cnn.cost", "--help")
    assert r.returncode == 0 and "usage: python -m cores.cnn.cost" in r.stdout, r.stderr
    assert "requant" in r.stdout and r.stderr == ""
    one_line_error(run("-m", "cores.cnn.cost", "mac", "lanes=0"), 2, "lanes must be")
    one_line_error(run("-m", "cores.cnn.cost", "mac", "lanes"), 2, "is not key=value")
    one_line_error(run("-m", "cores.cnn.cost", "mac", "colour=red"), 2, "bad parameters for mac")
    r = run("-m", "cores.cnn.cost", "fft")
    assert r.returncode == 2 and "invalid choice: 'fft'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("argv,message", [
    (["--finetune", "--lr", "-1"], "--lr must be a positive number"),
    (["--finetune", "--lr", "nan"], "--lr must be a positive number"),
    (["--finetune", "--lr", "0"], "--lr must be a positive number"),
    (["--lr", "0.001"], "--lr is only valid with --finetune"),
    (["--epochs", "3"], "--epochs is only valid with --finetune"),
    (["--finetune", "--epochs", "0"], "--epochs must be at least 1"),
])
def test_cnn_evaluate_checks_arguments_first(tmp_path, capsys, argv, message):
    """Refused before any network is evaluated (these ran for minutes before)."""
    out = tmp_path / "out"
    rc = cli.main(["cnn", "evaluate", "digits", "--no-synth", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "-1"], "--epochs must be at least 1"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--n-train", "3"], "--n-train must be at least 10"),
    (["--method", "sgd"], "unknown method 'sgd'"),
    (["--noise-augment", "150"], "--noise-augment must lie in"),
])
def test_sbs_train_bad_arguments_leave_no_folder(tmp_path, capsys, argv, message):
    out = tmp_path / "nets"
    rc = cli.main(["sbs", "train", "digits", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_sbs_train_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["sbs", "train", "digits", "--out", str(f), "--epochs", "1"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert f.read_text() == "x"


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_respects_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        p = atomic_write(tmp_path / "report.md", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == mode
    assert p.read_text() == "x\n"
    assert [q.name for q in tmp_path.iterdir()] == ["report.md"]  # no temporary left


def test_written_table_gets_mode_0644_under_umask_022(tmp_path):
    out = tmp_path / "drum4.npy"
    r = run("-m", "approxnn", "lut", "drum:k=4,width=8,signed=1", "-o", out, umask=0o022)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_bench_reports_progress_before_each_run(monkeypatch, capsys, tmp_path):
    """verif.bench announces each long simulator run on stderr before it starts (it was silent
    for two minutes); the simulator runs are replaced by a recorder here."""
    from approxnn.eda.sim import SimResult

    from verif import bench

    seen = []

    def fake_run(sim, sources, top, module, build_dir, **kw):
        seen.append((module, capsys.readouterr().err))
        return SimResult(xml=tmp_path / "r.xml", tests=1, seconds=1.0)

    monkeypatch.setattr(bench, "run_cocotb", fake_run)
    monkeypatch.setattr(bench, "simulator_available", lambda sim: True)
    monkeypatch.setattr(bench, "generate_rtl", lambda spec, d: tmp_path / "x.v")
    assert bench.main(["--sims", "icarus"]) == 0
    assert [m for m, _ in seen] == ["verif.arith.cocotb_arith", "verif.arith.cocotb_perpair"]
    assert "icarus: build and streamed pyuvm check of 65,536 pairs" in seen[0][1]
    assert "per-pair round trip" in seen[1][1]
    assert "| icarus |" in capsys.readouterr().out


def test_bench_bad_arguments():
    r = run("-m", "verif.bench", "--sims", "modelsim")
    assert r.returncode == 2 and "unknown simulator 'modelsim'" in r.stderr
    r = run("-m", "verif.bench", "--unit", "nosuch")
    assert r.returncode == 2 and "unknown unit 'nosuch'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", [
    ["cnn", "train", "digits", "--epochs", "1"],
    ["cnn", "quantise", "digits", "--to", "int8"],
])
def test_cnn_out_under_a_file_is_refused_before_training(tmp_path, capsys, argv):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main([*argv, "--out", str(f / "nets")]) == 2
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and len(err.strip().splitlines()) == 1, err
    assert f.read_text() == "x"
