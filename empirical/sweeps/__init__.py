"""Sweeps: a sweep as data (spec), the paper's named sweeps (named, reasoning_continual), the runner that trains them resumably in K-stacks, and the adaptive search for the critical ratio."""
