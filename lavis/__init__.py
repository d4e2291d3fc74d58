"""A LAVIS-style framework for video-language research with multimodal LLMs.

Importing ``lavis`` is cheap: models, datasets and tasks register themselves when the registry is
first asked for something (see :mod:`lavis.common.registry`).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name: str):
    """``lavis.load_model`` without importing torch and the models when ``lavis`` itself is imported."""
    if name == "load_model":
        from lavis.inference import load_model

        return load_model
    raise AttributeError(f"module 'lavis' has no attribute {name!r}")
