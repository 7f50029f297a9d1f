"""`python -m spacex.train STAGE [--profile P]` (also under torchrun for DistributedDataParallel).

    python -m spacex.train s2l
    torchrun --nproc_per_node 8 -m spacex.train s2l --profile paper
"""
import argparse
import sys

from spacex import config

STAGES = {"fv2v": "spacex.train.fv2v", "s2l": "spacex.train.s2l", "posegen": "spacex.train.posegen",
          "l2l": "spacex.train.l2l"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spacex.train")
    ap.add_argument("stage", choices=sorted(STAGES))
    ap.add_argument("--profile", default=None)
    ap.add_argument("--params", default=None)
    ap.add_argument("--report", default=None, help="folder for DVC metrics and plots (rank 0)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, e.g. s2l.train.steps=200 (YAML values)")
    ap.add_argument("--stop-after", type=int, default=None, help="stop after N steps of this call")
    args = ap.parse_args(argv)
    import importlib

    import yaml

    from spacex.errors import at_the_edge

    def run() -> int:
        overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
        cfg = config.load(args.profile, args.params, overrides)
        importlib.import_module(STAGES[args.stage]).main(cfg, stop_after=args.stop_after, report_dir=args.report)
        return 0

    return at_the_edge(f"python -m spacex.train {args.stage}", run)


if __name__ == "__main__":
    sys.exit(main())
