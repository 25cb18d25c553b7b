"""The committed CNN-block Verilog and .core files equal a fresh generation; bad parameters
are refused at generation time with a clear message."""

import subprocess
import sys

import numpy as np
import pytest

from cores.cnn import generate
from cores.cnn.common import convert
from cores.cnn.mac.mac import MacConfigError, build


def test_committed_files_are_up_to_date(tmp_path):
    generate.generate(tmp_path)
    problems = generate.compare(tmp_path)
    assert not problems, "regenerate with `python -m cores.cnn.generate`:\n" + "\n".join(problems)


def test_compare_detects_a_changed_file(tmp_path):
    generate.generate(tmp_path, ("requant",))
    victim = tmp_path / "requant" / "rtl" / "cnn_requant.v"
    victim.write_text(victim.read_text().replace("endmodule", "endmodule // edited"))
    assert generate.compare(tmp_path, blocks=("requant",)) == [
        "differs: cores/cnn/requant/rtl/cnn_requant.v"
    ]


def test_conversion_is_reproducible(tmp_path):
    f, name = build(lanes=3, mul="drum:k=4,signed=0")
    first = convert(f, name, tmp_path / "a").read_bytes()
    g, other = build(lanes=2)
    convert(g, other, tmp_path / "b")  # another conversion in between renames nothing
    second = convert(f, name, tmp_path / "c").read_bytes()
    assert first == second
    assert b"Date: (not recorded" in first


def test_core_files_name_every_rtl_file_and_target():
    for block in generate.BLOCKS:
        text = generate.core_text(block)
        assert f"name: approxnn:cnn:{block}:{generate.VERSIONS[block]}" in text
        for f in generate.rtl_files(block):
            assert f"      - {f}\n" in text
        for target in ("default", "lint", "sim", "sim_verilator", "synth", "synth_nodsp"):
            assert f"\n  {target}:\n" in text
        # the other committed configurations have their own targets (the HF6 build, MNIST)
        for tag, _ in generate.CONFIG_TARGETS.get(block, {}).values():
            for target in (f"lint_{tag}", f"sim_{tag}", f"synth_{tag}"):
                assert f"\n  {target}:\n" in text


def test_check_cli_reports_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "cores.cnn.generate", "--check", "requant"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lanes": 0}, "lanes must be an integer in 1..64"),
        ({"lanes": 65}, "lanes must be an integer in 1..64"),
        ({"lanes": 2.5}, "lanes must be an integer"),
        ({"mul": "nosuch"}, "unknown multiplier 'nosuch'"),
        ({"mul": "loa"}, "unknown multiplier .loa.; valid multipliers"),
        ({"mul": "drum:k=4,width=6"}, "needs an 8-bit multiplier"),
        ({"mul": ""}, "mul must be 'int8' or a multiplier unit name"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(MacConfigError, match=message):
        build(**params)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lanes": 3}, "lanes must be one of"),
        ({"mul": "nosuch"}, "unknown multiplier 'nosuch'"),
        ({"ibuf": 1000}, "ibuf must be a power of two"),
        ({"wbuf": 2}, "wbuf must be a power of two"),
        ({"lanes": 8, "cmax": 4}, "cmax must be a power of two in 8..64"),
        ({"cmax": 128}, "cmax must be a power of two"),
    ],
)
def test_bad_engine_parameters_are_refused(params, message):
    from cores.cnn.engine.engine import EngineConfigError

    with pytest.raises(EngineConfigError, match=message):
        generate.build_block("engine", **params)


def test_unknown_block_is_refused():
    with pytest.raises(ValueError, match="unknown CNN block 'conv'"):
        generate.build_block("conv")
    with pytest.raises(TypeError):
        generate.build_block("requant", lanes=4)


