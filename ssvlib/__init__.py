"""ssvlib: the helper library of *Self-Supervised Video Representation Learning, Re-implemented*."""

__version__ = "0.1.0"
