"""Seed 001 study: does the gradient projection's map localise better than the plain VAE error map, and how
does that depend on the step rule? One `vae_projection` VAE per dataset (its `cpu` preset), then the test set
scored by the VAE's squared error map and by projections with

- `paper`: the seed's update, x -= step_size * grad E(x) * (x - f(x))^2, at the preset's step size;
- `fixed-300`: the same update with step size 300 (moves pixels by tenths instead of hundredths);
- `fixed-300, backtracking`: the same, but a step that would raise an image's energy is retried at half its
  step size (6 energy checks per step, so at most 5 halvings before the step is dropped; `--set
  backtrack=6`), so no step raises the energy;
- `normalised`: the same direction, scaled per image so that its largest pixel move per step is 0.05;
- `calibrated`: one step size per dataset, set from a batch of training images so that the first step moves
  the median image's largest pixel by 0.05 or 0.2 (`--set step_rule=calibrated --set move=...`);
- `calibrated, ELBO energy`: the 0.2 calibrated rule with the KL term in the energy (`--set kl_weight=1`),
  the negative ELBO that the seed sets aside for the reconstruction term alone.

Prints pixel AUROC, PRO (unblurred maps), image AUROC (mean of the top 2 % of the map) and images/s.

    python benchmarks/projection_steps.py [--datasets piped/pa_bdp01_tl mvtec_3d_ad/tire ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
SHARED = PROJECT.parent / "shared" / "datasets"


def batched(fn, x, size: int = 32):
    """fn over `x` in batches -> (concatenated output, images per second)."""
    import torch

    began = time.perf_counter()
    out = torch.cat([fn(x[i : i + size]) for i in range(0, len(x), size)])
    return out, len(x) / (time.perf_counter() - began)


def study(folder: Path) -> list[str]:
    """Fit one VAE on `folder`; a table row per map."""
    import torch

    from engine import metrics as M
    from engine.compute import epoch_repeats
    from engine.config import pick_device
    from engine.data import load_dataset
    from engine.data.loaders import make_loader
    from engine.methods.vae_projection import calibrated_scale, project, top_fraction_mean
    from engine.runconfig import RunConfig, batch_size, preflight

    cls, p = preflight(RunConfig(dataset=str(folder), method="vae_projection", preset="cpu"), None)
    data = load_dataset(str(folder), seed=0)
    torch.manual_seed(0)
    method = cls(p, (data.channels, data.image_size, data.image_size), pick_device("cpu"), 0)
    repeats = epoch_repeats(p, "cpu", len(data.train))
    method.fit(
        make_loader(data.train.images, batch_size(p), shuffle=True, seed=0, repeats=repeats), None, None
    )
    model, x = method.model, data.test.images.float()
    masks, labels = data.test.masks.numpy(), data.test.labels.numpy()
    with torch.no_grad():
        recon, ips = batched(lambda b: model(b)[0].float(), x)
    maps = {"VAE error map": (((x - recon) ** 2).mean(dim=1), ips)}
    for label, fn in (
        (f"projection, paper step ({p.step_size:g})", lambda b: project(model, b, p.steps, p.step_size, p.lam)),
        ("projection, fixed step 300", lambda b: project(model, b, p.steps, 300.0, p.lam)),
        ("projection, fixed step 300, backtracking", lambda b: project(model, b, p.steps, 300.0, p.lam, backtrack=6)),
        ("projection, normalised (0.05 per step)", lambda b: project(model, b, p.steps, 1.0, p.lam, max_move=0.05)),
    ):  # fmt: skip
        projected, ips = batched(fn, x)
        maps[label] = ((x - projected).abs().mean(dim=1), ips)
    first = data.train.images[: batch_size(p)].float()
    for move, kl_weight in ((0.05, 0.0), (0.2, 0.0), (0.2, 1.0)):
        alpha = p.step_size * float(calibrated_scale(model, first, p.step_size, p.lam, move, kl_weight))
        projected, ips = batched(
            lambda b, a=alpha, k=kl_weight: project(model, b, p.steps, a, p.lam, kl_weight=k), x
        )
        energy = ", ELBO energy" if kl_weight else ""
        label = f"projection, calibrated ({move:g} first move; step {alpha:.3g}){energy}"
        maps[label] = ((x - projected).abs().mean(dim=1), ips)
    rows = []
    for label, (m, ips) in maps.items():
        a = m.numpy()
        image = M.image_auroc(labels, top_fraction_mean(m, 0.02).numpy())
        pixel, pro = M.pixel_auroc(masks, a), M.pro_score(masks, a)
        rows.append(f"| {folder.name} | {label} | {pixel:.3f} | {pro:.3f} | {image:.3f} | {ips:.1f} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=[
            "piped/pa_bdp01_tl",
            "piped/pa_brg01_rl",
            "piped/pa_flr01_tl",
            "mvtec_3d_ad/tire",
            "magnetic_tile/magnetic_tile",
        ],
    )
    parser.add_argument(
        "--out", type=Path, default=PROJECT / "benchmarks" / "results" / "projection-steps.md"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    lines = [
        "### projection-steps (seed 001; vae_projection cpu preset; unblurred maps)",
        "",
        "| dataset | map | pixel AUROC | PRO | image AUROC | images/s |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.datasets:
        if not (SHARED / name).is_dir():
            print(f"skipping {name}: no {SHARED / name}", file=sys.stderr)
            continue
        lines += study(SHARED / name)
    lines += ["", f"Runtime: {(time.perf_counter() - started) / 60:.1f} min on 2 CPU cores (fits included)."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
