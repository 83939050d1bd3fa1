"""Packaging beyond what pyproject.toml can say: the image recipes live in `images/` at the top of
the repository (the design keeps them there, beside the code that builds them) and are shipped
inside the package as `vhoneynet/recipes/`, so that an installed wheel finds them."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vhoneynet*"]), "vhoneynet.recipes"],
    package_dir={"vhoneynet.recipes": "images"},  # its files are listed in pyproject.toml's package-data
)
