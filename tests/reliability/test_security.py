"""Security cases of SPEC §13 that no other module proves: every spelling of a path out of a run,
artifacts' content types, and option values that look like shell or templates."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rlops.api.app import create_app
from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService
from rlops.store.runs import RunStore
from tests.api.http_helpers import raw_get, serving

SETTLED = ("finished", "failed", "stopped", "lost")


def a_run_with_files(tmp_path: Path) -> tuple[str, Path]:
    run_dir = Path("rlruns/run-with-files").resolve()
    run_dir.mkdir(parents=True)
    (run_dir / "train_log.jsonl").write_text("")
    with RunStore("rlruns/rlops.db") as store:
        store.register_run("run-with-files", run_dir, run_dir / "train_log.jsonl", runner="command")
    return "run-with-files", run_dir


def test_every_hostile_spelling_of_a_path_stays_inside_the_run(tmp_path):
    run_id, run_dir = a_run_with_files(tmp_path)
    (run_dir / "ok.txt").write_text("inside")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    (run_dir / "link-out").symlink_to(secret)
    (run_dir / "dir-out").symlink_to(tmp_path, target_is_directory=True)
    (run_dir / "relative-out").symlink_to("../../secret.txt")
    hostile = [
        "../../secret.txt", "..%2f..%2fsecret.txt", "%2e%2e/%2e%2e/secret.txt", "%2E%2E%2F%2E%2E%2Fsecret.txt",
        "%252e%252e/%252e%252e/secret.txt", "%25252e%25252e/secret.txt", "..%5c..%5csecret.txt",
        "ok.txt\\..\\..\\..\\secret.txt", "%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
        "%ef%bc%8e%ef%bc%8e/secret.txt",  # full-width dots
        "/etc/passwd", "%2fetc%2fpasswd", "//proc/self/root/etc/passwd", "%2f%2fproc%2fself%2froot%2fetc%2fpasswd",
        "file:///etc/passwd", "file:%2f%2f%2fetc%2fpasswd", str(secret), "C:%5cWindows%5cwin.ini",
        "ok.txt%00.png", "%00", "ok.txt;/../../../secret.txt", "..;/..;/secret.txt", "ok.txt#/../../secret.txt",
        "..%23/secret.txt", "link-out", "dir-out/secret.txt", "relative-out", "launch.json", ".", "",
    ]
    with serving(create_app("rlruns/rlops.db")) as client:
        port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
        base = f"/api/runs/{run_id}/files/"
        status, body, _ = raw_get(port, base + "ok.txt")
        assert status == 200 and body == b"inside"  # the route works, so the refusals below mean something
        for path in hostile:
            status, body, _ = raw_get(port, base + path)
            assert status in (400, 403, 404), (path, status)
            assert b"do not serve" not in body and b"root:" not in body, path
            assert json.loads(body)["error"]["message"], path  # the one error shape, even for these


def test_artifacts_are_served_with_their_real_type_and_nosniff(tmp_path):
    from PIL import Image

    run_id, run_dir = a_run_with_files(tmp_path)
    Image.new("RGB", (4, 4), "red").save(run_dir / "frame.png")
    (run_dir / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    (run_dir / "eval.json").write_text('{"mean_reward": 1.0}')
    (run_dir / "page.html").write_text("<script>alert(document.cookie)</script>")
    (run_dir / "image.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    (run_dir / "code.js").write_text("alert(1)")
    (run_dir / "frame.txt").write_bytes((run_dir / "frame.png").read_bytes())  # PNG bytes, a text name
    with serving(create_app("rlruns/rlops.db")) as client:
        port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
        base = f"/api/runs/{run_id}/files/"
        seen = {}
        for name in ("frame.png", "clip.mp4", "eval.json", "page.html", "image.svg", "code.js", "frame.txt"):
            status, _, headers = raw_get(port, base + name)
            assert status == 200, name
            headers = {k.lower(): v for k, v in headers.items()}
            assert headers["x-content-type-options"] == "nosniff", name
            seen[name] = headers
        assert seen["frame.png"]["content-type"] == "image/png"
        assert seen["clip.mp4"]["content-type"] == "video/mp4"
        assert seen["eval.json"]["content-type"].startswith("application/json")
        assert seen["frame.txt"]["content-type"].startswith("text/plain")  # by its name, never sniffed
        for active in ("page.html", "image.svg", "code.js"):  # a run's files never run as the dashboard's pages
            assert seen[active]["content-disposition"].startswith("attachment"), active
            assert "sandbox" in seen[active].get("content-security-policy", ""), active


def test_option_values_that_look_like_shell_or_templates_stay_data(tmp_path):
    marker = tmp_path / "pwned"
    hostile = (f"$(touch {marker}) `touch {marker}` ; touch {marker} && touch {marker} | ${{HOME}} "
               "{{7*7}} {options} %(name)s $RL_REGISTRY_DB\n--registry.db-path=/tmp/x")
    program = tmp_path / "echo_args.py"
    program.write_text("import json, os, sys\n"
                       "print(json.dumps({'type': 'episode', 'episode_return': 1.0, 'length': 1, 'env_steps': 1,"
                       " 'episode': 0}))\n"
                       "open(os.path.join(os.environ['RLOPS_RUN_DIR'], 'argv.json'), 'w').write(json.dumps(sys.argv))\n")
    service = TrainerService(resolve_options(environ={}, args=["--orchestrator.poll-interval", "0.1"]).options)
    run_id = service.start("command", [sys.executable, str(program), hostile, "{run_dir}", "$HOME"], name="quoted")
    deadline = time.monotonic() + 60
    while service.store.get_run(run_id)["status"] not in SETTLED:
        assert time.monotonic() < deadline
        service.tick()
        time.sleep(0.1)
    run = service.store.get_run(run_id)
    argv = json.loads((Path(run["run_dir"]) / "argv.json").read_text())
    assert argv[1:] == [hostile, "{run_dir}", "$HOME"]  # byte for byte: no shell, no template, no expansion
    assert not marker.exists()
    # An option value with the same text is data too: it resolves to itself and never adds an option.
    options = resolve_options(environ={}, args=["--store.experiment-name", hostile]).options
    assert options.store.experiment_name == hostile
    assert str(options.store.db_path) != "/tmp/x"
    service.close()
