"""The web demo's page and request handling (``lavis-demo`` parses its arguments in :mod:`lavis.demo`).

:class:`DemoBackend` turns one request (video, query, checkpoint) into the page's outputs, with the
size and duration limits; :func:`build_app` lays out the Gradio page; the helpers find checkpoints and
example videos, and train the synthetic demo checkpoint when there is none.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = REPO_ROOT / "run_scripts" / "demo" / "mr_blip_synthetic.sh"
DEMO_CHECKPOINT = Path("output") / "demo" / "mr_blip_synthetic" / "checkpoint_best.pth"
SHARED_DATA = Path(os.environ.get("LAVIS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
TIMELINE_FRAMES = 10


@dataclass
class DemoSettings:
    checkpoints: dict[str, Path]  # label -> file
    examples: dict[str, Path] = field(default_factory=dict)  # label -> video
    model: str | None = None  # for checkpoints that do not embed their config
    model_type: str | None = None
    device: str | None = None
    max_file_mb: float = 200.0
    max_minutes: float = 10.0


def find_checkpoints(roots: list[Path]) -> dict[str, Path]:
    """``checkpoint_best.pth`` files under ``<root>/output`` (the synthetic demo's first), by relative path."""
    found: dict[str, Path] = {}
    for root in roots:
        output = root / "output"
        if not output.is_dir():
            continue
        paths = sorted(
            output.rglob("checkpoint_best.pth"), key=lambda p: (p != root / DEMO_CHECKPOINT, str(p))
        )
        for path in paths:
            label = str(path.relative_to(root))
            found.setdefault(label, path.resolve())
    return found


def ensure_demo_checkpoint(root: Path = REPO_ROOT, train: bool = True) -> Path:
    """The synthetic demo checkpoint under ``root``, trained by the demo script first if it is missing."""
    path = root / DEMO_CHECKPOINT
    if path.is_file():
        return path
    if not train or not DEMO_SCRIPT.is_file():
        raise SystemExit(
            f"No checkpoint found. Train the tiny synthetic one with `bash {DEMO_SCRIPT.relative_to(REPO_ROOT)}` "
            "(about 3 minutes on a CPU) or pass --checkpoint PATH."
        )
    print(
        f"No checkpoint found: training the tiny synthetic demo model first ({DEMO_SCRIPT.relative_to(REPO_ROOT)}, "
        "about 3 minutes on a CPU). It will be reused next time.",
        flush=True,
    )
    proc = subprocess.run(["bash", str(DEMO_SCRIPT)], cwd=root)
    if proc.returncode != 0 or not path.is_file():
        raise SystemExit(f"The demo script failed (exit {proc.returncode}); see its output above.")
    return path


def find_examples(folders: list[Path]) -> dict[str, Path]:
    from lavis.inference.jobs import list_videos

    examples: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            for video in list_videos(folder):
                examples.setdefault(video.name, video.resolve())
    return examples


class DemoBackend:
    """Loads checkpoints on first use and turns one request into the page's outputs."""

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self._predictors: dict[str, Any] = {}
        self._lock = threading.Lock()

    def predictor(self, label: str):
        from lavis.inference import load_model

        if label not in self.settings.checkpoints:
            raise ValueError(f"unknown checkpoint {label!r}")
        with self._lock:
            if label not in self._predictors:
                s = self.settings
                self._predictors[label] = load_model(
                    s.model, model_type=s.model_type, checkpoint=s.checkpoints[label], device=s.device
                )
            return self._predictors[label]

    def check_video(self, video: str | None):
        """The video's facts, or a friendly error (no video, too big, too long, unreadable)."""
        import gradio as gr

        from lavis.common.errors import DataError
        from lavis.inference import probe_video

        if not video:
            raise gr.Error("Upload a video or pick an example first.")
        size_mb = Path(video).stat().st_size / 2**20
        if size_mb > self.settings.max_file_mb:
            raise gr.Error(
                f"This video is {size_mb:.1f} MB; the demo accepts up to {self.settings.max_file_mb:g} MB. "
                "Trim it, or run `lavis-predict` on it."
            )
        try:
            info = probe_video(video)
        except DataError as err:
            raise gr.Error(f"This file cannot be read as a video ({Path(video).name}): {err}") from None
        if info.duration > self.settings.max_minutes * 60:
            raise gr.Error(
                f"This video lasts {_span(info.duration)}; the demo accepts up to "
                f"{_span(self.settings.max_minutes * 60)}. Trim it, or run `lavis-predict` on it."
            )
        return info

    def run(self, video: str | None, query: str, checkpoint: str) -> tuple[Any, list[list[Any]], str]:
        """(timeline picture, windows table, summary text)."""
        import gradio as gr

        from lavis.inference.jobs import plot_results

        query = (query or "").strip()
        if not query:
            raise gr.Error("Type a query (what to find) or a question.")
        if len(query) > 500:
            raise gr.Error("The query is longer than 500 characters; shorten it.")
        info = self.check_video(video)
        predictor = self.predictor(checkpoint)
        name = Path(video).name
        if "moment_retrieval" in predictor.capabilities:
            with self._lock:
                result = predictor.moments_batch(video, [query], info=info)[0]
                picture = plot_results(video, [result], None, TIMELINE_FRAMES)
            table = [[k + 1, w.start, w.end, w.score] for k, w in enumerate(result.windows)]
            if result.best is None:
                what = "No window inside the video" if result.valid else "No readable window"
                summary = f"**{what}** — the model wrote `{result.text}`."
            else:
                summary = f"**Best window: {result.best.start:.1f} s – {result.best.end:.1f} s**"
            summary += f"  \n{name}: {info.duration:.1f} s, {info.fps:.3g} fps, {info.width}x{info.height}; "
            summary += f"model `{predictor.name}` ({checkpoint})"
            return picture, table, summary
        if "open_qa" in predictor.capabilities:
            with self._lock:
                answer = predictor.answer(video, query)
            return None, [], f"**Answer:** {answer.text}  \n{name}; model `{predictor.name}` ({checkpoint})"
        raise gr.Error(
            f"The model of {checkpoint} ({predictor.name}) cannot answer this kind of request yet."
        )


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.3g} minutes"


