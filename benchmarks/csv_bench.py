"""Members CSV checking speed: decoding, delimiter sniffing and every row's
checks (``services/ingest/member_csv.py``), without the database.

    .venv/bin/python -m benchmarks.csv_bench [--rows 10000] [--bad-every 10]

Builds a Windows-1252, semicolon-separated file as Italian and Swedish Excel
export it, one row in ``--bad-every`` with a wrong email and time zone, and
times ``decode`` + ``parse`` over it.
"""

from __future__ import annotations

import argparse
import csv
import io
import time

from services.ingest.member_csv import COLUMNS, decode, parse

ROW = {
    "name": "Åsa Öberg", "language": "sv", "timezone": "Europe/Stockholm",
    "desired_roles": "Ledningsassistent;VD-assistent", "cities": "Göteborg", "country": "SE",
    "remote": "hybrid", "frequency": "weekly", "quiet_hours": "22:00-07:00", "opted_in": "ja",
    "consent_at": "2026-10-01T12:00:00+01:00", "consent_text_version": "v1",
}  # fmt: skip


def build(rows: int, bad_every: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for i in range(rows):
        bad = bad_every > 0 and i % bad_every == 0
        row = {
            **ROW,
            "external_id": f"m-{i}",
            "email": "broken" if bad else f"m{i}@example.se",
            "timezone": "Mars/Base" if bad else ROW["timezone"],
        }
        writer.writerow([row.get(column, "") for column in COLUMNS])
    return out.getvalue().encode("cp1252")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad-every", type=int, default=10)
    args = parser.parse_args()
    data = build(args.rows, args.bad_every)
    started = time.perf_counter()
    text, encoding = decode(data)
    parsed = parse(text)
    took = time.perf_counter() - started
    print(
        f"{len(data) / 1e6:.2f} MB {encoding} {parsed.delimiter!r}: {len(parsed.members)} valid,"
        f" {len(parsed.rejected)} rejected in {took:.2f} s ({args.rows / took:,.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