def engine_needs(network: str, lanes: int, cmax: int) -> dict:
    """Input-buffer entries and weight-buffer words the largest layer of a stored network
    needs on the engine, run as the host runs it (verif/cnn/engine_env.py EngineNetworkTest):
    a dense layer of K inputs is K inputs and ceil(units / P) * K weight words, output
    channels beyond the channel table run in parts of at most ``cmax``."""
    import math

    from refmodels.cnn.net import load_network
    from refmodels.cnn.tflite import compute_padding

    net = load_network(network)
    h, w, c = net.topology["input"]
    need = {"ibuf": 0, "wbuf": 0, "channels_in": 0}
    for lay in net.layers:
        kind = lay["type"]
        if kind in ("conv2d", "dense"):
            wt = np.asarray(net.arrays[lay["name"] + ".w"])
            if kind == "dense":
                oc, taps = wt.shape[0], h * w * c
                assert taps == wt.shape[1]
                h, w, c = 1, 1, oc
            else:
                oc, fh, fw, cin = wt.shape
                assert cin == c
                taps = fh * fw * c
                sy, sx = lay.get("stride", [1, 1])
                ho = compute_padding(h, fh, sy, 1, lay["padding"])[0]
                wo = compute_padding(w, fw, sx, 1, lay["padding"])[0]
            need["ibuf"] = max(need["ibuf"], taps if kind == "dense" else h * w * c)
            need["wbuf"] = max(need["wbuf"], math.ceil(min(oc, cmax) / lanes) * taps)
            need["channels_in"] = max(need["channels_in"], min(c, 255) if kind == "conv2d"
                                      else 0)
            if kind == "conv2d":
                h, w, c = ho, wo, oc
        elif kind == "maxpool":
            need["ibuf"] = max(need["ibuf"], h * w * c)
            ph, pw = lay["pool"]
            h, w = h // ph, w // pw
        elif kind != "flatten":
            raise AssertionError(f"{network}: layer type {kind} not sized here")
    return need


@pytest.mark.parametrize("network", ["mnist", "mnist_hf6qat"])
def test_the_committed_mnist_engine_holds_the_stored_mnist_networks(network):
    cfg = generate.MNIST_ENGINE
    assert cfg in generate.COMMITTED["engine"]
    need = engine_needs(network, cfg["lanes"], cfg["cmax"])
    assert need == {"ibuf": 3456, "wbuf": 2048, "channels_in": 6}
    assert need["ibuf"] <= cfg["ibuf"] and need["wbuf"] <= cfg["wbuf"]
    # the default configuration cannot hold it: fc1 needs 16 runs of 1,024 words
    default = generate.COMMITTED["engine"][0]
    assert engine_needs(network, 4, 16)["wbuf"] > default.get("wbuf", 512)


def test_engine_tables_start_at_zero_and_nothing_else_is_initialised():
    # the channel tables (no reset) get a memory initial value of 0 in every build; the
    # buffers and registers stay uninitialised (Verilator's random start state checks resets)
    import re  # noqa: PLC0415

    from cores.cnn.engine.engine import TABLE_MEMORIES  # noqa: PLC0415

    rtl = generate.CNN_DIR / "engine" / "rtl"
    assert all(m.startswith("channel_tables0_") for m in TABLE_MEMORIES)
    for path, tables in ((rtl / "cnn_engine_p4_int8_i1024_w512_c16.v", set(TABLE_MEMORIES)),
                         (rtl / "cnn_engine_p8_int8_i4096_w4096_c64.v", set(TABLE_MEMORIES)),
                         (rtl / "cnn_engine_p4_hf6_i1024_w512_c16.v", {TABLE_MEMORIES[0]})):
        text = path.read_text()
        assert set(re.findall(r"initial begin: INITIALIZE_(\w+)", text)) == \
            {t.upper() for t in tables}, path.name
        for t in tables:
            assert re.search(rf"^        {t}\[i\] = 0;$", text, re.M), (path.name, t)
        assert text.count("initial begin") == len(tables), path.name


def test_zero_init_memories_refuses_a_missing_memory_and_writes_vhdl():
    from approxnn.eda.myhdl import ConvertError, zero_init_memories  # noqa: PLC0415

    v = "reg [5:0] shift_t [0:16-1];\nreg [7:0] other;\n"
    out = zero_init_memories(v, ["shift_t"])
    assert "for(i=0; i<16; i=i+1) begin\n        shift_t[i] = 0;" in out
    with pytest.raises(ConvertError, match="'other' not found"):
        zero_init_memories(v, ["other"])
    vhd = "signal bias_t: t_array_bias_t;\n"
    assert zero_init_memories(vhd, ["bias_t"], "VHDL") == \
        "signal bias_t: t_array_bias_t := (others => (others => '0'));\n"
