"""Data: the UCF-101 index, video readers, the built-in dataset, motion, transforms, download."""
