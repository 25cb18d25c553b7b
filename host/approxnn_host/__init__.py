"""Host drivers of the accelerator overlays (PYNQ API; the same code in simulation)."""