def build_app(settings: DemoSettings):
    import gradio as gr

    backend = DemoBackend(settings)
    labels = list(settings.checkpoints)
    with gr.Blocks(title="LAVIS video demo") as app:
        gr.Markdown(
            "## Find a moment in a video\nUpload a video (or pick an example), say what happens, and the model "
            "marks when it happens. Limits: "
            f"{settings.max_file_mb:g} MB, {_span(settings.max_minutes * 60)}."
        )
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video", height=280)
                example = gr.Dropdown(
                    choices=list(settings.examples),
                    value=None,
                    label="…or pick an example",
                    elem_id="example",
                )
                query = gr.Textbox(
                    label="Query", placeholder="e.g. a person drinks a glass of water", elem_id="query"
                )
                checkpoint = gr.Dropdown(
                    choices=labels,
                    value=labels[0] if labels else None,
                    label="Checkpoint",
                    elem_id="checkpoint",
                )
                submit = gr.Button("Find", variant="primary", elem_id="submit")
            with gr.Column(scale=2):
                summary = gr.Markdown(elem_id="summary")
                timeline = gr.Image(
                    label="Timeline", show_label=False, type="numpy", elem_id="timeline", interactive=False
                )
                windows = gr.Dataframe(
                    headers=["rank", "start (s)", "end (s)", "score"],
                    label="Windows",
                    elem_id="windows",
                    interactive=False,
                )

        def pick(name: str | None):
            return str(settings.examples[name]) if name in settings.examples else None

        example.change(pick, inputs=example, outputs=video, api_name=False)
        outputs = [timeline, windows, summary]

        def clear():
            return None, [], ""

        # old results are cleared first, so an error message never sits beside a previous answer
        for trigger, api_name in ((submit.click, "predict"), (query.submit, False)):
            trigger(clear, outputs=outputs, api_name=False, queue=False).then(
                backend.run, inputs=[video, query, checkpoint], outputs=outputs, api_name=api_name
            )
    return app
