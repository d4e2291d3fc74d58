"""A LAVIS-style framework for video-language research with multimodal LLMs.

Importing ``lavis`` is cheap: models, datasets and tasks register themselves when the registry is
first asked for something (see :mod:`lavis.common.registry`).
"""

__version__ = "0.1.0"
