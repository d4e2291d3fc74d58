"""A web demo: ``python -m lavis.demo`` (``lavis-demo``), a Gradio page on http://127.0.0.1:7860.

Upload a video or pick an example, type a query, and see the predicted windows on a timeline of the
video's frames (or the answer, for a question-answering model); choose among the checkpoints found under
``output/`` or given with ``--checkpoint``. With none at all, the demo uses the tiny synthetic
checkpoint of ``bash run_scripts/demo/mr_blip_synthetic.sh`` (and runs that script first if needed).

It listens on the loopback address unless ``--host`` says otherwise; uploads larger than ``--max-file-mb``
or longer than ``--max-minutes`` are refused with a message.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lavis.inference.web import (
    DEMO_CHECKPOINT,
    REPO_ROOT,
    SHARED_DATA,
    DemoSettings,
    build_app,
    ensure_demo_checkpoint,
    find_checkpoints,
    find_examples,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="lavis-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", action="append", default=[], help="a checkpoint to offer (repeatable)")
    p.add_argument("--model", help="model name for checkpoints without an embedded config (e.g. mr_blip)")
    p.add_argument("--model-type", help="model preset for such checkpoints")
    p.add_argument("--examples", action="append", default=[], type=Path, help="a folder of example videos")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-file-mb", type=float, default=200.0, help="largest upload accepted")
    p.add_argument("--max-minutes", type=float, default=10.0, help="longest video accepted")
    p.add_argument(
        "--no-train", action="store_true", help="do not train the synthetic checkpoint when none is found"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    checkpoints: dict[str, Path] = {}
    for given in args.checkpoint:
        path = Path(given)
        if not path.is_file():
            print(f"error: checkpoint not found: {path}", file=sys.stderr)
            return 2
        checkpoints[str(path)] = path.resolve()
    if not checkpoints:
        checkpoints = find_checkpoints(list(dict.fromkeys([Path.cwd(), REPO_ROOT])))
    if not checkpoints:
        path = ensure_demo_checkpoint(REPO_ROOT, train=not args.no_train)
        checkpoints = {str(DEMO_CHECKPOINT): path}
    examples = find_examples([*args.examples, SHARED_DATA / "videos"])
    settings = DemoSettings(
        checkpoints, examples, args.model, args.model_type, args.device, args.max_file_mb, args.max_minutes
    )
    app = build_app(settings)
    print(f"Checkpoints: {', '.join(checkpoints)}; examples: {len(examples)}", flush=True)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        # a hard cap for the upload itself; between the two limits the request gets the friendly message
        max_file_size=int(2 * args.max_file_mb * 2**20) + 2**20,
        allowed_paths=[str(p.parent) for p in examples.values()],
        footer_links=["api"],
        show_error=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
