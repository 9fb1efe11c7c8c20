"""alveole: network functions as eBPF programs in the Linux kernel, driven from Python."""

__version__ = "0.1.0"
