"""sspnet-edge: tiny-person detection (SSPNet) from training to the edge. The core is torch-free."""
__version__ = "0.1.0"
