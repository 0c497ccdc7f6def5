"""Models: frame and clip encoders, and the fusion heads of the four papers."""
