"""Offline-RL datasets: episodes recorded from a policy or imported, stored in Minari's on-disk
layout (``data/metadata.json`` + ``data/main_data.hdf5``) with a manifest of hashes beside it.

``catalog`` is the library the CLI and the API call; ``layout`` owns the directory and its
manifest, ``episodes`` the HDF5 file, ``spaces`` Minari's JSON form of a space.
"""
