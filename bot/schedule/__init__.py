"""The schedule stage: when editions are due (``calendar``), one idempotent pass over the
pipeline (``reconcile``), and the long-running service around it (``daemon``)."""
