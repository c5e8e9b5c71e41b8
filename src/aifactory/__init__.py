"""aifactory: one front door to Europe's public AI supercomputers."""

__version__ = "0.1.0"
