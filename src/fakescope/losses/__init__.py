"""Training losses for the ``cnn`` detector: ``ce``, ``bce``, ``dmyt`` (S3), ``triplet``.

The contract is :mod:`.base`; each loss module registers itself in :data:`~.base.LOSSES`.
Import the filled registry and :func:`~.base.create_loss` from :mod:`.catalog`. This
file imports nothing, so importing one loss module never imports the others.
"""
