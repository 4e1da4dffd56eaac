from rlops.cli.app import run

run()
