"""Benchmarks of rdjax against a PyTorch twin (optional extra ``rdjax[bench]``; not part of rdjax)."""
