"""A checkpoint whose tensor file carries a pickled object is refused at import and at load, and
rlops never repeats torch's advice to load it with ``weights_only=False``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rlops.cli.app import main
from rlops.pipeline.checkpoints import file_sha256
from rlops.store.registry import Registry
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"


class Payload:
    """Unpickling this runs code: it creates the file it names."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def plant_payload(checkpoint: Path, marker: Path) -> None:
    """Put a pickled object into parameters.pt and make the manifest's hashes agree, as an attacker would."""
    params = torch.load(checkpoint / "parameters.pt", weights_only=True)
    params["extra"] = Payload(str(marker))
    torch.save(params, checkpoint / "parameters.pt")
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["files"]["parameters.pt"] = {"sha256": file_sha256(checkpoint / "parameters.pt"),
                                          "bytes": (checkpoint / "parameters.pt").stat().st_size}
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


def test_import_refuses_a_checkpoint_that_carries_a_pickled_object(capsys, tmp_path):
    result = train_tiny("ppo", "--registry.enable", "false", steps=128)
    marker = tmp_path / "code-ran"
    plant_payload(result.checkpoint.path, marker)

    code = main(["registry", "import", str(result.run.path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "parameters.pt cannot be loaded safely" in err and "pickled object" in err
    assert "weights_only=False" not in err and "safe_globals" not in err
    assert not marker.exists()  # nothing of the file ran
    assert not Path(DB).exists() or Registry(DB).list() == []  # no registry row
    assert not list(Path("rlruns").glob("registry/*"))  # nothing copied into managed storage

    # Registering it in place is refused the same way.
    assert main(["registry", "add", str(result.checkpoint.path)]) == 1
    err = capsys.readouterr().err
    assert "cannot be loaded safely" in err and "weights_only=False" not in err
    assert not Path(DB).exists() or Registry(DB).list() == []


def test_loading_such_a_checkpoint_is_refused_without_torchs_advice(capsys, tmp_path):
    result = train_tiny("ppo", "--registry.enable", "false", steps=128)
    marker = tmp_path / "code-ran"
    plant_payload(result.checkpoint.path, marker)

    assert main(["eval", str(result.checkpoint.path), "--eval.episodes", "1"]) == 1
    err = capsys.readouterr().err
    assert "cannot be loaded safely" in err and "pickled object" in err
    assert "weights_only" not in err.replace("weights-only", "")
    assert not marker.exists()


def test_an_intact_checkpoint_still_imports(capsys):
    result = train_tiny("a2c", "--registry.enable", "false", steps=100)
    assert main(["registry", "import", str(result.run.path)]) == 0
    assert "imported model" in capsys.readouterr().out
