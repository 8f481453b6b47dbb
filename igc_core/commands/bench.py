"""`igc bench`: how fast the search runs on this machine, and what the automatic choices chose."""

from __future__ import annotations

import argparse

import numpy as np

from .common import (add_common_options, add_search_options, check_outputs, command_line, non_negative_int, positive_int,
                     prologue, write_report)


def register(sub) -> None:
    p = sub.add_parser("bench", help="time the search: batched vs one image at a time, an interactive query, and "
                                     "(--matrix) every precision x thread count, idle and next to a busy process")
    p.add_argument("--images", type=positive_int, default=1000, help="images for the batched search")
    p.add_argument("--loop-images", type=non_negative_int, default=50, dest="loop_images", help="images for the one-at-a-time loop")
    p.add_argument("--repeats", type=positive_int, default=5, help="interactive queries to time")
    p.add_argument("--matrix", action="store_true", help="time precision (fp32, bf16, auto) x threads (each, auto)")
    p.add_argument("--neighbour", choices=["idle", "busy", "both"], default="idle",
                   help="with --matrix: measure on the machine as it is, next to a busy process that keeps one core "
                        "busy (started and stopped by the benchmark), or both")
    p.add_argument("--compare", default=None, metavar="MODELS",
                   help="comma-separated checkpoints to time side by side with --model (the shipped one by default), "
                        "--repeats rounds on the same --images, each round running every model in turn")
    p.add_argument("--json", default=None)
    add_common_options(p)
    add_search_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import runtime
    from ..data import load_dataset, to_model_range
    from ..evaluate import interactive_query, loop_vs_batched, speed_matrix
    from ..search import search

    ctx = prologue(args)
    check_outputs(args.json)
    config = ctx.config
    test = load_dataset(args.data, "test")
    x, y = to_model_range(test.images[: args.images]), test.labels[: args.images]
    native, evidence = runtime.native_bf16()
    print(f"`{command_line(args)}`")
    print(f"CPU: {runtime.cpu_name()}, {runtime.available_cores()} cores; native bfloat16: {'yes' if native else 'no'} ({evidence}); "
          f"torch {torch.__version__}")
    search(ctx.model, x[:8], config.with_(steps=3))  # warm-up (and the precision calibration, if due)
    report = {"command": command_line(args), "cpu": runtime.cpu_name(), "native_bf16": native, "search": config.to_dict()}
    if args.compare:
        from .. import checkpoints
        from ..evaluate import compare_models

        names = [m.strip() for m in args.compare.split(",") if m.strip()]
        if not names:
            raise ValueError("--compare needs at least one checkpoint")
        models = {ctx.model_path: ctx.model, **{m: checkpoints.load_generator(m)[0] for m in names}}
        rows = compare_models(models, x, y, config, args.repeats)
        report["compare"] = rows
        print(f"\nSide by side: {len(x)} test images, {config.steps} steps, {config.restarts} restart(s), precision "
              f"{config.precision}, threads {config.threads or 'automatic'}; {args.repeats} rounds, every model once per round\n")
        print("| model | ms/image (fastest round) | median | cost vs first | accuracy % |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {1000 * r['seconds_per_image']:.2f} | {1000 * r['median_seconds_per_image']:.2f} | "
                  f"{r['ratio_to_first']:.2f}x | {100 * r['accuracy']:.1f} |")
    elif args.matrix:
        threads = [*range(1, runtime.available_cores() + 1), 0]
        neighbours = ["idle", "busy"] if args.neighbour == "both" else [args.neighbour]
        print(f"\nOne search of {len(x)} images ({ctx.model.num_classes} classes x {config.restarts} restarts x "
              f"{config.steps} steps), seconds; 'busy': another process keeps one core busy\n")
        print("| neighbour | precision | ran in | threads | seconds |\n|---|---|---|---|---|")
        rows = speed_matrix(ctx.model, x, config, ["fp32", "bf16", "auto"], threads, neighbours,
                            progress=lambda r: print(f"| {r['neighbour']} | {r['precision']} | {r['ran_in']} | {r['threads']} | {r['seconds']:.2f} |", flush=True))
        report["matrix"] = rows
        for neighbour in neighbours:
            mine = [r for r in rows if r["neighbour"] == neighbour]
            default = next(r for r in mine if r["precision"] == "auto" and r["threads"] == "auto")
            best = min((r for r in mine if r["precision"] != "auto" and r["threads"] != "auto"), key=lambda r: r["seconds"])
            print(f"\n{neighbour}: the default (auto, auto) took {default['seconds']:.2f} s, the best explicit choice "
                  f"({best['precision']}, {best['threads']} threads) {best['seconds']:.2f} s: "
                  f"{default['seconds'] / best['seconds']:.2f}x")
    else:
        speed = loop_vs_batched(ctx.model, x, y, config, args.loop_images)
        report.update(speed)
        b, loop = speed["batched"], speed["loop"]
        print(f"precision: {b['precision']} ({b['precision_reason']}); threads: {config.threads or 'automatic'}\n")
        print("| what | images | seconds | s/image |\n|---|---|---|---|")
        print(f"| batched search ({ctx.model.num_classes} classes x {config.restarts} restarts x {config.steps} steps) | "
              f"{b['images']} | {b['seconds']:.2f} | {b['seconds_per_image']:.5f} |")
        print(f"| one image at a time (same settings) | {loop['images']} | {loop['seconds']:.2f} | {loop['seconds_per_image']:.5f} |")
        print(f"\nbatched is {speed['speedup']:.1f}x faster per image; {loop['same_labels_as_batched']}/{loop['images']} "
              "loop labels equal the batched ones")
        interactive = config.with_(restarts=5, steps=200)
        times = interactive_query(ctx.model, x[0], interactive, args.repeats)
        report["interactive_query"] = {"restarts": 5, "steps": 200, "median_seconds": float(np.median(times)), "runs": len(times)}
        print(f"interactive query (1 image, {ctx.model.num_classes} classes x 5 restarts x 200 steps, snapshots every step): "
              f"median {np.median(times):.3f} s over {len(times)} runs")
    if args.json:
        write_report(args.json, report)
    return 0
