"""Data: sample tables, folder layouts, decoding, transforms and loading."""
