"""Artifact discovery: what a run wrote beside its event log (videos, TensorBoard and W&B runs,
GIFs, plots, failure receipts), as ``artifact`` records for the run's manifest.

It is called every second on live runs, so it looks only where producers write (a few known
subdirectories; never ``checkpoints/`` or ``frames/``, which hold thousands of files), stats only
entries not reported yet, and never leaves the run directory: a symlinked file counts only when its
target lies inside the run directory, and a symlinked directory is never entered.

Where producers write, relative to the run directory (CleanRL's layout, as its runner starts it
there, and rlops' own):

    videos/**/*.mp4|webm|gif        gymnasium's RecordVideo (CleanRL: videos/<run_name>/)
    runs/**/, tensorboard/**/       a directory holding events.out.tfevents.* files
    wandb/offline-run-*/, run-*/    W&B's local run directory (wandb 0.31 writes no URL to disk:
                                    offline, only the run's .wandb file, files/ and logs/, and a
                                    ``latest-run`` symlink; the URL of an online run is found in
                                    the process's output, "View run at https://...")
    *.gif, rollouts/**/*.gif        rollouts (``rlops rollout``)
    *.png                           plots (``rlops plot``)
    receipts/<trace_id>/            failure receipts
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from rlops.events.schema import Artifact

VIDEO_SUFFIXES = (".mp4", ".webm", ".gif")
TENSORBOARD_DIRS = ("runs", "tensorboard")
TENSORBOARD_FILE = "events.out.tfevents."
WANDB_RUN_DIRS = ("offline-run-", "run-")
# A video written to within this many seconds may still be growing: it is reported on a later
# call (or at once with ``final=True``, when the run's process has exited).
SETTLE_S = 1.0
# Producers nest a few levels at most (runs/<run_name>/, videos/<run_name>/); a deeper tree is
# not theirs, and bounding the walk bounds the cost of a call.
MAX_DEPTH = 4
TEMP_PREFIX = ".tmp-"  # half-written entries (checkpoints' and registry imports' convention)
# wandb styles its links with ANSI colours (click.style); a run URL always ends in /runs/<id>,
# the id URL-quoted with "=+&$@" left as they are (wandb_settings.run_url).
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
WANDB_URL = re.compile(r"https?://[^\s\"'<>]+?/runs/[A-Za-z0-9_.~%=+&$@-]*[A-Za-z0-9_~%=+&$@-]")


def discover(run_dir: Path, known: set[str], output_text: str = "", final: bool = False) -> list[Artifact]:
    """Artifacts under ``run_dir`` (and W&B run URLs in ``output_text``) whose path is not in
    ``known``, as ``added`` records with paths relative to ``run_dir``; the envelope (run id, seq,
    time) is left to whoever records them."""
    scan = _Scan(Path(run_dir), known, final)
    found = [*scan.videos(), *scan.tensorboard(), *scan.wandb(output_text), *scan.gifs(), *scan.top_level(),
             *scan.receipts()]
    return [Artifact(kind=kind, path=path) for kind, path in found]


class _Scan:
    """One call's look at a run directory; ``seen`` grows as it reports, so nothing comes twice."""

    def __init__(self, root: Path, known: set[str], final: bool) -> None:
        self.root, self.seen, self.final = root, set(known), final
        self.real_root = root.resolve()
        self.now = time.time()

    def videos(self) -> Iterator[tuple[str, str]]:
        for relative, entry in self._files_under("videos"):
            # The cheap tests first: a known video is never stat'ed again.
            if entry.name.lower().endswith(VIDEO_SUFFIXES) and relative not in self.seen and self._settled(entry):
                yield self._take("video", relative)

    def tensorboard(self) -> Iterator[tuple[str, str]]:
        for top in TENSORBOARD_DIRS:
            for relative, listed in self._directories(top):
                if relative not in self.seen and any(entry.name.startswith(TENSORBOARD_FILE) and self._is_file(entry)
                                                     for _, entry in listed):
                    yield self._take("tensorboard", relative)

    def wandb(self, output_text: str) -> Iterator[tuple[str, str]]:
        for url in WANDB_URL.findall(ANSI.sub("", output_text)) if output_text else ():
            if url not in self.seen:
                yield self._take("wandb", url)
        for relative, entry in self._entries("wandb") or ():
            if entry.name.startswith(WANDB_RUN_DIRS) and relative not in self.seen and entry.is_dir(follow_symlinks=False):
                yield self._take("wandb", relative)

    def gifs(self) -> Iterator[tuple[str, str]]:
        for relative, entry in self._files_under("rollouts"):
            if entry.name.lower().endswith(".gif") and relative not in self.seen:
                yield self._take("gif", relative)

    def top_level(self) -> Iterator[tuple[str, str]]:
        for relative, entry in self._entries("") or ():
            name = entry.name.lower()
            kind = "gif" if name.endswith(".gif") else "plot" if name.endswith(".png") else None
            if kind and relative not in self.seen and self._is_file(entry):
                yield self._take(kind, relative)

    def receipts(self) -> Iterator[tuple[str, str]]:
        for relative, entry in self._entries("receipts") or ():
            if relative not in self.seen and entry.is_dir(follow_symlinks=False):
                yield self._take("receipt", relative)

    def _take(self, kind: str, path: str) -> tuple[str, str]:
        self.seen.add(path)
        return kind, path

    # -- walking, inside the run directory only ------------------------------------------------

    def _entries(self, relative: str) -> list[tuple[str, os.DirEntry]] | None:
        """The entries of a directory of the run (``""``: the run directory itself) with their
        relative paths, half-written ones left out; None when it is missing or a symlink."""
        path = self.root / relative if relative else self.root
        if relative and path.is_symlink():
            return None
        try:
            with os.scandir(path) as iterator:
                entries = list(iterator)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return None
        return [(f"{relative}/{e.name}" if relative else e.name, e) for e in entries
                if not e.name.startswith(TEMP_PREFIX)]

    def _directories(self, top: str) -> Iterator[tuple[str, list[tuple[str, os.DirEntry]]]]:
        """``top`` and its real (not symlinked) subdirectories down to MAX_DEPTH, with their entries."""
        pending = [(top, 0)]
        while pending:
            relative, depth = pending.pop()
            listed = self._entries(relative)
            if listed is None:
                continue
            yield relative, listed
            if depth < MAX_DEPTH:
                pending += [(sub, depth + 1) for sub, entry in listed if entry.is_dir(follow_symlinks=False)]

    def _files_under(self, top: str) -> Iterator[tuple[str, os.DirEntry]]:
        for _, listed in self._directories(top):
            for path, entry in listed:
                if self._is_file(entry):
                    yield path, entry

    def _is_file(self, entry: os.DirEntry) -> bool:
        if not entry.is_symlink():
            return entry.is_file(follow_symlinks=False)
        target = Path(entry.path).resolve()  # a link is kept only when it stays inside the run
        return target.is_relative_to(self.real_root) and target.is_file()

    def _settled(self, entry: os.DirEntry) -> bool:
        if self.final:
            return True
        try:
            return self.now - entry.stat().st_mtime >= SETTLE_S
        except FileNotFoundError:  # deleted between listing and stat
            return False
