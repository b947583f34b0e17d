"""Scoring: the only package that imports torch, transformers and easyocr (lazily)."""
