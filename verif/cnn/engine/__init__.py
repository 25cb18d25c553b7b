"""pyuvm environment of the CNN layer engine (cores/cnn/engine), int8 and HF6 builds.

Modules, bottom up: :mod:`.layers` (layer generators and the golden model; no simulator),
:mod:`.agents` (BFM, driver, monitor: the only DUT access), :mod:`.sequences`,
:mod:`.scoreboard`, :mod:`.coverage`, :mod:`.env` (environment and base test) and
:mod:`.tests`. The host-side layer description, weight packing and channel splitting are in
``host/approxnn_host/layers.py``. ``verif/cnn/engine_env.py`` gathers the public names.
"""
