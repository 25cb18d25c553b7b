"""approxnn: approximate-computing NN accelerator IP - command-line tools."""

__version__ = "0.1.0"
