"""Command line: ``python -m fastnn.bench [suite ...] [options]``; the report goes to
stdout, progress to stderr."""

import argparse
import json
import shutil
import sys

from ._runner import LIBS, SUITES, report, run


def _list(text, parse):
    try:
        return [parse(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _threads(text):
    counts = _list(text, int)
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts >= 1, like 1,2; got {text!r}")
    return counts


def _libs(text):
    names = _list(text, str.strip)
    unknown = sorted(set(names) - set(LIBS))
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected names from {','.join(LIBS)}; got {text!r}")
    return names


def main(argv=None):
    suites = "\n".join(f"  {name:10} {text}" for name, text in SUITES.items())
    parser = argparse.ArgumentParser(
        prog="python -m fastnn.bench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Time fastnn against NumPy and PyTorch (when installed) on this machine. Each "
                    "library runs in its own fresh processes, taking turns over several rounds.",
        epilog=f"suites (default: all):\n{suites}\n\nPyTorch need not be installed beside fastnn: "
               "--torch-python /path/to/venv/bin/python\nruns the torch workers under another "
               "interpreter (it needs torch and numpy, not fastnn).")
    parser.add_argument("suites", nargs="*", metavar="suite", help="suites to run (default: all)")
    parser.add_argument("--threads", type=_threads, default=[1, 2], metavar="N,N",
                        help="thread counts; every library runs with each (default: 1,2)")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="timed samples per figure; figures are medians (default: 7, --quick: 3)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="fresh processes per library the samples are spread over "
                             "(default: one per sample; --quick: 2; the training suite: 1, its "
                             "epochs being the samples)")
    parser.add_argument("--quick", action="store_true", help="fewer shapes and samples: a smoke test")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help="training suite: epochs per model (default: MLP 3, CNN 1; --quick: 1 each)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure, as JSON, to PATH")
    parser.add_argument("--libs", type=_libs, default=list(LIBS), metavar="LIB,LIB",
                        help=f"libraries to time (default: {','.join(LIBS)}; missing ones show as not installed)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--torch-python", metavar="PATH",
                        help="Python interpreter for the torch workers (default: this one)")
    args = parser.parse_args(argv)
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    for name in ("repeats", "rounds", "epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    torch_python = None
    if args.torch_python:
        torch_python = shutil.which(args.torch_python)
        if torch_python is None:
            parser.error(f"--torch-python: no executable {args.torch_python!r}")

    results = run(args.suites or list(SUITES), threads=args.threads, repeats=args.repeats,
                  rounds=args.rounds, quick=args.quick, libs=args.libs, dtype=args.dtype,
                  torch_python=torch_python, epochs=args.epochs)
    print(report(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, ensure_ascii=False)
        print(f"[bench] wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
