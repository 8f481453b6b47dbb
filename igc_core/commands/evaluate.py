"""`igc evaluate`: the paper's accuracy table under noise, or out-of-class detection (`--ood`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import (add_common_options, add_multilabel_options, add_search_options, check_outputs, command_line, floats,
                     ints, multilabel_config, non_negative_int, positive_int, progress_bar, prologue, write_report)

OOC_SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # the app's noise slider's range


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy under noise (the paper's protocol), or out-of-class detection with --ood; "
                                        "--task two-digit: reading two-digit numbers (paper Sec. 1.4)")
    p.add_argument("--task", default="digit", choices=["digit", "two-digit"],
                   help="two-digit: per-label and exhaustive multi-label search and the naive split baseline on fixed "
                        "test pairs (--model defaults to assets/two-digit)")
    p.add_argument("--pairs", type=positive_int, default=1000, help="two-digit: test pairs (default 1,000)")
    p.add_argument("--methods", default="per-label,exhaustive,naive split",
                   help="two-digit: comma-separated, from per-label, exhaustive, naive split")
    p.add_argument("--digit-model", dest="digit_model", default=None,
                   help="two-digit: the single-digit model of the naive split (default: the shipped one)")
    p.add_argument("--limit", type=non_negative_int, default=0, help="first N test images only (default: all 10,000)")
    p.add_argument("--sigmas", type=floats, default=[0.0, 0.2, 0.4])
    p.add_argument("--restarts", type=ints, default=[1, 5], help="latents per class to measure, e.g. 1,5 (two-digit: the first)")
    p.add_argument("--cnn", default=None, help="CNN baseline checkpoint (default: the shipped one if present; 'none' to skip)")
    p.add_argument("--via-files", choices=["png", "scan"], default=None, dest="via_files",
                   help="classify through image files, as `igc classify` does: 'png' saves each (noisy) test image as a "
                        "28x28 PNG; 'scan' makes a noisy, enlarged, off-centre dark-on-light scan of it (noise per scanned pixel)")
    p.add_argument("--ood", default=None, help="a folder with another IDX data set (e.g. Fashion-MNIST): measure OOC separation")
    p.add_argument("--set", default=None, dest="testset", choices=["typeset", "strokes", "letters", "photos"],
                   help="digits that are not MNIST's, made here and framed like a user's file: 'typeset' (0-9 in every font "
                        "face on this machine, 4 sizes), 'strokes' (MNIST test digits redrawn thin, thick, slanted, small, "
                        "large; --limit digits, default 1000), 'letters' (A-Z, a-z beside 0-9 in the same faces: OOC separation), "
                        "'photos' (every 5th of the first --limit MNIST test digits on photographed pages: shadow, gradient, "
                        "vignette, ruled and squared paper, colour, JPEG, blur and noise, low contrast, all at once)")
    p.add_argument("--fonts", default=None, help="with --set typeset/letters: a folder of .ttf/.otf fonts (default: the machine's)")
    p.add_argument("--save-metrics", action="store_true", dest="save_metrics",
                   help="with --set: record the result in the model's sidecar (metrics.not_mnist.SET, with this command)")
    p.add_argument("--save-threshold", action="store_true",
                   help="with --ood (or --task two-digit): store the 95%%-TPR thresholds (clean and per noise level) in the model's sidecar")
    p.add_argument("--fid", action="store_true",
                   help="sample quality per class instead: the Frechet distance between generated and real test images in the "
                        "CNN baseline's features (--cnn), beside the real-vs-real floor, and the share the CNN reads as their class")
    p.add_argument("--fid-samples", type=non_negative_int, default=1000, dest="fid_samples",
                   help="with --fid: generated (and real training) images per class (default: 1000)")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    add_common_options(p)
    add_search_options(p, restarts=False)
    add_multilabel_options(p, mode=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import Dataset, load_dataset

    ctx = prologue(args)
    _check_before_the_work(args, ctx)
    test = load_dataset(args.data, "test") if args.testset in (None, "strokes", "photos") else None
    if args.task == "two-digit":
        return _two_digit(args, ctx, test)
    if args.limit and test is not None:
        test = Dataset(test.images[: args.limit], test.labels[: args.limit], test.name)
    report = {"command": command_line(args), "model": ctx.model_path, "search": ctx.config.to_dict(),
              "images": len(test) if test is not None else None, "via_files": args.via_files}
    if args.testset:
        report["mnist_test"] = test
    if args.fid:
        _fid(args, ctx, test, report)
    elif args.testset:
        _testset(args, ctx, report)
    elif args.ood:
        _ood(args, ctx, test, report)
    else:
        _accuracy(args, ctx, test, report)
    if args.json:
        write_report(args.json, report)
    return 0


def _check_before_the_work(args, ctx) -> None:
    """Refuse, before minutes of measuring, what would fail after them: an output that cannot be written, a model
    whose sidecar cannot take the figures, settings this evaluation cannot use."""
    from .. import checkpoints

    if any(s < 0 for s in args.sigmas):
        raise ValueError(f"noise levels (--sigmas) must be 0 or more (got {', '.join(f'{s:g}' for s in args.sigmas)})")
    check_outputs(args.json)
    if args.save_metrics or args.save_threshold:
        checkpoints.check_writable(ctx.model_path)
        card = ctx.meta.get("metrics", {}).get("not_mnist", {})
        if args.save_metrics and not isinstance(card, dict):
            raise ValueError(f"{checkpoints.paths(ctx.model_path)[1].name}: its metrics.not_mnist is not a section of "
                             f"entries ({type(card).__name__}): --save-metrics cannot add to it")
    if args.fid and (len(ctx.model.label_classes) > 1 or tuple(ctx.model.image_shape) != (28, 28)):
        raise ValueError(f"--fid measures single-digit generators (28x28); {ctx.model_path} draws "
                         f"{'x'.join(map(str, ctx.model.image_shape))} images of {len(ctx.model.label_classes)} labels")


def _accuracy(args, ctx, test, report) -> None:
    from .. import checkpoints
    from ..evaluate import INPUTS, NOISE_SEED, PAPER_SECONDS_PER_IMAGE, accuracy_table

    cnn = None
    if args.cnn != "none":
        cnn_path = Path(args.cnn) if args.cnn else checkpoints.DEFAULT_CNN
        if args.cnn or checkpoints.paths(cnn_path)[0].exists():
            cnn, _ = checkpoints.load_classifier(cnn_path)
    bar, update = progress_bar(len(test) * len(args.sigmas) * len(args.restarts), args.quiet)
    rows = accuracy_table(ctx.model, test, args.sigmas, args.restarts, ctx.config, cnn, update,
                          inputs=INPUTS[args.via_files or "arrays"])
    bar.close()
    report["rows"] = [r.to_dict() for r in rows]
    config = ctx.config
    how = {None: "as arrays", "png": "saved as 28x28 PNG files and read through the file loader",
           "scan": "as noisy 112x112 scans on a 160x160 page, read through the file loader"}[args.via_files]
    print(f"Accuracy on {len(test)} MNIST test images ({how}), noise sigma*N(0,1) clipped to [-0.5, 0.5] (seed {NOISE_SEED})")
    print(f"search: {config.steps} steps, lr {config.lr:g}, lambda_LR {config.lambda_lr:g}, dif {config.dif}, "
          f"score {config.score}, init {config.init}, precision {config.precision}; `{command_line(args)}`\n")
    print(format_table(rows))
    print(f"\npaper: 1,000 images, about {PAPER_SECONDS_PER_IMAGE:.2f} s/image on an RTX 2080 Ti")


def format_table(rows) -> str:
    lines = [
        "| method | latents/class | sigma | accuracy % | 95% CI | paper % | s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.to_dict()
        paper = "" if d["paper_accuracy"] is None else f"{d['paper_accuracy']:.1f}"
        diverged = f" ({row.diverged} diverged)" if row.diverged else ""
        lines.append(
            f"| {row.method} | {row.restarts or ''} | {row.sigma:g} | {row.accuracy:.2f}{diverged} | "
            f"{d['ci95'][0]:.2f}-{d['ci95'][1]:.2f} | {paper} | {d['seconds_per_image']:.4f} |"
        )
    diverged = sum(row.diverged for row in rows)
    if diverged:
        lines.append(f"\n{diverged} of {sum(row.total for row in rows if row.method == 'IGC')} searches diverged (their "
                     "distances are not finite, their labels meaningless): lower --lr")
    return "\n".join(lines)


def _ood(args, ctx, test, report) -> None:
    from .. import checkpoints
    from ..data import load_dataset, to_model_range
    from ..evaluate import noise_images, ood_report, ooc_thresholds, run_search, via_files

    other = load_dataset(args.ood, "test", download=False)
    n = len(test)
    sets = {f"{Path(args.ood).name}": to_model_range(other.images[:n]),
            "uniform noise": noise_images("uniform", n), "gaussian noise": noise_images("gaussian", n)}
    digits = to_model_range(test.images)
    if args.via_files == "png":
        digits = via_files(digits)
        sets = {name: via_files(x) for name, x in sets.items()}
    elif args.via_files:
        raise ValueError("--ood measures through files with --via-files png (the other sets have no scans)")
    extra = len(OOC_SIGMAS) - 1 if args.save_threshold else 0
    bar, update = progress_bar(n * (1 + len(sets) + extra), args.quiet)
    in_ooc = run_search(ctx.model, digits, ctx.config, update, "digits").ooc
    out = {name: run_search(ctx.model, x, ctx.config, update, name).ooc for name, x in sets.items()}
    threshold, rows = ood_report(in_ooc, out)
    per_sigma = None
    if args.save_threshold:
        per_sigma = {0.0: threshold, **ooc_thresholds(ctx.model, test.images, ctx.config, OOC_SIGMAS[1:], progress=update)}
    bar.close()
    report["ood"] = {"threshold_95tpr": threshold, "sets": rows, "median_digit_ooc": float(np.median(in_ooc))}
    how = " (through PNG files)" if args.via_files else ""
    print(f"OOC out-of-class detection, {n} MNIST test digits vs each set{how} ({command_line(args)})\n")
    print("| set | images | AUROC | FPR at 95% TPR | median OOC |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['images']} | {r['auroc']:.4f} | {r['fpr_at_95tpr']:.4f} | {r['median_ooc']:.4f} |")
    print(f"\nmedian digit OOC {np.median(in_ooc):.4f}; threshold keeping 95% of digits in class: {threshold:.4f}")
    if per_sigma:
        report["ood"]["thresholds_by_sigma"] = per_sigma
        print("thresholds keeping 95% of noisy digits in class: "
              + ", ".join(f"sigma {s:g}: {t:.4f}" for s, t in per_sigma.items()))
        checkpoints.set_metric(args.model, "ooc_threshold", round(threshold, 5), note={
            "ooc_thresholds_by_sigma": {f"{s:g}": round(t, 5) for s, t in per_sigma.items()},
            "ooc_threshold_measured_by": command_line(args), "ooc_threshold_search": ctx.config.to_dict()})
        print("saved as the model's thresholds (sidecar metrics.ooc_threshold and metrics.ooc_thresholds_by_sigma)")


def _fid(args, ctx, test, report) -> None:
    import time

    from .. import checkpoints
    from ..data import load_dataset
    from ..fid import format_fid_table, per_class_fid

    if args.cnn == "none":
        raise ValueError("--fid measures in the CNN baseline's features: give a CNN checkpoint with --cnn (not 'none')")
    if args.fid_samples < 2:
        raise ValueError("--fid-samples must be at least 2")
    cnn, _ = checkpoints.load_classifier(args.cnn or checkpoints.DEFAULT_CNN)
    train = load_dataset(args.data, "train")
    seed = ctx.config.seed
    bar, update = progress_bar(ctx.model.num_classes, args.quiet, unit="class")
    started = time.perf_counter()
    rows = per_class_fid(ctx.model, cnn, train, test, args.fid_samples, seed=seed, progress=lambda k: update(f"class {k}", 1))
    bar.close()
    report["fid"] = {"per_class": [vars(r) for r in rows], "samples_per_class": args.fid_samples, "seed": seed,
                     "seconds": round(time.perf_counter() - started, 1)}
    print(f"Sample quality per class: Frechet distance in the CNN baseline's penultimate features (not Inception FID), "
          f"{args.fid_samples} images generated per class from the latent prior vs all of the class's images among {len(test)} test "
          f"images; floor: {args.fid_samples} real training images of the class vs the same test images (`{command_line(args)}`)\n")
    print(format_fid_table(rows))


def _testset(args, ctx, report) -> None:
    """Accuracy (IGC and the CNN) on a not-MNIST set, and OOC separation of letters from digits."""
    from .. import checkpoints, testsets
    from ..evaluate import run_search, wilson_interval

    test = report.pop("mnist_test")
    fonts = testsets.find_fonts((args.fonts,)) if args.fonts else None
    if args.fonts and not fonts:
        raise ValueError(f"no .ttf or .otf font faces in {args.fonts}")
    ts = testsets.build(args.testset, test, limit=args.limit or 1000, fonts=fonts)
    report.update({"set": ts.name, "images": len(ts), "sources": list(ts.sources)})
    bar, update = progress_bar(len(ts), args.quiet)
    result = run_search(ctx.model, ts.images - 0.5, ctx.config, update, ts.name)
    bar.close()
    cnn = None
    if args.cnn != "none":
        cnn_path = Path(args.cnn) if args.cnn else checkpoints.DEFAULT_CNN
        if args.cnn or checkpoints.paths(cnn_path)[0].exists():
            cnn, _ = checkpoints.load_classifier(cnn_path)
    cnn_labels = cnn.predict(ts.images - 0.5) if cnn is not None else None
    config = ctx.config
    what = {"typeset": f"the digits typeset in {len(ts.sources)} font faces at sizes {', '.join(map(str, testsets.TYPESET_SIZES))} px",
            "strokes": f"{ts.sources[0]} redrawn: {', '.join(testsets.STROKE_VARIANTS)}",
            "photos": f"{ts.sources[0]} on photographed pages, through image files: {', '.join(testsets.PHOTO_CONDITIONS)}",
            "letters": f"A-Z, a-z and 0-9 typeset in {len(ts.sources)} font faces at {testsets.LETTER_SIZES[0]} px"}[ts.name]
    print(f"Not-MNIST set '{ts.name}': {len(ts)} images, {what}; framed like a user's file")
    print(f"search: {config.steps} steps, lr {config.lr:g}, lambda_LR {config.lambda_lr:g}, dif {config.dif}, "
          f"score {config.score}, init {config.init}, precision {config.precision}; `{command_line(args)}`\n")

    def table(key: str, title: str, rows_of=None) -> list[dict]:
        rows = testsets.accuracy_by_group(ts, result.labels, key) if rows_of is None else rows_of
        cnn_rows = {r[key]: r for r in testsets.accuracy_by_group(ts, cnn_labels, key)} if cnn_labels is not None else {}
        print(f"| {title} | digits | IGC % | 95% CI |" + (" CNN % |" if cnn_rows else "") + "\n|---|---|---|---|" + ("---|" if cnn_rows else ""))
        for r in rows:
            lo, hi = wilson_interval(r["correct"], r["images"])
            line = f"| {r[key]} | {r['images']} | {100 * r['correct'] / r['images']:.2f} | {lo:.1f}-{hi:.1f} |"
            if cnn_rows:
                c = cnn_rows[r[key]]
                line += f" {100 * c['correct'] / c['images']:.2f} |"
            print(line)
        print()
        return rows

    digits = ts.labels >= 0
    overall = {"group": "all", "images": int(digits.sum()), "correct": int(np.sum(result.labels[digits] == ts.labels[digits]))}
    report["accuracy"] = overall["correct"] / overall["images"]
    if cnn_labels is not None:
        report["cnn_accuracy"] = float(np.mean(cnn_labels[digits] == ts.labels[digits]))
    if ts.name in ("strokes", "photos"):
        report["by_variant"] = table("group", "variant" if ts.name == "strokes" else "condition") + [overall]
        print(f"all {'variants' if ts.name == 'strokes' else 'conditions'}: IGC {100 * report['accuracy']:.2f}%" + (f", CNN {100 * report['cnn_accuracy']:.2f}%" if cnn_labels is not None else ""))
    else:
        report["by_digit"] = table("char", "digit")
        if ts.name == "typeset":
            report["by_size"] = table("size", "font size px")
            report["by_style"] = table("style", "weight and slant")
        faces = testsets.accuracy_by_group(ts, result.labels, "group")
        worst = sorted(faces, key=lambda r: r["correct"] / r["images"])[:5]
        print(f"all digits: IGC {100 * report['accuracy']:.2f}%" + (f", CNN {100 * report['cnn_accuracy']:.2f}%" if cnn_labels is not None else "")
              + "; hardest faces: " + ", ".join(f"{r['group']} {100 * r['correct'] / r['images']:.0f}%" for r in worst))
    if ts.name == "letters":
        sep = testsets.out_of_class_report(ts, result.ooc)
        report["ooc"] = sep
        print(f"\nOOC letters vs digits (same faces and size): AUROC {sep['auroc']:.4f}; without the look-alikes "
              f"{sep['lookalikes']}: {sep['auroc_without_lookalikes']:.4f}; letters let through when 95% of the digits are "
              f"kept: {100 * sep['fpr_at_95tpr']:.1f}%")
        letters = ts.labels < 0
        kept = {c: float(np.mean(result.ooc[letters & (ts.chars == c)] <= sep["threshold_95tpr"])) for c in testsets.LETTERS}
        report["letters_let_through"] = kept
        print("share of each letter let through: " + " ".join(f"{c}:{100 * v:.0f}" for c, v in kept.items()))
    if args.save_metrics:
        card = {"images": int(digits.sum()), "igc_accuracy": round(report["accuracy"], 4), "measured_by": command_line(args),
                "search": config.to_dict(), "sources": len(ts.sources)}
        if "cnn_accuracy" in report:
            card["cnn_accuracy"] = round(report["cnn_accuracy"], 4)
        if "ooc" in report:
            card.update(ooc_auroc=round(report["ooc"]["auroc"], 4),
                        ooc_auroc_without_lookalikes=round(report["ooc"]["auroc_without_lookalikes"], 4))
        if "by_variant" in report:
            card["by_variant"] = {r["group"]: round(r["correct"] / r["images"], 4) for r in report["by_variant"]}
        if "by_size" in report:
            card["by_size_px"] = {str(r["size"]): round(r["correct"] / r["images"], 4) for r in report["by_size"]}
        _, sidecar = checkpoints.paths(ctx.model_path)
        merged = {**checkpoints.read_meta(sidecar).get("metrics", {}).get("not_mnist", {}), ts.name: card}
        checkpoints.set_metric(ctx.model_path, "not_mnist", merged)
        print(f"\nsaved in {sidecar.name} (metrics.not_mnist.{ts.name})")
def _two_digit(args, ctx, test) -> int:
    """Per-label vs exhaustive multi-label IGC vs the naive split on fixed test pairs (IGC paper Sec. 1.4)."""
    from .. import checkpoints
    from ..evaluate import NOISE_SEED
    from ..evaluate_two_digit import METHODS, format_two_digit_table, two_digit_table
    from ..pairs import fixed_pairs

    if len(ctx.model.label_classes) < 2:
        raise ValueError(f"{ctx.model_path} reads one label: --task two-digit needs a two-digit model (assets/two-digit)")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(METHODS)}")
    pairs = fixed_pairs(test, min(args.pairs, len(test)))
    config = multilabel_config(args, ctx.config.with_(restarts=args.restarts[0]), mode="per-label")
    digit_model = digit_config = None
    if "naive split" in methods:
        digit_model, _ = checkpoints.load_generator(args.digit_model)
        digit_config = ctx.config.with_(restarts=args.restarts[0])
    bar, update = progress_bar(len(pairs) * len(args.sigmas) * len(methods), args.quiet)
    rows, oocs = two_digit_table(ctx.model, pairs, args.sigmas, config, methods, digit_model, digit_config, update)
    bar.close()
    report = {"command": command_line(args), "model": ctx.model_path, "task": "two-digit", "pairs": len(pairs),
              "search": config.to_dict(), "rows": [r.to_dict() for r in rows]}
    print(f"Reading two-digit numbers: {len(pairs)} fixed test pairs of MNIST test digits (28x56, overlap 0-8 px, "
          f"jitter up to 2 px), noise sigma*N(0,1) clipped to [-0.5, 0.5] (seed {NOISE_SEED})")
    print(f"search: {ctx.config.steps} steps, lr {ctx.config.lr:g}, lambda_LR {ctx.config.lambda_lr:g}, dif {ctx.config.dif}, "
          f"precision {ctx.config.precision}; relaxed conditions: lr {config.cond_lr:g}, temperature "
          f"{config.temperature:g} -> {config.final_temperature:g}; `{command_line(args)}`\n")
    print(format_two_digit_table(rows))
    for sigma in args.sigmas:
        by = {r.method: r for r in rows if r.sigma == sigma}
        if "per-label" in by and "exhaustive" in by:
            per, every = by["per-label"], by["exhaustive"]
            print(f"sigma {sigma:g}: per-label took {per.cpu_seconds / max(every.cpu_seconds, 1e-9):.2f} of the exhaustive "
                  f"search's CPU time ({per.seconds / max(every.seconds, 1e-9):.2f} of its wall time); both digits "
                  f"{per.accuracy - every.accuracy:+.2f} points")
    if args.save_threshold and 0.0 in oocs:
        threshold = float(np.quantile(oocs[0.0], 0.95))
        by_sigma = {f"{s:g}": round(float(np.quantile(o, 0.95)), 5) for s, o in oocs.items()}
        checkpoints.set_metric(ctx.model_path, "ooc_threshold", round(threshold, 5), note={
            "ooc_thresholds_by_sigma": by_sigma, "ooc_threshold_measured_by": command_line(args),
            "ooc_threshold_search": config.to_dict()})
        report["ooc_thresholds_by_sigma"] = by_sigma
        print(f"\nsaved the OOC thresholds keeping 95% of the test numbers in class (per-label search): {by_sigma}")
    if args.json:
        write_report(args.json, report)
    return 0
