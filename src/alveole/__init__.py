"""alveole: network functions as eBPF programs in the Linux kernel, driven from Python."""

import logging

# scapy warns "No route found" for every test frame whose MACs it has to guess: our
# frames never leave through scapy, so its routing opinion is noise on the user's terminal
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

__version__ = "0.1.0"
