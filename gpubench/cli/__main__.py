"""`python -m gpubench.cli ...`: how torchrun starts the ranks of `gpubench run --nproc N`."""

from gpubench.cli import main

if __name__ == "__main__":
    main()
