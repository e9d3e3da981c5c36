"""Seed 002 study: on noisy MNIST, how much of the gap to the seed's table is the score rather than the model?
Per normal digit, one `vae` and one `vaegan` (their `cpu` presets plus `--vaegan-set` overrides) are trained
and the same test images are scored by several rules:

- `paper`: the method's own score (the VAE's summed squared error, the VAE-GAN's mean absolute error);
- `per ink`: the summed absolute error divided by the reconstruction's summed intensity. A normal digit
  with much ink (0, 8) is reconstructed with more absolute error than a thin anomaly (1, 7), so a plain sum
  ranks those anomalies as normal; this asks how much error there is per unit of drawn digit;
- `attn Lk`: the VAE-GAN's error map weighted by the discriminator's Grad-CAM (explaining -logit) at conv
  stage k (0 = H/2 ... 3 = H/16, the default), as a mean (the seed's product), per unit attention, and per
  unit of attended ink (the attention-weighted error over the attention-weighted reconstruction).

Prints image AUROC per digit and the mean over digits (one seed; the suite `python -m benchmarks noisy-mnist` is
the protocol with seeds).

    python benchmarks/noisy_mnist_scores.py [--digits 0123456789] [--vaegan-set feature_layer=1]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def rule_scores(x, recon, attentions: dict) -> dict:
    """Score per rule, each (N,): x and recon (N, H, W), attentions {stage: (N, H, W)}."""
    from engine.methods.vae import per_ink

    error = (x - recon).abs()
    out = {"per ink": per_ink(x, recon)}
    for stage, att in attentions.items():
        out[f"attn L{stage} mean"] = (att * error).mean((1, 2))
        out[f"attn L{stage} per attention"] = (att * error).sum((1, 2)) / att.sum((1, 2)).clamp_min(1e-6)
        out[f"attn L{stage} per ink"] = per_ink(att * x, att * recon)  # attention >= 0
    return out


def study(digit: int, method_key: str, overrides: dict) -> dict[str, float]:
    """{rule: image AUROC} for one method on normal digit `digit`, seed 0."""
    from engine import metrics as M
    from engine.compute import compute
    from engine.data.builtin import load_builtin
    from engine.methods import METHODS
    from engine.run_inputs import load_run_inputs
    from engine.runconfig import RunConfig, preflight

    config = RunConfig(dataset=f"mnist-noisy:{digit}", method=method_key, preset="cpu", overrides=overrides)
    outcome = compute(config, load_run_inputs(config))
    data = load_builtin(config.dataset, outcome.start.image_size, 0)
    x = data.test.images[:, 0].float()
    recon = data.test.images.new_tensor(outcome.arrays.reconstructions)[:, 0]
    attentions = {}
    if method_key == "vaegan":
        _, params = preflight(config, None)
        for stage in range(4):
            method = METHODS[method_key](
                dataclasses.replace(params, attention_layer=stage), (1, *x.shape[1:])
            )
            method.load_state_dict(outcome.weights["state"])  # the model file: spec and learned state
            attentions[stage] = method.attention_map(data.test.images)
    labels = outcome.arrays.labels
    result = {"paper": outcome.metrics["image_auroc"]}
    for rule, score in rule_scores(x, recon, attentions).items():
        result[rule] = M.image_auroc(labels, score.numpy())
    return result


def parse_set(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--digits", default="0123456789")
    parser.add_argument("--vaegan-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--out", type=Path, default=PROJECT / "benchmarks" / "results" / "noisy-mnist-scores.md"
    )
    args = parser.parse_args(argv)
    digits = [int(d) for d in args.digits]
    began = time.perf_counter()
    tables = {}
    for key, overrides in (("vae", {}), ("vaegan", parse_set(args.vaegan_set))):
        per_digit = [study(d, key, overrides) for d in digits]
        tables[key] = {rule: [r[rule] for r in per_digit] for rule in per_digit[0]}
        print(f"{key} done, {time.perf_counter() - began:.0f} s", flush=True)
    overrides = " ".join(args.vaegan_set) or "none"
    lines = [
        f"### noisy-mnist-scores (seed 002; cpu preset, seed 0; vaegan overrides: {overrides}; image AUROC)",
        "",
        "| method | rule | " + " | ".join(f"digit {d}" for d in digits) + " | mean |",
        "|---|---|" + "---|" * (len(digits) + 1),
    ]
    for key, rules in tables.items():
        for rule, values in rules.items():
            cells = " | ".join(f"{v:.3f}" for v in values)
            lines.append(f"| {key} | {rule} | {cells} | {sum(values) / len(values):.3f} |")
    lines += ["", f"Study time: {(time.perf_counter() - began) / 60:.1f} min on 2 CPU cores."]
    print("\n".join(lines))
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
