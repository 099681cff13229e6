"""The numbers of the reproduction, apart from the plotting: tables, fits, verdicts and the report.

Read in this order:

- ``tables``: the results table's final rows, settings, seed summaries, tokens to a target, exposure-matched
  pairs and the web-loss law (docs/RESULTS.md describes the table);
- ``measure``: measurements the grid alone gets wrong (the web loss at r = 0, fitted threshold crossings,
  which rows are comparable); ``powerlaw``: the threshold frequency of power-law runs (arXiv 2505.18091, Fig. 7a);
- ``theory_fit``: the theory fitted on the runs (Section 4, Theorem 4.3); ``verdicts``: capacity or exposure
  counts; ``critical_ratios``: r_c measured, its slope in size and the held-out prediction;
- ``reasoning`` and ``continual``: the paper's Fig. 5 and Section 6 / Appendix D.1 sections;
- ``paper``: the paper's own settings and numbers; ``paper_theory``: the theory at those settings;
- ``reproduction``: one preset's finished runs analysed for the report; ``report``: report.json and report.md.

Nothing here draws (``figures`` does) or trains (``empirical`` does); ``capacity`` supplies the theory.
"""
