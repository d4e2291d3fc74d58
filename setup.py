from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="lavis-video",
    version="0.1.0",
    description="A LAVIS-style framework for video-language research with multimodal LLMs "
    "(Mr. BLIP, CALCE, SMS, MA-LMM, SeViLA).",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["lavis", "lavis.*"]),
    package_data={"lavis": ["configs/**/*.yaml"]},
    include_package_data=True,
    entry_points={
        "console_scripts": [
            "lavis-train=lavis.train:main",
            "lavis-evaluate=lavis.evaluate:main",
            "lavis-qvh-eval=lavis.evaluation.qvhighlights:main",
            "lavis-mr-eval=lavis.evaluation.moment_retrieval:main",
            "lavis-prepare=lavis.datasets.prepare.__main__:main",
            "lavis-convert=lavis.models.convert:main",
            "lavis-predict=lavis.predict:main",
            "lavis-demo=lavis.demo:main",
        ]
    },
)
