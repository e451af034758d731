"""Offline replay: recorded events through normalization, pack SQL, result log and alerts.

``events`` reads captures with the extension's code, ``scheduler`` runs the rendered pack's SQL
on osqueryd's schedule in event time, ``differential`` writes osqueryd's result lines, ``run``
ties them to the alert reader (``replay()``), ``report`` prints the summary.
"""
