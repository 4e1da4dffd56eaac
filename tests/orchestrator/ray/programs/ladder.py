"""A `command` trial for sweeps: --train.learning-rate X --env.seed S; prints EVALS evaluations, a
third of a second apart, each scoring X times its index (a higher X is a better trial)."""

import argparse
import json
import time

parser = argparse.ArgumentParser()
parser.add_argument("--train.learning-rate", dest="lr", type=float, required=True)
parser.add_argument("--env.seed", dest="seed", type=int, default=0)
parser.add_argument("--evals", type=int, default=8)
parser.add_argument("--pause", type=float, default=0.3)
args = parser.parse_args()
print(json.dumps({"type": "meta", "config": {"lr": args.lr, "seed": args.seed}, "producer": "ladder"}), flush=True)
for n in range(1, args.evals + 1):
    print(json.dumps({"type": "episode", "episode_return": args.lr * n, "length": 1, "env_steps": 100 * n,
                      "episode": n}))
    print(json.dumps({"type": "eval", "episodes": 1, "mean_reward": args.lr * n, "env_steps": 100 * n}), flush=True)
    time.sleep(args.pause)
