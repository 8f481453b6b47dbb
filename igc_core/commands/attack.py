"""`igc attack`: the robustness suite (ROBUSTNESS.md) against IGC or the CNN, scored by the product itself."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import (add_common_options, add_search_options, check_outputs, command_line, floats, non_negative_int,
                     positive_int, progress_bar, prologue, threshold_arg, write_report)

DESCRIPTIONS = {
    "clean": "clean (no attack)",
    "fgsm": "FGSM, white-box",
    "pgd": "PGD-{steps}, random start, white-box",
    "transfer": "transfer: PGD-{steps} made on the CNN",
    "optimum": "PGD-{steps} through the search's optimum ({surrogate} gradient)",
    "optimum-mae": "PGD-{steps} through the optimum, MAE's own gradient",
    "unrolled": "PGD-{unrolled_steps} through {unroll} unrolled search steps",
    "ooc": "PGD-{steps} through the optimum, keeping OOC under the threshold",
    "bypass": "PGD-{steps} through the optimum of the search without binarisation",
    "flip": "pixel flips across the ink level, priced at the optimum",
    "contrast": "contrast toward grey (no gradient)",
    "fade": "ink fading toward black (no gradient)",
    "noise": "random noise on the budget's edge ({noise_draws} draws)",
    "boundary": "boundary walk, labels only ({boundary_steps} steps)",
}


def _threshold_arg(text: str):
    """A word ('auto', 'model', 'measure', 'none') or an OOC threshold as `igc classify` takes it."""
    if text in ("auto", "model", "measure", "none"):
        return text
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the threshold is a number, 'auto', 'model', 'measure' or 'none' (got {text!r})") from None
    return threshold_arg(text)


def register(sub) -> None:
    from ..robustness import CNN_ATTACKS, DEFAULT_IGC_ATTACKS, IGC_ATTACKS

    p = sub.add_parser("attack", help="adversarial robustness of IGC or the CNN: white-box, transfer and "
                                      "gradient-free attacks, every result scored by the product itself")
    p.add_argument("--target", choices=["igc", "cnn"], default="igc", help="the model attacked and scored (default: igc)")
    p.add_argument("--cnn", default=None, help="CNN checkpoint (default: the shipped one)")
    p.add_argument("--images", type=positive_int, default=200, help="how many test images (default: 200)")
    p.add_argument("--select", choices=["both", "all"], default="both",
                   help="'both': the first N test images the CNN and the IGC both classify right (default); 'all': the first N")
    p.add_argument("--attacks", default=None,
                   help=f"comma-separated; IGC: {', '.join(IGC_ATTACKS)} (default: {','.join(DEFAULT_IGC_ATTACKS)}); "
                        f"CNN: {', '.join(CNN_ATTACKS)} (default: all)")
    p.add_argument("--linf", type=floats, default=[0.1, 0.2, 0.3], help="L-inf budgets on the 0-1 pixel scale")
    p.add_argument("--l2", type=floats, default=[1.0, 1.5, 2.0], help="L2 budgets on the 0-1 pixel scale")
    p.add_argument("--no-l2", action="store_true", dest="no_l2", help="L-inf budgets only")
    p.add_argument("--pgd-steps", type=positive_int, default=40, dest="pgd_steps")
    p.add_argument("--refine-steps", type=positive_int, default=10, dest="refine_steps",
                   help="search steps that re-find the optimum before each IGC gradient")
    p.add_argument("--unroll", type=positive_int, default=10, help="search steps the unrolled attack differentiates through")
    p.add_argument("--unrolled-steps", type=positive_int, default=20, dest="unrolled_steps", help="PGD steps of the unrolled attack")
    p.add_argument("--surrogate", choices=["smooth", "mse", "mae"], default=None,
                   help="the distance the IGC gradient is taken of (default: the search's own where it is smooth, "
                        "'mse'; else 'smooth', MAE with a rounded kink, since MAE's own gradient masks)")
    p.add_argument("--soft-binarize", type=float, default=0.0, dest="soft_binarize",
                   help="against a --binarize search: differentiate a sigmoid step this wide instead of the identity")
    p.add_argument("--contrast-step", type=float, default=0.025, dest="contrast_step")
    p.add_argument("--noise-draws", type=positive_int, default=2, dest="noise_draws")
    p.add_argument("--boundary-steps", type=non_negative_int, default=25, dest="boundary_steps")
    p.add_argument("--attack-seed", type=int, default=0, dest="attack_seed")
    p.add_argument("--threshold", type=_threshold_arg, default="auto",
                   help="OOC threshold for 'correct or rejected': a number; 'model' (the sidecar's); 'measure' (95%% of "
                        "the last 1,000 test digits in class, with this search); 'auto' (default: the model's if it was "
                        "measured with these search settings, else measured); 'none'")
    p.add_argument("--via-files", action="store_true", dest="via_files",
                   help="IGC: score (and attack, straight through) the images as `igc classify` reads files: 8-bit PNG, framed")
    p.add_argument("--examples", default=None, help="write example sheets to PREFIX-linf.png and PREFIX-l2.png")
    p.add_argument("--example-images", type=positive_int, default=4, dest="example_images")
    p.add_argument("--json", default=None, help="also write the numbers (per attack, budget and image) to this file")
    add_common_options(p)
    add_search_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import checkpoints
    from ..data import load_dataset, to_model_range
    from ..robustness import DEFAULT_CNN_ATTACKS, DEFAULT_IGC_ATTACKS, CNNProduct, IGCProduct, SuiteConfig, run_suite, select

    ctx = prologue(args)
    check_outputs(args.json, *(f"{args.examples}-{norm}.png" for norm in ("linf", "l2")) if args.examples else ())
    if args.via_files and args.target == "cnn":
        raise ValueError("--via-files applies to IGC (the file loader is igc classify's)")
    attacks = tuple(a.strip() for a in args.attacks.split(",") if a.strip()) if args.attacks else (
        DEFAULT_IGC_ATTACKS if args.target == "igc" else DEFAULT_CNN_ATTACKS)
    if not args.attacks and args.target == "igc" and ctx.config.binarize > 0:
        from ..robustness import BINARIZE_ATTACKS

        attacks = attacks + BINARIZE_ATTACKS
    suite = SuiteConfig(attacks=attacks, linf=args.linf, l2=() if args.no_l2 else args.l2, steps=args.pgd_steps,
                        refine_steps=args.refine_steps, unroll=args.unroll, unrolled_steps=args.unrolled_steps,
                        surrogate=args.surrogate or default_surrogate(ctx.config.dif), soft_binarize=args.soft_binarize, contrast_step=args.contrast_step, noise_draws=args.noise_draws,
                        boundary_steps=args.boundary_steps, seed=args.attack_seed)
    suite.jobs(args.target)  # refuses attacks that do not apply before anything slow runs
    cnn_path = Path(args.cnn) if args.cnn else checkpoints.DEFAULT_CNN
    cnn, _ = checkpoints.load_classifier(cnn_path)
    test = load_dataset(args.data, "test")
    images = to_model_range(test.images)
    threshold, threshold_note = _threshold(args, ctx, images)
    igc = IGCProduct(ctx.model, ctx.config, threshold, via_files=args.via_files)
    cnn_product = CNNProduct(cnn)
    product = igc if args.target == "igc" else cnn_product

    pool = len(images) - _held_out(len(images)) if threshold_note.startswith("measured") else len(images)
    if args.select == "both":
        index = select([cnn_product, igc], images[:pool], test.labels[:pool], args.images)
        how = f"the first {len(index)} MNIST test images that the CNN and this IGC both classify right"
    else:
        index = np.arange(min(args.images, pool))
        how = f"the first {len(index)} MNIST test images"
    if len(index) == 0:
        raise ValueError("no test image qualifies: both models get every candidate wrong")
    x, y = torch.as_tensor(images[index]), test.labels[index]
    bar, update = progress_bar(len(suite.jobs(args.target)), args.quiet, unit="attack")
    ledger = run_suite(product, x, y, suite, cnn=cnn, progress=update)
    bar.close()

    fmt = {"steps": suite.steps, "surrogate": suite.surrogate, "unroll": suite.unroll, "unrolled_steps": suite.unrolled_steps,
           "noise_draws": suite.noise_draws, "boundary_steps": suite.boundary_steps}
    c = ctx.config
    files = " through PNG files and the file loader" if args.via_files else ""
    print(f"Robustness of the {product.name} ({ctx.model_path if args.target == 'igc' else cnn_path}){files}: {how}; "
          f"every adversarial scored by the {product.name} itself. `{command_line(args)}`")
    print(f"search: {c.steps} steps, lr {c.lr:g}, lambda_LR {c.lambda_lr:g}, dif {c.dif}, score {c.score}, "
          f"restarts {c.restarts}, intensity {c.intensity}, binarize {c.binarize:g}, precision {c.precision}")
    print("budgets on the 0-1 pixel scale; an adversarial found at a small budget counts at every larger one\n")
    print("accuracy %\n")
    print(_table(ledger, suite, fmt, reject=False))
    if args.target == "igc" and threshold is not None:
        clean_rejected = 100 * (1 - ledger.accuracy("linf", 0.0, "clean", reject=True) / 100)
        print(f"\ncorrect or rejected % (rejected: OOC above {threshold:.4f}, {threshold_note}; "
              f"clean digits of this set rejected: {clean_rejected:.1f}%)\n")
        print(_table(ledger, suite, fmt, reject=True))
    other = cnn.predict if args.target == "igc" else (lambda a: igc(torch.as_tensor(a)).labels)
    readable = _other_reads(ledger, suite, other)
    if readable:
        name = "CNN" if args.target == "igc" else "IGC"
        print(f"\nthe {name} reads the {product.name}'s own adversarials (white-box or labels-only, one per fooled image "
              f"and budget) as the true digit: "
              + "; ".join(f"{n} {e:g}: {p:.0f}% of {k}" for (n, e), (p, k) in readable.items()))
    if args.examples:
        from ..robustness import example_sheet

        names = (product.name, "CNN" if args.target == "igc" else "IGC")
        shown = list(range(min(args.example_images, len(y))))
        Path(args.examples).parent.mkdir(parents=True, exist_ok=True)
        for norm in suite.budgets():
            path = f"{args.examples}-{norm}.png"
            example_sheet(ledger, norm, shown, other, names).save(path, optimize=True)
            print(f"examples: {path}")
    if args.json:
        report = {"command": command_line(args), "target": args.target, "model": ctx.model_path, "cnn": str(cnn_path),
                  "search": c.to_dict(), "suite": {k: getattr(suite, k) for k in suite.__dataclass_fields__},
                  "threshold": threshold, "threshold_note": threshold_note, "via_files": args.via_files,
                  "test_indices": index.tolist(), "labels": y.tolist(),
                  "accuracy": _numbers(ledger, suite, False), "correct_or_rejected": _numbers(ledger, suite, True),
                  "smallest_fooling_perturbation": {a: {f"{k}/{n}": [None if not np.isfinite(v) else round(float(v), 5) for v in arr]
                                                        for (k, n), arr in ledger.broken[a].items()} for a in ledger.attacks()}}
        write_report(args.json, report, indent=1)
    return 0


def default_surrogate(dif: str) -> str:
    """The distance the white-box IGC attacks differentiate: the product's own where it is smooth (MSE: against
    an MSE search the MAE-like stand-in left 86% of 50 digits right at L2 1.5, the exact gradient 68%), else
    'smooth' (MAE's own derivative is a sign pattern that masks the gradient)."""
    return "mse" if dif == "mse" else "smooth"


def _threshold(args, ctx, images) -> tuple[float | None, str]:
    from ..checkpoints import recommended_threshold
    from ..search import DISTANCE_SETTINGS, search

    if isinstance(args.threshold, float):
        return args.threshold, "given"
    if args.threshold == "none":
        return None, "none"
    measured_with = ctx.meta.get("metrics", {}).get("ooc_threshold_search", {})
    same = all(measured_with.get(k, getattr(ctx.config, k)) == getattr(ctx.config, k) for k in DISTANCE_SETTINGS)
    model_value = recommended_threshold(ctx.meta)
    if args.threshold == "model" or (args.threshold == "auto" and same and model_value is not None and not args.via_files):
        if model_value is None:
            raise ValueError("this model has no measured OOC threshold: pass --threshold measure or a number")
        return model_value, "the model's measured threshold"
    from ..evaluate import via_files

    k = _held_out(len(images))
    held_out = images[-k:]
    ooc = search(ctx.model, via_files(held_out) if args.via_files else held_out, ctx.config).ooc
    return float(np.quantile(ooc, 0.95)), f"measured: 95% of the last {k:,} test digits in class, this search"


def _held_out(n: int) -> int:
    """Test images set aside to measure a threshold: the last 1,000 (the last half of a small set)."""
    return 1000 if n > 2000 else n // 2


def _columns(suite):
    return [(norm, eps) for norm, budgets in suite.budgets().items() for eps in budgets]


def _table(ledger, suite, fmt, reject: bool) -> str:
    cols = _columns(suite)
    head = "| attack | " + " | ".join(f"{'L∞' if n == 'linf' else 'L2'} {e:g}" for n, e in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for attack in ledger.attacks():
        label = DESCRIPTIONS.get(attack, attack).format(**fmt)
        lines.append(f"| {label} | " + " | ".join(f"{ledger.accuracy(n, e, attack, reject):.1f}" for n, e in cols) + " |")
    lines.append("| **worst case** | " + " | ".join(f"**{ledger.accuracy(n, e, None, reject):.1f}**" for n, e in cols) + " |")
    return "\n".join(lines)


def _numbers(ledger, suite, reject: bool) -> dict:
    cols = _columns(suite)
    out = {a: {f"{n} {e:g}": round(ledger.accuracy(n, e, a, reject), 2) for n, e in cols} for a in ledger.attacks()}
    out["worst case"] = {f"{n} {e:g}": round(ledger.accuracy(n, e, None, reject), 2) for n, e in cols}
    return out


def _other_reads(ledger, suite, other) -> dict:
    """Per budget: % of the stored fooling adversarials made on the product itself (white-box or
    decision-based, not transferred or blind) that the other model labels as the true digit."""
    from ..robustness import WHITE_BOX

    out = {}
    for norm, eps in _columns(suite):
        store = ledger.examples.get((norm, eps), {})
        fooled = [(i, ex) for i, ex in store.items() if ex.fooled and ex.attack in WHITE_BOX]
        if not fooled:
            continue
        labels = other(np.stack([ex.image for _, ex in fooled]))
        right = np.mean(np.asarray(labels) == ledger.labels[[i for i, _ in fooled]])
        out[norm, eps] = (100 * right, len(fooled))
    return out
