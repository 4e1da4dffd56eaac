"""A CleanRL-style script whose event file exists before its hyperparameters reach it: it creates
its SummaryWriter (the file, with its header only) and waits until the run's log has a line or 3 s
have passed (a worker that logs the TensorBoard directory at once, with a meta of its own, has
done so by then). MODE `table-first` then writes the hyperparameters table and a scalar, as CleanRL
does; `scalar-first` writes a scalar, waits for it to be in the log, then the table."""

import os
import sys
import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

TABLE = "|param|value|\n|-|-|\n|total_timesteps|64|\n|seed|3|\n|env_id|CartPole-v1|"
log = Path(os.environ["RLOPS_RUN_DIR"]) / "train_log.jsonl"


def wait_for_log(lines: int) -> None:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (not log.exists() or log.read_bytes().count(b"\n") < lines):
        time.sleep(0.05)


writer = SummaryWriter("runs/late")
writer.flush()
wait_for_log(1)
if sys.argv[1] == "scalar-first":
    writer.add_scalar("losses/value_loss", 0.5, 32)
    writer.add_scalar("losses/value_loss", 0.25, 64)  # a later step: the first one's record is complete
    writer.flush()
    wait_for_log(3)
writer.add_text("hyperparameters", TABLE)
writer.add_scalar("charts/SPS", 10.0, 64)
writer.close()
