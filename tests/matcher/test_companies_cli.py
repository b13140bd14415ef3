"""``passaparola companies same``, run as operators run it: a process, stdin to stdout."""

from __future__ import annotations

import json
import subprocess
import sys

from services.matcher.companies import same_company
from tests.matcher.test_hostile_company_corpus import CASES


def run(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "companies", "same"],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_verdicts_one_json_line_per_input_line():
    stdin = (
        "ACME S.p.A. | Acme Holding\t\u0410CME SpA\n"  # a Cyrillic A
        "ACME Italia S.r.l.\tACME Sverige AB\n"
        "Globex S.r.l.\tInitech S.r.l.\n"
    ).encode()
    done = run(stdin)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"verdict": "same"},
        {"verdict": "ambiguous"},
        {"verdict": "different"},
    ]


def test_exactly_the_matchers_rule_on_the_whole_corpus():
    lines = [" | ".join(c.employers) + "\t" + c.company for c in CASES]
    # Names with a tab or a line break in them cannot be written as a line.
    usable = [c for c, line in zip(CASES, lines, strict=True) if line.count("\t") == 1]
    stdin = "\n".join(line for line in lines if line.count("\t") == 1) + "\n"
    done = run(stdin.encode())
    assert done.returncode == 0, done.stderr
    verdicts = [json.loads(line)["verdict"] for line in done.stdout.splitlines()]
    assert verdicts == [same_company(c.employers, [], [c.company]) for c in usable]
    assert len(verdicts) >= 90


def test_bad_lines_are_named_on_stderr_reported_in_place_and_set_the_exit_code():
    secret = "Umbrella Confidential"
    stdin = (
        b"ACME\tACME SpA\n"
        + f"{secret} without a tab\n".encode()
        + b"\n"  # blank: skipped
        + b"a\tb\tc\n"
        + b"\xff\xfe\tnot utf-8\n"
        + b"Globex\tInitech\n"
    )
    done = run(stdin)
    assert done.returncode == 65
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert out[0] == {"verdict": "same"}
    assert [o.get("line") for o in out[1:4]] == [2, 4, 5]
    assert out[4] == {"verdict": "different"}
    err = done.stderr.decode()
    assert err.count("passaparola: BadLine: line ") == 3
    assert "Traceback" not in err
    # The names on a bad line may be a member's: never echoed.
    assert secret not in err and secret not in done.stdout.decode()


def test_empty_input_is_no_output_and_success():
    done = run(b"")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """``passaparola companies same < big.tsv | head -1``: the pipe closes early."""
    big = tmp_path / "big.tsv"
    big.write_text("ACME S.p.A.\tAcme SpA\n" * 20000)
    with big.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "companies", "same"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert json.loads(proc.stdout.readline()) == {"verdict": "same"}
        proc.stdout.close()  # the reader is gone
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0
    assert b"Traceback" not in err
    assert err == b""
