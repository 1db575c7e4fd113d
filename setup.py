"""Packaging beyond pyproject.toml: the checkout's configs/ folder is installed as ``rdjax.configs``."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["rdjax", "rdjax.*"]) + ["rdjax.configs"],
      package_dir={"rdjax.configs": "configs"})
