"""The matcher's index split into 1, 2 and 4 shards (docs/scaling.md), on the
matcher benchmark's synthetic members and postings.

    .venv/bin/python -m benchmarks.shard_bench                       # 200k members
    .venv/bin/python -m benchmarks.shard_bench --members 1000000 --shards 1 4

For each shard count N the members are split by ``shared.topology.shard_of``
into N indexes in this one process; each posting is matched on every shard
(``MemberIndex.match`` with the service's cap), then the shards' proposals
are merged as ``handlers.merge_posting`` ranks them. Reports, per N: members
and memory per shard, per-shard p50/p99, the merge, and two aggregates:
"parallel" (the slowest shard plus the merge: what N machines take per
posting) and "one core" (every shard one after the other: what this machine
takes). Each shard count runs in a fresh process (its memory is then its
own). Two shared cores cannot run N shards side by side without the
shards and the database competing for them, so the parallel figure is
computed from each shard timed alone, not measured on N machines.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from benchmarks.matcher_bench import members, percentile, postings, rss_bytes
from services.matcher.index import MemberIndex
from services.matcher.weights import DEFAULT_WEIGHTS
from shared.topology import shard_of


def run(all_members: int, shards: int, repeats: int) -> dict[str, float]:
    gc.collect()
    before = rss_bytes()
    indexes = [MemberIndex() for _ in range(shards)]
    for member in members(all_members):
        indexes[shard_of(member.member_id, shards)].upsert(member)
    gc.collect()
    memory = rss_bytes() - before
    jobs = postings()
    cap = DEFAULT_WEIGHTS.posting_cap
    for job in jobs:  # warm the title caches, as a running service has them
        for index in indexes:
            index.match(job, limit=cap)
    per_shard: list[float] = []
    merges: list[float] = []
    parallel: list[float] = []
    one_core: list[float] = []
    for _ in range(repeats):
        for job in jobs:
            times: list[float] = []
            proposals: list[tuple[float, str]] = []
            for index in indexes:
                t = time.perf_counter()
                run_ = index.match(job, limit=cap)
                times.append(time.perf_counter() - t)
                proposals.extend((m.score, member_id) for member_id, m in run_.matches)
            t = time.perf_counter()
            sorted(proposals, key=lambda p: (-p[0], p[1]))[:cap]
            merge = time.perf_counter() - t
            per_shard.extend(times)
            merges.append(merge)
            parallel.append(max(times) + merge)
            one_core.append(sum(times) + merge)
    del indexes
    return {
        "shards": shards,
        "members_per_shard": all_members / shards,
        "memory_per_shard_mb": memory / shards / 1e6,
        "shard_p50_ms": percentile(per_shard, 0.5) * 1000,
        "shard_p99_ms": percentile(per_shard, 0.99) * 1000,
        "merge_p50_ms": percentile(merges, 0.5) * 1000,
        "parallel_p50_ms": percentile(parallel, 0.5) * 1000,
        "parallel_p99_ms": percentile(parallel, 0.99) * 1000,
        "one_core_p50_ms": percentile(one_core, 0.5) * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each posting")
    args = parser.parse_args(argv)
    print(
        "| shards | members/shard | memory/shard | shard p50 | shard p99 | merge p50 "
        "| parallel p50 (p99) | one core p50 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    # Each shard count in a fresh process: RSS never shrinks, so a second
    # configuration in the same process would reuse the first one's memory.
    spawn = multiprocessing.get_context("spawn")
    for shards in args.shards:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            r = pool.submit(run, args.members, shards, args.repeats).result()
        print(
            f"| {shards} | {r['members_per_shard']:,.0f} | {r['memory_per_shard_mb']:.0f} MB "
            f"| {r['shard_p50_ms']:.2f} ms | {r['shard_p99_ms']:.2f} ms "
            f"| {r['merge_p50_ms']:.3f} ms "
            f"| {r['parallel_p50_ms']:.2f} ms ({r['parallel_p99_ms']:.2f} ms) "
            f"| {r['one_core_p50_ms']:.2f} ms |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
