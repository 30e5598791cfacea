"""``python -m resrank_eval`` (and ``torchrun -m resrank_eval``): the ``resrank-eval`` command."""

from .cli import main

main()
