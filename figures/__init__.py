"""The figures: each a function from the results table or the theory (``analysis`` computes the numbers) to a
matplotlib figure; nothing here trains or writes a report.

``registry`` names every figure of the reproduction report with the item of arXiv 2505.18091 it
reproduces and draws them; ``empirical`` (Figs. 1-4), ``empirical_theory`` (the web-loss law, the phase
diagram with runs, stored bits, Fig. 8), ``empirical_powerlaw`` (Fig. 7a), ``reasoning`` (Fig. 5),
``continual`` (Section 6), ``theory`` (the theory alone), ``popularity`` (Fig. 7b) and ``prediction`` (r_c
and its predictors) hold the drawing; ``style`` the shared look and saving.
"""
